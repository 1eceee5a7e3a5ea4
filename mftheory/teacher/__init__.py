r"""A teacher-student framework for deep locally connected ReLU networks (Tian, 2018).

Theory
------
A *teacher* summarizes the content :math:`x_\alpha` of each receptive field :math:`\alpha` by a
discrete variable :math:`z_\alpha` (an *event*); the top variable :math:`z_\omega` is the label.
A locally connected ReLU *student* is trained on :math:`(x,z_\omega)`. Averaging the student's
activations :math:`f_j`, gates :math:`f'_j` and back-propagated signals :math:`g_j` over the inputs
that share an event turns forward, backward and update into matrix recursions over events
(Theorem 4) in which the data enter only through :math:`P_{\alpha\beta}=[P(z_\beta\mid z_\alpha)]`
and :math:`\Lambda_\alpha=\mathrm{diag}\,P(z_\alpha)`; they are exact for a lossless teacher
(Theorem 3). Batch normalization back-propagates as an orthogonal projection (Theorem 5);
ReLU networks can reach zero loss where linear ones cannot (Theorems 6-7); disentangled
activations propagate forward (Theorem 8) and separable weights stay separable under centred
gradients (Theorem 9).

Conventions
-----------
* :math:`[P_{\alpha\beta}]_{ab}=P(z_\beta=b\mid z_\alpha=a)` (row-stochastic); :math:`F,G,D` are
  events x nodes; :math:`[W_{\beta\alpha}]_{kj}=w_{jk}` (child k, parent j).
* Updates are negative gradients, :math:`\Delta W=-\partial L/\partial W`, no learning rate.
* Batch normalization uses the population (biased) variance and :math:`\epsilon=0` unless given.
* Binary inputs are enumerated row-major (pixel 0 most significant), the order of
  ``numpy.kron`` for factor vectors.

Submodules (private; everything public is re-exported here): worlds, teachers, the student and
the reformulation; batch normalization; convex geometry; disentanglement; small experiments.

References
----------
Y. Tian, *A theoretical framework for deep locally connected ReLU network*, arXiv:1809.10829.
S. Ioffe and C. Szegedy, *Batch normalization*, ICML 2015 (the backward formulas).
"""

from ._bn import (batchnorm_backward, batchnorm_forward, batchnorm_projector,
                  ioffe_szegedy_backward)
from ._disentangle import (DisentangleExample, activation_deviation, disentangle_example,
                           disentangled_activation, disentangled_gradient, gradient_deviation,
                           off_block_max)
from ._geometry import (hypercube_Q, is_vertex, linear_min_loss, relu_identity_weights,
                        vertex_count, vertex_separators)
from ._toys import (ENERGY_ORDERS, EnergyRun, SpecializationRun, energy_run,
                    specialization_run, spurious_epsilon, spurious_mean_abs,
                    spurious_win_probability)
from ._world import (GATES, TEACHER_KINDS, Gradients, Reformulation, StudentWeights, World,
                     backpropagated_gradients, conditional_matrix, conditional_mean, digits_world,
                     empirical_world, event_probabilities, init_student, population_gradients,
                     reformulate, reformulation_error, student_forward, teacher_world)

__all__ = [
    # worlds, student, reformulation
    "teacher_world", "digits_world", "empirical_world", "init_student", "student_forward",
    "population_gradients", "backpropagated_gradients", "conditional_matrix",
    "event_probabilities", "conditional_mean", "reformulate", "reformulation_error",
    # batch normalization
    "batchnorm_forward", "batchnorm_backward", "batchnorm_projector", "ioffe_szegedy_backward",
    # convex geometry
    "hypercube_Q", "linear_min_loss", "relu_identity_weights", "is_vertex", "vertex_count",
    "vertex_separators",
    # disentanglement
    "disentangled_activation", "disentangled_gradient", "activation_deviation",
    "gradient_deviation", "off_block_max", "disentangle_example",
    # experiments
    "spurious_epsilon", "spurious_mean_abs", "spurious_win_probability", "energy_run",
    "specialization_run",
]

# Result types and constants, importable but not part of __all__ (they are not functions).
_TYPES = (World, StudentWeights, Gradients, Reformulation, DisentangleExample, EnergyRun,
          SpecializationRun, TEACHER_KINDS, GATES, ENERGY_ORDERS)

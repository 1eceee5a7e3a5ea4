"""The input contract of every public function of ``mftheory``, checked by perturbation.

Every name in the ``__all__`` of every ``mftheory`` module (found with :mod:`pkgutil`, so a new
module is covered as soon as it exists) is called with a *valid example call*, then once for each
argument replaced by bad values. The contract (README, "Contributing a chapter"):

* an always-invalid value (``None``, strings, booleans where numbers are meant, complex numbers,
  NaN, infinities, torch tensors with or without grad, ragged lists, unknown option strings,
  non-booleans as flags, devices torch does not have here) raises ``ValueError`` whose message
  names the argument;
* a value that may or may not be in the domain (0, negatives, 1e308, 5e-324, empty or wrongly
  shaped arrays, other options) either raises ``ValueError`` or returns a result without NaN
  (unless listed in ``NAN_DOCUMENTED``) and without inf (see "Infinities" below), with
  ``INF_DOCUMENTED``/``NAN_DOCUMENTED`` saying where the docstring documents it;
* an exercise check (``mftheory.exercises.*.check_*``) returns a ``Feedback`` for *any* answer,
  never raises on it (its other parameters follow the rules above);
* no call takes longer than ``TIME_LIMIT`` CPU seconds (the limits are in CPU time, so that a
  busy machine does not fail them).

Cost: every function is called about 15 times per argument, so an example call must be cheap
(at most ``SLOW_EXAMPLE`` s, else the test asks for a cheaper one); only examples faster than
``CHEAP_EXAMPLE`` are also tried with the possibly-valid values (which run the whole
computation), the others with the always-invalid ones (which must fail fast). The whole file
takes about 30 s of CPU time. (So a bug that only a possibly-valid value shows is found only
while the function's example stays under ``CHEAP_EXAMPLE``: keep examples small.)

Run it for one module: ``.venv/bin/pytest -q tests/test_contract.py -k signal``.

Adding an example call for a new function
-----------------------------------------
A function whose parameters all have defaults is called with its defaults, an exercise check
whose parameters without defaults are all answers with 0.5 for each, a function without
parameters not at all (nothing to validate). Any other function needs an entry in ``EXAMPLES``
below, keyed by its full name, built with ``call(...)``, e.g.::

    EXAMPLES["mftheory.fisher.max_learning_rate"] = [call(2234.17, momentum=0.9)]

Give every parameter without a default a *valid, cheap* value (tiny widths, few steps): each
argument is perturbed about 15 times. The type of the example value decides which bad values
are tried (float, int, bool flag, str option, array of floats, list of ints, callable, None),
so write floats as floats (``1.0``, not ``1``). Options of ``call``:

* ``answers=("value",)``: for exercise checks, which parameters are the student's answer
  (default: the parameters without a default);
* ``skip=("fig",)``: parameters not to perturb (say why in a comment);
* ``extra_ok=(SomeError,)``: documented exceptions that a *possibly valid* value may raise
  (e.g. ``OfflineError`` of a download);
* ``also_ok=("x:tensor-grad", "V:None")``: perturbations (``parameter:label``) that the function
  documents as valid input (a tensor input that it converts itself, None meaning a default);
* ``kinds={"fig": "figure"}``: the kind of a parameter when its example value does not say it.

Infinities: a result may contain inf when an argument was pushed to the end of the float range
(1e308, 5e-324, 2**64: the true value overflows), or when the function is in ``INF_DOCUMENTED``;
an inf from an ordinary value (0, -1, an empty or short array) is a failure.

Classes in ``__all__`` that are dataclasses, named tuples or exceptions are records, not
functions, and are not called; constants are checked to exist. A public function without an
example fails with a message that says to add one here. ``NOT_CALLED`` lists, with the reason,
the few names that are not called (command-line entry points, writers of folders).
``KNOWN_FAILURES`` lists failures found in modules being written, routed to their authors: those
tests are expected to fail (xfail, not strict); delete an entry when its function is fixed.
"""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import math
import pkgutil
import signal as _signal
import time
from dataclasses import dataclass, field

import matplotlib
import numpy as np
import pytest
import torch

import mftheory
from mftheory.data import OfflineError
from mftheory.exercises import Feedback

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

TIME_LIMIT = 5.0          # CPU seconds per call (one core); a call is interrupted after it
SLOW_EXAMPLE = 0.5        # seconds: a slower example call must be made cheaper
CHEAP_EXAMPLE = 0.15      # seconds: only examples this fast are also tried with possibly-valid
#                           values (which run the whole computation); others get the bad values
BUDGET = 8.0              # seconds for all the calls of one function


# --------------------------------------------------------------------------------------
# Example calls
# --------------------------------------------------------------------------------------
@dataclass
class Call:
    args: tuple
    kwargs: dict
    answers: tuple | None = None
    skip: tuple = ()
    extra_ok: tuple = ()
    kinds: dict = field(default_factory=dict)
    also_ok: tuple = ()


def call(*args, answers=None, skip=(), extra_ok=(), kinds=None, also_ok=(), **kwargs):
    """A valid example call; see the module docstring for the options."""
    return Call(args, kwargs, answers, tuple(skip), tuple(extra_ok), dict(kinds or {}),
                tuple(also_ok))


def _quad_loss(x):
    return float(np.dot(x, x))


def _quad_grad(x):
    return 2.0 * np.asarray(x)


def _torch_loss(t):
    return (t * t).sum()


def _draw_stub(fig=None, a=0.5):
    return fig


def _draw_fig_stub(fig=None, a=0.5):
    """An explorer's draw function that returns its (tiny) figure, for the scrubbers."""
    from mftheory.widgets._base import reusable_figure

    fig, (ax,) = reusable_figure(fig, 1, 1.0, 1.0)
    ax.plot([0.0, 1.0], [0.0, 1.0])
    return fig


def _check_stub(answer):
    return Feedback(answer == 1, "stub")


_V_SKIP = ("name", "low", "high", "low_inclusive", "high_inclusive", "ndim", "shape", "min_size",
           "minimum", "maximum", "choices", "allow_none")
_RNG = np.random.default_rng(0)
_X_MLP = _RNG.standard_normal((4, 2))
_Y_MLP = _RNG.standard_normal((4, 1))
_H = _RNG.standard_normal((6, 4))
_CORR = np.corrcoef(_RNG.standard_normal((6, 10)))
_NB = {"cells": [{"cell_type": "markdown", "metadata": {}, "source": "# t"}], "metadata": {},
       "nbformat": 4, "nbformat_minor": 5}


def _trajectory():
    from mftheory import optim

    return optim.gradient_descent(_quad_loss, [1.0, 1.0], 0.1, 3, grad=_quad_grad)


def _theta():
    from mftheory import optim

    return optim.mlp_init([2, 3, 1])


def _fd_gradient():
    from mftheory import optim

    th = _theta()
    return optim.finite_difference_gradient(
        lambda t: optim.mlp_loss_and_backprop(t, [2, 3, 1], _X_MLP, _Y_MLP)[0], th)


def _theta232():
    from mftheory import optim

    return optim.mlp_init([2, 3, 2])


_LAZY = {"trajectory": _trajectory, "theta": _theta, "fd_gradient": _fd_gradient,
         "theta232": _theta232}


class Lazy:
    """An example value computed when the test runs (so that import of this file stays cheap)."""

    def __init__(self, key):
        self.key = key

    def get(self):
        return _LAZY[self.key]()


EXAMPLES: dict[str, list[Call]] = {
    # gaussian ---------------------------------------------------------------------------
    "mftheory.gaussian.activation": [call("tanh")],
    "mftheory.gaussian.check_activation": [call("relu")],
    "mftheory.gaussian.expect": [call(np.tanh, 1.0, rule="fast")],
    "mftheory.gaussian.expect2": [call(np.tanh, np.tanh, 1.0, 1.0, 0.5, rule="fast")],
    "mftheory.gaussian.second_moment": [call("erf", 1.0), call("tanh", 1.0, rule="fast")],
    "mftheory.gaussian.derivative_second_moment": [call("erf", 1.0),
                                                   call("tanh", 1.0, rule="fast")],
    "mftheory.gaussian.phi_d2phi_moment": [call("erf", 1.0), call("tanh", 1.0, rule="fast")],
    "mftheory.gaussian.kernel": [call("erf", 1.0, 1.0, 0.5), call("relu", 1.0, 1.0, -0.5),
                                 call("tanh", 1.0, 1.0, 0.5, rule="fast")],
    "mftheory.gaussian.derivative_kernel": [call("erf", 1.0, 1.0, 0.5),
                                            call("relu", 1.0, 1.0, -0.5),
                                            call("tanh", 1.0, 1.0, 0.5, rule="fast")],
    "mftheory.gaussian.hermite_coefficients": [call("tanh", 1.0, 4, rule="fast")],
    # signal -----------------------------------------------------------------------------
    "mftheory.signal.q_map": [call("tanh", 1.0, 1.5, 0.05, rule="fast"),
                              call("erf", 1.0, 1.5, 0.05)],
    "mftheory.signal.q_map_slope": [call("tanh", 1.0, 1.5, 0.05, rule="fast"),
                                    call("erf", 1.0, 1.5, 0.05)],
    "mftheory.signal.c_map": [call("tanh", 0.5, 1.5, 0.05, rule="fast"),
                              call("erf", 0.5, 1.5, 0.05, q=1.0)],
    "mftheory.signal.c_map_slope": [call("tanh", 0.5, 1.5, 0.05, rule="fast"),
                                    call("erf", 0.5, 1.5, 0.05, q=1.0)],
    "mftheory.signal.q_star": [call("tanh", 1.5, 0.05), call("relu", 1.5, 0.05)],
    "mftheory.signal.fixed_point": [call("tanh", 1.5, 0.05), call("relu", 1.5, 0.05)],
    "mftheory.signal.critical_sigma_w2": [call("tanh", 0.05)],
    "mftheory.signal.phase_diagram": [call("erf", [1.0, 2.0], [0.05, 0.1])],
    "mftheory.signal.q_iterates": [call("erf", 1.0, 1.5, 0.05, 4)],
    "mftheory.signal.c_iterates": [call("erf", 0.5, 1.5, 0.05, 4)],
    "mftheory.signal.trajectory": [call("erf", 1.5, 0.05, 4)],
    "mftheory.signal.gradient_factors": [call("erf", 1.5, 0.05, 4)],
    "mftheory.signal.depth_scale": [call(0.5)],
    "mftheory.signal.relu_correlation_gap": [call(5)],
    "mftheory.signal.rademacher_rate": [call(0.2)],
    "mftheory.signal.rademacher_tail_exponent": [call(10, 0.2)],
    # nets -------------------------------------------------------------------------------
    "mftheory.nets.propagate": [call("tanh", [4, 6, 6], 1.5, 0.05, np.ones((2, 4)), generator=0,
                                     device="cpu",
                                     also_ok=("x:tensor-grad", "keep_activations:None"))],
    "mftheory.nets.simulate": [call("tanh", 1.5, 0.05, width=6, depth=3, n_seeds=2,
                                    device="cpu")],
    "mftheory.nets.two_inputs": [call(4)],
    "mftheory.nets.circle_inputs": [call(8, 4)],
    "mftheory.nets.pca_project": [call(_H, k=2)],
    "mftheory.nets.circle_profile": [call(_CORR)],
    "mftheory.nets.circle_experiment": [call("tanh", 1.5, 0.05, width=6, depth=2, n_points=8,
                                             n_networks=2, device="cpu")],
    # optim ------------------------------------------------------------------------------
    "mftheory.optim.gd_optimal_step": [call(1.0, 10.0)],
    "mftheory.optim.polyak_heavy_ball": [call(1.0, 10.0)],
    "mftheory.optim.gd_rate": [call(0.1, 1.0, 10.0)],
    "mftheory.optim.iterations_to_tolerance": [call(0.5)],
    "mftheory.optim.heavy_ball_spectral_radius": [call(0.1, 0.5, 2.0)],
    "mftheory.optim.slides_heavy_ball_spectral_radius": [call(0.1, 0.5, 2.0)],
    "mftheory.optim.heavy_ball_stable": [call(0.1, 0.5, 2.0)],
    "mftheory.optim.quadratic": [call([1.0, 10.0])],
    "mftheory.optim.torch_objective": [call(_torch_loss)],
    "mftheory.optim.quadratic_race": [call(10.0, 0.1, 0.5, n_steps=5)],
    "mftheory.optim.sufficient_decrease_gaps": [call(Lazy("trajectory"), 0.5)],
    "mftheory.optim.gradient_descent": [call(_quad_loss, [1.0, 1.0], 0.1, 3, grad=_quad_grad)],
    "mftheory.optim.heavy_ball": [call(_quad_loss, [1.0, 1.0], 0.1, 0.5, 3, grad=_quad_grad)],
    "mftheory.optim.slides_heavy_ball": [call(_quad_loss, [1.0, 1.0], 0.1, 0.5, 3,
                                              grad=_quad_grad)],
    "mftheory.optim.descent_constant": [call(0.1, 4.0)],
    "mftheory.optim.min_gradient_bound": [call(1.0, 0.0, 0.5, 10.0)],
    "mftheory.optim.steps_to_epsilon_bound": [call(1.0, 0.0, 0.5, 0.01)],
    "mftheory.optim.cosine_sum": [call([0.5, 1.0])],
    "mftheory.optim.cosine_sum_minimum": [call(3)],
    "mftheory.optim.saddle": [call([0.5, 0.1])],
    "mftheory.optim.escape_iterations": [call(1e-3, 0.1, max_steps=1000)],
    "mftheory.optim.predicted_escape_iteration": [call(1e-3, 0.1)],
    "mftheory.optim.double_well": [call([0.5, -0.5])],
    "mftheory.optim.double_well_limits": [call([0.5, -0.5], 0.05, n_steps=20)],
    "mftheory.optim.shallow_relu_teacher": [call([0.5, -0.5])],
    "mftheory.optim.train_shallow_relu": [call(2, 2, n_steps=5, n_points=5)],
    "mftheory.optim.mlp_init": [call([2, 3, 1])],
    "mftheory.optim.mlp_loss_and_backprop": [call(Lazy("theta"), [2, 3, 1], _X_MLP, _Y_MLP)],
    "mftheory.optim.finite_difference_gradient": [call(_quad_loss, [1.0, 2.0])],
    # landscape --------------------------------------------------------------------------
    "mftheory.landscape.relu_kernel": [call(np.eye(3), np.eye(3), also_ok=("V:None",))],
    "mftheory.landscape.safran_shamir_objective": [call(np.eye(3) + 0.1)],
    "mftheory.landscape.safran_shamir_gradient": [call(np.eye(3) + 0.1)],
    "mftheory.landscape.safran_shamir_hessian": [call(np.eye(3) + 0.1)],
    "mftheory.landscape.spurious_minima_search": [call(3, 3, 2, n_steps=5, refine_steps=2,
                                                       device="cpu")],
    # data, runtime, plotting ------------------------------------------------------------
    "mftheory.data.gaussian_mixture": [call(n=20)],
    "mftheory.data.load_mnist": [call(timeout=0.2, extra_ok=(OfflineError,))],
    "mftheory.data.load_cifar10": [call(timeout=0.2, extra_ok=(OfflineError,))],
    "mftheory.runtime.seed": [call(3)],
    "mftheory.plotting.theory_vs_simulation": [call(
        "AX", [0.0, 1.0], [0.0, 1.0], [0.5], [0.5], [0.1], kinds={"ax": "axes"},
        also_ok=[f"{p}:{v}" for p in ("x_theory", "y_theory", "x_sim", "y_sim", "y_err")
                 for v in ("nan-entry", "inf-entry")])],      # a gap in a plotted curve
    # widgets ----------------------------------------------------------------------------
    "mftheory.widgets._base.reusable_figure": [call("FIG", 2, 4.0, 3.0,
                                                    kinds={"fig": "figure"})],
    "mftheory.widgets._base.explorer": [call(_draw_stub, (4.0, 3.0), a=(0.0, 1.0))],
    "mftheory.widgets.signal_propagation.cobweb_path": [call("tanh", 1.0, 1.5, 0.05, 4)],
    "mftheory.widgets.signal_propagation.fixed_points_on": [call("tanh", 1.5, 0.05, 5.0,
                                                                 n_grid=32)],
    "mftheory.widgets.signal_propagation.phase_grid": [call("erf")],
    "mftheory.widgets.signal_propagation.draw_simulation": [call(width=20, depth=4, n_seeds=2,
                                                                 fig="FIG",
                                                                 kinds={"fig": "figure"})],
    "mftheory.widgets.signal_propagation.draw_cmap": [call(depth=5, fig="FIG",
                                                           kinds={"fig": "figure"})],
    # exercises --------------------------------------------------------------------------
    "mftheory.exercises.check_number": [call("x", 1.0, 1.0, answers=("answer",))],
    "mftheory.exercises._feedback.check_number": [call("x", 1.0, 1.0, answers=("answer",))],
    "mftheory.exercises.as_answer": [call("x", 1.0, answers=("answer",))],
    "mftheory.exercises._feedback.as_answer": [call("x", 1.0, answers=("answer",))],
    "mftheory.exercises.gradient_descent.check_backprop_gradient": [
        call(np.zeros(17), Lazy("theta232"), [2, 3, 2], _X_MLP, np.array([0, 1, 0, 1]),
             answers=("grad",))],
    "mftheory.exercises.gradient_descent.check_spurious_minimum": [call(np.eye(8))],
    "mftheory.exercises.signal_propagation.check_gradient_ratio": [
        call(0.9, 1.5, 0.05, answers=("value",))],
    "mftheory.exercises.signal_propagation.check_depth_scales": [call(1.0, 10.0)],
    "mftheory.exercises.answers_as_data": [call(_check_stub)],
    "mftheory.exercises._feedback.answers_as_data": [call(_check_stub)],
    # _validate: only the value is perturbed (the other arguments are the caller's constants)
    "mftheory._validate.check_real": [call("x", 1.0, skip=_V_SKIP)],
    "mftheory._validate.check_array": [call("x", [1.0, 2.0], skip=_V_SKIP)],
    "mftheory._validate.check_positive_int": [call("n", 3, skip=_V_SKIP)],
    "mftheory._validate.check_choice": [call("option", "a", ("a", "b"), skip=_V_SKIP)],
    "mftheory._validate.check_bool": [call("flag", True, skip=_V_SKIP)],
    "mftheory._validate.check_device": [call("device", "cpu", skip=_V_SKIP)],
    "mftheory._validate.check_callable": [call("f", _quad_loss, skip=_V_SKIP)],
    # teaching (build tools) -------------------------------------------------------------
    "mftheory.teaching.strip_solutions": [call(_NB)],
    "mftheory.course.source_notebook": [call(Lazy("appendix_nb"), "appendix_gaussian")],
    "mftheory.teaching.student_config": [call("title: x\n")],
}

# --------------------------------------------------------------------------------------
# Example calls for the chapters added on 2026-12-01 (linear, batchnorm, fisher, square loss,
# teacher-student); sizes tiny so that each call is cheap
# --------------------------------------------------------------------------------------
def _world():
    from mftheory import teacher

    return teacher.teacher_world()


def _student():
    from mftheory import teacher

    return teacher.init_student(_world())


def _hmlp():
    from mftheory import squareloss

    return squareloss.HomogeneousMLP([4, 5, 1], dtype="float64", seed=0)


def _fisher_net():
    from mftheory import fisher

    return fisher.make_mlp([3, 4, 2], 2.0, 0.5, seed=0)


def _fisher_xy():
    from mftheory import fisher

    return fisher.synthetic_problem(4, 3, 2, seed=0)


def _history():
    from mftheory import squareloss

    X, y = _RNG_SL.standard_normal((6, 4)), np.array([1.0, -1.0] * 3)
    return squareloss.train_square_loss(_hmlp(), X, y, steps=2, lr=0.01, log_every=1)


def _split():
    from mftheory import data

    d = data.gaussian_mixture(n=16, dim=4, n_classes=2, seed=0)
    return data.Split(d, d)


_RNG_SL = np.random.default_rng(1)
_X4 = _RNG_SL.standard_normal((6, 4))
_Y_PM = np.array([1.0, -1.0] * 3)
_W2 = [np.eye(2) * 0.9, np.eye(2) * 1.1]
_LAZY.update({"world": _world, "student": _student, "hmlp": _hmlp, "fisher_net": _fisher_net,
              "fisher_X": lambda: _fisher_xy()[0], "fisher_Y": lambda: _fisher_xy()[1],
              "history": _history, "split": _split})
_NEURONS = np.random.default_rng(2).standard_normal((5, 4))
_P3 = np.array([[0.5, 0.5, 0.0], [0.0, 0.5, 0.5], [0.5, 0.0, 0.5], [1 / 3, 1 / 3, 1 / 3]])

EXAMPLES.update({
    # signal, nets, optim additions
    "mftheory.signal.quadratic_q_map": [call(0.5, 0.1, 0.05)],
    "mftheory.signal.quadratic_fixed_points": [call(0.1, 0.05)],
    "mftheory.nets.layer_preactivations": [call(np.ones(4), 6, 1.5, 0.05, generator=0,
                                                also_ok=("x:tensor-grad",))],
    "mftheory.nets.excess_kurtosis": [call(_RNG.standard_normal(10))],
    "mftheory.nets.conditional_excess_kurtosis": [call(np.ones(4), 1.5, 0.05,
                                                       also_ok=("x:tensor-grad",))],
    "mftheory.nets.weight_gradients": [call("tanh", [3, 4, 2], 1.5, 0.05, np.ones(3),
                                            generator=0, also_ok=("x:tensor-grad",))],
    "mftheory.optim.valley": [call([0.5, 0.2])],
    "mftheory.optim.shallow_relu_runs": [call(2, 2, n_steps=5, n_points=5)],
    "mftheory.optim.sat_satisfiable": [call([[1, -2], [2, 3]], 3)],
    "mftheory.optim.sat_qp_minimum": [call([[1, -2], [2, 3]], 3)],
    # linear
    "mftheory.linear.end_to_end": [call(_W2)],
    "mftheory.linear.loss": [call(_W2, np.eye(2))],
    "mftheory.linear.gradient": [call(_W2, np.eye(2))],
    "mftheory.linear.product_gradient": [call(_W2, np.eye(2))],
    "mftheory.linear.hessian": [call(_W2, np.eye(2))],
    "mftheory.linear.linear_projection": [call(_X4, _X4[:, :2])],
    "mftheory.linear.balancedness": [call(_W2)],
    "mftheory.linear.gradient_descent": [call(_W2, np.eye(2), alpha=0.1, n_steps=3)],
    "mftheory.linear.scalar_gradient_flow": [call(2.0, 3, 0.5)],
    "mftheory.linear.scalar_flow_limit": [call(2.0, 3)],
    "mftheory.linear.scalar_flow_time": [call(2.0, 3, 1.1)],
    "mftheory.linear.time_to_learn": [call(2.0, 3, 0.5)],
    "mftheory.linear.scalar_gd": [call(2.0, 3, 0.05, 5)],
    "mftheory.linear.max_stable_step": [call(2.0, 3)],
    "mftheory.linear.saxe_problem": [call([3.0, 1.0], [1.0, 1.0], [0.1, 0.1], 2)],
    "mftheory.linear.saxe_mode_flow": [call([3.0, 1.0], [1.0, 1.0], 2, [0.0, 1.0], 0.1)],
    "mftheory.linear.hardt_ma_factors": [call(np.array([[2.0, 0.5], [0.0, 1.0]]), 3)],
    "mftheory.linear.hardt_ma_limit": [call(np.array([[2.0, 0.5], [0.0, 1.0]]))],
    "mftheory.linear.connect": [call(np.ones(3), -np.ones(3), 0.5, "arc")],
    "mftheory.linear.connection_variance_factor": [call(0.5, "linear")],
    "mftheory.linear.sample_neurons": [call(5)],
    "mftheory.linear.neuron_network": [call(_NEURONS, np.ones((3, 2)))],
    "mftheory.linear.path_deviation": [call(_NEURONS, _NEURONS[::-1].copy(), [0.0, 0.5],
                                            "arc", grid_size=5)],
    "mftheory.linear.staircase_experiment": [call([3.0, 1.0], 2, 2, d=2, n_steps=400,
                                                  init_std=0.3, alpha=0.05, record_every=50)],
    "mftheory.linear.mode_strengths": [call(Lazy("saxe_weights"), Lazy("saxe_bases"))],
    "mftheory.linear.pyramidal_fit": [call([3, 1], _X4[:, :2], _Y_PM[:, None], n_runs=1)],
    "mftheory.linear.relu_interpolant": [call(Lazy("relu_net"), np.array([[0.5], [1.5]]))],
    "mftheory.linear.relu_interpolation": [call(np.array([[0.0], [1.0], [2.0]]),
                                                [1.0, -1.0, 0.5])],
    "mftheory.linear.convex_loss": [call(np.ones((2, 4)), _X4, _X4[:, :2])],
    "mftheory.linear.convex_minimum": [call(_X4, _X4[:, :2])],
    "mftheory.linear.factored_runs": [call([4, 3, 2], _X4, _X4[:, :2], n_runs=1)],
    "mftheory.linear.factored_hessian": [call([np.ones((3, 4)), np.ones((2, 3))], _X4,
                                              _X4[:, :2])],
    # batchnorm
    "mftheory.batchnorm.bn_forward": [call(_X4)],
    "mftheory.batchnorm.bn_backward": [call(_X4, _X4, np.ones(4))],
    "mftheory.batchnorm.arccos_kernel": [call(0.5)],
    "mftheory.batchnorm.arccos_kernel_derivative": [call(0.5)],
    "mftheory.batchnorm.sphere_sample": [call(6, 3)],
    "mftheory.batchnorm.bsb1_fixed_point": [call("relu", 6)],
    "mftheory.batchnorm.bsb1_mu": [call("relu", 6)],
    "mftheory.batchnorm.bn_vmap_laplace": [call("relu", np.eye(4) + 0.1, n_nodes=51)],
    "mftheory.batchnorm.bn_vmap_mc": [call("relu", np.eye(4) + 0.1, n_samples=200)],
    "mftheory.batchnorm.mean_field_iterate": [call("relu", np.eye(4) + 0.1, 2, n_samples=200)],
    "mftheory.batchnorm.relative_diagonal_spread": [call(np.eye(4) + 0.1)],
    "mftheory.batchnorm.forward_eigenvalues": [call("relu", 6)],
    "mftheory.batchnorm.alpha_transition": [call(12)],
    "mftheory.batchnorm.gradient_explosion_rate": [call("relu", 8)],
    "mftheory.batchnorm.large_batch_rate": [call("relu")],
    "mftheory.batchnorm.depth_scale": [call(1.5)],
    "mftheory.batchnorm.max_trainable_depth": [call("relu", 8)],
    "mftheory.batchnorm.simulate_bn_mlp": [call("relu", 4, width=6, depth=4, device="cpu")],
    "mftheory.batchnorm.train_bn_mlp": [call(Lazy("split"), depth=2, B=4, width=6, steps=2,
                                             device="cpu")],
    "mftheory.batchnorm.sgd_step_profile": [call(Lazy("split"), depth=3, width=6, B=4,
                                                 device="cpu")],
    # fisher
    "mftheory.fisher.order_parameters": [call([4, 6, 6, 2], 2.0, 0.5)],
    "mftheory.fisher.fim_lambda_max": [call([4, 6, 6, 2], 2.0, 0.5)],
    "mftheory.fisher.lambda_vs_gamma": [call([4, 6, 6, 2], 2.0, 0.5, [0.5, 1.0])],
    "mftheory.fisher.gamma_crossing": [call([4, 6, 6, 2], 2.0, 0.5)],
    "mftheory.fisher.max_learning_rate": [call(2234.17, momentum=0.9)],
    "mftheory.fisher.heavy_ball_spectral_radius": [call(1.0, 0.5)],
    "mftheory.fisher.heavy_ball_stable": [call(0.1, 2.0)],
    "mftheory.fisher.conv_geometry": [call(32, 3)],
    "mftheory.fisher.conv_order_parameters": [call(3, 16, [4, 4], 2, 2.0, 0.5)],
    "mftheory.fisher.conv_lambda_max": [call(3, 16, [4, 4], 2, 2.0, 0.5)],
    "mftheory.fisher.synthetic_problem": [call(4, 3, 2)],
    "mftheory.fisher.digits_problem": [call(8)],
    "mftheory.fisher.make_mlp": [call([3, 4, 2], 2.0, 0.5)],
    "mftheory.fisher.make_cnn": [call(3, 8, [2], 2, 2.0, 0.5)],
    "mftheory.fisher.fim_top_eigenvalue": [call(Lazy("fisher_net"), Lazy("fisher_X"))],
    "mftheory.fisher.fim_gram": [call(Lazy("fisher_net"), Lazy("fisher_X"))],
    "mftheory.fisher.fim_layer_bounds": [call(Lazy("fisher_net"), Lazy("fisher_X"))],
    "mftheory.fisher.heavy_ball": [call(Lazy("fisher_net"), Lazy("fisher_X"), Lazy("fisher_Y"),
                                        0.01, steps=3)],
    "mftheory.fisher.explosion_threshold": [call(Lazy("fisher_net"), Lazy("fisher_X"),
                                                 Lazy("fisher_Y"), 1e-3, 1e3, steps=5,
                                                 n_bisect=2)],
    "mftheory.fisher.lr_gamma_grid": [call([3, 4, 2], Lazy("fisher_X"), Lazy("fisher_Y"), [1.0],
                                           [0.01], steps=2)],
    # square loss
    "mftheory.squareloss.HomogeneousMLP": [call([4, 5, 1], dtype="float64")],
    "mftheory.squareloss.init_frobenius_": [call(Lazy("hmlp"), 1.0)],
    "mftheory.squareloss.layer_norms": [call(Lazy("hmlp"))],
    "mftheory.squareloss.rho": [call(Lazy("hmlp"))],
    "mftheory.squareloss.normalized_output": [call(Lazy("hmlp"), _X4)],
    "mftheory.squareloss.project_lower_layers_": [call(Lazy("hmlp"))],
    "mftheory.squareloss.rho_eq": [call([0.5, -0.5], [1.0, -1.0])],
    "mftheory.squareloss.lam_from_torch_wd": [call(1e-3, 100)],
    "mftheory.squareloss.torch_wd_from_lam": [call(0.05, 100)],
    "mftheory.squareloss.rho_dot_normalized": [call(1.0, [0.5, -0.5], [1.0, -1.0])],
    "mftheory.squareloss.rho_dot_unnormalized": [call(0.5, 1.0, 2.0, 3)],
    "mftheory.squareloss.rho_normalized_closed_form": [call(0.01, 1.0, 2.0, 0.1, [0.0, 1.0])],
    "mftheory.squareloss.solve_rho_ode": [call(0.01, 3, 1.0, 2.0, [0.0, 1.0])],
    "mftheory.squareloss.escape_time": [call(0.01, 3, 1.0, 2.0)],
    "mftheory.squareloss.escape_time_asymptotic": [call(0.01, 3, 1.0)],
    "mftheory.squareloss.lagrange_nu": [call(1.0, [0.5, -0.5], [1.0, -1.0])],
    "mftheory.squareloss.train_square_loss": [call(Lazy("hmlp"), _X4, _Y_PM, steps=2,
                                                   lr=0.01)],
    "mftheory.squareloss.margins": [call([0.5, -0.5], [1.0, -1.0])],
    "mftheory.squareloss.ramp_loss": [call([0.5, -0.5], [1.0, -1.0], 0.5)],
    "mftheory.squareloss.neural_collapse_metrics": [call(_X4, np.array([0, 1, 0, 1, 0, 1]))],
    "mftheory.squareloss.stable_rank": [call(np.eye(3) + 0.1)],
    "mftheory.squareloss.homogeneity_residual": [call(Lazy("hmlp"), _X4, 2.0)],
    "mftheory.squareloss.structural_lemma_residual": [call(Lazy("hmlp"), _X4)],
    "mftheory.squareloss.layer_norm_rates": [call(Lazy("hmlp"), _X4, _Y_PM)],
    "mftheory.squareloss.normalized_flow": [call(Lazy("hmlp"), _X4, _Y_PM)],
    "mftheory.squareloss.linear_constraint_residuals": [call([np.eye(3) / 3 ** 0.5,
                                                              np.ones((1, 3)) / 3 ** 0.5],
                                                             np.ones(3))],
    "mftheory.squareloss.constraint_matrices": [call("projection", 4, 3)],
    "mftheory.squareloss.diagonal_offdiag_gradient": [call(3, 3, n=4)],
    # teacher-student
    "mftheory.teacher.empirical_world": [call(Lazy("world"), 8)],
    "mftheory.teacher.init_student": [call(Lazy("world"))],
    "mftheory.teacher.student_forward": [call(Lazy("world"), Lazy("student"))],
    "mftheory.teacher.population_gradients": [call(Lazy("world"), Lazy("student"))],
    "mftheory.teacher.backpropagated_gradients": [call(Lazy("world"), Lazy("student"))],
    "mftheory.teacher.reformulate": [call(Lazy("world"), Lazy("student"))],
    "mftheory.teacher.reformulation_error": [call(Lazy("world"), Lazy("student"))],
    "mftheory.teacher.conditional_matrix": [call(np.array([0, 1, 1, 0]), np.array([0, 1, 0, 1]),
                                                 np.full(4, 0.25), 2, 2)],
    "mftheory.teacher.event_probabilities": [call(np.array([0, 1, 1, 0]), np.full(4, 0.25), 2)],
    "mftheory.teacher.conditional_mean": [call(np.arange(4.0), np.full(4, 0.25),
                                               np.array([0, 1, 1, 0]))],
    "mftheory.teacher.batchnorm_forward": [call(np.arange(4.0))],
    "mftheory.teacher.batchnorm_backward": [call(np.arange(4.0), np.ones(4) - np.arange(4.0))],
    "mftheory.teacher.batchnorm_projector": [call(np.arange(4.0))],
    "mftheory.teacher.ioffe_szegedy_backward": [call(np.arange(4.0), np.ones(4))],
    "mftheory.teacher.hypercube_Q": [call(4)],
    "mftheory.teacher.linear_min_loss": [call(np.eye(3)[[0, 1, 2, 0]])],
    "mftheory.teacher.relu_identity_weights": [call(Lazy("hypercube"), 2)],
    "mftheory.teacher.is_vertex": [call(_P3, 0)],
    "mftheory.teacher.vertex_count": [call(_P3)],
    "mftheory.teacher.vertex_separators": [call(_P3[:3])],
    "mftheory.teacher.disentangled_activation": [call([[0.2, 0.8], [0.6, 0.4]])],
    "mftheory.teacher.disentangled_gradient": [call([[0.2, -0.2], [0.1, -0.1]],
                                                    [[0.5, 0.5], [0.3, 0.7]])],
    "mftheory.teacher.activation_deviation": [call(np.ones((4, 2)))],
    "mftheory.teacher.gradient_deviation": [call(np.ones((4, 2)), [[0.5, 0.5], [0.3, 0.7]])],
    "mftheory.teacher.off_block_max": [call(np.eye(3), [[0], [1], [2]])],
    "mftheory.teacher.spurious_epsilon": [call(10, 5)],
    "mftheory.teacher.spurious_mean_abs": [call(10)],
    "mftheory.teacher.spurious_win_probability": [call(10, 0.1, 0.5)],
    # teaching (build tools)
    "mftheory.teaching.latex_macros": [call("sphinx:\n  config:\n    mathjax3_config:\n      tex:\n"
                                            "        macros:\n          E: '\\\\mathbb{E}'\n")],
    "mftheory.teaching.macro_cell_source": [call({"E": ("\\mathbb{E}", 0)})],
    "mftheory.teaching.add_macro_cell": [call(_NB, {"E": ("\\mathbb{E}", 0)})],
    # widgets of the new chapters
    "mftheory.widgets.batchnorm.sphere_marginal_density": [call(0.5, 6)],
    "mftheory.widgets.linear_networks.hardt_ma_norms": [call([2.0, 1.0], [0.3], 4)],
    "mftheory.widgets.square_loss.pca_2d": [call(_X4)],
    "mftheory.widgets.square_loss.draw_training": [call(Lazy("history"), fig="FIG",
                                                        kinds={"fig": "figure"})],
    "mftheory.widgets.fisher.draw_empirical_at": [call(width=64)],
    # site scrubbers (label and alt: None means a default text)
    "mftheory.widgets.scrubber.frame_grid": [call(0.5, 4.0, 6)],
    "mftheory.widgets.scrubber.scrubber_frames": [call(_draw_fig_stub, "a", [0.0, 1.0], dpi=20)],
    "mftheory.widgets.scrubber.scrubber": [call(_draw_fig_stub, "a", [0.0, 1.0], dpi=20,
                                                label="a", alt="x", kinds={"alt": "text"},
                                                also_ok=("label:None", "alt:None"))],
})
_LAZY["appendix_nb"] = lambda: __import__("json").loads(
    (__import__("pathlib").Path(__file__).parent.parent / "book" / "appendix_gaussian.ipynb")
    .read_text())
_LAZY["saxe_weights"] = lambda: _saxe().weights
_LAZY["saxe_bases"] = lambda: _saxe().bases
_LAZY["relu_net"] = lambda: __import__("mftheory.linear", fromlist=["x"]).relu_interpolation(
    np.array([[0.0], [1.0], [2.0]]), [1.0, -1.0, 0.5])
EXAMPLES["mftheory.teacher.specialization_run"] = [call(steps=5, batch=16)]


def _saxe():
    from mftheory import linear

    return linear.saxe_problem([3.0, 1.0], [1.0, 1.0], [0.1, 0.1], 2)


_LAZY["hypercube"] = lambda: __import__("mftheory.teacher", fromlist=["x"]).hypercube_Q(4, 2)


#: Contract failures found on 2026-12-01 in modules written that day, routed to their authors
#: (xfail, not strict: a fixed function shows as XPASS; then delete its entry here, and the
#: test checks it again). Each reason is the first failure found.
KNOWN_FAILURES = {
}

#: Functions documented to return inf for some valid input, with where it is documented.
INF_DOCUMENTED = {
    "mftheory.signal.depth_scale": "signal.depth_scale: math.inf when x >= 1",
    "mftheory.batchnorm.alpha_transition": "batchnorm.alpha_transition: math.inf, no crossing",
    "mftheory.batchnorm.depth_scale": "batchnorm.depth_scale: math.inf at 1",
    "mftheory.batchnorm.large_batch_rate": "batchnorm.large_batch_rate: inf for degree <= 1/2",
    "mftheory.batchnorm.max_trainable_depth": "as batchnorm.depth_scale",
    "mftheory.signal.fixed_point": "signal.fixed_point: xi = inf at criticality; no finite q*",
    "mftheory.signal.q_star": "signal.q_star: inf when there is no finite fixed point",
    "mftheory.signal.phase_diagram": "signal.phase_diagram: as fixed_point, on a grid",
}

#: Functions documented to return NaN in some field, with where it is documented.
NAN_DOCUMENTED = {
    "mftheory.optim.gradient_descent": "optim.gradient_descent: after an overflow, nan",
    "mftheory.optim.heavy_ball": "as gradient_descent",
    "mftheory.optim.slides_heavy_ball": "as gradient_descent",
    "mftheory.optim.quadratic_race": "its trajectories are gradient_descent's and heavy_ball's",
    "mftheory.optim.double_well_limits": "optim.double_well_limits: diverging runs return nan",
    "mftheory.landscape.spurious_minima_search": "SearchResult: lambda_min is nan for runs "
                                                 "that were not certified",
}

#: Public names that are not called, with the reason.
NOT_CALLED = {
    "mftheory.teaching.main": "command-line entry point: argparse owns its argument errors",
    "mftheory.teaching.student_notebooks": "writes a folder of notebooks; tested in "
                                          "test_teaching.py",
    "mftheory.runtime.describe": "no arguments; prints versions",
}

NOT_CALLED.update({
    "mftheory.course.main": "command-line entry point: argparse owns its argument errors",
    "mftheory.course.write_course": "writes an nbgrader course folder (runs notebooks)",
    "mftheory.course.grades_summary": "reads an nbgrader gradebook from a course folder",
    "mftheory.teaching.write_macro_cells": "rewrites notebook files; tested in test_teaching.py",
    "mftheory.sweep.sweep": "runs a parameter sweep (Dask); tested in its own tests",
    "mftheory.sweep.run_grid": "runs a stored grid of the book; tested in its own tests",
    "mftheory.sweep.load_grid": "reads a stored grid of the book; tested in its own tests",
    "mftheory.sweep.chapter_grid": "loads or runs a grid of the book; tested in its own tests",
    "mftheory.sweep.book_store": "no arguments; a folder or None",
    "mftheory.sweep.spurious_search_results": "takes a SweepResult of the GD grid; bad input "
                                              "tested in tests/test_sweep.py",
    "mftheory.sweep.simulation_results": "takes a SweepResult of the signal grid; bad input "
                                         "tested in tests/test_sweep.py",
    "mftheory.sweep.fisher_grid_results": "takes a SweepResult of the Fisher grid; bad input "
                                          "tested in tests/test_sweep.py",
    "mftheory.widgets.square_loss.training_explorer": "builds a training widget",
    "mftheory.widgets.square_loss.collapse_explorer": "builds a training widget",
    "mftheory.widgets.square_loss.draw_collapse": "draws the record of training runs",
})


# --------------------------------------------------------------------------------------
# Bad values by kind of parameter
# --------------------------------------------------------------------------------------
class _Hostile:
    """An object whose conversions all raise."""

    def __array__(self, *a, **k):
        raise RuntimeError("no array here")

    def __float__(self):
        raise RuntimeError("no float here")

    def __repr__(self):
        return "<hostile>"


def _tensor_grad(v):
    return torch.tensor(np.asarray(v, dtype=float), requires_grad=True)


RAGGED = [[1.0], [1.0, 2.0]]


def _perturbations(kind, value, name):
    """(bad, maybe) lists of (label, value) for a parameter of ``kind`` with example ``value``."""
    if kind == "float":
        bad = [("None", None), ("str", "1.5"), ("bool", True), ("complex", 1.5 + 1j),
               ("nan", math.nan), ("inf", math.inf), ("-inf", -math.inf),
               ("tensor-grad", _tensor_grad(1.5)), ("tensor", torch.tensor(1.5)),
               ("ragged", RAGGED), ("object", object()), ("hostile", _Hostile()),
               ("int-too-big-for-float", 10 ** 400)]
        maybe = [("0", 0.0), ("-1", -1.0), ("1e308", 1e308), ("-1e308", -1e308),
                 ("5e-324", 5e-324), ("2**64", 2 ** 64), ("float32", np.float32(value)),
                 ("list", [value, value])]
    elif kind == "int":
        bad = [("None", None), ("str", "3"), ("bool", True), ("float", 1.5),
               ("complex", 1 + 1j), ("nan", math.nan), ("inf", math.inf),
               ("2**64", 2 ** 64), ("tensor", torch.tensor(value)), ("object", object())]
        maybe = [("0", 0), ("-1", -1), ("int64", np.int64(value)), ("float-int", float(value))]
    elif kind == "bool":
        bad = [("None", None), ("str", "False"), ("int", 1), ("zero", 0), ("float", 1.5),
               ("object", object())]
        maybe = [("np.bool_", np.bool_(value))]
    elif kind == "str":
        bad = [("None", None), ("bogus", "bogus"), ("empty", ""), ("float", 1.5),
               ("bool", True), ("bytes", value.encode()), ("list", [value]),
               ("object", object())]
        maybe = []
    elif kind == "text":                       # free text: any string is valid
        bad = [("None", None), ("float", 1.5), ("bool", True), ("object", object())]
        maybe = [("bogus", "bogus"), ("empty", "")]
    elif kind == "device":
        bad = [("meta", "meta"), ("mps", "mps"), ("abc", "abc"), ("float", 1.5), ("bool", True)]
        if not torch.cuda.is_available():
            bad.append(("cuda-without-gpu", "cuda"))
        maybe = [("cpu", "cpu"), ("torch.device", torch.device("cpu"))]
    elif kind == "farray":
        arr = np.asarray(value, dtype=float)
        nan_arr = arr.copy()
        nan_arr.flat[0] = math.nan
        inf_arr = arr.copy()
        inf_arr.flat[0] = math.inf
        bad = [("None", None), ("str", "abc"), ("bool", True), ("complex", arr + 1j),
               ("nan-entry", nan_arr), ("inf-entry", inf_arr), ("tensor-grad", _tensor_grad(arr)),
               ("ragged", RAGGED), ("object", object()), ("hostile", _Hostile()),
               ("strings", np.full(arr.shape, "a")), ("bool-array", np.ones(arr.shape, bool))]
        maybe = [("empty", []), ("scalar", 0.5), ("row", arr[None]), ("flat", arr.ravel()),
                 ("huge", 1e308 * np.ones_like(arr)), ("negative", -np.abs(arr) - 1.0),
                 ("zeros", np.zeros_like(arr)), ("tiny", 5e-324 * np.ones_like(arr))]
        if arr.ndim >= 1 and arr.shape[-1] > 1:
            maybe.append(("short", arr[..., :-1]))
    elif kind == "iarray":
        arr = list(value)
        bad = [("None", None), ("str", "abc"), ("bool", True), ("float-entry", arr[:-1] + [1.5]),
               ("nan-entry", arr[:-1] + [math.nan]), ("huge-entry", arr[:-1] + [2 ** 64]),
               ("complex", [1 + 1j] * len(arr)), ("tensor", torch.tensor(arr)),
               ("ragged", [arr, [arr]]), ("object", object())]
        maybe = [("empty", []), ("one", arr[:1]), ("zero-entry", arr[:-1] + [0]),
                 ("negative-entry", arr[:-1] + [-2]), ("bool-entry", arr[:-1] + [True])]
    elif kind == "callable":
        bad = [("None", None), ("str", "abc"), ("float", 1.5), ("object", object())]
        maybe = []
    elif kind == "figure":
        bad = [("str", "abc"), ("float", 1.5), ("object", object())]
        maybe = [("None", None)]
    elif kind == "axes":
        bad = [("None", None), ("str", "abc"), ("float", 1.5), ("object", object())]
        maybe = []
    elif kind == "none":                       # optional argument, given as None
        bad = [("str", "bogus-value"), ("complex", 1 + 1j), ("object", object())]
        maybe = []
    else:                                      # records, dicts, tuples of widgets ...
        bad = [("None", None), ("str", "bogus-value"), ("object", object())]
        maybe = []
    return bad, maybe


TEXT_PARAMS = {"name", "hint", "label", "chapter", "title", "marker", "message", "text"}


def _kind(name, value, override):
    if name in override:
        return override[name]
    if name == "device":
        return "device"
    if name in TEXT_PARAMS and isinstance(value, str):
        return "text"
    if value is None:
        return "none"
    if isinstance(value, (bool, np.bool_)):
        return "bool"
    if isinstance(value, (int, np.integer)):
        return "int"
    if isinstance(value, (float, np.floating)):
        return "float"
    if isinstance(value, str):
        return "str"
    if callable(value):
        return "callable"
    if isinstance(value, (list, tuple, np.ndarray)):
        try:
            arr = np.asarray(value)
        except Exception:
            return "object"
        if arr.dtype.kind in "iu" and arr.ndim == 1 and isinstance(value, list):
            return "iarray"
        if arr.dtype.kind in "iuf":
            return "farray"
    return "object"


EXTREME = {"1e308", "-1e308", "5e-324", "2**64", "huge", "tiny"}

ANSWER_VALUES = [("None", None), ("str", "abc"), ("bool", True), ("complex", 1.5 + 1j),
                 ("nan", math.nan), ("inf", math.inf), ("1e308", 1e308), ("-1e308", -1e308),
                 ("5e-324", 5e-324), ("empty", []), ("ragged", RAGGED), ("object", object()),
                 ("hostile", _Hostile()), ("tensor-grad", _tensor_grad(0.5)),
                 ("huge-matrix", 1e308 * np.eye(8)), ("dict", {"a": 1}),
                 ("raising-function", lambda *a: 1 / 0), ("str-function", lambda *a: "x"),
                 ("nan-function", lambda *a: math.nan)]
ALWAYS_WRONG = {"None", "str", "bool", "complex", "nan", "inf", "empty", "ragged", "object",
                "hostile", "dict", "raising-function", "str-function", "nan-function"}


# --------------------------------------------------------------------------------------
# Running one call
# --------------------------------------------------------------------------------------
class _Timeout(Exception):
    pass


def _on_alarm(signum, frame):
    raise _Timeout()


def _has_nan_or_inf(x, depth=0):
    """(has_nan, has_inf) anywhere in a result (numbers, arrays, tuples, dicts, records)."""
    if depth > 4:
        return False, False
    if isinstance(x, Feedback) or x is None or isinstance(x, (str, bytes, bool)):
        return False, False
    if isinstance(x, (float, np.floating)):
        return math.isnan(x), math.isinf(x)
    if isinstance(x, np.ndarray):
        if x.dtype.kind not in "fc" or x.size == 0:
            return False, False
        return bool(np.isnan(x).any()), bool(np.isinf(x).any())
    if isinstance(x, torch.Tensor):
        if not x.is_floating_point() or x.numel() == 0:
            return False, False
        return bool(torch.isnan(x).any()), bool(torch.isinf(x).any())
    items = ()
    if isinstance(x, (list, tuple)):
        items = x[:1000]
    elif isinstance(x, dict):
        items = list(x.values())[:1000]
    elif dataclasses.is_dataclass(x):
        items = [getattr(x, f.name) for f in dataclasses.fields(x)]
    nan = inf = False
    for it in items:
        a, b = _has_nan_or_inf(it, depth + 1)
        nan, inf = nan or a, inf or b
    return nan, inf


def _run(fn, args, kwargs, limit=TIME_LIMIT):
    """('ok', result) | ('value_error', message) | ('error', 'Type: message'), and seconds."""
    # CPU time (ITIMER_PROF, time.process_time), not wall time: the limits hold on a busy machine
    try:
        old = _signal.signal(_signal.SIGPROF, _on_alarm)
        _signal.setitimer(_signal.ITIMER_PROF, limit)
    except ValueError:                            # not the main thread: no interruption
        old = None
    t0 = time.process_time()
    try:
        out = ("ok", fn(*args, **kwargs))
    except ValueError as e:
        out = ("value_error", str(e))
    except _Timeout:
        out = ("error", f"took more than {limit:g} s (interrupted)")
    except Exception as e:                                        # noqa: BLE001
        out = ("error", f"{type(e).__name__}: {str(e)[:200]}", e)
    finally:
        if old is not None:
            _signal.setitimer(_signal.ITIMER_PROF, 0)
            _signal.signal(_signal.SIGPROF, old)
    plt.close("all")
    return out, time.process_time() - t0


def _names_in_message(param, msg, alias=None):
    words = {param.lower(), param.lower().rstrip("s"), param.lower().replace("_", " ")}
    if isinstance(alias, str):
        words.add(alias.lower())
    aliases = {"act": ("activation",), "fig": ("figure",), "ax": ("axes",)}
    words |= set(aliases.get(param, ()))
    m = msg.lower()
    return any(w and w in m for w in words)


# --------------------------------------------------------------------------------------
# Discovery
# --------------------------------------------------------------------------------------
def _public_names():
    out = []
    for info in pkgutil.walk_packages(mftheory.__path__, "mftheory."):
        try:
            mod = importlib.import_module(info.name)
        except Exception as e:                                    # noqa: BLE001
            out.append((info.name, "<import>", e))
            continue
        for n in getattr(mod, "__all__", None) or []:
            out.append((info.name, n, None))
    return out


PUBLIC = _public_names()


def _first_names():
    out = {}
    for module, name, err in PUBLIC:
        if err is None:
            obj = getattr(importlib.import_module(module), name, None)
            if callable(obj):
                out.setdefault(id(obj), f"{module}.{name}")
    return out


_FIRST_NAME = _first_names()


def _resolve(value, figure):
    if isinstance(value, Lazy):
        return value.get()
    if isinstance(value, str) and value == "FIG":
        return figure
    if isinstance(value, str) and value == "AX":
        return figure.add_subplot(1, 1, 1)
    return value


def _bound_example(fn, ex, figure):
    sig = inspect.signature(fn)
    args = [_resolve(a, figure) for a in ex.args]
    kwargs = {k: _resolve(v, figure) for k, v in ex.kwargs.items()}
    try:
        bound = sig.bind_partial(*args, **kwargs)
    except TypeError as err:
        raise AssertionError(f"the example call of {fn.__module__}.{fn.__name__} in "
                             f"tests/test_contract.py does not fit its signature {sig}: {err}; "
                             "update it") from None
    params = {}
    for p in sig.parameters.values():
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            continue
        if p.name in bound.arguments:
            params[p.name] = bound.arguments[p.name]
        elif p.default is not p.empty:
            params[p.name] = p.default
        else:
            raise AssertionError(f"add an example call for {fn.__module__}.{fn.__name__} to "
                                 f"tests/test_contract.py (parameter `{p.name}` has no value)")
    extra = {k: v for k, v in kwargs.items() if k not in params}
    return sig, params, extra


def _invoke(fn, sig, params, extra, limit=TIME_LIMIT):
    args, kwargs = [], dict(extra)
    for p in sig.parameters.values():
        if p.name not in params:
            continue
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD):
            args.append(params[p.name])
        else:
            kwargs[p.name] = params[p.name]
    return _run(fn, args, kwargs, limit)


@pytest.fixture(autouse=True)
def _keep_global_state():
    """Calls such as ``plotting.use_style()`` or ``runtime.seed()`` change global state: restore
    matplotlib's rcParams and NumPy's global generator for the tests that run after these."""
    state = np.random.get_state()
    with matplotlib.rc_context():
        yield
    np.random.set_state(state)


@pytest.mark.parametrize("module,name,import_error", PUBLIC,
                         ids=[f"{m}.{n}" for m, n, _ in PUBLIC])
def test_contract(module, name, import_error, tmp_path, monkeypatch, request):
    full = f"{module}.{name}"
    if full in KNOWN_FAILURES:
        request.applymarker(pytest.mark.xfail(reason=KNOWN_FAILURES[full], strict=False))
    monkeypatch.setenv("MFTHEORY_DATA", str(tmp_path))      # never read a real download cache
    assert import_error is None, f"{module} does not import: {import_error!r}"
    obj = getattr(importlib.import_module(module), name, None)
    assert obj is not None or hasattr(importlib.import_module(module), name), \
        f"{full} is in __all__ but not defined"
    if full in NOT_CALLED:
        pytest.skip(NOT_CALLED[full])
    if full in EXAMPLES and _FIRST_NAME.get(id(obj), full) != full:
        return
    if inspect.isclass(obj):
        if (dataclasses.is_dataclass(obj) or issubclass(obj, BaseException)
                or (issubclass(obj, tuple) and hasattr(obj, "_fields"))):
            return                                # records and exceptions are not called
        assert full in EXAMPLES, f"add an example call for {full} to tests/test_contract.py"
    elif not callable(obj):
        return                                    # a constant
    first = _FIRST_NAME.get(id(obj), full)
    if first != full:
        return                                    # the same function under another name
    if full not in EXAMPLES and not [
            p for p in inspect.signature(obj).parameters.values()
            if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]:
        return                                    # no arguments: nothing to validate
    default = call()
    if ".exercises." in full and name.startswith("check_"):
        # a check whose parameters without defaults are all answers: any value will do
        required = [p for p in inspect.signature(obj).parameters.values()
                    if p.default is p.empty and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]
        default = call(*[0.5] * len(required))
    examples = EXAMPLES.get(full, [default])
    figure = plt.figure(figsize=(4, 3))
    failures = []
    try:
        for ex in examples:
            failures += _check_example(full, obj, ex, figure)
    finally:
        plt.close("all")
    assert not failures, f"{len(failures)} contract failures of {full}:\n" + "\n".join(
        failures[:40])


def _check_example(full, fn, ex, figure):
    is_check = ".exercises." in full and fn.__name__.startswith("check_")
    sig, params, extra = _bound_example(fn, ex, figure)
    if is_check or full.endswith(".as_answer"):
        answers = ex.answers if ex.answers is not None else tuple(
            p.name for p in sig.parameters.values()
            if p.default is p.empty and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD))
    else:
        answers = ()
    (status, *rest), dt0 = _invoke(fn, sig, params, extra, limit=4 * SLOW_EXAMPLE)
    if status == "ok" and dt0 > SLOW_EXAMPLE:      # a first call may fill a cache: time again
        (status, *rest), dt0 = _invoke(fn, sig, params, extra, limit=4 * SLOW_EXAMPLE)
    if status != "ok" and not (len(rest) > 1 and isinstance(rest[1], ex.extra_ok)):
        return [f"the example call {full}({params}) fails: {rest[0]} -- fix the example"]
    if dt0 > SLOW_EXAMPLE:
        return [f"the example call of {full} takes {dt0:.2f} s (> {SLOW_EXAMPLE} s): give it a "
                "cheaper example call in EXAMPLES (each argument is perturbed ~15 times)"]
    failures = []
    start = time.process_time()
    for pname, value in params.items():
        if pname in ex.skip:
            continue
        if time.process_time() - start > BUDGET:
            failures.append(f"{full}: its contract check took more than {BUDGET:g} s (stopped "
                            f"before `{pname}`): give it a cheaper example call")
            break
        if pname in answers:
            for label, bad in ANSWER_VALUES:
                (status, *rest), dt = _invoke(fn, sig, {**params, pname: bad}, extra)
                where = f"{full}: answer `{pname}` = {label}"
                result = rest[0]
                if status != "ok":
                    failures.append(f"{where}: raised {status}: {rest[0]}")
                elif not isinstance(result, (Feedback, tuple)):
                    failures.append(f"{where}: returned {type(result).__name__}, not a Feedback")
                elif isinstance(result, Feedback) and label in ALWAYS_WRONG and result.correct:
                    failures.append(f"{where}: graded correct")
                if dt > TIME_LIMIT:
                    failures.append(f"{where}: took {dt:.1f} s")
            continue
        kind = _kind(pname, value, ex.kinds)
        bad, maybe = _perturbations(kind, value, pname)
        if sig.parameters[pname].default is None:           # None is this parameter's default
            maybe += [(lb, v) for lb, v in bad if v is None]
            bad = [(lb, v) for lb, v in bad if v is not None]
        if dt0 > CHEAP_EXAMPLE:
            maybe = []
        ok_here = {a.split(":", 1)[1] for a in ex.also_ok if a.split(":", 1)[0] == pname}
        maybe += [(lb, v) for lb, v in bad if lb in ok_here]
        bad = [(lb, v) for lb, v in bad if lb not in ok_here]
        for i, (label, v) in enumerate(bad + maybe):
            must_raise = i < len(bad)
            (status, *rest), dt = _invoke(fn, sig, {**params, pname: v}, extra)
            where = f"{full}: `{pname}` ({kind}) = {label}"
            if dt > TIME_LIMIT:
                failures.append(f"{where}: took {dt:.1f} s")
            if status == "value_error":
                if must_raise and not _names_in_message(pname, rest[0], params.get("name")):
                    failures.append(f"{where}: ValueError does not name `{pname}`: {rest[0]!r}")
                continue
            if status == "error":
                exc = rest[1] if len(rest) > 1 else None
                if not must_raise and exc is not None and isinstance(exc, ex.extra_ok):
                    continue
                failures.append(f"{where}: raised {rest[0]}")
                continue
            if must_raise:
                failures.append(f"{where}: accepted (no ValueError)")
                continue
            nan, inf = _has_nan_or_inf(rest[0])
            if nan and full not in NAN_DOCUMENTED:
                failures.append(f"{where}: returned NaN")
            elif inf and full not in INF_DOCUMENTED and label not in EXTREME:
                failures.append(f"{where}: returned inf (not documented in INF_DOCUMENTED)")
    return failures


def test_every_public_function_has_a_known_call():
    """Functions with parameters without defaults need an example (the message says where)."""
    missing = []
    for module, name, err in PUBLIC:
        if err is not None:
            continue
        full = f"{module}.{name}"
        obj = getattr(importlib.import_module(module), name)
        if full in EXAMPLES or full in NOT_CALLED or not callable(obj) or inspect.isclass(obj):
            continue
        if ".exercises." in full and name.startswith("check_"):
            continue                              # answers only: called with 0.5 each
        sig = inspect.signature(obj)
        if any(p.default is p.empty and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
               for p in sig.parameters.values()):
            missing.append(full)
    assert not missing, ("add an example call to EXAMPLES in tests/test_contract.py for: "
                         + ", ".join(missing))


# --------------------------------------------------------------------------------------
# The exact calls of issue 17, one regression test each
# --------------------------------------------------------------------------------------
def _raises_naming(fn, *args, name, **kwargs):
    with pytest.raises(ValueError) as err:
        fn(*args, **kwargs)
    assert name in str(err.value), str(err.value)
    return str(err.value)


def _finite_or_value_error(fn, *args, **kwargs):
    try:
        out = fn(*args, **kwargs)
    except ValueError:
        return None
    assert not _has_nan_or_inf(out)[0], f"NaN from {fn.__name__}{args}"
    return out


def _function_with(module, name, param=None):
    mod = importlib.import_module(f"mftheory.{module}")
    fn = getattr(mod, name, None)
    if fn is None or (param and param not in inspect.signature(fn).parameters):
        pytest.skip(f"{module}.{name}({param}) no longer exists (the chapter's exercises changed)")
    return fn


def test_issue17_tensor_with_grad_is_a_value_error():
    from mftheory import signal

    msg = _raises_naming(signal.q_map, "tanh", 1.0, torch.tensor(1.5, requires_grad=True), 0.05,
                         name="`sigma_w2`")
    assert "torch" in msg and "finite real number" in msg


@pytest.mark.parametrize("bad", [True, "2.0", np.array([1.0 + 2.0j]), RAGGED])
def test_issue17_check_array_rejects_non_numbers(bad):
    from mftheory._validate import check_array

    _raises_naming(check_array, "a", bad, name="`a`")


@pytest.mark.parametrize("module,name,args", [
    ("gaussian", "phi_d2phi_moment", ("erf", 1e308)),
    ("signal", "q_map_slope", ("erf", 1e308, 1.5, 0.05)),
    ("gaussian", "kernel", ("erf", 1e308, 0.0, 0.0)),
    ("gaussian", "kernel", ("relu", 1e308, 1e308, -1.0)),
    ("signal", "c_map_slope", ("tanh", 0.5, 1e308, 0.05)),
    ("optim", "gd_optimal_step", (1e-308, 10.0)),
    ("optim", "steps_to_epsilon_bound", (1.0, 0.0, 5e-324, 0.01)),
    ("optim", "steps_to_epsilon_bound", (1e308, 0.0, 0.5, 0.01)),
    ("signal", "rademacher_tail_exponent", (2 ** 64, 0.2)),
])
def test_issue17_no_nan_and_no_other_exception_at_the_float_range(module, name, args):
    fn = getattr(importlib.import_module(f"mftheory.{module}"), name)
    _finite_or_value_error(fn, *args)


def test_issue17_closed_forms_at_1e308_have_their_limits():
    from mftheory import gaussian

    # -8q / (pi (1+2q) sqrt(1+4q)) ~ -(2/pi) / sqrt(q) -> 0; erf kernel at c = 0 is 0;
    # the ReLU kernel at c = -1 is 0; E[erf(sqrt(q) z)^2] -> 1
    assert abs(gaussian.phi_d2phi_moment("erf", 1e308)) < 1e-150
    assert gaussian.kernel("erf", 1e308, 0.0, 0.0) == 0.0
    assert gaussian.kernel("relu", 1e308, 1e308, -1.0) == 0.0
    assert gaussian.second_moment("erf", 1e308) == pytest.approx(1.0, abs=1e-15)


@pytest.mark.parametrize("device", ["meta", "mps", "abc", 1.5]
                         + ([] if torch.cuda.is_available() else ["cuda"]))
def test_issue17_devices(device):
    from mftheory import landscape, nets

    x = np.ones((2, 4))
    _raises_naming(nets.propagate, "tanh", [4, 5], 1.5, 0.05, x, device=device, name="`device`")
    _raises_naming(nets.simulate, "tanh", 1.5, 0.05, width=4, depth=2, n_seeds=2, device=device,
                   name="`device`")
    _raises_naming(nets.circle_experiment, "tanh", 1.5, 0.05, width=4, depth=2, n_points=6,
                   n_networks=2, device=device, name="`device`")
    _raises_naming(landscape.spurious_minima_search, 3, 3, 2, n_steps=5, device=device,
                   name="`device`")


def test_issue17_overflowing_network_is_a_value_error():
    from mftheory import nets

    with pytest.raises(ValueError, match="non-finite"):
        nets.simulate("tanh", 1e308, 0.05, width=4, depth=2, n_seeds=2, device="cpu")


def test_issue17_shapes():
    from mftheory import optim

    X, Y = _X_MLP, _Y_MLP
    _raises_naming(optim.quadratic, [], name="`A`")
    _raises_naming(optim.saddle, 0.0, name="`xy`")
    _raises_naming(optim.mlp_loss_and_backprop, 0.0, [2, 3, 1], X, Y, name="`theta`")
    _raises_naming(optim.finite_difference_gradient, _quad_loss, [[1.0, 2.0]], name="`x`")
    _raises_naming(optim.mlp_init, None, name="`widths`")
    _raises_naming(optim.cosine_sum, [], name="`x`")
    _raises_naming(optim.finite_difference_gradient, _quad_loss, [], name="`x`")
    _raises_naming(optim.gradient_descent, _quad_loss, [], 0.1, 3, grad=_quad_grad, name="`x0`")


@pytest.mark.parametrize("act", ["relu", "erf", "linear", "tanh"])
def test_issue17_options(act):
    from mftheory import gaussian, nets

    _raises_naming(gaussian.second_moment, act, 1.0, rule="bogus", name="rule")
    _raises_naming(nets.propagate, act, [4, 5], 1.5, 0.05, np.ones((2, 4)), device="cpu",
                   backprop="False", name="`backprop`")


@pytest.mark.parametrize("loader", ["load_mnist", "load_cifar10"])
def test_issue17_download_timeout(loader, tmp_path, monkeypatch):
    from mftheory import data

    monkeypatch.setenv("MFTHEORY_DATA", str(tmp_path))
    _raises_naming(getattr(data, loader), timeout=1e308, name="`timeout`")


@pytest.mark.parametrize("module,name,args,kwargs,param", [
    ("gradient_descent", "check_descent_step", (0.25,), {"M": 0}, "M"),
    ("gradient_descent", "check_escape_slope", (24.16,), {"alpha": 0}, "alpha"),
    ("gradient_descent", "check_escape_slope", (24.16,), {"alpha": -1.0}, "alpha"),
    ("signal_propagation", "check_gradient_ratio", (0.94, 1e308, 0.05), {}, "sigma_w2"),
    ("gradient_descent", "check_slides_stability_limit", (0.5,), {"beta": None}, "beta"),
])
def test_issue17_check_parameters(module, name, args, kwargs, param):
    fn = _function_with(f"exercises.{module}", name, param)
    try:
        out = fn(*args, **kwargs)
    except ValueError as err:
        assert param in str(err), str(err)
    else:                                   # a valid parameter point: then a Feedback
        assert isinstance(out, Feedback), out


def test_issue17_answers_are_data():
    from mftheory.exercises import gradient_descent as ex

    fb = ex.check_spurious_minimum(object())
    assert isinstance(fb, Feedback) and not fb
    fb = ex.check_spurious_minimum(1e308 * np.eye(8))
    assert isinstance(fb, Feedback) and not fb
    from mftheory import optim

    check = _function_with("exercises.gradient_descent", "check_backprop_gradient", "theta")
    th, labels = _theta232(), np.array([0, 1, 0, 1])

    def loss(t):                 # the softmax cross-entropy of the check's docstring
        layers, z = [], _X_MLP
        i = 0
        for k, (d_in, d_out) in enumerate([(2, 3), (3, 2)]):
            W = t[i:i + d_in * d_out].reshape(d_out, d_in)
            b = t[i + d_in * d_out:i + d_in * d_out + d_out]
            i += d_in * d_out + d_out
            z = z @ W.T + b
            z = np.tanh(z) if k == 0 else z
        z = z - z.max(axis=1, keepdims=True)
        logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
        return -float(np.mean(logp[np.arange(4), labels]))

    g = optim.finite_difference_gradient(loss, th)
    assert check(g, th, [2, 3, 2], _X_MLP, labels)
    for answer in ("abc", g + 1j, None, _tensor_grad(g)[:3], _Hostile()):
        fb = check(answer, th, [2, 3, 2], _X_MLP, labels)
        assert isinstance(fb, Feedback) and not fb, (answer, fb)

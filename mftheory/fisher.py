r"""Fisher information of random ReLU networks, the flattening effect of batch normalization and
the largest stable learning rate (Wei, Stokes & Schwab [1], after Karakida, Akaho & Amari [2]).

Theory (numpy, float64)
-----------------------
A ReLU network :math:`f_\theta:\mathbb R^{N_0}\to\mathbb R^{N_L}` with widths
``widths = [N_0, ..., N_L]`` computes :math:`z^l=W^lh^{l-1}+b^l`, :math:`h^0=x`, a linear last
layer :math:`h^L=z^L` and, for :math:`0<l<L`,

* vanilla: :math:`h^l=\phi(z^l)`;
* with batch normalization (BN): :math:`h^l=\phi(\gamma(z^l-\mu^l)/s^l)` with the per-unit
  mean :math:`\mu^l` and standard deviation :math:`s^l` of :math:`z^l` over the data, one
  non-random :math:`\gamma` for every unit and layer, and :math:`\beta=0`;

with :math:`W^l_{ij}\sim\mathcal N(0,\sigma_w^2/N_{l-1})` (``sigma_w2`` is a *variance*) and
:math:`b^l_i\sim\mathcal N(0,\sigma_b^2)`. Inputs are i.i.d. with mean 0 and variance 1 per
coordinate. For the loss :math:`\frac1m\sum_i\frac12\|f(x_i)-y_i\|^2` the Fisher information
matrix (FIM) is the Gauss-Newton matrix :math:`I=\frac1mJ^\top J` of the output Jacobian.

:func:`order_parameters` runs the mean-field recursions of the forward order parameters
:math:`q^l,q^l_{xy}` (per unit, inputs :math:`x\ne y`), their post-activation versions
:math:`\hat q^l,\hat q^l_{xy}` and the backward ones :math:`\tilde q^l,\tilde q^l_{xy}` of
:math:`\delta^l=\partial f_1/\partial z^l` (summed over units). The lower bound of [1, Claim 3.1]

.. math::

    \bar\lambda_{\max}\gtrsim\sum_{l=1}^Lf_l,\qquad
    f_l=N_{l-1}\hat q^{l-1}_{xy}\tilde q^l_{xy}

is the Rayleigh quotient of the uniform vector on the Gram matrix :math:`\frac1mJJ^\top`.
BN gives :math:`\hat q=\gamma^2/2` and :math:`\hat q_{xy}=\gamma^2/(2\pi)` at every depth. Its
backward recursion divides by :math:`(s^l)^2`; ``variant='paper'`` uses
:math:`(s^l)^2\approx q^l` as [1] does (reproducing its numbers), ``variant='centered'`` the
correct :math:`\mathbb E(s^l)^2=q^l-q^l_{xy}` (variance *after* the mean is subtracted), which
matches autograd, and ``variant='train'`` the train-mode BN of real training, whose
gradients through the batch statistics centre every hidden-layer gradient, so that
:math:`\tilde q^l_{xy}=0` for :math:`l<L` and only the last layer survives.

Convolutional layers (3x3 kernels, stride 2, no padding by default; BN per channel; a flatten
head) use the same recursions with the fan-ins :math:`N_{l-1}=C_{l-1}k^2` (the head: the
flattened size) in place of the widths; this is the paper's eq. (45) with vanishing
cross-site backward correlations, the form that is consistent with a flatten head.

The step-size bound is heavy-ball stability on the quadratic model,
:math:`\eta<\eta_*=2(1+\mu)/\lambda_{\max}` (:func:`max_learning_rate`,
:func:`heavy_ball_spectral_radius`).

Simulation (torch, float64)
---------------------------
:func:`make_mlp` and :func:`make_cnn` build seeded random networks whose BN ``mode`` is
``'none'``, ``'frozen'`` (batch statistics detached: the paper's model) or ``'batch'`` (train
mode). :func:`fim_top_eigenvalue` finds :math:`\lambda_{\max}(\frac1mJ^\top J)` by Lanczos
(``scipy.sparse.linalg.eigsh``) or power iteration on the Gram operator
:math:`u\mapsto\frac1mJ(J^\top u)` with vector-Jacobian and Jacobian-vector products, never
forming :math:`J`; :func:`fim_gram` forms the Gram matrix densely for small models;
:func:`fim_layer_bounds` gives the per-layer Rayleigh quotients of the uniform vector.
:func:`heavy_ball` trains the real network or its linearization with full-batch heavy-ball
gradient descent and :func:`explosion_threshold` bisects the learning rate at which it
explodes.

References
----------
.. [1] M. Wei, J. Stokes, D. J. Schwab, "Mean-field analysis of batch normalization",
   arXiv:1903.02606 (2019).
.. [2] R. Karakida, S. Akaho, S. Amari, "Universal statistics of Fisher information in deep
   neural networks: mean field approach", AISTATS 2019, arXiv:1806.01316.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from . import gaussian
from ._validate import check_array, check_choice, check_device, check_positive_int, check_real

__all__ = [
    "OrderParameters",
    "LayerBounds",
    "Network",
    "Run",
    "Grid",
    "order_parameters",
    "fim_lambda_max",
    "lambda_vs_gamma",
    "gamma_crossing",
    "max_learning_rate",
    "heavy_ball_spectral_radius",
    "heavy_ball_stable",
    "conv_geometry",
    "conv_order_parameters",
    "conv_lambda_max",
    "synthetic_problem",
    "digits_problem",
    "make_mlp",
    "make_cnn",
    "fim_top_eigenvalue",
    "fim_gram",
    "fim_layer_bounds",
    "heavy_ball",
    "explosion_threshold",
    "lr_gamma_grid",
]

VARIANTS = ("paper", "centered", "train")
MODES = ("none", "frozen", "batch")
LOSSES = ("mse", "cross_entropy")
BN_EPS = 1e-5
#: pi / (2 (pi - 1)): the backward ratio of the centered BN recursion (layers l >= 2).
CENTERED_RATIO = math.pi / (2 * (math.pi - 1))


def _torch():
    import torch  # lazily: the theory part never needs torch

    return torch


def _generator(seed, stream):
    """A torch generator for ``seed`` on one of several independent streams (data, networks),
    so that data and a network made with the same seed are independent."""
    torch = _torch()
    state = np.random.SeedSequence([seed, stream]).generate_state(2, dtype=np.uint32)
    return torch.Generator().manual_seed(int(state[0]) << 32 | int(state[1]))


# --------------------------------------------------------------------------------------
# Input checks
# --------------------------------------------------------------------------------------
_MAX_INT = 2**31 - 1          # widths, sizes, steps: anything larger is a mistake here
_SCALE_RANGE = (1e-6, 1e6)    # sigma_w2, gamma (and sigma_b2 <= 1e6): float64 stays finite


def _int(name, n, minimum=1, maximum=_MAX_INT):
    n = check_positive_int(name, n, minimum=minimum)
    if n > maximum:
        raise ValueError(f"`{name}` must be an integer <= {maximum}, got {n}")
    return n


def _seed(seed):
    return _int("seed", seed, minimum=0, maximum=2**63 - 1)


def _finite(name, value):
    """Raise when the recursion over- or underflowed (only at extreme parameters)."""
    if not np.all(np.isfinite(value)):
        raise ValueError(f"the mean-field recursion over- or underflows at these parameters "
                         f"({name} is not finite); use moderate sigma_w2, gamma and depth")
    return value


def _check_widths(widths, name="widths", minimum_layers=1):
    if isinstance(widths, (str, bytes)) or not hasattr(widths, "__len__"):
        raise ValueError(f"`{name}` must be a list of positive integers [N0, ..., NL], "
                         f"got {widths!r}")
    if len(widths) < minimum_layers + 1:
        raise ValueError(f"`{name}` must list at least {minimum_layers + 1} widths "
                         f"[N0, ..., NL], got {len(widths)}")
    return tuple(_int(f"{name}[{i}]", n) for i, n in enumerate(widths))


def _check_sigmas(sigma_w2, sigma_b2):
    sw2 = check_real("sigma_w2", sigma_w2, low=_SCALE_RANGE[0], high=_SCALE_RANGE[1])
    sb2 = check_real("sigma_b2", sigma_b2, low=0.0, high=_SCALE_RANGE[1])
    return sw2, sb2


def _check_bool(name, x):
    if not isinstance(x, (bool, np.bool_)):
        raise ValueError(f"`{name}` must be True or False, got {x!r}")
    return bool(x)


# --------------------------------------------------------------------------------------
# Mean-field theory
# --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class OrderParameters:
    r"""Mean-field order parameters of a random ReLU network, indexed by layer 0..L.

    ``q, q_xy`` (pre-activations; entry 0 unused), ``qhat, qhat_xy`` (post-activations,
    entry 0 the input, entry L unused), ``qtil, qtil_xy`` (backward, entries 1..L); ``f`` the
    per-layer contributions :math:`f_l=N_{l-1}\hat q^{l-1}_{xy}\tilde q^l_{xy}` (l = 1..L),
    ``diag`` the per-layer diagonal terms :math:`N_{l-1}\hat q^{l-1}\tilde q^l`, and
    ``lam`` = sum of ``f``. Arrays have the shape of ``gamma`` appended.
    """

    widths: tuple
    q: np.ndarray
    q_xy: np.ndarray
    qhat: np.ndarray
    qhat_xy: np.ndarray
    qtil: np.ndarray
    qtil_xy: np.ndarray
    f: np.ndarray
    diag: np.ndarray
    lam: object

    def lam_m(self, m):
        r"""Expected Rayleigh quotient with a batch of ``m`` samples (a V-statistic):
        :math:`(1-\frac1m)\sum_lf_l+\frac1m\sum_l N_{l-1}\hat q^{l-1}\tilde q^l`."""
        m = _int("m", m)
        return (1 - 1 / m) * self.lam + np.sum(self.diag, axis=0) / m


def _theory(widths, sw2, sb2, gamma, bn, variant, qhat0=1.0, qhat0_xy=0.0):
    """Vectorised over ``gamma`` (any array shape); inputs already checked. Over- or underflow
    at extreme parameters gives non-finite entries, which the public callers turn into a
    ValueError."""
    with np.errstate(all="ignore"):
        return _theory_unchecked(widths, sw2, sb2, gamma, bn, variant, qhat0, qhat0_xy)


def _theory_unchecked(widths, sw2, sb2, gamma, bn, variant, qhat0, qhat0_xy):
    gamma = np.asarray(gamma, dtype=float)
    L = len(widths) - 1
    shape = (L + 1,) + gamma.shape
    q, qxy, qh, qhxy = (np.zeros(shape) for _ in range(4))
    qh[0], qhxy[0] = qhat0, qhat0_xy
    g2 = gamma**2
    for l in range(1, L + 1):
        q[l] = sb2 + sw2 * qh[l - 1]
        qxy[l] = sb2 + sw2 * qhxy[l - 1]
        if l < L:
            if bn:
                qh[l], qhxy[l] = g2 / 2, g2 / (2 * math.pi)
            else:
                qh[l] = q[l] / 2
                c = np.clip(qxy[l] / q[l], -1.0, 1.0)
                qhxy[l] = gaussian.kernel("relu", q[l], q[l], c)
    qt, qtxy = np.zeros(shape), np.zeros(shape)
    qt[L] = qtxy[L] = 1.0
    for l in range(L - 1, 0, -1):
        if bn:
            s2 = q[l] if variant == "paper" else q[l] - qxy[l]
            qt[l] = g2 * sw2 / (2 * s2) * qt[l + 1]
            qtxy[l] = 0.0 if variant == "train" else g2 * sw2 / (4 * s2) * qtxy[l + 1]
        else:
            qt[l] = sw2 / 2 * qt[l + 1]
            c = np.clip(qxy[l] / q[l], -1.0, 1.0)
            qtxy[l] = sw2 * gaussian.derivative_kernel("relu", q[l], q[l], c) * qtxy[l + 1]
    N = np.asarray(widths, dtype=float).reshape((L + 1,) + (1,) * gamma.ndim)
    f = N[:L] * qhxy[:L] * qtxy[1:]
    diag = N[:L] * qh[:L] * qt[1:]
    lam = f.sum(axis=0)
    if lam.ndim == 0:
        lam = float(lam)
    return OrderParameters(tuple(widths), q, qxy, qh, qhxy, qt, qtxy, f, diag, lam)


def _check_theory_args(widths, sigma_w2, sigma_b2, batchnorm, gamma, variant):
    widths = _check_widths(widths)
    sw2, sb2 = _check_sigmas(sigma_w2, sigma_b2)
    bn = _check_bool("batchnorm", batchnorm)
    gamma = check_real("gamma", gamma, low=_SCALE_RANGE[0], high=_SCALE_RANGE[1])
    variant = check_choice("variant", variant, VARIANTS)
    return widths, sw2, sb2, bn, gamma, variant


def order_parameters(widths, sigma_w2, sigma_b2, batchnorm=False, gamma=1.0, variant="paper", *,
                     qhat0=1.0, qhat0_xy=0.0) -> OrderParameters:
    r"""Forward and backward mean-field order parameters and the per-layer FIM contributions.

    Parameters
    ----------
    widths : sequence of int >= 1
        ``[N_0, ..., N_L]``, at least two entries (L >= 1 layers).
    sigma_w2 : float > 0
        Weight variance (times fan-in).
    sigma_b2 : float >= 0
        Bias variance.
    batchnorm : bool
        BN on every hidden layer (never on the output).
    gamma : float > 0
        The BN scale (ignored without BN).
    variant : {'paper', 'centered', 'train'}
        BN backward recursion: the paper's :math:`(s^l)^2\approx q^l`, the corrected
        :math:`q^l-q^l_{xy}`, or train-mode BN (hidden :math:`\tilde q_{xy}=0`). Ignored
        without BN.
    qhat0, qhat0_xy : float
        Input second moment and cross moment per coordinate (the paper's base case 1, 0:
        centred data with unit variance); ``qhat0 >= qhat0_xy >= 0``.

    Returns
    -------
    OrderParameters

    Examples
    --------
    >>> op = order_parameters([784, 1000, 1000, 1000, 10], 2.0, 0.5)
    >>> op.q[1:].tolist()
    [2.5, 3.0, 3.5, 4.0]
    >>> round(op.lam, 2)
    2234.17
    """
    widths, sw2, sb2, bn, gamma, variant = _check_theory_args(widths, sigma_w2, sigma_b2,
                                                               batchnorm, gamma, variant)
    qhat0 = check_real("qhat0", qhat0, low=0.0, high=_SCALE_RANGE[1])
    qhat0_xy = check_real("qhat0_xy", qhat0_xy, low=0.0, high=_SCALE_RANGE[1])
    if qhat0_xy > qhat0:
        raise ValueError(f"`qhat0_xy` must be <= `qhat0` (a correlation <= 1), got {qhat0_xy} "
                         f"> {qhat0}")
    op = _theory(widths, sw2, sb2, gamma, bn, variant, qhat0, qhat0_xy)
    _finite("lambda", op.lam)
    _finite("f", op.f)
    return op


def fim_lambda_max(widths, sigma_w2, sigma_b2, batchnorm=False, gamma=1.0,
                   variant="paper") -> float:
    r"""Mean-field estimate :math:`\sum_lf_l` of the largest FIM eigenvalue of a random ReLU MLP.

    Arguments as in :func:`order_parameters`; the per-layer contributions are its ``f``.

    Examples
    --------
    >>> w = [784, 1000, 1000, 1000, 10]
    >>> round(fim_lambda_max(w, 2.0, 0.5), 4), round(fim_lambda_max(w, 2.0, 0.5, True), 4)
    (2234.1735, 229.8905)
    >>> round(fim_lambda_max(w, 2.0, 0.5, True, variant='centered'), 4)
    361.5126
    """
    return order_parameters(widths, sigma_w2, sigma_b2, batchnorm, gamma, variant).lam


def lambda_vs_gamma(widths, sigma_w2, sigma_b2, gammas, variant="paper") -> np.ndarray:
    r"""The BN estimate :math:`\bar\lambda_{\max}(\gamma)` on an array of :math:`\gamma>0`
    (vectorised: one pass of the recursions for the whole array)."""
    widths = _check_widths(widths)
    sw2, sb2 = _check_sigmas(sigma_w2, sigma_b2)
    gammas = check_array("gammas", gammas, low=_SCALE_RANGE[0], high=_SCALE_RANGE[1])
    variant = check_choice("variant", variant, VARIANTS)
    return _finite("lambda", np.asarray(_theory(widths, sw2, sb2, gammas, True, variant).lam,
                                        dtype=float))


def gamma_crossing(widths, sigma_w2, sigma_b2, variant="paper") -> float:
    r"""The :math:`\gamma_c` at which the BN estimate equals the vanilla one.

    BN lowers :math:`\bar\lambda_{\max}` (and so raises :math:`\eta_*`) exactly for
    :math:`\gamma<\gamma_c`. The BN estimate increases with :math:`\gamma` (it is
    :math:`\propto\gamma^2` for 'centered' and 'train'), so the root is unique; it is found by
    Brent's method to 1e-12 relative.

    Examples
    --------
    >>> round(gamma_crossing([784, 1000, 1000, 1000, 10], 2.0, 0.5), 6)
    2.878747
    """
    from scipy.optimize import brentq

    widths = _check_widths(widths)
    sw2, sb2 = _check_sigmas(sigma_w2, sigma_b2)
    variant = check_choice("variant", variant, VARIANTS)
    if len(widths) < 3:
        raise ValueError("`widths` must describe at least 2 layers (one hidden layer) for BN "
                         "to act")
    target = _theory(widths, sw2, sb2, 1.0, False, variant).lam

    def gap(g):
        return _theory(widths, sw2, sb2, g, True, variant).lam - target

    lo, hi = 1e-3, 1.0
    while gap(hi) < 0:
        lo, hi = hi, hi * 4
        if hi > 1e8:
            raise ValueError("no crossing below gamma = 1e8")
    return float(brentq(gap, lo, hi, xtol=1e-14, rtol=1e-13))


# --------------------------------------------------------------------------------------
# Learning rates and heavy-ball stability
# --------------------------------------------------------------------------------------
def _check_momentum(momentum):
    return check_real("momentum", momentum, low=0.0, high=1.0, high_inclusive=False)


def max_learning_rate(lam, momentum=0.0) -> float:
    r""":math:`\eta_*=2(1+\mu)/\lambda`: the largest stable step of heavy-ball gradient descent
    on a quadratic whose largest curvature is :math:`\lambda>0`, momentum :math:`0\le\mu<1`.

    >>> round(max_learning_rate(2234.1735, 0.9), 9)
    0.001700853
    """
    lam = check_real("lam", lam, low=1e-300, high=1e300)
    momentum = _check_momentum(momentum)
    return 2 * (1 + momentum) / lam


def heavy_ball_spectral_radius(eta_lambda, momentum) -> np.ndarray | float:
    r"""Largest modulus of the roots of :math:`z^2-(1+\mu-\eta\lambda)z+\mu`.

    Heavy ball :math:`\theta_{t+1}=\theta_t-\eta\lambda\theta_t+\mu(\theta_t-\theta_{t-1})` on
    one mode of curvature :math:`\lambda` contracts iff this is < 1, i.e. iff
    :math:`0<\eta\lambda<2(1+\mu)`. Vectorised over both arguments (``eta_lambda`` real,
    ``momentum`` in [0, 1)).
    """
    x = check_array("eta_lambda", eta_lambda, low=0.0, high=1e6)
    mu = check_array("momentum", momentum, low=0.0, high=1.0, high_inclusive=False)
    x, mu = np.broadcast_arrays(x, mu)
    b = 1 + mu - x
    disc = b * b - 4 * mu
    sq = np.sqrt(np.abs(disc))
    real_r = np.maximum(np.abs(b + sq), np.abs(b - sq)) / 2
    out = np.where(disc >= 0, real_r, np.sqrt(mu))
    return float(out) if out.ndim == 0 else out


def heavy_ball_stable(eta, lam, momentum=0.0) -> bool:
    r"""Whether heavy ball with step ``eta`` and momentum ``momentum`` contracts a quadratic
    mode of curvature ``lam`` (spectral radius < 1)."""
    eta = check_real("eta", eta, low=0.0, low_inclusive=False, high=1e150)
    lam = check_real("lam", lam, low=0.0, low_inclusive=False, high=1e150)
    momentum = _check_momentum(momentum)
    return bool(heavy_ball_spectral_radius(eta * lam, momentum) < 1.0)


# --------------------------------------------------------------------------------------
# Convolutional networks
# --------------------------------------------------------------------------------------
def _check_conv(in_hw, n_layers, ksize, stride, padding):
    in_hw = _int("in_hw", in_hw, maximum=10**5)
    n_layers = _int("n_layers", n_layers, maximum=10**5)
    ksize = _int("ksize", ksize, maximum=10**5)
    stride = _int("stride", stride, maximum=10**5)
    padding = _int("padding", padding, minimum=0, maximum=10**5)
    return in_hw, n_layers, ksize, stride, padding


def _sides(in_hw, n_layers, ksize, stride, padding):
    sides = [in_hw]
    for _ in range(n_layers):
        out = (sides[-1] + 2 * padding - ksize) // stride + 1
        if out < 1:
            raise ValueError(f"the input of side {in_hw} is too small for {n_layers} conv "
                             f"layers with ksize={ksize}, stride={stride}, padding={padding}")
        sides.append(out)
    return sides


def conv_geometry(in_hw, n_layers, ksize=3, stride=2, padding=0) -> list:
    r"""Side lengths of the square feature maps of ``n_layers`` conv layers:
    :math:`K_{l}=\lfloor(K_{l-1}+2p-k)/s\rfloor+1`, from the input side ``in_hw`` on.

    >>> conv_geometry(32, 3), conv_geometry(28, 3)
    ([32, 15, 7, 3], [28, 13, 6, 2])
    """
    return _sides(*_check_conv(in_hw, n_layers, ksize, stride, padding))


def _conv_widths(in_channels, in_hw, channels, out_dim, ksize, stride, padding):
    in_channels = _int("in_channels", in_channels)
    channels = _check_widths(channels, "channels", minimum_layers=0)
    out_dim = _int("out_dim", out_dim)
    in_hw, n, ksize, stride, padding = _check_conv(in_hw, len(channels), ksize, stride, padding)
    sides = _sides(in_hw, n, ksize, stride, padding)
    chans = (in_channels,) + channels
    fan_ins = [chans[l] * ksize * ksize for l in range(n)] + [chans[-1] * sides[-1] ** 2]
    return fan_ins + [out_dim], sides


def conv_order_parameters(in_channels, in_hw, channels, out_dim, sigma_w2, sigma_b2, *,
                          ksize=3, stride=2, padding=0, batchnorm=False, gamma=1.0,
                          variant="paper") -> OrderParameters:
    r"""Order parameters of a ReLU CNN with a flatten head, as an FC network of the fan-ins.

    ``channels = [C_1, ..., C_{L-1}]`` (conv layers, square ``ksize`` kernels, ``stride``,
    ``padding``, BN per channel), then a linear layer from the flattened
    :math:`C_{L-1}K_{L-1}^2` features to ``out_dim``. The returned ``widths`` are the fan-ins
    :math:`[C_0k^2, C_1k^2, \dots, C_{L-1}K_{L-1}^2]` followed by ``out_dim``: for i.i.d.
    inputs the forward quantities per site obey the FC recursions with these fan-ins, and the
    flatten head (different weights at every site) makes the cross-site backward correlation
    vanish, so eq. (45) of [1] reduces to :math:`f_l=N_{l-1}\hat q^{l-1}_{xy}\tilde Q^l_{xy}`
    with site-summed backward quantities.

    >>> round(conv_order_parameters(3, 32, [30, 60, 90], 10, 2.0, 0.5).lam, 2)
    1481.51
    """
    widths, _ = _conv_widths(in_channels, in_hw, channels, out_dim, ksize, stride, padding)
    sw2, sb2 = _check_sigmas(sigma_w2, sigma_b2)
    bn = _check_bool("batchnorm", batchnorm)
    gamma = check_real("gamma", gamma, low=_SCALE_RANGE[0], high=_SCALE_RANGE[1])
    variant = check_choice("variant", variant, VARIANTS)
    op = _theory(tuple(widths), sw2, sb2, gamma, bn, variant)
    _finite("lambda", op.lam)
    return op


def conv_lambda_max(in_channels, in_hw, channels, out_dim, sigma_w2, sigma_b2, *, ksize=3,
                    stride=2, padding=0, batchnorm=False, gamma=1.0, variant="paper") -> float:
    """:func:`conv_order_parameters` ``.lam``: the CNN's mean-field FIM eigenvalue estimate."""
    return conv_order_parameters(in_channels, in_hw, channels, out_dim, sigma_w2, sigma_b2,
                                 ksize=ksize, stride=stride, padding=padding,
                                 batchnorm=batchnorm, gamma=gamma, variant=variant).lam


# --------------------------------------------------------------------------------------
# Data
# --------------------------------------------------------------------------------------
def synthetic_problem(m, n_in, n_out, *, seed=0):
    r"""``(X, Y)``: ``m`` i.i.d. standard Gaussian inputs in :math:`\mathbb R^{n_{in}}` (the
    theory's assumption) and random one-hot targets in :math:`\mathbb R^{n_{out}}`, as float64
    torch tensors (CPU), from a seeded generator (a stream independent of the networks' with
    the same seed)."""
    torch = _torch()
    m = _int("m", m)
    n_in = _int("n_in", n_in)
    n_out = _int("n_out", n_out)
    seed = _seed(seed)
    g = _generator(seed, 1)
    X = torch.randn(m, n_in, generator=g, dtype=torch.float64)
    labels = torch.randint(0, n_out, (m,), generator=g)
    Y = torch.nn.functional.one_hot(labels, n_out).to(torch.float64)
    return X, Y


def digits_problem(m, *, seed=0, test=False):
    r"""``(X, Y)``: ``m`` of scikit-learn's 8x8 digits (no download), standardised per pixel and
    rescaled so that :math:`\frac1m\sum_i\|x_i\|^2=64` (the theory's :math:`\hat q^0=1`), with
    one-hot targets; float64 torch tensors. ``test=True`` takes them from the held-out quarter
    (at most 450 images)."""
    torch = _torch()
    from .data import load_digits_split

    m = _int("m", m)
    seed = _seed(seed)
    test = _check_bool("test", test)
    split = load_digits_split(seed=seed)
    part = split.test if test else split.train
    if m > len(part.y):
        raise ValueError(f"`m` must be <= {len(part.y)} for this part of the digits, got {m}")
    x = part.x[:m].astype(np.float64)
    x = x * math.sqrt(x.shape[1] / np.mean(np.sum(split.train.x.astype(float) ** 2, axis=1)))
    X = torch.from_numpy(x)
    Y = torch.nn.functional.one_hot(torch.from_numpy(part.y[:m]), 10).to(torch.float64)
    return X, Y


# --------------------------------------------------------------------------------------
# Networks (torch)
# --------------------------------------------------------------------------------------
@dataclass
class Network:
    """A random MLP or CNN as a pure function of its parameters.

    ``net(X)`` evaluates the network; ``net.forward(params, X)`` with another parameter tuple
    (as torch.func needs). ``names`` label ``params`` ('W1', 'b1', 'gamma1', 'beta1', ...).
    Build with :func:`make_mlp` or :func:`make_cnn`.
    """

    kind: str
    mode: str
    names: tuple
    params: tuple
    spec: dict

    @property
    def n_layers(self):
        return sum(1 for n in self.names if n.startswith("W"))

    def forward(self, params, X):
        torch = _torch()
        F = torch.nn.functional
        p = dict(zip(self.names, params))
        L = self.n_layers
        h = X
        bn = self.mode != "none"
        for l in range(1, L + 1):
            if self.kind == "cnn" and l < L:
                z = F.conv2d(h, p[f"W{l}"], p[f"b{l}"], stride=self.spec["stride"],
                             padding=self.spec["padding"])
                dims, view = (0, 2, 3), (1, -1, 1, 1)
            elif self.kind == "cnn":
                z = h.flatten(1) @ p[f"W{l}"].T + p[f"b{l}"]
                dims, view = (0,), (1, -1)
            else:  # MLP; parameters may carry a leading axis of independent copies
                z = h @ p[f"W{l}"].mT + p[f"b{l}"].unsqueeze(-2)
                dims, view = (-2,), None
            if l == L:
                return z
            if bn:
                mean = z.mean(dims, keepdim=True)
                var = z.var(dims, unbiased=False, keepdim=True)
                if self.mode == "frozen":
                    mean, var = mean.detach(), var.detach()
                g, b = p[f"gamma{l}"], p[f"beta{l}"]
                g, b = (g.view(view), b.view(view)) if view else (g.unsqueeze(-2),
                                                                  b.unsqueeze(-2))
                z = g * (z - mean) / torch.sqrt(var + BN_EPS) + b
            h = torch.relu(z)
        return h  # pragma: no cover

    def __call__(self, X):
        return self.forward(self.params, X)


def _check_mode(mode, gamma):
    mode = check_choice("mode", mode, MODES)
    gamma = check_real("gamma", gamma, low=_SCALE_RANGE[0], high=_SCALE_RANGE[1])
    return mode, gamma


def _device(device):
    torch = _torch()
    dev = check_device("device", device)
    return torch.device("cpu") if dev is None else dev


def make_mlp(widths, sigma_w2, sigma_b2, *, mode="none", gamma=1.0, seed=0,
             device=None) -> Network:
    r"""A random ReLU MLP with widths ``[N_0, ..., N_L]`` (float64), seeded.

    :math:`W^l_{ij}\sim\mathcal N(0,\sigma_w^2/N_{l-1})`, :math:`b^l_i\sim\mathcal N(0,\sigma_b^2)`;
    with ``mode`` 'frozen' or 'batch', every hidden layer is followed by BN (biased batch
    variance, eps = 1e-5) with :math:`\gamma` = ``gamma`` and :math:`\beta=0` as parameters.
    """
    torch = _torch()
    widths = _check_widths(widths)
    sw2, sb2 = _check_sigmas(sigma_w2, sigma_b2)
    mode, gamma = _check_mode(mode, gamma)
    seed = _seed(seed)
    dev = _device(device)
    g = _generator(seed, 0)
    names, params = [], []
    L = len(widths) - 1
    for l in range(1, L + 1):
        n_in, n_out = widths[l - 1], widths[l]
        W = torch.randn(n_out, n_in, generator=g, dtype=torch.float64) * math.sqrt(sw2 / n_in)
        b = torch.randn(n_out, generator=g, dtype=torch.float64) * math.sqrt(sb2)
        names += [f"W{l}", f"b{l}"]
        params += [W, b]
        if mode != "none" and l < L:
            names += [f"gamma{l}", f"beta{l}"]
            params += [torch.full((n_out,), gamma, dtype=torch.float64),
                       torch.zeros(n_out, dtype=torch.float64)]
    params = tuple(t.to(dev) for t in params)
    return Network("mlp", mode, tuple(names), params, {"widths": widths})


def make_cnn(in_channels, in_hw, channels, out_dim, sigma_w2, sigma_b2, *, ksize=3, stride=2,
             padding=0, mode="none", gamma=1.0, seed=0, device=None) -> Network:
    r"""A random ReLU CNN: conv layers with ``channels`` (``ksize`` kernels, ``stride``,
    ``padding``, BN2d per channel when ``mode`` is 'frozen' or 'batch'), then a linear layer
    from the flattened features to ``out_dim``. Fan-in variance scaling as :func:`make_mlp`;
    the inputs are ``(m, in_channels, in_hw, in_hw)``."""
    torch = _torch()
    widths, sides = _conv_widths(in_channels, in_hw, channels, out_dim, ksize, stride, padding)
    sw2, sb2 = _check_sigmas(sigma_w2, sigma_b2)
    mode, gamma = _check_mode(mode, gamma)
    seed = _seed(seed)
    dev = _device(device)
    g = _generator(seed, 0)
    chans = [int(in_channels)] + [int(c) for c in channels]
    names, params = [], []
    L = len(chans)
    for l in range(1, L + 1):
        fan_in = widths[l - 1]
        shape = (chans[l], chans[l - 1], ksize, ksize) if l < L else (out_dim, fan_in)
        n_out = shape[0]
        W = torch.randn(*shape, generator=g, dtype=torch.float64) * math.sqrt(sw2 / fan_in)
        b = torch.randn(n_out, generator=g, dtype=torch.float64) * math.sqrt(sb2)
        names += [f"W{l}", f"b{l}"]
        params += [W, b]
        if mode != "none" and l < L:
            names += [f"gamma{l}", f"beta{l}"]
            params += [torch.full((n_out,), gamma, dtype=torch.float64),
                       torch.zeros(n_out, dtype=torch.float64)]
    params = tuple(t.to(dev) for t in params)
    spec = {"in_channels": int(in_channels), "in_hw": int(in_hw), "stride": int(stride),
            "padding": int(padding), "ksize": int(ksize), "fan_ins": tuple(widths[:-1]),
            "sides": tuple(sides)}
    return Network("cnn", mode, tuple(names), params, spec)


def _check_net(net):
    if not isinstance(net, Network):
        raise ValueError(f"`net` must be a network made by make_mlp or make_cnn, got "
                         f"{type(net).__name__}")
    return net


def _check_inputs(net, X, name="X"):
    torch = _torch()
    if isinstance(X, (bool, str, bytes)) or X is None:
        raise ValueError(f"`{name}` must be a real array or torch tensor, got {X!r}")
    if isinstance(X, torch.Tensor):
        if X.is_complex() or not (X.is_floating_point() or X.dtype in (torch.int32, torch.int64)):
            raise ValueError(f"`{name}` must hold real numbers, got dtype {X.dtype}")
        t = X.detach().to(dtype=torch.float64)
    else:
        if np.iscomplexobj(X):
            raise ValueError(f"`{name}` must hold real numbers, got complex values")
        t = torch.from_numpy(check_array(name, X).copy())
    t = t.to(net.params[0].device)
    if net.kind == "mlp":
        expected = (net.spec["widths"][0],)
    else:
        s = net.spec
        expected = (s["in_channels"], s["in_hw"], s["in_hw"])
    if t.ndim != len(expected) + 1 or tuple(t.shape[1:]) != expected or t.shape[0] < 2:
        raise ValueError(f"`{name}` must have shape (m, {', '.join(map(str, expected))}) with "
                         f"m >= 2, got {tuple(t.shape)}")
    if not bool(torch.isfinite(t).all()):
        raise ValueError(f"`{name}` must be finite, got non-finite entries")
    return t


def _check_targets(Y, m, name="Y"):
    torch = _torch()
    if isinstance(Y, (bool, str, bytes)) or Y is None:
        raise ValueError(f"`{name}` must be a real (m, C) array or torch tensor, got {Y!r}")
    if isinstance(Y, torch.Tensor):
        if Y.is_complex():
            raise ValueError(f"`{name}` must hold real numbers")
        t = Y.detach().to(torch.float64)
    else:
        if np.iscomplexobj(Y):
            raise ValueError(f"`{name}` must hold real numbers, got complex values")
        t = torch.from_numpy(check_array(name, Y).copy())
    if t.ndim != 2 or t.shape[0] != m:
        raise ValueError(f"`{name}` must have shape (m, C) with m = {m}, got {tuple(t.shape)}")
    if not bool(torch.isfinite(t).all()):
        raise ValueError(f"`{name}` must be finite")
    return t


# --------------------------------------------------------------------------------------
# Empirical Fisher information
# --------------------------------------------------------------------------------------
def _ce_sqrt(out):
    """Symmetric square roots of diag(p) - p p^T per sample (the cross-entropy Fisher)."""
    torch = _torch()
    p = torch.softmax(out.detach(), dim=1)
    H = torch.diag_embed(p) - p[:, :, None] * p[:, None, :]
    evals, evecs = torch.linalg.eigh(H)
    return evecs @ torch.diag_embed(evals.clamp_min(0).sqrt()) @ evecs.transpose(1, 2)


def _gram_matvec(net, X, loss):
    """(matvec on flat numpy vectors of length m*C, apply on (m, C) tensors, m, C) for the
    operator (1/m) S J J^T S. Plain autograd: J^T u is a backward pass through the network's
    graph; J v is a backward pass through the graph of u -> J^T u (the double-backward trick),
    both built once and reused (torch.func would cost seconds of set-up on first use)."""
    torch = _torch()
    params = tuple(p.detach().clone().requires_grad_(True) for p in net.params)
    with torch.enable_grad():
        out = net.forward(params, X)
        dummy = torch.zeros_like(out, requires_grad=True)
        jt_dummy = torch.autograd.grad(out, params, grad_outputs=dummy, create_graph=True,
                                       allow_unused=True)
    pairs = [(g, p) for g, p in zip(jt_dummy, params) if g is not None]
    m, C = out.shape
    S = _ce_sqrt(out) if loss == "cross_entropy" else None

    def apply(U):
        if S is not None:
            U = torch.einsum("mij,mj->mi", S, U)
        v = torch.autograd.grad(out, [p for _, p in pairs], grad_outputs=U,
                                retain_graph=True)
        (jv,) = torch.autograd.grad([g for g, _ in pairs], dummy, grad_outputs=v,
                                    retain_graph=True)
        R = jv.detach() / m
        if S is not None:
            R = torch.einsum("mij,mj->mi", S, R)
        return R

    def matvec(u):
        U = torch.as_tensor(np.asarray(u, dtype=np.float64).reshape(m, C)).to(out.device)
        return apply(U).reshape(-1).cpu().numpy()

    return matvec, apply, m, C


def fim_top_eigenvalue(net, X, *, method="lanczos", loss="mse", tol=1e-10,
                       max_iter=1000) -> float:
    r"""Largest eigenvalue of the empirical Fisher information at the inputs ``X``.

    For ``loss='mse'`` (the loss :math:`\frac1m\sum_i\frac12\|f(x_i)-y_i\|^2`) this is
    :math:`\lambda_{\max}(\frac1mJ^\top J)=\lambda_{\max}(\frac1mJJ^\top)`, :math:`J` the
    :math:`(mC)\times P` Jacobian of the outputs; for ``'cross_entropy'`` the Fisher
    :math:`\frac1m\sum_iJ_i^\top(\mathrm{diag}\,p_i-p_ip_i^\top)J_i` of softmax outputs. Only
    products :math:`J^\top u` (``torch.func.vjp``) and :math:`Jv` (``torch.func.jvp``) are
    used, never :math:`J`. ``method='lanczos'`` calls ``scipy.sparse.linalg.eigsh`` (to
    machine precision by default); ``'power'`` iterates from the uniform vector until the
    relative change is below ``tol``.
    """
    torch = _torch()
    from scipy.sparse.linalg import LinearOperator, eigsh

    net = _check_net(net)
    X = _check_inputs(net, X)
    method = check_choice("method", method, ("lanczos", "power"))
    loss = check_choice("loss", loss, LOSSES)
    tol = check_real("tol", tol, low=0.0, low_inclusive=False, high=1.0)
    max_iter = _int("max_iter", max_iter, maximum=10**7)
    matvec, apply, m, C = _gram_matvec(net, X, loss)
    if method == "lanczos":
        if m * C <= 2:
            G = np.column_stack([matvec(e) for e in np.eye(m * C)])
            return float(np.linalg.eigvalsh((G + G.T) / 2)[-1])
        op = LinearOperator((m * C, m * C), matvec=matvec, dtype=np.float64)
        v0 = np.ones(m * C) / math.sqrt(m * C)
        return float(eigsh(op, k=1, which="LA", v0=v0, tol=0 if tol <= 1e-10 else tol,
                           return_eigenvectors=False)[0])
    u = torch.ones(m, C, dtype=torch.float64, device=X.device)
    u = u / u.norm()
    lam = 0.0
    for _ in range(max_iter):
        w = apply(u)
        new = float((u * w).sum())
        u = w / w.norm()
        if abs(new - lam) <= tol * abs(new):
            return new
        lam = new
    return lam


def fim_gram(net, X) -> np.ndarray:
    r"""The dense Gram matrix :math:`\frac1mJJ^\top` ((mC) x (mC), rows ordered sample-major),
    whose nonzero spectrum is that of the FIM :math:`\frac1mJ^\top J`. Forms the Jacobian
    row by row (one backward pass per output value): for small models only (m C <= 4096)."""
    torch = _torch()
    net = _check_net(net)
    X = _check_inputs(net, X)
    with torch.no_grad():
        n_out = X.shape[0] * net.forward(net.params, X[:2]).shape[1]
    if n_out > 4096:
        raise ValueError(f"fim_gram forms the Jacobian: m * C must be <= 4096, got {n_out}")
    params = tuple(p.detach().clone().requires_grad_(True) for p in net.params)
    out = net.forward(params, X).reshape(-1)
    rows = []
    for i in range(out.shape[0]):
        grads = torch.autograd.grad(out[i], params, retain_graph=i < out.shape[0] - 1,
                                    allow_unused=True)
        rows.append(torch.cat([(g if g is not None else torch.zeros_like(p)).reshape(-1)
                               for g, p in zip(grads, params)]))
    J = torch.stack(rows)
    return (J @ J.T / X.shape[0]).detach().cpu().numpy()


@dataclass(frozen=True)
class LayerBounds:
    r"""Rayleigh quotients of the uniform vector :math:`\mathbf 1_k/\sqrt m` (output k) on the
    Gram matrix, averaged over the outputs: ``weights[l-1]`` keeps only the gradient of
    :math:`W^l`, ``total`` the gradient of all parameters."""

    weights: np.ndarray
    total: float


def fim_layer_bounds(net, X) -> LayerBounds:
    r"""Per-layer lower bounds :math:`\frac1{m^2}\|\nabla_{W^l}\sum_if_k(x_i)\|^2`, averaged over
    the outputs k (one backward pass per output), and the all-parameter bound ``total``
    (a lower bound on the per-output top eigenvalue of the FIM)."""
    torch = _torch()
    net = _check_net(net)
    X = _check_inputs(net, X)
    params = tuple(p.detach().clone().requires_grad_(True) for p in net.params)
    out = net.forward(params, X)
    m, C = out.shape
    w_idx = [i for i, n in enumerate(net.names) if n.startswith("W")]
    per_layer = np.zeros(len(w_idx))
    total = 0.0
    for k in range(C):
        grads = torch.autograd.grad(out[:, k].sum(), params, retain_graph=k < C - 1)
        sq = [float((g**2).sum()) for g in grads]
        per_layer += np.array([sq[i] for i in w_idx]) / m**2
        total += sum(sq) / m**2
    return LayerBounds(per_layer / C, total / C)


# --------------------------------------------------------------------------------------
# Heavy-ball training: the real network and its linearization
# --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Run:
    """A heavy-ball run: ``loss[t]`` (t = 0..steps, shorter when it exploded),
    ``mean_residual[t]`` (norm of the batch-mean residual, the top FIM mode at init), whether
    it ``exploded`` (non-finite or above ``explode`` times the initial loss), ``eta``,
    ``momentum`` and the final ``params`` of the real network (None for the linearized
    model)."""

    loss: np.ndarray
    mean_residual: np.ndarray
    exploded: bool
    eta: float
    momentum: float
    params: tuple | None = None

    @property
    def converged(self):
        """Not exploded and the final loss below the initial one."""
        return (not self.exploded) and bool(self.loss[-1] < self.loss[0])


def _check_run_args(net, X, Y, eta, momentum, steps, linearized, explode):
    net = _check_net(net)
    X = _check_inputs(net, X)
    Y = _check_targets(Y, X.shape[0]).to(X.device)
    eta = check_real("eta", eta, low=0.0, low_inclusive=False, high=1e6)
    momentum = _check_momentum(momentum)
    steps = _int("steps", steps, maximum=10**7)
    linearized = _check_bool("linearized", linearized)
    explode = check_real("explode", explode, low=1.0, low_inclusive=False)
    return net, X, Y, eta, momentum, steps, linearized, explode


def _stop(losses, means, loss, mean, explode):
    """Record a finite (loss, mean residual); True when the run exploded (non-finite, or
    above ``explode`` times the initial loss). Non-finite values are not recorded."""
    finite = math.isfinite(loss) and math.isfinite(mean)
    if not losses:
        if not finite:
            raise ValueError("the initial loss is not finite: `X` or `Y` is too large for "
                             "this network")
    if finite:
        losses.append(loss)
        means.append(mean)
    return not finite or loss > explode * losses[0]


def _run(net, X, Y, eta, momentum, steps, linearized, explode):
    torch = _torch()
    m = X.shape[0]
    losses, means = [], []
    exploded = False
    if linearized:
        _, apply, _, C = _gram_matvec(net, X, "mse")
        with torch.no_grad():
            r = net(X) - Y
        if r.shape != Y.shape:
            raise ValueError(f"`Y` must have shape {tuple(r.shape)}, got {tuple(Y.shape)}")
        r_prev = r.clone()
        for t in range(steps + 1):
            loss, mean = float(0.5 * (r**2).sum() / m), float(r.mean(0).norm())
            if _stop(losses, means, loss, mean, explode):
                exploded = True
                break
            if t == steps:
                break
            r, r_prev = r - eta * apply(r) + momentum * (r - r_prev), r
        return Run(np.array(losses), np.array(means), exploded, eta, momentum)
    params = [p.detach().clone().requires_grad_(True) for p in net.params]
    vel = [torch.zeros_like(p) for p in params]
    for t in range(steps + 1):
        out = net.forward(tuple(params), X)
        if out.shape != Y.shape:
            raise ValueError(f"`Y` must have shape {tuple(out.shape)}, got {tuple(Y.shape)}")
        r = out - Y
        loss_t = 0.5 * (r**2).sum() / m
        loss, mean = float(loss_t.detach()), float(r.detach().mean(0).norm())
        if _stop(losses, means, loss, mean, explode):
            exploded = True
            break
        if t == steps:
            break
        grads = torch.autograd.grad(loss_t, params)
        with torch.no_grad():
            for p, v, g in zip(params, vel, grads):
                v.mul_(momentum).sub_(eta * g)
                p.add_(v)
    final = tuple(p.detach() for p in params)
    return Run(np.array(losses), np.array(means), exploded, eta, momentum, final)


def heavy_ball(net, X, Y, eta, momentum=0.0, steps=200, *, linearized=False,
               explode=1e6) -> Run:
    r"""Full-batch heavy ball :math:`\theta_{t+1}=\theta_t-\eta\nabla L+\mu(\theta_t-\theta_{t-1})`
    on :math:`L=\frac1m\sum_i\frac12\|f(x_i)-y_i\|^2`, from the network's parameters (which are
    not changed).

    With ``linearized=True`` the model is :math:`f(\theta_0)+J(\theta-\theta_0)`, whose loss is
    the exact quadratic with Hessian :math:`\frac1mJ^\top J`; its residual obeys
    :math:`r_{t+1}=r_t-\eta\frac1mJJ^\top r_t+\mu(r_t-r_{t-1})` (computed with
    Jacobian-vector products). BN networks train in their own ``mode``.
    """
    args = _check_run_args(net, X, Y, eta, momentum, steps, linearized, explode)
    return _run(*args)


def explosion_threshold(net, X, Y, eta_lo, eta_hi, momentum=0.0, steps=200, *,
                        linearized=False, n_bisect=8, explode=1e6) -> float:
    r"""The learning rate at which heavy ball starts to explode within ``steps`` steps, by
    bisection in :math:`\log\eta` on ``[eta_lo, eta_hi]``: ``eta_lo`` must not explode and
    ``eta_hi`` must (else ValueError). Returns the geometric mean of the final bracket, whose
    ratio is :math:`(\eta_{hi}/\eta_{lo})^{2^{-n}}`."""
    eta_lo = check_real("eta_lo", eta_lo, low=0.0, low_inclusive=False, high=1e6)
    eta_hi = check_real("eta_hi", eta_hi, low=0.0, low_inclusive=False, high=1e6)
    if eta_hi <= eta_lo:
        raise ValueError(f"`eta_hi` must be > `eta_lo`, got {eta_hi} <= {eta_lo}")
    n_bisect = _int("n_bisect", n_bisect, minimum=0, maximum=60)
    net, X, Y, _, momentum, steps, linearized, explode = _check_run_args(
        net, X, Y, eta_lo, momentum, steps, linearized, explode)
    if _run(net, X, Y, eta_lo, momentum, steps, linearized, explode).exploded:
        raise ValueError(f"the run already explodes at eta_lo = {eta_lo:g}; lower it")
    if not _run(net, X, Y, eta_hi, momentum, steps, linearized, explode).exploded:
        raise ValueError(f"the run does not explode at eta_hi = {eta_hi:g}; raise it")
    lo, hi = eta_lo, eta_hi
    for _ in range(n_bisect):
        mid = math.sqrt(lo * hi)
        if _run(net, X, Y, mid, momentum, steps, linearized, explode).exploded:
            hi = mid
        else:
            lo = mid
    return math.sqrt(lo * hi)



@dataclass(frozen=True)
class Grid:
    """Outcome of :func:`lr_gamma_grid`: final ``loss[i, j]`` (NaN where the run exploded),
    ``exploded[i, j]``, the measured ``lam[i]`` at initialization and ``eta_star[i]`` =
    2 (1 + momentum) / lam[i], for ``gammas[i]`` and ``etas[j]``."""

    gammas: np.ndarray
    etas: np.ndarray
    loss: np.ndarray
    exploded: np.ndarray
    lam: np.ndarray
    eta_star: np.ndarray
    initial_loss: np.ndarray


def lr_gamma_grid(widths, X, Y, gammas, etas, momentum=0.9, steps=100, *, seed=0,
                  device=None) -> Grid:
    r"""Train a train-mode BN MLP (``widths``, :math:`\sigma_w^2=2`, :math:`\sigma_b^2=0.5`, one
    seeded initialization per :math:`\gamma`) with full-batch heavy ball on ``(X, Y)`` for
    every (gamma, eta) of the grid, as in Fig. 2 of [1]; also measure
    :math:`\lambda_{\max}` at initialization (Lanczos) for each gamma."""
    widths = _check_widths(widths)
    gammas = check_array("gammas", gammas, low=_SCALE_RANGE[0], high=_SCALE_RANGE[1], ndim=1)
    etas = check_array("etas", etas, low=0.0, low_inclusive=False, high=1e6, ndim=1)
    if gammas.size == 0 or etas.size == 0:
        raise ValueError("`gammas` and `etas` must not be empty")
    seed = _seed(seed)
    momentum = _check_momentum(momentum)
    steps = _int("steps", steps, maximum=10**7)
    loss = np.full((gammas.size, etas.size), np.nan)
    exploded = np.zeros((gammas.size, etas.size), dtype=bool)
    lam = np.zeros(gammas.size)
    initial = np.zeros(gammas.size)
    for i, g in enumerate(gammas):
        net = make_mlp(widths, 2.0, 0.5, mode="batch", gamma=float(g), seed=seed,
                       device=device)
        Xc = _check_inputs(net, X)
        Yc = _check_targets(Y, Xc.shape[0]).to(Xc.device)
        lam[i] = fim_top_eigenvalue(net, Xc)
        loss[i], exploded[i], initial[i] = _run_batched(net, Xc, Yc, etas, momentum, steps,
                                                        1e6)
    return Grid(gammas, etas, loss, exploded, lam, 2 * (1 + momentum) / lam, initial)


def _run_batched(net, X, Y, etas, momentum, steps, explode):
    """Heavy ball of an MLP at several learning rates at once (one copy of the parameters
    per rate along a leading axis; the copies never interact). Same rules as ``_run``;
    returns (final losses with NaN where exploded, exploded flags, initial loss)."""
    torch = _torch()
    E, m = len(etas), X.shape[0]
    params = [p.detach().unsqueeze(0).repeat(E, *([1] * p.ndim)).requires_grad_(True)
              for p in net.params]
    start = [p.detach().clone() for p in params]
    vel = [torch.zeros_like(p) for p in params]
    eta = torch.as_tensor(np.asarray(etas, dtype=np.float64), device=X.device)
    alive = torch.ones(E, dtype=torch.bool, device=X.device)
    loss0 = None
    for t in range(steps + 1):
        out = net.forward(tuple(params), X)
        if out.shape[1:] != Y.shape:
            raise ValueError(f"`Y` must have shape {tuple(out.shape[1:])}, got {tuple(Y.shape)}")
        per_run = 0.5 * ((out - Y) ** 2).sum((1, 2)) / m
        cur = per_run.detach()
        if loss0 is None:
            loss0 = cur.clone()
        alive &= torch.isfinite(cur) & (cur <= explode * loss0)
        if t == steps or not bool(alive.any()):
            break
        grads = torch.autograd.grad(per_run[alive].sum(), params)
        with torch.no_grad():
            for p, v, g, p0 in zip(params, vel, grads, start):
                shape = (E,) + (1,) * (p.ndim - 1)
                keep = alive.view(shape)
                v.mul_(momentum).sub_(eta.view(shape) * torch.nan_to_num(g))
                v.mul_(keep)
                p.copy_(torch.where(keep, p + v, p0))
    final = torch.where(alive, cur, torch.full_like(cur, float("nan")))
    return final.cpu().numpy(), (~alive).cpu().numpy(), float(loss0[0])

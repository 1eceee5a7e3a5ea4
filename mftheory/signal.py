r"""Signal propagation in wide random networks: the q-map, the c-map, order, chaos and depth scales.

A random network :math:`z_k = W_k\,\phi(z_{k-1}) + b_k` with weights
:math:`(W_k)_{ij}\sim\mathcal N(0,\sigma_w^2/d_{k-1})` and biases
:math:`(b_k)_i\sim\mathcal N(0,\sigma_b^2)`
has, as the widths grow, Gaussian pre-activations whose statistics follow deterministic maps
(Poole et al. 2016; Schoenholz et al. 2017). With :math:`z\sim\mathcal N(0,1)`:

* the **q-map** (squared length per neuron of the pre-activations)
  :math:`q_k=\nu(q_{k-1})=\sigma_w^2\,\mathbb E[\phi(\sqrt{q_{k-1}}z)^2]+\sigma_b^2`
  (:func:`q_map`), with fixed point :math:`q^*`;
* the **c-map** (correlation of two inputs)
  :math:`c_k=\big(\sigma_w^2\,\mathbb E[\phi(u_1)\phi(u_2)]+\sigma_b^2\big)/q_k`, with
  :math:`(u_1,u_2)` Gaussian of variances :math:`q_{k-1}` and correlation :math:`c_{k-1}`
  (:func:`c_map`; at :math:`q^*` this is Poole et al.'s :math:`\tilde{\mathcal C}_{q^*}`);
* the slope of the c-map at :math:`c=1`, :math:`\chi_1=\sigma_w^2\,\mathbb E[\phi'(\sqrt{q^*}z)^2]`,
  which separates the ordered phase (:math:`\chi_1<1`, :math:`c^*=1` attracts) from the chaotic
  phase (:math:`\chi_1>1`, a fixed point :math:`c^*<1` attracts) and is also the per-layer factor
  of the backpropagated squared gradient norm;
* the depth scales :math:`\xi_q=-1/\ln\nu'(q^*)` and :math:`\xi_c=-1/\ln\chi_c(c^*)`, where
  :math:`\chi_c(c)=\sigma_w^2\,\mathbb E[\phi'(u_1)\phi'(u_2)]` is the slope of the c-map
  (Schoenholz et al.'s definitions; :math:`\chi_c(1)=\chi_1`).

Everything is computed with :mod:`mftheory.gaussian`: closed forms for linear, ReLU and erf,
split Gauss-Legendre quadrature for tanh.

Conventions for the degenerate cases (documented and tested)
------------------------------------------------------------
* **Criticality.** :math:`\xi=-1/\ln x` is ``math.inf`` when :math:`x\ge 1`; the phase is
  ``'critical'`` when :math:`|\chi_1-1|\le 10^{-12}` (then :math:`\xi_c=` ``math.inf`` exactly).
* **Unbounded lengths** (ReLU with :math:`\sigma_w^2>2`, or :math:`\sigma_w^2=2` and
  :math:`\sigma_b^2>0`; linear with :math:`\sigma_w^2>1`, or :math:`=1` and :math:`\sigma_b^2>0`):
  :math:`q_k\to\infty`, there is no finite fixed point; :func:`fixed_point` returns
  ``q_star = inf``, phase ``'unbounded'``, ``chi1`` from its closed form (:math:`\sigma_w^2/2`,
  :math:`\sigma_w^2`), and ``xi_q = xi_c = inf``.
* **A continuum of fixed points** (ReLU at :math:`(2, 0)`, He initialisation; linear at
  :math:`(1, 0)`): every :math:`q` is fixed; ``q_star`` is the starting length ``q0``.
* **q* = 0** (:math:`\sigma_b^2=0` and :math:`\sigma_w^2\phi'(0)^2\le1` for tanh and erf,
  :math:`\sigma_b^2=0` and :math:`\sigma_w^2<2` for ReLU, :math:`\sigma_w^2<1` for linear): the
  length decays to 0 at the rate :math:`\nu'(0)=\sigma_w^2\phi'(0)^2` (ReLU :math:`\sigma_w^2/2`),
  so ``xi_q = -1/ln`` of it; the correlation map is then its limit as :math:`q\to0` (the
  identity for linear, tanh, erf; the normalised arc-cosine map for ReLU), whose fixed point
  :math:`c^*=1` is marginal: ``c_star = 1``, ``chi_c = 1``, ``xi_c = inf``. ``chi1`` keeps its
  definition :math:`\sigma_w^2\phi'(0)^2` (ReLU :math:`\sigma_w^2/2`), the factor that still
  governs the gradients.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from scipy import interpolate, optimize, special, stats

from . import gaussian
from ._validate import check_array, check_bool, check_positive_int, check_real

__all__ = [
    "FixedPoint",
    "PhaseDiagram",
    "q_map",
    "q_map_slope",
    "c_map",
    "c_map_slope",
    "q_star",
    "fixed_point",
    "critical_sigma_w2",
    "phase_diagram",
    "q_iterates",
    "c_iterates",
    "trajectory",
    "gradient_factors",
    "depth_scale",
    "relu_correlation_gap",
    "quadratic_q_map",
    "quadratic_fixed_points",
    "rademacher_rate",
    "rademacher_tail_exponent",
]

CRITICAL_TOL = 1e-12
_HOMOGENEOUS = {"linear": 1.0, "relu": 0.5}        # E[phi(sqrt(q) z)^2] = m q, E[phi'^2] = m
_DPHI0_SQ = {"tanh": 1.0, "erf": 4.0 / math.pi}       # phi'(0)^2 for the bounded odd activations


def _hyper(act, sigma_w2, sigma_b2):
    act = gaussian.check_activation(act)
    sw2 = check_real("sigma_w2", sigma_w2, low=0.0, low_inclusive=False)
    sb2 = check_real("sigma_b2", sigma_b2, low=0.0)
    return act, sw2, sb2


def depth_scale(x) -> float:
    r"""The depth scale :math:`\xi=-1/\ln x` of a per-layer contraction factor ``x``.

    ``math.inf`` when :math:`x\ge1` (no exponential convergence) and 0 when :math:`x=0`.
    """
    x = check_real("x", x, low=0.0)
    if x >= 1.0:
        return math.inf
    if x == 0.0:
        return 0.0
    return -1.0 / math.log(x)


# --------------------------------------------------------------------------------------
# The maps
# --------------------------------------------------------------------------------------
def q_map(act: str, q, sigma_w2, sigma_b2, *, rule: str = "accurate"):
    r"""The length map :math:`\nu(q)=\sigma_w^2\,\mathbb E[\phi(\sqrt q z)^2]+\sigma_b^2`.

    Vectorised over ``q`` (>= 0). Closed forms: linear :math:`\sigma_w^2q+\sigma_b^2`, ReLU
    :math:`\sigma_w^2q/2+\sigma_b^2`, erf
    :math:`\sigma_w^2\frac2\pi\arcsin\frac{2q}{1+2q}+\sigma_b^2`.

    >>> q_map('relu', 2.0, 1.5, 0.1)
    1.6
    """
    act, sw2, sb2 = _hyper(act, sigma_w2, sigma_b2)
    return sw2 * gaussian.second_moment(act, q, rule=rule) + sb2


def q_map_slope(act: str, q, sigma_w2, sigma_b2, *, rule: str = "accurate"):
    r""":math:`\nu'(q)=\sigma_w^2\,\mathbb E[\phi'(\sqrt q z)^2+\phi(\sqrt q z)\phi''(\sqrt q z)]`.

    (Gaussian integration by parts.) At :math:`q^*` this is Schoenholz et al.'s
    :math:`a=\chi_1+\sigma_w^2\mathbb E[\phi\phi'']`, whose logarithm gives :math:`\xi_q`.
    """
    act, sw2, sb2 = _hyper(act, sigma_w2, sigma_b2)
    return sw2 * (gaussian.derivative_second_moment(act, q, rule=rule)
                  + gaussian.phi_d2phi_moment(act, q, rule=rule))


def _resolve_q(act, sw2, sb2, q):
    """(q, degenerate): the length at which the c-map is taken; degenerate if q* is 0 or inf."""
    if q is None:
        qs = q_star(act, sw2, sb2)
        if qs == 0.0 or math.isinf(qs):
            return qs, True
        return qs, False
    return check_real("q", q, low=0.0, low_inclusive=False), False


def c_map(act: str, c, sigma_w2, sigma_b2, q=None, *, rule: str = "accurate"):
    r"""The correlation map of one layer entered with length ``q`` (default :math:`q^*`).

    .. math:: c\mapsto\frac{\sigma_w^2\,\mathbb E[\phi(u_1)\phi(u_2)]+\sigma_b^2}{\nu(q)},\qquad
              u_1=\sqrt q\,s_1,\ u_2=\sqrt q\,(c\,s_1+\sqrt{1-c^2}\,s_2).

    At :math:`q=q^*` the denominator is :math:`q^*` and this is :math:`\tilde{\mathcal C}_{q^*}`.
    Vectorised over ``c`` in [-1, 1]; ``c_map(1) == 1`` for every q. See the module docstring
    for :math:`q^*\in\{0,\infty\}`.

    >>> round(c_map('relu', 0.0, 1.5, 0.05), 6)
    0.488732
    """
    act, sw2, sb2 = _hyper(act, sigma_w2, sigma_b2)
    c = check_array("c", c, low=-1.0, high=1.0)
    q, degenerate = _resolve_q(act, sw2, sb2, q)
    if degenerate:
        out = 2.0 * gaussian.kernel("relu", 1.0, 1.0, c) if act == "relu" else c * 1.0
        return float(out) if np.ndim(out) == 0 else out
    num = sw2 * gaussian.kernel(act, q, q, c, rule=rule) + sb2
    return num / float(q_map(act, q, sw2, sb2, rule=rule))


def c_map_slope(act: str, c, sigma_w2, sigma_b2, q=None, *, rule: str = "accurate"):
    r"""Slope of :func:`c_map`.

    :math:`\chi_c(c)=\sigma_w^2\,\mathbb E[\phi'(u_1)\phi'(u_2)]\,q/\nu(q)`.

    (Price's theorem:
    :math:`\partial_c\mathbb E[\phi(u_1)\phi(u_2)]=q\,\mathbb E[\phi'(u_1)\phi'(u_2)]`.)
    At :math:`q^*`, :math:`\chi_c(1)=\chi_1`.
    """
    act, sw2, sb2 = _hyper(act, sigma_w2, sigma_b2)
    c = check_array("c", c, low=-1.0, high=1.0)
    q, degenerate = _resolve_q(act, sw2, sb2, q)
    if degenerate:
        if act == "relu":
            return 2.0 * gaussian.derivative_kernel("relu", 1.0, 1.0, c)
        out = np.ones_like(c)
        return float(out) if out.ndim == 0 else out
    ratio = q / float(q_map(act, q, sw2, sb2, rule=rule))         # q / nu(q): no overflow
    return sw2 * ratio * gaussian.derivative_kernel(act, q, q, c, rule=rule)


# --------------------------------------------------------------------------------------
# Fixed points
# --------------------------------------------------------------------------------------
def q_star(act: str, sigma_w2, sigma_b2, q0=1.0) -> float:
    r"""The limit :math:`q^*=\lim_k\nu^k(q_0)` of the length map (a stable fixed point).

    For tanh and erf :math:`\nu` is increasing, concave and bounded by
    :math:`\sigma_w^2+\sigma_b^2`,
    so for :math:`\sigma_b^2>0` the fixed point is unique and found by Brent's method on
    :math:`[0,\sigma_w^2+\sigma_b^2]`; for :math:`\sigma_b^2=0` it is 0 unless
    :math:`\sigma_w^2\phi'(0)^2>1`. Linear and ReLU: :math:`q^*=\sigma_b^2/(1-m\sigma_w^2)` with
    :math:`m=1,\frac12`, or ``inf`` / ``q0`` (see the module docstring).

    >>> round(q_star('tanh', 1.5, 0.05), 6)
    0.418037
    """
    act, sw2, sb2 = _hyper(act, sigma_w2, sigma_b2)
    q0 = check_real("q0", q0, low=0.0)
    if act in _HOMOGENEOUS:
        g = _HOMOGENEOUS[act] * sw2
        if g < 1.0:
            return sb2 / (1.0 - g)
        if sb2 == 0.0 and (g == 1.0 or q0 == 0.0):
            return q0
        return math.inf
    if sb2 == 0.0:
        if q0 == 0.0 or sw2 * _DPHI0_SQ[act] <= 1.0:
            return 0.0

        def ratio(q):                       # nu(q)/q - 1, positive near 0+, negative at sw2
            return float(gaussian.second_moment(act, q)) * sw2 / q - 1.0

        lo = 1e-14
        if ratio(lo) <= 0.0:                # numerically critical: the root is below 1e-14
            return 0.0
        return optimize.brentq(ratio, lo, sw2, xtol=1e-300, rtol=4 * np.finfo(float).eps,
                               maxiter=300)
    return optimize.brentq(lambda q: sw2 * float(gaussian.second_moment(act, q)) + sb2 - q,
                           0.0, sw2 + sb2, xtol=1e-300, rtol=4 * np.finfo(float).eps, maxiter=300)


@dataclass(frozen=True)
class FixedPoint:
    """The mean-field fixed point of a random network and its stability (:func:`fixed_point`)."""

    act: str
    sigma_w2: float
    sigma_b2: float
    q_star: float        #: fixed point of the length map (inf: lengths grow without bound)
    c_star: float        #: attracting fixed point of the c-map (1 in the ordered phase)
    chi1: float          #: slope of the c-map at c = 1; per-layer gradient factor
    a: float             #: slope of the q-map at q*, nu'(q*)
    chi_c: float         #: slope of the c-map at c*
    xi_q: float          #: depth scale of the length, -1/ln a
    xi_c: float          #: depth scale of the correlation, -1/ln chi_c
    phase: str           #: 'ordered', 'critical', 'chaotic' or 'unbounded'

    def _repr_markdown_(self) -> str:
        rows = "".join(f"| {k} | {getattr(self, k):.6g} |\n"
                       for k in ("q_star", "c_star", "chi1", "a", "chi_c", "xi_q", "xi_c"))
        return (f"**{self.act}**, $\\sigma_w^2={self.sigma_w2:g}$, "
                f"$\\sigma_b^2={self.sigma_b2:g}$: "
                f"{self.phase}\n\n| quantity | value |\n|---|---|\n" + rows)


def _c_star_chaotic(act, sw2, sb2, qs):
    """Smallest root of c_map(c) = c in [0, 1) when chi1 > 1 (the c-map is convex on [0, 1])."""
    def f(c):
        return float(sw2 * gaussian.kernel(act, qs, qs, c) + sb2) / qs - c

    if f(0.0) <= 0.0:                    # odd phi, sigma_b2 = 0: c* = 0 exactly
        return 0.0
    for k in range(2, 13):               # an upper bracket just below 1, where f < 0
        hi = 1.0 - 10.0 ** -k
        if f(hi) < 0.0:
            return optimize.brentq(f, 0.0, hi, xtol=1e-300, rtol=4 * np.finfo(float).eps,
                                   maxiter=300)
    return 1.0                           # numerically critical


def fixed_point(act: str, sigma_w2, sigma_b2, *, q0=1.0) -> FixedPoint:
    r"""Fixed points :math:`q^*,c^*`, the slopes :math:`\chi_1,a,\chi_c` and the depth scales.

    Parameters
    ----------
    act : {'linear', 'relu', 'tanh', 'erf'}
    sigma_w2 : float > 0
    sigma_b2 : float >= 0
    q0 : float >= 0
        Starting length; matters only when every q is fixed or q0 = 0 (see the module docstring).

    Returns
    -------
    FixedPoint
        ``q_star``, ``c_star``, ``chi1``, ``a``, ``chi_c``, ``xi_q = -1/ln a``,
        ``xi_c = -1/ln chi_c`` and the ``phase``. In the ordered phase :math:`c^*=1` and
        :math:`\chi_c=\chi_1`; in the chaotic phase :math:`c^*` is the root of the c-map in
        [0, 1) and :math:`\chi_c=\sigma_w^2\mathbb E[\phi'(u_1)\phi'(u_2)]` there.

    Examples
    --------
    >>> fp = fixed_point('tanh', 2.5, 0.05)
    >>> fp.phase, round(fp.c_star, 6), round(fp.xi_c, 4)
    ('chaotic', 0.446804, 11.7956)
    """
    act, sw2, sb2 = _hyper(act, sigma_w2, sigma_b2)
    qs = q_star(act, sw2, sb2, q0)
    inf = math.inf
    if act in _HOMOGENEOUS:
        chi1 = a = _HOMOGENEOUS[act] * sw2
        if math.isinf(qs):
            return FixedPoint(act, sw2, sb2, inf, 1.0, chi1, a, 1.0, inf, inf, "unbounded")
    elif qs == 0.0:
        chi1 = a = sw2 * _DPHI0_SQ[act]
    else:
        chi1 = sw2 * float(gaussian.derivative_second_moment(act, qs))
        a = float(q_map_slope(act, qs, sw2, sb2))
    phase = ("critical" if abs(chi1 - 1.0) <= CRITICAL_TOL
             else "ordered" if chi1 < 1.0 else "chaotic")
    if qs == 0.0 or (act == "linear" and sb2 == 0.0) or (act == "relu" and sb2 == 0.0):
        # Degenerate correlation map (identity or normalised arc-cosine): c* = 1 is marginal.
        return FixedPoint(act, sw2, sb2, qs, 1.0, chi1, a, 1.0, depth_scale(a), inf, phase)
    if phase == "chaotic":
        cs = _c_star_chaotic(act, sw2, sb2, qs)
        chi_c = float(sw2 * gaussian.derivative_kernel(act, qs, qs, cs)) if cs < 1.0 else 1.0
    else:
        cs, chi_c = 1.0, chi1
    xi_c = inf if phase == "critical" else depth_scale(chi_c)
    return FixedPoint(act, sw2, sb2, qs, cs, chi1, a, chi_c, depth_scale(a), xi_c, phase)


def critical_sigma_w2(act: str, sigma_b2) -> float:
    r"""The :math:`\sigma_w^2` at which :math:`\chi_1=1` (the order-to-chaos transition).

    ReLU: 2 (He initialisation; a finite :math:`q^*` there only if :math:`\sigma_b^2=0`);
    linear: 1; tanh/erf at :math:`\sigma_b^2=0`: :math:`1/\phi'(0)^2`;
    otherwise Brent's method on :math:`\chi_1(\sigma_w^2)-1`, where :math:`\chi_1` is evaluated at
    :math:`q^*(\sigma_w^2)`. The returned value gives :math:`|\chi_1-1|<10^{-10}`.

    >>> round(critical_sigma_w2('tanh', 0.05), 5)
    1.76095
    """
    act = gaussian.check_activation(act)
    sb2 = check_real("sigma_b2", sigma_b2, low=0.0)
    if act in _HOMOGENEOUS:
        return 1.0 / _HOMOGENEOUS[act]
    lo = 1.0 / _DPHI0_SQ[act]
    if sb2 == 0.0:
        return lo

    def g(sw2):
        return sw2 * float(gaussian.derivative_second_moment(act, q_star(act, sw2, sb2))) - 1.0

    hi = 2.0 * lo
    while g(hi) < 0.0:                  # chi1 grows with sigma_w2 (bounded by sigma_w2 phi'(0)^2)
        lo, hi = hi, 2.0 * hi
        if hi > 1e8:                    # pragma: no cover - chi1 -> inf as sigma_w2 -> inf
            raise ValueError(f"no critical sigma_w2 found for sigma_b2={sb2!r}")
    return optimize.brentq(g, lo, hi, xtol=1e-14, rtol=4 * np.finfo(float).eps, maxiter=300)


# --------------------------------------------------------------------------------------
# Iterations and predicted trajectories
# --------------------------------------------------------------------------------------
def q_iterates(act: str, q0, sigma_w2, sigma_b2, depth: int, *, rule: str = "accurate"):
    r"""The iterates :math:`q_0, \nu(q_0), \dots, \nu^{\text{depth}}(q_0)` (length depth+1)."""
    act, sw2, sb2 = _hyper(act, sigma_w2, sigma_b2)
    q0 = check_real("q0", q0, low=0.0)
    depth = check_positive_int("depth", depth, minimum=0)
    out = np.empty(depth + 1)
    out[0] = q0
    for k in range(depth):
        out[k + 1] = q_map(act, out[k], sw2, sb2, rule=rule)
    return out


def c_iterates(act: str, c0, sigma_w2, sigma_b2, depth: int, q=None, *, rule: str = "accurate"):
    r"""The iterates :math:`c_0,\dots,c_{\text{depth}}` of the c-map at a fixed length.

    The length is ``q`` if given, else :math:`q^*`.
    """
    act, sw2, sb2 = _hyper(act, sigma_w2, sigma_b2)
    c0 = check_real("c0", c0, low=-1.0, high=1.0)
    depth = check_positive_int("depth", depth, minimum=0)
    qq, _ = _resolve_q(act, sw2, sb2, q)
    qarg = None if q is None else qq
    out = np.empty(depth + 1)
    out[0] = c0
    for k in range(depth):
        out[k + 1] = min(1.0, max(-1.0, float(c_map(act, out[k], sw2, sb2, qarg, rule=rule))))
    return out


def trajectory(act: str, sigma_w2, sigma_b2, depth: int, *, q0=1.0, c0=0.9,
               rule: str = "accurate"):
    r"""Predicted per-layer length and correlation of two inputs, layers 1..depth.

    The inputs have :math:`|x_a|^2/d_0=q_0` and cosine :math:`c_0`; the first layer acts on the raw
    input (no nonlinearity): :math:`q_1=\sigma_w^2q_0+\sigma_b^2`,
    :math:`c_1=(\sigma_w^2q_0c_0+\sigma_b^2)/q_1`; then :math:`q_k=\nu(q_{k-1})` and
    :math:`c_k=(\sigma_w^2\mathbb E[\phi(u_1)\phi(u_2)]+\sigma_b^2)/q_k` at
    :math:`(q_{k-1},c_{k-1})`.
    This is what a finite network should be compared with layer by layer (not :math:`c^*`:
    :math:`\xi_c` can be long).

    Returns
    -------
    (q, c) : two arrays of length ``depth``.
    """
    act, sw2, sb2 = _hyper(act, sigma_w2, sigma_b2)
    q0 = check_real("q0", q0, low=0.0, low_inclusive=False)
    c0 = check_real("c0", c0, low=-1.0, high=1.0)
    depth = check_positive_int("depth", depth)
    q = np.empty(depth)
    c = np.empty(depth)
    q[0] = sw2 * q0 + sb2
    c[0] = (sw2 * q0 * c0 + sb2) / q[0]
    for k in range(1, depth):
        q[k] = q_map(act, q[k - 1], sw2, sb2, rule=rule)
        cov = sw2 * gaussian.kernel(act, q[k - 1], q[k - 1], c[k - 1], rule=rule) + sb2
        c[k] = min(1.0, max(-1.0, cov / q[k]))
    return q, c


def gradient_factors(act: str, sigma_w2, sigma_b2, depth: int, *, q0=1.0, rule: str = "accurate"):
    r"""Predicted per-layer gradient factors, layers k = 1..depth.

    :math:`\chi_{1,k}=\sigma_w^2\,\mathbb E[\phi'(\sqrt{q_k}z)^2]`.

    Under the gradient-independence assumption
    :math:`|\boldsymbol\delta_k|^2\approx\chi_{1,k}\,|\boldsymbol\delta_{k+1}|^2`, with
    :math:`q_k` the length trajectory of :func:`trajectory` (same ``q0``). Once :math:`q_k=q^*`
    the factor is :math:`\chi_1`; in the first layers it differs (for tanh, larger :math:`q`
    means a smaller factor).
    """
    act, sw2, sb2 = _hyper(act, sigma_w2, sigma_b2)
    q, _ = trajectory(act, sw2, sb2, depth, q0=q0, rule=rule)
    return sw2 * np.asarray(gaussian.derivative_second_moment(act, q, rule=rule), dtype=float)


def _relu_gap_step(eps):
    """One critical-ReLU c-map step in eps = 1 - c, without the cancellation of 1 - J(c)."""
    # series: eps' = eps - (2 sqrt2/(3 pi)) eps^1.5 (1 + eps/10 + 9 eps^2/280 + ...)
    if eps < 1e-4:
        s2 = eps / 2
        s = math.sqrt(s2)
        g = 2 * s * (-(4 / 3) * s2 - (2 / 15) * s2 ** 2 - (3 / 70) * s2 ** 3)
    else:
        theta = 2 * math.asin(math.sqrt(eps / 2))           # arccos(1 - eps)
        g = theta * (1 - eps) - math.sqrt(eps * (2 - eps))
    return eps + g / math.pi


def relu_correlation_gap(depth: int, c0=0.0):
    r""":math:`1-c_k`, k = 0..depth, for the ReLU c-map at :math:`\sigma_b^2=0` (any
    :math:`\sigma_w^2`).

    The map is :math:`c\mapsto\frac1\pi\big(\sqrt{1-c^2}+(\pi-\arccos c)\,c\big)`, whose slope at
    :math:`c=1` is exactly 1: the approach to :math:`c^*=1` is a power law,
    :math:`\epsilon_{k+1}=\epsilon_k-\frac{2\sqrt2}{3\pi}\epsilon_k^{3/2}+\dots`, so
    :math:`k^2(1-c_k)` converges (to a closed form that the chapter leaves as an exercise).
    Iterated in :math:`\epsilon=1-c` with a series for small
    :math:`\epsilon`, so that it stays accurate for very deep networks.
    """
    depth = check_positive_int("depth", depth, minimum=0)
    c0 = check_real("c0", c0, low=-1.0, high=1.0)
    out = np.empty(depth + 1)
    out[0] = 1.0 - c0
    for k in range(depth):
        out[k + 1] = _relu_gap_step(out[k])
    return out


# --------------------------------------------------------------------------------------
# The quadratic activation: a q-map with two fixed points
# --------------------------------------------------------------------------------------
def quadratic_q_map(q, sigma_w2, sigma_b2):
    r"""The length map of :math:`\phi(z)=z^2`: :math:`\nu(q)=3\sigma_w^2q^2+\sigma_b^2`.

    (:math:`\mathbb E[(\sqrt q z)^4]=3q^2`.) Vectorised over ``q >= 0``. Unlike tanh, whose
    :math:`\nu` is concave, this map is convex and can cross the diagonal twice: see
    :func:`quadratic_fixed_points`.

    >>> quadratic_q_map(1.0, 0.2, 0.1)
    0.7000000000000001
    """
    q = check_array("q", q, low=0.0)
    sw2 = check_real("sigma_w2", sigma_w2, low=0.0, low_inclusive=False)
    sb2 = check_real("sigma_b2", sigma_b2, low=0.0)
    with np.errstate(over="ignore"):
        out = 3.0 * sw2 * q * q + sb2
    if not np.all(np.isfinite(out)):
        raise ValueError("`q` is too large: 3 sigma_w2 q^2 overflows float64")
    return float(out) if out.ndim == 0 else out


def quadratic_fixed_points(sigma_w2, sigma_b2):
    r"""The fixed points of :func:`quadratic_q_map` and their slopes :math:`\nu'(q)=6\sigma_w^2q`.

    :math:`3\sigma_w^2q^2-q+\sigma_b^2=0` has the roots
    :math:`q_\pm=\big(1\pm\sqrt D\big)/(6\sigma_w^2)`, :math:`D=1-12\sigma_w^2\sigma_b^2`, with
    slopes :math:`1\pm\sqrt D`: the smaller one attracts, the larger one repels (lengths that
    start above it grow without bound). The smaller root is computed as
    :math:`2\sigma_b^2/(1+\sqrt D)` (no cancellation).

    Returns
    -------
    tuple of (q, slope) pairs
        Two pairs ``((q_minus, 1 - sqrt D), (q_plus, 1 + sqrt D))`` when :math:`D>0`, one pair
        ``((1/(6 sigma_w2), 1.0),)`` when :math:`D=0`, and ``()`` when :math:`D<0` (every length
        grows without bound).

    >>> [(round(q, 6), round(s, 4)) for q, s in quadratic_fixed_points(0.2, 0.1)]
    [(0.10685, 0.1282), (1.559816, 1.8718)]
    """
    sw2 = check_real("sigma_w2", sigma_w2, low=0.0, low_inclusive=False)
    sb2 = check_real("sigma_b2", sigma_b2, low=0.0)
    disc = 1.0 - 12.0 * sw2 * sb2
    if disc < 0.0:
        return ()
    root = math.sqrt(disc)
    if root == 0.0:
        return ((1.0 / (6.0 * sw2), 1.0),)
    return ((2.0 * sb2 / (1.0 + root), 1.0 - root), ((1.0 + root) / (6.0 * sw2), 1.0 + root))


# --------------------------------------------------------------------------------------
# Concentration: the large-deviation example of the slides
# --------------------------------------------------------------------------------------
def rademacher_rate(x):
    r"""Cramér's rate function of a fair :math:`\pm1` coin.

    :math:`I(x)=\frac{1+x}2\ln(1+x)+\frac{1-x}2\ln(1-x)`.

    :math:`\mathbb P(\eta_n/n>x)\simeq e^{-nI(x)}` for the sum :math:`\eta_n` of n coins; defined
    for :math:`|x|\le1` (vectorised), with :math:`I(\pm1)=\ln 2`.

    >>> round(rademacher_rate(0.2), 7)
    0.0201355
    """
    x = check_array("x", x, low=-1.0, high=1.0)
    out = (special.xlogy((1 + x) / 2, 1 + x) + special.xlogy((1 - x) / 2, 1 - x))
    return float(out) if out.ndim == 0 else out


def rademacher_tail_exponent(n: int, x):
    r"""The exact :math:`-\frac1n\ln\mathbb P(\eta_n/n>x)` for n fair :math:`\pm1` coins.

    :math:`\eta_n=2B-n` with :math:`B\sim\mathrm{Bin}(n,\frac12)`, so the tail is a binomial
    survival function (computed as its logarithm, accurate for large n). It decreases to
    :func:`rademacher_rate` with an :math:`O(\ln n/n)` correction.
    """
    n = check_positive_int("n", n)
    x = check_real("x", x, low=-1.0, high=1.0, high_inclusive=False)
    # eta_n / n > x  <=>  B > n (1 + x) / 2; the nudge keeps an exact integer from rounding down
    k = math.floor(n * (1 + x) / 2 * (1 + 1e-12))
    return -float(stats.binom.logsf(k, n, 0.5)) / n


# --------------------------------------------------------------------------------------
# Phase diagrams (vectorised)
# --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class PhaseDiagram:
    """Mean-field quantities on a grid; every array has shape (len(sigma_b2), len(sigma_w2))."""

    act: str
    sigma_w2: np.ndarray
    sigma_b2: np.ndarray
    q_star: np.ndarray
    chi1: np.ndarray
    xi_q: np.ndarray
    c_star: np.ndarray | None
    xi_c: np.ndarray | None


_LOGQ = (-30.0, 9.0, 6000)   # tables for tanh on q in [e^-30, e^9]; q* never leaves this range


@lru_cache(maxsize=None)
def _moment_tables(act):
    """Cubic splines in ln q of E[phi^2]/q, E[phi'^2] and E[phi'^2 + phi phi''] (tanh)."""
    t = np.linspace(*_LOGQ)
    q = np.exp(t)
    m0 = gaussian.second_moment(act, q) / q
    m1 = gaussian.derivative_second_moment(act, q)
    m2 = gaussian.phi_d2phi_moment(act, q)
    return tuple(interpolate.CubicSpline(t, y) for y in (m0, m1, m1 + m2))


def _moments_vec(act, q):
    """E[phi^2], E[phi'^2], E[phi'^2 + phi phi''] at an array of q > 0."""
    if act in _HOMOGENEOUS:
        m = _HOMOGENEOUS[act]
        return m * q, np.full_like(q, m), np.full_like(q, m)
    if act == "erf":
        m1 = gaussian.derivative_second_moment(act, q)
        return (gaussian.second_moment(act, q), m1, m1 + gaussian.phi_d2phi_moment(act, q))
    s0, s1, s2 = _moment_tables(act)
    t = np.log(np.clip(q, math.exp(_LOGQ[0]), math.exp(_LOGQ[1])))
    return s0(t) * q, s1(t), s2(t)


def _q_star_vec(act, sw2, sb2):
    """Vectorised q* for tanh/erf by Newton from the right (monotone: nu is concave)."""
    q = sw2 + sb2
    dead = (sb2 == 0.0) & (sw2 * _DPHI0_SQ[act] <= 1.0)
    for _ in range(100):
        m0, _, d = _moments_vec(act, q)
        f = sw2 * m0 + sb2 - q
        step = f / (sw2 * d - 1.0)
        q_new = np.where(dead, 0.0, np.maximum(q - step, 0.5 * q))
        if np.all(np.abs(q_new - q) <= 1e-15 * np.maximum(q, 1e-300)):
            q = q_new
            break
        q = q_new
    return np.where(dead, 0.0, q)


def _mehler_c_star(act, sw2, sb2, qs, n_terms=160):
    """c* and chi_c(c*) from Mehler's series C(c) = (sw2 sum a_k^2 c^k + sb2)/q*.

    Newton's method from c = 0.

    The series has non-negative coefficients, so C is convex and increasing on [0, 1] and
    Newton from 0 climbs monotonically to the smallest fixed point.
    """
    coef = gaussian.hermite_coefficients(act, qs, n_terms) ** 2          # (P, K)

    def series(c, rows):                 # Horner: sum_k coef_k c^k and its derivative
        p = np.zeros_like(c)
        dp = np.zeros_like(c)
        for k in range(n_terms - 1, -1, -1):
            dp = dp * c + p
            p = p * c + coef[rows, k]
        return p, dp

    c = np.zeros_like(qs)
    active = np.arange(qs.size)
    for _ in range(200):                 # iterate only the points that have not converged
        ca, wa, ba, qa = c[active], sw2[active], sb2[active], qs[active]
        p, dp = series(ca, active)
        c_new = np.clip(ca - ((wa * p + ba) / qa - ca) / (wa * dp / qa - 1.0), 0.0, 1.0)
        c[active] = c_new
        active = active[np.abs(c_new - ca) > 1e-15]
        if active.size == 0:
            break
    slope = sw2 * series(c, slice(None))[1] / qs
    return c, slope


def phase_diagram(act: str, sigma_w2_grid, sigma_b2_grid, *,
                  correlations: bool = True) -> PhaseDiagram:
    r""":math:`q^*`, :math:`\chi_1`, :math:`\xi_q` (and :math:`c^*`, :math:`\xi_c`) on a grid.

    Vectorised: tanh uses cubic-spline tables (in :math:`\ln q`) of its three Gaussian moments,
    built once by quadrature (agreement with the scalar :func:`fixed_point`: ~1e-9), Newton's
    method for :math:`q^*` on the whole grid at once, and for :math:`c^*` Mehler's series
    :math:`\mathbb E[\phi(u_1)\phi(u_2)]=\sum_k a_k(q^*)^2c^k` with 160 Hermite coefficients.
    ReLU/linear points with unbounded lengths get ``q_star = inf``, ``xi = inf``; degenerate
    points follow the conventions of the module docstring.

    Parameters
    ----------
    act : str
    sigma_w2_grid : 1D array of values > 0
    sigma_b2_grid : 1D array of values >= 0
    correlations : bool
        Also compute :math:`c^*` and :math:`\xi_c` (slower: a 2D problem per chaotic point).
    """
    act = gaussian.check_activation(act)
    correlations = check_bool("correlations", correlations)
    w = check_array("sigma_w2_grid", sigma_w2_grid, low=0.0, low_inclusive=False, ndim=1)
    b = check_array("sigma_b2_grid", sigma_b2_grid, low=0.0, ndim=1)
    if w.size == 0 or b.size == 0:
        raise ValueError("the grids must not be empty")
    sw2, sb2 = np.meshgrid(w, b)
    if act in _HOMOGENEOUS:
        g = _HOMOGENEOUS[act] * sw2
        qs = np.where(g < 1.0, sb2 / np.where(g < 1.0, 1.0 - g, 1.0), np.inf)
        qs = np.where((g == 1.0) & (sb2 == 0.0), 1.0, qs)
        chi1 = g
        a = np.where(np.isinf(qs), np.inf, g)
    else:
        qs = _q_star_vec(act, sw2, sb2)
        pos = qs > 0
        qsafe = np.where(pos, qs, 1.0)
        _, m1, d = _moments_vec(act, qsafe)
        chi1 = np.where(pos, sw2 * m1, sw2 * _DPHI0_SQ[act])
        a = np.where(pos, sw2 * d, chi1)
    with np.errstate(divide="ignore"):
        xi_q = np.where(a >= 1.0, np.inf, -1.0 / np.log(np.where(a < 1.0, a, 0.5)))
    c_star = xi_c = None
    if correlations:
        critical = np.abs(chi1 - 1.0) <= CRITICAL_TOL
        degenerate = (qs == 0.0) | np.isinf(qs) | ((act in _HOMOGENEOUS) & (sb2 == 0.0))
        chaotic = (chi1 > 1.0) & ~critical & ~degenerate
        c_star = np.ones_like(qs)
        chi_c = np.where(degenerate, 1.0, chi1)
        if np.any(chaotic):
            idx = np.nonzero(chaotic)
            if act == "erf":
                cs, slope = _newton_c_star_closed(act, sw2[idx], sb2[idx], qs[idx])
            else:
                cs, slope = _mehler_c_star(act, sw2[idx], sb2[idx], qs[idx])
            c_star[idx], chi_c[idx] = cs, slope
        with np.errstate(divide="ignore"):
            xi_c = np.where((chi_c >= 1.0) | critical, np.inf,
                            -1.0 / np.log(np.where(chi_c < 1.0, chi_c, 0.5)))
    return PhaseDiagram(act, sw2, sb2, qs, chi1, xi_q, c_star, xi_c)


def _newton_c_star_closed(act, sw2, sb2, qs):
    """c* by Newton from 0 with the closed-form kernels (erf)."""
    c = np.zeros_like(qs)
    for _ in range(200):
        cm = (sw2 * gaussian.kernel(act, qs, qs, c) + sb2) / qs
        slope = sw2 * gaussian.derivative_kernel(act, qs, qs, c)
        c_new = np.clip(c - (cm - c) / (slope - 1.0), 0.0, 1.0)
        if np.all(np.abs(c_new - c) <= 1e-14):
            c = c_new
            break
        c = c_new
    return c, sw2 * gaussian.derivative_kernel(act, qs, qs, c)

r"""Activations and accurate Gaussian expectations: the numerical core of every mean-field chapter.

Two things live here.

1. A registry of activations, ``'linear'``, ``'relu'``, ``'tanh'`` and ``'erf'``, each with
   :math:`\phi`, :math:`\phi'` and :math:`\phi''` side by side (for ReLU, :math:`\phi'` is the
   Heaviside step with :math:`\phi'(0)=0` and :math:`\phi''=0` almost everywhere).
2. Expectations over Gaussians, vectorised over arrays of parameters:

   * 1D: :math:`\mathbb E_{z\sim\mathcal N(0,1)}[f(\sqrt q\,z)]` (:func:`expect`),
   * 2D: :math:`\mathbb E[f(u_1)\,g(u_2)]` with :math:`(u_1,u_2)` centred Gaussian,
     :math:`\mathrm{Var}\,u_a=q_a` and correlation :math:`c` (:func:`expect2`),

   and the named moments that the chapters use (:func:`second_moment`,
   :func:`derivative_second_moment`, :func:`phi_d2phi_moment`, :func:`kernel`,
   :func:`derivative_kernel`), in closed form where one exists (ReLU's arc-cosine kernels of
   degree 1 and 0, erf's arcsine kernel, linear) and by quadrature otherwise (tanh).

Quadrature, and why it is not Gauss-Hermite
-------------------------------------------
Plain Gauss-Hermite is exact for polynomials but converges slowly across a kink: with 301
nodes it gives :math:`\mathbb E[\Theta(z)] = 0.4639` instead of 0.5. All our activations are
smooth away from 0, so the rules here split the integration domain where the integrand may
be non-smooth and integrate each smooth piece with composite Gauss-Legendre:

* 1D: the half-lines :math:`z<0` and :math:`z>0`, truncated at :math:`|z|=13` (the Gaussian
  mass beyond is :math:`<10^{-37}`), cut into panels that are graded geometrically towards 0
  so that steep smooth functions (tanh at large q) are resolved;
* 2D: polar coordinates :math:`(s_1,s_2)=r(\cos\theta,\sin\theta)` of the standard normal
  pair with :math:`u_1=\sqrt{q_1}s_1` and :math:`u_2=\sqrt{q_2}(c s_1+\sqrt{1-c^2}s_2)
  =\sqrt{q_2}\,r\cos(\theta-\alpha)`, :math:`c=\cos\alpha`. The kinks of both factors lie on
  the four rays :math:`\cos\theta=0` and :math:`\cos(\theta-\alpha)=0`; the angle is split
  there (with panels graded towards each ray) and the radius like the 1D rule.

Accuracy, shown in ``tests/test_gaussian.py``: the quadrature agrees with every closed form
to better than 1e-10 relative over :math:`q\in[10^{-3},50]` and :math:`c\in[-1,1]`,
including both ends (the 'accurate' rule: 384 nodes in 1D, 73,728 in 2D). The ``'fast'``
rule (:func:`gauss_rule`) keeps about 1e-8 for :math:`q\le 10` with 160 and 15,360 nodes;
use it in widgets and dense phase diagrams.

Input contract
--------------
Variances ``q`` are finite reals >= 0 and correlations ``c`` lie in [-1, 1] (scalars or arrays,
broadcast together); anything else — NaN, inf, negative variances, strings, booleans, complex
numbers, torch tensors, an unknown activation, ``method`` or ``rule`` — raises ``ValueError``
naming the argument and what is accepted. Over that whole domain the closed forms are finite
and never NaN, up to ``q = 1.8e308``: they are evaluated in scaled form (``sqrt(q1) sqrt(q2)``
rather than ``sqrt(q1 q2)``, the arctangents with both arguments divided by ``max(1, q1, q2)``).
The linear and ReLU moments grow like ``q`` and are returned as computed; nothing here returns
inf for finite input except a product that exceeds the float range (e.g. the linear kernel
is at most ``sqrt(q1 q2)``, always finite).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from typing import Callable

import numpy as np
from scipy import special

from ._validate import check_array, check_choice

__all__ = [
    "ACTIVATIONS",
    "Activation",
    "activation",
    "check_activation",
    "gauss_rule",
    "expect",
    "expect2",
    "second_moment",
    "derivative_second_moment",
    "phi_d2phi_moment",
    "kernel",
    "derivative_kernel",
    "hermite_coefficients",
]


# --------------------------------------------------------------------------------------
# Activation registry
# --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Activation:
    """An activation with its first two derivatives (all vectorised numpy callables).

    ``smooth`` is False when phi' jumps (ReLU), so quadrature must split at the kink at 0.
    """

    name: str
    phi: Callable[[np.ndarray], np.ndarray]
    dphi: Callable[[np.ndarray], np.ndarray]
    d2phi: Callable[[np.ndarray], np.ndarray]
    smooth: bool
    odd: bool
    formula: str


def _sech2(x):
    # 1/cosh^2 without overflow warnings: cosh(x) overflows for |x| > 710.
    t = np.tanh(x)
    return 1.0 - t * t


_TWO_OVER_SQRT_PI = 2.0 / math.sqrt(math.pi)

ACTIVATIONS: dict[str, Activation] = {
    "linear": Activation(
        "linear",
        phi=lambda x: np.asarray(x, dtype=float) * 1.0,
        dphi=lambda x: np.ones_like(np.asarray(x, dtype=float)),
        d2phi=lambda x: np.zeros_like(np.asarray(x, dtype=float)),
        smooth=True, odd=True, formula="phi(x) = x",
    ),
    "relu": Activation(
        "relu",
        phi=lambda x: np.maximum(x, 0.0),
        dphi=lambda x: (np.asarray(x) > 0).astype(float),
        d2phi=lambda x: np.zeros_like(np.asarray(x, dtype=float)),
        smooth=False, odd=False, formula="phi(x) = max(x, 0)",
    ),
    "tanh": Activation(
        "tanh",
        phi=np.tanh,
        dphi=_sech2,
        d2phi=lambda x: -2.0 * np.tanh(x) * _sech2(x),
        smooth=True, odd=True, formula="phi(x) = tanh(x)",
    ),
    "erf": Activation(
        "erf",
        phi=special.erf,
        dphi=lambda x: _TWO_OVER_SQRT_PI * np.exp(-np.square(x)),
        d2phi=lambda x: -2.0 * x * _TWO_OVER_SQRT_PI * np.exp(-np.square(x)),
        smooth=True, odd=True, formula="phi(x) = erf(x)",
    ),
}


def check_activation(act) -> str:
    """Return ``act`` if it names a registered activation, else raise ValueError."""
    return check_choice("activation", act, ACTIVATIONS)


def activation(act: str) -> Activation:
    """The registry entry for an activation name ('linear', 'relu', 'tanh', 'erf')."""
    return ACTIVATIONS[check_activation(act)]


# --------------------------------------------------------------------------------------
# Quadrature rules
# --------------------------------------------------------------------------------------
_Z_MAX = 13.0  # Gaussian mass beyond |z| = 13 is 1.2e-38


@dataclass(frozen=True)
class GaussRule:
    """Nodes of the split composite Gauss-Legendre rules (see the module docstring)."""

    name: str
    z: np.ndarray          # 1D nodes on [-Z, Z]
    wz: np.ndarray         # 1D weights, including the standard normal density
    r: np.ndarray          # radial nodes on [0, Z]
    wr: np.ndarray         # radial weights, including r exp(-r^2/2) / (2 pi)
    t: np.ndarray          # angular nodes on [0, 1] (a unit arc, graded at both ends)
    wt: np.ndarray         # angular weights on [0, 1]


def _composite(breaks, n):
    x, w = np.polynomial.legendre.leggauss(n)
    a, b = np.asarray(breaks[:-1]), np.asarray(breaks[1:])
    half = (b - a)[:, None] / 2
    nodes = (a[:, None] + b[:, None]) / 2 + half * x[None, :]
    return nodes.ravel(), (half * w[None, :]).ravel()


@lru_cache(maxsize=None)
def _rule(name: str) -> GaussRule:
    # Panel break points were tuned against the closed forms (tests/test_gaussian.py):
    # 'accurate' reaches < 1e-12 relative for q in [1e-3, 50], 'fast' < 1e-8 for q <= 10.
    if name == "accurate":
        graded = [2.0 ** -k for k in (6, 4, 2)]                      # 1/64, 1/16, 1/4
        radial = graded + [1.0, 2.0, 3.0, 4.0, 5.0, 6.5, 8.0, 10.0]
        n_r, n_t = 16, 16
        angular = [2.0 ** -k for k in (4, 2)]                        # towards each ray
    elif name == "fast":
        graded = [2.0 ** -k for k in (4, 2)]
        radial = graded + [1.0, 2.0, 3.5, 5.0, 7.0]
        n_r, n_t = 10, 8
        angular = [2.0 ** -k for k in (4, 2)]
    else:  # pragma: no cover - guarded by gauss_rule
        raise ValueError(name)
    rb = np.array([0.0] + radial + [_Z_MAX])
    r, wr = _composite(rb, n_r)
    wz_half = wr * np.exp(-r * r / 2) / math.sqrt(2 * math.pi)
    z = np.concatenate([-r[::-1], r])
    wz = np.concatenate([wz_half[::-1], wz_half])
    wr = wr * r * np.exp(-r * r / 2) / (2 * math.pi)
    tb = np.array([0.0] + angular + [0.5] + [1 - a for a in angular[::-1]] + [1.0])
    t, wt = _composite(tb, n_t)
    return GaussRule(name, z, wz, r, wr, t, wt)


def gauss_rule(rule: str = "accurate") -> GaussRule:
    """The quadrature rule named ``'accurate'`` (default, ~1e-12) or ``'fast'`` (~1e-8, q <= 10)."""
    return _rule(check_choice("quadrature rule", rule, ("accurate", "fast")))


# --------------------------------------------------------------------------------------
# Generic expectations
# --------------------------------------------------------------------------------------
_CHUNK = 4_000_000  # integrand evaluations per block (bounds memory at ~100 MB)


def _check_callable(name, f):
    if not callable(f):
        raise ValueError(f"`{name}` must be a vectorised callable, got {type(f).__name__}")


def expect(f, q, *, rule: str = "accurate"):
    r"""One-dimensional Gaussian expectation :math:`\mathbb E_{z\sim\mathcal N(0,1)}[f(\sqrt q\,z)]`.

    Parameters
    ----------
    f : callable
        Vectorised function of the pre-activation :math:`u=\sqrt q z` (numpy in, numpy out),
        smooth except possibly at ``u = 0``.
    q : float or array_like
        Variance(s) :math:`q \ge 0`; the result has the shape of ``q``.
    rule : {'accurate', 'fast'}
        Quadrature rule (see :func:`gauss_rule`).

    Returns
    -------
    float or ndarray
    """
    _check_callable("f", f)
    q = check_array("q", q, low=0.0)
    g = gauss_rule(rule)
    flat = q.ravel()
    out = np.empty(flat.shape)
    step = max(1, _CHUNK // g.z.size)
    for i in range(0, flat.size, step):
        block = flat[i:i + step]
        vals = np.asarray(f(np.sqrt(block)[:, None] * g.z[None, :]), dtype=float)
        out[i:i + step] = vals @ g.wz
    return _shaped(out, q.shape)


def _shaped(out, shape):
    out = out.reshape(shape)
    return float(out) if out.ndim == 0 else out


def expect2(f, g, q1, q2, c, *, rule: str = "accurate"):
    r"""Two-dimensional Gaussian expectation :math:`\mathbb E[f(u_1)\,g(u_2)]`.

    :math:`(u_1, u_2)` is a centred Gaussian pair with variances ``q1``, ``q2`` and
    correlation ``c``, i.e. :math:`u_1=\sqrt{q_1}s_1`,
    :math:`u_2=\sqrt{q_2}(c\,s_1+\sqrt{1-c^2}\,s_2)` with :math:`s_1,s_2` independent standard
    normals. ``f`` and ``g`` must be smooth except possibly at 0.

    Parameters
    ----------
    f, g : callable
        Vectorised functions.
    q1, q2 : float or array_like
        Variances, >= 0, broadcast against each other and ``c``.
    c : float or array_like
        Correlation in [-1, 1] (both ends allowed).
    rule : {'accurate', 'fast'}

    Returns
    -------
    float or ndarray of the broadcast shape.
    """
    _check_callable("f", f)
    _check_callable("g", g)
    q1 = check_array("q1", q1, low=0.0)
    q2 = check_array("q2", q2, low=0.0)
    c = check_array("c", c, low=-1.0, high=1.0)
    q1, q2, c = np.broadcast_arrays(q1, q2, c)
    shape = q1.shape
    q1, q2, c = q1.ravel(), q2.ravel(), c.ravel()
    rl = gauss_rule(rule)
    n_nodes = 4 * rl.t.size * rl.r.size
    out = np.empty(q1.shape)
    step = max(1, _CHUNK // n_nodes)
    for i in range(0, q1.size, step):
        sl = slice(i, i + step)
        theta, wtheta = _angular_nodes(c[sl], rl)                   # (B, 4 nt)
        cos1 = np.cos(theta)[:, :, None] * rl.r[None, None, :]      # s1 = r cos(theta)
        alpha = np.arccos(c[sl])[:, None, None]
        cos2 = np.cos(theta[:, :, None] - alpha) * rl.r[None, None, :]
        vals = (np.asarray(f(np.sqrt(q1[sl])[:, None, None] * cos1), dtype=float)
                * np.asarray(g(np.sqrt(q2[sl])[:, None, None] * cos2), dtype=float))
        out[sl] = np.einsum("btr,bt,r->b", vals, wtheta, rl.wr)
    return _shaped(out, shape)


def _angular_nodes(c, rl):
    """Angles split at the four kink rays of u1 = 0 and u2 = 0, with graded panels."""
    alpha = np.arccos(c)                                           # in [0, pi]
    half = np.pi / 2
    # Breakpoints on the circle, starting from theta = pi/2 (where s1 = 0):
    # pi/2, alpha + pi/2 (u2 = 0), 3pi/2, alpha + 3pi/2, back to pi/2 + 2pi.
    starts = np.stack([half + 0 * alpha, alpha + half, 3 * half + 0 * alpha, alpha + 3 * half],
                      axis=1)
    ends = np.stack([alpha + half, 3 * half + 0 * alpha, alpha + 3 * half, 5 * half + 0 * alpha],
                    axis=1)
    length = ends - starts                                          # (B, 4), each >= 0
    theta = starts[:, :, None] + length[:, :, None] * rl.t[None, None, :]
    wtheta = length[:, :, None] * rl.wt[None, None, :]
    return theta.reshape(c.size, -1), wtheta.reshape(c.size, -1)


# --------------------------------------------------------------------------------------
# Named moments, closed form where one exists
# --------------------------------------------------------------------------------------
_METHODS = ("auto", "closed", "quadrature")


def _method(act, method, closed_available, rule="accurate"):
    check_choice("method", method, _METHODS)
    check_choice("quadrature rule", rule, ("accurate", "fast"))
    if method == "closed" and not closed_available:
        raise ValueError(f"no closed form for activation {act!r}; use method='quadrature' "
                         "or 'auto'")
    if method == "auto":
        return "closed" if closed_available else "quadrature"
    return method


def second_moment(act: str, q, *, method: str = "auto", rule: str = "accurate"):
    r""":math:`\mathbb E_z[\phi(\sqrt q z)^2]`, the expectation inside the q-map.

    Closed forms: linear :math:`q`; ReLU :math:`q/2`;
    erf :math:`\frac2\pi\arcsin\frac{2q}{1+2q}`. tanh by quadrature.
    ``method`` is 'auto' (closed form if any), 'closed' or 'quadrature'.
    """
    a = activation(act)
    m = _method(act, method, act != "tanh", rule)
    q = check_array("q", q, low=0.0)
    if m == "quadrature":
        return expect(lambda u: a.phi(u) ** 2, q, rule=rule)
    if act == "linear":
        out = q * 1.0
    elif act == "relu":
        out = q / 2
    else:  # erf: arcsin(x) with x = 2q/(1+2q), written as arctan2 for accuracy near x = 1,
        # both arguments divided by m = max(1, q) so that nothing overflows up to q = 1.8e308
        m = np.maximum(q, 1.0)
        out = (2 / np.pi) * np.arctan2(2 * (q / m), np.sqrt((1 / m) ** 2 + 4 * (q / m) / m))
    return _shaped(np.asarray(out, dtype=float), q.shape)


def derivative_second_moment(act: str, q, *, method: str = "auto", rule: str = "accurate"):
    r""":math:`\mathbb E_z[\phi'(\sqrt q z)^2]`, the expectation inside :math:`\chi_1`.

    Closed forms: linear 1; ReLU 1/2; erf :math:`\frac{4}{\pi\sqrt{1+4q}}`.
    """
    a = activation(act)
    m = _method(act, method, act != "tanh", rule)
    q = check_array("q", q, low=0.0)
    if m == "quadrature":
        return expect(lambda u: a.dphi(u) ** 2, q, rule=rule)
    if act == "linear":
        out = np.ones_like(q)
    elif act == "relu":
        out = np.full_like(q, 0.5)
    else:
        big = np.maximum(q, 1.0)                # 1 + 4q = q (4 + 1/q): no overflow for big q
        out = np.where(q > 1, 4 / np.pi / (np.sqrt(big) * np.sqrt(4 + 1 / big)),
                       4 / np.pi / np.sqrt(1 + 4 * np.minimum(q, 1.0)))
    return _shaped(np.asarray(out, dtype=float), q.shape)


def phi_d2phi_moment(act: str, q, *, method: str = "auto", rule: str = "accurate"):
    r""":math:`\mathbb E_z[\phi(\sqrt q z)\,\phi''(\sqrt q z)]`, which enters :math:`\nu'(q)`.

    Closed forms: linear and ReLU 0 (ReLU: :math:`\phi''=0` a.e. and :math:`\phi(0)=0`, so the
    delta at the kink contributes nothing); erf :math:`-\frac{8q}{\pi(1+2q)\sqrt{1+4q}}`.
    """
    a = activation(act)
    m = _method(act, method, act != "tanh", rule)
    q = check_array("q", q, low=0.0)
    if m == "quadrature":
        return expect(lambda u: a.phi(u) * a.d2phi(u), q, rule=rule)
    if act in ("linear", "relu"):
        out = np.zeros_like(q)
    else:  # q/(1+2q) written without overflow; sqrt(1+4q) = inf for q > 4e307 gives -0.0
        with np.errstate(divide="ignore", over="ignore"):
            ratio = np.where(q < 1, q / (1 + 2 * np.minimum(q, 1)),
                             0.5 / (1 + 0.5 / np.maximum(q, 1)))
            out = -8 / np.pi * ratio / np.sqrt(1 + 4 * q)
    return _shaped(np.asarray(out, dtype=float), q.shape)


def _pair(q1, q2, c):
    q1 = check_array("q1", q1, low=0.0)
    q2 = check_array("q2", q2, low=0.0)
    c = check_array("c", c, low=-1.0, high=1.0)
    return np.broadcast_arrays(q1, q2, c)


def kernel(act: str, q1, q2, c, *, method: str = "auto", rule: str = "accurate"):
    r""":math:`\mathbb E[\phi(u_1)\phi(u_2)]` for a Gaussian pair with variances q1, q2, correlation c.

    Closed forms:

    * linear: :math:`c\sqrt{q_1q_2}`;
    * ReLU (arc-cosine kernel of degree 1):
      :math:`\frac{\sqrt{q_1q_2}}{2\pi}\big(\sqrt{1-c^2}+(\pi-\arccos c)\,c\big)`;
    * erf: :math:`\frac2\pi\arcsin\frac{2c\sqrt{q_1q_2}}{\sqrt{(1+2q_1)(1+2q_2)}}`,
      evaluated as an ``arctan2`` whose second argument
      :math:`\sqrt{1+2q_1+2q_2+4q_1q_2(1-c^2)}` has no cancellation at :math:`c=\pm1`.
    """
    a = activation(act)
    m = _method(act, method, act != "tanh", rule)
    q1, q2, c = _pair(q1, q2, c)
    if m == "quadrature":
        return expect2(a.phi, a.phi, q1, q2, c, rule=rule)
    s = np.sqrt(np.clip(1 - c * c, 0.0, None))
    root = np.sqrt(q1) * np.sqrt(q2)                               # sqrt(q1 q2), no overflow
    if act == "linear":
        out = c * root
    elif act == "relu":
        theta = np.arctan2(s, c)                                   # arccos(c), stable at |c| = 1
        out = root / (2 * np.pi) * (s + (np.pi - theta) * c)
    else:  # both arguments of arctan2 divided by m = max(1, q1, q2): no overflow
        m = np.maximum(np.maximum(q1, q2), 1.0)
        a1, a2 = q1 / m, q2 / m
        den = np.sqrt((1 / m) ** 2 + 2 * (a1 + a2) / m + 4 * a1 * a2 * s * s)
        out = (2 / np.pi) * np.arctan2(2 * c * np.sqrt(a1) * np.sqrt(a2), den)
    return _shaped(np.asarray(out, dtype=float), q1.shape)


def derivative_kernel(act: str, q1, q2, c, *, method: str = "auto", rule: str = "accurate"):
    r""":math:`\mathbb E[\phi'(u_1)\phi'(u_2)]`, which gives the slope of the c-map (:math:`\chi_c`).

    Closed forms: linear 1; ReLU (arc-cosine kernel of degree 0)
    :math:`\frac{\pi-\arccos c}{2\pi}`; erf
    :math:`\frac{4}{\pi\sqrt{1+2q_1+2q_2+4q_1q_2(1-c^2)}}`.
    """
    a = activation(act)
    m = _method(act, method, act != "tanh", rule)
    q1, q2, c = _pair(q1, q2, c)
    if m == "quadrature":
        return expect2(a.dphi, a.dphi, q1, q2, c, rule=rule)
    s = np.sqrt(np.clip(1 - c * c, 0.0, None))
    if act == "linear":
        out = np.ones_like(c)
    elif act == "relu":
        out = (np.pi - np.arctan2(s, c)) / (2 * np.pi)
        # At q = 0 the pre-activations are exactly 0 and phi'(0) = 0.
        out = np.where((q1 == 0) | (q2 == 0), 0.0, out)
    else:  # the square root divided by m = max(1, q1, q2): no overflow, no inf * 0
        m = np.maximum(np.maximum(q1, q2), 1.0)
        a1, a2 = q1 / m, q2 / m
        out = 4 / np.pi / m / np.sqrt((1 / m) ** 2 + 2 * (a1 + a2) / m + 4 * a1 * a2 * s * s)
    return _shaped(np.asarray(out, dtype=float), q1.shape)


def hermite_coefficients(f, q, n_terms: int, *, rule: str = "accurate"):
    r"""Normalised Hermite coefficients :math:`a_k(q)=\mathbb E_z[f(\sqrt q z)\,He_k(z)]/\sqrt{k!}`.

    With them, for two unit-normalised inputs of equal variance q, Mehler's formula gives
    :math:`\mathbb E[f(u_1)f(u_2)]=\sum_k a_k(q)^2 c^k`, a power series in the correlation
    that converges on [-1, 1] (the sum of the :math:`a_k^2` is :math:`\mathbb E[f^2]`):
    useful to evaluate a c-map at many c for the price of one 1D quadrature.

    Parameters
    ----------
    f : callable or str
        A vectorised function or an activation name (then :math:`\phi` is used).
    q : float or array_like
        Variances >= 0.
    n_terms : int
        Number of coefficients, k = 0 .. n_terms - 1 (at most 10,000).

    Returns
    -------
    ndarray of shape ``np.shape(q) + (n_terms,)``.
    """
    from ._validate import check_positive_int

    if isinstance(f, str):
        f = activation(f).phi
    _check_callable("f", f)
    n_terms = check_positive_int("n_terms", n_terms, maximum=10_000)
    q = check_array("q", q, low=0.0)
    g = gauss_rule(rule)
    fz = np.asarray(f(np.sqrt(q.ravel())[:, None] * g.z[None, :]), dtype=float) * g.wz
    h_prev, h = np.zeros_like(g.z), np.ones_like(g.z)
    out = np.empty((q.size, n_terms))
    for k in range(n_terms):
        out[:, k] = fz @ h
        h_prev, h = h, (g.z * h - math.sqrt(k) * h_prev) / math.sqrt(k + 1)
    return out.reshape(q.shape + (n_terms,))

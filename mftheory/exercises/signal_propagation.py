r"""Checks for the exercises of the chapter on signal propagation (order, chaos, depth scales).

Every check computes its expected value with :mod:`mftheory.signal` (nothing is typed in), takes
the student's answer as data (a wrong, non-numeric or failing answer gives a not-correct
:class:`~mftheory.exercises.Feedback`, never an exception) and, when the answer matches a typical
mistake, says which one. Bad *parameters* (unknown activation, :math:`\sigma_w^2\le0`, ...) raise
``ValueError`` as everywhere in the package.
"""

from __future__ import annotations

import math

import numpy as np

from .. import gaussian, signal
from ._feedback import Feedback, check_number

__all__ = [
    "check_relu_q_map",
    "check_relu_c_map",
    "check_chi1_by_finite_difference",
    "check_critical_sigma_w2",
    "check_depth_scales",
    "check_gradient_ratio",
    "check_relu_power_law",
    "relu_power_law_limit",
]

# The points where the student's ReLU maps are compared with the package.
_Q_GRID = (0.0, 0.1, 0.5, 1.0, 2.5, 7.0)
_QMAP_PARAMS = ((1.0, 0.1), (2.0, 0.0), (1.5, 0.05), (3.0, 0.5))
_C_GRID = (-1.0, -0.6, -0.2, 0.0, 0.3, 0.7, 0.95, 1.0)
_CMAP_PARAMS = ((1.5, 0.05), (1.0, 0.1), (1.9, 0.05), (1.2, 0.3))     # ordered, finite q* > 0


def _as_float(x):
    """``x`` as a finite Python float, or None when it is not one (the caller then reports it)."""
    if isinstance(x, (bool, str, bytes)):
        return None
    try:
        arr = np.asarray(x, dtype=float)
    except (TypeError, ValueError):
        return None
    if arr.ndim != 0 or not np.isfinite(arr):
        return None
    return float(arr)


def _close(a, b, rtol):
    return a is not None and abs(a - b) <= rtol * abs(b)


def _evaluate(f, name, points):
    """Call the student's ``f`` at each argument tuple; (values, None) or (None, Feedback)."""
    if not callable(f):
        return None, Feedback(False, f"{name}: expected a function, got {type(f).__name__}.", f)
    out = []
    for args in points:
        try:
            v = f(*args)
        except Exception as err:                           # the student's code: report, never raise
            return None, Feedback(False, f"{name}: your function raised {type(err).__name__}: {err} "
                                  f"at arguments {args}.", f)
        fv = _as_float(v)
        if fv is None:
            return None, Feedback(False, f"{name}: your function returned {v!r} at arguments {args}; "
                                  "expected one finite real number.", f)
        out.append(fv)
    return np.array(out), None


def _compare_function(name, f, points, expected, wrong_forms, *, rtol, atol, extra_hint=None):
    """Feedback for a student's function against expected values, naming a matching mistake."""
    values, fb = _evaluate(f, name, points)
    if fb is not None:
        return fb
    err = np.abs(values - expected)
    ok = err <= atol + rtol * np.abs(expected)
    if np.all(ok):
        rel = float(np.max(err / np.maximum(np.abs(expected), 1e-300)))
        return Feedback(True, f"{name}: correct at all {len(points)} test points (largest relative "
                        f"error {rel:.1e}, tolerance {rtol:g}).", f, expected, rel)
    i = int(np.argmin(ok))
    msg = (f"{name}: not yet — at arguments {points[i]} your function gives {values[i]:.10g}, "
           f"expected {expected[i]:.10g} ({int(np.sum(~ok))} of {len(points)} test points are off).")
    for wrong, hint in wrong_forms:
        if np.allclose(values, wrong, rtol=1e-6, atol=1e-9):
            msg += f" Hint: {hint}"
            break
    else:
        if extra_hint is not None:
            hint = extra_hint(values)
            if hint:
                msg += f" Hint: {hint}"
    rel = float(np.max(err / np.maximum(np.abs(expected), 1e-300)))
    return Feedback(False, msg, f, expected, rel)


# --------------------------------------------------------------------------------------
# Exercise: the ReLU q-map and c-map
# --------------------------------------------------------------------------------------
def check_relu_q_map(f) -> Feedback:
    r"""The student's ``f(q, sigma_w2, sigma_b2)`` for the ReLU length map
    :math:`\nu(q)=\sigma_w^2\,\mathbb E[\mathrm{relu}(\sqrt q z)^2]+\sigma_b^2=\sigma_w^2q/2+\sigma_b^2`,
    compared with :func:`mftheory.signal.q_map` on 24 points (q from 0 to 7, four
    :math:`(\sigma_w^2,\sigma_b^2)`), to 1e-9 relative (a closed form: only rounding differs)."""
    points = [(q, w, b) for w, b in _QMAP_PARAMS for q in _Q_GRID]
    q, w, b = np.array(points).T
    expected = np.array([signal.q_map("relu", qq, ww, bb) for qq, ww, bb in points])
    m2 = gaussian.second_moment("relu", q)                          # E[relu(sqrt(q) z)^2]
    wrong = [
        (w * 2 * m2 + b, "you forgot that ReLU kills half of the Gaussian mass: "
                         "E[relu(sqrt(q) z)^2] = q/2, not q (a factor 2)."),
        (w * m2, "the bias variance sigma_b2 is missing: nu(q) = sigma_w2 E[phi^2] + sigma_b2."),
        ((w * 2 * m2 + b) / 2, "only the weight term carries the factor 1/2; the bias term "
                               "sigma_b2 is added in full."),
        (w * w * m2 + b, "sigma_w2 is already the variance: do not square it."),
    ]
    return _compare_function("ReLU q-map", f, points, expected, wrong, rtol=1e-9, atol=1e-12)


def check_relu_c_map(f) -> Feedback:
    r"""The student's ``f(c, sigma_w2, sigma_b2)`` for the ReLU correlation map at :math:`q^*`,

    .. math:: \tilde{\mathcal C}(c)=\frac{\sigma_w^2\,\frac{q^*}{2\pi}\big(\sqrt{1-c^2}
              +(\pi-\arccos c)\,c\big)+\sigma_b^2}{q^*},\qquad q^*=\frac{\sigma_b^2}{1-\sigma_w^2/2},

    compared with :func:`mftheory.signal.c_map` on 32 points (c in [-1, 1], four ordered
    :math:`(\sigma_w^2,\sigma_b^2)` with finite :math:`q^*>0`), to 1e-8 relative."""
    points = [(c, w, b) for w, b in _CMAP_PARAMS for c in _C_GRID]
    expected = np.array([signal.c_map("relu", c, w, b) for c, w, b in points])
    qs = np.array([signal.q_star("relu", w, b) for _, w, b in points])
    c, w, b = np.array(points).T
    kern = gaussian.kernel("relu", qs, qs, c)                  # E[relu(u1) relu(u2)] at q*
    wrong = [
        (w * kern / qs, "the bias variance is missing from the numerator: "
                        "(sigma_w2 E[phi(u1)phi(u2)] + sigma_b2) / q*."),
        (w * kern + b, "this is the covariance q*_12; divide by q* to get a correlation "
                       "(the map must give 1 at c = 1)."),
        ((2 * w * kern + b) / qs, "the arc-cosine kernel of degree 1 has 1/(2 pi), not 1/pi: "
                                  "E[relu(u1) relu(u2)] = q/(2 pi) (sqrt(1-c^2) + (pi - arccos c) c)."),
        (np.array([signal.c_map_slope("relu", cc, ww, bb) for cc, ww, bb in points]),
         "this is the slope chi_c(c) = sigma_w2 E[phi'(u1) phi'(u2)] (degree-0 kernel), "
         "not the map itself."),
        (2 * gaussian.kernel("relu", 1.0, 1.0, c), "the bias makes the map depend on sigma_b2 and "
                                                   "q*: this is the sigma_b2 = 0 map."),
    ]

    def at_one(values):
        ones = [i for i, p in enumerate(points) if p[0] == 1.0]
        if not np.allclose(values[ones], 1.0, rtol=1e-8):
            return "identical inputs stay identical: the map must return 1 at c = 1 (normalise by q*)."
        return ""

    return _compare_function("ReLU c-map at q*", f, points, expected, wrong, rtol=1e-8, atol=1e-10,
                             extra_hint=at_one)


# --------------------------------------------------------------------------------------
# Exercise: chi_1, the critical line and the depth scales (tanh)
# --------------------------------------------------------------------------------------
def check_chi1_by_finite_difference(value, sigma_w2=1.5, sigma_b2=0.05, act="tanh") -> Feedback:
    r"""A finite-difference slope of the c-map at :math:`c=1` against
    :math:`\chi_1=\sigma_w^2\mathbb E[\phi'(\sqrt{q^*}z)^2]` (tanh at (1.5, 0.05): 0.938636),
    relative tolerance 1e-5 (a one-sided difference with :math:`h=10^{-5}` is within ~1e-6)."""
    fp = signal.fixed_point(act, sigma_w2, sigma_b2)
    v = _as_float(value)
    hint = ("use (1 - C(1 - h)) / h with h about 1e-5 (the map is not defined beyond c = 1), or the "
            "identity chi1 = sigma_w2 E[phi'(sqrt(q*) z)^2].")
    if _close(v, fp.a, 1e-4) and not _close(v, fp.chi1, 1e-5):
        hint = (f"{v:.6g} is nu'(q*) = a, the slope of the q-map at q*; chi1 is the slope of the "
                "c-map at c = 1.")
    elif _close(v, fp.chi_c, 1e-4) and fp.c_star < 1.0:
        hint = "that is the slope at c*; chi1 is the slope at c = 1."
    elif _close(v, float(sigma_w2) * float(gaussian.derivative_second_moment(act, 0.0)), 1e-4):
        hint = "that is sigma_w2 phi'(0)^2, the slope at q = 0; evaluate E[phi'^2] at q*."
    elif v is not None and abs(v - fp.chi1) <= 1e-2 * fp.chi1:
        hint = ("close: a one-sided difference has an O(h) error and a very small h loses digits to "
                "rounding; h about 1e-5 gives ~1e-6.")
    return check_number(f"chi1 at (sigma_w2, sigma_b2) = ({sigma_w2:g}, {sigma_b2:g})", value, fp.chi1,
                        rtol=1e-5, hint=hint)


def check_critical_sigma_w2(value, sigma_b2=0.05, act="tanh") -> Feedback:
    r"""The :math:`\sigma_w^2` where :math:`\chi_1=1` at the given :math:`\sigma_b^2` (tanh at 0.05:
    1.76095), relative tolerance 1e-4. The hint evaluates :math:`\chi_1` at the student's value."""
    expected = signal.critical_sigma_w2(act, sigma_b2)
    v = _as_float(value)
    hint = ""
    if v is not None and v > 0:
        if _close(v, 1.0, 1e-3) and expected != 1.0:
            hint = ("sigma_w2 = 1 is critical only for sigma_b2 = 0, where q* = 0; with a bias, q* > 0 "
                    "and E[phi'^2] < 1 at q*.")
        elif _close(v, 2.0, 1e-3) and act != "relu":
            hint = "2 is the ReLU (He) value; for tanh solve chi1(q*(sigma_w2), sigma_w2) = 1."
        else:
            chi1 = signal.fixed_point(act, v, sigma_b2).chi1
            side = "ordered: increase sigma_w2" if chi1 < 1 else "chaotic: decrease sigma_w2"
            hint = (f"at your sigma_w2 = {v:.6g}, chi1 = {chi1:.6f} ({side}); remember that q* moves "
                    "with sigma_w2.")
    elif v is not None:
        hint = "sigma_w2 is a variance: it is positive."
    return check_number(f"critical sigma_w2 at sigma_b2 = {sigma_b2:g}", value, expected, rtol=1e-4,
                        hint=hint)


def check_depth_scales(xi_q, xi_c, sigma_w2=2.5, sigma_b2=0.05, act="tanh") -> Feedback:
    r""":math:`\xi_q=-1/\ln\nu'(q^*)` and :math:`\xi_c=-1/\ln\chi_c(c^*)` (tanh at (2.5, 0.05):
    1.17987 and 11.7956), relative tolerance 1e-4 each."""
    fp = signal.fixed_point(act, sigma_w2, sigma_b2)
    name = f"(xi_q, xi_c) at (sigma_w2, sigma_b2) = ({sigma_w2:g}, {sigma_b2:g})"
    a, c = _as_float(xi_q), _as_float(xi_c)
    hints = []
    if a is not None and c is not None:
        if _close(a, fp.xi_c, 1e-4) and _close(c, fp.xi_q, 1e-4):
            hints.append("your two values are swapped: xi_q comes from the q-map, xi_c from the c-map.")
        else:
            def inv_log(x):
                return math.inf if x == 1.0 else 1.0 / abs(math.log(x))

            if not _close(c, fp.xi_c, 1e-4) and c != 0 and fp.c_star < 1.0:
                if _close(abs(c), inv_log(fp.chi1), 1e-3):
                    hints.append("xi_c uses the slope at the attracting fixed point c*, "
                                 "chi_c(c*) = sigma_w2 E[phi'(u1) phi'(u2)], not chi1 (the slope "
                                 "at c = 1, which is unstable here).")
            if not _close(a, fp.xi_q, 1e-4) and a != 0:
                if _close(abs(a), inv_log(fp.chi1), 1e-3):
                    hints.append("xi_q uses a = nu'(q*) = chi1 + sigma_w2 E[phi phi''], not chi1.")
            for x, e in ((a, fp.xi_q), (c, fp.xi_c)):
                if math.isfinite(e) and _close(x, e * math.log(10), 1e-3):
                    hints.append("use the natural logarithm: xi = -1/ln(slope).")
                    break
    return check_number(name, [xi_q, xi_c], [fp.xi_q, fp.xi_c], rtol=1e-4, hint=" ".join(hints))


# --------------------------------------------------------------------------------------
# Exercise: gradients and the critical ReLU power law
# --------------------------------------------------------------------------------------
def check_gradient_ratio(value, sigma_w2, sigma_b2, act="tanh") -> Feedback:
    r"""A measured per-layer ratio :math:`|\delta_k|^2/|\delta_{k+1}|^2` against :math:`\chi_1`,
    within 3% (finite width 1000 and a few seeds give about 1% spread, note C.5.2)."""
    fp = signal.fixed_point(act, sigma_w2, sigma_b2)
    v = _as_float(value)
    hint = ("measure far from the input (after a few xi_q layers), average the log-ratios over "
            "layers and seeds, and use a wide network.")
    if v is not None and v > 0:
        if _close(v, 1.0 / fp.chi1, 0.03):
            hint = ("your ratio is inverted: the theory is |delta_k|^2 = chi1 |delta_{k+1}|^2, "
                    "the layer nearer the input over the one above it.")
        elif _close(v, math.sqrt(fp.chi1), 0.01) or _close(v, 1 / math.sqrt(fp.chi1), 0.01):
            hint = "compare squared norms |delta|^2, not norms."
    return check_number(f"per-layer gradient ratio at ({sigma_w2:g}, {sigma_b2:g})", value, fp.chi1,
                        rtol=0.03, hint=hint)


def relu_power_law_limit() -> float:
    r"""The limit of :math:`k^2(1-c_k)` for the critical ReLU c-map, computed from the map.

    Near :math:`c=1` the map of :func:`mftheory.signal.c_map` (ReLU, :math:`\sigma_b^2=0`) is
    :math:`\epsilon\mapsto\epsilon-A\,\epsilon^{3/2}(1+\epsilon/10+\dots)` in :math:`\epsilon=1-c`,
    so :math:`\epsilon_k\approx4/(A^2k^2)` and the limit is :math:`4/A^2`. :math:`A` is read off the
    map at :math:`\epsilon=10^{-4}` and :math:`2\cdot10^{-4}` with one Richardson step (error
    :math:`O(\epsilon^2)\approx10^{-8}`); the result agrees with :math:`9\pi^2/2=44.4132`.
    """
    def slope_coefficient(eps):
        c = 1.0 - eps
        return (float(signal.c_map("relu", c, 2.0, 0.0, q=1.0)) - c) / eps ** 1.5

    eps = 1e-4
    a = 2.0 * slope_coefficient(eps) - slope_coefficient(2 * eps)
    return 4.0 / a ** 2


def check_relu_power_law(value) -> Feedback:
    r"""The limit of :math:`k^2(1-c_k)` at the critical ReLU point (:math:`\sigma_w^2=2`,
    :math:`\sigma_b^2=0`): :math:`9\pi^2/2\approx44.4132`, relative tolerance 1e-3."""
    expected = relu_power_law_limit()
    v = _as_float(value)
    hint = "expand the map: 1 - C(1 - eps) = eps - (2 sqrt2 / (3 pi)) eps^(3/2) + ..., then solve for eps_k."
    if v is not None:
        if _close(v, 2 * expected, 1e-2) or _close(v, expected / 2, 1e-2):
            hint = "off by a factor 2: check eps_k ~ 4 / (A^2 k^2) with A = 2 sqrt2 / (3 pi)."
        elif 0.7 * expected < v < expected:
            hint = ("k^2 (1 - c_k) approaches its limit slowly from below (about 44.25 at k = 10^4, "
                    "with a log(k)/k correction); derive the limit from the expansion "
                    "1 - C(1 - eps) = eps - (2 sqrt2 / (3 pi)) eps^(3/2) instead of reading it off "
                    "a finite k.")
    return check_number("lim k^2 (1 - c_k) for critical ReLU", value, expected, rtol=1e-3, hint=hint)


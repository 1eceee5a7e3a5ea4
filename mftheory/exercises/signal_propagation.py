r"""Checks for the exercises of the chapter on signal propagation (order, chaos, depth scales).

Each check grades a student's answer against a reference value computed in a private helper
(``_reference_*``) from :mod:`mftheory.signal`: nothing is typed in, and neither these
docstrings nor the returned :class:`~mftheory.exercises.Feedback` state the reference value (the
message says whether the answer is right, in which direction and by how much it is off, and,
when it matches a typical mistake, which one). The answer is data: a wrong, non-numeric or
failing answer gives a not-correct Feedback, never an exception. Bad *parameters* (unknown
activation, :math:`\sigma_w^2\le0`, ...) raise ``ValueError`` as everywhere in the package.
"""

from __future__ import annotations

import math

import numpy as np

from .. import gaussian, signal
from .._validate import check_choice, check_real
from ._feedback import Feedback, check_number
from . import _feedback

__all__ = [
    "check_relu_q_map",
    "check_relu_c_map",
    "check_chi1_by_finite_difference",
    "check_critical_sigma_w2",
    "check_depth_scales",
    "check_gradient_ratio",
    "check_relu_power_law",
    "check_zero_stability",
]

# The points where the student's ReLU maps are compared with the package.
_Q_GRID = (0.0, 0.1, 0.5, 1.0, 2.5, 7.0)
_QMAP_PARAMS = ((1.0, 0.1), (2.0, 0.0), (1.5, 0.05), (3.0, 0.5))
_C_GRID = (-1.0, -0.6, -0.2, 0.0, 0.3, 0.7, 0.95, 1.0)
_CMAP_PARAMS = ((1.5, 0.05), (1.0, 0.1), (1.9, 0.05), (1.2, 0.3))     # ordered, finite q* > 0
_SMOOTH = ("tanh", "erf")


_as_float = _feedback._as_float       # a finite float, or None: the caller reports it


def _close(a, b, rtol):
    return a is not None and abs(a - b) <= rtol * abs(b)


def _off_by(value, expected):
    """'too large by a relative 0.012' (direction and size, never the expected value)."""
    rel = abs(value - expected) / max(abs(expected), 1e-300)
    return f"{'too large' if value > expected else 'too small'} by a relative {rel:.2g}", rel


def _graded(name, value, expected, rtol, hint=""):
    """check_number, with the reference value kept out of the returned Feedback."""
    fb = check_number(name, value, expected, rtol=rtol, hint=hint)
    return Feedback(fb.correct, fb.message, value, None, fb.relative_error)


def _evaluate(f, name, points):
    """Call the student's ``f`` at each argument tuple; (values, None) or (None, Feedback)."""
    if not callable(f):
        return None, Feedback(False, f"{name}: expected a function, got {type(f).__name__}.", f)
    out = []
    for args in points:
        try:
            v = f(*args)
        except Exception as err:                           # the student's code: report, never raise
            return None, Feedback(False, f"{name}: your function raised {type(err).__name__}: "
                                  f"{err} at arguments {args}.", f)
        fv = _as_float(v)
        if fv is None:
            return None, Feedback(False, f"{name}: your function returned {v!r} at arguments "
                                  f"{args}; expected one finite real number.", f)
        out.append(fv)
    return np.array(out), None


def _compare_function(name, f, points, expected, wrong_forms, *, rtol, atol, extra_hint=None):
    """Feedback for a student's function against expected values, naming a matching mistake."""
    values, fb = _evaluate(f, name, points)
    if fb is not None:
        return fb
    err = np.abs(values - expected)
    ok = err <= atol + rtol * np.abs(expected)
    rel = float(np.max(err / np.maximum(np.abs(expected), 1e-300)))
    if np.all(ok):
        return Feedback(True, f"{name}: correct at all {len(points)} test points (largest "
                        f"relative error {rel:.1e}, tolerance {rtol:g}).", f, None, rel)
    i = int(np.argmin(ok))
    off, _ = _off_by(values[i], expected[i])
    msg = (f"{name}: not yet — at arguments {points[i]} your function gives {values[i]:.10g}, "
           f"{off} ({int(np.sum(~ok))} of {len(points)} test points are off).")
    for wrong, hint in wrong_forms:
        if np.allclose(values, wrong, rtol=1e-6, atol=1e-9):
            msg += f" Hint: {hint}"
            break
    else:
        if extra_hint is not None:
            hint = extra_hint(values)
            if hint:
                msg += f" Hint: {hint}"
    return Feedback(False, msg, f, None, rel)


# --------------------------------------------------------------------------------------
# Exercise: the ReLU q-map and c-map
# --------------------------------------------------------------------------------------
def check_relu_q_map(f) -> Feedback:
    r"""The student's ``f(q, sigma_w2, sigma_b2)`` for the ReLU length map
    :math:`\nu(q)=\sigma_w^2\,\mathbb E[\mathrm{relu}(\sqrt q z)^2]+\sigma_b^2`, compared with
    :func:`mftheory.signal.q_map` on 24 points (q from 0 to 7, four
    :math:`(\sigma_w^2,\sigma_b^2)`), to 1e-9 relative (a closed form: only rounding differs)."""
    points = [(q, w, b) for w, b in _QMAP_PARAMS for q in _Q_GRID]
    q, w, b = np.array(points).T
    expected = np.array([signal.q_map("relu", qq, ww, bb) for qq, ww, bb in points])
    m2 = gaussian.second_moment("relu", q)                          # E[relu(sqrt(q) z)^2]
    wrong = [
        (w * 2 * m2 + b, "you forgot that ReLU kills half of the Gaussian mass: "
                         "E[relu(sqrt(q) z)^2] is not q (a factor 2)."),
        (w * m2, "the bias variance sigma_b2 is missing: nu(q) = sigma_w2 E[phi^2] + sigma_b2."),
        ((w * 2 * m2 + b) / 2, "only the weight term carries the factor 1/2; the bias term "
                               "sigma_b2 is added in full."),
        (w * w * m2 + b, "sigma_w2 is already the variance: do not square it."),
    ]
    return _compare_function("ReLU q-map", f, points, expected, wrong, rtol=1e-9, atol=1e-12)


def check_relu_c_map(f) -> Feedback:
    r"""The student's ``f(c, sigma_w2, sigma_b2)`` for the ReLU correlation map at :math:`q^*`,
    :math:`c\mapsto(\sigma_w^2\,\mathbb E[\mathrm{relu}(u_1)\mathrm{relu}(u_2)]+\sigma_b^2)/q^*`,
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
        ((2 * w * kern + b) / qs, "the arc-cosine kernel of degree 1 has 1/(2 pi), not 1/pi."),
        (np.array([signal.c_map_slope("relu", cc, ww, bb) for cc, ww, bb in points]),
         "this is the slope chi_c(c) = sigma_w2 E[phi'(u1) phi'(u2)] (degree-0 kernel), "
         "not the map itself."),
        (2 * gaussian.kernel("relu", 1.0, 1.0, c), "the bias makes the map depend on sigma_b2 "
                                                   "and q*: this is the sigma_b2 = 0 map."),
    ]

    def at_one(values):
        ones = [i for i, p in enumerate(points) if p[0] == 1.0]
        if not np.allclose(values[ones], 1.0, rtol=1e-8):
            return ("identical inputs stay identical: the map must return 1 at c = 1 "
                    "(normalise by q*).")
        return ""

    return _compare_function("ReLU c-map at q*", f, points, expected, wrong, rtol=1e-8,
                             atol=1e-10, extra_hint=at_one)


# --------------------------------------------------------------------------------------
# Exercise: chi_1 of erf in closed form, and the critical line of erf
# --------------------------------------------------------------------------------------
def _hyper(act, sigma_w2, sigma_b2):
    act = gaussian.check_activation(act)
    sw2 = check_real("sigma_w2", sigma_w2, low=0.0, low_inclusive=False)
    sb2 = check_real("sigma_b2", sigma_b2, low=0.0)
    return act, sw2, sb2


def _reference_chi1(act, sw2, sb2):
    return signal.fixed_point(act, sw2, sb2).chi1


def check_chi1_by_finite_difference(value, sigma_w2=2.0, sigma_b2=0.1, act="erf") -> Feedback:
    r""":math:`\chi_1=\sigma_w^2\mathbb E[\phi'(\sqrt{q^*}z)^2]`, the slope of the c-map at
    :math:`c=1`, at the exercise's point (default: erf at :math:`(\sigma_w^2,\sigma_b^2)=(2, 0.1)`),
    to 1e-5 relative (a one-sided difference with :math:`h=10^{-6}` is within about 1e-6).
    The hint names the common mistakes: the slope of the q-map, the slope at :math:`c^*`,
    :math:`\phi'` evaluated at :math:`q=0` or :math:`q=1`, a missing :math:`\sigma_w^2`, and for
    erf a wrong closed form of :math:`\mathbb E[e^{-2qz^2}]`."""
    act, sw2, sb2 = _hyper(act, sigma_w2, sigma_b2)
    fp = signal.fixed_point(act, sw2, sb2)
    expected = _reference_chi1(act, sw2, sb2)
    v = _as_float(value)
    hint = ("compute sigma_w2 E[phi'(sqrt(q*) z)^2] at the fixed point q*, and check it with "
            "(1 - C(1 - h)) / h for h about 1e-6 (the map is not defined beyond c = 1).")
    if v is not None and not _close(v, expected, 1e-5):
        wrong = [
            (fp.a, "that is nu'(q*) = a, the slope of the q-map at q*; chi1 is the slope of the "
                   "c-map at c = 1."),
            (sw2 * float(gaussian.derivative_second_moment(act, 0.0)),
             "that is sigma_w2 phi'(0)^2, the slope at q = 0; evaluate E[phi'^2] at q*."),
            (sw2 * float(gaussian.derivative_second_moment(act, 1.0)),
             "that is E[phi'^2] at q = 1; evaluate it at the fixed point q* of this point."),
            (expected / sw2, "multiply E[phi'(sqrt(q*) z)^2] by sigma_w2."),
        ]
        if fp.c_star < 1.0:
            wrong.append((fp.chi_c, "that is the slope at the other fixed point c*; chi1 is the "
                                    "slope at c = 1."))
        if act == "erf":
            wrong.append((sw2 * 4 / math.pi / math.sqrt(1 + 2 * fp.q_star),
                          "E[exp(-2 q z^2)] = 1/sqrt(1 + 4q), not 1/sqrt(1 + 2q)."))
            tanh_chi1 = signal.fixed_point("tanh", sw2, sb2).chi1
            wrong.append((tanh_chi1, "that is chi1 of tanh at this point; the exercise is "
                                     "about erf."))
        for w, h in wrong:
            if _close(v, w, 1e-4):
                hint = h
                break
        else:
            if abs(v - expected) <= 1e-2 * expected:
                hint = ("close: a one-sided difference has an O(h) error, and a very small h "
                        "loses digits to rounding; h about 1e-6 gives ~1e-6.")
    return _graded(f"chi1 of {act} at (sigma_w2, sigma_b2) = ({sw2:g}, {sb2:g})", value,
                   expected, 1e-5, hint)


def _reference_critical(act, sb2):
    return signal.critical_sigma_w2(act, sb2)


def check_critical_sigma_w2(value, sigma_b2=0.05, act="erf") -> Feedback:
    r"""The :math:`\sigma_w^2` where :math:`\chi_1=1` at the given :math:`\sigma_b^2` (default:
    erf at 0.05), to 1e-4 relative. The hint evaluates :math:`\chi_1` at the student's value and
    says on which side of the transition it lies."""
    act = gaussian.check_activation(act)
    sb2 = check_real("sigma_b2", sigma_b2, low=0.0)
    expected = _reference_critical(act, sb2)
    v = _as_float(value)
    hint = ""
    if v is not None and v > 0 and not _close(v, expected, 1e-4):
        zero_bias = _reference_critical(act, 0.0)
        if _close(v, zero_bias, 1e-3) and sb2 > 0:
            hint = ("that is the critical point at sigma_b2 = 0, where q* = 0; with a bias, "
                    "q* > 0 and E[phi'^2] at q* is smaller.")
        elif act != "tanh" and _close(v, _reference_critical("tanh", sb2), 1e-3):
            hint = "that is the tanh value; this exercise is about " + act + "."
        elif _close(v, 2.0, 1e-3) and act != "relu":
            hint = "2 is the ReLU (He) value; solve chi1(q*(sigma_w2), sigma_w2) = 1."
        else:
            chi1 = signal.fixed_point(act, v, sb2).chi1
            side = "ordered: increase sigma_w2" if chi1 < 1 else "chaotic: decrease sigma_w2"
            hint = (f"at your sigma_w2 = {v:.6g}, chi1 = {chi1:.6f} ({side}); remember that q* "
                    "moves with sigma_w2.")
    elif v is not None and v <= 0:
        hint = "sigma_w2 is a variance: it is positive."
    return _graded(f"critical sigma_w2 of {act} at sigma_b2 = {sb2:g}", value, expected, 1e-4,
                   hint)


# --------------------------------------------------------------------------------------
# Exercise: depth scales at a chaotic point
# --------------------------------------------------------------------------------------
def _reference_depth_scales(act, sw2, sb2):
    fp = signal.fixed_point(act, sw2, sb2)
    return fp.xi_q, fp.xi_c


def check_depth_scales(xi_q, xi_c, sigma_w2=3.5, sigma_b2=0.1, act="tanh") -> Feedback:
    r""":math:`\xi_q=-1/\ln\nu'(q^*)` and :math:`\xi_c=-1/\ln\chi_c(c^*)` at the exercise's point
    (default: tanh at (3.5, 0.1)), 1e-4 relative each; the message grades each number with its
    direction."""
    act, sw2, sb2 = _hyper(act, sigma_w2, sigma_b2)
    fp = signal.fixed_point(act, sw2, sb2)
    ref = _reference_depth_scales(act, sw2, sb2)
    name = f"(xi_q, xi_c) at (sigma_w2, sigma_b2) = ({sw2:g}, {sb2:g})"
    a, c = _as_float(xi_q), _as_float(xi_c)
    if a is None or c is None:
        bad = "xi_q" if a is None else "xi_c"
        got = xi_q if a is None else xi_c
        return Feedback(False, f"{name}: {bad} must be one finite real number, got {got!r}.",
                        (xi_q, xi_c))
    parts, rels, oks = [], [], []
    for label, x, e in (("xi_q", a, ref[0]), ("xi_c", c, ref[1])):
        if math.isinf(e):
            ok, rel = False, math.inf
            parts.append(f"{label}: this point has no finite {label}")
        else:
            off, rel = _off_by(x, e)
            ok = rel <= 1e-4
            parts.append(f"{label} correct" if ok else f"{label} {off}")
        oks.append(ok)
        rels.append(rel)
    hints = []
    if not all(oks):
        def inv_log(x):
            return math.inf if x == 1.0 else 1.0 / abs(math.log(x))

        if _close(a, ref[1], 1e-4) and _close(c, ref[0], 1e-4):
            hints.append("your two values are swapped: xi_q comes from the q-map, xi_c from the "
                         "c-map.")
        else:
            if not oks[1] and fp.c_star < 1.0 and _close(abs(c), inv_log(fp.chi1), 1e-3):
                hints.append("xi_c uses the slope at the attracting fixed point c*, chi_c(c*) = "
                             "sigma_w2 E[phi'(u1) phi'(u2)], not chi1 (the slope at c = 1, "
                             "which is unstable here).")
            if not oks[0] and _close(abs(a), inv_log(fp.chi1), 1e-3):
                hints.append("xi_q uses a = nu'(q*) = chi1 + sigma_w2 E[phi phi''], not chi1.")
            for x, e in ((a, ref[0]), (c, ref[1])):
                if math.isfinite(e) and _close(x, e * math.log(10), 1e-3):
                    hints.append("use the natural logarithm: xi = -1/ln(slope).")
                    break
            if a < 0 or c < 0:
                hints.append("a depth scale is positive: xi = -1/ln(slope) with 0 < slope < 1.")
            if (sw2, sb2, act) != (2.5, 0.05, "tanh"):
                other = _reference_depth_scales("tanh", 2.5, 0.05)
                if _close(a, other[0], 1e-3) or _close(c, other[1], 1e-3):
                    hints.append(f"these are the depth scales at (2.5, 0.05); this exercise is "
                                 f"at ({sw2:g}, {sb2:g}).")
    msg = f"{name}: " + ("correct" if all(oks) else "not yet") + " — " + "; ".join(parts)
    msg += " (tolerance 1e-4 relative each)."
    if hints:
        msg += " Hint: " + " ".join(hints)
    return Feedback(all(oks), msg, (xi_q, xi_c), None, float(max(rels)))


# --------------------------------------------------------------------------------------
# Exercise: gradients
# --------------------------------------------------------------------------------------
def check_gradient_ratio(value, sigma_w2, sigma_b2, act="tanh") -> Feedback:
    r"""A measured per-layer ratio :math:`|\delta_k|^2/|\delta_{k+1}|^2` against :math:`\chi_1`,
    within 3% (width-1000 networks and a few of them give about 1% spread)."""
    act, sw2, sb2 = _hyper(act, sigma_w2, sigma_b2)
    expected = _reference_chi1(act, sw2, sb2)
    v = _as_float(value)
    hint = ("measure far from the input (after a few xi_q layers), average the log-ratios over "
            "layers and networks, and use a wide network.")
    if v is not None and v > 0 and expected > 0:     # chi1 underflows to 0 at huge sigma_w2
        if _close(v, 1.0 / expected, 0.03):
            hint = ("your ratio is inverted: the theory is |delta_k|^2 = chi1 |delta_{k+1}|^2, "
                    "the layer nearer the input over the one above it.")
        elif _close(v, math.sqrt(expected), 0.01) or _close(v, 1 / math.sqrt(expected), 0.01):
            hint = "compare squared norms |delta|^2, not norms."
    return _graded(f"per-layer gradient ratio at ({sw2:g}, {sb2:g})", value, expected, 0.03,
                   hint)


# --------------------------------------------------------------------------------------
# Exercise: the power law of ReLU without bias
# --------------------------------------------------------------------------------------
def _reference_relu_power_law_limit() -> float:
    """lim k^2 (1 - c_k) for the ReLU c-map at sigma_b2 = 0, from the package's map.

    In eps = 1 - c the map is eps -> eps - A eps^1.5 (1 + O(eps)), so eps_k ~ 4/(A^2 k^2). A is
    read off the map at eps = 1e-3, 2e-3, 4e-3 with two Richardson steps (relative error of the
    limit about 4e-11, measured against the closed form).
    """
    def coefficient(eps):
        c = 1.0 - eps
        return (c - float(signal.c_map("relu", c, 2.0, 0.0, q=1.0))) / eps ** 1.5

    eps = 1e-3
    a1, a2, a4 = coefficient(eps), coefficient(2 * eps), coefficient(4 * eps)
    a = -(8 * a1 - 6 * a2 + a4) / 3          # the map lowers eps: eps' = eps - A eps^1.5
    return 4.0 / a ** 2


def check_relu_power_law(value) -> Feedback:
    r"""The exact limit of :math:`k^2(1-c_k)` for ReLU networks without bias, to 1e-7 relative:
    a closed form is expected. A value of :math:`k^2(1-c_k)` read off at any computable depth
    is too small (it approaches the limit from below with a :math:`\ln k/k` correction) and is
    rejected with a hint, as are the limits with a factor 2 or 4 off."""
    expected = _reference_relu_power_law_limit()
    v = _as_float(value)
    hint = ("expand the map near c = 1: eps' = eps - A eps^(3/2) + ..., and solve the flow "
            "d eps / dk = -A eps^(3/2).")
    if v is not None and not _close(v, expected, 1e-7):
        ratio = v / expected
        if any(abs(ratio - r) <= 1e-3 for r in (2.0, 0.5, 4.0, 0.25)):
            hint = ("off by a factor 2 or 4: the flow d eps/dk = -A eps^(3/2) gives "
                    "eps_k ~ 4 / (A^2 k^2).")
        elif abs(ratio - 1) <= 1e-5:
            hint = "close: give the exact value (a closed form), to at least 8 significant digits."
        elif 0.7 < ratio < 1:
            hint = ("k^2 (1 - c_k) approaches its limit slowly from below (a log(k)/k "
                    "correction), so no finite depth gives the limit to 1e-7; derive it from "
                    "the expansion of the map instead of reading it off.")
    return _graded("lim k^2 (1 - c_k) for ReLU without bias", value, expected, 1e-7, hint)


# --------------------------------------------------------------------------------------
# Exercise: when does the length collapse to zero?
# --------------------------------------------------------------------------------------
def _reference_zero_threshold(act):
    return signal.critical_sigma_w2(act, 0.0)


def check_zero_stability(value, act="erf") -> Feedback:
    r"""The largest :math:`\sigma_w^2` for which :math:`q=0` attracts the lengths of a bias-free
    network (default: erf), to 1e-6 relative. The hint names the usual slips with
    :math:`\nu'(0)=\sigma_w^2\phi'(0)^2`: a missing square, an inverted condition, the tanh or
    ReLU value."""
    act = check_choice("activation", gaussian.check_activation(act), _SMOOTH)
    expected = _reference_zero_threshold(act)
    v = _as_float(value)
    hint = ("q = 0 attracts when the slope of the q-map there, nu'(0), is below 1; compute "
            "nu'(0) from the expansion of phi near 0.")
    if v is not None and not _close(v, expected, 1e-6):
        d0 = 1.0 / math.sqrt(expected)                      # phi'(0)
        wrong = [
            (1.0 / d0, "nu'(0) = sigma_w2 phi'(0)^2: square phi'(0)."),
            (1.0 / expected, "inverted: nu'(0) = sigma_w2 phi'(0)^2 < 1 means "
                             "sigma_w2 < 1 / phi'(0)^2."),
            (2.0, "2 is the ReLU value (He's initialisation)."),
        ]
        if act == "erf":
            wrong += [(1.0, "1 is the tanh value: phi'(0) = 1 for tanh but not for erf."),
                      (math.pi / 2, "phi'(0) = 2/sqrt(pi) for erf, so phi'(0)^2 = 4/pi.")]
        for w, h in wrong:
            if _close(v, w, 1e-4):
                hint = h
                break
    return _graded(f"largest sigma_w2 with q = 0 stable ({act}, sigma_b2 = 0)", value, expected,
                   1e-6, hint)

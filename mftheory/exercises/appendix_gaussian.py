r"""Checks for the exercises of the appendix on Gaussian integrals.

Five exercises, each on something the appendix does not state:

* :func:`check_theta_mixed_moment`: the mixed moment :math:`\mathbb E[\Theta(u_1)\,u_2]` in
  closed form, by conditioning on :math:`u_1`;
* :func:`check_relu_kernel_slope`: the slope :math:`\partial_c\mathbb E[\mathrm{relu}(u_1)
  \mathrm{relu}(u_2)]` away from :math:`c=0` and with :math:`q_1\ne q_2`;
* :func:`check_price_slope`: Price's theorem checked numerically, a finite-difference slope of
  :math:`\mathbb E[\tanh(u_1)\,\mathrm{erf}(u_2)]` at a point of the student's choosing;
* :func:`check_mc_sample_size`: the Monte Carlo sample size that reaches a target standard
  error for the tanh kernel;
* :func:`check_mehler_terms`: how many terms of Mehler's series the ReLU kernel needs at
  :math:`c=1`, where the kink makes it converge slowly.

Conventions are those of :mod:`mftheory.gaussian`: :math:`u_1=\sqrt{q_1}s_1`,
:math:`u_2=\sqrt{q_2}(cs_1+\sqrt{1-c^2}s_2)` with independent standard normals
:math:`s_1,s_2`; :math:`\Theta` is the Heaviside step.

Every reference value is computed in a private ``_reference_...`` helper (closed forms derived
here, or quadratures of :mod:`mftheory.gaussian` that the student has to assemble), never
printed. A check returns a :class:`~mftheory.exercises.Feedback` for any answer object (a
string, ``None``, a complex number, NaN, an array, a tensor): when the answer is wrong it says
only the direction and a coarse band of the error (for a whole-number answer not even that,
which would allow a bisection), plus a hint when the answer matches a typical mistake; the
feedback never carries the expected value, and ``relative_error`` is set only for a correct
answer. The parameters of :func:`check_price_slope` (the student's point)
are validated and raise ``ValueError``.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np

from .. import gaussian
from .._validate import check_real
from ._feedback import Feedback, _as_float, _band, answers_as_data

__all__ = [
    "check_theta_mixed_moment",
    "check_relu_kernel_slope",
    "check_price_slope",
    "check_mc_sample_size",
    "check_mehler_terms",
]

#: The parameter points of the exercises (stated in the book).
MIXED_POINT = (3.0, 0.5, -0.3)          # (q1, q2, c) of E[Theta(u1) u2]
SLOPE_POINT = (3.0, 0.75, -0.6)         # (q1, q2, c) of the ReLU kernel's slope
MC_POINT = (2.0, 1.0, 0.8)              # (q1, q2, c) of the tanh kernel
MC_TARGET_SE = 1e-4
MEHLER_RTOL = 1e-3


def _grade(name, answer, expected, rtol, wrongs=(), *, integer=False):
    """A Feedback for a scalar ``answer`` against ``expected`` (relative tolerance ``rtol``;
    exact when ``integer``). A wrong answer gets its direction and a coarse band (for a whole
    number neither, which would allow a bisection) and, if it matches one of ``wrongs`` (pairs
    of a value and a hint), that hint; never the value."""
    v = _as_float(answer)
    if v is None:
        return Feedback(False, f"{name}: expected one finite real number, got "
                        f"{_describe(answer)}.", answer)
    if integer:
        if v != round(v):
            return Feedback(False, f"{name}: expected a whole number.", answer)
        ok = v == expected
    else:
        ok = abs(v - expected) <= rtol * abs(expected)
    rel = abs(v - expected) / abs(expected)
    if ok:
        tol = "exact" if integer else f"relative error {rel:.1e}, tolerance {rtol:g}"
        return Feedback(True, f"{name}: correct ({tol}).", answer, None, rel)
    direction = "too large" if v > expected else "too small"
    if integer:          # no direction for a whole number: it would allow a bisection
        msg = f"{name}: not yet (graded exactly)."
    else:
        msg = (f"{name}: not yet — your value is {direction} {_band(rel)}; the tolerance is "
               f"{rtol:g} relative.")
    for value, hint in wrongs:
        close = (v == value) if integer else (
            math.isfinite(value) and abs(v - value) <= max(rtol, 1e-9) * abs(value)
            if value != 0 else v == 0)
        if close:
            msg += f" Hint: {hint}"
            break
    return Feedback(False, msg, answer)


def _describe(answer):
    if answer is None:
        return "None"
    if isinstance(answer, (str, bytes)):
        return "a string"
    if isinstance(answer, (bool, np.bool_)):
        return "a boolean"
    if isinstance(answer, (complex, np.complexfloating)):
        return "a complex number"
    shape = getattr(answer, "shape", None)
    if shape is not None and shape != ():
        return f"an array of shape {tuple(shape)}"
    if isinstance(answer, (list, tuple)):
        return f"a {type(answer).__name__} of length {len(answer)}"
    if isinstance(answer, (float, np.floating)):
        return "a value that is not finite"
    return f"an object of type {type(answer).__name__}"


# --------------------------------------------------------------------------------------
# 1. A mixed moment of the step and the identity
# --------------------------------------------------------------------------------------
def _reference_theta_mixed(q1, q2, c):
    # E[u2 | s1] = sqrt(q2) c s1, and E[Theta(s1) s1] = 1/sqrt(2 pi): independent of q1.
    return c * math.sqrt(q2) / math.sqrt(2 * math.pi)


@answers_as_data
def check_theta_mixed_moment(answer) -> Feedback:
    r""":math:`\mathbb E[\Theta(u_1)\,u_2]` at :math:`(q_1,q_2,c)=(3,\,0.5,\,-0.3)`, relative
    tolerance 1e-6 (a closed form)."""
    q1, q2, c = MIXED_POINT
    ref = _reference_theta_mixed(q1, q2, c)
    s = math.sqrt(2 * math.pi)
    wrongs = [
        (-ref, "check the sign: u2 is negatively correlated with u1 here."),
        (0.0, "that would hold for independent u1, u2 (c = 0); condition on s1 instead."),
        (c * math.sqrt(q1 * q2) / s, "the step does not care about the scale of u1: "
                                     "Theta(sqrt(q1) s1) = Theta(s1), so q1 drops out."),
        (c * math.sqrt(q2 / q1) / s, "the step does not care about the scale of u1: "
                                     "Theta(sqrt(q1) s1) = Theta(s1), so q1 drops out."),
        (c * q2 / s, "u2 = sqrt(q2)(c s1 + ...): the standard deviation, not the variance."),
        (c * math.sqrt(q2) / 2, "E[Theta(z) z] is the integral of z over z > 0 against the "
                                "Gaussian density; it is not 1/2."),
        (c * math.sqrt(q2) / (2 * s), "E[Theta(z) z] = E[|z|]/2, and E[|z|] = sqrt(2/pi)."),
        (math.sqrt(1 - c * c) * math.sqrt(q2) / s, "only the part c s1 of u2 correlates with "
                                                   "Theta(s1): the factor is c."),
    ]
    return _grade(f"E[Theta(u1) u2] at (q1, q2, c) = {MIXED_POINT}", answer, ref, 1e-6, wrongs)


# --------------------------------------------------------------------------------------
# 2. The slope of the ReLU kernel
# --------------------------------------------------------------------------------------
def _reference_relu_slope(q1, q2, c):
    # d/dc of the arc-cosine kernel: sqrt(1-c^2)' + ((pi - arccos c) c)' = pi - arccos c.
    return math.sqrt(q1 * q2) * (math.pi - math.acos(c)) / (2 * math.pi)


@answers_as_data
def check_relu_kernel_slope(answer) -> Feedback:
    r""":math:`\partial_c\,\mathbb E[\mathrm{relu}(u_1)\mathrm{relu}(u_2)]` at
    :math:`(q_1,q_2,c)=(3,\,0.75,\,-0.6)`, relative tolerance 1e-6 (a closed form)."""
    q1, q2, c = SLOPE_POINT
    ref = _reference_relu_slope(q1, q2, c)
    root = math.sqrt(q1 * q2)
    kernel = root / (2 * math.pi) * (math.sqrt(1 - c * c) + (math.pi - math.acos(c)) * c)
    wrongs = [
        (ref / root, "Price's theorem has the factor sqrt(q1 q2) in front of "
                     "E[Theta(u1) Theta(u2)]."),
        (ref / root * q1 * q2, "the factor is sqrt(q1 q2), not q1 q2."),
        (root / 4, "that is the slope at c = 0; evaluate at c = -0.6."),
        (kernel, "that is the kernel itself, not its derivative in c."),
        (root * math.acos(c) / (2 * math.pi), "that is the slope at c = +0.6: "
                                              "E[Theta Theta] = (pi - arccos c)/(2 pi)."),
        (-ref, "the kernel increases with c (its slope is sqrt(q1 q2) times a probability)."),
        (2 * ref, "E[Theta(u1) Theta(u2)] = (pi - arccos c)/(2 pi): do not drop the 2."),
    ]
    return _grade(f"slope of the ReLU kernel at (q1, q2, c) = {SLOPE_POINT}", answer, ref,
                  1e-6, wrongs)


# --------------------------------------------------------------------------------------
# 3. Price's theorem, numerically
# --------------------------------------------------------------------------------------
def _dtanh(u):
    t = np.tanh(u)
    return 1.0 - t * t


def _derf(u):
    return 2.0 / math.sqrt(math.pi) * np.exp(-np.square(u))


@lru_cache(maxsize=64)
def _reference_price(q1, q2, c):
    # Price's theorem: d/dc E[tanh(u1) erf(u2)] = sqrt(q1 q2) E[tanh'(u1) erf'(u2)]
    return math.sqrt(q1) * math.sqrt(q2) * gaussian.expect2(_dtanh, _derf, q1, q2, c)


def _check_point(q1, q2, c):
    q1 = check_real("q1", q1, low=0.01, high=20.0)
    q2 = check_real("q2", q2, low=0.01, high=20.0)
    c = check_real("c", c, low=-0.99, high=0.99)
    return q1, q2, c


@answers_as_data
def check_price_slope(slope, q1=1.0, q2=0.5, c=0.3) -> Feedback:
    r"""A numerical derivative :math:`\partial_c\,\mathbb E[\tanh(u_1)\,\mathrm{erf}(u_2)]` at the
    point ``(q1, q2, c)`` (variances in [0.01, 20], correlation in [-0.99, 0.99]; default
    (1, 0.5, 0.3)), relative tolerance 1e-5: a central difference on the accurate quadrature
    reaches it, a Monte Carlo estimate does not."""
    q1, q2, c = _check_point(q1, q2, c)
    ref = _reference_price(q1, q2, c)
    root = math.sqrt(q1 * q2)
    value = gaussian.expect2(np.tanh, gaussian.activation("erf").phi, q1, q2, c)
    wrongs = [
        (ref / root, "that is E[tanh'(u1) erf'(u2)] alone; Price's theorem multiplies it by "
                     "sqrt(q1 q2)."),
        (ref * root, "the factor is sqrt(q1 q2), not q1 q2."),
        (root * gaussian.expect2(_derf, _dtanh, q1, q2, c),
         "tanh acts on u1 (variance q1) and erf on u2 (variance q2): you swapped them."),
        (value, "that is E[tanh(u1) erf(u2)] itself, not its derivative in c."),
        (-ref, "check the sign of your difference quotient: (E(c + h) - E(c - h)) / (2 h)."),
    ]
    return _grade(f"d/dc E[tanh(u1) erf(u2)] at (q1, q2, c) = ({q1:g}, {q2:g}, {c:g})", slope,
                  ref, 1e-5, wrongs)


# --------------------------------------------------------------------------------------
# 4. A Monte Carlo sample size
# --------------------------------------------------------------------------------------
def _tanh2(u):
    return np.tanh(u) ** 2


@lru_cache(maxsize=1)
def _tanh_moments(q1, q2, c):
    k = gaussian.expect2(np.tanh, np.tanh, q1, q2, c)
    m2 = gaussian.expect2(_tanh2, _tanh2, q1, q2, c)
    return k, m2


def _reference_mc_size(q1, q2, c, se):
    k, m2 = _tanh_moments(q1, q2, c)
    return (m2 - k * k) / se**2


@answers_as_data
def check_mc_sample_size(n) -> Feedback:
    r"""The number of samples :math:`n` at which the standard error of the Monte Carlo mean of
    :math:`\tanh(u_1)\tanh(u_2)` at :math:`(q_1,q_2,c)=(2,1,0.8)` is :math:`10^{-4}`, relative
    tolerance 0.02 (so that a variance estimated from :math:`10^6` samples is good enough)."""
    q1, q2, c = MC_POINT
    se = MC_TARGET_SE
    ref = _reference_mc_size(q1, q2, c, se)
    k, m2 = _tanh_moments(q1, q2, c)
    var = m2 - k * k
    var0 = gaussian.second_moment("tanh", q1) * gaussian.second_moment("tanh", q2)
    wrongs = [
        (m2 / se**2, "the variance of the product is E[X^2] - E[X]^2: subtract the square of "
                     "the mean."),
        (var / se, "the standard error is sqrt(Var/n): square the target."),
        (math.sqrt(var) / se**2, "the standard error is sqrt(Var/n): use the variance, not "
                                 "the standard deviation."),
        (math.sqrt(var) / se, "that is sqrt(n); the answer is the number of samples."),
        (var0 / se**2, "that is the variance for independent inputs (c = 0); at c = 0.8 the "
                       "product is correlated with itself differently."),
        (var / 1e-6, "the target standard error is 1e-4, so n = Var / 1e-8."),
    ]
    return _grade("Monte Carlo sample size for a standard error 1e-4", n, ref, 0.02, wrongs)


# --------------------------------------------------------------------------------------
# 5. Mehler's series at c = 1
# --------------------------------------------------------------------------------------
def _relu_hermite_squares(n):
    """a_k^2 for relu, k < n: a_0 = 1/sqrt(2 pi), a_1 = 1/2, odd k >= 3 zero, and for even
    k >= 2, a_k^2 = ((k-3)!!)^2 / (2 pi k!) (from the integral of He_k over z > 0)."""
    a2 = np.zeros(n)
    a2[0], a2[1] = 1 / (2 * math.pi), 0.25
    val, k = 1 / (4 * math.pi), 2
    while k < n:
        a2[k] = val
        val *= (k - 1) ** 2 / ((k + 1) * (k + 2))
        k += 2
    return a2


@lru_cache(maxsize=4)
def _reference_mehler_terms(rtol, c=1.0):
    a2 = _relu_hermite_squares(4000)
    exact = (math.sqrt(1 - c * c) + (math.pi - math.acos(c)) * c) / (2 * math.pi)
    partial = np.cumsum(a2 * c ** np.arange(a2.size))           # partial[K-1]: K terms
    ok = np.abs(exact - partial) <= rtol * exact
    return int(np.argmax(ok)) + 1


@answers_as_data
def check_mehler_terms(K) -> Feedback:
    r"""The smallest number of terms :math:`K` (indices :math:`k=0,\dots,K-1`) of Mehler's
    series :math:`\sum_k a_k^2c^k` for the ReLU kernel at :math:`q_1=q_2=1`, :math:`c=1` whose
    sum is within a relative :math:`10^{-3}` of the exact :math:`1/2`; graded exactly."""
    ref = _reference_mehler_terms(MEHLER_RTOL)
    wrongs = [
        (ref - 1, "that is the largest index k kept; the question asks for the number of "
                  "terms, k = 0 .. K - 1."),
        (ref + 1, "the coefficients of odd k >= 3 vanish: adding that term changes nothing, "
                  "so it is not needed."),
        (_reference_mehler_terms(2 * MEHLER_RTOL), "the tolerance is relative to the exact "
                                                   "value 1/2: an absolute error of 5e-4."),
        (_reference_mehler_terms(MEHLER_RTOL, 0.9), "that is the count at c = 0.9, where the "
                                                    "series converges geometrically."),
    ]
    return _grade("number of Mehler terms for the ReLU kernel at c = 1", K, ref, 0.0, wrongs,
                  integer=True)

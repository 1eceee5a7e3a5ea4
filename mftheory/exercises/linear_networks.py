r"""Checks for the exercises of the chapter on deep linear networks.

Each check takes the student's answer as data: a wrong, non-numeric, non-finite or wrongly
shaped answer gives a not-correct :class:`~mftheory.exercises.Feedback`, never an exception.
The reference values are computed by private ``_reference_*`` functions (nothing is typed in)
and the feedback never carries them; when an answer matches a typical mistake, the message says
which one.
"""

from __future__ import annotations

import math

import numpy as np

from .. import linear
from ._feedback import Feedback

__all__ = [
    "check_stuck_weight",
    "check_origin_hessian",
    "check_max_step",
    "check_hardt_ma_limit",
    "check_plateau_time",
    "check_arc_midpoint",
]


def _as_array(answer, shape):
    """The answer as a float array of ``shape``, or a message saying why it is not one."""
    if answer is None or isinstance(answer, (str, bytes, bool)):
        return None, f"expected a number, got {type(answer).__name__}"
    try:
        raw = np.asarray(answer)
    except Exception:
        return None, "expected a number"
    if raw.dtype.kind == "c":
        return None, "expected a real number, got a complex one"
    if raw.dtype.kind not in "iuf":
        return None, f"expected a number, got {type(answer).__name__}"
    a = raw.astype(float)
    if a.shape != shape:
        what = "one number" if shape == () else f"an array of shape {shape}"
        return None, f"expected {what}, got shape {a.shape}"
    if not np.all(np.isfinite(a)):
        return None, "your answer contains inf or nan"
    return a, None


def _check(name, answer, expected, *, rtol, mistakes=(), hint=""):
    """Compare with ``expected``; name a matching mistake; never reveal ``expected``."""
    expected = np.asarray(expected, dtype=float)
    a, problem = _as_array(answer, expected.shape)
    if problem:
        return Feedback(False, f"{name}: {problem}.", answer)
    scale = np.maximum(np.abs(expected), 1e-300)
    with np.errstate(all="ignore"):                  # huge answers: rel = inf is fine
        rel = float(np.max(np.abs(a - expected) / scale))
    if rel <= rtol:
        return Feedback(True, f"{name}: correct (relative error {rel:.1e}, tolerance {rtol:g}).",
                        answer, None, rel)
    for wrong, explanation in mistakes:
        wrong = np.asarray(wrong, dtype=float)
        with np.errstate(all="ignore"):
            match = wrong.shape == a.shape and np.all(
                np.abs(a - wrong) <= rtol * np.maximum(np.abs(wrong), 1e-300))
        if match:
            return Feedback(False, f"{name}: not yet — {explanation}", answer, None, rel)
    msg = f"{name}: not yet — off by a relative {rel:.2g} (tolerance {rtol:g})."
    if hint:
        msg += f" Hint: {hint}"
    return Feedback(False, msg, answer, None, rel)


# ----------------------------------------------------------------------------- references
def _reference_stuck_weight():
    return linear.scalar_gradient_flow(-2.0, 2, 1.0, 1.0)


def _reference_origin_hessian():
    H = linear.hessian([np.zeros((2, 2)), np.zeros((2, 2))], np.diag([3.0, 1.0]))
    return np.linalg.eigvalsh(H)


def _reference_max_step():
    return linear.max_stable_step(3.0, 4)


def _reference_hardt_ma_limit():
    return linear.hardt_ma_limit(np.array([[0.0, -3.0], [1.0, 0.0]]))


def _reference_plateau_time():
    return linear.time_to_learn(2.0, 3, 0.1)


def _reference_arc_midpoint():
    c = math.cos(math.pi / 4)
    return np.array([2 * c, 2 * c**2])      # mean m (c + s), variance c^2 + s^2, m = 1


# ----------------------------------------------------------------------------- checks
def check_stuck_weight(value) -> Feedback:
    """The weight w(1) of the balanced depth-2 flow with target r = -2 from w0 = 1."""
    ref = _reference_stuck_weight()
    return _check("w(1) for K = 2, r = -2", value, ref, rtol=1e-6, mistakes=[
        (ref**2, "that is w(1)^2 = u(1), the product; take the square root."),
        (-ref, "the weight keeps the sign of w0 = 1."),
        (linear.scalar_gradient_flow(-1.0, 2, 1.0), "that is the value for r = -1."),
        (linear.scalar_gradient_flow(-2.0, 2, 0.5), "that is w at t = 1/2: the exponent is -2rt."),
        (math.sqrt(2.0), "sqrt(|r|) is not reached: for r < 0 the weight decays to 0."),
    ], hint="u = w^2 solves u' = 2u(r - u).")


def check_origin_hessian(eigenvalues) -> Feedback:
    """The 8 eigenvalues (any order) of the Hessian at W = 0 for K = 2, widths (2, 2, 2),
    R = diag(3, 1), Sigma = 1."""
    name = "Hessian eigenvalues at the origin"
    ref = _reference_origin_hessian()
    shape = np.shape(eigenvalues) if _numeric(eigenvalues) else ()
    a, problem = _as_array(eigenvalues, shape)
    if problem:
        return Feedback(False, f"{name}: {problem}.", eigenvalues)
    if a.ndim != 1 or a.size != 8:
        msg = f"{name}: expected 8 numbers (one per weight), got shape {a.shape}."
        if a.shape == (4,) and np.allclose(np.sort(a), np.unique(ref), rtol=1e-8):
            msg += " Each of these values appears once per hidden unit."
        return Feedback(False, msg, eigenvalues)
    return _check(name, np.sort(a), ref, rtol=1e-8, mistakes=[
        (ref / 2, "half the right values: the second derivative of -tr(R^T W2 W1) in the "
                  "mixed direction is -R_ik, and the eigenvalues of [[0, -r], [-r, 0]] are +-r."),
        (2 * ref, "twice the right values: the loss has the factor 1/2."),
        (np.zeros(8), "the Hessian vanishes at the origin only for depth >= 3."),
    ], hint="each hidden unit contributes the eigenvalues of [[0, -R^T], [-R, 0]].")


def _numeric(answer):
    if answer is None or isinstance(answer, (str, bytes)):
        return False
    try:
        return np.asarray(answer).dtype.kind in "iufb"
    except Exception:
        return False


def check_max_step(value) -> Feedback:
    """The largest locally stable step of GD on the balanced scalar network, K = 4, r = 3."""
    ref = _reference_max_step()
    return _check("largest stable step for K = 4, r = 3", value, ref, rtol=1e-6, mistakes=[
        (ref / 2, "that is 1/(K r^(2-2/K)): the slope 1 - alpha lambda must stay above -1, "
                  "not above 0."),
        (linear.max_stable_step(3.0, 3), "that is the limit for depth 3."),
        (2 / 3, "that is 2/r, the limit for the loss (w - r)^2 / 2 of depth 1 scaled by r."),
        (2.0 / (4 * 3.0 ** 2), "the curvature at the minimum is K r^(2-2/K), not K r^2."),
        (2.0 / 4, "the curvature at the minimum is K r^(2-2/K), not K."),
    ], hint="linearise w -> w + alpha w^(K-1) (r - w^K) at w* = r^(1/K).")


def check_hardt_ma_limit(value) -> Feedback:
    """lim K max|V_k| for A = [[0, -3], [1, 0]]."""
    ref = _reference_hardt_ma_limit()
    return _check("limit of K max|V_k|", value, ref, rtol=1e-6, mistakes=[
        (math.log(3.0), "that is the stretch part max|ln lambda_i| alone; the rotation part "
                        "is larger."),
        (2 * ref, "that is twice the limit: the rotation angle of O is pi/2 (not pi), and the "
                  "limit is for K, the order of the roots (the factorisation has 2K factors)."),
        (3.0, "the singular values enter through their logarithms."),
    ], hint="polar decomposition A = B O, then max(max|ln lambda_i|, max phi_j).")


def check_plateau_time(value) -> Feedback:
    """Time for the product of a depth-3 balanced flow (s = 2, a0 = 0.1) to reach s/2."""
    ref = _reference_plateau_time()
    q0 = 0.1**3
    return _check("time to learn half of the mode", value, ref, rtol=1e-5, mistakes=[
        (q0 ** (2 / 3 - 1) / (1 * 2.0), "that is the small-q0 approximation; integrate exactly."),
        (linear.time_to_learn(2.0, 2, q0 ** 0.5), "that is the time for depth 2 from the same "
                                                  "product."),
        (linear.time_to_learn(2.0, 3, 0.1, fraction=0.99), "that is the time to 99 %, not "
                                                           "to one half."),
        (linear.scalar_flow_time(2.0, 3, 2.0 ** (1 / 3) / 2, 0.1),
         "that is the time for the weight, not the product, to reach half its final value."),
    ], hint="t = integral from a0 to (s/2)^(1/3) of dw / (w^2 (s - w^3)).")


def check_arc_midpoint(mean, variance) -> Feedback:
    """Mean and variance of the arc midpoint (X + Y)/sqrt(2) for X, Y ~ N(1, 1)."""
    ref = _reference_arc_midpoint()
    pair = _pair(mean, variance)
    if isinstance(pair, Feedback):
        return pair
    return _check("(mean, variance) of the arc midpoint", pair, ref, rtol=1e-6, mistakes=[
        ([1.0, 1.0], "the arc preserves the variance, but not a nonzero mean."),
        ([1.0, 0.5], "those are the linear midpoint's mean and variance."),
        ([math.sqrt(2), 2.0], "Var(aX + bY) = (a^2 + b^2) Var X with a = b = cos(pi/4)."),
        ([0.0, 1.0], "the mean of X and Y is 1, not 0."),
    ], hint="the midpoint is cos(pi/4) X + sin(pi/4) Y.")


def _pair(mean, variance):
    out = []
    for name, x in (("mean", mean), ("variance", variance)):
        a, problem = _as_array(x, ())
        if problem:
            return Feedback(False, f"(mean, variance) of the arc midpoint: {name}: {problem}.",
                            (mean, variance))
        out.append(float(a))
    return out

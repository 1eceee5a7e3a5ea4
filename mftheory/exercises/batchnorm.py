r"""Checks for the exercises of the two chapters on batch normalization.

The mean-field theory chapter uses the first seven checks; the chapter on training
(trainable depth, remedies, one SGD step) uses the last four, which
:mod:`mftheory.exercises.batchnorm_training` re-exports under that chapter's name.

Each check takes the student's answer as data (a wrong, non-numeric or non-finite answer gives
a not-correct :class:`~mftheory.exercises.Feedback`, never an exception), compares it with a
reference computed by :mod:`mftheory.batchnorm` in a private helper, and, when the answer
matches a typical mistake, says which one. The feedback never carries the expected value.
Bad *parameters* (a batch size below 4, ...) raise ``ValueError`` as everywhere in the package.
"""

from __future__ import annotations

import functools
import math

import numpy as np
from scipy import optimize

from .. import batchnorm as bn
from .._validate import check_positive_int, check_real
from ._feedback import Feedback
from . import _feedback

__all__ = [
    "check_relu_offdiagonal",
    "check_linear_backward_m",
    "check_relu_rate",
    "check_trainable_depth",
    "check_tanh_gamma",
    "check_large_batch_rates",
    "check_alpha_transition",
    "check_min_batch_for_depth",
    "check_boundary_gradient_ratio",
    "check_shift_for_gradient_ratio",
    "check_lr_for_weight_growth",
]


def _as_array(x):
    """``x`` as a float array, or None for anything that is not plainly numbers (strings,
    booleans, tensors, objects whose conversion fails in any way)."""
    if isinstance(x, (bool, np.bool_, str, bytes)) or type(x).__module__.startswith("torch"):
        return None
    try:
        return np.asarray(x, dtype=float)
    except Exception:                       # the student's object: report, never raise
        return None


_as_float = _feedback._as_float       # a finite float, or None: the caller reports it


_band = _feedback._band                # a coarse band of a wrong answer's error


def _verdict(name, answer, expected, rtol, hint=""):
    """A Feedback that reveals neither the expected value nor the exact error of a wrong
    answer (only a coarse band and the direction); ``relative_error`` is set when correct."""
    a = np.asarray(expected, dtype=float)
    v = _as_array(answer)
    if isinstance(answer, (list, tuple)) and a.ndim == 1 and len(answer) == a.size:
        parts = [_as_array(x) for x in answer]
        v = None if any(x is None or x.ndim != 0 for x in parts) else np.array(
            [float(x) for x in parts])
    if v is None or v.shape != a.shape:
        what = "a number" if a.ndim == 0 else f"{a.size} numbers"
        try:
            shown = repr(answer)[:60]
        except Exception:
            shown = f"an object of type {type(answer).__name__}"
        return Feedback(False, f"{name}: expected {what}, got {shown}.", answer)
    if not np.all(np.isfinite(v)):
        return Feedback(False, f"{name}: your answer contains inf or nan.", answer)
    err = np.abs(v - a) / np.abs(a)
    if np.all(err <= rtol):
        rel = float(err.max())
        tolerance = "exact" if rtol == 0 else f"relative error {rel:.1e}, tolerance {rtol:g}"
        return Feedback(True, f"{name}: correct ({tolerance}).", answer, None, rel)
    i = int(np.argmax(err))
    which = "" if a.ndim == 0 else f" (entry {i})"
    direction = "too large" if v.ravel()[i] > a.ravel()[i] else "too small"
    if rtol == 0:        # a whole-number answer: no direction, which would allow a bisection
        msg = f"{name}: not yet (graded exactly)."
    else:
        msg = (f"{name}: not yet — your value{which} is {direction} "
               f"{_band(float(err.max()))}; the tolerance is {rtol:g} relative.")
    if hint:
        msg += f" Hint: {hint}"
    return Feedback(False, msg, answer)


def _compare(name, answer, expected, rtol, wrongs):
    """:func:`_verdict`, plus the hint of the first typical mistake the answer matches."""
    hint = ""
    v = _as_float(answer)
    if v is not None and not abs(v - expected) <= rtol * abs(expected):
        for value, text in wrongs:
            if math.isfinite(value) and abs(v - value) <= max(rtol, 1e-6) * abs(value):
                hint = text
                break
    return _verdict(name, answer, expected, rtol, hint)


def _check_B(B, minimum=4):
    return check_positive_int("B", B, minimum=minimum)


# --------------------------------------------------------------------------------------
# 1. The ReLU fixed point
# --------------------------------------------------------------------------------------
def _reference_relu_offdiagonal(B):
    return float(bn.bsb1_fixed_point("relu", B)[0, 1])


def check_relu_offdiagonal(value, B=6) -> Feedback:
    r"""The off-diagonal entry of the ReLU BSB1 fixed point at batch size ``B`` (default 6),
    relative tolerance 1e-6 (a closed form)."""
    B = _check_B(B)
    ref = _reference_relu_offdiagonal(B)
    j1 = bn.arccos_kernel
    wrongs = [
        (2 * ref, "that is J_1(rho) itself: the diagonal is 1/2, so the off-diagonal is "
                  "(1/2) J_1(rho)."),
        (0.5 * j1(0.0), "that is the large-batch limit 1/(2 pi): at finite B the two "
                        "coordinates of x are correlated, with rho = -1/(B-1)."),
        (0.5 * j1(-1.0 / B), "the correlation of two BN outputs is -1/(B-1), not -1/B "
                             "(x lies in the (B-1)-dimensional subspace orthogonal to 1)."),
        (-1.0 / (B - 1), "that is E[x_1 x_2] before the ReLU; apply the arc-cosine kernel."),
    ]
    return _compare(f"ReLU Sigma*_12 at B = {B}", value, ref, 1e-6, wrongs)


# --------------------------------------------------------------------------------------
# 2. The backward M eigenvalue of a linear BN network
# --------------------------------------------------------------------------------------
def _reference_linear_backward_m(B):
    # Derived in the solution; checked against Monte Carlo in the tests.
    return 1.0 + 2.0 / ((B - 3) * (B + 1))


def check_linear_backward_m(value, B=8) -> Feedback:
    r"""The eigenvalue of the backward (gradient-covariance) operator of a linear BN network
    on the M eigenspace, at batch size ``B`` (default 8), relative tolerance 1e-6."""
    B = _check_B(B)
    ref = _reference_linear_backward_m(B)
    wrongs = [
        ((B - 2) / (B - 3), "that is lambda_G, the eigenvalue on the G direction; on M the "
                            "fourth-moment term of v contributes differently."),
        ((B - 1) / (B + 1), "that is the *forward* eigenvalue on L and M."),
        (ref * (B - 3) / (B - 1), "E[1/r^2] for r^2 ~ (B/(B-1)) chi^2_{B-1} is "
                                  "(B-1)/(B(B-3)): E[1/chi^2_n] = 1/(n-2), not 1/n."),
        (1.0 - 2.0 / ((B - 3) * (B + 1)), "check the sign of the fourth-moment term: "
                                          "E[v v^T E v v^T] = 2E/((B-1)(B+1)) on M."),
    ]
    return _compare(f"backward M eigenvalue, linear, B = {B}", value, ref, 1e-6, wrongs)


# --------------------------------------------------------------------------------------
# 3. The ReLU rate and the trainable depth
# --------------------------------------------------------------------------------------
def _reference_relu_rate(B):
    return bn.gradient_explosion_rate("relu", B)


def check_relu_rate(value, B=12) -> Feedback:
    r""":math:`\lambda_G` of a ReLU BN network at batch size ``B`` (default 12), relative
    tolerance 1e-6 (a closed form)."""
    B = _check_B(B)
    ref = _reference_relu_rate(B)
    wrongs = [
        (math.pi / (math.pi - 1), "that is the B -> infinity limit pi/(pi-1); keep "
                                  "rho = -1/(B-1) and the factor 1/(B-3)."),
        (math.sqrt(ref), "lambda_G is the growth factor of the *squared* gradient norm."),
        ((B - 2) / (B - 3), "that is the linear network's rate, the minimum over activations."),
        (bn.gradient_explosion_rate("relu", B + 1), "off by one in B: rho = -1/(B-1)."),
    ]
    return _compare(f"ReLU lambda_G at B = {B}", value, ref, 1e-6, wrongs)


def _reference_trainable_depth(B):
    return bn.max_trainable_depth("relu", B, 16.0)


def check_trainable_depth(value, B=24) -> Feedback:
    r"""The predicted maximal trainable depth :math:`16\xi=16/\ln\lambda_G` of a ReLU BN
    network at batch size ``B`` (default 24), relative tolerance 1e-4."""
    B = _check_B(B)
    lam = _reference_relu_rate(B)
    ref = _reference_trainable_depth(B)
    wrongs = [
        (16 / math.log10(lam), "xi uses the natural logarithm: xi = 1/ln(lambda_G)."),
        (32 / math.log(lam), "lambda_G already refers to the squared norm: xi = 1/ln(lambda_G)."),
        (16 * math.log(lam), "xi is the inverse of ln(lambda_G)."),
        (16 / (lam - 1), "use ln(lambda_G), not lambda_G - 1 (they differ a lot here)."),
        (1 / math.log(lam), "that is xi; the predicted trainable depth is 16 xi."),
    ]
    return _compare(f"trainable depth 16 xi at B = {B}", value, ref, 1e-4, wrongs)


# --------------------------------------------------------------------------------------
# 4. Moving towards the linear regime: tanh(gamma x)
# --------------------------------------------------------------------------------------
def _rate_tanh(gamma, B):
    return bn.gradient_explosion_rate("tanh", B, gamma=gamma)


def _reference_tanh_gamma(target, B):
    return float(optimize.brentq(lambda g: _rate_tanh(g, B) - target, 0.05, 2.0, xtol=1e-12))


def check_tanh_gamma(value, target=1.1, B=32) -> Feedback:
    r"""The BN scale :math:`\gamma` at which :math:`\lambda_G` of :math:`\tanh(\gamma x)` at
    batch size ``B`` (default 32) equals ``target`` (default 1.1), relative tolerance 1e-4.
    ``target`` must lie between :math:`(B-2)/(B-3)` and :math:`\lambda_G` at :math:`\gamma=2`."""
    B = _check_B(B, minimum=5)
    target = check_real("target", target)
    lo, hi = _rate_tanh(0.05, B), _rate_tanh(2.0, B)
    if not lo < target < hi:
        raise ValueError(f"`target` must lie in ({lo:.6g}, {hi:.6g}) for B = {B} (the range of "
                         f"lambda_G over 0.05 <= gamma <= 2), got {target!r}")
    ref = _reference_tanh_gamma(target, B)
    wrongs = []
    lim = bn.large_batch_rate
    try:
        g_inf = optimize.brentq(lambda g: lim("tanh", gamma=g) - target, 0.05, 2.0)
        wrongs.append((g_inf, "that gamma gives lambda_G = target for B -> infinity; solve at "
                              f"B = {B}."))
    except ValueError:
        pass
    wrongs.append((math.sqrt(ref), "gamma multiplies the pre-activation, phi(x) = tanh(gamma x): "
                                   "no square root."))
    wrongs.append((ref**2, "gamma multiplies the pre-activation, phi(x) = tanh(gamma x): "
                           "do not square it."))
    v = _as_float(value)
    fb = _compare(f"gamma with lambda_G = {target:g} at B = {B}", value, ref, 1e-4, wrongs)
    if not fb and v is not None and 0.05 <= v <= 2.0 and "Hint" not in fb.message:
        lam = _rate_tanh(v, B)
        fb = Feedback(False, fb.message + f" At your gamma, lambda_G = {lam:.6f}.", value)
    return fb


# --------------------------------------------------------------------------------------
# 5. Large-batch limits and the Gaussian Poincare inequality
# --------------------------------------------------------------------------------------
def _reference_large_batch():
    return bn.large_batch_rate("alpha_relu", alpha=2.0), bn.large_batch_rate("erf")


def check_large_batch_rates(alpha2_relu, erf) -> Feedback:
    r"""The :math:`B\to\infty` limits :math:`\mathbb E\phi'(g)^2/\mathrm{Var}\,\phi(g)` for
    :math:`\phi(x)=\max(x,0)^2` and :math:`\phi=\mathrm{erf}`, relative tolerance 1e-6 each."""
    ref = np.array(_reference_large_batch())
    a, e = _as_float(alpha2_relu), _as_float(erf)
    hints = []
    if a is not None and abs(a - 2.0 / 1.5) <= 1e-6 * 2:
        hints.append("for max(x,0)^2 divide by the variance E phi^2 - (E phi)^2, "
                     "not by E phi^2: the mean is removed by BN.")
    if e is not None and abs(e - 1.0) <= 1e-6:
        hints.append("the ratio is 1 only for an affine phi (Poincare's equality case).")
    return _verdict("large-batch rates (max(x,0)^2, erf)", [alpha2_relu, erf], ref, 1e-6,
                    " ".join(hints))


# --------------------------------------------------------------------------------------
# 6. Symmetry breaking
# --------------------------------------------------------------------------------------
def _reference_alpha_transition(B):
    return bn.alpha_transition(B)


def check_alpha_transition(value, B=12) -> Feedback:
    r"""The exponent :math:`\alpha_{tr}(B)` at which the forward :math:`\lambda_L` of
    :math:`\alpha`-ReLU crosses 1, at batch size ``B`` (default 12), relative tolerance 1e-4."""
    B = _check_B(B, minimum=5)
    ref = _reference_alpha_transition(B)
    lam_M_cross = None
    try:
        lam_M_cross = optimize.brentq(
            lambda a: bn.forward_eigenvalues("alpha_relu", B, alpha=a)["M"] - 1.0, 0.55, 6.0)
    except ValueError:
        pass
    wrongs = [(1.0, "alpha = 1 (ReLU) is still stable at finite B: lambda_L < 1 there."),
              (bn.alpha_transition(B + 1), "off by one in B.")]
    if lam_M_cross is not None:
        wrongs.append((lam_M_cross, "that is where lambda_M crosses 1; the symmetry breaks "
                                    "through the L direction (unequal norms)."))
    return _compare(f"alpha_tr at B = {B}", value, ref, 1e-4, wrongs)


# --------------------------------------------------------------------------------------
# The chapter on training (batchnorm_training): trainable depth, remedies, one SGD step
# --------------------------------------------------------------------------------------
def _depth16(B):
    return bn.max_trainable_depth("relu", B, 16.0)


def _smallest_batch(depth_of_B, target, B_max=5000):
    """The least B >= 4 with depth_of_B(B) >= target (depth_of_B increases with B), or nan."""
    for B in range(4, B_max + 1):
        if depth_of_B(B) >= target:
            return float(B)
    return math.nan


@functools.lru_cache(maxsize=None)
def _reference_min_batch(target=40.0):
    return _smallest_batch(_depth16, target)


@_feedback.answers_as_data
def check_min_batch_for_depth(B) -> Feedback:
    r"""The smallest batch size :math:`B` at which the predicted trainable depth
    :math:`16\xi(B)` of a ReLU BN network reaches 40 layers; graded exactly."""
    ref = _reference_min_batch(40.0)
    lam = _reference_relu_rate
    wrongs = [
        (ref - 1, "at that batch size 16 xi is still just below 40."),
        (ref + 1, "one smaller batch size already reaches 40 layers."),
        (_smallest_batch(lambda b: 16 / math.log10(lam(b)), 40.0),
         "xi uses the natural logarithm: xi = 1/ln(lambda_G)."),
        (_smallest_batch(lambda b: 32 / math.log(lam(b)), 40.0),
         "lambda_G is the growth of the squared norm already: 16 xi = 16/ln(lambda_G)."),
        (_reference_min_batch(41.0), "the target is 40 layers."),
    ]
    return _compare("smallest B with 16 xi >= 40 (ReLU)", B, ref, 0.0, wrongs)


def _reference_boundary_ratio():
    # at L = 16 xi = 16/ln(lambda_G): lambda_G^(L/2) = exp(8), whatever the activation and B
    return math.exp(8.0)


@_feedback.answers_as_data
def check_boundary_gradient_ratio(ratio) -> Feedback:
    r"""The ratio :math:`\lambda_G^{L/2}` of the first to the last layer's gradient norm of a
    network exactly at the predicted trainable depth :math:`L=16\xi`, relative tolerance 1e-4."""
    ref = _reference_boundary_ratio()
    wrongs = [
        (math.exp(16.0), "that is the ratio of the *squared* norms; the norm ratio is "
                         "lambda_G^(L/2)."),
        (math.exp(-8.0), "the gradient grows towards the input: first / last > 1."),
        (math.exp(4.0), "lambda_G^(L/2) with L = 16 xi: the exponent is 8 xi ln(lambda_G)."),
        (16.0, "lambda_G^(L/2) = exp((L/2) ln(lambda_G)), and L ln(lambda_G) = 16 at L = 16 xi."),
        (8.0, "lambda_G^(L/2) = exp((L/2) ln(lambda_G)): exponentiate."),
        (10.0 ** 8, "xi = 1/ln(lambda_G) uses the natural logarithm: the ratio is a power of e."),
    ]
    return _compare("first / last gradient norm at L = 16 xi", ratio, ref, 1e-4, wrongs)


def _log_ratio(beta, exponent, rate):
    return exponent * math.log(rate(beta))


@functools.lru_cache(maxsize=None)
def _reference_shift(exponent=30.0, target=100.0, B=32):
    if B is None:
        def rate(b):
            return bn.large_batch_rate("relu", beta=b)
    else:
        def rate(b):
            return bn.gradient_explosion_rate("relu", B, beta=b)
    return float(optimize.brentq(lambda b: _log_ratio(b, exponent, rate) - math.log(target),
                                 0.0, 4.0, xtol=1e-12))


@_feedback.answers_as_data
def check_shift_for_gradient_ratio(beta) -> Feedback:
    r"""The BN shift :math:`\beta` of :math:`\mathrm{relu}(x+\beta)` at which the predicted ratio
    :math:`\lambda_G^{L/2}` of the first to the last layer's gradient norm of a depth
    :math:`L=60` network at :math:`B=32` is 100, relative tolerance 1e-4."""
    ref = _reference_shift(30.0, 100.0, 32)
    wrongs = [
        (_reference_shift(60.0, 100.0, 32), "lambda_G is the growth of the *squared* norm: the "
                                            "norm grows by sqrt(lambda_G) per layer."),
        (_reference_shift(29.5, 100.0, 32), "use the chapter's ratio lambda_G^(L/2) with "
                                            "L = 60."),
        (_reference_shift(30.0, 100.0, None), "that is the B -> infinity rate; solve at B = 32."),
        (-ref, "beta shifts the pre-activation to the right (towards the linear side of the "
               "kink): it is positive."),
    ]
    return _compare("beta with gradient ratio 100 (ReLU, B = 32, L = 60)", beta, ref, 1e-4,
                    wrongs)


def _reference_step_lr(weight_norm, grad_norm, factor):
    # BN makes the loss invariant to the scale of W, so <W, grad> = 0 and one SGD step gives
    # |W - lr g|^2 = |W|^2 + lr^2 |g|^2.
    return math.sqrt(factor**2 - 1) * weight_norm / grad_norm


@_feedback.answers_as_data
def check_lr_for_weight_growth(lr, weight_norm=16.0, grad_norm=1.0e4, factor=3.0) -> Feedback:
    r"""The learning rate at which one SGD step multiplies by ``factor`` (default 3, in (1, 100])
    the Frobenius norm of a weight matrix followed by batch normalization, whose norm is
    ``weight_norm`` and whose gradient has norm ``grad_norm`` (both positive, at most 1e12),
    relative tolerance 1e-3."""
    w = check_real("weight_norm", weight_norm, low=1e-12, high=1e12)
    g = check_real("grad_norm", grad_norm, low=1e-12, high=1e12)
    f = check_real("factor", factor, low=1.0, high=100.0, low_inclusive=False)
    ref = _reference_step_lr(w, g, f)
    wrongs = [
        (f * w / g, "the step is orthogonal to W (BN makes the loss invariant to the scale "
                    "of W): the norms add in squares, not the step alone."),
        ((f - 1) * w / g, "the step is orthogonal to W, not parallel to it: "
                          "|W'|^2 = |W|^2 + lr^2 |g|^2."),
        ((f * f - 1) * w / g, "take the square root: lr |g| = sqrt(factor^2 - 1) |W|."),
        (math.sqrt(f * f - 1) * g / w, "the learning rate multiplies the gradient: "
                                       "lr = sqrt(factor^2 - 1) |W| / |g|."),
        (math.sqrt(f * f + 1) * w / g, "|W'|^2 = |W|^2 + lr^2 |g|^2: subtract 1 from "
                                       "factor^2."),
    ]
    return _compare(f"learning rate that multiplies |W| by {f:g}", lr, ref, 1e-3, wrongs)

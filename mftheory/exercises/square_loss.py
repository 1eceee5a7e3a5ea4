r"""Checks for the exercises of the chapter on square-loss dynamics (Poggio and Liao, 2020).

Each check takes the student's answer as data: a wrong, non-numeric or non-finite answer gives a
not-correct :class:`~mftheory.exercises.Feedback`, never an exception, and an answer that
matches a typical mistake says which one. The expected values are computed in private
functions (``_reference_*``) from the exercise's fixed setting; the feedback never carries them.
"""

from __future__ import annotations

import math

import numpy as np

from ._feedback import Feedback
from . import _feedback

__all__ = [
    "check_weight_decay_for_mse_loss",
    "check_escape_time",
    "check_rho_rate",
    "check_projection_residual",
    "check_nc1_limit",
]


_as_float = _feedback._as_float       # a finite float, or None: the caller reports it


def _check(name, answer, expected, rtol, mistakes=()):
    """Feedback without the expected value; ``mistakes`` = [(value, hint), ...]."""
    a = _as_float(answer)
    if a is None:
        return Feedback(False, f"{name}: expected one finite real number, got {answer!r}.",
                        answer)
    rel = abs(a - expected) / abs(expected)
    if rel <= rtol:
        return Feedback(True, f"{name}: correct (relative error {rel:.1e}, tolerance {rtol:g}).",
                        answer, relative_error=rel)
    for value, hint in mistakes:
        if abs(a - value) <= rtol * abs(value):
            return Feedback(False, f"{name}: not yet. {hint}", answer, relative_error=rel)
    side = "too large" if a > expected else "too small"
    return Feedback(False, f"{name}: not yet; your value is {side} (relative error {rel:.2g}, "
                    f"tolerance {rtol:g}).", answer, relative_error=rel)


# --------------------------------------------------------------------------------------
# 1. Weight decay for torch's MSELoss (mean over samples and outputs)
# --------------------------------------------------------------------------------------
_MSE_SETTING = {"lam": 1.0, "n": 600, "k": 10}


def _reference_wd_for_mse():
    s = _MSE_SETTING
    return 2.0 * s["lam"] / (s["n"] * s["k"])


def check_weight_decay_for_mse_loss(answer) -> Feedback:
    r"""Exercise: torch's ``weight_decay`` that gives the memo's :math:`\lambda=1` when the loss
    is ``torch.nn.MSELoss()`` (mean over N = 600 samples *and* K = 10 outputs)."""
    s = _MSE_SETTING
    ref = _reference_wd_for_mse()
    mistakes = [(2.0 * s["lam"] / s["n"], "That is the value for a loss averaged over the "
                 "samples only; MSELoss also averages over the K outputs."),
                (s["lam"] / (s["n"] * s["k"]), "Off by a factor 2: torch adds wd * W to the "
                 "gradient, the gradient of the penalty (wd/2) ||W||^2."),
                (s["lam"] / s["n"], "Two things are missing: the average over outputs and the "
                 "factor 2 between wd and the penalty."),
                (s["lam"], "lambda multiplies the sum loss; torch's loss is a mean.")]
    return _check("weight_decay", answer, ref, 1e-6, mistakes)


# --------------------------------------------------------------------------------------
# 2. Escape time of the unnormalised rho dynamics at depth 5
# --------------------------------------------------------------------------------------
_ESCAPE_SETTING = {"eps": 1e-5, "depth": 5, "a": 0.5, "b": 1.0}


def _reference_escape_time():
    from ..squareloss import escape_time

    s = _ESCAPE_SETTING
    return escape_time(s["eps"], s["depth"], s["a"], s["b"])


def check_escape_time(answer) -> Feedback:
    r"""Exercise: the time for Eq. 28 with :math:`L=5`, :math:`a=0.5`, :math:`b=1` to go from
    :math:`\rho=10^{-5}` to half of :math:`a/b` (tolerance 0.5 %)."""
    s = _ESCAPE_SETTING
    ref = _reference_escape_time()
    L, e, a = s["depth"], s["eps"], s["a"]
    mistakes = [(e ** (-(L - 2) / L) / (a * (L - 2)), "Off by about 2: the rate is 2L, not L."),
                (e ** (-(L - 2) / L) / (2 * a * L), "The exponent gives a factor L/(L-2), "
                 "not 1/L: integrate rho^(-(2L-2)/L) once more."),
                (math.log(1 / e) / (4 * a), "That is the logarithmic law of depth 2; for L >= 3 "
                 "the plateau grows as a power of 1/eps.")]
    return _check("escape time", answer, ref, 5e-3, mistakes)


# --------------------------------------------------------------------------------------
# 3. Lemma 3 and the corrected Eq. 26: d rho / dt for a given network
# --------------------------------------------------------------------------------------
def _rho_rate_setting():
    """The exercise's network and data (float64): the same for the student and the check."""
    from ..data import two_blobs
    from ..squareloss import HomogeneousMLP, init_frobenius_

    d = two_blobs(n=30, dim=10, separation=2.0, seed=3)
    model = init_frobenius_(HomogeneousMLP([10, 20, 20, 1], dtype="float64", seed=3),
                            [1.2, 0.8, 1.5], seed=3)
    return model, d.x.astype(np.float64), d.y.astype(np.float64)


def _reference_rho_rate():
    import torch

    model, x, y = _rho_rate_setting()
    with torch.no_grad():
        g = model(torch.as_tensor(x)).numpy()
    norms = np.array([float(w.detach().norm()) for w in model.weights])
    r = float(-4.0 / len(y) * np.sum((g - y) * g))          # d/dt ||W_k||^2, every k
    rho = float(np.prod(norms))
    return rho * r / 2 * float(np.sum(1 / norms**2)), r, g, y, norms


def check_rho_rate(answer) -> Feedback:
    r"""Exercise: :math:`\dot\rho` for :math:`\rho=\prod_k\|W_k\|_F` under gradient flow on
    the mean square loss, for ``HomogeneousMLP([10, 20, 20, 1], dtype='float64', seed=3)``
    rescaled by ``init_frobenius_(model, [1.2, 0.8, 1.5], seed=3)`` on ``two_blobs(n=30,
    dim=10, separation=2.0, seed=3)`` (relative tolerance 1e-6)."""
    ref, r, g, y, norms = _reference_rho_rate()
    n = len(y)
    rho = float(np.prod(norms))
    memo = 4.0 / n * np.sum(g * g) + 4.0 / n * np.sum(g)
    mistakes = [(-ref, "The sign is reversed: gradient flow moves against the gradient."),
                (r, "That is d/dt ||W_k||^2, the same for every layer; rho is the product of "
                 "the norms, so d rho/dt = rho * sum_k (d rho_k/dt) / rho_k."),
                (rho * memo / 2 * float(np.sum(1 / norms**2)), "You used the memo's Eq. 26 as "
                 "printed: its sign is wrong and y_n is missing."),
                (2 * ref, "Off by a factor 2: d rho_k/dt = (d rho_k^2/dt) / (2 rho_k)."),
                (ref * n, "You used the sum loss; the exercise uses the mean.")]
    return _check("d rho/dt", answer, ref, 1e-6, mistakes)


# --------------------------------------------------------------------------------------
# 4. Residual of Eq. 48 for the projection construction at the first layer
# --------------------------------------------------------------------------------------
_PROJ_SETTING = {"p": 6, "depth": 4, "seed": 5}


def _reference_projection_residual():
    from ..squareloss import constraint_matrices, linear_constraint_residuals

    s = _PROJ_SETTING
    mats, x = constraint_matrices("projection", s["p"], s["depth"], seed=s["seed"])
    return float(linear_constraint_residuals(mats, x)[0]), mats, x


def check_projection_residual(answer) -> Feedback:
    r"""Exercise: the relative residual of Eq. 48 at layer 1 for
    ``constraint_matrices('projection', 6, 4, seed=5)`` (tolerance 1e-6)."""
    ref, mats, x = _reference_projection_residual()
    u = mats[-1][0]
    cos = abs(float(u @ x))
    mistakes = [(cos, "That is the cosine of the angle between u and x; the residual is the "
                 "part of x orthogonal to u.")]
    if ref > 1e-9:
        mistakes.append((1.0 - cos, "The residual is a norm of a difference of vectors, not "
                         "1 - cos."))
    return _check("residual at layer 1", answer, ref, 1e-6, mistakes)


# --------------------------------------------------------------------------------------
# 5. NC1 of a noisy simplex ETF in the limit of many samples
# --------------------------------------------------------------------------------------
_NC1_SETTING = {"k": 10, "r": 1.0, "s": 0.2}


def _reference_nc1_limit():
    s = _NC1_SETTING
    return s["s"] ** 2 * (s["k"] - 1) ** 2 / (s["k"] * s["r"] ** 2)


def check_nc1_limit(answer) -> Feedback:
    r"""Exercise: the large-N limit of NC1 for features :math:`h=\mu_c+s\,z`, :math:`z` standard
    Gaussian in :math:`p\ge K` dimensions, class means a simplex ETF with
    :math:`\|\mu_c-\mu_G\|=r`, at K = 10, r = 1, s = 0.2 (relative tolerance 1e-6)."""
    s = _NC1_SETTING
    ref = _reference_nc1_limit()
    k, r, sd = s["k"], s["r"], s["s"]
    mistakes = [(ref * k, "You did not divide by K."),
                (sd**2 * (k - 1) / (k * r**2), "Sigma_B of a simplex ETF is r^2/(K-1) times "
                 "the projector onto the span of the means, so Sigma_B^+ has (K-1)/r^2 on it."),
                (sd**2 * k / r**2, "The means span K - 1 dimensions, not K."),
                (sd * (k - 1) ** 2 / (k * r), "s is a standard deviation; Sigma_W = s^2 I.")]
    return _check("NC1", answer, ref, 1e-6, mistakes)

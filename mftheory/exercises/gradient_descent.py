"""Checks for the exercises of the chapter on gradient descent."""

import math

import numpy as np

from .. import landscape, optim
from ._feedback import Feedback, check_number

__all__ = ["check_polyak_parameters", "check_descent_step", "check_slides_stability_limit",
           "check_escape_slope", "check_backprop_gradient", "check_spurious_minimum"]


def check_polyak_parameters(alpha, beta, mu=1.0, L=10.0) -> Feedback:
    """Polyak's optimal (alpha, beta) for a quadratic with spectrum in [mu, L]."""
    a, b, _ = optim.polyak_heavy_ball(mu, L)
    return check_number(f"(alpha*, beta*) for mu={mu:g}, L={L:g}", [alpha, beta], [a, b],
                        rtol=1e-6, hint="solve sqrt(alpha L) = 1 + sqrt(beta) and "
                        "sqrt(alpha mu) = 1 - sqrt(beta).")


def check_descent_step(alpha, M=4.0) -> Feedback:
    """The step alpha maximising the descent-lemma constant alpha (1 - M alpha / 2)."""
    return check_number(f"optimal alpha for M={M:g}", alpha, 1.0 / M, rtol=1e-6,
                        hint="differentiate c(alpha) = alpha - M alpha^2 / 2.")


def check_slides_stability_limit(limit, beta) -> Feedback:
    """Largest alpha*lambda for which the slides' heavy-ball indexing is stable, at momentum beta."""
    return check_number(f"stability limit of alpha*lambda for the slides' indexing (beta={beta:g})",
                        limit, 1.0 - beta, rtol=1e-6,
                        hint="the characteristic polynomial is z^2 - (1+beta) z + (beta + alpha "
                        "lambda); when is its constant term (the product of the roots) below 1?")


def check_escape_slope(slope, alpha=0.1) -> Feedback:
    """Escape iterations per decade of y0 from the saddle, within 5% of ln 10 / ln(1 + alpha)."""
    return check_number("escape iterations per decade of y0", slope,
                        math.log(10) / math.log1p(alpha), rtol=0.05,
                        hint="near the saddle y grows by the factor 1 + alpha per step.")


def check_backprop_gradient(grad, theta, widths, X, Y) -> Feedback:
    """A gradient of the tanh-MLP loss of :func:`mftheory.optim.mlp_loss_and_backprop`, to 1e-6."""
    fd = optim.finite_difference_gradient(
        lambda t: optim.mlp_loss_and_backprop(t, widths, X, Y)[0], theta)
    g = np.asarray(grad, dtype=float)
    if g.shape != fd.shape:
        return Feedback(False, f"gradient: expected shape {fd.shape}, got {g.shape}.", grad, fd)
    rel = float(np.linalg.norm(g - fd) / np.linalg.norm(fd))
    ok = rel < 1e-6
    msg = (f"gradient: {'correct' if ok else 'not yet'} — relative distance to central finite "
           f"differences {rel:.1e} (tolerance 1e-6).")
    return Feedback(ok, msg, grad, fd, rel)


def check_spurious_minimum(W) -> Feedback:
    """A certified spurious minimum for k = n = 8: gradient < 1e-8, Hessian positive definite,
    objective well above 0 (Table D1: about 0.021)."""
    W = np.asarray(W, dtype=float)
    if W.shape != (8, 8):
        return Feedback(False, f"W: expected shape (8, 8), got {W.shape}.", W)
    if not np.all(np.isfinite(W)):
        return Feedback(False, "W: contains inf or nan.", W)
    F = landscape.safran_shamir_objective(W)
    g = float(np.linalg.norm(landscape.safran_shamir_gradient(W)))
    lam = float(np.linalg.eigvalsh(landscape.safran_shamir_hessian(W))[0])
    ok = F > 1e-3 and g < 1e-8 and lam > 0
    msg = (f"F = {F:.6f}, |grad F| = {g:.1e}, smallest Hessian eigenvalue {lam:.6f}: "
           + ("a certified spurious local minimum." if ok else
              "not a certified spurious minimum (need F > 1e-3, |grad| < 1e-8, eigenvalue > 0)."))
    return Feedback(ok, msg, W, None)

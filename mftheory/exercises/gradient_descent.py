r"""Checks for the exercises of the chapter on gradient descent.

Each exercise is posed at a point the chapter's text does not settle (a fixed momentum that is
not Polyak's, a step beyond :math:`1/M`, a momentum and a step other than the text's, a
cross-entropy loss instead of the square loss, :math:`k=n=9` instead of 8). Each check grades
the student's answer against a reference computed in a private helper (``_reference_*``); the
returned :class:`~mftheory.exercises.Feedback` says whether the answer is right, in which
direction and by how much each number is off, and, when the answer matches a typical mistake
(the text's parameter point, the continuous-time value, a forgotten factor), which one — never
the reference value itself. The answer is data: any object gives a not-correct Feedback, never
an exception.
"""

from __future__ import annotations

import math

import numpy as np

from .. import landscape, optim
from .._validate import check_array, check_positive_int
from ._feedback import Feedback
from . import _feedback

__all__ = ["check_fixed_momentum", "check_descent_steps", "check_slides_stability_limit",
           "check_escape_slope", "check_backprop_gradient", "check_spurious_minimum"]

# The exercises' parameter points (the text uses Polyak's momentum, alpha = 1/M, beta = 1/2 and
# alpha = 0.1, the square loss and k = n = 8).
_MU, _M, _BETA_FIXED = 1.0, 10.0, 0.25
_ALPHA_DESCENT, _M_COSINE, _EPS = 0.4, 4.0, 1e-3
_BETA_SLIDES = 0.3
_ALPHA_ESCAPE = 0.3
_K_SPURIOUS = 9


# ---------------------------------------------------------------------------------------------
# helpers: answers as data, graded with a direction word and without the reference value

_as_float = _feedback._as_float       # a finite float, or None: the caller reports it


def _rel(value, expected):
    return abs(value - expected) / max(abs(expected), 1e-300)


def _off_by(label, value, expected, rtol):
    """('alpha is too small by a relative 0.012', rel, ok) — never the expected value."""
    rel = _rel(value, expected)
    if rel <= rtol:
        return f"{label} correct", rel, True
    word = "too large" if value > expected else "too small"
    return f"{label} is {word} by a relative {rel:.2g}", rel, False


def _close(value, target, rtol=1e-3):
    return value is not None and _rel(value, target) <= rtol


def _numbers(name, labels, values):
    """The answers as floats, or a Feedback naming the first one that is not a finite number."""
    out = []
    for label, v in zip(labels, values, strict=True):
        f = _as_float(v)
        if f is None:
            return None, Feedback(False, f"{name}: {label} must be one finite real number, got "
                                  f"{_short(v)}.", values if len(values) > 1 else values[0])
        out.append(f)
    return out, None


def _short(x, limit=60):
    try:
        r = repr(x)
    except Exception:
        r = f"<{type(x).__name__} object>"
    return r if len(r) <= limit else r[: limit - 3] + "..."


def _grade(name, labels, values, expected, rtols, mistakes=(), answer=None):
    """Grade several numbers; ``mistakes`` is a list of (wrong values, hint) pairs."""
    nums, fb = _numbers(name, labels, values)
    if fb is not None:
        return fb
    parts, rels, oks = [], [], []
    for label, v, e, rtol in zip(labels, nums, expected, rtols, strict=True):
        text, rel, ok = _off_by(label, v, e, rtol)
        parts.append(text)
        rels.append(rel)
        oks.append(ok)
    ok = all(oks)
    tol = ", ".join(f"{lab} {rt:g}" for lab, rt in zip(labels, rtols, strict=True))
    msg = f"{name}: {'correct' if ok else 'not yet'} — {'; '.join(parts)} (relative tolerance {tol})."
    if not ok:
        for wrong, hint in mistakes:
            if all(w is None or _close(v, w, 1e-3) for v, w in zip(nums, wrong, strict=True)):
                msg += f" Hint: {hint}"
                break
    return Feedback(ok, msg, answer if answer is not None else tuple(values), None,
                    float(max(rels)))


# ---------------------------------------------------------------------------------------------
# Exercise ex-gd-fixed-momentum: the best step for a momentum that is not Polyak's

def _reference_fixed_momentum(mu, M, beta):
    """Best alpha and worst-case rate of the heavy ball at fixed beta over [mu, M].

    When beta is too small for all roots to be complex, the worst radius sits at the ends of the
    spectrum, where the roots are real: the larger root modulus is (|t| + sqrt(t^2 - 4 beta))/2
    with t = 1 + beta - alpha lambda, equal at both ends when alpha = 2 (1 + beta) / (mu + M).
    """
    alpha = 2 * (1 + beta) / (mu + M)
    t = (1 + beta) * (M - mu) / (M + mu)
    if t * t < 4 * beta:                               # not this regime (not the exercise's)
        raise ValueError("the fixed momentum is large enough for Polyak's regime")
    return alpha, (t + math.sqrt(t * t - 4 * beta)) / 2


def check_fixed_momentum(alpha, rate) -> Feedback:
    r"""The step :math:`\alpha` that minimises the heavy ball's worst spectral radius over the
    spectrum :math:`[1,10]` at the fixed momentum :math:`\beta=1/4`, and that radius (the rate);
    relative tolerance 1e-4 each."""
    ref = _reference_fixed_momentum(_MU, _M, _BETA_FIXED)
    a_p, b_p, r_p = optim.polyak_heavy_ball(_MU, _M)
    a_gd, r_gd = optim.gd_optimal_step(_MU, _M)
    mistakes = [
        ((a_p, None), "this is Polyak's step, which needs the momentum beta* of the same "
         "formula; at beta = 1/4 the roots at the ends of the spectrum are real."),
        ((None, math.sqrt(_BETA_FIXED)), "sqrt(beta) is the root modulus only where the roots "
         "are complex; find where the worst (real) root sits."),
        ((None, r_p), "this is the rate of Polyak's parameters, not of beta = 1/4."),
        ((a_gd, r_gd), "these are plain gradient descent's (beta = 0) step and rate."),
    ]
    return _grade("(alpha, rate) for beta = 1/4 on [1, 10]", ("alpha", "rate"), (alpha, rate),
                  ref, (1e-4, 1e-4), mistakes)


# ---------------------------------------------------------------------------------------------
# Exercise ex-gd-descent-steps: the descent lemma's step count at alpha M = 1.6

def _cosine_run(alpha, n_steps=400):
    x0 = np.linspace(-0.3, 0.3, 10) + 0.01
    return optim.gradient_descent(lambda x: optim.cosine_sum(x)[0], x0, alpha, n_steps,
                                  grad=lambda x: optim.cosine_sum(x)[1])


def _steps(alpha, c):
    """(bound of the theorem, steps GD takes) before |grad L| < eps on the cosine sum."""
    run = _cosine_run(alpha)
    L_min, _ = optim.cosine_sum_minimum(10)
    bound = (run.loss[0] - L_min) / (c * _EPS ** 2)
    below = np.flatnonzero(run.grad_norm < _EPS)
    return bound, int(below[0])


def _reference_descent_steps():
    return _steps(_ALPHA_DESCENT, optim.descent_constant(_ALPHA_DESCENT, _M_COSINE))


def check_descent_steps(bound, taken) -> Feedback:
    r"""On the sum of cosines (:math:`M=4`, the chapter's start) with :math:`\alpha=0.4`: the
    number of steps the descent lemma allows before :math:`|\nabla L|<10^{-3}` (relative
    tolerance 1e-4, so rounding up or down is fine) and the number of steps GD takes (exact)."""
    ref = _reference_descent_steps()
    at_text = _steps(1 / _M_COSINE, optim.descent_constant(1 / _M_COSINE, _M_COSINE))
    c_wrong = _ALPHA_DESCENT                         # forgot the factor (1 - M alpha / 2)
    mistakes = [
        ((at_text[0], None), "this is the bound at alpha = 1/M (c = 1/(2M)); here alpha = 0.4."),
        ((ref[0] * optim.descent_constant(_ALPHA_DESCENT, _M_COSINE) / c_wrong, None),
         "c = alpha (1 - M alpha / 2), not alpha."),
        ((ref[0] * _EPS, None), "the bound divides by eps squared, not eps."),
        ((None, at_text[1]), "this is the number of steps at alpha = 1/M; here alpha = 0.4."),
        ((None, ref[1] + 1), "count the steps, not the iterates: the start is step 0."),
    ]
    fb = _grade("(steps allowed, steps taken) at alpha = 0.4", ("steps allowed", "steps taken"),
                (bound, taken), ref, (1e-4, 0.0), mistakes)
    return fb


# ---------------------------------------------------------------------------------------------
# Exercise ex-gd-spot-the-bug: the stability band of the slides' heavy ball

def _reference_slides_limit(beta):
    return 1.0 - beta


def check_slides_stability_limit(limit) -> Feedback:
    r"""The largest :math:`\alpha\lambda` for which the slides' heavy-ball iteration is stable
    at momentum :math:`\beta=0.3` (relative tolerance 1e-6)."""
    b = _BETA_SLIDES
    mistakes = [
        ((2 * (1 + b),), "2 (1 + beta) is Jury's limit for the standard indexing; the slides' "
         "iteration has another characteristic polynomial."),
        ((1 + b,), "1 + beta is the sum of the roots; stability is decided by their product."),
        (((1 - b) ** 2,), "(1 - beta)^2 is where the roots turn complex, not where they leave "
         "the unit disc."),
        ((b,), "the product of the roots is beta + alpha lambda; when is it below 1?"),
        ((1 - b * b,), "the product of the roots is beta + alpha lambda, not beta^2 + ..."),
        ((2 * (1 - b),), "check the factor 2: the product of the roots must stay below 1."),
    ]
    return _grade("stability limit of alpha lambda (slides' indexing, beta = 0.3)",
                  ("alpha lambda",), (limit,), (_reference_slides_limit(b),), (1e-6,),
                  mistakes, answer=limit)


# ---------------------------------------------------------------------------------------------
# Exercise ex-gd-escape: iterations per decade of y0 at alpha = 0.3

def _reference_escape_slope(alpha):
    return math.log(10) / math.log1p(alpha)


def check_escape_slope(slope) -> Feedback:
    r"""Escape iterations per decade of :math:`y_0` from the saddle with :math:`\alpha=0.3`,
    fitted over :math:`y_0=10^{-2}..10^{-14}`; relative tolerance 1% (a fit to the integer
    escape times is within 0.2% of the exact slope, the continuous-time value is 13% off)."""
    a = _ALPHA_ESCAPE
    ref = _reference_escape_slope(a)
    mistakes = [
        ((math.log(10) / a,), "ln 10 / alpha is the continuous-time (gradient-flow) value; GD "
         "multiplies y by 1 + alpha per step."),
        ((_reference_escape_slope(0.1),), "this is the slope at alpha = 0.1; here alpha = 0.3."),
        ((-ref,), "count iterations per decade of 1/y0: the slope is positive."),
        ((1 / math.log1p(a),), "per decade means per factor 10: use log base 10."),
        ((math.log1p(a) / math.log(10),), "you have the inverse: decades per iteration."),
    ]
    return _grade("escape iterations per decade of y0 at alpha = 0.3", ("slope",), (slope,),
                  (ref,), (0.01,), mistakes, answer=slope)


# ---------------------------------------------------------------------------------------------
# Exercise ex-gd-backprop: the backward pass for the softmax cross-entropy loss

def _forward(theta, widths, X):
    layers, i = [], 0
    for a, b in zip(widths[:-1], widths[1:], strict=True):
        layers.append((theta[i:i + a * b].reshape(b, a), theta[i + a * b:i + a * b + b]))
        i += a * b + b
    zs = [X]
    for k, (W, bias) in enumerate(layers):
        h = zs[-1] @ W.T + bias
        zs.append(np.tanh(h) if k < len(layers) - 1 else h)
    return layers, zs


def _backward(layers, zs, delta):
    grads = []
    for k in range(len(layers) - 1, -1, -1):
        grads = [(delta.T @ zs[k]).ravel(), delta.sum(0)] + grads
        if k > 0:
            delta = (delta @ layers[k][0]) * (1 - zs[k] ** 2)
    return np.concatenate(grads)


def _reference_cross_entropy_gradient(theta, widths, X, labels):
    """Backprop for -(1/N) sum_n log softmax(f(x_n))[label_n]: the output error is
    (softmax(f) - onehot) / N."""
    layers, zs = _forward(theta, widths, X)
    f = zs[-1] - zs[-1].max(axis=1, keepdims=True)
    p = np.exp(f)
    p /= p.sum(axis=1, keepdims=True)
    onehot = np.eye(widths[-1])[labels]
    return _backward(layers, zs, (p - onehot) / len(X))


def _cross_entropy_loss(theta, widths, X, labels):
    _, zs = _forward(theta, widths, X)
    f = zs[-1]
    m = f.max(axis=1, keepdims=True)
    logz = (m + np.log(np.exp(f - m).sum(axis=1, keepdims=True)))[:, 0]
    return float(np.mean(logz - f[np.arange(len(X)), labels]))


def _mlp_problem(theta, widths, X, labels):
    if not isinstance(widths, (list, tuple)):
        raise ValueError(f"`widths` must be a list of layer widths [d0, ..., dK], got "
                         f"{_short(widths)}")
    widths = [check_positive_int("widths", w) for w in widths]
    if len(widths) < 2 or widths[-1] < 2:
        raise ValueError("`widths` must list at least an input and an output width, with at "
                         "least 2 classes at the output")
    theta = check_array("theta", theta)
    need = sum(a * b + b for a, b in zip(widths[:-1], widths[1:], strict=True))
    if theta.ndim != 1 or theta.size != need:
        raise ValueError(f"`theta` must be a flat vector of {need} numbers for widths {widths}, "
                         f"got shape {theta.shape}")
    X = check_array("X", X)
    if X.ndim != 2 or X.shape[1] != widths[0] or X.shape[0] < 1:
        raise ValueError(f"`X` must have shape (N, {widths[0]}), got {X.shape}")
    lab = check_array("labels", labels, low=0, high=widths[-1] - 1)
    if lab.shape != (X.shape[0],) or np.any(lab != np.round(lab)):
        raise ValueError(f"`labels` must be {X.shape[0]} class indices in 0..{widths[-1] - 1}")
    return theta, widths, X, lab.astype(int)


def check_backprop_gradient(grad, theta, widths, X, labels) -> Feedback:
    r"""A gradient of the softmax cross-entropy loss :math:`-\frac1N\sum_n\log
    \mathrm{softmax}(f(\mathbf x_n))_{y_n}` of the tanh network (linear output, parameters
    ``theta`` laid out as in :func:`mftheory.optim.mlp_init`), to 1e-6 relative in norm."""
    theta, widths, X, labels = _mlp_problem(theta, widths, X, labels)
    ref = _reference_cross_entropy_gradient(theta, widths, X, labels)
    name = "cross-entropy gradient"
    try:
        g = np.asarray(grad, dtype=float)
    except Exception:
        g = None
    if (g is None or isinstance(grad, (str, bytes, bool)) or g.ndim == 0
            or np.iscomplexobj(grad)):                  # a complex answer is not a gradient
        return Feedback(False, f"{name}: expected an array of {ref.size} numbers, got "
                        f"{_short(grad)}.", grad)
    if g.shape != ref.shape:
        return Feedback(False, f"{name}: expected shape {ref.shape} (flat, like theta), got "
                        f"{g.shape}.", grad)
    if not np.all(np.isfinite(g)):
        return Feedback(False, f"{name}: your gradient contains inf or nan.", grad)
    norm = float(np.linalg.norm(ref))
    rel = float(np.linalg.norm(g - ref) / norm)
    ok = rel < 1e-6
    msg = (f"{name}: {'correct' if ok else 'not yet'} — relative distance {rel:.1e} in norm "
           f"(tolerance 1e-6).")
    if not ok:
        layers, zs = _forward(theta, widths, X)
        square = _backward(layers, zs, (zs[-1] - np.eye(widths[-1])[labels]) / len(X))
        for wrong, hint in ((-ref, "the sign: this is the direction of steepest ascent."),
                            (ref * len(X), "the loss is an average: divide by N."),
                            (ref / len(X), "divide by N once, not twice."),
                            (square, "this is the square-loss gradient with one-hot targets; "
                             "for the softmax cross-entropy the output error is softmax(f) - "
                             "onehot(y), over N.")):
            if np.linalg.norm(g - wrong) <= 1e-6 * np.linalg.norm(wrong):
                msg += f" Hint: {hint}"
                break
        else:
            g_out = g[-widths[-1]:]
            if np.linalg.norm(g_out - ref[-widths[-1]:]) <= 1e-6 * np.linalg.norm(ref):
                msg += (" The output bias is right, so the error sits in the backward pass "
                        "through the hidden layers.")
    return Feedback(ok, msg, grad, None, rel)


# ---------------------------------------------------------------------------------------------
# Exercise ex-gd-spurious: a certified spurious minimum for k = n = 9

def check_spurious_minimum(W) -> Feedback:
    r"""A certified spurious local minimum of the Safran–Shamir objective for :math:`k=n=9`:
    objective above :math:`5\cdot10^{-4}`, gradient norm below :math:`10^{-8}`, Hessian
    positive definite."""
    k = _K_SPURIOUS
    name = f"spurious minimum for k = n = {k}"
    try:
        arr = np.asarray(W, dtype=float)
    except Exception:
        arr = None
    if arr is None or isinstance(W, (str, bytes, bool)) or arr.ndim != 2:
        return Feedback(False, f"{name}: expected a ({k}, {k}) array of weights (one row per "
                        f"student neuron), got {_short(W)}.", W)
    if arr.shape != (k, k):
        extra = " (this exercise is k = n = 9, not 8)" if arr.shape == (8, 8) else ""
        return Feedback(False, f"{name}: expected shape ({k}, {k}), got {arr.shape}{extra}.", W)
    if not np.all(np.isfinite(arr)):
        return Feedback(False, f"{name}: W contains inf or nan.", W)
    F = float(landscape.safran_shamir_objective(arr))
    g = float(np.linalg.norm(landscape.safran_shamir_gradient(arr)))
    lam = float(np.linalg.eigvalsh(landscape.safran_shamir_hessian(arr))[0])
    ok = F > 5e-4 and g < 1e-8 and lam > 0
    msg = (f"{name}: F = {F:.6f}, |grad F| = {g:.1e}, smallest Hessian eigenvalue {lam:.2e}: ")
    if ok:
        msg += "a certified spurious local minimum."
    elif F <= 5e-4:
        msg += "this is (near) a global minimum, F = 0; a spurious minimum has F > 0."
    elif g >= 1e-8:
        msg += ("not a stationary point to 1e-8; polish it with Newton steps on the analytic "
                "gradient.")
    else:
        msg += "a stationary point whose Hessian is not positive definite (a saddle)."
    return Feedback(ok, msg, W, None, math.nan)

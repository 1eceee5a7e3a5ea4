r"""Checks for the exercises of the chapter on the teacher-student framework (Tian, 2018).

Each check takes the student's answer as data: a wrong, non-numeric, non-finite or wrongly
shaped answer gives a not-correct :class:`~mftheory.exercises.Feedback` (never an exception),
and an answer that matches a typical mistake is told which one. The reference values are
computed in private functions from the exercise's data and are not part of any message or
field: a not-correct Feedback carries neither the expected value nor a relative error (from
which, with the answer, the expected value would follow); a correct one carries its relative
error.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.special import ndtri

from .. import teacher as T
from ._feedback import Feedback
from . import _feedback

__all__ = [
    "check_bn_leak",
    "check_linear_min_loss",
    "check_relu_identity",
    "check_projected_vertices",
    "check_spurious_sample_size",
    "check_off_block_update",
]


_as_float = _feedback._as_float       # a finite float, or None: the caller reports it


def _judge(name, answer, expected, mistakes, rtol):
    """Feedback for a scalar; ``mistakes`` maps a hint to the value that mistake produces."""
    a = _as_float(answer)
    if a is None:
        return Feedback(False, f"{name}: expected one finite real number, got {answer!r}.",
                        answer)
    if abs(a - expected) <= rtol * abs(expected):
        return Feedback(True, f"{name}: correct.", answer,
                        relative_error=abs(a - expected) / abs(expected))
    for hint, value in mistakes:
        if abs(a - value) <= rtol * max(abs(value), 1e-12):
            return Feedback(False, f"{name}: not yet. {hint}", answer)
    side = "too large" if a > expected else "too small"
    return Feedback(False, f"{name}: not yet; your value is {side} (relative tolerance "
                    f"{rtol:g}).", answer)


# ------------------------------------------------------------------ 1. BN with epsilon
_BN_F = 0.01 * np.arange(8.0)
_BN_G = (-1.0) ** np.arange(8)
_BN_EPS = 1e-4


def _reference_bn_leak(eps=_BN_EPS, variance_only=False, plain=False):
    fhat = _BN_F - _BN_F.mean()
    var = float(np.mean(fhat**2))
    s2 = var if variance_only else var + eps
    factor = 1.0 if plain else eps / (var + eps)
    return 1.0 / math.sqrt(s2) * float(fhat @ _BN_G) * factor


def check_bn_leak(answer) -> Feedback:
    r""":math:`\mathbf f^T\mathbf g` for BN with :math:`\epsilon=10^{-4}`, :math:`c_1=1`,
    :math:`f_k=0.01k`, :math:`g_{bn,k}=(-1)^k`, :math:`k=0,\dots,7`."""
    exp = _reference_bn_leak()
    fhat = _BN_F - _BN_F.mean()
    var = float(np.mean(fhat**2))
    mistakes = [
        ("At eps = 0 the product is 0; here eps > 0 leaks.", 0.0),
        ("Check the sign of the term along f-hat.", -exp),
        ("The factor eps / (sigma^2 + eps) is missing.", _reference_bn_leak(plain=True)),
        ("The prefactor is c1 / sqrt(sigma^2 + eps), not c1 / sigma.",
         exp * math.sqrt((var + _BN_EPS) / var)),
        ("The factor is eps / (sigma^2 + eps), not eps / sigma^2.",
         exp * (var + _BN_EPS) / var),
    ]
    return _judge("f^T g", answer, exp, mistakes, 1e-6)


# ------------------------------------------------------------------ 2. linear loss
def _reference_linear_loss(d, k):
    return 2.0**d - (d // k) * (2**k - 1) - 1


def check_linear_min_loss(answer) -> Feedback:
    r"""The minimum unweighted loss :math:`\min_W\|QW-I\|_F^2` of a linear student on the
    6-pixel hypercube whose children are two 3-pixel blocks."""
    exp = _reference_linear_loss(6, 3)
    mistakes = [
        ("That is the value for single-pixel leaves; the blocks here have 3 pixels.",
         _reference_linear_loss(6, 1)),
        ("The blocks share the all-ones direction: rank Q is (d/k)(2^k - 1) + 1, not "
         "(d/k) 2^k.", 2.0**6 - 2 * 2**3),
        ("Count the shared all-ones direction once: the rank has a + 1.", exp + 1),
        ("That is the P-weighted loss for uniform P; the question asks for the unweighted one.",
         exp / 64),
        ("That is the rank of Q; the loss is 2^d minus the rank.", 2.0**6 - exp),
    ]
    return _judge("min linear loss", answer, exp, mistakes, 1e-9)


# ------------------------------------------------------------------ 3. ReLU identity
def check_relu_identity(W) -> Feedback:
    r"""Whether :math:`\mathrm{ReLU}(QW)=I_{64}` for :math:`Q` = ``hypercube_Q(6, 2)`` (three
    2-pixel children), to 1e-9."""
    Q = T.hypercube_Q(6, 2)
    if isinstance(W, (str, bytes, bool)) or W is None:
        return Feedback(False, f"W: expected a 12 x 64 array, got {W!r}.", W)
    try:
        if np.iscomplexobj(W):
            raise TypeError
        A = np.asarray(W, dtype=float)
    except Exception:                       # noqa: BLE001 - any object is an answer here
        return Feedback(False, f"W: expected a 12 x 64 array of numbers, got {type(W).__name__}.",
                        W)
    if A.shape != (12, 64):
        return Feedback(False, f"W: expected shape (12, 64) (children x events), got {A.shape}.",
                        W)
    if not np.all(np.isfinite(A)):
        return Feedback(False, "W: your array contains inf or nan.", W)
    F = np.maximum(Q @ A, 0)
    err = float(np.max(np.abs(F - np.eye(64))))
    if err <= 1e-9:
        return Feedback(True, "ReLU(QW) = I: correct.", W, relative_error=err)
    diag = np.diag(Q @ A)
    if np.allclose(diag, 1) and np.any(F - np.eye(64) > 1e-9):
        msg = ("the diagonal is right, but some off-diagonal pre-activations are positive: "
               "a mismatching child must outweigh the matching ones.")
    elif not np.allclose(diag, 1):
        msg = "the diagonal of QW should be 1 (each of the 3 matching children gives 1/3)."
    else:
        msg = "ReLU(QW) differs from the identity."
    return Feedback(False, f"not yet: {msg} (largest deviation of ReLU(QW) from I: {err:.2g})",
                    W)


# ------------------------------------------------------------------ 4. vertices
def _exercise_vertex_data():
    rng = np.random.default_rng(7)
    P = rng.dirichlet(np.ones(3), size=10)
    F2 = rng.standard_normal((3, 2))
    F1 = rng.standard_normal((3, 1))
    return P, F2, F1


def _reference_vertices():
    P, F2, F1 = _exercise_vertex_data()
    return T.vertex_count(P @ F2), T.vertex_count(P @ F1), T.vertex_count(P)


def check_projected_vertices(vert_rank2, vert_rank1) -> Feedback:
    r"""The vertex counts :math:`\mathrm{vert}(PF_2)` and :math:`\mathrm{vert}(PF_1)` for the
    exercise's :math:`P` (10 x 3), :math:`F_2` (3 x 2) and :math:`F_1` (3 x 1)."""
    v2, v1, vp = _reference_vertices()
    vals = []
    for name, a in (("vert(P F2)", vert_rank2), ("vert(P F1)", vert_rank1)):
        x = _as_float(a)
        if x is None or x != round(x):
            return Feedback(False, f"{name}: expected a whole number, got {a!r}.", a)
        vals.append(int(round(x)))
    if vals == [v2, v1]:
        return Feedback(True, "both vertex counts are correct.", (vert_rank2, vert_rank1))
    msgs = []
    if vals[0] != v2:
        msgs.append("vert(P F2): not yet; F2 is injective on the plane of the rows, so "
                    "convex-combination relations transfer both ways." if vals[0] != vp else
                    "vert(P F2): not yet.")
    if vals[1] != v1:
        msgs.append("vert(P F1): not yet; on a line, how many points can be extreme?"
                    if vals[1] >= 3 or vals[1] == vp else "vert(P F1): not yet.")
    return Feedback(False, " ".join(msgs), (vert_rank2, vert_rank1))


# ------------------------------------------------------------------ 5. spurious sample size
def _reference_sample_size(delta=0.1, contrast=0.5, z=None, sd_scale=2.0):
    z = ndtri(0.975) if z is None else z
    return math.ceil((z * 2 * contrast / delta) ** 2 / sd_scale)


def check_spurious_sample_size(answer) -> Feedback:
    r"""The smallest :math:`n` for which the spurious update beats the true one with
    probability below 5% (normal approximation), for :math:`\delta=0.1` and
    :math:`f_k(1)-f_k(0)=0.5`."""
    exp = _reference_sample_size()
    mistakes = [
        ("Only about n/2 samples have z_gamma = 1, so Var(epsilon) = 1/(4 (n/2)) = 1/(2n), "
         "not 1/(4n).", _reference_sample_size(sd_scale=4.0)),
        ("Var(epsilon) is 1/(2n), not 1/n.", _reference_sample_size(sd_scale=1.0)),
        ("|epsilon| large in either direction counts: use the two-sided 97.5% quantile.",
         _reference_sample_size(z=ndtri(0.95))),
        ("The spurious update is epsilon times the contrast f_k(1) - f_k(0) = 0.5.",
         _reference_sample_size(contrast=1.0)),
    ]
    a = _as_float(answer)
    if a is not None and a != round(a):
        return Feedback(False, f"n: expected a whole number of samples, got {answer!r}.", answer)
    return _judge("n*", answer, exp, mistakes, 0.003)


# ------------------------------------------------------------------ 6. off-block update
_OB_P3 = np.array([[0.6, 0.4], [0.9, 0.1]])
_OB_F3 = np.array([1.0, 0.5])
_OB_P_ALPHA2 = np.array([0.2, 0.8])
_OB_G1 = np.array([-0.3, 0.5])


def _reference_off_block(transpose=False, with_p=True, with_sum=True):
    Pf = (_OB_P3.T if transpose else _OB_P3) @ _OB_F3 if with_p else _OB_F3
    return float(Pf @ _OB_P_ALPHA2) * (float(_OB_G1.sum()) if with_sum else 1.0)


def check_off_block_update(answer) -> Feedback:
    r"""The off-block entry :math:`[\Delta W_{\beta\alpha}]_{3,1}` of the worked case of
    Theorem 9 with uncentred gradients, for the exercise's :math:`P_3`, :math:`\mathbf f_3`,
    :math:`\mathbf p_{\alpha[2]}` and :math:`\tilde{\mathbf g}_1`."""
    exp = _reference_off_block()
    mistakes = [
        ("With centred gradients it would vanish; here 1^T g_1 is not 0.", 0.0),
        ("Check the sign.", -exp),
        ("The factor 1^T g_1 (the sum of g_1's entries) is missing.",
         _reference_off_block(with_sum=False)),
        ("P_3 maps alpha's factor 2 to beta's factor 3: use P_3 f_3, not P_3^T f_3.",
         _reference_off_block(transpose=True)),
        ("The activation seen from alpha is P_3 f_3, not f_3.",
         _reference_off_block(with_p=False)),
    ]
    return _judge("off-block entry", answer, exp, mistakes, 1e-6)

"""The exercise checks of the batch-normalization chapter: each accepts the right answer (computed
here from the formulas, independently of the package), rejects the plausible wrong answers with
the intended hint, treats a non-numeric answer as not correct rather than an error, and never
hands out the expected value."""

from __future__ import annotations

import math

import numpy as np
import pytest

from mftheory.exercises import Feedback
from mftheory.exercises import batchnorm as ex

NOT_NUMBERS = ["abc", None, [1.0, 2.0], math.nan, math.inf, {"x": 1}, 1 + 2j, True, b"1"]


def J1(c):
    return (math.sqrt(1 - c * c) + (math.pi - math.acos(c)) * c) / math.pi


def J1p(c):
    return (math.pi - math.acos(c)) / math.pi


def relu_rate(B):
    rho = -1 / (B - 1)
    return (B - 2 + J1(rho) + J1p(rho)) / ((B - 3) * (1 - J1(rho)))


def _no_leak(fb, *values):
    assert fb.expected is None
    for v in values:
        assert f"{v:.4f}" not in fb.message and f"{v:.4g}" not in fb.message


def test_relu_offdiagonal():
    right = 0.5 * J1(-1 / 5)
    assert right == pytest.approx(0.1123488, abs=1e-7)         # reference table, B = 6
    fb = ex.check_relu_offdiagonal(right)
    assert isinstance(fb, Feedback) and fb and fb.expected is None
    for wrong, hint in [(J1(-1 / 5), "diagonal is 1/2"), (1 / (2 * math.pi), "large-batch"),
                        (0.5 * J1(-1 / 6), "-1/(B-1), not -1/B"), (-0.2, "before the ReLU")]:
        fb = ex.check_relu_offdiagonal(wrong)
        assert not fb and hint in fb.message
        _no_leak(fb, right)
    assert ex.check_relu_offdiagonal(0.5 * J1(-1 / 7), B=8)
    assert not ex.check_relu_offdiagonal(right * (1 + 1e-5))


def test_linear_backward_m():
    B = 8
    right = 1 + 2 / ((B - 3) * (B + 1))
    assert ex.check_linear_backward_m(right)
    for wrong, hint in [(1.2, "lambda_G"), (7 / 9, "forward"), (right * 5 / 7, "1/(n-2)"),
                        (1 - 2 / 45, "sign")]:
        fb = ex.check_linear_backward_m(wrong)
        assert not fb and hint in fb.message
        _no_leak(fb, right)


def test_linear_backward_m_against_monte_carlo():
    # the reference formula itself, by Monte Carlo over the sphere at B = 6
    B = 6
    h = np.random.default_rng(0).standard_normal((200_000, B))
    h -= h.mean(axis=1, keepdims=True)
    r = np.linalg.norm(h, axis=1)
    v = h / r[:, None]
    E = np.zeros((B, B))
    E[0, 2] = E[2, 0] = E[1, 3] = E[3, 1] = 1
    E[0, 3] = E[3, 0] = E[1, 2] = E[2, 1] = -1
    Ev = v @ E                                                     # rows: E v
    vEv = np.einsum("ni,ni->n", Ev, v)
    # <E, (G - vv^T) E (G - vv^T)> = |E|^2 - 2 |E v|^2 + (v^T E v)^2 for E in H^G
    q = (np.sum(E * E) - 2 * np.sum(Ev**2, axis=1) + vEv**2) * (B - 1) / r**2
    est = q.mean() / np.sum(E * E)
    se = q.std() / math.sqrt(q.size) / np.sum(E * E)
    assert abs(est - (1 + 2 / ((B - 3) * (B + 1)))) < 4 * se and se < 0.01
    assert ex.check_linear_backward_m(1 + 2 / (3 * 7), B=B)


def test_relu_rate_and_depth():
    assert ex.check_relu_rate(relu_rate(12))
    for wrong, hint in [(math.pi / (math.pi - 1), "limit"), (math.sqrt(relu_rate(12)), "squared"),
                        (10 / 9, "linear"), (relu_rate(13), "off by one")]:
        fb = ex.check_relu_rate(wrong)
        assert not fb and hint in fb.message
        _no_leak(fb, relu_rate(12))
    lam = relu_rate(24)
    assert ex.check_trainable_depth(16 / math.log(lam))
    for wrong, hint in [(16 / math.log10(lam), "natural"), (32 / math.log(lam), "squared"),
                        (16 * math.log(lam), "inverse"), (16 / (lam - 1), "not lambda_G - 1"),
                        (1 / math.log(lam), "16 xi")]:
        fb = ex.check_trainable_depth(wrong)
        assert not fb and hint in fb.message


def test_tanh_gamma():
    # reference value (brentq on the sphere quadrature, independently): 0.65741 (1e-3)
    fb = ex.check_tanh_gamma(0.657413)
    assert fb
    fb = ex.check_tanh_gamma(0.7)
    assert not fb and "At your gamma, lambda_G" in fb.message
    fb = ex.check_tanh_gamma(0.657413**2)
    assert not fb and "do not square" in fb.message
    fb = ex.check_tanh_gamma(math.sqrt(0.657413))
    assert not fb and "no square root" in fb.message
    _no_leak(fb, 0.657413)
    with pytest.raises(ValueError, match="target"):
        ex.check_tanh_gamma(0.5, target=1.0)
    with pytest.raises(ValueError, match="B"):
        ex.check_tanh_gamma(0.5, B=4)


def test_large_batch_rates():
    a = 2 / 1.25
    b = (4 / (math.pi * math.sqrt(5))) / (2 / math.pi * math.asin(2 / 3))
    assert ex.check_large_batch_rates(a, b)
    fb = ex.check_large_batch_rates(2 / 1.5, b)
    assert not fb and "variance" in fb.message
    fb = ex.check_large_batch_rates(a, 1.0)
    assert not fb and "affine" in fb.message
    assert not ex.check_large_batch_rates(a, b * 1.01)
    fb = ex.check_large_batch_rates("x", b)
    assert not fb and fb.expected is None


def test_alpha_transition():
    assert ex.check_alpha_transition(1.29600)           # reference table: alpha_tr(12) = 1.2960
    fb = ex.check_alpha_transition(1.0)
    assert not fb and "stable" in fb.message
    fb = ex.check_alpha_transition(1.4007, B=10)
    assert fb
    fb = ex.check_alpha_transition(1.4007)               # the B = 10 value for B = 12
    assert not fb


@pytest.mark.parametrize("bad", NOT_NUMBERS)
def test_bad_answers_give_feedback(bad):
    for check in (ex.check_relu_offdiagonal, ex.check_linear_backward_m, ex.check_relu_rate,
                  ex.check_trainable_depth, ex.check_tanh_gamma, ex.check_alpha_transition):
        fb = check(bad)
        assert isinstance(fb, Feedback) and not fb and fb.expected is None
    fb = ex.check_large_batch_rates(bad, bad)
    assert isinstance(fb, Feedback) and not fb


def test_bad_parameters_raise():
    for check in (ex.check_relu_offdiagonal, ex.check_linear_backward_m, ex.check_relu_rate,
                  ex.check_trainable_depth, ex.check_alpha_transition):
        for B in (3, 2.5, "8", None, True):
            with pytest.raises(ValueError, match="B"):
                check(1.0, B=B)

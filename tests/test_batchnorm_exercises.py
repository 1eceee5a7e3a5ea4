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


# ---------------------------------------------------------------------------------------------
# The training chapter's checks (re-exported by mftheory.exercises.batchnorm_training); the
# reference values are recomputed here from the closed form relu_rate above, not from the package.


def _depth16(B):
    return 16 / math.log(relu_rate(B))


def test_training_checks_are_the_chapters_names():
    from mftheory.exercises import batchnorm_training as bnt

    for name in bnt.__all__:
        assert getattr(bnt, name) is getattr(ex, name) and name in ex.__all__


def test_min_batch_for_depth():
    limit = 16 / math.log(math.pi / (math.pi - 1))
    assert limit == pytest.approx(41.7558, abs=1e-4)                  # 50 layers: never
    right = next(B for B in range(4, 1000) if _depth16(B) >= 40)
    assert right == 68 and _depth16(67) < 40 <= _depth16(68)
    fb = ex.check_min_batch_for_depth(right)
    assert fb and fb.expected is None and "exact" in fb.message
    assert ex.check_min_batch_for_depth(68.0) and ex.check_min_batch_for_depth(np.int64(68))
    fb = ex.check_min_batch_for_depth(68.5)
    assert not fb and "graded exactly" in fb.message
    log10 = next(B for B in range(4, 1000) if 16 / math.log10(relu_rate(B)) >= 40)
    twice = next(B for B in range(4, 1000) if 2 * _depth16(B) >= 40)
    at41 = next(B for B in range(4, 1000) if _depth16(B) >= 41)
    for wrong, hint in [(67, "still just below"), (69, "one smaller"), (log10, "natural"),
                        (twice, "squared norm"), (at41, "40 layers")]:
        fb = ex.check_min_batch_for_depth(wrong)
        assert not fb and hint in fb.message and "68" not in fb.message
        assert "too" not in fb.message           # no direction: a bisection would find B


def _beta_for(exponent, rate, target=100.0):
    from scipy.optimize import brentq

    return brentq(lambda b: exponent * math.log(rate(b)) - math.log(target), 0, 4, xtol=1e-12)


def test_shift_for_gradient_ratio():
    from mftheory import batchnorm as bn

    def rate32(b):
        return bn.gradient_explosion_rate("relu", 32, beta=b)

    right = _beta_for(30, rate32)
    # beta = 0 is the closed form; the ratio at beta = 0 is the chapter's 3e5
    assert rate32(0.0) == pytest.approx(relu_rate(32), rel=1e-6)
    assert 2e5 < relu_rate(32) ** 30 < 4e5
    assert right == pytest.approx(0.94942, abs=2e-5)   # reference value computed here (brentq)
    # the sphere quadrature against Monte Carlo of the rate's ingredients is tested in
    # tests/test_batchnorm.py; here: the root is a root
    assert rate32(right) ** 30 == pytest.approx(100, rel=1e-9)
    assert ex.check_shift_for_gradient_ratio(right)
    assert ex.check_shift_for_gradient_ratio(right * (1 + 5e-5))
    assert not ex.check_shift_for_gradient_ratio(right * (1 + 5e-4))
    big_batch = _beta_for(30, lambda b: bn.large_batch_rate("relu", beta=b))
    for wrong, hint in [(_beta_for(60, rate32), "squared"), (_beta_for(29.5, rate32), "L = 60"),
                        (big_batch, "infinity"), (-right, "positive")]:
        fb = ex.check_shift_for_gradient_ratio(wrong)
        assert not fb and hint in fb.message
        _no_leak(fb, right)


def test_lr_for_weight_growth():
    w, g = 15.97, 9805.0                      # the first layer of the chapter's network
    right = math.sqrt(8) * w / g
    fb = ex.check_lr_for_weight_growth(right, w, g)
    assert fb and fb.expected is None
    assert ex.check_lr_for_weight_growth(right * (1 + 5e-4), w, g)
    assert ex.check_lr_for_weight_growth(math.sqrt(15) * 2.0 / 50.0, 2.0, 50.0, factor=4.0)
    assert ex.check_lr_for_weight_growth(math.sqrt(8) * 16.0 / 1e4)        # the defaults
    for wrong, hint in [(3 * w / g, "norms add in squares"), (2 * w / g, "not parallel"),
                        (8 * w / g, "square root"), (math.sqrt(8) * g / w, "multiplies the"),
                        (math.sqrt(10) * w / g, "subtract 1")]:
        fb = ex.check_lr_for_weight_growth(wrong, w, g)
        assert not fb and hint in fb.message
        _no_leak(fb, right)


def test_lr_for_weight_growth_against_a_scale_invariant_layer():
    # the identity behind the reference: a loss of BN(x W^T) is scale invariant in W, so the
    # gradient is orthogonal to W and one step adds in squares (eps = 0, float64)
    import torch

    torch.manual_seed(0)
    x = torch.randn(64, 10, dtype=torch.float64)
    W = torch.randn(20, 10, dtype=torch.float64, requires_grad=True)
    v = torch.randn(20, dtype=torch.float64)
    z = x @ W.T
    zhat = (z - z.mean(0)) / z.std(0, unbiased=False)
    loss = torch.tanh(zhat @ v).pow(2).mean()
    (grad,) = torch.autograd.grad(loss, W)
    W = W.detach()
    assert abs(float((W * grad).sum())) < 1e-12 * float(W.norm() * grad.norm())
    w0, g0 = float(W.norm()), float(grad.norm())
    lr = math.sqrt(8) * w0 / g0
    assert ex.check_lr_for_weight_growth(lr, w0, g0)
    assert float((W - lr * grad).norm()) / w0 == pytest.approx(3.0, rel=1e-12)


def test_lr_for_weight_growth_bad_parameters_raise():
    for kw, name in [({"weight_norm": 0.0}, "weight_norm"), ({"grad_norm": -1.0}, "grad_norm"),
                     ({"factor": 1.0}, "factor"), ({"factor": "3"}, "factor"),
                     ({"weight_norm": math.nan}, "weight_norm"), ({"grad_norm": None}, "grad_norm"),
                     ({"factor": True}, "factor")]:
        with pytest.raises(ValueError, match=f"`{name}`"):
            ex.check_lr_for_weight_growth(0.01, **kw)


@pytest.mark.parametrize("bad", NOT_NUMBERS + [np.ones(3), np.ones((2, 2)), "0.9", 1e308,
                                               np.array([math.nan])])
def test_training_checks_junk_answers_give_feedback(bad):
    import torch

    for check in (ex.check_min_batch_for_depth, ex.check_boundary_gradient_ratio,
                  ex.check_shift_for_gradient_ratio, ex.check_lr_for_weight_growth):
        for answer in (bad, torch.tensor([0.5, 0.6]), torch.tensor(0.5, requires_grad=True)):
            fb = check(answer)
            assert isinstance(fb, Feedback) and not fb and fb.expected is None


def test_boundary_gradient_ratio():
    from mftheory import batchnorm as bn

    right = math.exp(8)
    for B in (6, 8, 32, 128):                 # closed form relu_rate above, not the package
        assert relu_rate(B) ** (_depth16(B) / 2) == pytest.approx(right, rel=1e-12)
    lam = bn.gradient_explosion_rate("tanh", 32)
    assert lam ** (bn.max_trainable_depth("tanh", 32) / 2) == pytest.approx(right, rel=1e-12)
    fb = ex.check_boundary_gradient_ratio(right)
    assert fb and fb.expected is None
    assert ex.check_boundary_gradient_ratio(2981.0)       # 2980.958: four digits suffice
    assert not ex.check_boundary_gradient_ratio(2980.0)
    for wrong, hint in [(math.exp(16), "squared"), (math.exp(-8), "towards the input"),
                        (math.exp(4), "8 xi"), (16.0, "L ln(lambda_G) = 16"),
                        (8.0, "exponentiate"), (1e8, "natural logarithm")]:
        fb = ex.check_boundary_gradient_ratio(wrong)
        assert not fb and hint in fb.message
        _no_leak(fb, right)
    for bad in NOT_NUMBERS:
        fb = ex.check_boundary_gradient_ratio(bad)
        assert isinstance(fb, Feedback) and not fb and fb.expected is None

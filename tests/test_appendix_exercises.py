"""The exercise checks of the appendix on Gaussian integrals: each accepts the right answer
(computed here independently of the check: quadrature, Monte Carlo or a direct sum), rejects the
plausible wrong answers with the intended hint, treats any non-numeric answer as not correct
rather than an error, and never hands out the expected value."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from numpy.polynomial.hermite_e import hermeval
from scipy.special import erf

from mftheory import gaussian
from mftheory.exercises import Feedback
from mftheory.exercises import appendix_gaussian as ex

S2PI = math.sqrt(2 * math.pi)
CHECKS = [ex.check_theta_mixed_moment, ex.check_relu_kernel_slope, ex.check_price_slope,
          ex.check_mc_sample_size, ex.check_mehler_terms]
JUNK = [None, "x", "0.1", b"1", True, math.nan, math.inf, -math.inf, 1 + 2j, np.complex128(1),
        np.ones(3), np.ones((2, 2)), [], [0.1, 0.2], {"a": 1}, object(), torch.tensor([1.0, 2.0]),
        torch.tensor(math.nan), np.array([math.nan])]


def _no_leak(fb, value):
    assert fb.expected is None and math.isnan(fb.relative_error)
    for fmt in (".3g", ".4f", ".5g", ".6g"):
        assert format(value, fmt) not in fb.message


def _rejects(check, wrong, hint, right, **kw):
    fb = check(wrong, **kw)
    assert isinstance(fb, Feedback) and not fb, (wrong, fb.message)
    assert hint in fb.message, fb.message
    _no_leak(fb, right)


# ---------------------------------------------------------------------------------------------
def test_theta_mixed_moment():
    q1, q2, c = 3.0, 0.5, -0.3
    right = c * math.sqrt(q2) / S2PI
    # independent: the quadrature of the step against the identity (split at the kink)
    quad = gaussian.expect2(lambda u: (u > 0).astype(float), lambda u: u, q1, q2, c)
    assert quad == pytest.approx(right, abs=1e-13)
    fb = ex.check_theta_mixed_moment(right)
    assert fb and fb.expected is None and fb.relative_error < 1e-12
    assert ex.check_theta_mixed_moment(np.float32(right))             # float32 rounding: 3e-8
    assert ex.check_theta_mixed_moment(torch.tensor(right, dtype=torch.float64))
    assert not ex.check_theta_mixed_moment(right * (1 + 2e-6))
    for wrong, hint in [(-right, "sign"), (0.0, "c = 0"),
                        (c * math.sqrt(q1 * q2) / S2PI, "q1 drops out"),
                        (c * math.sqrt(q2 / q1) / S2PI, "q1 drops out"),
                        (c * q2 / S2PI, "not the variance"),
                        (c * math.sqrt(q2) / 2, "not 1/2"),
                        (c * math.sqrt(q2) / (2 * S2PI), "E[|z|]/2"),
                        (math.sqrt(1 - c * c) * math.sqrt(q2) / S2PI, "the factor is c")]:
        _rejects(ex.check_theta_mixed_moment, wrong, hint, right)


def test_relu_kernel_slope():
    q1, q2, c = 3.0, 0.75, -0.6
    right = 1.5 * (math.pi - math.acos(c)) / (2 * math.pi)
    # independent: sqrt(q1 q2) E[Theta Theta] by quadrature, and a central difference
    price = 1.5 * gaussian.derivative_kernel("relu", q1, q2, c, method="quadrature")
    assert price == pytest.approx(right, abs=1e-13)
    h = 1e-4
    fd = (gaussian.kernel("relu", q1, q2, c + h) - gaussian.kernel("relu", q1, q2, c - h)) / (2 * h)
    assert fd == pytest.approx(right, abs=1e-9)
    assert ex.check_relu_kernel_slope(right)
    assert ex.check_relu_kernel_slope(fd)
    kernel = gaussian.kernel("relu", q1, q2, c)
    for wrong, hint in [(right / 1.5, "sqrt(q1 q2)"), (right / 1.5 * 2.25, "not q1 q2"),
                        (1.5 / 4, "slope at c = 0"), (kernel, "the kernel itself"),
                        (1.5 * math.acos(c) / (2 * math.pi), "slope at c = +0.6"),
                        (-right, "increases with c"), (2 * right, "do not drop the 2")]:
        _rejects(ex.check_relu_kernel_slope, wrong, hint, right)


def _mixed(q1, q2, c):
    return gaussian.expect2(np.tanh, erf, q1, q2, c)


@pytest.mark.parametrize("point", [(1.0, 0.5, 0.3), (2.0, 0.3, -0.7), (0.05, 8.0, 0.95)])
def test_price_slope(point):
    q1, q2, c = point
    h = 1e-4
    slope = (_mixed(q1, q2, c + h) - _mixed(q1, q2, c - h)) / (2 * h)
    fb = ex.check_price_slope(slope, *point)
    assert fb, fb.message
    # Price's theorem, by Monte Carlo on the right side (independent of the check's quadrature)
    s1, s2 = np.random.default_rng(7).standard_normal((2, 400_000))
    u1, u2 = math.sqrt(q1) * s1, math.sqrt(q2) * (c * s1 + math.sqrt(1 - c * c) * s2)
    sample = math.sqrt(q1 * q2) * (1 - np.tanh(u1) ** 2) * 2 / math.sqrt(math.pi) * np.exp(-u2**2)
    assert abs(sample.mean() - slope) < 4 * sample.std() / math.sqrt(sample.size)
    # a forward difference with a large step, or Monte Carlo, is not accurate enough
    assert not ex.check_price_slope((_mixed(q1, q2, c + 1e-2) - _mixed(q1, q2, c)) / 1e-2,
                                    *point)
    root = math.sqrt(q1 * q2)
    swapped = root * gaussian.expect2(lambda u: 2 / math.sqrt(math.pi) * np.exp(-u * u),
                                      lambda u: 1 - np.tanh(u) ** 2, q1, q2, c)
    for wrong, hint in [(slope / root, "sqrt(q1 q2)"), (slope * root, "not q1 q2"),
                        (swapped, "swapped"), (_mixed(q1, q2, c), "itself"),
                        (-slope, "sign")]:
        if abs(wrong / slope - 1) > 1e-3:                  # e.g. root == 1 makes two coincide
            _rejects(ex.check_price_slope, wrong, hint, slope, q1=q1, q2=q2, c=c)


def test_price_slope_rejects_bad_points():
    for kw, name in [({"q1": 0.0}, "q1"), ({"q2": 25.0}, "q2"), ({"c": 1.0}, "c"),
                     ({"c": "0.3"}, "c"), ({"q1": math.nan}, "q1"), ({"q2": None}, "q2"),
                     ({"c": torch.tensor(0.3)}, "c"), ({"q1": True}, "q1")]:
        with pytest.raises(ValueError, match=f"`{name}`"):
            ex.check_price_slope(0.5, **kw)


def test_mc_sample_size():
    q1, q2, c = 2.0, 1.0, 0.8
    # independent: the variance of the product from 4 million samples (relative se ~ 0.1 %)
    s1, s2 = np.random.default_rng(3).standard_normal((2, 4_000_000))
    x = np.tanh(math.sqrt(q1) * s1) * np.tanh(math.sqrt(q2) * (c * s1 + math.sqrt(1 - c * c) * s2))
    n_mc = x.var() / 1e-8
    assert ex.check_mc_sample_size(n_mc)
    mean, square = x.mean(), np.mean(x**2)
    assert mean == pytest.approx(gaussian.kernel("tanh", q1, q2, c), abs=5e-4)
    assert ex.check_mc_sample_size(round(n_mc))
    assert not ex.check_mc_sample_size(1.05 * n_mc)
    var0 = gaussian.second_moment("tanh", q1) * gaussian.second_moment("tanh", q2)
    # the hints match within the check's tolerance, so these Monte Carlo slips trigger them
    for wrong, hint in [(square / 1e-8, "subtract the square"), (x.var() / 1e-4, "square the"),
                        (x.std() / 1e-8, "not the standard deviation"),
                        (x.std() / 1e-4, "sqrt(n)"), (var0 / 1e-8, "c = 0"),
                        (x.var() / 1e-6, "Var / 1e-8")]:
        _rejects(ex.check_mc_sample_size, wrong, hint, n_mc)


def test_mc_sample_size_hints_at_the_exact_slips():
    q1, q2, c = 2.0, 1.0, 0.8
    k = gaussian.kernel("tanh", q1, q2, c)
    m2 = gaussian.expect2(lambda u: np.tanh(u) ** 2, lambda u: np.tanh(u) ** 2, q1, q2, c)
    var = m2 - k * k
    _rejects(ex.check_mc_sample_size, m2 / 1e-8, "subtract the square", var / 1e-8)
    _rejects(ex.check_mc_sample_size, var / 1e-4, "square the target", var / 1e-8)
    _rejects(ex.check_mc_sample_size, var / 1e-6, "Var / 1e-8", var / 1e-8)


def test_mehler_terms():
    # independent: the Hermite coefficients of relu by a fine Gauss-Legendre sum on z > 0
    x, w = np.polynomial.legendre.leggauss(400)
    z = 7.5 * (x + 1)                                              # [0, 15]
    wz = 7.5 * w * np.exp(-z * z / 2) / S2PI
    a2 = np.array([np.sum(wz * z * hermeval(z, [0] * k + [1])) ** 2 / math.factorial(k)
                   for k in range(40)])
    assert a2.sum() == pytest.approx(0.5, abs=2e-3)                 # Parseval, tail ~ 40^-1.5
    err = np.abs(0.5 - np.cumsum(a2))
    K = int(np.argmax(err <= 5e-4)) + 1
    assert K == 21
    assert ex.check_mehler_terms(K) and ex.check_mehler_terms(21.0)
    assert ex.check_mehler_terms(np.int64(21)) and ex.check_mehler_terms(torch.tensor(21))
    fb = ex.check_mehler_terms(21.5)
    assert not fb and "whole number" in fb.message
    K_abs = int(np.argmax(err <= 1e-3)) + 1
    exact9 = gaussian.kernel("relu", 1.0, 1.0, 0.9)
    K9 = int(np.argmax(np.abs(exact9 - np.cumsum(a2 * 0.9 ** np.arange(40)))
                       <= 1e-3 * exact9)) + 1
    assert (K_abs, K9) == (13, 9)
    for wrong, hint in [(K - 1, "largest index"), (K + 1, "odd k"), (K_abs, "absolute error"),
                        (K9, "c = 0.9")]:
        fb = ex.check_mehler_terms(wrong)
        assert not fb and hint in fb.message and fb.expected is None
        assert str(K) not in fb.message
    for far in (1, 40, 1000):                  # no direction: a bisection would find K
        fb = ex.check_mehler_terms(far)
        assert not fb and "too" not in fb.message and "graded exactly" in fb.message


@pytest.mark.parametrize("check", CHECKS, ids=lambda f: f.__name__)
def test_junk_answers_give_feedback(check):
    for bad in JUNK + [torch.tensor(0.2, requires_grad=True).expand(3)]:
        fb = check(bad)
        assert isinstance(fb, Feedback) and not fb and fb.expected is None, (bad, fb)
        assert isinstance(fb.message, str) and fb.message


def test_feedback_never_carries_the_reference():
    for check in CHECKS:
        fb = check(0.123)
        assert not fb and fb.expected is None and math.isnan(fb.relative_error)
        assert "Hint" not in fb.message or "0.123" not in fb.message

"""Checks of the Fisher-information exercises: the right answers pass, the plausible wrong
ones fail with a hint naming the mistake, and any answer object gives a Feedback."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy.stats import norm

from mftheory import fisher
from mftheory.exercises import Feedback
from mftheory.exercises import fisher as ex

GAMMA, BETA = 1.5, 0.5


def _bn_moments():
    a = BETA / GAMMA
    mean = GAMMA * norm.pdf(a) + BETA * norm.cdf(a)
    return (GAMMA**2 + BETA**2) * norm.cdf(a) + BETA * GAMMA * norm.pdf(a), mean**2


def test_bn_relu_moments_right_and_monte_carlo():
    qhat, qhat_xy = _bn_moments()
    fb = ex.check_bn_relu_moments(qhat, qhat_xy)
    assert fb and fb.expected is None
    # the closed forms agree with Monte Carlo (2e6 samples, 5 standard errors)
    rng = np.random.default_rng(1)
    u = np.maximum(GAMMA * rng.standard_normal((2, 2_000_000)) + BETA, 0)
    assert abs((u[0] ** 2).mean() - qhat) < 5 * (u[0] ** 2).std() / math.sqrt(2e6)
    assert abs((u[0] * u[1]).mean() - qhat_xy) < 5 * (u[0] * u[1]).std() / math.sqrt(2e6)


@pytest.mark.parametrize("wrong,hint", [
    ((GAMMA**2 / 2, GAMMA**2 / (2 * math.pi)), "beta = 0"),
    (("sqrt", "xy"), "square root"),
    (("q", "qhat"), "independent"),
    (("q", "sqrt_xy"), "square"),
    (((GAMMA**2 + BETA**2) / 2, "xy"), "Phi"),
])
def test_bn_relu_moments_wrong(wrong, hint):
    qhat, qhat_xy = _bn_moments()
    table = {"q": qhat, "xy": qhat_xy, "sqrt": math.sqrt(qhat), "qhat": qhat,
             "sqrt_xy": math.sqrt(qhat_xy)}
    a, b = (table.get(w, w) if isinstance(w, str) else w for w in wrong)
    fb = ex.check_bn_relu_moments(a, b)
    assert not fb and hint in fb.message


def test_centered_depth_limit():
    limit = 2 * (math.pi - 1) / (math.pi - 2)
    assert ex.check_centered_depth_limit(limit)
    deep = [64] + [100] * 80 + [1]
    lam = fisher.fim_lambda_max(deep, 2.0, 0.5, True, 1.0, "centered")
    assert ex.check_centered_depth_limit(lam / (100 / (2 * math.pi)))    # converged by L=80
    for wrong, hint in [(2.0, "paper"), (math.pi / (2 * (math.pi - 1)), "ratio r itself"),
                        (1.5, "1/3"), (limit - 1, "last layer")]:
        fb = ex.check_centered_depth_limit(wrong)
        assert not fb and hint in fb.message


def test_train_mode_crossing():
    deep = [784] + [1000] * 7 + [10]
    right = fisher.gamma_crossing(deep, 2.0, 0.5, "train")
    assert ex.check_train_mode_crossing(right)
    assert right == pytest.approx(6.895, abs=1e-3)
    lam = fisher.fim_lambda_max(deep, 2.0, 0.5) / 1000
    wrongs = [(fisher.gamma_crossing([784, 1000, 1000, 1000, 10], 2.0, 0.5, "train"),
               "depth-4"),
              (2 * math.pi * lam, "square root"), (math.sqrt(lam), "2 pi"),
              (fisher.gamma_crossing(deep, 2.0, 0.5, "paper"), "paper's formula"),
              (fisher.gamma_crossing(deep, 2.0, 0.5, "centered"), "centred formula")]
    for wrong, hint in wrongs:
        fb = ex.check_train_mode_crossing(wrong)
        assert not fb and hint in fb.message, (wrong, fb.message)


def test_heavy_ball_growth():
    x = 1.05 * 2 * 1.5
    roots = np.abs(np.roots([1.0, -(1.5 - x), 0.5]))
    assert ex.check_heavy_ball_growth(roots.max())
    assert ex.check_heavy_ball_growth(fisher.heavy_ball_spectral_radius(x, 0.5))
    for wrong, hint in [(math.sqrt(0.5), "sqrt(mu)"), (roots.min(), "smaller root"),
                        (1.05, "ratio"), (abs(1 - x), "mu = 0"),
                        (fisher.heavy_ball_spectral_radius(1.02 * 3.8, 0.9), None)]:
        fb = ex.check_heavy_ball_growth(wrong)
        assert not fb
        if hint:
            assert hint in fb.message


def test_train_mode_lambda():
    lead = 512 * 2.25 / (2 * math.pi)
    right = lead + 1 + 2 * (0.25 + 1 / (2 * math.pi))
    assert ex.check_train_mode_lambda(right)
    for wrong, hint in [(lead, "alone"), (lead + 1, "gamma_{L-1}"),
                        (512 * 1.5 / (2 * math.pi) + right - lead, "gamma^2"),
                        (512 * 2.25 / 2 + right - lead, "1/(2 pi)")]:
        fb = ex.check_train_mode_lambda(wrong)
        assert not fb and hint in fb.message


def test_conv_geometry():
    assert ex.check_conv_geometry([1024, 225, 49, 9], [27, 270, 540, 810])
    assert ex.check_conv_geometry(np.array([1024, 225, 49, 9]), (27, 270, 540, 810))
    fb = ex.check_conv_geometry([1024, 256, 64, 16], [27, 270, 540, 810])
    assert not fb and "floor" in fb.message                 # padding 1 / ceil geometry
    fb = ex.check_conv_geometry([1024, 225, 49, 9], [3, 30, 60, 90])
    assert not fb and "9 sites" in fb.message               # forgot the kernel
    fb = ex.check_conv_geometry([1024, 225, 49, 9], [27, 270, 540, 90])
    assert not fb and "flattened" in fb.message
    fb = ex.check_conv_geometry([32, 15, 7, 3], [27, 270, 540, 810])    # sides, not sites
    assert not fb


def test_conv_lambda():
    right = fisher.conv_lambda_max(3, 32, [30, 60, 90], 10, 2.0, 0.5, batchnorm=True,
                                   variant="centered")
    assert right == pytest.approx(215.07, rel=1e-4)
    assert ex.check_conv_lambda(right)
    paper = fisher.conv_lambda_max(3, 32, [30, 60, 90], 10, 2.0, 0.5, batchnorm=True)
    vanilla = fisher.conv_lambda_max(3, 32, [30, 60, 90], 10, 2.0, 0.5)
    for wrong in (paper, vanilla, 10 * right, 810 / (2 * math.pi)):
        assert not ex.check_conv_lambda(wrong)
    assert "per output" in ex.check_conv_lambda(10 * right).message
    assert "head alone" in ex.check_conv_lambda(810 / (2 * math.pi)).message


ANSWERS = [None, "1.0", True, 1 + 2j, math.nan, math.inf, [], [1.0, 2.0], {"a": 1},
           object(), np.eye(3), torch.tensor(3.75, requires_grad=True),
           np.array([1.0 + 1j])]


def test_complex_right_answer_is_not_graded_correct():
    # np.asarray(..., dtype=float) would drop the imaginary part of a complex array
    limit = 2 * (math.pi - 1) / (math.pi - 2)
    assert not ex.check_centered_depth_limit(np.array(limit + 0j))
    assert not ex.check_conv_geometry(np.array([1024, 225, 49, 9]) + 0j, [27, 270, 540, 810])


@pytest.mark.parametrize("answer", ANSWERS, ids=lambda a: type(a).__name__)
def test_any_answer_gives_feedback(answer):
    checks = [lambda a: ex.check_bn_relu_moments(a, 0.5),
              lambda a: ex.check_bn_relu_moments(1.0, a),
              ex.check_centered_depth_limit, ex.check_train_mode_crossing,
              ex.check_heavy_ball_growth, ex.check_train_mode_lambda, ex.check_conv_lambda,
              lambda a: ex.check_conv_geometry(a, [27, 270, 540, 810]),
              lambda a: ex.check_conv_geometry([1024, 225, 49, 9], a)]
    for check in checks:
        fb = check(answer)
        assert isinstance(fb, Feedback) and not fb.correct


def test_feedback_does_not_reveal_the_answer():
    for fb in (ex.check_centered_depth_limit(1.0), ex.check_conv_lambda(1.0),
               ex.check_train_mode_lambda(1.0), ex.check_bn_relu_moments(1.0, 1.0)):
        assert fb.expected is None
        assert "3.75" not in fb.message and "215" not in fb.message

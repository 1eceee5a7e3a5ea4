"""The exercise checks of the square-loss chapter: each accepts the right answer (derived here
independently of the check), rejects the plausible wrong ones (with the intended hint where there
is one), and answers any non-number with a not-correct Feedback instead of an exception."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from mftheory import data
from mftheory import squareloss as sl
from mftheory.exercises import Feedback
from mftheory.exercises import square_loss as ex

NOT_NUMBERS = ["abc", None, [1.0, 2.0], math.nan, math.inf, 1j, True, {"x": 1},
               torch.tensor(1.0)]
CHECKS = [ex.check_weight_decay_for_mse_loss, ex.check_escape_time, ex.check_rho_rate,
          ex.check_projection_residual, ex.check_nc1_limit]


@pytest.mark.parametrize("check", CHECKS)
@pytest.mark.parametrize("bad", NOT_NUMBERS)
def test_checks_survive_bad_answers(check, bad):
    fb = check(bad)
    assert isinstance(fb, Feedback) and not fb


@pytest.mark.parametrize("check", CHECKS)
def test_feedback_does_not_reveal_the_expected_value(check):
    fb = check(12345.0)
    assert fb.expected is None and "12345" not in fb.message.replace("12345.0", "")


def test_weight_decay_for_mse_loss():
    lam, n, k = 1.0, 600, 10
    assert ex.check_weight_decay_for_mse_loss(2 * lam / (n * k))
    fb = ex.check_weight_decay_for_mse_loss(2 * lam / n)          # samples only
    assert not fb and "outputs" in str(fb)
    fb = ex.check_weight_decay_for_mse_loss(lam / (n * k))        # factor 2
    assert not fb and "factor 2" in str(fb)
    assert not ex.check_weight_decay_for_mse_loss(lam / n)
    assert not ex.check_weight_decay_for_mse_loss(-2 * lam / (n * k))


def test_escape_time():
    # independent: the ODE itself, integrated here, and the asymptotic law (0.03 % off here)
    from scipy.integrate import solve_ivp

    def rhs(_, r):
        return [10 * r[0] ** 1.6 * (0.5 - r[0])]

    ev = lambda _, r: r[0] - 0.25  # noqa: E731
    ev.terminal = True
    sol = solve_ivp(rhs, (0, 1000), [1e-5], events=ev, rtol=1e-10, atol=1e-16)
    assert ex.check_escape_time(sol.t_events[0][0])
    assert ex.check_escape_time(1e-5 ** -0.6 / 3)                  # asymptotic law
    fb = ex.check_escape_time(2 * 1e-5 ** -0.6 / 3)
    assert not fb and "2L" in str(fb)
    fb = ex.check_escape_time(math.log(1e5) / 2)
    assert not fb and "depth 2" in str(fb)
    assert not ex.check_escape_time(1e-5 ** -0.6 / 3 * 1.05)


def _rho_rate_by_finite_difference():
    net = sl.init_frobenius_(sl.HomogeneousMLP([10, 20, 20, 1], dtype="float64", seed=3),
                             [1.2, 0.8, 1.5], seed=3)
    d = data.two_blobs(n=30, dim=10, separation=2.0, seed=3)
    x, y = torch.as_tensor(d.x, dtype=torch.float64), torch.as_tensor(d.y, dtype=torch.float64)
    r0 = sl.rho(net)
    loss = ((net(x) - y) ** 2).mean()
    grads = torch.autograd.grad(loss, list(net.weights))
    eta = 1e-7
    with torch.no_grad():
        for w, g in zip(net.weights, grads):
            w -= eta * g
    return (sl.rho(net) - r0) / eta


def test_rho_rate():
    fd = _rho_rate_by_finite_difference()          # O(eta) = 1e-7 relative from the flow
    assert ex.check_rho_rate(fd)
    assert not ex.check_rho_rate(-fd)
    assert "factor 2" in str(ex.check_rho_rate(2 * fd))
    assert not ex.check_rho_rate(fd * 30)          # the sum loss
    ref, r, g, y, norms = ex._reference_rho_rate()
    assert "the same for every layer" in str(ex.check_rho_rate(r))
    memo = 4 / 30 * np.sum(g * g) + 4 / 30 * np.sum(g)
    fb = ex.check_rho_rate(np.prod(norms) * memo / 2 * np.sum(norms ** -2.0))
    assert not fb and "Eq. 26" in str(fb)


def test_projection_residual():
    mats, x = sl.constraint_matrices("projection", 6, 4, seed=5)
    u = mats[-1][0]
    c = abs(float(u @ x))
    assert ex.check_projection_residual(math.sqrt(1 - c * c))
    fb = ex.check_projection_residual(c)
    assert not fb and "cosine" in str(fb)
    assert not ex.check_projection_residual(1 - c)
    assert not ex.check_projection_residual(0.0)


def test_nc1_limit():
    k, r, s = 10, 1.0, 0.2
    assert ex.check_nc1_limit(s**2 * (k - 1) ** 2 / (k * r**2))
    fb = ex.check_nc1_limit(s**2 * (k - 1) ** 2 / r**2)
    assert not fb and "divide by K" in str(fb)
    assert not ex.check_nc1_limit(s**2 * (k - 1) / (k * r**2))
    assert not ex.check_nc1_limit(s**2 * k / r**2)
    assert "standard deviation" in str(ex.check_nc1_limit(s * (k - 1) ** 2 / (k * r)))
    # the limit against a large sample (sampling error ~1 % at 20000 points)
    means = np.sqrt(k / (k - 1)) * (np.eye(k) - 1 / k)
    lab = np.repeat(np.arange(k), 2000)
    h = means[lab] + s * np.random.default_rng(0).standard_normal((k * 2000, k))
    assert sl.neural_collapse_metrics(h, lab)["nc1"] == pytest.approx(0.324, rel=0.03)

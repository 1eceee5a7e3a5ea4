"""The exercise checks of the teacher-student chapter: each accepts the right answer (derived
here independently of the module) and rejects the plausible wrong ones with the intended hint;
any answer object gives a Feedback, never an exception."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.stats import norm

from mftheory import teacher as T
from mftheory.exercises import Feedback
from mftheory.exercises import teacher_student as ex

NOT_NUMBERS = ["abc", None, [1.0, 2.0], math.nan, math.inf, 1 + 2j, {"x": 1}, True]


@pytest.mark.parametrize("check", [ex.check_bn_leak, ex.check_linear_min_loss,
                                   ex.check_spurious_sample_size, ex.check_relu_identity,
                                   ex.check_off_block_update])
@pytest.mark.parametrize("bad", NOT_NUMBERS)
def test_checks_survive_bad_answers(check, bad):
    fb = check(bad)
    assert isinstance(fb, Feedback) and not fb


@pytest.mark.parametrize("bad", NOT_NUMBERS)
def test_vertex_check_survives_bad_answers(bad):
    assert not ex.check_projected_vertices(bad, 2) and not ex.check_projected_vertices(6, bad)


def test_bn_leak():
    # by hand: f-hat . g = 0.01 (0-1+2-3+4-5+6-7) = -0.04; sigma^2 = 1e-4 * 5.25;
    # s^2 = sigma^2 + 1e-4 = 6.25e-4, s = 0.025: (1/s)(-0.04)(1e-4/6.25e-4) = -0.256
    right = -0.256
    assert ex.check_bn_leak(right)
    f = 0.01 * np.arange(8.0)
    assert ex.check_bn_leak(f @ T.batchnorm_backward(f, (-1.0) ** np.arange(8), 1e-4))
    for wrong, hint in [(0.0, "eps = 0"), (0.256, "sign"), (-1.6, "missing"),
                        (-0.256 * math.sqrt(6.25 / 5.25), "sqrt"),
                        (-0.256 * 6.25 / 5.25, "not eps / sigma^2")]:
        fb = ex.check_bn_leak(wrong)
        assert not fb and hint in str(fb), (wrong, str(fb))
    assert "0.256" not in str(ex.check_bn_leak(-0.3))       # the message does not reveal it


def test_linear_min_loss():
    assert ex.check_linear_min_loss(49)                      # 64 - 2 * 7 - 1
    assert ex.check_linear_min_loss(T.linear_min_loss(T.hypercube_Q(6, 3)))
    for wrong, hint in [(57, "single-pixel"), (48, "all-ones"), (50, "+ 1"),
                        (49 / 64, "weighted"), (15, "rank")]:
        fb = ex.check_linear_min_loss(wrong)
        assert not fb and hint in str(fb), (wrong, str(fb))
    assert not ex.check_linear_min_loss(49.5)


def test_relu_identity():
    Q = T.hypercube_Q(6, 2)
    assert ex.check_relu_identity(2 * Q.T - 5 / 3)
    assert ex.check_relu_identity(T.relu_identity_weights(Q, 3))
    fb = ex.check_relu_identity(Q.T / 3)                    # diagonal 1, off-diagonal >= 0
    assert not fb and "outweigh" in str(fb)
    fb = ex.check_relu_identity(Q.T)
    assert not fb and "diagonal" in str(fb)
    assert not ex.check_relu_identity(np.zeros((64, 12)))
    assert not ex.check_relu_identity(np.full((12, 64), np.nan))


def test_projected_vertices():
    rng = np.random.default_rng(7)
    P = rng.dirichlet(np.ones(3), size=10)
    F2, F1 = rng.standard_normal((3, 2)), rng.standard_normal((3, 1))
    v2, v1 = T.vertex_count(P @ F2), T.vertex_count(P @ F1)
    assert v1 == 2 and v2 == T.vertex_count(P)               # Theorem 7 without full row rank
    assert ex.check_projected_vertices(v2, v1)
    assert ex.check_projected_vertices(float(v2), np.int64(v1))
    fb = ex.check_projected_vertices(v2, v2)                 # "the count is preserved"
    assert not fb and "line" in str(fb)
    fb = ex.check_projected_vertices(v2 - 1, v1)
    assert not fb and "injective" in str(fb)
    assert not ex.check_projected_vertices(v2 + 0.5, v1)


def test_spurious_sample_size():
    # smallest n with 2 Phi(-(delta / (2 c)) sqrt(2 n)) < 0.05 at delta = 0.1, c = 0.5
    n = next(n for n in range(1, 10_000)
             if 2 * norm.sf(0.1 / (2 * 0.5) * math.sqrt(2 * n)) < 0.05)
    assert n == 193
    assert ex.check_spurious_sample_size(n) and not ex.check_spurious_sample_size(192)
    assert T.spurious_win_probability(n, 0.1, 0.5) < 0.05 < T.spurious_win_probability(
        n - 1, 0.1, 0.5)
    for wrong, hint in [(97, "not 1/(4n)"), (385, "not 1/n"), (136, "two-sided"),
                        (769, "contrast")]:
        fb = ex.check_spurious_sample_size(wrong)
        assert not fb and hint in str(fb), (wrong, str(fb))
    assert not ex.check_spurious_sample_size(193.5)


@pytest.mark.parametrize("call", [
    lambda: ex.check_bn_leak(-0.3), lambda: ex.check_bn_leak(0.0),
    lambda: ex.check_linear_min_loss(48), lambda: ex.check_linear_min_loss(10),
    lambda: ex.check_spurious_sample_size(385), lambda: ex.check_spurious_sample_size(50),
    lambda: ex.check_projected_vertices(3, 3), lambda: ex.check_relu_identity(np.zeros((12, 64)))])
def test_wrong_feedback_reveals_no_expected_value(call):
    fb = call()
    assert not fb and fb.expected is None and math.isnan(fb.relative_error)
    for secret in ("0.256", "49", "193"):
        assert secret not in fb.message


def test_off_block_update():
    # by hand: P3 f3 = (0.8, 0.95); . p_alpha2 = 0.16 + 0.76 = 0.92; 1^T g1 = 0.2 -> 0.184
    assert ex.check_off_block_update(0.184)
    # and by building the worked case with arbitrary P12, f1, f2, p_alpha1 (eq. 99)
    rng = np.random.default_rng(0)
    P12 = rng.dirichlet(np.ones(4), size=2)
    P3 = np.array([[0.6, 0.4], [0.9, 0.1]])
    F = T.disentangled_activation(np.vstack([rng.uniform(0.1, 1, (2, 2)), [1.0, 0.5]]))
    G = T.disentangled_gradient(np.array([[-0.3, 0.5], rng.standard_normal(2)]),
                                np.vstack([rng.dirichlet(np.ones(2)), [0.2, 0.8]]))
    dW = (np.kron(P12, P3) @ F).T @ G
    assert ex.check_off_block_update(dW[2, 0])
    for wrong, hint in [(0.0, "centred"), (-0.184, "sign"), (0.92, "missing"),
                        (0.114, "P_3^T"), (0.12, "not f_3")]:
        fb = ex.check_off_block_update(wrong)
        assert not fb and hint in str(fb), (wrong, str(fb))


def test_checks_accept_or_report_torch_tensors():
    torch = pytest.importorskip("torch")
    assert ex.check_linear_min_loss(torch.tensor(49.0))
    assert not ex.check_linear_min_loss(torch.tensor(49.0, requires_grad=True) * 2)
    Q = T.hypercube_Q(6, 2)
    assert not ex.check_relu_identity(torch.tensor(2 * Q.T - 5 / 3, requires_grad=True))
    assert not ex.check_relu_identity(np.ones((12, 64)) * 1j)

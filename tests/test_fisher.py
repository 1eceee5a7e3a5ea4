"""mftheory.fisher: the mean-field FIM estimate (reference values of Wei, Stokes & Schwab's
setting, recomputed independently with a 40-line numpy implementation of the recursions),
its identities, heavy-ball stability, the conv geometry, and the empirical FIM in torch
(Lanczos against a dense eigendecomposition)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from mftheory import fisher, gaussian

PAPER = [784, 1000, 1000, 1000, 10]


# --------------------------------------------------------------------------------------
# Mean-field theory: reference values in the paper's FC setting (sigma_w2 = 2, sigma_b2 = 0.5)
# --------------------------------------------------------------------------------------
def test_vanilla_order_parameters_reference():
    # independent numpy implementation, 6-7 significant digits -> rtol 1e-6
    op = fisher.order_parameters(PAPER, 2.0, 0.5)
    np.testing.assert_allclose(op.q[1:], [2.5, 3.0, 3.5, 4.0], rtol=1e-14)
    np.testing.assert_allclose(op.q_xy[1:], [0.5, 1.561744, 2.368391, 3.064789], rtol=1e-6)
    np.testing.assert_allclose(op.qhat_xy[:4], [0, 0.530872, 0.934195, 1.282394], rtol=1e-6,
                               atol=1e-12)
    np.testing.assert_allclose(op.qtil_xy[1:], [0.280167, 0.496667, 0.736583, 1.0], rtol=1e-5)
    np.testing.assert_allclose(op.f, [0, 263.666, 688.113, 1282.394], rtol=2e-6, atol=1e-12)
    np.testing.assert_allclose(op.lam, 2234.1735, rtol=1e-7)
    np.testing.assert_allclose(op.qtil[1:], 1.0, rtol=1e-14)     # (sigma_w2/2)^(L-l) = 1


def test_bn_paper_and_centered_reference():
    assert fisher.fim_lambda_max(PAPER, 2.0, 0.5, batchnorm=True) == pytest.approx(229.8905,
                                                                                   rel=1e-6)
    op = fisher.order_parameters(PAPER, 2.0, 0.5, True, 1.0, "paper")
    np.testing.assert_allclose(op.f, [0, 17.68388, 53.05165, 159.15494], rtol=1e-6)
    np.testing.assert_allclose(op.q[1:], [2.5, 1.5, 1.5, 1.5], rtol=1e-14)
    np.testing.assert_allclose(op.q_xy[2:], 0.5 + 1 / math.pi, rtol=1e-14)
    np.testing.assert_allclose(op.qtil_xy[1:], [1 / 45, 1 / 9, 1 / 3, 1], rtol=1e-12)
    c = fisher.fim_lambda_max(PAPER, 2.0, 0.5, True, 1.0, "centered")
    assert c == pytest.approx(361.5126, rel=1e-6)


@pytest.mark.parametrize("gamma,paper,centered", [
    (0.1, 1.6073, 3.6151), (0.5, 47.5254, 90.3782), (2.0, 1045.3139, 1446.0506),
    (3.0, 2432.2931, 3253.6138), (10.0, 27773.032, 36151.265)])
def test_bn_table_against_reference(gamma, paper, centered):
    # 8 significant digits in the reference table at most -> rtol 1e-5 covers its rounding
    assert fisher.fim_lambda_max(PAPER, 2, 0.5, True, gamma) == pytest.approx(paper, rel=1e-5)
    assert fisher.fim_lambda_max(PAPER, 2, 0.5, True, gamma, "centered") == pytest.approx(
        centered, rel=1e-5)
    curve = fisher.lambda_vs_gamma(PAPER, 2, 0.5, [gamma, 1.0], "paper")
    np.testing.assert_allclose(curve[0], paper, rtol=1e-5)


def test_eta_star_reference():
    lam = fisher.fim_lambda_max(PAPER, 2.0, 0.5)
    assert fisher.max_learning_rate(lam, 0.9) == pytest.approx(1.700853e-3, rel=1e-6)
    assert fisher.max_learning_rate(lam) == pytest.approx(8.952e-4, rel=1e-3)


def test_gamma_crossing_reference():
    assert fisher.gamma_crossing(PAPER, 2.0, 0.5) == pytest.approx(2.878747, rel=1e-6)
    assert fisher.gamma_crossing(PAPER, 2.0, 0.5, "centered") == pytest.approx(2.485975,
                                                                             rel=1e-6)
    assert fisher.gamma_crossing(PAPER, 2.0, 0.5, "train") == pytest.approx(3.747, rel=1e-3)
    deep = [784] + [1000] * 7 + [10]
    assert fisher.gamma_crossing(deep, 2.0, 0.5) == pytest.approx(4.941, rel=2e-4)
    # independent of the width and of N0 (every term is proportional to the hidden width)
    assert fisher.gamma_crossing([3, 77, 77, 77, 1], 2.0, 0.5) == pytest.approx(
        fisher.gamma_crossing(PAPER, 2.0, 0.5), rel=1e-9)
    # at the crossing the two estimates agree
    g = fisher.gamma_crossing(PAPER, 1.5, 0.2, "centered")
    assert fisher.fim_lambda_max(PAPER, 1.5, 0.2, True, g, "centered") == pytest.approx(
        fisher.fim_lambda_max(PAPER, 1.5, 0.2), rel=1e-10)


def test_centered_identities():
    op = fisher.order_parameters([50, 300, 300, 300, 300, 1], 1.3, 0.7, True, 1.7, "centered")
    ratios = op.qtil_xy[2:-1] / op.qtil_xy[3:]
    np.testing.assert_allclose(ratios, math.pi / (2 * (math.pi - 1)), rtol=1e-13)
    # exactly proportional to gamma^2, and f_L = N gamma^2 / (2 pi) in every variant
    w = [50, 300, 300, 300, 1]
    lam = fisher.lambda_vs_gamma(w, 1.3, 0.7, [0.3, 0.6, 2.4], "centered")
    np.testing.assert_allclose(lam / np.array([0.09, 0.36, 5.76]), lam[0] / 0.09, rtol=1e-13)
    for variant in fisher.VARIANTS:
        op = fisher.order_parameters(w, 1.3, 0.7, True, 0.8, variant)
        assert op.f[-1] == pytest.approx(300 * 0.64 / (2 * math.pi), rel=1e-13)
    train = fisher.order_parameters(w, 1.3, 0.7, True, 0.8, "train")
    np.testing.assert_array_equal(train.f[:-1], 0.0)
    # the corrected E s^2 = q - q_xy = sigma_w2 gamma^2 (pi - 1) / (2 pi) for l >= 2
    op = fisher.order_parameters(w, 1.3, 0.7, True, 0.8, "centered")
    np.testing.assert_allclose(op.q[2:] - op.q_xy[2:], 1.3 * 0.64 * (math.pi - 1) / (2 * math.pi),
                               rtol=1e-13)


def test_paper_ratio_and_depth_limits():
    op = fisher.order_parameters(PAPER, 2.0, 0.5, True, 1.0, "paper")
    np.testing.assert_allclose(op.qtil_xy[1:4] / op.qtil_xy[2:], [0.2, 1 / 3, 1 / 3], rtol=1e-13)
    # deep centered: lambda / (N gamma^2 / 2 pi) -> 1 / (1 - r) = 2 (pi - 1) / (pi - 2)
    deep = [10] + [100] * 60 + [1]
    lam = fisher.fim_lambda_max(deep, 2.0, 0.5, True, 1.0, "centered")
    assert lam / (100 / (2 * math.pi)) == pytest.approx(2 * (math.pi - 1) / (math.pi - 2),
                                                         rel=1e-7)


def test_kernels_against_monte_carlo_and_base_cases():
    # hat q = gamma^2 / 2 and hat q_xy = gamma^2 / (2 pi) for BN-ReLU (unit Gaussians)
    rng = np.random.default_rng(0)
    z = rng.standard_normal((2, 400_000))
    g = 1.3
    a = np.maximum(g * z, 0)
    se = a[0].std() ** 2 / math.sqrt(z.shape[1]) * 2
    assert abs(np.mean(a[0] ** 2) - g**2 / 2) < 5 * np.std(a[0] ** 2) / math.sqrt(z.shape[1])
    assert abs(np.mean(a[0] * a[1]) - g**2 / (2 * math.pi)) < 5 * se
    # base case: q^1 = sigma_w2 + sigma_b2, q_xy^1 = sigma_b2, so f_1 = 0
    op = fisher.order_parameters([20, 30, 1], 1.7, 0.3)
    assert op.q[1] == pytest.approx(2.0) and op.q_xy[1] == pytest.approx(0.3) and op.f[0] == 0
    # sigma_b2 = 0: q_xy^1 = 0 so hat q^1_xy = q^1 / (2 pi)
    op = fisher.order_parameters([20, 30, 30, 1], 2.0, 0.0)
    assert op.qhat_xy[1] == pytest.approx(op.q[1] / (2 * math.pi), rel=1e-14)
    assert gaussian.kernel("relu", 2.0, 2.0, 1.0) == pytest.approx(1.0)


def test_finite_batch_v_statistic():
    op = fisher.order_parameters([20, 30, 30, 1], 2.0, 0.5)
    m = 7
    assert op.lam_m(m) == pytest.approx((1 - 1 / m) * op.lam + op.diag.sum() / m, rel=1e-14)
    with pytest.raises(ValueError, match="m"):
        op.lam_m(0)


# --------------------------------------------------------------------------------------
# Heavy ball
# --------------------------------------------------------------------------------------
@pytest.mark.parametrize("x,mu", [(0.3, 0.0), (1.9, 0.0), (2.1, 0.0), (0.5, 0.5), (2.9, 0.5),
                                  (3.1, 0.5), (3.724, 0.9), (3.876, 0.9), (0.01, 0.9)])
def test_spectral_radius_is_root_modulus(x, mu):
    roots = np.roots([1.0, -(1 + mu - x), mu])
    assert fisher.heavy_ball_spectral_radius(x, mu) == pytest.approx(np.max(np.abs(roots)),
                                                                    rel=1e-6)
    assert fisher.heavy_ball_stable(x, 1.0, mu) == (x < 2 * (1 + mu))


def test_heavy_ball_numbers():
    assert fisher.heavy_ball_spectral_radius(3.876, 0.9) == pytest.approx(1.2640, abs=1e-4)
    r = fisher.heavy_ball_spectral_radius(np.array([1.0, 2.0]), np.array([0.0, 0.25]))
    np.testing.assert_allclose(r, [0.0, 0.5], atol=1e-8)
    assert fisher.max_learning_rate(40.0, 0.5) == pytest.approx(0.075)


# --------------------------------------------------------------------------------------
# Convolutional networks
# --------------------------------------------------------------------------------------
def test_conv_geometry_and_reference():
    assert fisher.conv_geometry(32, 3) == [32, 15, 7, 3]
    assert fisher.conv_geometry(28, 3) == [28, 13, 6, 2]
    assert fisher.conv_geometry(32, 1)[1] ** 2 == 225          # the paper's |K_1|
    assert fisher.conv_geometry(8, 2, ksize=3, stride=1, padding=1) == [8, 8, 8]
    op = fisher.conv_order_parameters(3, 32, [30, 60, 90], 10, 2.0, 0.5)
    assert op.widths == (27, 270, 540, 810, 10)
    np.testing.assert_allclose(op.f, [0, 71.19, 371.58, 1038.74], rtol=1e-4, atol=1e-12)
    assert op.lam == pytest.approx(1481.51, rel=1e-5)
    kw = dict(batchnorm=True, variant="centered")
    assert fisher.conv_lambda_max(3, 32, [30, 60, 90], 10, 2, .5, **kw) == pytest.approx(
        215.07, rel=1e-4)
    assert fisher.conv_lambda_max(1, 28, [30, 60, 90], 10, 2, .5) == pytest.approx(904.43,
                                                                                  rel=1e-5)
    assert fisher.conv_lambda_max(1, 28, [30, 60, 90], 10, 2, .5, **kw) == pytest.approx(
        143.45, rel=1e-4)
    with pytest.raises(ValueError, match="too small"):
        fisher.conv_geometry(5, 3)


# --------------------------------------------------------------------------------------
# Empirical FIM in torch
# --------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def tiny():
    X, Y = fisher.synthetic_problem(24, 6, 2, seed=3)
    return X, Y


@pytest.mark.parametrize("mode", fisher.MODES)
def test_lanczos_and_power_equal_dense(tiny, mode):
    X, _ = tiny
    net = fisher.make_mlp([6, 12, 12, 2], 2.0, 0.5, mode=mode, gamma=1.3, seed=1)
    G = fisher.fim_gram(net, X)
    np.testing.assert_allclose(G, G.T, atol=1e-12)
    dense = np.linalg.eigvalsh(G)[-1]
    assert fisher.fim_top_eigenvalue(net, X) == pytest.approx(dense, rel=1e-10)
    assert fisher.fim_top_eigenvalue(net, X, method="power", tol=1e-14,
                                     max_iter=20000) == pytest.approx(dense, rel=1e-8)
    # bound chain for each output: 1^T G_k 1 / m <= lambda_max(G) <= tr(G)
    lb = fisher.fim_layer_bounds(net, X)
    assert lb.weights.sum() <= lb.total <= dense <= np.trace(G)
    Gk = G[0::2, 0::2]
    assert np.ones(24) @ Gk @ np.ones(24) / 24 <= dense


def test_gram_has_the_spectrum_of_the_fim(tiny):
    X, _ = tiny
    net = fisher.make_mlp([6, 5, 2], 2.0, 0.5, seed=0)
    f = lambda *p: net.forward(p, X).reshape(-1)                       # noqa: E731
    jac = torch.func.jacrev(f, argnums=tuple(range(len(net.params))))(*net.params)
    J = torch.cat([j.reshape(j.shape[0], -1) for j in jac], dim=1).numpy()
    big = np.linalg.eigvalsh(J.T @ J / 24)[-5:]
    small = np.linalg.eigvalsh(fisher.fim_gram(net, X))[-5:]
    np.testing.assert_allclose(big, small, rtol=1e-10)


def test_cross_entropy_fisher_against_dense(tiny):
    X, _ = tiny
    net = fisher.make_mlp([6, 12, 3], 2.0, 0.5, seed=2)
    f = lambda *p: net.forward(p, X)                                   # noqa: E731
    jac = torch.func.jacrev(f, argnums=tuple(range(len(net.params))))(*net.params)
    J = torch.cat([j.reshape(24, 3, -1) for j in jac], dim=2)
    p = torch.softmax(net(X), 1)
    H = torch.diag_embed(p) - p[:, :, None] * p[:, None, :]
    Fce = torch.einsum("mip,mij,mjq->pq", J, H, J) / 24
    dense = torch.linalg.eigvalsh(Fce)[-1].item()
    assert fisher.fim_top_eigenvalue(net, X, loss="cross_entropy") == pytest.approx(dense,
                                                                                 rel=1e-9)


def test_train_mode_bn_centres_pre_bn_bias_gradients(tiny):
    X, _ = tiny
    net = fisher.make_mlp([6, 12, 12, 1], 2.0, 0.5, mode="batch", seed=4)
    params = tuple(p.clone().requires_grad_(True) for p in net.params)
    out = net.forward(params, X)
    for name, g in zip(net.names, torch.autograd.grad(out.sum(), params)):
        if name in ("b1", "b2"):
            assert float(g.abs().max()) < 1e-12
    frozen = fisher.make_mlp([6, 12, 12, 1], 2.0, 0.5, mode="frozen", seed=4)
    params = tuple(p.clone().requires_grad_(True) for p in frozen.params)
    g = torch.autograd.grad(frozen.forward(params, X).sum(), params)
    assert float(g[frozen.names.index("b1")].abs().max()) > 1e-3


def test_cnn_forward_and_theory_agreement():
    # per-layer bound of a random CNN against the flatten-head theory; 2 nets, 16x16 inputs
    m = 64
    X = torch.randn(m, 3, 17, 17, generator=torch.Generator().manual_seed(0),
                    dtype=torch.float64)
    ws = []
    for seed in range(2):
        net = fisher.make_cnn(3, 17, [32, 64], 1, 2.0, 0.5, mode="frozen", gamma=1.0, seed=seed)
        assert net(X).shape == (m, 1)
        assert net.spec["sides"] == (17, 8, 3)
        ws.append(fisher.fim_layer_bounds(net, X).weights)
    op = fisher.conv_order_parameters(3, 17, [32, 64], 1, 2.0, 0.5, batchnorm=True,
                                      variant="centered")
    theory = op.f + op.diag / m
    # measured agreement about 5 %; 15 % allows for the 2-network average
    np.testing.assert_allclose(np.mean(ws, 0)[1:], theory[1:], rtol=0.15)


def test_linearized_threshold_is_exact():
    X, Y = fisher.synthetic_problem(16, 5, 3, seed=0)
    net = fisher.make_mlp([5, 16, 16, 3], 2.0, 0.5, mode="batch", seed=0)
    lam = fisher.fim_top_eigenvalue(net, X)
    es = fisher.max_learning_rate(lam, 0.9)
    assert fisher.heavy_ball(net, X, Y, 0.98 * es, 0.9, 200, linearized=True).converged
    assert fisher.heavy_ball(net, X, Y, 1.02 * es, 0.9, 200, linearized=True).exploded
    thr = fisher.explosion_threshold(net, X, Y, 0.5 * es, 2 * es, 0.9, 200, linearized=True,
                                     n_bisect=6)
    # the bracket is (ln 4) / 2^6 = 0.022 wide in ln(eta); the threshold is eta* exactly
    assert abs(math.log(thr / es)) < math.log(4) / 2**6


def test_linearized_matches_real_at_small_step():
    X, Y = fisher.synthetic_problem(16, 5, 3, seed=1)
    net = fisher.make_mlp([5, 16, 16, 3], 2.0, 0.5, seed=0)
    gaps = []
    for eta in (1e-4, 1e-5):
        a = fisher.heavy_ball(net, X, Y, eta, 0.5, 3)
        b = fisher.heavy_ball(net, X, Y, eta, 0.5, 3, linearized=True)
        assert a.loss[0] == b.loss[0] and a.converged and b.converged
        gaps.append(abs(a.loss[-1] - b.loss[-1]))
    # the two models differ at second order in the parameter change: the gap falls 100-fold
    assert 80 < gaps[0] / gaps[1] < 120


def test_data_helpers():
    X, Y = fisher.digits_problem(100)
    assert X.shape == (100, 64) and Y.shape == (100, 10)
    np.testing.assert_allclose(Y.sum(1), 1.0)
    Xt, _ = fisher.digits_problem(50, test=True)
    assert Xt.shape == (50, 64)
    with pytest.raises(ValueError, match="m"):
        fisher.digits_problem(10_000)


# --------------------------------------------------------------------------------------
# Bad input
# --------------------------------------------------------------------------------------
BAD_NUMBERS = [None, "1", True, 1 + 2j, math.nan, math.inf, torch.tensor([1.0, 2.0])]


@pytest.mark.parametrize("bad", BAD_NUMBERS + [-1.0, 0.0])
def test_theory_rejects_bad_sigma_w2_and_gamma(bad):
    with pytest.raises(ValueError, match="sigma_w2"):
        fisher.fim_lambda_max(PAPER, bad, 0.5)
    with pytest.raises(ValueError, match="gamma"):
        fisher.fim_lambda_max(PAPER, 2.0, 0.5, True, bad)
    with pytest.raises(ValueError, match="lam"):
        fisher.max_learning_rate(bad)


@pytest.mark.parametrize("widths", [None, "784", [784], [784, 0, 10], [784, 2.5, 10],
                                    [784, True, 10], 5])
def test_theory_rejects_bad_widths(widths):
    with pytest.raises(ValueError, match="widths"):
        fisher.order_parameters(widths, 2.0, 0.5)


@pytest.mark.parametrize("call,match", [
    (lambda: fisher.fim_lambda_max(PAPER, 2, -0.1), "sigma_b2"),
    (lambda: fisher.fim_lambda_max(PAPER, 2, 0.5, "yes"), "batchnorm"),
    (lambda: fisher.fim_lambda_max(PAPER, 2, 0.5, True, 1.0, "exact"), "variant"),
    (lambda: fisher.order_parameters(PAPER, 2, 0.5, qhat0_xy=2.0), "qhat0_xy"),
    (lambda: fisher.lambda_vs_gamma(PAPER, 2, 0.5, [1.0, -1.0]), "gammas"),
    (lambda: fisher.gamma_crossing([10, 1], 2, 0.5), "widths"),
    (lambda: fisher.max_learning_rate(1.0, 1.0), "momentum"),
    (lambda: fisher.max_learning_rate(1.0, -0.1), "momentum"),
    (lambda: fisher.heavy_ball_spectral_radius("x", 0.5), "eta_lambda"),
    (lambda: fisher.heavy_ball_stable(0.1, 0.0, 0.5), "lam"),
    (lambda: fisher.conv_geometry(32, 0), "n_layers"),
    (lambda: fisher.conv_geometry(32.0, 2), "in_hw"),
    (lambda: fisher.conv_lambda_max(3, 32, [], 10, 2, 0.5), "channels"),
    (lambda: fisher.synthetic_problem(0, 3, 2), "m"),
    (lambda: fisher.make_mlp(PAPER, 2, 0.5, mode="train"), "mode"),
    (lambda: fisher.make_mlp(PAPER, 2, 0.5, device="gpu0"), "device"),
    (lambda: fisher.make_cnn(3, 4, [8, 8], 10, 2, 0.5), "too small"),
])
def test_bad_arguments(call, match):
    with pytest.raises(ValueError, match=match):
        call()


@pytest.mark.parametrize("bad_x", [None, "X", np.zeros((4, 5)), np.full((4, 6), np.nan),
                                   np.zeros((1, 6)), np.zeros((4, 6), dtype=complex),
                                   torch.zeros(4, 6, dtype=torch.complex64)])
def test_empirical_functions_reject_bad_inputs(bad_x):
    net = fisher.make_mlp([6, 8, 1], 2.0, 0.5)
    with pytest.raises(ValueError, match="X"):
        fisher.fim_top_eigenvalue(net, bad_x)
    with pytest.raises(ValueError, match="X"):
        fisher.fim_layer_bounds(net, bad_x)
    with pytest.raises(ValueError, match="X"):
        fisher.fim_gram(net, bad_x)


def test_empirical_functions_reject_bad_net_and_targets(tiny):
    X, Y = tiny
    net = fisher.make_mlp([6, 8, 2], 2.0, 0.5)
    for bad in (None, "net", torch.nn.Linear(6, 2)):
        with pytest.raises(ValueError, match="net"):
            fisher.fim_top_eigenvalue(bad, X)
    with pytest.raises(ValueError, match="method"):
        fisher.fim_top_eigenvalue(net, X, method="arnoldi")
    with pytest.raises(ValueError, match="loss"):
        fisher.fim_top_eigenvalue(net, X, loss="hinge")
    with pytest.raises(ValueError, match="Y"):
        fisher.heavy_ball(net, X, Y[:5], 0.1)
    with pytest.raises(ValueError, match="Y"):
        fisher.heavy_ball(net, X, Y[:, :1], 0.1)
    with pytest.raises(ValueError, match="eta"):
        fisher.heavy_ball(net, X, Y, -0.1)
    with pytest.raises(ValueError, match="steps"):
        fisher.heavy_ball(net, X, Y, 0.1, steps=0)
    with pytest.raises(ValueError, match="eta_hi"):
        fisher.explosion_threshold(net, X, Y, 0.1, 0.05)
    with pytest.raises(ValueError, match="eta_hi"):
        fisher.explosion_threshold(net, X, Y, 1e-4, 2e-4, steps=5)


def test_lr_gamma_grid_matches_single_runs():
    # the batched runs (one parameter copy per learning rate) equal separate heavy-ball runs
    X, Y = fisher.synthetic_problem(16, 5, 3, seed=4)
    etas = [0.01, 0.3, 30.0]
    grid = fisher.lr_gamma_grid([5, 8, 8, 3], X, Y, [0.5, 2.0], etas, 0.9, 15, seed=1)
    assert grid.loss.shape == grid.exploded.shape == (2, 3)
    for i, g in enumerate((0.5, 2.0)):
        net = fisher.make_mlp([5, 8, 8, 3], 2.0, 0.5, mode="batch", gamma=g, seed=1)
        assert grid.lam[i] == pytest.approx(fisher.fim_top_eigenvalue(net, X), rel=1e-10)
        for j, eta in enumerate(etas):
            run = fisher.heavy_ball(net, X, Y, eta, 0.9, 15)
            assert grid.exploded[i, j] == run.exploded
            if not run.exploded:
                assert grid.loss[i, j] == pytest.approx(run.loss[-1], rel=1e-9)
            else:
                assert math.isnan(grid.loss[i, j])
    assert grid.exploded[:, -1].all() and not grid.exploded[:, 0].any()
    np.testing.assert_allclose(grid.eta_star, 3.8 / grid.lam, rtol=1e-14)

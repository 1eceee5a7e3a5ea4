"""mftheory.squareloss: identities of homogeneous networks (to rounding), rho_eq and the
weight-decay conversion, the rho ODEs against their closed forms, neural-collapse metrics on exact and hand-made
features, the constraint and diagonal-network counter-examples, training, and bad input."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from mftheory import data
from mftheory import squareloss as sl


@pytest.fixture(scope="module")
def blobs():
    d = data.two_blobs(n=24, dim=6, separation=2.0, seed=0)
    return d.x.astype(np.float64), d.y.astype(np.float64)


def _net(dims=(6, 12, 12, 1), bn=False, norm=1.3, seed=0):
    # bn_eps = 0: BN is then exactly scale invariant (torch's 1e-5 breaks it at ~1e-4)
    return sl.init_frobenius_(sl.HomogeneousMLP(list(dims), bn=bn, dtype="float64", seed=seed,
                                                bn_eps=0.0), norm, seed=seed)


# --------------------------------------------------------------------------------------
# Homogeneity, structural lemma, rho and f
# --------------------------------------------------------------------------------------
@pytest.mark.parametrize("alpha", [0.3, 1.0, 2.5])
def test_homogeneity_degree_L(blobs, alpha):
    # g(aW) = a^L g(W) exactly up to float64 rounding (~1e-16 per operation)
    assert sl.homogeneity_residual(_net(), blobs[0], alpha) < 1e-13


def test_homogeneity_per_layer_and_rho_f_split(blobs):
    x, _ = blobs
    net = _net(norm=[2.0, 0.5, 1.5])
    f = sl.normalized_output(net, x)
    with torch.no_grad():
        g = net(torch.as_tensor(x)).numpy()
    np.testing.assert_allclose(sl.rho(net), 2.0 * 0.5 * 1.5, rtol=1e-12)
    np.testing.assert_allclose(sl.rho(net) * f, g, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(sl.layer_norms(net), [2.0, 0.5, 1.5], rtol=1e-12)
    assert np.abs(f).max() <= 1.0                               # |f| <= ||x|| = 1
    with torch.no_grad():
        net.weights[1].mul_(3.0)                                # one layer: degree 1
        g3 = net(torch.as_tensor(x)).numpy()
    np.testing.assert_allclose(g3, 3.0 * g, rtol=1e-12, atol=1e-15)


def test_structural_lemma_without_and_with_bn(blobs):
    x, _ = blobs
    assert sl.structural_lemma_residual(_net(), x).max() < 1e-12
    res = sl.structural_lemma_residual(_net(bn=True), x)    # lower layers: <W, dg/dW> = 0
    assert res.max() < 1e-10


def test_bn_scale_invariance_and_rho_modes(blobs):
    x, _ = blobs
    net = _net(bn=True, norm=[0.3, 4.0, 2.0])
    f0 = sl.normalized_output(net, x)
    assert sl.rho(net) == pytest.approx(2.0) and sl.rho(net, "all") == pytest.approx(2.4)
    sl.project_lower_layers_(net)
    np.testing.assert_allclose(sl.layer_norms(net), [1.0, 1.0, 2.0], rtol=1e-12)
    np.testing.assert_allclose(sl.normalized_output(net, x), f0, rtol=1e-6, atol=1e-9)


def test_stats_from_training_set(blobs):
    # BN outputs of a test batch use the training statistics: a single point gets the same value
    # as in the full batch
    x, _ = blobs
    net = _net(bn=True)
    full = sl.normalized_output(net, x)
    one = sl.normalized_output(net, x[:2], stats_from=x)
    np.testing.assert_allclose(one, full[:2], rtol=1e-12)


# --------------------------------------------------------------------------------------
# Theory
# --------------------------------------------------------------------------------------
def test_rho_eq_and_weight_decay_conversion():
    f, y = np.array([0.5, -0.25, 0.1]), np.array([1.0, -1.0, 1.0])
    # by hand: sum y f = 0.85, sum f^2 = 0.3225
    assert sl.rho_eq(f, y) == pytest.approx(0.85 / 0.3225, rel=1e-14)
    assert sl.rho_eq(f, y, lam=1.0) == pytest.approx(0.85 / 1.3225, rel=1e-14)
    assert sl.lam_from_torch_wd(0.01, 250) == pytest.approx(1.25)
    assert sl.torch_wd_from_lam(sl.lam_from_torch_wd(0.003, 77), 77) == pytest.approx(0.003)
    # rho_dot vanishes at rho_eq and the multiplier identity nu = -rho sum l f
    r = sl.rho_eq(f, y, 0.7)
    assert abs(sl.rho_dot_normalized(r, f, y, 0.7)) < 1e-14
    assert sl.lagrange_nu(r, f, y) == pytest.approx(-r * np.sum((r * f - y) * f))
    # footnote 4 corrected: at equilibrium sum l f = -lambda rho
    assert np.sum((r * f - y) * f) == pytest.approx(-0.7 * r, rel=1e-12)


def test_rho_eq_is_the_last_layer_stationary_point(blobs):
    # minimise the mean loss + (wd/2)||W_L||^2 over W_L exactly (ridge regression on the features):
    # then ||W_L|| = rho_eq with lam = N wd / 2 to rounding
    x, y = blobs
    net = _net(bn=True)
    wd = 0.05
    with torch.no_grad():
        h = net.features(torch.as_tensor(x)).numpy()
    n = len(y)
    w = np.linalg.solve(h.T @ h / n * 2 + wd * np.eye(h.shape[1]), 2 * h.T @ y / n)
    with torch.no_grad():
        net.weights[-1].copy_(torch.as_tensor(w[None, :]))
    f = sl.normalized_output(net, x)
    np.testing.assert_allclose(sl.rho(net), sl.rho_eq(f, y, sl.lam_from_torch_wd(wd, n)),
                               rtol=1e-10)


def test_normalized_closed_form_solves_eq5():
    t = np.linspace(0, 2, 9)
    r = sl.rho_normalized_closed_form(0.01, 0.8, 1.5, 0.5, t)
    # rho' = 2 a - 2 (b + lam) rho, by a centred difference of the closed form
    h = 1e-6
    dr = (sl.rho_normalized_closed_form(0.01, 0.8, 1.5, 0.5, t + h) -
          sl.rho_normalized_closed_form(0.01, 0.8, 1.5, 0.5, t + 2 * h)) / -h
    np.testing.assert_allclose(dr, 2 * 0.8 - 2 * 2.0 * r, atol=1e-5)
    assert r[0] == pytest.approx(0.01) and abs(r[-1] - 0.4) < 0.01


def test_ode_logistic_closed_form_depth2():
    # L = 2: rho' = 4 rho (a - b rho) is logistic with rate 4a
    t = np.linspace(0, 4, 9)
    eps, a, b = 1e-3, 0.7, 1.4
    rinf = a / b
    exact = rinf / (1 + (rinf - eps) / eps * np.exp(-4 * a * t))
    np.testing.assert_allclose(sl.solve_rho_ode(eps, 2, a, b, t), exact, rtol=1e-8)
    np.testing.assert_allclose(sl.escape_time(eps, 2, a, b),
                               math.log((rinf - eps) / eps) / (4 * a), rtol=1e-9)
    assert sl.escape_time_asymptotic(eps, 2, a, b) == pytest.approx(
        math.log((rinf - eps) / eps) / (4 * a))


@pytest.mark.parametrize("L", [3, 4, 6])
def test_escape_time_power_law(L):
    # Demo B of the source notes: slope within 0.02 of -(L-2)/L on eps in [1e-6, 1e-4];
    # L = 4, eps = 1e-4: T = 24.86 (asymptotic 25)
    eps = np.logspace(-6, -4, 5)
    T = [sl.escape_time(e, L, 1.0, 1.0) for e in eps]
    slope = np.polyfit(np.log(eps), np.log(T), 1)[0]
    assert abs(slope + (L - 2) / L) < 0.02
    for e, t in zip(eps, T):
        assert t == pytest.approx(sl.escape_time_asymptotic(e, L, 1.0), rel=0.05)
    if L == 4:
        assert sl.escape_time(1e-4, 4, 1.0, 1.0) == pytest.approx(24.86, abs=0.01)


def test_escape_time_agrees_with_the_ode():
    T = sl.escape_time(1e-4, 4, 1.0, 2.0)
    np.testing.assert_allclose(sl.solve_rho_ode(1e-4, 4, 1.0, 2.0, [T]), 0.25, rtol=1e-6)


def test_eq28_against_one_gradient_step(blobs):
    x, y = blobs
    net = _net(dims=(6, 10, 10, 10, 1), norm=0.9)
    f = sl.normalized_output(net, x)
    r0 = sl.rho(net)
    pred = sl.rho_dot_unnormalized(r0, np.sum(f * y), np.sum(f * f), 4) / len(y)
    loss = ((net(torch.as_tensor(x)) - torch.as_tensor(y)) ** 2).mean()
    grads = torch.autograd.grad(loss, list(net.weights))
    eta = 1e-5
    with torch.no_grad():
        for w, g in zip(net.weights, grads):
            w -= eta * g
    np.testing.assert_allclose((sl.rho(net) - r0) / eta, pred, rtol=1e-4)


def test_lemma3_rates_equal_across_layers(blobs):
    x, y = blobs
    net = _net(norm=[1.5, 0.7, 1.1])
    rates = sl.layer_norm_rates(net, x, y)
    with torch.no_grad():
        g = net(torch.as_tensor(x)).numpy()
    np.testing.assert_allclose(rates, -4 / len(y) * np.sum((g - y) * g), rtol=1e-12)


# --------------------------------------------------------------------------------------
# Metrics
# --------------------------------------------------------------------------------------
def test_margins_and_ramp_loss():
    y = np.array([1.0, -1.0, 1.0, -1.0])
    g = np.array([2.0, 0.5, 0.25, -0.5])
    np.testing.assert_array_equal(sl.margins(g, y), [2.0, -0.5, 0.25, 0.5])
    np.testing.assert_array_equal(sl.ramp_loss(g, y, 0.0), [0, 1, 0, 0])
    np.testing.assert_allclose(sl.ramp_loss(g, y, 1.0), [0, 1, 0.75, 0.5])
    assert np.all(sl.ramp_loss(g, y, 0.0) <= sl.ramp_loss(g, y, 1.0))


def _etf(k, p):
    m = np.sqrt(k / (k - 1)) * (np.eye(k) - 1 / k)
    return np.hstack([m, np.zeros((k, p - k))])


@pytest.mark.parametrize("k", [3, 10])
def test_nc_metrics_vanish_on_simplex_etf(k):
    means = _etf(k, k + 4)
    lab = np.repeat(np.arange(k), 4)
    nc = sl.neural_collapse_metrics(means[lab], lab, classifier=means)
    assert set(nc) == {"nc1", "nc2_equinorm", "nc2_equiangle", "nc3", "nc4"}
    assert max(nc.values()) < 1e-12


def test_nc1_on_hand_made_scatter():
    # two classes on a line: means +-1 (global mean 0), within-class offsets +-0.5 on the line
    # and +-2 across it. Sigma_B = diag(1, 0), Sigma_W = diag(0.25, 4): tr(Sigma_W Sigma_B^+) / 2
    # = 0.25 / 2 (the across direction is outside the span of the means)
    h = np.array([[1.5, 2.0], [0.5, -2.0], [-0.5, 2.0], [-1.5, -2.0]])
    lab = np.array([0, 0, 1, 1])
    nc = sl.neural_collapse_metrics(h, lab)
    assert nc["nc1"] == pytest.approx(0.125, rel=1e-12)
    assert nc["nc2_equinorm"] == pytest.approx(0.0, abs=1e-15)
    assert nc["nc2_equiangle"] == pytest.approx(0.0, abs=1e-15)   # K = 2: always antiparallel


def test_nc3_nc4_detect_a_misaligned_classifier():
    means = _etf(4, 6)
    lab = np.repeat(np.arange(4), 3)
    w = np.roll(means, 1, axis=0)                 # classifier rows assigned to the wrong classes
    nc = sl.neural_collapse_metrics(means[lab], lab, classifier=w)
    assert nc["nc4"] == 1.0 and nc["nc3"] > 1.0


def test_stable_rank():
    assert sl.stable_rank(np.eye(5)) == pytest.approx(5.0)
    assert sl.stable_rank(np.outer([1, 2, 3], [4, 5])) == pytest.approx(1.0)
    assert sl.stable_rank(np.diag([2.0, 1.0])) == pytest.approx(1.25)


# --------------------------------------------------------------------------------------
# Constraints (memo App. H) and diagonal networks
# --------------------------------------------------------------------------------------
def test_orthogonal_weights_violate_eq48_projections_satisfy_it():
    # source notes: L = 3, p = 5: orthogonal residuals ~0.8-0.96; projections ~5e-16 for k >= 2
    mats, x = sl.constraint_matrices("orthogonal", 5, 3, seed=0)
    for v in mats[:-1]:
        np.testing.assert_allclose(v @ v.T * 5, np.eye(5), atol=1e-12)   # orthogonal / sqrt(5)
    assert sl.linear_constraint_residuals(mats, x).min() > 0.1
    mats, x = sl.constraint_matrices("projection", 5, 4, seed=1)
    res = sl.linear_constraint_residuals(mats, x)
    assert res[1:].max() < 1e-13 and res[0] > 0.1
    u = mats[-1][0]
    assert res[0] == pytest.approx(math.sqrt(1 - (u @ x) ** 2), rel=1e-12)
    mats, x = sl.constraint_matrices("projection", 5, 4, seed=1, x=np.arange(1.0, 6.0))
    assert sl.linear_constraint_residuals(mats, x).max() < 1e-13


def test_diagonal_networks_do_not_stay_diagonal():
    # source notes: max |off-diagonal gradient| 2.2-4.1 at their setting; any value >> 0 refutes
    assert min(sl.diagonal_offdiag_gradient(6, L, seed=s) for L in (2, 3, 4)
               for s in range(3)) > 1e-3


# --------------------------------------------------------------------------------------
# Training
# --------------------------------------------------------------------------------------
def test_training_paper_model_reaches_rho_eq(monkeypatch):
    monkeypatch.setenv("CI", "1")
    d = data.two_blobs(n=40, dim=8, separation=3.0, seed=1)
    net = sl.project_lower_layers_(sl.init_frobenius_(
        sl.HomogeneousMLP([8, 16, 16, 1], bn=True), 0.2, seed=1))
    h = sl.train_square_loss(net, d.x, d.y, steps=600, lr=0.05, wd=0.02, wd_last_only=True,
                             project_lower=True, log_every=50, X_test=d.x, y_test=d.y)
    assert h.t[-1] == 600 and len(h.t) == 13 and h.margins.shape == (13, 40)
    np.testing.assert_allclose(h.layer_norms[-1][:-1], 1.0, rtol=1e-5)
    assert abs(h.rho[-1] / h.rho_eq[-1] - 1) < 1e-2
    assert h.lam == pytest.approx(40 * 0.02 / 2)
    assert h.train_acc[-1] == 1.0 and h.test_acc[-1] == 1.0


def test_training_multiclass_records_nc(monkeypatch):
    monkeypatch.setenv("CI", "1")
    d = data.gaussian_mixture(60, 5, 3, separation=4.0, seed=0)
    x = d.x / np.linalg.norm(d.x, axis=1, keepdims=True)
    net = sl.init_frobenius_(sl.HomogeneousMLP([5, 16, 16, 3], bn=True), 1.0)
    h = sl.train_square_loss(net, x, d.y, steps=100, lr=0.01, momentum=0.9, log_every=25,
                             nc_every=50)
    assert len(h.nc) == 3 and h.nc[-1]["nc1"] < h.nc[0]["nc1"]
    assert h.rho_eq.size == 0 and h.loss[-1] < h.loss[0]


def test_training_is_deterministic(monkeypatch):
    monkeypatch.setenv("CI", "1")
    d = data.two_blobs(n=20, dim=4, seed=2)
    runs = [sl.train_square_loss(sl.init_frobenius_(sl.HomogeneousMLP([4, 8, 8, 1]), 1.0),
                                 d.x, d.y, steps=30, lr=0.05, momentum=0.9).rho for _ in range(2)]
    np.testing.assert_array_equal(*runs)


# --------------------------------------------------------------------------------------
# Bad input
# --------------------------------------------------------------------------------------
BAD_NUMBERS = [None, "1", True, 1j, math.nan, math.inf, torch.tensor(1.0), [1.0, 2.0]]


@pytest.mark.parametrize("bad", BAD_NUMBERS)
def test_scalar_arguments_reject_bad_objects(bad):
    f, y = [0.5, -0.5], [1.0, -1.0]
    for call in (lambda: sl.rho_eq(f, y, bad), lambda: sl.lam_from_torch_wd(bad, 10),
                 lambda: sl.escape_time(bad, 3, 1.0, 1.0), lambda: sl.solve_rho_ode(
                     1e-3, 3, bad, 1.0, [1.0]), lambda: sl.rho_dot_unnormalized(bad, 1, 1, 3),
                 lambda: sl.escape_time_asymptotic(1e-3, bad, 1.0)):
        with pytest.raises(ValueError):
            call()


@pytest.mark.parametrize("bad", [None, "ab", [[1.0, 2.0]], [1.0, math.nan], [1j, 1.0],
                                 torch.tensor([1.0, 2.0]), [True, False], []])
def test_array_arguments_reject_bad_objects(bad):
    with pytest.raises(ValueError):
        sl.rho_eq(bad, [1.0, -1.0])
    with pytest.raises(ValueError):
        sl.margins([1.0, 2.0], bad)
    with pytest.raises(ValueError):
        sl.neural_collapse_metrics(bad, [0, 1])


def test_specific_errors():
    with pytest.raises(ValueError, match="same shape"):
        sl.rho_eq([1.0, 2.0], [1.0])
    with pytest.raises(ValueError, match=r"\+1 and -1"):
        sl.margins([1.0, 2.0], [1.0, 0.0])
    with pytest.raises(ValueError, match="eps"):
        sl.escape_time(0.6, 3, 1.0, 1.0)
    with pytest.raises(ValueError, match="depth"):
        sl.rho_dot_unnormalized(1.0, 1.0, 1.0, 1)
    with pytest.raises(ValueError, match="every class"):
        sl.neural_collapse_metrics(np.ones((3, 2)), [0, 2, 2])
    with pytest.raises(ValueError, match="dims"):
        sl.HomogeneousMLP([3, 1])
    with pytest.raises(ValueError, match="dims"):
        sl.HomogeneousMLP([3, 0, 1])
    with pytest.raises(ValueError, match="bn"):
        sl.HomogeneousMLP([3, 4, 1], bn="yes")
    with pytest.raises(ValueError, match="model"):
        sl.rho(torch.nn.Linear(2, 1))
    with pytest.raises(ValueError, match="norm"):
        sl.init_frobenius_(sl.HomogeneousMLP([3, 4, 1]), [1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match="mode"):
        sl.rho(sl.HomogeneousMLP([3, 4, 1]), "first")
    with pytest.raises(ValueError, match="shape"):
        sl.normalized_output(sl.HomogeneousMLP([3, 4, 1]), np.ones((2, 4)))
    with pytest.raises(ValueError, match="project_lower"):
        sl.train_square_loss(sl.HomogeneousMLP([3, 4, 1]), np.ones((2, 3)), [1.0, -1.0],
                             steps=1, lr=0.1, project_lower=True)
    with pytest.raises(ValueError, match="class labels"):
        sl.train_square_loss(sl.HomogeneousMLP([3, 4, 3]), np.ones((2, 3)), [0, 5],
                             steps=1, lr=0.1)
    with pytest.raises(ValueError, match="lr"):
        sl.train_square_loss(sl.HomogeneousMLP([3, 4, 1]), np.ones((2, 3)), [1.0, -1.0],
                             steps=1, lr=0.0)
    d = data.two_blobs(n=20, dim=4, seed=2)
    with pytest.raises(ValueError, match="diverged"):
        sl.train_square_loss(sl.init_frobenius_(sl.HomogeneousMLP([4, 8, 8, 1]), 30.0),
                             d.x, d.y, steps=50, lr=10.0)
    dead = sl.HomogeneousMLP([4, 8, 8, 1])
    with torch.no_grad():
        dead.weights[0].zero_()
    with pytest.raises(ValueError, match="identically zero"):
        sl.train_square_loss(dead, d.x, d.y, steps=1, lr=0.1)
    with pytest.raises(ValueError, match="BN"):
        sl.homogeneity_residual(sl.HomogeneousMLP([3, 4, 1], bn=True), np.ones((2, 3)), 2.0)
    with pytest.raises(ValueError, match="kind"):
        sl.constraint_matrices("unitary", 3, 3)
    with pytest.raises(ValueError, match="zero"):
        sl.stable_rank(np.zeros((2, 2)))
    with pytest.raises(ValueError, match="chain|row"):
        sl.linear_constraint_residuals([np.ones((2, 3)), np.ones((1, 3))], np.ones(3))


def test_training_step_is_sgd_with_momentum_and_weight_decay(monkeypatch):
    # two steps by hand with autograd gradients: buf = mu buf + g + wd W, W -= lr buf (torch's SGD)
    monkeypatch.setenv("CI", "1")
    d = data.two_blobs(n=10, dim=3, seed=4)
    x, y = d.x.astype(np.float64), d.y.astype(np.float64)
    lr, mu, wd = 0.1, 0.9, 0.05
    trained = _net(dims=(3, 5, 1), norm=1.0, seed=4)
    sl.train_square_loss(trained, x, y, steps=2, lr=lr, momentum=mu, wd=wd)
    ref = _net(dims=(3, 5, 1), norm=1.0, seed=4)
    ws, bufs = list(ref.weights), [None, None]
    for _ in range(2):
        loss = ((ref(torch.as_tensor(x)) - torch.as_tensor(y)) ** 2).mean()
        grads = torch.autograd.grad(loss, ws)
        with torch.no_grad():
            for i, (w, g) in enumerate(zip(ws, grads)):
                step = g + wd * w
                bufs[i] = step if bufs[i] is None else mu * bufs[i] + step
                w -= lr * bufs[i]
    for a, b in zip(trained.weights, ref.weights):
        np.testing.assert_allclose(a.detach().numpy(), b.detach().numpy(), rtol=1e-13, atol=1e-15)


def test_normalized_flow_is_tangent_and_equals_the_memo_form(blobs):
    x, y = blobs
    net = _net(norm=[1.5, 0.7, 1.1])
    flow = sl.normalized_flow(net, x, y, lam=0.3)
    assert flow["tangency"] < 1e-12                      # <V_k, dV_k/dt> = 0
    for a, b in zip(flow["v_dot"], flow["v_dot_memo"]):  # structural lemma: same vector field
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-14)
    f = sl.normalized_output(net, x)
    r = sl.rho(net)
    assert flow["rho_dot"] == pytest.approx(sl.rho_dot_normalized(r, f, y, 0.3), rel=1e-12)
    assert flow["nu"] == pytest.approx(sl.lagrange_nu(r, f, y), rel=1e-12)
    with pytest.raises(ValueError, match="BN"):
        sl.normalized_flow(_net(bn=True), x, y)


def test_training_callback_sees_every_log(monkeypatch):
    monkeypatch.setenv("CI", "1")
    d = data.two_blobs(n=20, dim=4, seed=2)
    seen = []
    sl.train_square_loss(sl.init_frobenius_(sl.HomogeneousMLP([4, 8, 8, 1]), 1.0), d.x, d.y,
                         steps=20, lr=0.05, log_every=5, callback=seen.append)
    assert seen == [0, 5, 10, 15, 20]
    with pytest.raises(ValueError, match="callback"):
        sl.train_square_loss(sl.HomogeneousMLP([4, 8, 8, 1]), d.x, d.y, steps=1, lr=0.1,
                             callback="print")

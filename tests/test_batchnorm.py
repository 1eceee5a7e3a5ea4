"""mftheory.batchnorm: reference values, identities of the BN mean-field theory, the finite-width
simulation and the input checks.

Reference values: the ReLU, identity, tanh and alpha-ReLU tables were computed independently of
this module (closed forms of Yang et al. 2019 evaluated to 7 significant digits, cross-checked by
sphere quadrature and sphere Monte Carlo with 4e6 samples); they are typed in here, not
recomputed with the code under test.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from mftheory import batchnorm as bn

torch = pytest.importorskip("torch")

# B: (Sigma*_12, lambda_G, forward lambda_L, forward lambda_M), ReLU
RELU = {4: (0.0847483, 3.084061, 0.525812, 0.377435),
        8: (0.1250675, 1.788190, 0.743611, 0.538611),
        16: (0.1428421, 1.589950, 0.865584, 0.630815),
        32: (0.1511732, 1.521953, 0.931049, 0.680696)}
# B: (Sigma*_11, Sigma*_12, lambda_G), tanh
TANH = {4: (0.4576962, -0.1447447, 2.129256),
        8: (0.4201695, -0.0561556, 1.358548),
        32: (0.3998960, -0.0120124, 1.208303),
        128: (0.3956478, -0.0028992, 1.184853)}
# alpha: lambda_G at B = 4, 8, 16, 32, 128
ALPHA = {0.75: (3.47938, 2.10380, 1.90356, 1.83699, 1.79645),
         1.5: (3.21457, 1.82682, 1.60557, 1.52803, 1.47921),
         2.0: (3.48970, 2.00128, 1.75795, 1.67154, 1.61672),
         3.0: (4.11673, 2.43216, 2.15221, 2.05135, 1.98676)}


def _random_sigma(B, seed):
    A = np.random.default_rng(seed).standard_normal((B, B))
    return A @ A.T / B + 0.05 * np.eye(B)


# --------------------------------------------------------------------------------------
# BN forward / backward
# --------------------------------------------------------------------------------------
def test_bn_forward_identities():
    z = np.random.default_rng(0).standard_normal((7, 5)) * 4 - 2
    zhat, sigma = bn.bn_forward(z)
    np.testing.assert_allclose(zhat.sum(axis=0), 0, atol=1e-13)
    np.testing.assert_allclose((zhat**2).sum(axis=0), 7, rtol=1e-13)
    np.testing.assert_allclose(sigma, z.std(axis=0), rtol=1e-13)   # population std
    zhat_e, sig_e = bn.bn_forward(z, eps=0.5)
    var = z.var(axis=0)
    np.testing.assert_allclose((zhat_e**2).mean(axis=0), var / (var + 0.5), rtol=1e-13)
    np.testing.assert_allclose(sig_e, np.sqrt(var + 0.5), rtol=1e-13)


@pytest.mark.parametrize("eps", [0.0, 1e-3, 0.7])
def test_bn_backward_matches_autograd(eps):
    rng = np.random.default_rng(1)
    z = rng.standard_normal((8, 6)) * 2 + 1
    g = rng.standard_normal((8, 6))
    zt = torch.tensor(z, dtype=torch.float64, requires_grad=True)
    mu = zt.mean(dim=0)
    out = (zt - mu) / torch.sqrt(((zt - mu) ** 2).mean(dim=0) + eps)
    (out * torch.tensor(g)).sum().backward()
    zhat, sigma = bn.bn_forward(z, eps)
    np.testing.assert_allclose(zhat, out.detach().numpy(), atol=1e-13)
    np.testing.assert_allclose(bn.bn_backward(g, zhat, sigma), zt.grad.numpy(), atol=1e-12)
    if eps == 0.0:
        dz = bn.bn_backward(g, zhat, sigma)
        np.testing.assert_allclose(dz.sum(axis=0), 0, atol=1e-13)
        np.testing.assert_allclose((dz * zhat).sum(axis=0), 0, atol=1e-12)


def test_bn_forward_one_dimensional_and_errors():
    zhat, sigma = bn.bn_forward([1.0, 2.0, 4.0])
    assert zhat.shape == (3,) and np.ndim(sigma) == 0
    for bad, match in [([1.0], "shape"), ([[1.0, 2.0]], "shape"), (np.ones(4), "vary"),
                       ("abc", "z"), (None, "z"), ([1.0, np.nan, 2.0], "finite"),
                       (np.ones((2, 2, 2)), "shape"), ([1 + 1j, 2.0], "z")]:
        with pytest.raises(ValueError, match=match):
            bn.bn_forward(bad)
    with pytest.raises(ValueError, match="eps"):
        bn.bn_forward([1.0, 2.0], eps=-1.0)
    with pytest.raises(ValueError, match="eps"):
        bn.bn_forward([1.0, 2.0], eps=True)
    zh, s = bn.bn_forward(np.random.default_rng(0).standard_normal((4, 3)))
    with pytest.raises(ValueError, match="`g`"):
        bn.bn_backward(np.ones((4, 2)), zh, s)
    with pytest.raises(ValueError, match="sigma"):
        bn.bn_backward(np.ones((4, 3)), zh, np.ones(2))
    with pytest.raises(ValueError, match="sigma"):
        bn.bn_backward(np.ones((4, 3)), zh, -s)


# --------------------------------------------------------------------------------------
# Kernels and fixed points
# --------------------------------------------------------------------------------------
def test_arccos_kernel_identities():
    c = np.linspace(-1, 1, 41)
    for a in (0.75, 1.0, 1.5, 2.0, 3.0):
        assert bn.arccos_kernel(1.0, a) == pytest.approx(1.0, abs=1e-13)
        assert bn.arccos_kernel(-1.0, a) == pytest.approx(0.0, abs=1e-13)
        assert np.all(np.diff(bn.arccos_kernel(c, a)) > 0)
    assert bn.arccos_kernel(0.0) == pytest.approx(1 / math.pi, abs=1e-15)
    # Cho & Saul closed forms of degree 0 and 2 against the hypergeometric route
    theta = np.arccos(c)
    np.testing.assert_allclose(bn.arccos_kernel(c, 2.0),
                               (3 * c * np.sin(theta) + (np.pi - theta) * (1 + 2 * c * c))
                               / (3 * np.pi), atol=1e-14)
    np.testing.assert_allclose(bn.arccos_kernel(c[1:-1], 0.0),
                               (np.pi - theta[1:-1]) / np.pi, atol=1e-12)
    # J_a' = a^2/(2a-1) J_{a-1} against a central difference
    for a in (0.75, 1.0, 2.0):
        h = 1e-6
        fd = (bn.arccos_kernel(0.3 + h, a) - bn.arccos_kernel(0.3 - h, a)) / (2 * h)
        assert bn.arccos_kernel_derivative(0.3, a) == pytest.approx(fd, rel=1e-8)


@pytest.mark.parametrize("B", sorted(RELU))
def test_relu_reference_values(B):
    off, lam, fl, fm = RELU[B]
    S = bn.bsb1_fixed_point("relu", B)
    assert S.shape == (B, B)
    np.testing.assert_allclose(np.diag(S), 0.5, rtol=1e-14)
    np.testing.assert_allclose(S[~np.eye(B, dtype=bool)], off, atol=1e-7)
    assert bn.gradient_explosion_rate("relu", B) == pytest.approx(lam, abs=1e-6)
    ev = bn.forward_eigenvalues("relu", B)
    assert ev["G"] == 0.0
    assert ev["L"] == pytest.approx(fl, abs=1e-6) and ev["M"] == pytest.approx(fm, abs=1e-6)
    assert bn.bsb1_mu("relu", B) == pytest.approx(0.5 - off, abs=1e-7)
    assert bn.max_trainable_depth("relu", B) == pytest.approx(16 / math.log(lam), rel=1e-5)


@pytest.mark.parametrize("B", [4, 5, 8, 16, 32, 64, 128])
def test_linear_exact(B):
    assert bn.gradient_explosion_rate("linear", B) == (B - 2) / (B - 3)
    G = np.eye(B) - 1 / B
    np.testing.assert_allclose(bn.bsb1_fixed_point("linear", B), B / (B - 1) * G, atol=1e-15)
    ev = bn.forward_eigenvalues("linear", B)
    assert ev["L"] == pytest.approx((B - 1) / (B + 1), rel=1e-14)
    assert ev["M"] == pytest.approx((B - 1) / (B + 1), rel=1e-14)
    # the quadrature route (an affine phi with a shift) gives the same rate
    assert bn.gradient_explosion_rate("linear", B, beta=0.3) == pytest.approx((B - 2) / (B - 3),
                                                                              rel=1e-9)


@pytest.mark.parametrize("B", sorted(TANH))
def test_tanh_reference_values(B):
    d, o, lam = TANH[B]
    S = bn.bsb1_fixed_point("tanh", B)
    assert S[0, 0] == pytest.approx(d, abs=1e-4 * d) and S[1, 0] == pytest.approx(o, abs=1e-4 * d)
    assert bn.gradient_explosion_rate("tanh", B) == pytest.approx(lam, rel=1e-4)
    # the 'fast' rule used by the explorers is good to far better than a figure needs
    assert bn.gradient_explosion_rate("tanh", B, rule="fast") == pytest.approx(lam, rel=1e-5)


def test_alpha_relu_reference_values():
    for a, row in ALPHA.items():
        got = [bn.gradient_explosion_rate("alpha_relu", B, alpha=a) for B in (4, 8, 16, 32, 128)]
        np.testing.assert_allclose(got, row, rtol=3e-6)
    S = bn.bsb1_fixed_point("alpha_relu", 8, alpha=2.0)
    np.testing.assert_allclose([S[0, 0], S[0, 1]], [1.166667, 0.131405], atol=1e-6)
    # alpha = 1 is ReLU
    assert bn.gradient_explosion_rate("alpha_relu", 8, alpha=1.0) == bn.gradient_explosion_rate(
        "relu", 8)


def test_closed_forms_agree_with_sphere_quadrature():
    # beta = 1e-300 forces the quadrature route without changing phi numerically
    for B in (6, 8, 32):
        for act, a in (("relu", 1.0), ("alpha_relu", 2.0)):
            closed = bn.gradient_explosion_rate(act, B, alpha=a)
            quad = bn.gradient_explosion_rate("alpha_relu", B, alpha=a, beta=1e-300)
            # the kink costs digits at small B (measured 3e-9 at B = 6, 1e-13 at B >= 8)
            assert quad == pytest.approx(closed, rel=1e-8 if B < 8 else 1e-11)
            S1 = bn.bsb1_fixed_point(act, B, alpha=a)
            S2 = bn.bsb1_fixed_point("alpha_relu", B, alpha=a, beta=1e-300)
            np.testing.assert_allclose(S2, S1, atol=1e-12)


def test_sphere_quadrature_converged_across_a_kink():
    # relu(x + beta): the accurate rule (200 nodes per panel) against 400 nodes per panel
    p = bn._check_phi("relu", beta=0.5)
    bn._N_QUAD["_test400"] = 400
    try:
        a = bn._sphere_moments(p, 32, "accurate")
        b = bn._sphere_moments(p, 32, "_test400")
    finally:
        del bn._N_QUAD["_test400"]
    np.testing.assert_allclose(a, b, rtol=1e-11)


def test_relu_shift_against_sphere_monte_carlo():
    # lambda_G of relu(x + 0.5) at B = 16 from the Thm 7 expectation by Monte Carlo
    B, beta = 16, 0.5
    x = bn.sphere_sample(B, 400_000, seed=3)
    f, d = np.maximum(x + beta, 0), (x + beta > 0).astype(float)
    num = (B - 1 - x[:, 0] ** 2) * d[:, 0] + (1 + x[:, 0] * x[:, 1]) * d[:, 0] * d[:, 1]
    mu = np.mean(f[:, 0] ** 2) - np.mean(f[:, 0] * f[:, 1])
    mc = num.mean() / ((B - 3) * mu)
    se = num.std() / math.sqrt(num.size) / ((B - 3) * mu)
    lam = bn.gradient_explosion_rate("relu", B, beta=beta)
    assert abs(mc - lam) < 4 * se + 2e-3 * lam and se < 0.01


def test_large_batch_limits_and_monotonicity():
    assert bn.gradient_explosion_rate("relu", 10**6) == pytest.approx(math.pi / (math.pi - 1),
                                                                      rel=1e-5)
    assert bn.large_batch_rate("relu") == pytest.approx(math.pi / (math.pi - 1), rel=1e-13)
    assert bn.large_batch_rate("tanh") == pytest.approx(1.1778072, abs=1e-7)
    assert bn.large_batch_rate("alpha_relu", alpha=2.0) == pytest.approx(1.6, rel=1e-13)
    assert bn.large_batch_rate("linear") == pytest.approx(1.0, rel=1e-13)
    assert bn.gradient_explosion_rate("tanh", 20000) == pytest.approx(1.1778072, rel=1e-4)
    Bs = [4, 6, 8, 12, 16, 32, 64, 128, 256]
    for act in ("relu", "tanh", "erf"):
        lam = np.array([bn.gradient_explosion_rate(act, B) for B in Bs])
        assert np.all(np.diff(lam) < 0)
        assert np.all(lam > np.array([(B - 2) / (B - 3) for B in Bs]))
        assert np.all(lam > bn.large_batch_rate(act))


def test_gamma_and_beta_limits():
    # relu is homogeneous: gamma scales Sigma* by gamma^2 and leaves lambda_G alone
    assert bn.gradient_explosion_rate("relu", 8, gamma=3.0) == pytest.approx(1.788190, abs=1e-6)
    np.testing.assert_allclose(bn.bsb1_fixed_point("relu", 8, gamma=3.0),
                               9 * bn.bsb1_fixed_point("relu", 8), rtol=1e-13)
    lin = 30 / 29
    assert bn.gradient_explosion_rate("tanh", 32, gamma=0.01) == pytest.approx(lin, abs=2e-6)
    assert bn.gradient_explosion_rate("relu", 32, beta=8.0) == pytest.approx(lin, abs=1e-9)
    assert bn.gradient_explosion_rate("tanh", 32, gamma=0.5) == pytest.approx(1.065671, abs=2e-6)


# --------------------------------------------------------------------------------------
# The mean-field map
# --------------------------------------------------------------------------------------
@pytest.mark.parametrize("act,alpha", [("relu", 1.0), ("alpha_relu", 2.0), ("linear", 1.0),
                                       ("alpha_relu", 1.5)])
def test_fixed_point_is_invariant_under_the_laplace_map(act, alpha):
    for B in (6, 8):                          # rank(G Sigma G) = B - 1 must exceed 2 alpha
        S = bn.bsb1_fixed_point(act, B, alpha=alpha)
        np.testing.assert_allclose(bn.bn_vmap_laplace(act, S, alpha=alpha), S, atol=1e-12)
        other = 2.0 * np.eye(B) + 0.7                           # any BSB1 input: one step
        np.testing.assert_allclose(bn.bn_vmap_laplace(act, other, alpha=alpha), S, atol=1e-12)


def test_laplace_map_invariances_and_traces():
    B = 6
    S = _random_sigma(B, 0)
    V = bn.bn_vmap_laplace("relu", S)
    np.testing.assert_allclose(bn.bn_vmap_laplace("relu", 3.7 * S), V, atol=1e-12)
    np.testing.assert_allclose(bn.bn_vmap_laplace("relu", S + 2.0), V, atol=1e-12)
    assert np.trace(V) == pytest.approx(B / 2, rel=1e-12)
    assert np.trace(bn.bn_vmap_laplace("linear", S)) == pytest.approx(B, rel=1e-12)
    np.testing.assert_allclose(V, V.T, atol=1e-15)


def test_laplace_map_against_monte_carlo():
    B = 5
    S = _random_sigma(B, 1)
    V = bn.bn_vmap_laplace("relu", S)
    mc, se = bn.bn_vmap_mc("relu", S, n_samples=400_000, seed=0, return_se=True)
    z = np.abs(mc - V) / se
    assert z.max() < 4.5 and se.max() < 3e-3


def test_tanh_bsb1_image_is_input_independent():
    B = 8
    star = bn.bsb1_fixed_point("tanh", B)
    for a, b in ((1.0, 0.0), (2.0, 0.5), (1.0, -0.1)):
        mc, se = bn.bn_vmap_mc("tanh", (a - b) * np.eye(B) + b, n_samples=100_000, seed=4,
                               return_se=True)
        assert np.max(np.abs(mc - star) / se) < 4.5


def test_linear_map_converges_globally():
    # Yang et al. Thm B.11: any full-rank start converges to B/(B-1) G at rate (B-1)/(B+1)
    B = 6
    S = _random_sigma(B, 2)
    target = B / (B - 1) * (np.eye(B) - 1 / B)
    d = []
    for _ in range(30):
        S = bn.bn_vmap_laplace("linear", S)
        d.append(np.linalg.norm(S - target))
    assert d[-1] < 1e-3
    assert d[-1] / d[-2] == pytest.approx((B - 1) / (B + 1), rel=2e-2)


def test_forward_eigenvalues_by_finite_differences():
    B, h = 8, 1e-4
    S = bn.bsb1_fixed_point("alpha_relu", B, alpha=2.0)
    G = np.eye(B) - 1 / B
    L = G @ np.diag([1.0, -1.0] + [0.0] * (B - 2)) @ G
    M = np.zeros((B, B))
    M[0, 2] = M[2, 0] = M[1, 3] = M[3, 1] = 1.0
    M[0, 3] = M[3, 0] = M[1, 2] = M[2, 1] = -1.0
    ev = bn.forward_eigenvalues("alpha_relu", B, alpha=2.0)
    for name, E in (("L", L), ("M", M), ("G", G)):
        TE = (bn.bn_vmap_laplace("alpha_relu", S + h * E, alpha=2.0)
              - bn.bn_vmap_laplace("alpha_relu", S - h * E, alpha=2.0)) / (2 * h)
        TE = G @ TE @ G
        lam = np.sum(TE * E) / np.sum(E * E)
        assert lam == pytest.approx(ev[name], abs=1e-6)
        if name != "G":
            assert np.linalg.norm(TE - lam * E) < 1e-6 * np.linalg.norm(TE)


def test_forward_eigenvalues_monte_carlo_route():
    exact = bn.forward_eigenvalues("relu", 8)
    mc = bn.forward_eigenvalues("relu", 8, method="mc", n_samples=100_000, seed=1)
    for k in ("L", "M"):
        assert abs(mc[k] - exact[k]) < 4 * mc[k + "_se"] and mc[k + "_se"] < 0.01
    with pytest.raises(ValueError, match="closed form"):
        bn.forward_eigenvalues("tanh", 8, method="closed")


def test_alpha_transition_and_symmetry_breaking():
    assert bn.alpha_transition(10) == pytest.approx(1.4007, abs=1e-4)
    assert bn.alpha_transition(5) == pytest.approx(3.9044, abs=1e-4)
    assert bn.alpha_transition(32) == pytest.approx(1.0819, abs=1e-4)
    assert bn.alpha_transition(4) == math.inf
    S0 = _random_sigma(10, 3)
    low = bn.mean_field_iterate("alpha_relu", S0, 30, n_samples=10_000, seed=0, alpha=1.0)
    high = bn.mean_field_iterate("alpha_relu", S0, 30, n_samples=10_000, seed=0, alpha=2.0)
    assert low.shape == (31, 10, 10)
    assert bn.relative_diagonal_spread(low[-1]) < 5e-3
    assert bn.relative_diagonal_spread(high[-1]) > 1.0


# --------------------------------------------------------------------------------------
# Finite networks
# --------------------------------------------------------------------------------------
def test_simulation_rate_and_scale_invariance():
    sim = bn.simulate_bn_mlp("relu", 16, width=400, depth=30, n_batches=4, seed=0, device="cpu")
    lam = bn.gradient_explosion_rate("relu", 16)
    assert sim.grad_sq.shape == (4, 30) and sim.cov.shape == (16, 16)
    np.testing.assert_allclose(sim.grad_sq[:, -1], 1.0)
    assert abs(sim.rate / lam - 1) < 0.03 and sim.r2 > 0.99
    a = bn.simulate_bn_mlp("linear", 8, width=100, depth=8, sigma_w2=1.0, seed=2,
                           dtype="float64", device="cpu")
    b = bn.simulate_bn_mlp("linear", 8, width=100, depth=8, sigma_w2=9.0, seed=2,
                           dtype="float64", device="cpu")
    np.testing.assert_allclose(a.grad_sq, b.grad_sq, rtol=1e-10)
    c = bn.simulate_bn_mlp("linear", 8, width=100, depth=8, seed=2, dtype="float32",
                           device="cpu")
    np.testing.assert_allclose(c.grad_sq, a.grad_sq, rtol=1e-3)


def test_training_helpers_are_deterministic():
    from mftheory import data

    split = data.load_digits_split(seed=0)
    a = bn.train_bn_mlp(split, depth=2, B=16, width=32, steps=30, lr=0.1, seed=3, device="cpu")
    b = bn.train_bn_mlp(split, depth=2, B=16, width=32, steps=30, lr=0.1, seed=3, device="cpu")
    assert a == b and 0.3 < a <= 1.0
    prof = bn.sgd_step_profile(split, depth=6, width=32, B=16, lr=0.1, steps=1, device="cpu")
    assert set(prof) == {"weight", "grad_z", "grad_w"}
    assert all(v.shape == (2, 6) and np.all(v > 0) for v in prof.values())


# --------------------------------------------------------------------------------------
# Input checks
# --------------------------------------------------------------------------------------
BAD_B = [3, 2, 0, -5, 4.0, 8.5, True, None, "8", math.nan, 1j]


@pytest.mark.parametrize("B", BAD_B)
def test_bad_batch_sizes_raise(B):
    for f in (bn.bsb1_fixed_point, bn.gradient_explosion_rate, bn.forward_eigenvalues,
              bn.max_trainable_depth, bn.bsb1_mu):
        with pytest.raises(ValueError, match="B"):
            f("relu", B)
    with pytest.raises(ValueError, match="B"):
        bn.alpha_transition(B)


@pytest.mark.parametrize("kw,match", [
    ({"act": "sigmoid"}, "activation"), ({"act": None}, "activation"), ({"act": 1}, "activation"),
    ({"alpha": 0.5}, "alpha"), ({"alpha": math.nan}, "alpha"), ({"alpha": 7.0}, "alpha"),
    ({"gamma": 0.0}, "gamma"), ({"gamma": -1.0}, "gamma"), ({"gamma": "1"}, "gamma"),
    ({"beta": math.inf}, "beta"), ({"beta": None}, "beta"), ({"beta": True}, "beta"),
    ({"rule": "exact"}, "rule")])
def test_bad_activation_parameters_raise(kw, match):
    args = {"act": "relu", "B": 8} | kw
    with pytest.raises(ValueError, match=match):
        bn.gradient_explosion_rate(**args)
    if "rule" not in kw:
        with pytest.raises(ValueError, match=match):
            bn.large_batch_rate(**{k: v for k, v in args.items() if k != "B"})


def test_bad_matrices_and_misc_raise():
    good = np.eye(5)
    for bad, match in [(np.eye(3), "B >= 4"), (np.ones((5, 4)), "square"),
                       (np.triu(np.ones((5, 5))), "symmetric"), (-np.eye(5), "semi-definite"),
                       (np.ones((5, 5)), "vary"), ("eye", "Sigma"), (None, "Sigma"),
                       (np.full((5, 5), np.nan), "finite"), (torch.eye(5, dtype=torch.complex64),
                                                             "Sigma")]:
        with pytest.raises(ValueError, match=match):
            bn.bn_vmap_laplace("relu", bad)
        with pytest.raises(ValueError, match=match):
            bn.bn_vmap_mc("relu", bad, n_samples=10)
    with pytest.raises(ValueError, match="Laplace"):
        bn.bn_vmap_laplace("tanh", good)
    with pytest.raises(ValueError, match="rank"):
        bn.bn_vmap_laplace("alpha_relu", np.diag([1.0, 1.0, 0, 0, 0]) + 0.0, alpha=2.0)
    with pytest.raises(ValueError, match="n_samples"):
        bn.bn_vmap_mc("relu", good, n_samples=0)
    with pytest.raises(ValueError, match="k"):
        bn.max_trainable_depth("relu", 8, k=0)
    with pytest.raises(ValueError, match="lam"):
        bn.depth_scale(0.5)
    assert bn.depth_scale(1.0) == math.inf
    with pytest.raises(ValueError, match="c"):
        bn.arccos_kernel(1.5)
    with pytest.raises(ValueError, match="alpha"):
        bn.arccos_kernel_derivative(0.1, alpha=0.5)
    with pytest.raises(ValueError, match="Sigma"):
        bn.relative_diagonal_spread(np.ones(3))
    with pytest.raises(ValueError, match="steps"):
        bn.mean_field_iterate("relu", good, 0)


@pytest.mark.parametrize("kw,match", [
    ({"width": 0}, "width"), ({"depth": 3}, "depth"), ({"n_seeds": 0}, "n_seeds"),
    ({"n_batches": 1.5}, "n_batches"), ({"eps": -1e-3}, "eps"), ({"sigma_w2": 0.0}, "sigma_w2"),
    ({"window": (5, 6)}, "window"), ({"window": (1, 99)}, "window"), ({"window": 3}, "window"),
    ({"cov_layers": 99}, "cov_layers"), ({"device": "tpu"}, "device"),
    ({"dtype": "float16"}, "dtype"), ({"B": 3}, "B"), ({"seed": -1}, "seed")])
def test_simulation_rejects_bad_input(kw, match):
    args = {"act": "relu", "B": 8, "width": 16, "depth": 10} | kw
    with pytest.raises(ValueError, match=match):
        bn.simulate_bn_mlp(**args)


def test_training_rejects_bad_input():
    from mftheory import data

    split = data.load_digits_split(seed=0)
    with pytest.raises(ValueError, match="data"):
        bn.train_bn_mlp("digits", depth=2, B=8)
    with pytest.raises(ValueError, match="activation"):
        bn.train_bn_mlp(split, act="erf", depth=2, B=8)
    with pytest.raises(ValueError, match="lr"):
        bn.train_bn_mlp(split, depth=2, B=8, lr=0.0)
    with pytest.raises(ValueError, match="B"):
        bn.sgd_step_profile(split, B=2)
    with pytest.raises(ValueError, match="data"):
        bn.sgd_step_profile(None)

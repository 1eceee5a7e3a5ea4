"""Tests of mftheory.nets: finite random networks against exact identities and mean-field theory.

Statistical tests compare a mean over independent seeded networks with its target within 4
standard errors (a two-sided 4-sigma band: false-alarm probability 6e-5 per comparison when the
s.e. is exact, about 6e-4 with an s.e. estimated from 24 seeds, t-distribution with 23 d.o.f.).
Where the sampling law is known exactly (scaled chi-square), the exact s.e. is used.
"""

from __future__ import annotations

import math
import time

import numpy as np
import pytest
import torch

from mftheory import gaussian, nets

ACTS = ["linear", "relu", "tanh", "erf"]


def theory_trajectory(act, sw2, sb2, depth, q0, c0):
    """Wide-limit q_k, c_k (note C.2) computed here from mftheory.gaussian, independently of nets."""
    q = [sw2 * q0 + sb2]
    c = [(sw2 * q0 * c0 + sb2) / q[0]]
    for _ in range(depth - 1):
        qp, cp = q[-1], c[-1]
        q.append(float(sw2 * gaussian.second_moment(act, qp) + sb2))
        c.append(float((sw2 * gaussian.kernel(act, qp, qp, cp) + sb2) / q[-1]))
    return np.array(q), np.array(c)


def test_theory_reference_matches_digest():
    # The reference recursion above reproduces the digest's tanh trajectory (C.5.1, 6 digits).
    q, _ = theory_trajectory("tanh", 1.5, 0.05, 8, 1.0, 0.9)
    np.testing.assert_allclose(q, [1.55, 0.761364, 0.567946, 0.492053, 0.456622, 0.438698, 0.429256,
                                   0.424175], atol=6e-7)
    _, c = theory_trajectory("tanh", 2.5, 0.05, 30, 1.0, 0.9)
    np.testing.assert_allclose(c[[0, 1, 4, 9, 19, 29]], [0.9020, 0.8751, 0.8285, 0.7585, 0.6249, 0.5344],
                               atol=6e-5)


def test_matches_signal_trajectory():
    signal = pytest.importorskip("mftheory.signal")
    if not hasattr(signal, "trajectory"):
        pytest.skip("mftheory.signal.trajectory not written yet")
    for act, sw2, sb2 in [("tanh", 2.5, 0.05), ("relu", 1.5, 0.05), ("erf", 2.0, 0.1)]:
        q, c = signal.trajectory(act, sw2, sb2, 10, q0=1.0, c0=0.9)
        q_ref, c_ref = theory_trajectory(act, sw2, sb2, 10, 1.0, 0.9)
        # same quadrature underneath: agreement to near rounding (1e-8 leaves room for rule choice)
        np.testing.assert_allclose(q, q_ref, rtol=1e-8)
        np.testing.assert_allclose(c, c_ref, rtol=1e-8)


@pytest.mark.parametrize("q0,c0", [(1.0, 0.9), (0.37, -0.3), (2.0, 1.0), (1.0, -1.0), (0.5, 0.0)])
def test_two_inputs_exact(q0, c0):
    x = nets.two_inputs(257, q0, c0, generator=3)
    assert x.shape == (2, 257) and x.dtype == np.float64
    np.testing.assert_allclose((x ** 2).sum(axis=1) / 257, q0, rtol=1e-12)
    cos = x[0] @ x[1] / np.linalg.norm(x[0]) / np.linalg.norm(x[1])
    np.testing.assert_allclose(cos, c0, atol=1e-12)
    # random orientation: another seed gives another pair, the same seed the same pair
    assert not np.allclose(x, nets.two_inputs(257, q0, c0, generator=4))
    np.testing.assert_array_equal(x, nets.two_inputs(257, q0, c0, generator=3))


def test_circle_inputs():
    n, d0, q0 = 40, 100, 0.7
    x = nets.circle_inputs(n, d0, q0, generator=np.random.default_rng(1))
    assert x.shape == (n, d0)
    np.testing.assert_allclose((x ** 2).sum(axis=1) / d0, q0, rtol=1e-12)
    cos = (x @ x.T) / (d0 * q0)
    np.testing.assert_allclose(np.diag(cos, 1), math.cos(2 * math.pi / n), atol=1e-12)
    np.testing.assert_allclose(cos[0, n // 2], -1.0, atol=1e-12)      # antipodal point
    assert np.linalg.matrix_rank(x) == 2                               # a plane


def test_layer_one_length_is_exact_in_expectation():
    # widths [d0, N], sigma_b2 = 0: z_i = <W_i, x> ~ N(0, sw2 q0) i.i.d., so q_1 = sw2 q0 chi2_N / N
    # exactly: mean sw2 q0, s.e. of the mean over n nets sw2 q0 sqrt(2 / (N n)) (exact, not estimated).
    d0, N, sw2, q0, n = 30, 400, 1.7, 0.8, 60
    x = nets.two_inputs(d0, q0, 0.5, generator=0)
    q1 = np.array([nets.propagate("tanh", [d0, N], sw2, 0.0, x, generator=s, device="cpu",
                                  backprop=False).q[0] for s in range(n)])
    target, se = sw2 * q0, sw2 * q0 * math.sqrt(2 / (N * n))
    assert abs(q1[:, 0].mean() - target) < 4 * se
    assert abs(q1[:, 1].mean() - target) < 4 * se
    # with a bias: mean sw2 q0 + sb2
    q1b = np.array([nets.propagate("relu", [d0, N], sw2, 0.4, x, generator=s, device="cpu",
                                   backprop=False).q[0, 0] for s in range(n)])
    target = sw2 * q0 + 0.4
    assert abs(q1b.mean() - target) < 4 * target * math.sqrt(2 / (N * n))


def test_wide_net_agrees_with_theory():
    # tanh at the chaotic point (2.5, 0.05), width 500, depth 8, 24 seeds.  Finite-width bias is
    # O(1/N) = 0.2%, an order of magnitude below the s.e. (~2% for q), so 4 s.e. is the tolerance.
    sw2, sb2, depth = 2.5, 0.05, 8
    sim = nets.simulate("tanh", sw2, sb2, width=500, depth=depth, q0=1.0, c0=0.9, n_seeds=24, seed=7,
                        device="cpu")
    assert sim.q.shape == sim.c.shape == sim.grad_sq.shape == (24, depth)
    q_th, c_th = theory_trajectory("tanh", sw2, sb2, depth, 1.0, 0.9)
    assert np.all(np.abs(sim.mean("q") - q_th) < 4 * sim.sem("q"))
    assert np.all(np.abs(sim.mean("c") - c_th) < 4 * sim.sem("c"))
    # backprop, layer by layer: |delta_k|^2 / |delta_{k+1}|^2 ~ sw2 E[phi'(z_k)^2], z_k ~ N(0, q_k)
    ratio = sim.grad_ratio()
    chi_k = sw2 * gaussian.derivative_second_moment("tanh", q_th[:-1])
    sem = ratio.std(axis=0, ddof=1) / math.sqrt(ratio.shape[0])
    assert np.all(np.abs(ratio.mean(axis=0) - chi_k) < 4 * sem)
    # and the summary rate over layers 3..8 is the geometric mean of the per-layer chi_k there
    # (q_k has not yet reached q*, so it is below chi_1 = 1.13352: about 1.10)
    rate, rate_se = sim.grad_rate(3, depth)
    expected = float(np.exp(np.mean(np.log(chi_k[2:]))))
    assert abs(rate - expected) < 4 * rate_se
    # the test can fail: the ordered point (1.5, 0.05) is many s.e. away on the same statistics
    q_ordered, _ = theory_trajectory("tanh", 1.5, 0.05, depth, 1.0, 0.9)
    assert np.any(np.abs(sim.mean("q") - q_ordered) > 10 * sim.sem("q"))


def test_linear_net_backprop_scaling_any_widths():
    # Linear net: delta_k = W_{k+1}^T delta_{k+1}, and for fixed delta_{k+1} the vector
    # W^T delta is N(0, sw2 |delta|^2 / d_k I_{d_k}); so |delta_k|^2 / |delta_{k+1}|^2 = sw2 chi2_{d_k}/d_k
    # exactly (note C.6): mean sw2, s.e. over n nets sw2 sqrt(2 / (d_k n)).
    widths, sw2, n = [20, 50, 30, 80], 1.7, 300
    x = np.ones((1, 20))
    g = np.array([nets.propagate("linear", widths, sw2, 0.3, x, generator=s, device="cpu").grad_sq
                  for s in range(n)])
    ratio = g[:, :-1] / g[:, 1:]                                 # k = 1, 2
    se = sw2 * np.sqrt(2 / (np.array(widths[1:-1]) * n))
    assert np.all(np.abs(ratio.mean(axis=0) - sw2) < 4 * se)
    # and E|delta_k|^2 = sw2^(L-k) E|delta_L|^2 = sw2^(L-k) d_L
    expected = sw2 ** np.arange(len(widths) - 2, -1, -1) * widths[-1]
    sem = g.std(axis=0, ddof=1) / math.sqrt(n)
    assert np.all(np.abs(g.mean(axis=0) - expected) < 4 * sem)


@pytest.mark.parametrize("act", ACTS)
def test_deltas_match_autograd_and_numpy(act):
    widths = [3, 5, 4, 6, 2]
    x = np.random.default_rng(0).normal(size=(3, 3))
    res = nets.propagate(act, widths, 1.9, 0.2, x, generator=11, device="cpu", return_weights=True,
                         correlations=True, keep_activations=[2, 4])
    assert res.q.shape == (4, 3) and res.c.shape == (4,) and res.grad_sq.shape == (4,)
    # autograd: loss <g, z_L>, retain_grad on every z_k gives delta_k exactly (float64: 1e-12)
    phi = {"linear": lambda z: z, "relu": torch.relu, "tanh": torch.tanh, "erf": torch.erf}[act]
    h = torch.tensor(x[0])
    zs = []
    for W, b in res.weights:
        z = torch.tensor(W) @ h + torch.tensor(b)
        if zs:
            z.retain_grad()                 # an intermediate node of the graph
        else:
            z.requires_grad_(True)          # z_1 is a leaf: the input needs no gradient
        zs.append(z)
        h = phi(z)
    (zs[-1] @ torch.tensor(res.output_error)).backward()
    auto = np.array([float(z.grad @ z.grad) for z in zs])
    np.testing.assert_allclose(res.grad_sq, auto, rtol=1e-12)
    # numpy forward/backward by hand, all inputs: q, c, correlations, kept activations
    a = gaussian.activation(act)
    H, Z = x, []
    for k, (W, b) in enumerate(res.weights, start=1):
        Z.append(H @ W.T + b)
        H = a.phi(Z[-1])
        if k in (2, 4):
            np.testing.assert_allclose(res.activations[k], H, rtol=1e-12, atol=1e-14)
    assert set(res.activations) == {2, 4}
    for k, z in enumerate(Z):
        np.testing.assert_allclose(res.q[k], (z ** 2).sum(axis=1) / widths[k + 1], rtol=1e-12)
        norm = np.linalg.norm(z, axis=1)
        np.testing.assert_allclose(res.corr[k], (z @ z.T) / np.outer(norm, norm), rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(res.c[k], res.corr[k][0, 1], rtol=1e-15)
    delta = res.output_error
    hand = [delta @ delta]
    for k in range(len(Z) - 1, 0, -1):
        delta = a.dphi(Z[k - 1][0]) * (res.weights[k][0].T @ delta)
        hand.append(delta @ delta)
    np.testing.assert_allclose(res.grad_sq, hand[::-1], rtol=1e-12)


def test_redrawn_weights_equal_stored(monkeypatch):
    # Above the memory limit the backward pass redraws the weights from saved generator states:
    # the results, and where the generator is left, must be identical to keeping them.
    x = nets.two_inputs(40, 1.0, 0.5, generator=1)
    for gen in (lambda: 5, lambda: torch.Generator().manual_seed(5)):
        g1, g2 = gen(), gen()
        kept = nets.propagate("tanh", [40, 30, 20, 30], 2.0, 0.1, x, generator=g1, device="cpu")
        monkeypatch.setattr(nets, "_STORE_LIMIT_BYTES", 0)
        redrawn = nets.propagate("tanh", [40, 30, 20, 30], 2.0, 0.1, x, generator=g2, device="cpu")
        monkeypatch.undo()
        np.testing.assert_array_equal(kept.grad_sq, redrawn.grad_sq)
        np.testing.assert_array_equal(kept.q, redrawn.q)
        if isinstance(g1, torch.Generator):
            assert torch.equal(torch.randn(3, generator=g1), torch.randn(3, generator=g2))


def test_seeding_and_float32():
    x = nets.two_inputs(50, 1.0, 0.9, generator=0)
    a = nets.propagate("erf", [50, 60, 60], 2.0, 0.1, x, generator=3, device="cpu")
    b = nets.propagate("erf", [50, 60, 60], 2.0, 0.1, x, generator=3, device="cpu")
    c = nets.propagate("erf", [50, 60, 60], 2.0, 0.1, x, generator=4, device="cpu")
    np.testing.assert_array_equal(a.q, b.q)
    assert not np.allclose(a.q, c.q)
    f32 = nets.propagate("erf", [50, 60, 60], 2.0, 0.1, x, generator=3, device="cpu", dtype=torch.float32)
    assert f32.q.dtype == np.float64
    # same stream drawn in single precision: same network up to float32 rounding
    np.testing.assert_allclose(f32.q, a.q, rtol=1e-4)
    np.testing.assert_allclose(f32.grad_sq, a.grad_sq, rtol=1e-3)


def test_circle_through_nets_ordered_vs_chaotic():
    # Poole et al.: in the ordered phase (1.3, 0.3) the circle contracts to nearly a point,
    # in the chaotic phase (4.0, 0.3) it spreads: mean correlation after 10 layers tends to
    # c* = 1 (ordered) vs c* = 0.575 (chaotic, digest C.5.1).
    x = nets.circle_inputs(60, 300, 1.0, generator=2)
    out = {}
    for sw2 in (1.3, 4.0):
        res = nets.propagate("tanh", [300] * 11, sw2, 0.3, x, generator=5, device="cpu",
                             keep_activations=True, correlations=True, backprop=False)
        assert res.activations[10].shape == (60, 300) and res.grad_sq is None
        off = res.corr[-1][~np.eye(60, dtype=bool)]
        out[sw2] = off.mean()
        p = nets.pca_project(res.activations[10], 3)
        assert p.scores.shape == (60, 3)
    assert out[1.3] > 0.97 and 0.45 < out[4.0] < 0.75


def test_pca_project():
    rng = np.random.default_rng(0)
    scales = np.array([5.0, 3.0, 2.0, 0.5, 0.1])
    h = rng.normal(size=(400, 5)) * scales @ np.linalg.qr(rng.normal(size=(5, 5)))[0].T + 7.0
    p = nets.pca_project(h, 3)
    assert p.scores.shape == (400, 3) and p.components.shape == (3, 5)
    np.testing.assert_allclose(p.components @ p.components.T, np.eye(3), atol=1e-12)
    assert np.all(np.diff(p.explained_variance) < 0)
    centred = h - h.mean(axis=0)
    np.testing.assert_allclose(p.scores, centred @ p.components.T, atol=1e-10)
    eig = np.sort(np.linalg.eigvalsh(np.cov(h.T)))[::-1]
    np.testing.assert_allclose(p.explained_variance, eig[:3], rtol=1e-10)
    np.testing.assert_allclose(p.explained_variance_ratio, eig[:3] / eig.sum(), rtol=1e-10)
    np.testing.assert_allclose(p.scores.var(axis=0, ddof=1), p.explained_variance, rtol=1e-10)
    assert nets.pca_project(h, 2).scores.shape == (400, 2)


def test_simulation_summaries():
    sim = nets.simulate("relu", 1.5, 0.05, width=40, depth=5, n_seeds=3, seed=2, device="cpu")
    np.testing.assert_allclose(sim.sem("c"), sim.c.std(axis=0, ddof=1) / math.sqrt(3), rtol=1e-14)
    assert sim.grad_ratio().shape == (3, 4)
    # the geometric-mean rate over 2..5 is the mean over seeds of the product of ratios ^ (1/3)
    r = np.prod(sim.grad_ratio()[:, 1:4], axis=1) ** (1 / 3)
    np.testing.assert_allclose(sim.grad_rate(2, 5)[0], r.mean(), rtol=1e-12)
    np.testing.assert_array_equal(sim.layers, np.arange(1, 6))
    again = nets.simulate("relu", 1.5, 0.05, width=40, depth=5, n_seeds=3, seed=2, device="cpu")
    np.testing.assert_array_equal(sim.q, again.q)


def test_overflow_is_reported():
    # linear, sw2 = 100: q_k ~ 100^k overflows float32 (max 3.4e38) before layer 30
    with pytest.raises(FloatingPointError, match="non-finite at layer"):
        nets.propagate("linear", [10] * 31, 100.0, 0.0, np.ones(10), generator=0, device="cpu",
                       dtype=torch.float32)


@pytest.mark.parametrize("call,match", [
    (lambda: nets.propagate("sigmoid", [3, 3], 1.0, 0.0, np.ones(3)), "activation"),
    (lambda: nets.propagate("tanh", [3, 3], 0.0, 0.0, np.ones(3)), "sigma_w2"),
    (lambda: nets.propagate("tanh", [3, 3], 1.0, -0.1, np.ones(3)), "sigma_b2"),
    (lambda: nets.propagate("tanh", [3, 3], float("nan"), 0.0, np.ones(3)), "sigma_w2"),
    (lambda: nets.propagate("tanh", [3], 1.0, 0.0, np.ones(3)), "widths"),
    (lambda: nets.propagate("tanh", [3, 0], 1.0, 0.0, np.ones(3)), "widths"),
    (lambda: nets.propagate("tanh", [3, 2.5], 1.0, 0.0, np.ones(3)), "widths"),
    (lambda: nets.propagate("tanh", 3, 1.0, 0.0, np.ones(3)), "widths"),
    (lambda: nets.propagate("tanh", [3, 3], 1.0, 0.0, np.ones(4)), "shape"),
    (lambda: nets.propagate("tanh", [3, 3], 1.0, 0.0, np.ones((2, 2, 3))), "shape"),
    (lambda: nets.propagate("tanh", [3, 3], 1.0, 0.0, [np.inf, 0, 0]), "finite"),
    (lambda: nets.propagate("tanh", [3, 3], 1.0, 0.0, np.ones(3), dtype=torch.int64), "dtype"),
    (lambda: nets.propagate("tanh", [3, 3], 1.0, 0.0, np.ones(3), generator="x"), "generator"),
    (lambda: nets.propagate("tanh", [3, 3], 1.0, 0.0, np.ones(3), generator=-1), "generator"),
    (lambda: nets.propagate("tanh", [3, 3], 1.0, 0.0, np.ones(3), keep_activations=[2]), "keep"),
    (lambda: nets.two_inputs(10, 1.0, 1.5), "c0"),
    (lambda: nets.two_inputs(10, 0.0, 0.5), "q0"),
    (lambda: nets.two_inputs(1, 1.0, 0.5), "d0"),
    (lambda: nets.circle_inputs(2, 10, 1.0), "n_points"),
    (lambda: nets.simulate("tanh", 1.0, 0.0, width=10, depth=3, n_seeds=1), "n_seeds"),
    (lambda: nets.simulate("tanh", 1.0, 0.0, width=10, depth=0), "depth"),
    (lambda: nets.simulate("tanh", 1.0, 0.0, width=10, depth=3, c0=-2), "c0"),
    (lambda: nets.pca_project(np.ones((5, 2)), 3), "k"),
    (lambda: nets.pca_project(np.ones(5), 1), "h"),
])
def test_bad_input_raises(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_bad_summary_arguments():
    sim = nets.simulate("tanh", 1.0, 0.1, width=10, depth=4, n_seeds=2, device="cpu")
    with pytest.raises(ValueError, match="quantity"):
        sim.mean("z")
    with pytest.raises(ValueError, match="last"):
        sim.grad_rate(1, 5)
    with pytest.raises(ValueError, match="last"):
        sim.grad_rate(3, 3)


def test_cpu_speed_small():
    # a sanity bound on the CPU cost (the full chapter size, width 1000 x depth 30 x 6 seeds,
    # takes about 2 s on 2 cores; here 1/10 of the layers' weights): generous against slow CI.
    t = time.perf_counter()
    nets.simulate("tanh", 2.5, 0.05, width=1000, depth=3, n_seeds=6, device="cpu")
    assert time.perf_counter() - t < 5.0


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no GPU")
def test_gpu_run():
    x = nets.two_inputs(200, 1.0, 0.9, generator=0)
    for dtype in (torch.float32, torch.float64):
        res = nets.propagate("tanh", [200, 300, 300], 2.5, 0.05, x, generator=1, device="cuda",
                             dtype=dtype, keep_activations=True)
        assert res.q.shape == (2, 2) and isinstance(res.q, np.ndarray)
        assert res.activations[2].shape == (2, 300)
        # layer 1: q_1 = 2.55 chi2_300 / 300, sd 0.21: within 5 sd of its mean
        assert abs(res.q[0, 0] - 2.55) < 5 * 2.55 * math.sqrt(2 / 300)
    g = torch.Generator(device="cuda").manual_seed(0)
    sim = nets.simulate("tanh", 2.5, 0.05, width=300, depth=4, n_seeds=2, device="cuda")
    assert sim.q.shape == (2, 4)
    res = nets.propagate("relu", [200, 100], 2.0, 0.0, x, generator=g, device="cuda")
    assert res.grad_sq.shape == (1,)
    with pytest.raises(ValueError, match="generator"):
        nets.propagate("relu", [200, 100], 2.0, 0.0, x, generator=torch.Generator(), device="cuda")


def test_circle_profile_averages_pairs_by_separation():
    n = 12
    theta = 2 * np.pi * np.arange(n) / n
    corr = np.cos(theta[:, None] - theta[None, :])
    angles, prof = nets.circle_profile(corr)
    assert angles.shape == prof.shape == (n // 2 + 1,)
    np.testing.assert_allclose(prof, np.cos(angles), atol=1e-14)
    # a perturbation of one pair moves only its separation's mean, by its share of the pairs
    corr2 = corr.copy()
    corr2[0, 3] += 0.24
    prof2 = nets.circle_profile(corr2)[1]
    np.testing.assert_allclose(prof2 - prof, np.where(np.arange(7) == 3, 0.24 / (2 * n), 0.0), atol=1e-14)
    with pytest.raises(ValueError):
        nets.circle_profile(np.ones((3, 4)))


def test_circle_experiment_follows_the_c_map():
    # ordered tanh network: every separation's mean correlation agrees with the c-map started at
    # cos(angle) within 4 standard errors over networks; shapes and the exact 1 at separation 0.
    from mftheory import signal

    point, depth = (1.3, 0.3), 4
    q0 = (signal.fixed_point("tanh", *point).q_star - point[1]) / point[0]     # q_1 = q*
    res = nets.circle_experiment("tanh", *point, width=300, depth=depth, n_points=24, n_networks=10,
                                 q0=q0, seed=3, device="cpu")
    assert res.profiles.shape == (10, 13) and res.angles.shape == (13,)
    np.testing.assert_allclose(res.profiles[:, 0], 1.0, atol=1e-12)
    assert res.pca.scores.shape == (24, 3) and res.output_length > 0
    predicted = np.array([signal.trajectory("tanh", *point, depth, q0=q0, c0=math.cos(a), rule="fast")[1][-1]
                          for a in res.angles])
    assert np.all(np.abs(res.mean - predicted)[1:] <= 4 * res.sem[1:])
    with pytest.raises(ValueError):
        nets.circle_experiment("tanh", 1.3, 0.3, width=300, depth=4, n_networks=1)


# --------------------------------------------------------------------------------------
# Rademacher weights and the central limit theorem in one layer
# --------------------------------------------------------------------------------------
def test_rademacher_weights_have_two_values_and_follow_the_q_map():
    res = nets.propagate("tanh", [200, 300, 100], 1.5, 0.1, np.ones(200), generator=0,
                         weights="rademacher", return_weights=True, device="cpu")
    for (W, _), d in zip(res.weights, (200, 300), strict=True):
        np.testing.assert_allclose(np.abs(W), math.sqrt(1.5 / d), rtol=1e-7)   # float32 draws
        assert 0.45 < np.mean(W > 0) < 0.55
    # the backward pass uses the same signed weights: deltas still match autograd elsewhere;
    # here: a width-1000 net with +-1 weights follows the q-map like a Gaussian one
    sim_q = []
    for seed in range(4):
        r = nets.propagate("tanh", [1000] * 6, 2.5, 0.05, nets.two_inputs(1000, generator=seed),
                           generator=seed + 10, weights="rademacher", backprop=False, device="cpu")
        sim_q.append(r.q[-1, 0])
    q_th, _ = theory_trajectory("tanh", 2.5, 0.05, 5, 1.0, 0.9)
    assert abs(np.mean(sim_q) / q_th[-1] - 1) < 0.05          # ~2% per network, 4 networks


def test_excess_kurtosis_and_its_exact_conditional_value():
    rng = np.random.default_rng(0)
    g = rng.standard_normal((4, 200_000))
    assert np.all(np.abs(nets.excess_kurtosis(g)) < 4 * math.sqrt(24 / 200_000))
    u = rng.uniform(-1, 1, 400_000)                           # uniform: -6/5 exactly
    assert nets.excess_kurtosis(u) == pytest.approx(-1.2, abs=4 * math.sqrt(2.0 / 400_000) * 2)
    x = np.array([1.0, -2.0, 0.5])
    # cumulants of sum_j w_j x_j + b: kappa4 = -2 s^4 sum x^4, var = s^2 |x|^2 + sb2, s^2 = sw2/d
    s2 = 2.0 / 3
    expected = -2 * s2 ** 2 * np.sum(x ** 4) / (s2 * np.sum(x ** 2) + 0.3) ** 2
    assert nets.conditional_excess_kurtosis(x, 2.0, 0.3) == pytest.approx(expected, rel=1e-14)
    assert nets.conditional_excess_kurtosis(x, 2.0, 0.3, weights="gaussian") == 0.0
    # exact enumeration for d = 3, no bias: z takes 8 equally likely values
    signs = np.array(np.meshgrid([-1, 1], [-1, 1], [-1, 1])).reshape(3, -1).T
    z = math.sqrt(s2) * signs @ x
    exact = np.mean(z ** 4) / np.mean(z ** 2) ** 2 - 3
    assert nets.conditional_excess_kurtosis(x, 2.0, 0.0) == pytest.approx(exact, rel=1e-12)


def test_layer_preactivations_match_the_exact_kurtosis_and_variance():
    x = np.tanh(np.random.default_rng(1).standard_normal(8))
    z = nets.layer_preactivations(x, 50_000, 2.5, 0.05, n_draws=4, generator=3)
    assert z.shape == (4, 50_000)
    var = 2.5 * np.sum(x ** 2) / 8 + 0.05
    assert np.mean(z ** 2) == pytest.approx(var, rel=4 * math.sqrt(2 / 200_000) * 2)
    k = nets.excess_kurtosis(z)
    se = k.std(ddof=1) / 2
    assert abs(k.mean() - nets.conditional_excess_kurtosis(x, 2.5, 0.05)) <= 4 * se
    zg = nets.layer_preactivations(x, 50_000, 2.5, 0.05, weights="gaussian", generator=3)
    assert abs(nets.excess_kurtosis(zg)[0]) < 4 * math.sqrt(24 / 50_000)
    # Rademacher entries really are +-1 (scaled): one-hot input picks one weight per neuron
    e = np.zeros(8)
    e[2] = 1.0
    z1 = nets.layer_preactivations(e, 1000, 8.0, 0.0, generator=5)
    np.testing.assert_array_equal(np.abs(z1), 1.0)


def test_weight_gradients_backprop_equals_autograd():
    x = nets.two_inputs(12, 1.0, 0.0, generator=0)[0]
    for act in ACTS:
        a = nets.weight_gradients(act, [12, 9, 7, 5], 1.7, 0.2, x, generator=1)
        b = nets.weight_gradients(act, [12, 9, 7, 5], 1.7, 0.2, x, generator=1, method="autograd")
        assert [g.shape for g in a] == [(9, 12), (7, 9), (5, 7)]
        for ga, gb in zip(a, b, strict=True):
            np.testing.assert_allclose(ga, gb, rtol=1e-12, atol=1e-14)
            assert np.linalg.matrix_rank(ga) <= 1                 # an outer product


@pytest.mark.parametrize("call, match", [
    (lambda: nets.propagate("tanh", [3, 3], 1.0, 0.0, np.ones(3), weights="uniform"), "weights"),
    (lambda: nets.layer_preactivations(np.ones(3), 0, 1.0, 0.0), "n_out"),
    (lambda: nets.layer_preactivations(np.ones((2, 3)), 5, 1.0, 0.0), "x"),
    (lambda: nets.layer_preactivations([], 5, 1.0, 0.0), "x"),
    (lambda: nets.layer_preactivations(np.ones(3), 5, -1.0, 0.0), "sigma_w2"),
    (lambda: nets.layer_preactivations(np.ones(3), 5, 1.0, 0.0, weights=None), "weights"),
    (lambda: nets.excess_kurtosis(np.ones(10)), "variance"),
    (lambda: nets.excess_kurtosis(1.0), "samples"),
    (lambda: nets.excess_kurtosis([1.0, np.nan, 2.0, 3.0]), "finite"),
    (lambda: nets.conditional_excess_kurtosis(np.zeros(3), 1.0, 0.0), "zero"),
    (lambda: nets.weight_gradients("tanh", [3, 2], 1.0, 0.0, np.ones(4)), "length"),
    (lambda: nets.weight_gradients("tanh", [3, 2], 1.0, 0.0, np.ones(3), method="fd"), "method"),
])
def test_bad_input_of_the_clt_and_gradient_helpers(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_simulation_keeps_one_pair_per_network():
    sim = nets.simulate("tanh", 2.5, 0.05, width=50, depth=4, n_seeds=3, n_pairs=3, device="cpu")
    assert sim.q_single.shape == sim.c_single.shape == (3, 4)
    assert not np.allclose(sim.c_single, sim.c)                 # the mean over 3 pairs differs
    one = nets.simulate("tanh", 2.5, 0.05, width=50, depth=4, n_seeds=3, n_pairs=1, device="cpu")
    np.testing.assert_array_equal(one.c_single, one.c)
    assert np.all(np.abs(one.q_single - one.q) < 0.5 * one.q)     # q averages inputs 0 and 1


def test_simulate_chunks_are_the_networks_of_one_call():
    # networks first..first+n-1 of the master seed: two chunks are one call, split
    whole = nets.simulate("tanh", 1.5, 0.05, width=30, depth=4, n_seeds=5, seed=9, n_pairs=2)
    parts = [nets.simulate("tanh", 1.5, 0.05, width=30, depth=4, n_seeds=n, seed=9, n_pairs=2,
                           first=f) for f, n in ((0, 2), (2, 3))]
    for field in ("q", "c", "grad_sq", "q_single", "c_single"):
        np.testing.assert_array_equal(getattr(whole, field),
                                      np.concatenate([getattr(p, field) for p in parts]))
    shifted = nets.simulate("tanh", 1.5, 0.05, width=30, depth=4, n_seeds=2, seed=9, n_pairs=2,
                            first=1)
    np.testing.assert_array_equal(shifted.q, whole.q[1:3])
    assert not np.array_equal(shifted.q[0], whole.q[0])
    for bad in (-1, 1.5, True, "0", None):
        with pytest.raises(ValueError, match="first"):
            nets.simulate("tanh", 1.5, 0.05, width=30, depth=4, n_seeds=2, first=bad)

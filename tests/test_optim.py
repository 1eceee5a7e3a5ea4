"""Tests of mftheory.optim. Reference values: seed-001 digest, part A (A.5, A.6), recomputed here."""

import itertools
import math

import numpy as np
import pytest

from mftheory import optim

# A.5 table: kappa -> (GD rho*, iters, HB rho*, iters, GD alpha=1/L iters); digest A.5 #2 [computed]
TABLE = {10: (0.818182, 68.8, 0.519494, 21.1, 131.1),
         100: (0.980198, 690.8, 0.818182, 68.8, 1374.6),
         1000: (0.998002, 6907.8, 0.938693, 218.4, 13808.6),
         1e4: (0.999800, 69077.6, 0.980198, 690.8, 138148.2)}


@pytest.mark.parametrize("kappa", list(TABLE))
def test_rates_and_iteration_table(kappa):
    a, r = optim.gd_optimal_step(1.0, kappa)
    ah, bh, rh = optim.polyak_heavy_ball(1.0, kappa)
    np.testing.assert_allclose(a, 2 / (1 + kappa), rtol=1e-12)
    np.testing.assert_allclose(r, (kappa - 1) / (kappa + 1), rtol=1e-12)
    sk = math.sqrt(kappa)
    np.testing.assert_allclose(rh, (sk - 1) / (sk + 1), rtol=1e-12)
    np.testing.assert_allclose(bh, rh ** 2, rtol=1e-12)
    np.testing.assert_allclose(ah, 4 / (1 + sk) ** 2, rtol=1e-12)
    # the optimal GD step equalises the two ends: rho(alpha*) = rho*
    np.testing.assert_allclose(optim.gd_rate(a, 1.0, kappa), r, rtol=1e-12)
    g, gi, h, hi, si = TABLE[kappa]
    assert round(r, 6) == g and round(rh, 6) == h
    assert round(optim.iterations_to_tolerance(r), 1) == gi
    assert round(optim.iterations_to_tolerance(rh), 1) == hi
    assert round(optim.iterations_to_tolerance(1 - 1 / kappa), 1) == si


def test_polyak_parameters_digest_values():
    # digest A.5 #2: mu=1, L=100 and L=10
    np.testing.assert_allclose(optim.gd_optimal_step(1, 100)[0], 0.0198020, atol=5e-8)
    a, b, _ = optim.polyak_heavy_ball(1, 100)
    np.testing.assert_allclose([a, b], [0.0330579, 0.669421], atol=5e-7)
    a, b, _ = optim.polyak_heavy_ball(1, 10)
    np.testing.assert_allclose([a, b], [0.230886, 0.269874], atol=5e-7)


@pytest.mark.parametrize("kappa", [1.5, 10.0, 100.0, 1e4])
def test_spectral_radius_at_polyak_parameters(kappa):
    a, b, rate = optim.polyak_heavy_ball(1.0, kappa)
    lam = np.linspace(1.0, kappa, 1001)
    rad = optim.heavy_ball_spectral_radius(a, b, lam)
    np.testing.assert_allclose(rad, rate, rtol=1e-12)          # all roots have modulus sqrt(beta)
    np.testing.assert_allclose(np.max(rad), rate, rtol=1e-12)


def test_spectral_radius_matches_matrix_eigenvalues():
    rng = np.random.default_rng(0)
    for _ in range(200):
        a, b, lam = rng.uniform(0.01, 1.0), rng.uniform(0, 0.99), rng.uniform(0.1, 10)
        T = np.array([[1 + b - a * lam, -b], [1, 0]])
        np.testing.assert_allclose(optim.heavy_ball_spectral_radius(a, b, lam),
                                   np.max(np.abs(np.linalg.eigvals(T))), rtol=1e-6)
        S = np.array([[1 + b, -(b + a * lam)], [1, 0]])
        np.testing.assert_allclose(optim.slides_heavy_ball_spectral_radius(a, b, lam),
                                   np.max(np.abs(np.linalg.eigvals(S))), rtol=1e-6)
        assert optim.heavy_ball_stable(a, b, lam) == (optim.heavy_ball_spectral_radius(a, b, lam) < 1)


def test_stability_boundaries():
    # Jury: stable iff 0 < alpha*lam < 2(1+beta); slides' form iff alpha*lam < 1 - beta
    b = 0.5
    assert optim.heavy_ball_spectral_radius(1.0, b, 2 * (1 + b) * 0.999) < 1
    assert optim.heavy_ball_spectral_radius(1.0, b, 2 * (1 + b) * 1.001) > 1
    assert optim.slides_heavy_ball_spectral_radius(1.0, b, (1 - b) * 0.999) < 1
    assert optim.slides_heavy_ball_spectral_radius(1.0, b, (1 - b) * 1.001) > 1
    a, bb, _ = optim.polyak_heavy_ball(1, 100)
    # digest A.5 #3: 1.99379 at Polyak's parameters, kappa = 100
    assert round(optim.slides_heavy_ball_spectral_radius(a, bb, 100.0), 5) == 1.99379


def _quad_problem(d=50, kappa=100.0, seed=0):
    q = optim.quadratic(np.linspace(1, kappa, d))
    x0 = np.random.default_rng(seed).normal(size=d)
    return q, x0


def test_hb_beta0_equals_gd_bit_for_bit():
    q, x0 = _quad_problem()
    gd = optim.gradient_descent(q.loss, x0, 0.015, 300, grad=q.grad)
    hb = optim.heavy_ball(q.loss, x0, 0.015, 0.0, 300, grad=q.grad)
    assert np.array_equal(gd.x, hb.x) and np.array_equal(gd.loss, hb.loss)
    f = lambda x: optim.cosine_sum(x)[0]  # noqa: E731
    g = lambda x: optim.cosine_sum(x)[1]  # noqa: E731
    assert np.array_equal(optim.gradient_descent(f, x0[:10], 0.2, 100, grad=g).x,
                          optim.heavy_ball(f, x0[:10], 0.2, 0.0, 100, grad=g).x)


def test_gd_on_quadratic_exact_and_rate_bounds():
    q, x0 = _quad_problem()
    alpha, rho = optim.gd_optimal_step(1, 100)
    tr = optim.gradient_descent(q.loss, x0, alpha, 300, grad=q.grad)
    # x_n = (1 - alpha A)^n x0 (A diagonal: elementwise power)
    np.testing.assert_allclose(tr.x[300], (1 - alpha * np.diag(q.A)) ** 300 * x0, rtol=1e-12,
                               atol=1e-300)
    e = np.linalg.norm(tr.x, axis=1)
    assert np.all(e <= rho ** np.arange(301) * e[0] * (1 + 1e-12))
    # digest A.5 #2 (ii): HB late slope 0.8215 (within 0.5% of 0.8182), GD 0.9750 <= 0.9802
    a, b, rh = optim.polyak_heavy_ball(1, 100)
    hb = optim.heavy_ball(q.loss, x0, a, b, 300, grad=q.grad)
    eh = np.linalg.norm(hb.x, axis=1)
    slope = (eh[300] / eh[200]) ** (1 / 100)
    assert rh < slope < rh * 1.01
    assert round((e[300] / e[0]) ** (1 / 300), 4) == 0.9750


def test_gd_converges_to_solution_with_linear_term():
    A = np.array([[3.0, 1.0], [1.0, 2.0]])
    q = optim.quadratic(A, [1.0, -1.0])
    tr = optim.gradient_descent(q.loss, [0.0, 0.0], 0.3, 400, grad=q.grad)
    np.testing.assert_allclose(tr.x[-1], np.linalg.solve(A, [1.0, -1.0]), rtol=1e-12)


def test_slides_indexing_diverges():
    # digest A.5 #3: |x_100| / |x_0| ~ 1.9e29 at Polyak's parameters for kappa = 100
    q, x0 = _quad_problem()
    a, b, _ = optim.polyak_heavy_ball(1, 100)
    tr = optim.slides_heavy_ball(q.loss, x0, a, b, 100, grad=q.grad)
    growth = np.linalg.norm(tr.x[100]) / np.linalg.norm(x0)
    assert 1e28 < growth < 1e31


def test_heavy_ball_constant_gradient_velocity():
    # V -> alpha g / (1 - beta) geometrically: x_{n+1} - x_n -> -alpha g / (1 - beta)
    g = np.array([1.0, -2.0])
    tr = optim.heavy_ball(lambda x: float(g @ x), [0.0, 0.0], 0.1, 0.9, 400, grad=lambda x: g)
    np.testing.assert_allclose(tr.x[-1] - tr.x[-2], -0.1 * g / 0.1, rtol=1e-12)


def test_torch_runner_matches_numpy():
    torch = pytest.importorskip("torch")
    f = lambda w: (0.5 * w ** 2 + 3 * torch.cos(w)).sum()  # noqa: E731
    x0 = np.linspace(-0.3, 0.3, 10) + 0.01
    t = optim.gradient_descent(f, x0, 0.25, 50, torch=True)
    n = optim.gradient_descent(lambda x: optim.cosine_sum(x)[0], x0, 0.25, 50,
                               grad=lambda x: optim.cosine_sum(x)[1])
    np.testing.assert_allclose(t.x, n.x, rtol=1e-12, atol=1e-14)


def test_sufficient_decrease_and_min_gradient_bound():
    # digest A.5 #4: M = 4, alpha = 1/M, x0 = linspace(-0.3, 0.3, 10) + 0.01
    lmin, xs = optim.cosine_sum_minimum(10)
    np.testing.assert_allclose([lmin, xs], [6.45509109, 2.27886266], atol=5e-9)
    np.testing.assert_allclose(xs, 3 * math.sin(xs), rtol=1e-15)
    c = optim.descent_constant(0.25, 4.0)
    assert c == 0.125
    x0 = np.linspace(-0.3, 0.3, 10) + 0.01
    tr = optim.gradient_descent(lambda x: optim.cosine_sum(x)[0], x0, 0.25, 2000,
                                grad=lambda x: optim.cosine_sum(x)[1])
    assert np.all(tr.loss[1:] <= tr.loss[:-1] - c * tr.grad_norm[:-1] ** 2 + 1e-12)
    N = np.arange(1, 2001)
    running_min = np.minimum.accumulate(tr.grad_norm[:2000])
    assert np.all(running_min <= optim.min_gradient_bound(tr.loss[0], lmin, c, N) + 1e-12)
    np.testing.assert_allclose(tr.loss[-1], lmin, rtol=1e-14)
    # stopping rule: first n with |grad| < 1e-3 is within the bound
    first = int(np.argmax(tr.grad_norm < 1e-3))
    assert first <= optim.steps_to_epsilon_bound(tr.loss[0], lmin, c, 1e-3)


def test_descent_constant_optimum():
    a = np.linspace(0.01, 0.49, 97)
    cs = optim.descent_constant(a, 4.0)
    assert a[np.argmax(cs)] == pytest.approx(0.25) and np.max(cs) == pytest.approx(1 / 8)
    assert optim.descent_constant(0.6, 4.0) < 0


def test_saddle_escape_times():
    # digest A.5 #5: alpha = 0.1, y0 = 1e-10 -> 236, 1e-5 -> 115; y0 = 0 never escapes
    assert optim.escape_iterations(1e-10, 0.1) == 236
    assert optim.escape_iterations(1e-5, 0.1) == 115
    assert optim.escape_iterations(0.0, 0.1, max_steps=1000) == -1
    np.testing.assert_allclose(optim.predicted_escape_iteration([1e-10, 1e-5], 0.1),
                               [234.3, 113.5], atol=0.05)
    k = np.arange(2, 13)
    n = optim.escape_iterations(10.0 ** -k, 0.1)
    slope = np.polyfit(k, n, 1)[0]
    np.testing.assert_allclose(slope, math.log(10) / math.log(1.1), rtol=0.02)
    loss, grad = optim.saddle(np.array([0.0, 0.0]))
    assert loss == 0 and np.all(grad == 0)


def test_double_well():
    # digest A.5 #8
    pts = optim.double_well_stationary_points(0.3)
    np.testing.assert_allclose(pts, [-1.035579, 0.075429, 0.960150], atol=5e-7)
    np.testing.assert_allclose(optim.double_well(pts[0])[0], -0.305428, atol=5e-7)
    np.testing.assert_allclose(optim.double_well(pts[2])[0], 0.294146, atol=5e-7)
    np.testing.assert_allclose(optim.double_well_limits([1.5, -0.5], 0.05), [pts[2], pts[0]],
                               rtol=1e-12)
    assert np.isnan(optim.double_well_limits(3.0, 0.5))


def test_shallow_relu_narrow_gets_stuck_more():
    # digest A.5 #9 trend (our settings: lr 0.2, 3000 steps, 8 runs)
    narrow = optim.train_shallow_relu(3, 8, n_steps=3000, lr=0.2, seed=1)
    wide = optim.train_shallow_relu(20, 8, n_steps=3000, lr=0.2, seed=1)
    assert np.mean(narrow > 1e-3) > np.mean(wide > 1e-3)
    np.testing.assert_allclose(optim.shallow_relu_teacher([-1, -0.5, 0, 0.5, 1]),
                               [0, 0, 0.5, 0, 0.5], atol=1e-15)


def test_backprop_matches_fd_and_torch():
    torch = pytest.importorskip("torch")
    widths = [3, 20, 20, 2]
    theta = optim.mlp_init(widths, seed=0)
    rng = np.random.default_rng(1)
    X, Y = rng.normal(size=(16, 3)), rng.normal(size=(16, 2))
    loss, g = optim.mlp_loss_and_backprop(theta, widths, X, Y)
    fd = optim.finite_difference_gradient(
        lambda t: optim.mlp_loss_and_backprop(t, widths, X, Y)[0], theta)
    assert np.linalg.norm(fd - g) / np.linalg.norm(g) < 1e-7
    t = torch.tensor(theta, requires_grad=True)
    i, h = 0, torch.tensor(X)
    for k, (a, b) in enumerate(zip(widths[:-1], widths[1:], strict=True)):
        W = t[i:i + a * b].reshape(b, a)
        i += a * b
        h = h @ W.T + t[i:i + b]
        i += b
        h = torch.tanh(h) if k < len(widths) - 2 else h
    lt = 0.5 * ((h - torch.tensor(Y)) ** 2).sum() / 16
    (gt,) = torch.autograd.grad(lt, t)
    np.testing.assert_allclose(g, gt.numpy(), rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(loss, lt.item(), rtol=1e-14)


@pytest.mark.parametrize("call,match", [
    (lambda: optim.gd_optimal_step(0.0, 1.0), "mu"),
    (lambda: optim.gd_optimal_step(-1.0, 1.0), "mu"),
    (lambda: optim.gd_optimal_step(2.0, 1.0), "L"),
    (lambda: optim.polyak_heavy_ball(1.0, float("inf")), "L"),
    (lambda: optim.polyak_heavy_ball(float("nan"), 2.0), "mu"),
    (lambda: optim.heavy_ball_spectral_radius(0.1, 1.0, 1.0), "beta"),
    (lambda: optim.heavy_ball_spectral_radius(-0.1, 0.5, 1.0), "alpha"),
    (lambda: optim.gd_rate(0.1, 1.0, 0.5), "L"),
    (lambda: optim.iterations_to_tolerance(1.0), "rate"),
    (lambda: optim.descent_constant(0.1, 0.0), "M"),
    (lambda: optim.gradient_descent(lambda x: 0.0, [0.0], 0.1, 5), "grad"),
    (lambda: optim.gradient_descent(lambda x: 0.0, [np.nan], 0.1, 5, grad=lambda x: x), "x0"),
    (lambda: optim.heavy_ball(lambda x: 0.0, [0.0], 0.1, 1.2, 5, grad=lambda x: x), "beta"),
    (lambda: optim.quadratic([1.0, -1.0]), "positive definite"),
    (lambda: optim.escape_iterations(1e-3, 1.5), "alpha"),
    (lambda: optim.train_shallow_relu(0, 3), "width"),
])
def test_bad_input_raises(call, match):
    with pytest.raises(ValueError, match=match):
        call()


# ----------------------------------------------------------------------------- valley, 3-SAT
def test_valley_gradient_hessian_and_linearised_rate():
    w = np.array([0.7, -0.3])
    h = 1e-6
    fd = [(optim.valley(w + e)[0] - optim.valley(w - e)[0]) / (2 * h) for e in np.eye(2) * h]
    np.testing.assert_allclose(optim.valley(w)[1], fd, rtol=1e-8)
    # only stationary point: the origin; late GD contraction 1 - 2 alpha eps (Hessian diag(2eps, 2))
    run = optim.gradient_descent(lambda z: float(optim.valley(z)[0]), [1.0, 1.0], 0.1, 3000,
                                 grad=lambda z: optim.valley(z)[1])
    assert np.linalg.norm(run.x[-1]) < 0.02
    assert abs(run.x[-1, 0] / run.x[-2, 0] - (1 - 2 * 0.1 * 0.01)) < 1e-5
    with pytest.raises(ValueError, match="leading dimension 2"):
        optim.valley([1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match="eps"):
        optim.valley([1.0, 2.0], eps=0.0)


def test_sat_reduction_by_brute_force():
    full = [tuple(s * i for s, i in zip(signs, (1, 2, 3), strict=True))
            for signs in itertools.product((1, -1), repeat=3)]
    # all 8 sign patterns on 3 variables: unsatisfiable; the QP minimum is 1/2 (hand check:
    # x = (0, 1/2, 1/2) satisfies every clause and is a vertex)
    assert not optim.sat_satisfiable(full, 3)
    value, x = optim.sat_qp_minimum(full, 3)
    assert value == pytest.approx(0.5, abs=1e-12)
    assert optim.sat_satisfiable(full[:-1], 3)
    value, x = optim.sat_qp_minimum(full[:-1], 3)
    assert value == 0.0 and np.array_equal(x, [1.0, 1.0, 1.0])
    rng = np.random.default_rng(1)
    for _ in range(15):
        cl = [tuple(int(v) for v in rng.choice([1, 2, 3, 4], 3, replace=False)
                    * rng.choice([-1, 1], 3)) for _ in range(int(rng.integers(8, 20)))]
        assert optim.sat_satisfiable(cl, 4) == (optim.sat_qp_minimum(cl, 4)[0] < 1e-9)


@pytest.mark.parametrize("clauses, n", [([], 3), ([(1, 4)], 3), ([(0, 1)], 3), ([(True,)], 2),
                                        ("x", 2), ([(1.5,)], 2), ([(1,)], 0), ([(1,)], 13),
                                        (None, 2), ([(1,)], 2.5)])
def test_sat_rejects_bad_input(clauses, n):
    with pytest.raises(ValueError):
        optim.sat_satisfiable(clauses, n)
    with pytest.raises(ValueError):
        optim.sat_qp_minimum(clauses, n)


def test_shallow_relu_runs_state_and_gradient_norm():
    runs = optim.shallow_relu_runs(3, 4, n_steps=50, lr=0.2, seed=2)
    np.testing.assert_array_equal(runs.loss, optim.train_shallow_relu(3, 4, n_steps=50, lr=0.2,
                                                                      seed=2))
    x = np.linspace(-1, 1, 101)
    y = optim.shallow_relu_teacher(x)

    def loss(p):
        a, w, b, c = p[:3], p[3:6], p[6:9], p[9]
        out = np.maximum(w[:, None] * x + b[:, None], 0).T @ a + c
        return 0.5 * np.mean((out - y) ** 2)

    for i in range(4):
        p = np.concatenate([runs.a[i], runs.w[i], runs.b[i], [runs.c[i]]])
        assert loss(p) == pytest.approx(runs.loss[i], rel=1e-12)
        g = optim.finite_difference_gradient(loss, p, h=1e-7)
        assert np.linalg.norm(g) == pytest.approx(runs.grad_norm[i], rel=1e-5)
        np.testing.assert_allclose(runs.kinks[i], -runs.b[i] / runs.w[i])
    assert np.all((runs.n_active >= 0) & (runs.n_active <= 3))


def test_sizes_that_would_exhaust_memory_are_refused():
    with pytest.raises(ValueError, match="width"):
        optim.shallow_relu_runs(10 ** 6, 2)
    with pytest.raises(ValueError, match="widths"):
        optim.mlp_init([10 ** 5, 10 ** 5, 2])
    with pytest.raises(ValueError, match="clauses"):
        optim.sat_qp_minimum([(1, 2, 3)] * 300, 12)

"""mftheory.linear: reference values (with provenance), identities and error cases.

Reference values of the scalar flows: the closed forms of Bartlett et al.'s balanced scalar
network (K = 1: r + (w0 - r) e^-t; K = 2: w^2 = r / (1 + (r - 1) e^{-2rt})) evaluated by hand
to 7 digits, and for K = 3 values computed with scipy's solve_ivp (rtol 1e-12) and checked
against the exact implicit time integral.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from mftheory import linear as lin


def _rand_problem(widths=(4, 6, 5, 3), seed=0):
    rng = np.random.default_rng(seed)
    ws = [rng.standard_normal((b, a)) / math.sqrt(a) for a, b in zip(widths[:-1], widths[1:])]
    R = rng.standard_normal((widths[-1], widths[0]))
    M = rng.standard_normal((widths[0], widths[0]))
    return ws, R, M @ M.T / widths[0] + 0.1 * np.eye(widths[0])


# ----------------------------------------------------------------------------- loss, gradient
def test_trace_form_equals_sample_average():
    ws, R, _ = _rand_problem()
    X = np.random.default_rng(1).standard_normal((50, 4))
    S = X.T @ X / 50
    D = lin.end_to_end(ws) - R
    direct = 0.5 * np.mean(np.sum((X @ D.T) ** 2, axis=1))
    np.testing.assert_allclose(lin.loss(ws, R, S), direct, rtol=1e-13)


def test_projection_pythagoras():
    rng = np.random.default_rng(3)
    X = rng.standard_normal((200, 3))
    Y = np.tanh(X @ rng.standard_normal((3, 2))) + 0.1 * X[:, :2] ** 2     # not linear
    R, S, res = lin.linear_projection(X, Y)
    A = rng.standard_normal((2, 3))
    lhs = 0.5 * np.mean(np.sum((Y - X @ A.T) ** 2, axis=1))
    np.testing.assert_allclose(lhs, res + lin.loss([A], R, S), rtol=1e-12)
    assert res > 0.01                                       # the target is not linear


def test_gradient_matches_autograd():
    ws, R, S = _rand_problem()
    g = lin.gradient(ws, R, S)
    tw = [torch.tensor(w, requires_grad=True) for w in ws]
    P = tw[0]
    for w in tw[1:]:
        P = w @ P
    D = P - torch.tensor(R)
    (0.5 * torch.trace(D.T @ D @ torch.tensor(S))).backward()
    for gk, tk in zip(g, tw):
        np.testing.assert_allclose(gk, tk.grad.numpy(), rtol=1e-12, atol=1e-13)


def test_product_gradient_is_the_quadratic_gradient():
    ws, R, S = _rand_problem(seed=4)
    G = (lin.end_to_end(ws) - R) @ S
    for a, b in zip(lin.product_gradient(ws, G), lin.gradient(ws, R, S)):
        np.testing.assert_array_equal(a, b)


def test_two_zero_layers_are_stationary():
    ws, R, S = _rand_problem((3, 3, 3, 3, 3), seed=5)
    ws[1] = np.zeros((3, 3))
    ws[3] = np.zeros((3, 3))
    assert all(np.all(g == 0) for g in lin.gradient(ws, R, S))
    np.testing.assert_allclose(lin.loss(ws, R, S), 0.5 * np.trace(R.T @ R @ S), rtol=1e-14)


def test_hessian_at_origin_depth_2_and_3():
    H2 = lin.hessian([[[0.0]], [[0.0]]], [[2.0]])
    np.testing.assert_array_equal(H2, [[0.0, -2.0], [-2.0, 0.0]])
    np.testing.assert_allclose(np.linalg.eigvalsh(H2), [-2.0, 2.0])
    np.testing.assert_array_equal(lin.hessian([[[0.0]]] * 3, [[2.0]]), np.zeros((3, 3)))


def test_hessian_matches_finite_difference_of_gradient():
    ws, R, S = _rand_problem((2, 3, 2), seed=6)
    H = lin.hessian(ws, R, S)
    theta = np.concatenate([w.ravel() for w in ws])

    def grad(th):
        a = th[:6].reshape(3, 2)
        b = th[6:].reshape(2, 3)
        return np.concatenate([g.ravel() for g in lin.gradient([a, b], R, S)])

    h = 1e-6
    fd = np.stack([(grad(theta + h * e) - grad(theta - h * e)) / (2 * h)
                   for e in np.eye(theta.size)], axis=1)
    np.testing.assert_allclose(H, fd, atol=1e-8)            # FD error O(h^2) plus rounding 1e-10
    np.testing.assert_allclose(H, H.T, atol=1e-14)


# ----------------------------------------------------------------------------- scalar flows
def test_depth2_closed_form_reference_values():
    np.testing.assert_allclose(lin.scalar_gradient_flow(4.0, 2, [0.1, 0.25, 0.5, 1.0]),
                               [1.305215, 1.686695, 1.947219, 1.998994], atol=6e-7)
    np.testing.assert_allclose(lin.scalar_gradient_flow(-1.0, 2, [0.5, 1.0, 3.0]),
                               [0.474763, 0.269405, 0.0352266], rtol=2e-6)
    np.testing.assert_allclose(lin.scalar_gradient_flow(0.0, 2, [1.0, 10.0]) ** 2,
                               [1 / 3, 1 / 21], rtol=1e-14)
    np.testing.assert_allclose(lin.scalar_gradient_flow(3.0, 1, 1.0), 3 - 2 / math.e, rtol=1e-15)
    assert isinstance(lin.scalar_gradient_flow(4.0, 2, 0.25), float)


def test_depth2_closed_form_is_continuous_in_r_at_zero():
    t = np.array([0.5, 2.0, 7.0])
    a = lin.scalar_gradient_flow(1e-9, 2, t, w0=0.7)
    b = lin.scalar_gradient_flow(0.0, 2, t, w0=0.7)
    np.testing.assert_allclose(a, b, rtol=1e-8)


def test_depth2_stuck_case_large_times():
    w = lin.scalar_gradient_flow(-1.0, 2, [50.0, 1e4])       # exp overflow must give 0, not nan
    assert np.all(np.isfinite(w)) and np.all(w >= 0) and w[-1] == 0.0


@pytest.mark.parametrize("r,K,w0", [(4.0, 2, 1.0), (-1.0, 2, 1.0), (0.0, 2, 0.5), (3.0, 1, 1.0),
                                    (2.0, 2, -0.3)])
def test_ode_matches_closed_form(r, K, w0):
    t = np.array([0.0, 0.05, 0.3, 1.0, 2.5])
    np.testing.assert_allclose(lin._flow_ode(r, K, t, w0), lin.scalar_gradient_flow(r, K, t, w0),
                               rtol=1e-9, atol=1e-12)


def test_depth3_reference_and_implicit_time():
    t = [0.1, 0.2, 0.5, 1.0]
    w = lin.scalar_gradient_flow(2.0, 3, t)
    np.testing.assert_allclose(w, [1.092612, 1.163215, 1.247464, 1.259628], atol=6e-7)
    for ti, wi in zip(t, w):
        np.testing.assert_allclose(lin.scalar_flow_time(2.0, 3, wi), ti, rtol=1e-10)


def test_flow_vectorised_any_order_and_shape():
    t = np.array([[1.0, 0.1], [0.5, 0.0]])
    w = lin.scalar_gradient_flow(2.0, 4, t, w0=0.5)
    assert w.shape == (2, 2) and w[1, 1] == 0.5
    np.testing.assert_allclose(w[0, 0], lin.scalar_gradient_flow(2.0, 4, 1.0, w0=0.5), rtol=1e-12)


def test_flow_limits():
    assert lin.scalar_flow_limit(8.0, 3) == pytest.approx(2.0, rel=1e-15)
    assert lin.scalar_flow_limit(-1.0, 2) == 0.0                   # stuck
    assert lin.scalar_flow_limit(-8.0, 3, w0=-1.0) == pytest.approx(-2.0, rel=1e-15)
    assert lin.scalar_flow_limit(4.0, 2, w0=-1.0) == -2.0
    assert lin.scalar_flow_limit(-2.0, 1) == -2.0
    np.testing.assert_allclose(lin.scalar_gradient_flow(8.0, 3, 40.0), 2.0, rtol=1e-10)


def test_balancedness_conserved_by_flow_unequal_init():
    # unequal layers (w1, w2, w3) = (1.2, 0.7, 0.9): integrate the full 3-layer flow and check
    # w_k^2 - w_j^2 stays constant (exactly conserved by the flow)
    from scipy.integrate import solve_ivp

    r = 1.5

    def f(_, w):
        q = np.prod(w)
        return [(r - q) * q / wk for wk in w]

    sol = solve_ivp(f, (0, 5), [1.2, 0.7, 0.9], rtol=1e-12, atol=1e-14, dense_output=True)
    W = sol.sol(np.linspace(0, 5, 11))
    np.testing.assert_allclose(W[0] ** 2 - W[1] ** 2, 1.2**2 - 0.7**2, atol=1e-10)
    np.testing.assert_allclose(np.prod(W[:, -1]), r, rtol=1e-9)


def test_time_to_learn():
    # K = 2: q = w^2 logistic, q(t) = r q0 / (q0 + (r - q0) e^{-2rt}) = r/2 at
    # t = ln((r - q0) / q0) / (2r)
    r, w0 = 3.0, 0.1
    np.testing.assert_allclose(lin.time_to_learn(r, 2, w0), math.log((r - 0.01) / 0.01) / (2 * r),
                               rtol=1e-11)
    tl = lin.time_to_learn(2.0, 3, 0.3)
    np.testing.assert_allclose(lin.scalar_gradient_flow(2.0, 3, tl, 0.3) ** 3, 1.0, rtol=1e-10)
    # deep, small init: t ~ q0^(2/K - 1) / ((K - 2) r)
    q0 = 1e-6
    approx = q0 ** (2 / 4 - 1) / (2 * 2.0)
    np.testing.assert_allclose(lin.time_to_learn(2.0, 4, q0**0.25), approx, rtol=0.01)


def test_scalar_gd_reference_and_flow_limit():
    w = lin.scalar_gd(2.0, 3, 1e-3, 500)
    assert w.shape == (501,)
    np.testing.assert_allclose(w[-1], 1.247574, atol=6e-7)
    diff = abs(w[-1] - lin.scalar_gradient_flow(2.0, 3, 0.5))
    w2 = lin.scalar_gd(2.0, 3, 5e-4, 1000)[-1]
    diff2 = abs(w2 - lin.scalar_gradient_flow(2.0, 3, 0.5))
    np.testing.assert_allclose(diff / diff2, 2.0, rtol=0.01)    # first-order (Euler) error


def test_max_stable_step_is_sharp():
    r, K = 2.0, 3
    a = lin.max_stable_step(r, K)
    np.testing.assert_allclose(a, 2 / (3 * 2 ** (4 / 3)), rtol=1e-15)
    w_star = r ** (1 / K)
    below = lin.scalar_gd(r, K, 0.97 * a, 3000, w0=w_star * 1.001)
    above = lin.scalar_gd(r, K, 1.03 * a, 3000, w0=w_star * 1.001)
    assert abs(below[-1] - w_star) < 1e-12
    assert abs(above[-1] - w_star) > 1e-3
    np.testing.assert_allclose(lin.max_stable_step(5.0, 1), 2.0)


def test_scalar_gd_divergence_is_inf_not_nan():
    w = lin.scalar_gd(4.0, 2, 5.0, 50)
    assert not np.any(np.isnan(w)) and np.isinf(w[-1])


# ----------------------------------------------------------------------------- matrix dynamics
def test_matrix_gd_equals_scalar_gd_per_mode():
    r = np.array([0.5, 1.0, 2.0, 3.0])
    pr = lin.saxe_problem(r, np.ones(4), 1.0, 3, seed=0)
    run = lin.gradient_descent(pr.weights, pr.R, pr.Sigma, alpha=0.01, n_steps=2000,
                               record_every=500)
    diag, off = lin.mode_strengths(run.weights, pr.bases)
    scal = lin.scalar_gd(r, 3, 0.01, 2000)[-1]
    np.testing.assert_allclose(diag, np.broadcast_to(scal, diag.shape), atol=1e-13)
    assert off < 1e-13
    np.testing.assert_allclose(scal, r ** (1 / 3), rtol=1e-10)
    assert run.products.shape == (5, 4, 4) and list(run.steps) == [0, 500, 1000, 1500, 2000]


def test_saxe_decoupling_with_input_variances_and_flow():
    r, sig = np.array([3.0, 1.5, 0.5]), np.array([1.0, 0.5, 2.0])
    pr = lin.saxe_problem(r, sig, 0.1, 2, seed=2)
    alpha, n = 1e-3, 3000
    run = lin.gradient_descent(pr.weights, pr.R, pr.Sigma, alpha=alpha, n_steps=n,
                               record_every=n)
    diag, off = lin.mode_strengths(run.weights, pr.bases)
    assert off < 1e-12
    np.testing.assert_allclose(diag[0], diag[1], rtol=1e-12)         # layers stay balanced
    u = lin.saxe_mode_flow(r, sig, 2, [n * alpha], 0.1)[0]
    np.testing.assert_allclose(diag[0] * diag[1], u, rtol=2e-3)     # GD = flow + O(alpha)


def test_balancedness_drift_is_second_order_in_alpha():
    ws, R, _ = _rand_problem((3, 3, 3, 3), seed=7)
    b0 = lin.balancedness(ws)
    drift = []
    for alpha in (0.02, 0.01):
        run = lin.gradient_descent(ws, R, alpha=alpha, n_steps=int(round(1 / alpha)),
                                   record_every=1000)
        drift.append(max(np.abs(b - c).max() for b, c in zip(lin.balancedness(run.weights), b0)))
    np.testing.assert_allclose(drift[0] / drift[1], 2.0, rtol=0.1)   # O(alpha^2) per step


def test_gradient_descent_does_not_modify_input_and_raises_on_divergence():
    ws, R, S = _rand_problem(seed=8)
    keep = [w.copy() for w in ws]
    lin.gradient_descent(ws, R, S, alpha=0.01, n_steps=3)
    assert all(np.array_equal(a, b) for a, b in zip(ws, keep))
    with pytest.raises(ValueError, match="alpha"):
        lin.gradient_descent(ws, 100 * R, S, alpha=10.0, n_steps=200)


# ----------------------------------------------------------------------------- Hardt-Ma
def test_hardt_ma_reference_and_reconstruction():
    # note B.5.2: seed-2 standard normal 4x4, det 1.847, singular values 2.89639 ... 0.256299,
    # rotation angles 1.74229, 0.213153, K max|V_k| = 1.74008 (K = 10), limit 1.74229
    A = np.random.default_rng(2).standard_normal((4, 4))
    hm = lin.hardt_ma_factors(A, 10)
    np.testing.assert_allclose(hm.singular_values, [2.89639, 2.03191, 1.22476, 0.256299],
                               atol=5.1e-6)                  # 6 significant digits: half a unit
    np.testing.assert_allclose(hm.angles, [1.74229, 0.213153], atol=5.1e-6)
    np.testing.assert_allclose(10 * hm.max_norm, 1.74008, atol=5.1e-6)
    for K in (1, 10, 100):
        hm = lin.hardt_ma_factors(A, K)
        assert len(hm.factors) == 2 * K
        P = np.eye(4)
        for V in hm.factors:
            P = (np.eye(4) + V) @ P
            assert np.linalg.det(np.eye(4) + V) > 0
        np.testing.assert_allclose(P, A, atol=1e-12)
    np.testing.assert_allclose(1000 * lin.hardt_ma_factors(A, 1000).max_norm, hm.limit, rtol=1e-6)
    np.testing.assert_allclose(lin.hardt_ma_limit(A), 1.74229, atol=5.1e-6)


def test_hardt_ma_rotation_by_pi_and_identity():
    A = np.diag([-1.0, -1.0, 2.0])
    hm = lin.hardt_ma_factors(A, 4)
    P = np.eye(3)
    for V in hm.factors:
        P = (np.eye(3) + V) @ P
    np.testing.assert_allclose(P, A, atol=1e-14)
    np.testing.assert_allclose(hm.angles, [math.pi])
    np.testing.assert_allclose(hm.limit, math.pi)
    hm = lin.hardt_ma_factors(np.eye(2), 3)
    assert hm.max_norm < 1e-15 and hm.limit == 0.0


@pytest.mark.parametrize("A", [np.diag([-1.0, 1.0]), np.zeros((2, 2)), [[1.0, 2.0], [2.0, 4.0]]])
def test_hardt_ma_refuses_nonpositive_determinant(A):
    with pytest.raises(ValueError, match="positive determinant"):
        lin.hardt_ma_factors(A, 3)


# ----------------------------------------------------------------------------- connectivity
def test_gaussian_connection_covariances():
    rng = np.random.default_rng(0)
    X, Y = rng.standard_normal((2, 100_000, 2))
    np.testing.assert_allclose(lin.connection_variance_factor([0, .25, .5, .75, 1], "linear"),
                               [1, 0.625, 0.5, 0.625, 1])
    for method, factor in (("linear", 0.5), ("arc", 1.0)):
        C = np.cov(lin.connect(X, Y, 0.5, method).T)
        # sample covariance of 1e5 points: s.e. of a variance sqrt(2/1e5) = 0.45 %
        np.testing.assert_allclose(C, factor * np.eye(2), atol=0.02 * factor)
    np.testing.assert_array_equal(lin.connect(X, Y, 1.0, "linear"), Y)
    np.testing.assert_allclose(lin.connect(X, Y, 1.0, "arc"), Y, atol=1e-15)


def test_path_deviation_linear_squeezes_arc_does_not():
    A, B = lin.sample_neurons(4000, 0), lin.sample_neurons(4000, 1)
    lin_dev = lin.path_deviation(A, B, [0.0, 0.5, 1.0], "linear", grid_size=21)
    arc_dev = lin.path_deviation(A, B, [0.0, 0.5, 1.0], "arc", grid_size=21)
    assert lin_dev[0] == 0.0 and arc_dev[0] == 0.0
    np.testing.assert_allclose(lin_dev[2], arc_dev[2], rtol=1e-12)    # same endpoint B
    assert lin_dev[1] > 0.25 and arc_dev[1] < 3 * arc_dev[2]
    assert lin_dev[1] > 5 * arc_dev[1]


def test_neuron_network_is_linear_in_the_measure():
    A, B = lin.sample_neurons(30, 0), lin.sample_neurons(30, 1)
    x = np.random.default_rng(0).standard_normal((7, 2))
    both = lin.neuron_network(np.vstack([A, B]), x)
    np.testing.assert_allclose(both, (lin.neuron_network(A, x) + lin.neuron_network(B, x)) / 2,
                               rtol=1e-13)


# ----------------------------------------------------------------------------- staircase
def test_staircase_small_is_ordered_and_deterministic():
    s = [4.0, 2.0, 1.0]
    kw = dict(d=8, init_std=0.5 / math.sqrt(64), alpha=0.02, n_steps=250, seed=3)
    st = lin.staircase_experiment(s, 4, 64, **kw)
    assert np.all(np.diff(st.learn_times) > 0)                  # stronger modes first
    st2 = lin.staircase_experiment(s, 4, 64, **kw)
    np.testing.assert_array_equal(st.modes, st2.modes)
    assert st.losses[-1] < 1e-3 * st.losses[0]
    ts = st.learn_times * np.array(s)                           # Saxe: t ~ 1/s from small init
    assert ts.max() / ts.min() < 1.5                             # width 64: +-20 % spread


# ----------------------------------------------------------------------------- bad input
BAD_REALS = [None, "1.0", True, 1 + 2j, math.nan, math.inf, torch.tensor(1.0), [1.0]]


@pytest.mark.parametrize("bad", BAD_REALS)
def test_scalar_functions_reject_bad_numbers(bad):
    for call in (lambda: lin.scalar_gradient_flow(bad, 2, 0.1),
                 lambda: lin.scalar_gradient_flow(1.0, 2, 0.1, w0=bad),
                 lambda: lin.max_stable_step(bad, 2),
                 lambda: lin.scalar_gd(1.0, 2, bad, 5),
                 lambda: lin.time_to_learn(bad, 2, 0.1),
                 lambda: lin.scalar_flow_limit(bad, 2),
                 lambda: lin.connect([1.0], [2.0], bad, "arc")):
        with pytest.raises(ValueError):
            call()


@pytest.mark.parametrize("bad", [None, "x", 1 + 1j, np.array([[1 + 1j]]), [[math.nan]],
                                 torch.ones(1, 1), [[True]], 3.0, [], [np.eye(2), np.eye(3)]])
def test_matrix_functions_reject_bad_weights(bad):
    with pytest.raises(ValueError):
        lin.loss(bad, [[1.0]])
    with pytest.raises(ValueError):
        lin.gradient(bad, [[1.0]])


def test_specific_messages():
    with pytest.raises(ValueError, match="depth"):
        lin.scalar_gradient_flow(1.0, 0, 0.1)
    with pytest.raises(ValueError, match="depth"):
        lin.scalar_gradient_flow(1.0, 2.0, 0.1)
    with pytest.raises(ValueError, match="`t` must be >= 0"):
        lin.scalar_gradient_flow(1.0, 2, [-0.1, 0.2])
    with pytest.raises(ValueError, match="`t`"):
        lin.scalar_gradient_flow(1.0, 2, torch.tensor([0.1]))
    with pytest.raises(ValueError, match=r"`R` must have shape"):
        lin.loss([np.eye(2)], np.eye(3))
    with pytest.raises(ValueError, match="symmetric"):
        lin.loss([np.eye(2)], np.eye(2), [[1.0, 0.5], [0.0, 1.0]])
    with pytest.raises(ValueError, match="positive semi-definite"):
        lin.loss([np.eye(2)], np.eye(2), -np.eye(2))
    with pytest.raises(ValueError, match="weights\\[1\\]"):
        lin.end_to_end([np.ones((3, 2)), np.ones((2, 2))])
    with pytest.raises(ValueError, match="`r` must be > 0"):
        lin.max_stable_step(-1.0, 2)
    with pytest.raises(ValueError, match="`w` must lie between"):
        lin.scalar_flow_time(4.0, 2, 3.0)
    with pytest.raises(ValueError, match="fraction"):
        lin.time_to_learn(2.0, 3, 1.0)
    with pytest.raises(ValueError, match="method"):
        lin.connect([1.0], [1.0], 0.5, "spline")
    with pytest.raises(ValueError, match="same shape"):
        lin.connect([1.0], [1.0, 2.0], 0.5, "arc")
    with pytest.raises(ValueError, match="square"):
        lin.hardt_ma_factors(np.ones((2, 3)), 2)
    with pytest.raises(ValueError, match="invertible"):
        lin.linear_projection(np.ones((5, 2)), np.ones((5, 1)))
    with pytest.raises(ValueError, match="sigma"):
        lin.saxe_problem([1.0, 2.0], [1.0, 0.0], 1.0, 2)
    with pytest.raises(ValueError, match="bases"):
        lin.mode_strengths([np.eye(2)], [np.eye(2)])
    with pytest.raises(ValueError, match="rank"):
        lin.staircase_experiment([1.0, 2.0, 3.0], 3, 8, d=2)


# ----------------------------------------------------------------------------- numerical branches
@pytest.mark.parametrize("r,K,w0", [(-2.0, 3, 1.0), (0.0, 4, 1.5), (2.0, 3, -0.5), (-1.0, 5, 0.7),
                                    (0.0, 3, -0.8), (4.0, 4, -1.0), (-8.0, 3, -1.0)])
def test_flow_branches_match_a_direct_ode_solution(r, K, w0):
    # the stuck branch integrates |w|^-(K-2), r = 0 is in closed form, nonzero limits switch to
    # the linearised tail: all must agree with a plain tight DOP853 run (1e-13) to ~1e-11
    from scipy.integrate import solve_ivp

    t = np.array([0.1, 0.5, 1.0, 3.0, 8.0])
    sol = solve_ivp(lambda _, w: w ** (K - 1) * (r - w**K), (0, 8), [w0], t_eval=t,
                    method="DOP853", rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(lin.scalar_gradient_flow(r, K, t, w0), sol.y[0], rtol=1e-10,
                               atol=1e-12)


def test_flow_at_huge_times_is_fast_and_finite():
    import time

    t0 = time.process_time()
    w = lin.scalar_gradient_flow(2.0, 3, [1.0, 1e6, 1e300])
    np.testing.assert_allclose(w[1:], 2 ** (1 / 3), rtol=1e-15)
    stuck = lin.scalar_gradient_flow(-2.0, 3, [1e6, 1e300])
    # w' ~ -2 w^2 for small w: w ~ 1 / (2 t)
    np.testing.assert_allclose(stuck * 2 * np.array([1e6, 1e300]), 1.0, rtol=1e-5)
    np.testing.assert_allclose(lin.scalar_gradient_flow(0.0, 4, 1e300),
                               (1 + 6e300) ** (-1 / 6), rtol=1e-12)
    assert time.process_time() - t0 < 2.0


def test_flow_time_singular_part_is_analytic():
    # from w0 = 1e-6 the time is dominated by the plateau q0^(2/K-1) / ((K-2) r) with q0 = w0^K
    t = lin.scalar_flow_time(2.0, 3, 1.0, 1e-6)
    np.testing.assert_allclose(t, 1e6 / 2.0, rtol=1e-5)
    with pytest.raises(ValueError, match="longer than"):
        lin.scalar_flow_time(2.0, 16, 1.0, 1e-30)


@pytest.mark.parametrize("kw,match", [({"depth": 17}, "depth"), ({"r": 1e5}, "r"),
                                      ({"w0": 50.0, "depth": 8}, "initial speed")])
def test_scalar_problem_ranges(kw, match):
    args = {"r": 2.0, "depth": 3, "t": 1.0, "w0": 1.0} | kw
    with pytest.raises(ValueError, match=match):
        lin.scalar_gradient_flow(**args)


def test_max_stable_step_tiny_r_and_bad_device():
    with pytest.raises(ValueError, match="overflows"):
        lin.max_stable_step(1e-300, 3)
    with pytest.raises(ValueError, match="device"):
        lin.staircase_experiment([1.0], 2, 4, d=2, device="nonsense")


def test_pyramidal_fit_gori_tesi():
    # conditions of the theorem hold (5 affinely independent points in R^4, pyramidal widths):
    # every run reaches zero loss; without condition (1) (8 points in R^2) some runs stop at a
    # stationary point with positive loss
    rng = np.random.default_rng(9)
    X5, Y5 = rng.normal(size=(5, 4)), rng.normal(size=(5, 1))
    X8, Y8 = rng.normal(size=(8, 2)), rng.normal(size=(8, 1))
    ok = lin.pyramidal_fit([4, 3, 1], X5, Y5, n_runs=8, seed=0)
    assert ok.loss.max() < 1e-20 and ok.min_singular.min() > 1e-3
    bad = lin.pyramidal_fit([3, 2, 1], X8, Y8, n_runs=12, seed=0)
    assert np.any((bad.loss > 1e-3) & (bad.grad_norm < 1e-6))
    with pytest.raises(ValueError, match="Y"):
        lin.pyramidal_fit([3, 2], X8, Y8)
    with pytest.raises(ValueError, match="widths"):
        lin.pyramidal_fit([3, 0, 1], X8, Y8)


def test_pyramidal_gradient_matches_finite_differences():
    rng = np.random.default_rng(1)
    Xe = np.hstack([rng.normal(size=(6, 3)), np.ones((6, 1))])
    Y = rng.normal(size=(6, 2))
    shapes = [(3, 4), (2, 3)]
    theta = rng.normal(size=18)
    _, g = lin._pyramidal_loss_grad(theta, shapes, Xe, Y)
    h = 1e-6
    fd = np.array([(lin._pyramidal_loss_grad(theta + h * e, shapes, Xe, Y)[0]
                    - lin._pyramidal_loss_grad(theta - h * e, shapes, Xe, Y)[0]) / (2 * h)
                   for e in np.eye(18)])
    np.testing.assert_allclose(g, fd, rtol=1e-7, atol=1e-9)


# ----------------------------------------------------------------------------- convex losses
def _convex_data(seed=6, noise=0.5):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(40, 3))
    Y = X @ rng.normal(size=(2, 3)).T + noise * rng.normal(size=(40, 2))
    return X, Y


def _fd_check(f, x, g, h=1e-6):
    fd = np.array([(f(x + h * e) - f(x - h * e)) / (2 * h) for e in np.eye(x.size)])
    np.testing.assert_allclose(g, fd, rtol=1e-7, atol=1e-9)


@pytest.mark.parametrize("loss", ["logcosh", "softmax"])
def test_convex_loss_gradient_matches_finite_differences(loss):
    X, Y = _convex_data()
    if loss == "softmax":
        Y = np.eye(2)[(Y[:, 0] > 0).astype(int)]
    A = np.random.default_rng(2).normal(size=(2, 3))
    _, g = lin.convex_loss(A, X, Y, loss)
    _fd_check(lambda a: lin.convex_loss(a.reshape(2, 3), X, Y, loss)[0], A.ravel(), g.ravel())


def test_convex_loss_reference_values():
    # ln cosh 1 = 0.4337808304830271 (by hand: ln((e + 1/e)/2)); softmax at A = 0: ln d_K
    v, g = lin.convex_loss([[0.0]], [[1.0]], [[1.0]])
    np.testing.assert_allclose(v, 0.4337808304830271, rtol=1e-15)
    np.testing.assert_allclose(g, [[-math.tanh(1.0)]], rtol=1e-15)
    X, _ = _convex_data()
    Y = np.eye(3)[np.arange(40) % 3]
    np.testing.assert_allclose(lin.convex_loss(np.zeros((3, 3)), X, Y, "softmax")[0],
                               math.log(3), rtol=1e-15)
    # no overflow for large residuals: ln cosh(1e6) = 1e6 - ln 2
    np.testing.assert_allclose(lin.convex_loss([[0.0]], [[1.0]], [[1e6]])[0], 1e6 - math.log(2),
                               rtol=1e-15)


def test_convex_minimum_exact_target_and_lbfgs():
    from scipy import optimize

    X, _ = _convex_data()
    B = np.array([[1.0, -2.0, 0.5], [0.3, 0.0, 1.0]])
    exact = lin.convex_minimum(X, X @ B.T)          # noiseless: minimiser B, minimum 0
    np.testing.assert_allclose(exact.matrix, B, atol=1e-14)
    assert exact.value < 1e-28 and exact.grad_norm < 1e-14
    X, Y = _convex_data()
    for loss, YY in (("logcosh", Y), ("softmax", np.eye(2)[(Y[:, 0] > 0).astype(int)])):
        cm = lin.convex_minimum(X, YY, loss)
        ref = optimize.minimize(lambda a: lin.convex_loss(a.reshape(2, 3), X, YY, loss)[0],
                                np.zeros(6), method="BFGS", options=dict(gtol=1e-10))
        assert cm.grad_norm < 1e-14
        assert cm.value <= ref.fun <= cm.value * (1 + 1e-14)


def test_laurent_von_brecht_width_condition():
    # thinnest layer = output (3,5,4,2), = input (2,4,3) or deeper: every run reaches (P1)
    X, Y = _convex_data()
    cm = lin.convex_minimum(X, Y)
    for widths in ((3, 5, 4, 2), (3, 4, 4, 4, 2), (3, 2, 2)):
        runs = lin.factored_runs(widths, X, Y, n_runs=10, seed=1)
        np.testing.assert_allclose(runs.values, cm.value, rtol=1e-14)
        assert runs.grad_norm.max() < 1e-6 and np.all(runs.product_rank == 2)
    Xi = X[:, :2]
    cmi = lin.convex_minimum(Xi, Y[:, :1] @ np.ones((1, 3)) + X)
    runs = lin.factored_runs((2, 4, 3), Xi, Y[:, :1] @ np.ones((1, 3)) + X, n_runs=10)
    np.testing.assert_allclose(runs.values, cmi.value, rtol=1e-14)
    # a bottleneck of width 1 < min(3, 2): products of rank 1, stationary for G, not for g
    bott = lin.factored_runs((3, 5, 1, 4, 2), X, Y, n_runs=10, seed=1)
    assert np.all(bott.product_rank == 1) and bott.grad_norm.max() < 1e-6
    assert bott.values.min() > 2 * cm.value and bott.product_grad_norm.min() > 0.5
    # ... the same value as the two-layer rank-1 problem (3, 1, 2)
    two = lin.factored_runs((3, 1, 2), X, Y, n_runs=10, seed=2)
    np.testing.assert_allclose(bott.values, two.values.min(), rtol=1e-13)


def test_softmax_two_classes_needs_rank_one_only():
    # softmax is unchanged by A -> A + 1 c^T, so with two classes only the difference of the
    # rows matters and a width-1 bottleneck still reaches the convex minimum
    X, Y = _convex_data()
    Yc = np.eye(2)[(Y[:, 0] > 0).astype(int)]
    cm = lin.convex_minimum(X, Yc, "softmax")
    runs = lin.factored_runs((3, 1, 2), X, Yc, "softmax", n_runs=5)
    np.testing.assert_allclose(runs.values, cm.value, rtol=1e-13)


@pytest.mark.parametrize("loss", ["logcosh", "softmax"])
def test_factored_hessian_matches_gradient_differences(loss):
    X, Y = _convex_data()
    if loss == "softmax":
        Y = np.eye(2)[(Y[:, 0] > 0).astype(int)]
    shapes = [(4, 3), (2, 4)]
    theta = np.random.default_rng(3).normal(size=20) / 2
    H = lin.factored_hessian(lin._unflatten(theta, shapes), X, Y, loss)
    np.testing.assert_allclose(H, H.T, atol=1e-13)
    h = 1e-6
    fd = np.array([(lin._factored_value_grad(theta + h * e, shapes, X, Y, loss)[1]
                    - lin._factored_value_grad(theta - h * e, shapes, X, Y, loss)[1]) / (2 * h)
                   for e in np.eye(20)])
    np.testing.assert_allclose(H, fd, rtol=1e-6, atol=1e-8)


def test_bottleneck_stop_is_second_order_stationary():
    X, Y = _convex_data()
    bott = lin.factored_runs((3, 5, 1, 4, 2), X, Y, n_runs=1, seed=1)
    ev = np.linalg.eigvalsh(lin.factored_hessian(bott.weights[0], X, Y))
    assert ev[0] > -1e-9 * ev[-1]
    assert np.sum(ev > 1e-6 * ev[-1]) == 4        # the rank-1 matrices of 2 x 3: dimension 4


def test_convex_loss_errors():
    X, Y = _convex_data()
    with pytest.raises(ValueError, match="widths"):
        lin.factored_runs((4, 5, 2), X, Y)
    with pytest.raises(ValueError, match="widths"):
        lin.factored_runs((3,), X, Y)
    with pytest.raises(ValueError, match="probability"):
        lin.convex_minimum(X, Y, "softmax")
    with pytest.raises(ValueError, match="loss"):
        lin.convex_minimum(X, Y, "hinge")
    with pytest.raises(ValueError, match="A"):
        lin.convex_loss(np.zeros((3, 2)), X, Y)
    with pytest.raises(ValueError, match="A"):
        lin.convex_loss([[1e308, 1e308]], [[1.0, 1.0]], [[0.0]])
    with pytest.raises(ValueError, match="X"):
        lin.convex_minimum(1e7 * X, Y)
    with pytest.raises(ValueError, match="Y"):
        lin.convex_minimum(X, Y[:5])
    with pytest.raises(ValueError, match="weights"):
        lin.factored_hessian([np.ones((4, 2)), np.ones((2, 4))], X, Y)

"""mftheory.teacher: the identities U1-U14 of Tian's framework (tolerances: 1e-12 for algebraic
identities in float64, 1e-8 against finite differences, exact integers for linear programs),
batch normalization against torch autograd, and bad input."""

from __future__ import annotations

import math

import numpy as np
import pytest

from mftheory import teacher as T


@pytest.fixture(scope="module")
def world():
    return T.teacher_world()                  # d = 4, regions {0,1},{1,2},{2,3} (overlapping)


@pytest.fixture(scope="module")
def student(world):
    return T.init_student(world)


def _bn_torch(f, g, c1=1.0, c0=0.0, eps=0.0):
    torch = pytest.importorskip("torch")
    ft = torch.tensor(f, requires_grad=True)
    # torch refuses eps = 0 in training mode; 1e-300 is 0 to float64 rounding next to var ~ 1
    bn = torch.nn.BatchNorm1d(1, eps=eps if eps > 0 else 1e-300).double().train()
    with torch.no_grad():
        bn.weight.fill_(c1)
        bn.bias.fill_(c0)
    out = bn(ft[:, None])[:, 0]
    (out * torch.tensor(g)).sum().backward()
    return out.detach().numpy(), ft.grad.numpy()


# ------------------------------------------------------------------ U1-U4 batch normalization
@pytest.mark.parametrize("n,eps", [(16, 0.0), (64, 0.0), (16, 1e-5), (16, 0.1)])
def test_bn_backward_equals_torch_autograd(n, eps):
    rng = np.random.default_rng(n)
    f, g = rng.standard_normal(n) * 2 + 0.5, rng.standard_normal(n)
    out, grad = _bn_torch(f, g, 1.7, -0.3, eps)
    np.testing.assert_allclose(T.batchnorm_forward(f, 1.7, -0.3, eps), out, atol=1e-12)
    np.testing.assert_allclose(T.batchnorm_backward(f, g, eps, c1=1.7), grad, atol=1e-12)


def test_bn_backward_is_a_scaled_orthogonal_projection():   # U1
    rng = np.random.default_rng(1)
    f, g = rng.standard_normal(16), rng.standard_normal(16)
    gf = T.batchnorm_backward(f, g, c1=1.7)
    fbn = T.batchnorm_forward(f, 1.7, -0.3)
    for v in (np.ones(16), f, fbn):
        assert abs(v @ gf) < 1e-12
    P = T.batchnorm_projector(f)
    sigma = f.std()
    np.testing.assert_allclose(gf, 1.7 / sigma * P @ g, atol=1e-12)
    np.testing.assert_allclose(P @ P, P, atol=1e-12)
    np.testing.assert_allclose(P, P.T, atol=1e-15)
    assert abs(np.trace(P) - 14) < 1e-12
    np.testing.assert_allclose(T.batchnorm_projector(-3 * f + 2), P, atol=1e-12)
    np.testing.assert_allclose(T.batchnorm_backward(-3 * f + 2, g), gf / 1.7 / 3, atol=1e-12)
    assert np.linalg.norm(gf) <= 1.7 / sigma * np.linalg.norm(g)


def test_bn_matches_finite_differences():
    rng = np.random.default_rng(2)
    f, g = rng.standard_normal(16), rng.standard_normal(16)
    h = 1e-6
    fd = np.array([(g @ T.batchnorm_forward(f + h * e, 1.7) - g @ T.batchnorm_forward(
        f - h * e, 1.7)) / (2 * h) for e in np.eye(16)])
    np.testing.assert_allclose(T.batchnorm_backward(f, g, c1=1.7), fd, atol=1e-8)


def test_bn_parameter_gradients_and_ioffe_szegedy():             # U2, U3
    rng = np.random.default_rng(3)
    f, g = rng.standard_normal(16), rng.standard_normal(16)
    dx, dgamma, dbeta = T.ioffe_szegedy_backward(f, g, 1.7)
    np.testing.assert_allclose(dx, T.batchnorm_backward(f, g, c1=1.7), atol=1e-12)
    ftilde = (f - f.mean()) / f.std()
    S = np.stack([ftilde, np.ones(16)], 1)
    np.testing.assert_allclose(S.T @ S / 16, np.eye(2), atol=1e-15)
    np.testing.assert_allclose([dgamma, dbeta], S.T @ g, atol=1e-12)


def test_bn_eps_leak_formula():                                   # D2
    rng = np.random.default_rng(4)
    f, g = 1e-3 * rng.standard_normal(16), rng.standard_normal(16)
    eps = 1e-5
    gf = T.batchnorm_backward(f, g, eps, c1=1.3)
    fhat, var = f - f.mean(), f.var()
    leak = 1.3 / math.sqrt(var + eps) * (fhat @ g) * eps / (var + eps)
    assert abs(np.ones(16) @ gf) < 1e-12
    np.testing.assert_allclose(f @ gf, leak, rtol=1e-10)
    assert abs(leak) > 1e-3


def test_weighted_bn_projector():                                 # U4, D3
    rng = np.random.default_rng(5)
    p = rng.dirichlet(np.ones(6))
    f, g = rng.standard_normal(6), rng.standard_normal(6)
    P = T.batchnorm_projector(f, weights=p)
    L = np.diag(p)
    np.testing.assert_allclose(P @ P, P, atol=1e-12)
    np.testing.assert_allclose(L @ P, P.T @ L, atol=1e-12)
    assert np.max(np.abs(P - P.T)) > 1e-3
    gw = T.batchnorm_backward(f, g, weights=p, c1=1.4)
    mu = p @ f
    sigma = math.sqrt(p @ (f - mu) ** 2)
    np.testing.assert_allclose(gw, 1.4 / sigma * P @ g, atol=1e-12)
    assert abs(p @ gw) < 1e-12 and abs(p @ (f * gw)) < 1e-12
    h = 1e-6                      # gw is the per-event gradient of sum_z p_z g(z) f_bn(z)
    fd = np.array([(p * g) @ (T.batchnorm_forward(f + h * e, 1.4, weights=p)
                              - T.batchnorm_forward(f - h * e, 1.4, weights=p)) / (2 * h)
                   for e in np.eye(6)])
    np.testing.assert_allclose(p * gw, fd, atol=1e-8)
    np.testing.assert_allclose(T.batchnorm_projector(f, weights=np.full(6, 1 / 6)),
                               T.batchnorm_projector(f), atol=1e-14)


# ------------------------------------------------------------------ U5-U8 reformulation
def test_reformulation_exact_for_lossless_teacher(world, student):   # U5 / D4
    assert T.reformulation_error(world, student) < 1e-12
    assert T.reformulation_error(world, student, gate="hard") < 1e-12
    ref = T.reformulate(world, student)
    _, act, out = T.student_forward(world, student)
    np.testing.assert_allclose(ref.F_top, out, atol=1e-12)         # top events = inputs here
    for r, reg in enumerate(world.regions):
        for z in range(world.m_hidden[r]):
            rows = world.z_hidden[r] == z
            np.testing.assert_allclose(ref.F_hidden[r][z], act[r][rows][0], atol=1e-12)


def test_population_gradients_match_torch_autograd(world, student):
    torch = pytest.importorskip("torch")
    grads = T.population_gradients(world, student)
    Wh = [torch.tensor(w, requires_grad=True) for w in student.hidden]
    Wt = [torch.tensor(w, requires_grad=True) for w in student.top]
    X = torch.tensor(world.X, dtype=torch.float64)
    out = 0
    for reg, wh, wt in zip(world.regions, Wh, Wt):
        x = X[:, list(reg)]
        u = torch.stack([1 - x, x], dim=2).reshape(len(x), -1)
        out = out + torch.relu(u @ wh) @ wt
    Y = torch.eye(world.n_classes, dtype=torch.float64)[torch.tensor(world.y)]
    loss = 0.5 * (torch.tensor(world.p) * ((out - Y) ** 2).sum(1)).sum()
    loss.backward()
    for a, b in zip(grads.hidden + grads.top, Wh + Wt):
        np.testing.assert_allclose(a, -b.grad.numpy(), atol=1e-12)


def test_matrix_identities(world, student):                    # U6
    p = world.p
    for r in range(len(world.regions)):
        zb, mb = world.z_hidden[r], world.m_hidden[r]
        P = T.conditional_matrix(world.z_top, zb, p, world.m_top, mb)
        Pb = T.conditional_matrix(zb, world.z_top, p, mb, world.m_top).T   # P(z_top | z_b)^T
        la = T.event_probabilities(world.z_top, p, world.m_top)
        lb = T.event_probabilities(zb, p, mb)
        np.testing.assert_allclose(P.sum(1), 1, atol=1e-12)
        np.testing.assert_allclose(Pb.sum(0), 1, atol=1e-12)
        np.testing.assert_allclose(np.diag(lb) @ Pb.T, P.T @ np.diag(la), atol=1e-12)
        np.testing.assert_allclose(P.T @ la, lb, atol=1e-12)
        ref = T.reformulate(world, student)
        Gt = ref.Gt_top
        np.testing.assert_allclose(np.ones(mb) @ (P.T @ Gt @ student.top[r].T),
                                   np.ones(world.m_top) @ Gt @ student.top[r].T, atol=1e-12)
        # Delta W = F_beta^T (P^T G_alpha): the update is consistent with the backward recursion
        np.testing.assert_allclose(ref.F_hidden[r].T @ (P.T @ Gt), ref.updates.top[r],
                                   atol=1e-12)


def test_reformulation_error_grows_with_flip_noise(student):   # U7 / D6
    errs = [T.reformulation_error(T.teacher_world(q=q), student) for q in (0, 0.01, 0.1, 0.5)]
    assert errs[0] < 1e-12 < errs[1] < errs[2] < errs[3]
    for kind in ("or", "sum", "const"):
        assert T.reformulation_error(T.teacher_world(kind=kind), student) > 0.1


def test_minibatch_is_reformulation_with_empirical_p(world, student):   # U8 / D7
    batch = T.empirical_world(world, 8, seed=3)
    assert np.sum(batch.p == 0) > 0                                 # unseen events, no NaN
    ref = T.reformulate(batch, student)
    for F in ref.F_hidden:
        assert np.all(np.isfinite(F))
    assert T.reformulation_error(batch, student) < 1e-12
    full = T.population_gradients(world, student)

    def dist(B, seed):
        g = T.population_gradients(T.empirical_world(world, B, seed=seed), student)
        return math.sqrt(sum(np.sum((a - b) ** 2) for a, b in zip(g.top, full.top)))
    d8 = np.mean([dist(8, s) for s in range(30)])
    d128 = np.mean([dist(128, s) for s in range(30)])
    assert 2.5 < d8 / d128 < 6.5                      # B^{-1/2}: ratio 4 (30 batches each)


def test_tower_property_and_eq20(world, student):              # U14 / D16
    g = T.backpropagated_gradients(world, student)[0][:, 0]
    x = world.X
    e1 = T.conditional_mean(g, world.p, x[:, 0])
    e12 = T.conditional_mean(g, world.p, x[:, :2])
    np.testing.assert_allclose(T.conditional_mean(e12, world.p, x[:, 0]), e1, atol=1e-15)


def test_conditional_matrix_handles_unseen_events():
    P = T.conditional_matrix([0, 0, 1], [0, 1, 1], [0.5, 0.5, 0.0], 3, 2)
    np.testing.assert_allclose(P, [[0.5, 0.5], [0.5, 0.5], [0.5, 0.5]])


# ------------------------------------------------------------------ U9 energy
def test_energy_conservation_with_bn():                        # U9 / D14
    for order in ("lin-bn-relu", "lin-relu-bn"):
        run = T.energy_run(order, steps=300)
        assert run.max_identity < 1e-13 and run.max_increment_error < 1e-13
        assert np.all(np.diff(run.energies, axis=0) >= -1e-14)
    run = T.energy_run("none", steps=300)
    assert run.max_identity > 0.1


def test_energy_vectorized_bn_backward_equals_batchnorm_backward():
    from mftheory.teacher._toys import _bn_back
    rng = np.random.default_rng(0)
    H, G = rng.standard_normal((64, 5)), rng.standard_normal((64, 5))
    ref = np.stack([T.batchnorm_backward(H[:, j], G[:, j], c1=1.3) for j in range(5)], 1)
    np.testing.assert_allclose(_bn_back(H, G, 1.3), ref, atol=1e-13)


def test_energy_identity_without_bn_against_torch():            # eq 84 (any ReLU net)
    torch = pytest.importorskip("torch")
    from mftheory.teacher._toys import _energy_grads
    rng = np.random.default_rng(1)
    X, Y = rng.standard_normal((32, 10)), np.eye(3)[rng.integers(0, 3, 32)]
    W1, W2 = rng.standard_normal((8, 10)), rng.standard_normal((3, 8))
    for order in T.ENERGY_ORDERS:
        _, d1, d2 = _energy_grads(order, X, Y, W1, W2, 1.0, 0.1)
        w1 = torch.tensor(W1, requires_grad=True)
        w2 = torch.tensor(W2, requires_grad=True)
        z = torch.tensor(X) @ w1.T
        bn = (lambda h: (h - h.mean(0)) / h.std(0, unbiased=False) + 0.1)
        a = {"lin-bn-relu": lambda: torch.relu(bn(z)), "lin-relu-bn": lambda: bn(torch.relu(z)),
             "none": lambda: torch.relu(z)}[order]()
        loss = 0.5 * ((a @ w2.T - torch.tensor(Y)) ** 2).sum() / 32
        loss.backward()
        np.testing.assert_allclose(d1, -w1.grad.numpy(), atol=1e-12)
        np.testing.assert_allclose(d2, -w2.grad.numpy(), atol=1e-12)


# ------------------------------------------------------------------ U10-U11 geometry
@pytest.mark.parametrize("d", range(2, 9))
def test_hypercube_linear_loss(d):                            # U10 / D8
    Q = T.hypercube_Q(d)
    assert np.linalg.matrix_rank(Q) == d + 1
    assert abs(T.linear_min_loss(Q) - (2**d - d - 1)) < 1e-9
    W = T.relu_identity_weights(Q, d)
    F = Q @ W
    assert np.array_equal(np.maximum(F, 0), np.eye(2**d)) or \
        np.max(np.abs(np.maximum(F, 0) - np.eye(2**d))) < 1e-12
    np.testing.assert_allclose(np.diag(F), 1, atol=1e-12)
    assert np.max(F - 2 * np.eye(2**d)) <= -1 + 1e-12


def test_hypercube_blocks_and_weighted_loss():
    assert abs(T.linear_min_loss(T.hypercube_Q(4, 2)) - 9) < 1e-9
    assert abs(T.linear_min_loss(T.hypercube_Q(6, 3)) - (64 - 2 * 7 - 1)) < 1e-9
    assert abs(T.linear_min_loss(T.hypercube_Q(4), np.full(16, 1 / 16)) - 11 / 16) < 1e-12


def test_two_level_relu_construction():                       # D9
    pairs = T.hypercube_Q(2)                                    # 4 x 4 one-hot of a pair
    Wp = T.relu_identity_weights(pairs, 2)
    np.testing.assert_allclose(np.maximum(pairs @ Wp, 0), np.eye(4), atol=1e-12)
    Q = T.hypercube_Q(4, 2)                                     # the pairs as children of the top
    F = np.maximum(Q @ T.relu_identity_weights(Q, 2), 0)
    np.testing.assert_allclose(F, np.eye(16), atol=1e-12)


def test_vertex_counts():                                     # U11 / D10
    assert T.vertex_count(np.eye(5)) == 5
    rng = np.random.default_rng(0)
    P = rng.dirichlet(np.ones(8), size=6)
    assert T.vertex_count(P) == 6
    assert T.vertex_count(P @ rng.standard_normal((8, 10))) == 6
    assert T.vertex_count(P @ rng.standard_normal((8, 1))) == 2
    P2 = np.vstack([P, 0.5 * (P[0] + P[1])])
    assert T.vertex_count(P2) == 6 and not T.is_vertex(P2, 6)
    Pd = np.vstack([P, P[0]])
    assert T.vertex_count(Pd) == 5 and not T.is_vertex(Pd, 0)
    tri = np.array([[1, 0, 0], [0, 1, 0], [0, 0, 1], [1 / 3, 1 / 3, 1 / 3]])
    assert T.vertex_count(tri) == 3


def test_separators_iff_vertex():
    P = np.random.default_rng(0).dirichlet(np.ones(5), size=8)
    assert T.vertex_count(P) == 8
    W = T.vertex_separators(P)
    np.testing.assert_allclose(np.maximum(P @ W, 0), np.eye(8), atol=1e-9)
    P2 = np.vstack([P, 0.5 * (P[0] + P[1])])
    with pytest.raises(ValueError, match="not a vertex"):
        T.vertex_separators(P2)


# ------------------------------------------------------------------ U12-U13 disentanglement
def test_disentangled_helpers_and_lemma1():                    # U12
    rng = np.random.default_rng(0)
    f = rng.standard_normal((3, 2))
    F = T.disentangled_activation(f)
    assert T.activation_deviation(F) < 1e-15
    F2 = rng.standard_normal((3, 2))
    G = T.disentangled_activation(F2)
    assert T.activation_deviation(0.3 * F - 1.2 * G) < 1e-14                 # combination
    assert T.activation_deviation(np.tanh(F) * np.maximum(G, 0)) < 1e-14    # elementwise, Hadamard
    assert T.activation_deviation(F + 0.1 * np.outer(rng.standard_normal(8),
                                                     rng.standard_normal(3))) > 1e-3
    p = rng.dirichlet(np.ones(2), size=3)
    Gd = T.disentangled_gradient(f, p)
    assert T.gradient_deviation(Gd, p) < 1e-15
    assert T.gradient_deviation(Gd + 0.05 * rng.standard_normal(Gd.shape), p) > 1e-3


def test_disentangle_theorems_8_9_and_backward():              # U13 / D11-D13
    e = T.disentangle_example(coupling=1.0, w_prime=0.7, centred=True)
    assert e.forward_deviation < 1e-12 and T.activation_deviation(e.F_raw) < 1e-12
    bn = np.stack([T.batchnorm_forward(e.F_raw[:, j], weights=np.full(4, 0.25))
                   for j in range(2)], 1)
    assert T.activation_deviation(bn) < 1e-12
    assert e.update_off_block < 1e-15
    assert e.backward_deviation > 1e-3 and e.node1_singular_values[1] > 1e-2
    un = T.disentangle_example(coupling=1.0, w_prime=0.7, centred=False)
    # eq 99: the off blocks are (P_{1,2} f_{1,2})^T p_{alpha[1]} (1^T g_2) and its mirror
    f = un.f_beta
    f12 = np.stack([np.kron(f[0], np.ones(2)), np.kron(np.ones(2), f[1])], 1)
    upper = (un.P12 @ f12).T @ un.p_alpha[0] * un.g_alpha[1].sum()      # rows S_1, column 2
    lower = (un.P3 @ f[2]) @ un.p_alpha[1] * un.g_alpha[0].sum()          # row S_2, column 1
    np.testing.assert_allclose(max(np.abs(upper).max(), abs(lower)), un.update_off_block,
                               rtol=1e-12)
    ctrl = T.disentangle_example(coupling=0.0, w_prime=0.0, centred=True)
    assert ctrl.backward_deviation < 1e-15
    assert T.disentangle_example(coupling=0.0, w_prime=0.7).backward_deviation > 1e-3
    np.testing.assert_allclose(ctrl.P.T @ np.kron(ctrl.p_alpha[0], ctrl.p_alpha[1]),
                               np.kron(np.kron(*ctrl.marginals_beta[:2]),
                                       ctrl.marginals_beta[2]), atol=1e-15)


# ------------------------------------------------------------------ overfitting toy
def test_spurious_epsilon_moments():                           # D17
    for n in (20, 100, 1000):
        e = T.spurious_epsilon(n, 20000, seed=n)
        se = np.abs(e).std() / math.sqrt(len(e))
        # 1/sqrt(pi n) is the large-n limit; at n = 20 the exact mean is 2 % above it
        assert abs(np.abs(e).mean() - 1 / math.sqrt(math.pi * n)) < 5 * se + 0.03 / math.sqrt(n)
    assert T.spurious_win_probability(769, 0.1, 1.0) < 0.05 < T.spurious_win_probability(
        767, 0.1, 1.0)
    assert T.spurious_win_probability(10, 0.1, 0.0) == 0.0


# ------------------------------------------------------------------ bad input
BAD = [None, "x", True, 1 + 2j, math.nan, math.inf, [[1, 2], [3]]]


@pytest.mark.parametrize("bad", BAD)
def test_bad_input_raises_value_error(bad, world, student):
    calls = [
        lambda: T.teacher_world(d=bad), lambda: T.teacher_world(q=bad),
        lambda: T.teacher_world(kind=bad), lambda: T.teacher_world(regions=[bad]),
        lambda: T.init_student(bad), lambda: T.reformulate(world, bad),
        lambda: T.reformulation_error(world, student, gate=bad),
        lambda: T.batchnorm_backward(bad, [1.0, 2.0]), lambda: T.batchnorm_backward([1, 2], bad),
        lambda: T.batchnorm_backward([1.0, 2.0], [1.0, 2.0], eps=bad),
        lambda: T.hypercube_Q(bad), lambda: T.linear_min_loss(bad), lambda: T.vertex_count(bad),
        lambda: T.disentangle_example(coupling=bad), lambda: T.energy_run(eta=bad),
        lambda: T.spurious_epsilon(bad, 10), lambda: T.conditional_mean(bad, [1.0], [0]),
    ]
    for call in calls:
        with pytest.raises(ValueError):
            call()


def test_specific_bad_input():
    with pytest.raises(ValueError, match="constant"):
        T.batchnorm_backward([1.0, 1.0, 1.0], [1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match="shape"):
        T.batchnorm_backward([1.0, 2.0, 3.0], [1.0, 2.0])
    with pytest.raises(ValueError, match="torch"):
        torch = pytest.importorskip("torch")
        T.batchnorm_backward(torch.ones(3), [1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match="divide"):
        T.hypercube_Q(5, 2)
    with pytest.raises(ValueError, match="pixel"):
        T.teacher_world(regions=((0, 9),))
    with pytest.raises(ValueError, match="distinct"):
        T.relu_identity_weights(np.vstack([T.hypercube_Q(2)] * 2), 2)
    with pytest.raises(ValueError, match="sum to 1"):
        T.conditional_matrix([0, 1], [0, 1], [0.5, 0.6], 2, 2)


def test_toys_reject_bad_input():
    with pytest.raises(ValueError, match="diverged"):
        T.energy_run("none", eta=9.0, steps=200)
    with pytest.raises(ValueError, match="eta"):           # beyond 10: float overflow
        T.energy_run("none", eta=1e308, steps=2)
    with pytest.raises(ValueError, match="lr"):
        T.specialization_run(lr=1e308)
    with pytest.raises(ValueError, match="`f` must have entries of magnitude"):
        T.batchnorm_forward(1e308 * np.ones(4))
    for kw in ({"length": 7}, {"steps": 0}, {"lr": -0.1}, {"device": "tpu"}, {"device": 3},
               {"teacher_width": None}, {"length": 10**6}):
        with pytest.raises(ValueError):
            T.specialization_run(**kw)
    with pytest.raises(ValueError):
        T.spurious_epsilon(10, 10**9)


def test_specialization_run_small():
    run = T.specialization_run(length=12, steps=60, batch=32, seed=1)
    assert run.corr_init.shape == (2 * run.n_fields, 6 * run.n_fields)
    assert np.all(np.abs(run.corr_final) <= 1 + 1e-12)
    assert run.losses[-1] < run.losses[0]


def test_reformulation_with_batchnorm(world, student):           # U5 with BN / D5
    torch = pytest.importorskip("torch")
    bn = (1.3, 0.2)
    assert T.reformulation_error(world, student, bn=bn) < 1e-12
    assert T.reformulation_error(world, student, gate="hard", bn=bn) < 1e-12
    ref = T.reformulate(world, student, bn=bn)
    for Gt in ref.Gt_hidden:                                      # centred: 1^T G = 0
        assert np.max(np.abs(Gt.sum(axis=0))) < 1e-14
    grads = T.population_gradients(world, student, bn=bn)
    for w, dw in zip(student.hidden, grads.hidden):               # sum_k w_jk dw_jk = 0
        assert np.max(np.abs((w * dw).sum(axis=0))) < 1e-14
    Wh = [torch.tensor(w, requires_grad=True) for w in student.hidden]
    Wt = [torch.tensor(w, requires_grad=True) for w in student.top]
    X, p = torch.tensor(world.X, dtype=torch.float64), torch.tensor(world.p)
    out = 0
    for reg, wh, wt in zip(world.regions, Wh, Wt):
        x = X[:, list(reg)]
        pre = torch.stack([1 - x, x], dim=2).reshape(len(x), -1) @ wh
        mu = p @ pre
        h = 1.3 * (pre - mu) / torch.sqrt(p @ (pre - mu) ** 2) + 0.2
        out = out + torch.relu(h) @ wt
    Y = torch.eye(world.n_classes, dtype=torch.float64)[torch.tensor(world.y)]
    (0.5 * (p * ((out - Y) ** 2).sum(1)).sum()).backward()
    for a, b in zip(grads.hidden + grads.top, Wh + Wt):
        np.testing.assert_allclose(a, -b.grad.numpy(), atol=1e-12)
    with pytest.raises(ValueError, match="bn"):
        T.population_gradients(world, student, bn=(1.0,))


def test_digits_world_error_falls_to_zero():
    ms = (1, 4, 8, 16)
    worlds = [T.digits_world(m) for m in ms]
    assert [max(w.m_hidden) for w in worlds] == list(ms)
    assert len(worlds[0].p) == 1797 and len(worlds[0].regions) == 16
    student = T.init_student(worlds[0], seed=0)
    errs = [T.reformulation_error(w, student) for w in worlds]
    assert errs[-1] < 1e-12                         # every 2x2 pattern its own event: lossless
    assert errs[0] > errs[1] > errs[2] > 1e-3
    with pytest.raises(ValueError):
        T.digits_world(patch=3)

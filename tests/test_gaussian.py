"""Accuracy and identities of mftheory.gaussian.

The central claim: the split quadrature agrees with every closed form to 1e-10 relative over
q in [1e-3, 50] and c in [-1, 1], both ends included. Kernels that pass through 0 (odd
activations at c = 0) are compared on their natural scale sqrt(E[phi(u1)^2] E[phi(u2)^2]),
the Cauchy-Schwarz bound on |E[phi(u1) phi(u2)]|.
"""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.polynomial.hermite_e import hermegauss
from scipy import integrate, special

from mftheory import gaussian as G

Q = np.geomspace(1e-3, 50.0, 30)                 # includes both ends exactly
C = np.linspace(-1.0, 1.0, 41)                   # includes -1, 0 and 1
CLOSED = ("linear", "relu", "erf")
ONE_D = (G.second_moment, G.derivative_second_moment, G.phi_d2phi_moment)
RTOL = 1e-10


@pytest.mark.parametrize("act", CLOSED)
@pytest.mark.parametrize("moment", ONE_D, ids=lambda f: f.__name__)
def test_1d_quadrature_matches_closed_forms(act, moment):
    closed = moment(act, Q, method="closed")
    quad = moment(act, Q, method="quadrature")
    scale = np.maximum(np.abs(closed), G.second_moment(act, Q) * 1e-3)
    assert np.max(np.abs(quad - closed) / scale) < RTOL


@pytest.mark.parametrize("act", CLOSED)
@pytest.mark.parametrize("which", ["kernel", "derivative_kernel"])
def test_2d_quadrature_matches_closed_forms(act, which):
    fn = getattr(G, which)
    q1, c = np.meshgrid(Q[::3], C, indexing="ij")         # 10 x 41 points, both ends of each
    q2 = np.flip(Q[::3])[:, None] * np.ones_like(c)      # unequal variances too
    closed = fn(act, q1, q2, c, method="closed")
    quad = fn(act, q1, q2, c, method="quadrature")
    m = G.second_moment if which == "kernel" else G.derivative_second_moment
    scale = np.sqrt(m(act, q1) * m(act, q2))
    assert np.max(np.abs(quad - closed) / scale) < RTOL
    nonzero = np.abs(closed) > 1e-3 * scale
    assert np.max(np.abs(quad - closed)[nonzero] / np.abs(closed)[nonzero]) < RTOL


def test_reference_values_from_independent_sources():
    # ReLU: E[relu(z)^2] = 1/2; arc-cosine kernel at c = 0 is 1/(2 pi).
    assert G.second_moment("relu", 1.0) == 0.5
    assert math.isclose(G.kernel("relu", 1.0, 1.0, 0.0), 1 / (2 * math.pi), rel_tol=1e-15)
    # erf at q = 1 against scipy's adaptive quad (epsrel 1e-13).
    ref, _ = integrate.quad(lambda z: special.erf(z) ** 2 * np.exp(-z * z / 2), -np.inf,
                            np.inf, epsabs=0, epsrel=1e-13)
    assert math.isclose(G.second_moment("erf", 1.0), ref / math.sqrt(2 * math.pi), rel_tol=1e-12)


@pytest.mark.parametrize("q", [1e-3, 0.418037, 1.0, 2.54836, 50.0])
@pytest.mark.parametrize("kind", ["phi2", "dphi2", "phid2phi"])
def test_tanh_1d_against_adaptive_quad(q, kind):
    a = G.activation("tanh")
    f = {"phi2": lambda u: a.phi(u) ** 2, "dphi2": lambda u: a.dphi(u) ** 2,
         "phid2phi": lambda u: a.phi(u) * a.d2phi(u)}[kind]
    dens = lambda z: f(math.sqrt(q) * z) * math.exp(-z * z / 2) / math.sqrt(2 * math.pi)  # noqa: E731
    ref = sum(integrate.quad(dens, lo, hi, epsabs=0, epsrel=1e-13, limit=200)[0]
              for lo, hi in [(-np.inf, 0), (0, np.inf)])
    got = G.expect(f, q)
    assert abs(got - ref) <= 1e-11 * abs(ref)


@pytest.mark.parametrize("q1,q2,c", [(1.06396, 1.06396, 0.446804), (0.5, 2.0, -0.9),
                                     (3.0, 0.1, 0.999)])
def test_tanh_2d_against_nested_quad(q1, q2, c):
    s = math.sqrt(1 - c * c)

    def inner(s1):
        g = lambda s2: np.tanh(math.sqrt(q2) * (c * s1 + s * s2)) * math.exp(-s2 * s2 / 2)  # noqa: E731
        return integrate.quad(g, -np.inf, np.inf, epsabs=0, epsrel=1e-12)[0] / math.sqrt(2 * math.pi)

    outer = lambda s1: np.tanh(math.sqrt(q1) * s1) * inner(s1) * math.exp(-s1 * s1 / 2)  # noqa: E731
    ref = integrate.quad(outer, -np.inf, np.inf, epsabs=1e-14, epsrel=1e-12)[0] / math.sqrt(2 * math.pi)
    assert abs(G.kernel("tanh", q1, q2, c) - ref) <= 1e-9 * abs(ref)


def test_plain_gauss_hermite_fails_on_the_relu_kink_and_ours_does_not():
    x, w = hermegauss(301)
    gh = np.sum(w / math.sqrt(2 * math.pi) * (x > 0))
    assert abs(gh - 0.5) > 0.03                            # 0.4639: several percent off
    assert abs(G.derivative_second_moment("relu", 1.0, method="quadrature") - 0.5) < 1e-14


def test_fast_rule_accuracy():
    q = np.geomspace(1e-3, 10.0, 20)
    for act in CLOSED:
        for m in ONE_D[:2]:
            closed = m(act, q, method="closed")
            fast = m(act, q, method="quadrature", rule="fast")
            assert np.max(np.abs(fast - closed) / np.abs(closed)) < 1e-7


def test_vectorised_shapes_and_scalars():
    assert isinstance(G.second_moment("tanh", 1.0), float)
    assert G.second_moment("tanh", np.ones((3, 4))).shape == (3, 4)
    assert G.kernel("tanh", np.ones((2, 1)), np.ones((1, 5)), 0.3).shape == (2, 5)
    assert G.expect2(np.tanh, np.tanh, 1.0, 1.0, np.zeros(7)).shape == (7,)


def test_hermite_series_reproduces_the_kernel():
    q = np.array([0.3, 1.0, 4.0])
    a = G.hermite_coefficients("erf", q, 80)
    for c in (-0.9, -0.2, 0.5, 0.9):
        series = np.sum(a ** 2 * c ** np.arange(80), axis=-1)
        np.testing.assert_allclose(series, G.kernel("erf", q, q, c), rtol=1e-10, atol=1e-12)
    lin = G.hermite_coefficients("linear", 2.0, 4)
    np.testing.assert_allclose(lin, [0, math.sqrt(2.0), 0, 0], atol=1e-13)


# ------------------------------------------------------------------------------- identities
odd_acts = st.sampled_from(["linear", "tanh", "erf"])
acts = st.sampled_from(["linear", "relu", "tanh", "erf"])
qs = st.floats(1e-3, 20.0)
cs = st.floats(-1.0, 1.0)


@settings(max_examples=25, deadline=None)
@given(act=acts, q=qs, shift=st.floats(-1, 1))
def test_reflection_invariance(act, q, shift):
    # z and -z have the same law: E[f(-u)] = E[f(u)] for any f, here a non-even one.
    phi = G.activation(act).phi
    f = lambda u: phi(u + shift) * (1 + u)  # noqa: E731
    assert math.isclose(G.expect(lambda u: f(-u), q), G.expect(f, q), rel_tol=1e-11,
                        abs_tol=1e-13)


@settings(max_examples=25, deadline=None)
@given(q=qs, k=st.integers(1, 4))
def test_homogeneous_scaling(q, k):
    # relu(u)^k is positively homogeneous of degree k: E[f(sqrt(q) z)] = q^(k/2) E[f(z)].
    f = lambda u: np.maximum(u, 0) ** k  # noqa: E731
    assert math.isclose(G.expect(f, q), q ** (k / 2) * G.expect(f, 1.0), rel_tol=1e-12)


@settings(max_examples=15, deadline=None)
@given(act=acts, q1=qs, q2=qs)
def test_2d_reduces_to_1d_at_c_equal_pm_one(act, q1, q2):
    phi = G.activation(act).phi
    r = math.sqrt(q2 / q1)
    at_one = G.expect(lambda u: phi(u) * phi(r * u), q1)
    at_minus_one = G.expect(lambda u: phi(u) * phi(-r * u), q1)
    assert math.isclose(G.kernel(act, q1, q2, 1.0, method="quadrature"), at_one,
                        rel_tol=1e-11, abs_tol=1e-14)
    assert math.isclose(G.kernel(act, q1, q2, -1.0, method="quadrature"), at_minus_one,
                        rel_tol=1e-11, abs_tol=1e-14)


@settings(max_examples=15, deadline=None)
@given(act=acts, q1=qs, q2=qs, c=cs)
def test_kernel_symmetric_in_its_inputs(act, q1, q2, c):
    assert math.isclose(G.kernel(act, q1, q2, c), G.kernel(act, q2, q1, c), rel_tol=1e-11,
                        abs_tol=1e-13)


@settings(max_examples=15, deadline=None)
@given(act=odd_acts, q1=qs, q2=qs, c=cs)
def test_odd_activation_gives_odd_kernel(act, q1, q2, c):
    k = lambda cc: G.kernel(act, q1, q2, cc, method="quadrature")  # noqa: E731
    assert math.isclose(k(-c), -k(c), rel_tol=1e-11, abs_tol=1e-13)


@settings(max_examples=15, deadline=None)
@given(act=acts, q1=qs, q2=qs)
def test_independence_at_c_zero(act, q1, q2):
    phi = G.activation(act).phi
    prod = G.expect(phi, q1) * G.expect(phi, q2)
    assert math.isclose(G.expect2(phi, phi, q1, q2, 0.0), prod, rel_tol=1e-11, abs_tol=1e-13)


@settings(max_examples=25, deadline=None)
@given(act=st.sampled_from(["tanh", "erf"]), q=qs)
def test_gaussian_integration_by_parts(act, q):
    # E[phi(u) u] = q E[phi'(u)] for u ~ N(0, q) (Stein's lemma).
    a = G.activation(act)
    assert math.isclose(G.expect(lambda u: a.phi(u) * u, q), q * G.expect(a.dphi, q),
                        rel_tol=1e-11)


def test_price_theorem_derivative_in_c():
    # d/dc E[phi(u1) phi(u2)] = sqrt(q1 q2) E[phi'(u1) phi'(u2)] (Price's theorem).
    q1, q2, c, h = 0.7, 1.9, 0.3, 1e-5
    fd = (G.kernel("tanh", q1, q2, c + h) - G.kernel("tanh", q1, q2, c - h)) / (2 * h)
    assert math.isclose(fd, math.sqrt(q1 * q2) * G.derivative_kernel("tanh", q1, q2, c),
                        rel_tol=1e-8)


# ------------------------------------------------------------------------------ bad input
@pytest.mark.parametrize("call,match", [
    (lambda: G.second_moment("tahn", 1.0), "unknown activation 'tahn'; expected one of"),
    (lambda: G.second_moment("tanh", -1.0), r"`q` must be >= 0, got -1.0"),
    (lambda: G.second_moment("tanh", float("nan")), "`q` must be finite"),
    (lambda: G.kernel("relu", 1.0, 1.0, 1.5), r"`c` must be >= -1 and <= 1"),
    (lambda: G.kernel("relu", 1.0, [1.0, np.inf], 0.5), "`q2` must be finite"),
    (lambda: G.kernel("tanh", 1.0, 1.0, 0.5, method="closed"), "no closed form"),
    (lambda: G.kernel("relu", 1.0, 1.0, 0.5, method="exact"), "unknown method"),
    (lambda: G.expect(np.tanh, 1.0, rule="best"), "unknown quadrature rule"),
    (lambda: G.expect("tanh", 1.0), "vectorised callable"),
    (lambda: G.expect2(np.tanh, np.tanh, 1.0, 1.0, "a"), "`c` must be a real number"),
    (lambda: G.hermite_coefficients("erf", 1.0, 0), "`n_terms` must be an integer >= 1"),
    (lambda: G.activation(3), "unknown activation 3"),
])
def test_bad_input_raises_value_error(call, match):
    with pytest.raises(ValueError, match=match):
        call()


@pytest.mark.parametrize("moment", ONE_D, ids=lambda f: f.__name__)
def test_auto_method_uses_quadrature_for_tanh(moment):
    # 'auto' must never fall through to another activation's closed form.
    q = np.array([0.2, 1.0, 3.0])
    np.testing.assert_array_equal(moment("tanh", q), moment("tanh", q, method="quadrature"))
    np.testing.assert_array_equal(G.kernel("tanh", q, q, 0.4),
                                  G.kernel("tanh", q, q, 0.4, method="quadrature"))


# ------------------------------------------------------------------------------ float range
@pytest.mark.parametrize("act", ["linear", "relu", "erf", "tanh"])
def test_rule_is_validated_even_when_a_closed_form_is_used(act):
    for fn in (G.second_moment, G.derivative_second_moment, G.phi_d2phi_moment):
        with pytest.raises(ValueError, match="unknown quadrature rule 'bogus'"):
            fn(act, 1.0, rule="bogus")
    for fn in (G.kernel, G.derivative_kernel):
        with pytest.raises(ValueError, match="unknown quadrature rule"):
            fn(act, 1.0, 1.0, 0.5, rule=None)


QS = np.array([0.0, 5e-324, 1e-300, 1e-8, 0.3, 1.0, 7.0, 1e10, 1e200, 1e308])


def test_erf_closed_forms_are_finite_and_exact_up_to_the_float_range():
    # reference: the textbook formulas in float64 where they are well conditioned (q <= 7:
    # arcsin's argument <= 14/15), the expansion 1 - (2/pi) sqrt(2 delta), delta = 1/(1+2q),
    # at q = 1e10, and the limits beyond: 1, 0, 0
    m2 = G.second_moment("erf", QS)
    d2 = G.derivative_second_moment("erf", QS)
    pd = G.phi_d2phi_moment("erf", QS)
    assert np.all(np.isfinite(m2)) and np.all(np.isfinite(d2)) and np.all(np.isfinite(pd))
    q = QS[QS <= 7]
    np.testing.assert_allclose(m2[:q.size], (2 / np.pi) * np.arcsin(2 * q / (1 + 2 * q)),
                               rtol=4e-16, atol=0)
    np.testing.assert_allclose(pd[:q.size], -8 * q / (np.pi * (1 + 2 * q) * np.sqrt(1 + 4 * q)),
                               rtol=4e-16, atol=0)
    delta = 1 / (1 + 2e10)
    assert G.second_moment("erf", 1e10) == pytest.approx(
        1 - (2 / np.pi) * np.sqrt(2 * delta) * (1 + delta / 12), rel=1e-15)
    assert m2[-1] == 1.0 and abs(pd[-1]) < 1e-150 and d2[-1] < 1e-150


@pytest.mark.parametrize("act", ["linear", "relu", "erf"])
def test_closed_kernels_never_nan_at_the_float_range(act):
    q1, q2, c = np.meshgrid(QS, QS, np.array([-1.0, -0.3, 0.0, 0.5, 1.0]), indexing="ij")
    k = G.kernel(act, q1, q2, c)
    dk = G.derivative_kernel(act, q1, q2, c)
    assert np.all(np.isfinite(k)) and np.all(np.isfinite(dk))
    # the unscaled formulas are accurate for 1e-8 <= q <= 7 (no underflow of q1 q2, arcsin's
    # argument away from 1) and at q = 0
    ok = (QS == 0) | ((QS >= 1e-8) & (QS <= 7))
    small = ok[:, None, None] & ok[None, :, None] & np.ones_like(c, dtype=bool)
    s = np.sqrt(1 - c * c)
    if act == "erf":
        with np.errstate(over="ignore", invalid="ignore"):
            ref = (2 / np.pi) * np.arcsin(2 * c * np.sqrt(q1 * q2)
                                          / np.sqrt((1 + 2 * q1) * (1 + 2 * q2)))
            dref = 4 / (np.pi * np.sqrt(1 + 2 * q1 + 2 * q2 + 4 * q1 * q2 * s * s))
        np.testing.assert_allclose(k[small], ref[small], rtol=1e-14, atol=1e-300)
        np.testing.assert_allclose(dk[small], dref[small], rtol=1e-14)
    elif act == "relu":
        with np.errstate(over="ignore", invalid="ignore"):
            ref = np.sqrt(q1 * q2) / (2 * np.pi) * (s + (np.pi - np.arccos(c)) * c)
        np.testing.assert_allclose(k[small], ref[small], rtol=1e-14, atol=1e-300)
        assert G.kernel("relu", 5e-324, 1e-8, 1.0) > 0             # sqrt(q1) sqrt(q2): no underflow
        assert G.kernel("relu", 1e308, 1e308, -1.0) == 0.0     # was NaN (inf * 0)

"""Tests of mftheory.signal: reference values, closed forms, identities, conventions, bad input."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import integrate, optimize

from mftheory import gaussian, signal

# ------------------------------------------------------------------------------------------
# The note's reference table (seed-001 digest, C.5.1), phi = tanh, 6 significant digits:
# (sigma_w2, sigma_b2, phase, q*, chi1, a, xi_q, c*, xi_c)
# ------------------------------------------------------------------------------------------
TABLE = [
    (1.0, 0.05, "ordered", 0.193593, 0.759032, 0.564280, 1.74763, 1, 3.62698),
    (1.5, 0.05, "ordered", 0.418037, 0.938636, 0.551983, 1.68283, 1, 15.7910),
    (2.5, 0.05, "chaotic", 1.06396, 1.13352, 0.428464, 1.17987, 0.446804, 11.7956),
    (3.0, 0.05, "chaotic", 1.42801, 1.20893, 0.382820, 1.04146, 0.299318, 9.05146),
    (1.3, 0.3, "ordered", 0.743404, 0.673869, 0.308415, 0.850116, 1, 2.53344),
    (2.5, 0.3, "ordered", 1.45772, 0.998929, 0.312220, 0.859071, 1, 933.445),
    (4.0, 0.3, "chaotic", 2.54836, 1.25687, 0.267339, 0.758014, 0.575395, 6.54968),
    (1.5, 0.0, "chaotic", 0.286894, 1.04057, 0.695491, 2.75378, 0, 52.3630),
    (2.0, 0.0, "chaotic", 0.617965, 1.10553, 0.552516, 1.68556, 0, 21.7237),
]


def agrees_to_printed_digits(value, printed, digits=6):
    """True when `value` rounds to `printed` at its number of significant digits.

    The table has 6 significant digits, so a relative tolerance of 1e-6 cannot be asked of it
    (rounding alone is up to 5e-6); the tight check is against an independent quadrature below.
    """
    if printed == 0:
        return abs(value) < 1e-12
    half_unit = 0.5 * 10.0 ** (math.floor(math.log10(abs(printed))) - (digits - 1))
    return abs(value - printed) <= half_unit * (1 + 1e-9)


@pytest.mark.parametrize("row", TABLE, ids=[f"{r[0]}-{r[1]}" for r in TABLE])
def test_reference_table(row):
    sw2, sb2, phase, *expected = row
    fp = signal.fixed_point("tanh", sw2, sb2)
    assert fp.phase == phase
    got = [fp.q_star, fp.chi1, fp.a, fp.xi_q, fp.c_star, fp.xi_c]
    for name, g, e in zip(["q*", "chi1", "a", "xi_q", "c*", "xi_c"], got, expected, strict=True):
        assert agrees_to_printed_digits(g, e), (name, g, e)
    if phase == "ordered":
        assert fp.c_star == 1.0 and fp.chi_c == fp.chi1


# Independent check with scipy's adaptive quad (no shared code with mftheory.gaussian).
def _quad1(f, q):
    return integrate.quad(lambda z: f(math.sqrt(q) * z) * math.exp(-z * z / 2) / math.sqrt(2 * math.pi),
                          -np.inf, np.inf, epsabs=1e-14, epsrel=1e-13, limit=200)[0]


def _quad2(f, q, c):
    s = math.sqrt(1 - c * c)

    def inner(s1):
        return integrate.quad(
            lambda s2: f(math.sqrt(q) * s1) * f(math.sqrt(q) * (c * s1 + s * s2))
            * math.exp(-s2 * s2 / 2) / math.sqrt(2 * math.pi), -12, 12, epsabs=1e-14, epsrel=1e-12,
            limit=200)[0] * math.exp(-s1 * s1 / 2) / math.sqrt(2 * math.pi)

    return integrate.quad(inner, -12, 12, epsabs=1e-14, epsrel=1e-12, limit=200)[0]


def _sech2(x):
    return 1 - math.tanh(x) ** 2


@pytest.mark.parametrize("sw2,sb2", [(1.5, 0.05), (2.5, 0.05)])
def test_fixed_point_against_adaptive_quadrature(sw2, sb2):
    # Accuracy claim of the module: ~1e-12; asserted at 1e-9 relative.
    qs = optimize.brentq(lambda q: sw2 * _quad1(lambda u: math.tanh(u) ** 2, q) + sb2 - q, 1e-6, 10,
                         xtol=1e-15, rtol=1e-15)
    fp = signal.fixed_point("tanh", sw2, sb2)
    assert fp.q_star == pytest.approx(qs, rel=1e-9)
    assert fp.chi1 == pytest.approx(sw2 * _quad1(lambda u: _sech2(u) ** 2, qs), rel=1e-9)
    if fp.phase == "chaotic":
        # c* is a root of the (independently integrated) c-map, and chi_c is its slope there.
        cm = (sw2 * _quad2(math.tanh, qs, fp.c_star) + sb2) / qs
        assert cm == pytest.approx(fp.c_star, abs=1e-9)
        assert fp.chi_c == pytest.approx(sw2 * _quad2(_sech2, qs, fp.c_star), rel=1e-9)


# ------------------------------------------------------------------------------------------
# Closed forms
# ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("sw2,sb2,qs,xi", [(1.5, 0.05, 0.2, 3.47606), (1.9, 0.05, 1.0, 19.4957),
                                           (1.0, 0.1, 0.2, 1.44270)])
def test_relu_closed_forms(sw2, sb2, qs, xi):
    fp = signal.fixed_point("relu", sw2, sb2)
    assert fp.q_star == pytest.approx(qs, rel=1e-14)
    assert fp.chi1 == sw2 / 2                         # exactly, from the closed form
    assert fp.a == sw2 / 2
    assert agrees_to_printed_digits(fp.xi_q, xi) and agrees_to_printed_digits(fp.xi_c, xi)


def test_relu_c_map_values_and_quadrature():
    # note C.5.1: C(0) = 0.488732, C(0.5) = 0.706748 at (1.5, 0.05)
    assert agrees_to_printed_digits(signal.c_map("relu", 0.0, 1.5, 0.05), 0.488732)
    assert agrees_to_printed_digits(signal.c_map("relu", 0.5, 1.5, 0.05), 0.706748)
    c = np.linspace(-1, 1, 21)
    quad = (1.5 * gaussian.expect2(lambda u: np.maximum(u, 0), lambda u: np.maximum(u, 0), 0.2, 0.2, c)
            + 0.05) / 0.2
    np.testing.assert_allclose(signal.c_map("relu", c, 1.5, 0.05), quad, rtol=1e-10, atol=1e-12)
    slope = 1.5 * gaussian.expect2(lambda u: (u > 0) * 1.0, lambda u: (u > 0) * 1.0, 0.2, 0.2, c[1:-1])
    np.testing.assert_allclose(signal.c_map_slope("relu", c[1:-1], 1.5, 0.05), slope, rtol=1e-10)


def test_erf_and_linear_closed_forms():
    # erf: q* from the closed-form map vs q* from quadrature of the same map (note: 1.04626)
    qs = signal.q_star("erf", 2.0, 0.1)
    assert agrees_to_printed_digits(qs, 1.04626)
    qq = optimize.brentq(lambda q: 2.0 * gaussian.second_moment("erf", q, method="quadrature") + 0.1 - q,
                         0.0, 2.1, xtol=1e-15, rtol=1e-15)
    assert qs == pytest.approx(qq, rel=1e-12)
    # linear: nu(q) = sw2 q + sb2, chi1 = sw2, c-map at q*: (sw2 q* c + sb2)/q*
    q = np.array([0.0, 0.3, 2.0])
    np.testing.assert_allclose(signal.q_map("linear", q, 0.7, 0.2), 0.7 * q + 0.2, rtol=1e-15)
    fp = signal.fixed_point("linear", 0.7, 0.2)
    assert fp.q_star == pytest.approx(0.2 / 0.3, rel=1e-15) and fp.chi1 == 0.7
    assert signal.c_map("linear", 0.4, 0.7, 0.2) == pytest.approx((0.7 * fp.q_star * 0.4 + 0.2) / fp.q_star)


# ------------------------------------------------------------------------------------------
# Identities of note C.6
# ------------------------------------------------------------------------------------------
POINTS = [("tanh", 1.5, 0.05), ("tanh", 2.5, 0.05), ("tanh", 4.0, 0.3), ("erf", 2.0, 0.1),
          ("erf", 0.9, 0.2), ("relu", 1.5, 0.05)]


@pytest.mark.parametrize("act,sw2,sb2", POINTS)
def test_c_map_fixes_one_and_slope_is_chi1(act, sw2, sb2):
    fp = signal.fixed_point(act, sw2, sb2)
    assert signal.c_map(act, 1.0, sw2, sb2) == pytest.approx(1.0, abs=1e-12)
    # One-sided FD. Smooth phi: error ~ h C''/2 ~ 1e-6. ReLU: C' has a square-root cusp at 1
    # (arccos), so the error is ~ sqrt(h): h = 1e-8 gives ~2e-5.
    h, rel = (1e-8, 1e-4) if act == "relu" else (1e-5, 2e-5)
    fd = (1.0 - signal.c_map(act, 1.0 - h, sw2, sb2)) / h
    assert fd == pytest.approx(fp.chi1, rel=rel)
    assert signal.c_map_slope(act, 1.0, sw2, sb2) == pytest.approx(fp.chi1, rel=1e-12)
    # nu'(q*) = chi1 + sw2 E[phi phi''] = a, by central differences (error ~ h^2 nu''' ~ 1e-10)
    h = 1e-4
    fdq = (signal.q_map(act, fp.q_star + h, sw2, sb2) - signal.q_map(act, fp.q_star - h, sw2, sb2)) / (2 * h)
    assert fdq == pytest.approx(fp.a, rel=1e-8)
    if fp.phase == "chaotic":
        fdc = (signal.c_map(act, fp.c_star + h, sw2, sb2)
               - signal.c_map(act, fp.c_star - h, sw2, sb2)) / (2 * h)
        assert fdc == pytest.approx(fp.chi_c, rel=1e-8)
        assert signal.c_map(act, fp.c_star, sw2, sb2) == pytest.approx(fp.c_star, abs=1e-12)


@pytest.mark.parametrize("act", ["tanh", "erf"])
@pytest.mark.parametrize("sb2", [0.01, 0.05, 0.3, 1.0])
def test_critical_line_gives_chi1_one(act, sb2):
    sw2 = signal.critical_sigma_w2(act, sb2)
    fp = signal.fixed_point(act, sw2, sb2)
    assert abs(fp.chi1 - 1.0) < 1e-10
    assert fp.phase == "critical" and fp.xi_c == math.inf


def test_critical_sigma_w2_table_and_closed_forms():
    for sb2, printed in [(0.01, 1.42421), (0.05, 1.76095), (0.1, 1.98607), (0.3, 2.50513), (1.0, 3.44321)]:
        assert agrees_to_printed_digits(signal.critical_sigma_w2("tanh", sb2), printed)
    assert signal.critical_sigma_w2("tanh", 0.0) == 1.0
    assert signal.critical_sigma_w2("erf", 0.0) == pytest.approx(math.pi / 4, rel=1e-15)
    assert signal.critical_sigma_w2("relu", 0.3) == 2.0
    assert signal.critical_sigma_w2("linear", 0.0) == 1.0
    # xi_c diverges like 1/|sw2 - sw2_c| near the line: xi_c * |sw2 - sw2_c| is roughly constant
    sw2c = signal.critical_sigma_w2("tanh", 0.05)
    prods = [signal.fixed_point("tanh", sw2c - d, 0.05).xi_c * d for d in (1e-2, 1e-3, 1e-4)]
    assert prods[2] == pytest.approx(prods[1], rel=0.02) and prods[1] == pytest.approx(prods[0], rel=0.2)


@settings(max_examples=25, deadline=None)
@given(act=st.sampled_from(["tanh", "erf", "linear"]), sw2=st.floats(0.3, 5.0),
       c=st.floats(-1.0, 1.0), q=st.floats(0.01, 10.0))
def test_odd_activation_without_bias_gives_odd_c_map(act, sw2, c, q):
    a = signal.c_map(act, c, sw2, 0.0, q, rule="fast")
    b = signal.c_map(act, -c, sw2, 0.0, q, rule="fast")
    assert a == pytest.approx(-b, abs=1e-12)
    assert signal.c_map(act, 0.0, sw2, 0.0, q, rule="fast") == pytest.approx(0.0, abs=1e-14)


@settings(max_examples=25, deadline=None)
@given(act=st.sampled_from(["tanh", "erf", "relu", "linear"]), sw2=st.floats(0.1, 5.0),
       sb2=st.floats(0.0, 2.0), q=st.floats(1e-3, 20.0))
def test_c_map_at_one_is_one_for_any_length(act, sw2, sb2, q):
    assert signal.c_map(act, 1.0, sw2, sb2, q) == pytest.approx(1.0, abs=1e-12)
    # the q-map is increasing: nu' >= 0 (and equals sw2 E[phi'^2 + phi phi''])
    assert signal.q_map_slope(act, q, sw2, sb2) >= 0.0


# ------------------------------------------------------------------------------------------
# Trajectories (note C.5.1)
# ------------------------------------------------------------------------------------------
def test_trajectories_match_the_note():
    q, _ = signal.trajectory("tanh", 1.5, 0.05, 8, q0=1.0, c0=0.5)
    expected = [1.55, 0.761364, 0.567946, 0.492053, 0.456622, 0.438698, 0.429256, 0.424175]
    for g, e in zip(q, expected, strict=True):
        assert agrees_to_printed_digits(g, e)
    it = signal.q_iterates("tanh", 1.0, 1.5, 0.05, 6)
    for g, e in zip(it[1:], [0.641442, 0.523058, 0.471557, 0.446370, 0.433330, 0.426376], strict=True):
        assert agrees_to_printed_digits(g, e)
    c = signal.c_iterates("tanh", 0.9, 2.5, 0.05, 6)
    for g, e in zip(c[1:], [0.890174, 0.879720, 0.868657, 0.857012, 0.844824, 0.832139], strict=True):
        assert agrees_to_printed_digits(g, e)
    c = signal.c_iterates("tanh", 0.5, 1.5, 0.05, 6)
    for g, e in zip(c[1:], [0.549747, 0.593259, 0.631491, 0.665230, 0.695127, 0.721724], strict=True):
        assert agrees_to_printed_digits(g, e)
    # C.5.2's theory column for (2.5, 0.05), q0 = 1, c0 = 0.9 (layers 1, 2, 5, 10, 20, 30)
    q, c = signal.trajectory("tanh", 2.5, 0.05, 30, q0=1.0, c0=0.9)
    for k, qe, ce in [(1, 2.5500, 0.9020), (2, 1.4555, 0.8751), (5, 1.0880, 0.8285), (10, 1.0643, 0.7585),
                      (20, 1.0640, 0.6249), (30, 1.0640, 0.5344)]:
        assert agrees_to_printed_digits(q[k - 1], qe, 5) and agrees_to_printed_digits(c[k - 1], ce, 4)


def test_gradient_factors_follow_the_length_trajectory():
    chi = signal.gradient_factors("tanh", 2.5, 0.05, 40, q0=1.0)
    q, _ = signal.trajectory("tanh", 2.5, 0.05, 40, q0=1.0)
    assert chi.shape == (40,)
    assert chi[-1] == pytest.approx(signal.fixed_point("tanh", 2.5, 0.05).chi1, rel=1e-10)
    assert np.all(np.diff(chi[:8]) > 0)            # q_k decreases to q*, so the factor increases
    np.testing.assert_allclose(signal.gradient_factors("relu", 1.5, 0.05, 5), 0.75)
    np.testing.assert_allclose(chi[3], 2.5 * gaussian.derivative_second_moment("tanh", q[3]), rtol=1e-14)


def test_relu_power_law():
    gap = signal.relu_correlation_gap(10_000, c0=0.0)
    k = np.array([10, 100, 1000, 10_000])
    for g, e in zip(k ** 2 * gap[k], [12.846, 35.769, 43.130, 44.252], strict=True):
        assert agrees_to_printed_digits(g, e, 5)
    assert k[-1] ** 2 * gap[k[-1]] == pytest.approx(9 * math.pi ** 2 / 2, rel=5e-3)
    # the stable epsilon iteration equals the direct c-map iteration where the latter is accurate
    direct = signal.c_iterates("relu", 0.0, 2.0, 0.0, 30)
    np.testing.assert_allclose(1 - direct, gap[:31], rtol=1e-9)


def test_large_deviations_of_a_coin():
    # note C.5.3: I(0.2) = 0.0201355; exact tails 0.040399, 0.023130, 0.020548 decreasing to I
    assert agrees_to_printed_digits(signal.rademacher_rate(0.2), 0.0201355)
    tails = [signal.rademacher_tail_exponent(n, 0.2) for n in (100, 1000, 10_000)]
    for g, e in zip(tails, [0.040399, 0.023130, 0.020548], strict=True):
        assert agrees_to_printed_digits(g, e, 5)
    assert tails[0] > tails[1] > tails[2] > signal.rademacher_rate(0.2)
    # Gaussian limit near 0: I(x) ~ x^2/2 (variance 1)
    assert signal.rademacher_rate(1e-3) == pytest.approx(0.5e-6, rel=1e-5)
    # brute force for a small n: P(eta_n / n > x) by enumerating the binomial
    n, x = 11, 3 / 11                     # eta = 3 is NOT > 3: the strict inequality matters
    p = sum(math.comb(n, b) for b in range(n + 1) if 2 * b - n > 3) / 2 ** n
    assert signal.rademacher_tail_exponent(n, x) == pytest.approx(-math.log(p) / n, rel=1e-12)


# ------------------------------------------------------------------------------------------
# Degenerate cases: documented conventions
# ------------------------------------------------------------------------------------------
def test_degenerate_conventions():
    fp = signal.fixed_point("relu", 3.0, 0.1)
    assert fp.phase == "unbounded" and fp.q_star == math.inf and fp.chi1 == 1.5
    assert fp.xi_q == fp.xi_c == math.inf
    he = signal.fixed_point("relu", 2.0, 0.0, q0=0.7)      # every q is fixed: q* = q0
    assert he.q_star == 0.7 and he.phase == "critical" and he.xi_c == math.inf
    assert signal.fixed_point("relu", 2.0, 0.1).phase == "unbounded"
    small = signal.fixed_point("tanh", 0.8, 0.0)             # q* = 0, rate nu'(0) = sw2
    assert small.q_star == 0.0 and small.chi1 == 0.8 and small.phase == "ordered"
    assert small.xi_q == pytest.approx(-1 / math.log(0.8)) and small.xi_c == math.inf
    erf0 = signal.fixed_point("erf", 0.7, 0.0)               # 0.7 * 4/pi < 1
    assert erf0.q_star == 0.0 and erf0.chi1 == pytest.approx(0.7 * 4 / math.pi)
    assert signal.fixed_point("linear", 1.0, 0.0, q0=2.0).q_star == 2.0
    assert signal.fixed_point("linear", 1.2, 0.0).phase == "unbounded"
    # ReLU without bias: the c-map is the normalised arc-cosine map whatever sw2 (slope 1 at c = 1)
    c = np.linspace(-1, 1, 7)
    np.testing.assert_allclose(signal.c_map("relu", c, 1.2, 0.0), signal.c_map("relu", c, 2.0, 0.0))
    assert signal.depth_scale(1.0) == math.inf and signal.depth_scale(0.0) == 0.0


# ------------------------------------------------------------------------------------------
# Phase diagram (vectorised) against the scalar functions
# ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("act", ["tanh", "erf", "relu", "linear"])
def test_phase_diagram_matches_scalar(act):
    w = np.array([0.5, 0.9, 1.5, 1.9, 2.5, 4.0])
    b = np.array([0.0, 0.05, 0.3, 1.0])
    pd = signal.phase_diagram(act, w, b)
    assert pd.chi1.shape == (4, 6) and pd.sigma_w2[0, 3] == 1.9 and pd.sigma_b2[2, 0] == 0.3
    for i, sb2 in enumerate(b):
        for j, sw2 in enumerate(w):
            fp = signal.fixed_point(act, sw2, sb2)
            for name in ("q_star", "chi1", "xi_q", "xi_c", "c_star"):
                got, ref = getattr(pd, name)[i, j], getattr(fp, name)
                if math.isinf(ref):
                    assert got == ref, (name, sw2, sb2)
                else:
                    # tables/Mehler series vs direct quadrature: 1e-8 (measured ~1e-11)
                    assert got == pytest.approx(ref, rel=1e-8, abs=1e-12), (name, sw2, sb2, got, ref)


def test_phase_diagram_without_correlations():
    pd = signal.phase_diagram("tanh", [1.0, 2.0], [0.1], correlations=False)
    assert pd.c_star is None and pd.xi_c is None and np.all(np.isfinite(pd.chi1))


# ------------------------------------------------------------------------------------------
# Bad input
# ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("call", [
    lambda: signal.q_map("sigmoid", 1.0, 1.0, 0.0),
    lambda: signal.q_map("tanh", 1.0, 0.0, 0.0),
    lambda: signal.q_map("tanh", 1.0, -1.0, 0.0),
    lambda: signal.q_map("tanh", 1.0, 1.0, -0.1),
    lambda: signal.q_map("tanh", -1.0, 1.0, 0.1),
    lambda: signal.q_map("tanh", 1.0, float("nan"), 0.1),
    lambda: signal.q_map("tanh", 1.0, 1.0, float("inf")),
    lambda: signal.c_map("tanh", 1.5, 1.0, 0.1),
    lambda: signal.c_map("tanh", 0.5, 1.0, 0.1, q=0.0),
    lambda: signal.fixed_point("tanh", "2", 0.1),
    lambda: signal.fixed_point("tanh", 2.0, 0.1, q0=-1.0),
    lambda: signal.critical_sigma_w2("tanh", -0.1),
    lambda: signal.phase_diagram("tanh", [[1.0, 2.0]], [0.1]),
    lambda: signal.phase_diagram("tanh", [1.0, 0.0], [0.1]),
    lambda: signal.phase_diagram("tanh", [], [0.1]),
    lambda: signal.trajectory("tanh", 1.0, 0.1, 0),
    lambda: signal.trajectory("tanh", 1.0, 0.1, 5, q0=0.0),
    lambda: signal.c_iterates("tanh", 1.2, 1.0, 0.1, 5),
    lambda: signal.relu_correlation_gap(-1),
    lambda: signal.depth_scale(-0.5),
])
def test_bad_input_raises_value_error(call):
    with pytest.raises(ValueError):
        call()


def test_error_message_says_what_is_accepted():
    with pytest.raises(ValueError, match="expected one of 'erf', 'linear', 'relu', 'tanh'"):
        signal.fixed_point("gelu", 1.0, 0.1)
    with pytest.raises(ValueError, match="sigma_w2.*> 0"):
        signal.fixed_point("tanh", 0.0, 0.1)


# --------------------------------------------------------------------------------------
# The quadratic activation phi(z) = z^2
# --------------------------------------------------------------------------------------
def test_quadratic_q_map_against_quadrature():
    q = np.array([0.0, 0.3, 1.0, 2.5])
    quad = 0.2 * gaussian.expect(lambda u: u ** 4, q) + 0.1          # E[(sqrt(q) z)^4] = 3 q^2
    np.testing.assert_allclose(signal.quadratic_q_map(q, 0.2, 0.1), quad, rtol=1e-13)
    assert isinstance(signal.quadratic_q_map(1.0, 0.2, 0.1), float)


def test_quadratic_fixed_points_reference_values():
    # (0.2, 0.1): roots (1 -+ sqrt(0.76)) / 1.2 = 0.106850 (stable) and 1.559816 (unstable),
    # slopes 6 sigma_w2 q = 1 -+ sqrt(0.76) (closed form, 6 digits)
    (q1, s1), (q2, s2) = signal.quadratic_fixed_points(0.2, 0.1)
    np.testing.assert_allclose([q1, q2], [0.106850, 1.559816], atol=5e-7)
    np.testing.assert_allclose([s1, s2], [1 - math.sqrt(0.76), 1 + math.sqrt(0.76)], rtol=1e-14)
    for q, s in ((q1, s1), (q2, s2)):
        assert abs(signal.quadratic_q_map(q, 0.2, 0.1) - q) < 1e-15
        assert s == pytest.approx(6 * 0.2 * q, rel=1e-14)
    # no cancellation in the small root: sigma_b2 tiny gives q ~ sigma_b2
    (q_small, _), _ = signal.quadratic_fixed_points(0.2, 1e-12)
    assert q_small == pytest.approx(1e-12 * (1 + 0.6e-12), rel=1e-12)


def test_quadratic_fixed_points_degenerate_cases():
    assert signal.quadratic_fixed_points(1.0, 0.1) == ()               # 12 * 0.1 > 1: none
    ((q, s),) = signal.quadratic_fixed_points(1 / 1.2, 0.1)            # D = 0: one, marginal
    assert s == 1.0 and q == pytest.approx(0.2)
    (q0, s0), (q1, _) = signal.quadratic_fixed_points(0.5, 0.0)        # no bias: 0 and 1/(3 sw2)
    assert q0 == 0.0 and s0 == 0.0 and q1 == pytest.approx(2 / 3)
    # iterating below the unstable point converges to the stable one, above it diverges
    q = 1.5
    for _ in range(60):
        q = signal.quadratic_q_map(q, 0.2, 0.1)
    assert q == pytest.approx(0.106850, abs=5e-7)
    q = 1.6
    for _ in range(10):
        q = signal.quadratic_q_map(q, 0.2, 0.1)
    assert q > 100


@pytest.mark.parametrize("call", [
    lambda: signal.quadratic_q_map(-1.0, 0.2, 0.1),
    lambda: signal.quadratic_q_map(1.0, 0.0, 0.1),
    lambda: signal.quadratic_q_map("1", 0.2, 0.1),
    lambda: signal.quadratic_q_map(1e200, 0.2, 0.1),
    lambda: signal.quadratic_fixed_points(0.2, -0.1),
    lambda: signal.quadratic_fixed_points(math.nan, 0.1),
    lambda: signal.quadratic_fixed_points(True, 0.1),
])
def test_quadratic_bad_input(call):
    with pytest.raises(ValueError):
        call()


# --------------------------------------------------------------------------------------
# ReLU without bias: chi1 sets the gradients, the c-map has slope 1 at c = 1
# --------------------------------------------------------------------------------------
@pytest.mark.parametrize("sw2", [0.5, 1.5, 2.0, 3.0])
def test_relu_without_bias_c_map_is_independent_of_sigma_w2(sw2):
    c = np.linspace(-1, 1, 21)
    j = (np.sqrt(1 - c * c) + (np.pi - np.arccos(c)) * c) / np.pi   # the normalised arc-cosine map
    np.testing.assert_allclose(signal.c_map("relu", c, sw2, 0.0), j, rtol=1e-14, atol=1e-15)
    assert signal.c_map_slope("relu", 1.0, sw2, 0.0) == 1.0
    fp = signal.fixed_point("relu", sw2, 0.0)
    assert fp.chi1 == sw2 / 2 and fp.chi_c == 1.0 and fp.xi_c == math.inf


def test_relu_with_bias_closed_forms():
    c = np.linspace(-1, 1, 41)
    np.testing.assert_allclose(signal.c_map_slope("relu", c, 1.5, 0.05),
                               1.5 / (2 * np.pi) * (np.pi - np.arccos(c)), rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(signal.q_iterates("relu", 1.0, 2.0, 0.1, 10),
                               1.0 + 0.1 * np.arange(11), rtol=1e-14)   # linear growth at He

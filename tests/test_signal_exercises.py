"""The exercise checks of the signal-propagation chapter: each accepts the right answer (computed
here independently where possible), rejects a typical wrong one with the intended hint, and treats a
non-numeric answer as a not-correct answer rather than an error."""

from __future__ import annotations

import math

import numpy as np
import pytest

from mftheory import signal
from mftheory.exercises import Feedback
from mftheory.exercises import signal_propagation as ex

NOT_NUMBERS = ["abc", None, [1.0, 2.0], math.nan, {"x": 1}]


# --------------------------------------------------------------------------------------
# Students' ReLU maps (written from the formulas, independently of the package)
# --------------------------------------------------------------------------------------
def relu_q_map(q, sw2, sb2):
    return sw2 * q / 2 + sb2


def relu_c_map(c, sw2, sb2, *, factor=1.0, bias=True):
    qs = sb2 / (1 - sw2 / 2)
    theta = math.acos(c)
    k = factor * qs / (2 * math.pi) * (math.sqrt(1 - c * c) + (math.pi - theta) * c)
    return (sw2 * k + (sb2 if bias else 0.0)) / qs


def test_relu_q_map_check():
    fb = ex.check_relu_q_map(relu_q_map)
    assert isinstance(fb, Feedback) and fb and "24 test points" in str(fb)
    fb = ex.check_relu_q_map(lambda q, w, b: w * q + b)
    assert not fb and "half of the Gaussian mass" in str(fb)
    fb = ex.check_relu_q_map(lambda q, w, b: w * q / 2)
    assert not fb and "sigma_b2 is missing" in str(fb)
    fb = ex.check_relu_q_map(lambda q, w, b: w * q / 2 + b + 1e-3)     # no known mistake: no hint
    assert not fb and "Hint" not in str(fb)


def test_relu_q_map_check_survives_bad_functions():
    assert not ex.check_relu_q_map("w q / 2 + b")                      # not callable
    fb = ex.check_relu_q_map(lambda q, w, b: 1 / 0)
    assert not fb and "ZeroDivisionError" in str(fb)
    fb = ex.check_relu_q_map(lambda q, w, b: "x")
    assert not fb and "finite real number" in str(fb)
    fb = ex.check_relu_q_map(lambda q, w, b: np.array([1.0, 2.0]))
    assert not fb
    fb = ex.check_relu_q_map(lambda q, w, b: math.nan)
    assert not fb


def test_relu_c_map_check():
    # reference values at (1.5, 0.05), closed form: C(0) = 0.488732, C(0.5) = 0.706748
    assert relu_c_map(0.0, 1.5, 0.05) == pytest.approx(0.488732, abs=1e-6)
    assert relu_c_map(0.5, 1.5, 0.05) == pytest.approx(0.706748, abs=1e-6)
    assert ex.check_relu_c_map(relu_c_map)
    fb = ex.check_relu_c_map(lambda c, w, b: relu_c_map(c, w, b, factor=2.0))
    assert not fb and "1/(2 pi), not 1/pi" in str(fb)
    fb = ex.check_relu_c_map(lambda c, w, b: relu_c_map(c, w, b, bias=False))
    assert not fb and "bias variance is missing" in str(fb)
    fb = ex.check_relu_c_map(lambda c, w, b: relu_c_map(c, w, b) * 0.99)
    assert not fb and "must return 1 at c = 1" in str(fb)
    fb = ex.check_relu_c_map(lambda c, w, b: (math.pi - math.acos(c)) / (2 * math.pi) * w)
    assert not fb and "slope chi_c" in str(fb)
    assert not ex.check_relu_c_map(lambda c, w, b: "0.5")
    assert not ex.check_relu_c_map(lambda c, w, b: math.sqrt(-1.0))   # raises ValueError inside


# --------------------------------------------------------------------------------------
# chi_1 of erf, the critical line of erf, depth scales at (3.5, 0.1)
# --------------------------------------------------------------------------------------
def _erf_chi1(sw2, sb2, four_q=4.0):
    """chi1 of erf in closed form, sigma_w2 (4/pi) / sqrt(1 + 4 q*), independent of the check."""
    return sw2 * 4 / math.pi / math.sqrt(1 + four_q * signal.q_star("erf", sw2, sb2))


def test_chi1_check_accepts_the_closed_form_and_a_finite_difference():
    assert ex.check_chi1_by_finite_difference(_erf_chi1(2.0, 0.1))
    h = 1e-6                                    # one-sided difference: error ~ h
    fd = (1 - float(signal.c_map("erf", 1 - h, 2.0, 0.1))) / h
    assert ex.check_chi1_by_finite_difference(fd)
    # the check's other points: tanh at (1.5, 0.05), reference value 0.938636 (6 digits)
    assert ex.check_chi1_by_finite_difference(0.938636, 1.5, 0.05, act="tanh")


@pytest.mark.parametrize("wrong, hint", [
    (signal.fixed_point("erf", 2.0, 0.1).a, "slope of the q-map"),        # nu'(q*) = a
    (2.0 * 4 / math.pi, "q = 0"),                                        # sigma_w2 phi'(0)^2
    (signal.fixed_point("erf", 2.0, 0.1).chi_c, "other fixed point c*"),  # slope at c*
    (_erf_chi1(2.0, 0.1) / 2.0, "multiply"),                             # sigma_w2 missing
    (_erf_chi1(2.0, 0.1, four_q=2.0), "1/sqrt(1 + 4q)"),                 # E exp(-2qz^2) wrong
    (signal.fixed_point("tanh", 2.0, 0.1).chi1, "chi1 of tanh"),         # wrong activation
    (2.0 * 4 / math.pi / math.sqrt(5.0), "q = 1"),                       # evaluated at q = 1
    (0.938636, None),                                   # the text's tanh value: just wrong
    (_erf_chi1(2.0, 0.1) * 1.002, "close"),                              # h too large
])
def test_chi1_check_rejects_plausible_wrong_answers(wrong, hint):
    fb = ex.check_chi1_by_finite_difference(wrong)
    assert not fb
    if hint is not None:
        assert hint in str(fb)


def test_critical_sigma_w2_check():
    # independent: brentq on the closed forms of erf (q-map and chi1)
    from scipy.optimize import brentq

    def q_star_erf(sw2, sb2=0.05):
        return brentq(lambda q: sw2 * 2 / math.pi * math.asin(2 * q / (1 + 2 * q)) + sb2 - q,
                      1e-12, sw2 + sb2, xtol=1e-15)

    crit = brentq(lambda w: w * 4 / math.pi / math.sqrt(1 + 4 * q_star_erf(w)) - 1, 0.8, 3.0,
                  xtol=1e-13)
    assert ex.check_critical_sigma_w2(crit)
    assert ex.check_critical_sigma_w2(1.76095, act="tanh")             # reference, 6 digits
    assert ex.check_critical_sigma_w2(3.44321, sigma_b2=1.0, act="tanh")
    fb = ex.check_critical_sigma_w2(math.pi / 4)                       # the sigma_b2 = 0 value
    assert not fb and "sigma_b2 = 0" in str(fb)
    fb = ex.check_critical_sigma_w2(1.76095)                           # the text's tanh value
    assert not fb and "tanh value" in str(fb)
    fb = ex.check_critical_sigma_w2(2.0)                               # ReLU's
    assert not fb and "ReLU" in str(fb)
    fb = ex.check_critical_sigma_w2(crit * 0.98)
    assert not fb and "ordered: increase" in str(fb) and "too small" in str(fb)
    fb = ex.check_critical_sigma_w2(crit * 1.02)
    assert not fb and "chaotic: decrease" in str(fb) and "too large" in str(fb)
    fb = ex.check_critical_sigma_w2(-1.0)
    assert not fb and "positive" in str(fb)
    for bad in NOT_NUMBERS:
        assert not ex.check_critical_sigma_w2(bad)
    with pytest.raises(ValueError, match="activation"):
        ex.check_critical_sigma_w2(1.76, act="sigmoid")


def _tanh_depth_scales(sw2, sb2):
    """xi_q, xi_c from the definitions with brentq (as a student would), not fixed_point."""
    from scipy.optimize import brentq

    qs = signal.q_star("tanh", sw2, sb2)
    a = float(signal.q_map_slope("tanh", qs, sw2, sb2))
    cs = brentq(lambda c: float(signal.c_map("tanh", c, sw2, sb2)) - c, 0.0, 0.99, xtol=1e-15)
    return -1 / math.log(a), -1 / math.log(float(signal.c_map_slope("tanh", cs, sw2, sb2)))


def test_depth_scales_check():
    xq, xc = _tanh_depth_scales(3.5, 0.1)
    assert ex.check_depth_scales(xq, xc)
    # the reference values at (2.5, 0.05), 6 digits, at that point
    assert ex.check_depth_scales(1.17987, 11.7956, 2.5, 0.05)
    chi1 = signal.fixed_point("tanh", 3.5, 0.1).chi1
    a = signal.fixed_point("tanh", 3.5, 0.1).a
    wrong = [
        ((xc, xq), "swapped"),
        ((xq, -1 / math.log(chi1)), "chi_c(c*)"),                     # xi_c from chi1 at c = 1
        ((xq, 1 / math.log(chi1)), "chi_c(c*)"),
        ((1 / math.log(chi1), xc), "not chi1"),                       # xi_q from chi1
        ((-1 / math.log10(a), xc), "natural logarithm"),
        ((1.17987, 11.7956), "(2.5, 0.05)"),                           # the text's point
        ((-xq, xc), "positive"),
    ]
    for (a1, a2), hint in wrong:
        fb = ex.check_depth_scales(a1, a2)
        assert not fb and hint in str(fb), (a1, a2, str(fb))
    fb = ex.check_depth_scales(xq, xc * 1.01)
    assert not fb and "xi_q correct" in str(fb) and "xi_c too large" in str(fb)
    fb = ex.check_depth_scales(xq * 0.99, xc)
    assert not fb and "xi_q too small" in str(fb) and "xi_c correct" in str(fb)
    # ordered phase: xi_c is -1/ln chi1 there, and that is right
    fp = signal.fixed_point("tanh", 1.5, 0.05)
    assert ex.check_depth_scales(fp.xi_q, -1 / math.log(fp.chi1), 1.5, 0.05)
    for bad in NOT_NUMBERS:
        assert not ex.check_depth_scales(bad, xc)
        assert not ex.check_depth_scales(xq, bad)


# --------------------------------------------------------------------------------------
# gradients, the ReLU power law, q = 0
# --------------------------------------------------------------------------------------
def test_gradient_ratio_check():
    # measured at width 1000: 1.1308 at (2.5, 0.05) and 0.9351 at (1.5, 0.05) (reference runs)
    assert ex.check_gradient_ratio(1.1308, 2.5, 0.05)
    assert ex.check_gradient_ratio(0.9351, 1.5, 0.05)
    fb = ex.check_gradient_ratio(1 / 1.1308, 2.5, 0.05)
    assert not fb and "inverted" in str(fb)
    fb = ex.check_gradient_ratio(math.sqrt(0.5), 1.0, 0.0, act="relu")   # chi1 = 0.5: norms
    assert not fb and "squared norms" in str(fb)
    assert not ex.check_gradient_ratio(1.25, 2.5, 0.05)
    for bad in NOT_NUMBERS:
        assert not ex.check_gradient_ratio(bad, 2.5, 0.05)


def test_gradient_ratio_check_accepts_a_simulation():
    nets = pytest.importorskip("mftheory.nets")
    # width 500, 6 networks, layers 5..25 (~1 s): over seeds 0..7 the geometric-mean rate was
    # -1.8% .. 0% off chi1 = 1.13352 (a small finite-width bias plus noise), inside the check's 3%
    sim = nets.simulate("tanh", 2.5, 0.05, width=500, depth=25, n_seeds=6, seed=1, device="cpu")
    rate, _ = sim.grad_rate(5, 25)
    assert ex.check_gradient_ratio(rate, 2.5, 0.05)


def test_relu_power_law_reference_is_computed_from_the_map():
    # the package map's expansion gives 4/A^2 = 9 pi^2 / 2 (two Richardson steps: ~4e-11)
    assert ex._reference_relu_power_law_limit() == pytest.approx(9 * math.pi ** 2 / 2, rel=1e-9)
    assert not hasattr(ex, "relu_power_law_limit")          # no public call returns the answer


def test_relu_power_law_check():
    assert ex.check_relu_power_law(9 * math.pi ** 2 / 2)
    eps = signal.relu_correlation_gap(100_000, c0=0.0)
    for k in (10_000, 40_584, 100_000):                     # k^2 (1 - c_k) at any computable k
        fb = ex.check_relu_power_law(k ** 2 * eps[k])
        assert not fb and "slowly from below" in str(fb), k
    fb = ex.check_relu_power_law(44.4132)                   # 6 digits: not a closed form
    assert not fb and "8 significant digits" in str(fb)
    for factor in (2.0, 0.5, 4.0, 0.25):                    # 9 pi^2, 9 pi^2 / 4, ...
        fb = ex.check_relu_power_law(factor * 9 * math.pi ** 2 / 2)
        assert not fb and "factor 2 or 4" in str(fb)
    fb = ex.check_relu_power_law(-9 * math.pi ** 2 / 2)     # the other sign
    assert not fb and "too small" in str(fb)
    for bad in NOT_NUMBERS:
        assert not ex.check_relu_power_law(bad)


def test_zero_stability_check():
    assert ex.check_zero_stability(math.pi / 4)
    assert ex.check_zero_stability(1.0, act="tanh")
    wrong = [(1.0, "tanh value"), (math.sqrt(math.pi) / 2, "square phi'(0)"),
             (4 / math.pi, "inverted"), (math.pi / 2, "4/pi"), (2.0, "ReLU")]
    for value, hint in wrong:
        fb = ex.check_zero_stability(value)
        assert not fb and hint in str(fb), (value, str(fb))
    for bad in NOT_NUMBERS:
        assert not ex.check_zero_stability(bad)
    with pytest.raises(ValueError, match="activation"):
        ex.check_zero_stability(0.78, act="relu")


def test_no_check_reveals_its_reference_value():
    refs = {
        "chi1": (ex.check_chi1_by_finite_difference, (1.0,), _erf_chi1(2.0, 0.1)),
        "critical": (ex.check_critical_sigma_w2, (1.0,), signal.critical_sigma_w2("erf", 0.05)),
        "power": (ex.check_relu_power_law, (40.0,), 9 * math.pi ** 2 / 2),
        "zero": (ex.check_zero_stability, (1.0,), math.pi / 4),
    }
    for name, (check, args, ref) in refs.items():
        fb = check(*args)
        assert fb.expected is None, name
        for digits in (4, 5, 6):
            assert f"{ref:.{digits}g}" not in str(fb), name
        assert f"{ref:.4g}" not in (check.__doc__ or ""), name
    xq, xc = _tanh_depth_scales(3.5, 0.1)
    fb = ex.check_depth_scales(1.0, 1.0)
    assert fb.expected is None and f"{xc:.4g}" not in str(fb) and f"{xq:.4g}" not in str(fb)


def test_every_check_returns_feedback_with_a_sentence():
    results = [ex.check_relu_q_map(relu_q_map), ex.check_relu_c_map(relu_c_map),
               ex.check_chi1_by_finite_difference(0.9), ex.check_critical_sigma_w2(2.0),
               ex.check_depth_scales(1.0, 1.0), ex.check_gradient_ratio(1.0, 2.5, 0.05),
               ex.check_relu_power_law(40.0), ex.check_zero_stability(0.5)]
    for fb in results:
        assert isinstance(fb, Feedback) and str(fb).endswith((".", ")"))
    assert sum(bool(fb) for fb in results) == 2

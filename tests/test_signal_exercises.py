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
    # note C.5.1 values at (1.5, 0.05): C(0) = 0.488732, C(0.5) = 0.706748 (6 digits)
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
# chi_1, critical line, depth scales
# --------------------------------------------------------------------------------------
def test_chi1_finite_difference_check():
    # a one-sided difference of the accurate c-map at c = 1 with h = 1e-5 (note C.5.0: ~1e-6)
    h = 1e-5
    fd = (1 - float(signal.c_map("tanh", 1 - h, 1.5, 0.05))) / h
    assert ex.check_chi1_by_finite_difference(fd)
    assert ex.check_chi1_by_finite_difference(0.938636)                # note C.5.1, 6 digits
    fb = ex.check_chi1_by_finite_difference(0.551983)                  # a = nu'(q*) instead
    assert not fb and "slope of the q-map" in str(fb)
    fb = ex.check_chi1_by_finite_difference(0.9385)                    # h too large
    assert not fb and "close" in str(fb)
    fb = ex.check_chi1_by_finite_difference(1.5)                       # sigma_w2 phi'(0)^2
    assert not fb and "q = 0" in str(fb)
    for bad in NOT_NUMBERS:
        assert not ex.check_chi1_by_finite_difference(bad)
    with pytest.raises(ValueError, match="sigma_w2"):
        ex.check_chi1_by_finite_difference(0.9, sigma_w2=-1.0)


def test_critical_sigma_w2_check():
    assert ex.check_critical_sigma_w2(1.76095)                         # note C.5.1
    assert ex.check_critical_sigma_w2(3.44321, sigma_b2=1.0)
    fb = ex.check_critical_sigma_w2(1.7)
    assert not fb and "ordered: increase" in str(fb)
    fb = ex.check_critical_sigma_w2(1.9)
    assert not fb and "chaotic: decrease" in str(fb)
    fb = ex.check_critical_sigma_w2(1.0)
    assert not fb and "only for sigma_b2 = 0" in str(fb)
    fb = ex.check_critical_sigma_w2(-1.0)
    assert not fb and "positive" in str(fb)
    for bad in NOT_NUMBERS:
        assert not ex.check_critical_sigma_w2(bad)
    with pytest.raises(ValueError, match="activation"):
        ex.check_critical_sigma_w2(1.76, act="sigmoid")


def test_depth_scales_check():
    assert ex.check_depth_scales(1.17987, 11.7956)                     # note C.5.1
    fb = ex.check_depth_scales(11.7956, 1.17987)
    assert not fb and "swapped" in str(fb)
    wrong_xi_c = -1 / math.log(1.13352)                                # from chi1 at c = 1
    fb = ex.check_depth_scales(1.17987, wrong_xi_c)
    assert not fb and "chi_c(c*)" in str(fb)
    fb = ex.check_depth_scales(1.17987, -wrong_xi_c)
    assert not fb and "chi_c(c*)" in str(fb)
    fb = ex.check_depth_scales(1 / math.log(1.13352), 11.7956)         # xi_q from chi1
    assert not fb and "not chi1" in str(fb)
    fb = ex.check_depth_scales(-1 / math.log10(0.428464), 11.7956)     # log10
    assert not fb and "natural logarithm" in str(fb)
    # ordered phase: xi_c is -1/ln chi1 there, and that is right
    fp = signal.fixed_point("tanh", 1.5, 0.05)
    assert ex.check_depth_scales(fp.xi_q, -1 / math.log(fp.chi1), 1.5, 0.05)
    for bad in NOT_NUMBERS:
        assert not ex.check_depth_scales(bad, 11.7956)
        assert not ex.check_depth_scales(1.17987, bad)


# --------------------------------------------------------------------------------------
# gradients and the critical ReLU power law
# --------------------------------------------------------------------------------------
def test_gradient_ratio_check():
    # note C.5.2: measured 1.1308 at (2.5, 0.05) and 0.9351 at (1.5, 0.05), width 1000
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


def test_relu_power_law_limit_is_computed_from_the_map():
    # the package map's expansion gives 4/A^2 = 9 pi^2 / 2 (Richardson error ~1e-8)
    assert ex.relu_power_law_limit() == pytest.approx(9 * math.pi ** 2 / 2, rel=1e-7)


def test_relu_power_law_check():
    assert ex.check_relu_power_law(9 * math.pi ** 2 / 2)
    assert ex.check_relu_power_law(44.4132)                            # note C.5.1, 6 digits
    eps = signal.relu_correlation_gap(10_000, c0=0.0)
    finite_k = 10_000 ** 2 * eps[-1]                                   # 44.252: not converged
    assert finite_k == pytest.approx(44.252, abs=1e-3)
    fb = ex.check_relu_power_law(finite_k)
    assert not fb and "slowly from below" in str(fb)
    fb = ex.check_relu_power_law(9 * math.pi ** 2)
    assert not fb and "factor 2" in str(fb)
    for bad in NOT_NUMBERS:
        assert not ex.check_relu_power_law(bad)


def test_every_check_returns_feedback_with_a_sentence():
    results = [ex.check_relu_q_map(relu_q_map), ex.check_relu_c_map(relu_c_map),
               ex.check_chi1_by_finite_difference(0.9), ex.check_critical_sigma_w2(2.0),
               ex.check_depth_scales(1.0, 1.0), ex.check_gradient_ratio(1.0, 2.5, 0.05),
               ex.check_relu_power_law(40.0)]
    for fb in results:
        assert isinstance(fb, Feedback) and str(fb).endswith((".", ")"))
    assert sum(bool(fb) for fb in results) == 2

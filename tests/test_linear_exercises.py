"""The exercise checks of the linear-networks chapter: right answers pass, the plausible wrong
answers fail (with the mistake named where it is a known one), and any answer object gets a
Feedback, never an exception; no Feedback carries the expected value."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from mftheory import linear
from mftheory.exercises import linear_networks as ex

# Right answers, derived independently of the package (closed forms in the chapter's solutions).
W1_STUCK = math.sqrt(2.0 / (3.0 * math.exp(4.0) - 1.0))            # K = 2, r = -2, t = 1
HESSIAN = np.array([-3.0, -3.0, -1.0, -1.0, 1.0, 1.0, 3.0, 3.0])    # +- singular values of R
MAX_STEP = 2.0 / (4.0 * 3.0**1.5)                                   # 2 / (K r^(2 - 2/K))
HM_LIMIT = math.pi / 2                                              # max(ln 3, pi/2)
ARC = (math.sqrt(2.0), 1.0)


def _plateau_time():
    from scipy.integrate import quad

    val, _ = quad(lambda w: 1.0 / (w**2 * (2.0 - w**3)), 0.1, 1.0, epsabs=0, epsrel=1e-13)
    return val


def test_right_answers_pass():
    assert ex.check_stuck_weight(W1_STUCK)
    assert ex.check_origin_hessian(HESSIAN)
    assert ex.check_origin_hessian(HESSIAN[::-1].tolist())            # any order
    assert ex.check_max_step(MAX_STEP)
    assert ex.check_hardt_ma_limit(HM_LIMIT)
    assert ex.check_plateau_time(_plateau_time())
    assert ex.check_arc_midpoint(*ARC)
    assert ex.check_stuck_weight(np.float32(W1_STUCK)) is not None    # float32: 1e-7 relative


@pytest.mark.parametrize("check,wrong,named", [
    (ex.check_stuck_weight, W1_STUCK**2, "square root"),
    (ex.check_stuck_weight, -W1_STUCK, "sign"),
    (ex.check_stuck_weight, float(linear.scalar_gradient_flow(-1.0, 2, 1.0)), "r = -1"),
    (ex.check_stuck_weight, float(linear.scalar_gradient_flow(-2.0, 2, 0.5)), "t = 1/2"),
    (ex.check_stuck_weight, math.sqrt(2.0), "decays"),
    (ex.check_max_step, MAX_STEP / 2, "above -1"),
    (ex.check_max_step, 2.0 / (3.0 * 3.0 ** (4.0 / 3.0)), "depth 3"),
    (ex.check_max_step, 2.0 / (4.0 * 9.0), "not K r^2"),
    (ex.check_max_step, 0.5, "not K."),
    (ex.check_hardt_ma_limit, math.log(3.0), "stretch"),
    (ex.check_hardt_ma_limit, math.pi, "pi/2"),
    (ex.check_hardt_ma_limit, 3.0, "logarithms"),
    (ex.check_plateau_time, 0.001 ** (2 / 3 - 1) / 2.0, "approximation"),
    (ex.check_plateau_time, float(linear.time_to_learn(2.0, 2, 0.001**0.5)), "depth 2"),
    (ex.check_plateau_time, float(linear.time_to_learn(2.0, 3, 0.1, fraction=0.99)), "99"),
    (ex.check_plateau_time, float(linear.scalar_flow_time(2.0, 3, 2 ** (1 / 3) / 2, 0.1)),
     "weight, not the product"),
])
def test_plausible_wrong_answers_fail_and_are_named(check, wrong, named):
    fb = check(wrong)
    assert not fb
    assert named in str(fb)


@pytest.mark.parametrize("wrong,named", [(HESSIAN / 2, "half"), (2 * HESSIAN, "twice"),
                                         (np.zeros(8), "depth >= 3"),
                                         ([-3.0, -1.0, 1.0, 3.0], "once per hidden unit")])
def test_hessian_wrong_answers(wrong, named):
    fb = ex.check_origin_hessian(wrong)
    assert not fb and named in str(fb)


@pytest.mark.parametrize("wrong,named", [((1.0, 1.0), "not a nonzero mean"),
                                         ((1.0, 0.5), "linear midpoint"),
                                         ((math.sqrt(2.0), 2.0), "a^2 + b^2"),
                                         ((0.0, 1.0), "not 0")])
def test_arc_wrong_answers(wrong, named):
    fb = ex.check_arc_midpoint(*wrong)
    assert not fb and named in str(fb)


def test_unnamed_wrong_answer_gives_distance_and_hint():
    fb = ex.check_max_step(0.2)
    assert not fb and "relative" in str(fb) and "Hint" in str(fb)
    assert fb.relative_error > 1


BAD = [None, "0.11", b"1", True, 1 + 2j, math.nan, math.inf, [0.1, 0.2], {"a": 1}, object(),
       torch.tensor([1.0, 2.0]), np.array([[1.0]])]


@pytest.mark.parametrize("bad", BAD, ids=lambda b: type(b).__name__)
def test_any_answer_object_gives_feedback(bad):
    for fb in (ex.check_stuck_weight(bad), ex.check_origin_hessian(bad), ex.check_max_step(bad),
               ex.check_hardt_ma_limit(bad), ex.check_plateau_time(bad),
               ex.check_arc_midpoint(bad, 1.0), ex.check_arc_midpoint(1.0, bad)):
        assert not fb
        assert isinstance(str(fb), str) and fb.expected is None


def test_feedback_never_reveals_the_expected_value():
    for fb in (ex.check_stuck_weight(0.5), ex.check_stuck_weight(W1_STUCK),
               ex.check_origin_hessian(np.ones(8)), ex.check_max_step(1.0),
               ex.check_hardt_ma_limit(1.0), ex.check_plateau_time(1.0),
               ex.check_arc_midpoint(0.0, 0.0)):
        assert fb.expected is None
        for digits in (f"{W1_STUCK:.4f}", f"{MAX_STEP:.4f}", f"{HM_LIMIT:.4f}", "4.6613",
                       "1.4142"):
            assert digits not in str(fb)


def test_torch_scalar_answer_is_accepted_as_a_number():
    # a 0-d tensor is a number; a student computing with torch should not be refused
    fb = ex.check_max_step(torch.tensor(MAX_STEP, dtype=torch.float64))
    assert isinstance(fb.correct, bool)

import math

import numpy as np
import pytest

from mftheory._validate import check_array, check_choice, check_positive_int, check_real
from mftheory.exercises import Feedback, check_number


def test_check_real_accepts_and_converts():
    assert check_real("x", np.float32(2.5), low=0) == 2.5
    assert check_real("x", np.array(3.0)) == 3.0


@pytest.mark.parametrize("x,kw,match", [
    (float("inf"), {}, "`x` must be finite"),
    (0.0, {"low": 0.0, "low_inclusive": False}, r"`x` must be > 0, got 0.0"),
    (2.0, {"high": 1.0}, r"`x` must be <= 1, got 2.0"),
    (True, {}, "must be a finite real number"),
    ([1.0], {}, "must be a finite real number, got a list of length 1"),
    ("1", {}, "must be a finite real number"),
])
def test_check_real_rejects(x, kw, match):
    with pytest.raises(ValueError, match=match):
        check_real("x", x, **kw)


def test_check_array_and_friends():
    np.testing.assert_array_equal(check_array("a", [1, 2], low=0), [1.0, 2.0])
    with pytest.raises(ValueError, match="must be a 2-dimensional array, got shape"):
        check_array("a", [1, 2], ndim=2)
    with pytest.raises(ValueError, match=r"`a` must be >= 0, got -1.0 among its entries"):
        check_array("a", [1, -1], low=0)
    assert check_positive_int("n", np.int64(3)) == 3
    with pytest.raises(ValueError, match="`n` must be an integer >= 1, got 0"):
        check_positive_int("n", 0)
    with pytest.raises(ValueError, match="unknown colour 'red'; expected one of 'blue', 'green'"):
        check_choice("colour", "red", ("green", "blue"))


def test_feedback_correct_and_incorrect():
    ok = check_number("q*", 0.4180371, 0.418037, rtol=1e-5)
    assert ok and isinstance(ok, Feedback) and "correct" in str(ok)
    low = check_number("q*", 0.40, 0.418037, rtol=1e-5, hint="iterate longer")
    assert not low and "too small" in str(low) and "iterate longer" in str(low)
    assert math.isclose(low.relative_error, abs(0.40 - 0.418037) / 0.418037)
    assert "too large" in str(check_number("x", 2.0, 1.0))


def test_feedback_reports_bad_answers_instead_of_raising():
    assert "expected a number" in str(check_number("x", "abc", 1.0))
    assert "expected shape ()" in str(check_number("x", [1.0, 2.0], 1.0))
    assert "inf or nan" in str(check_number("x", float("nan"), 1.0))
    arr = check_number("v", [1.0, 2.5], [1.0, 2.0], rtol=1e-3)
    assert not arr and "at 1 (flattened index)" in str(arr)

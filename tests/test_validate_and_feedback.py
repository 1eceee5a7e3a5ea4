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


# --------------------------------------------------------------------------------------
# Robustness to any object (issue 17)
# --------------------------------------------------------------------------------------
torch = pytest.importorskip("torch")

from mftheory._validate import (MAX_INT, check_bool, check_callable,  # noqa: E402
                                check_device)
from mftheory.exercises import answers_as_data, as_answer  # noqa: E402


class _Hostile:
    def __array__(self, *a, **k):
        raise RuntimeError("no array")

    def __float__(self):
        raise RuntimeError("no float")


@pytest.mark.parametrize("bad,match", [
    (torch.tensor(1.5, requires_grad=True), "torch.Tensor of shape \\(\\), requires_grad=True"),
    (torch.tensor(1.5), "t.item\\(\\)"),
    (1.5 + 0j, "finite real number"),
    (None, "got None"),
    (np.bool_(True), "the boolean True"),
    (np.array([1.0]), "an array of shape \\(1,\\)"),
    (_Hostile(), "an object of type _Hostile"),
    (10 ** 400, "must be finite"),
])
def test_check_real_any_object(bad, match):
    with pytest.raises(ValueError, match=match):
        check_real("x", bad)


def test_check_real_edges_of_the_float_range():
    assert check_real("x", 1e308) == 1e308
    assert check_real("x", 5e-324, low=0.0, low_inclusive=False) == 5e-324
    assert check_real("x", np.array(2)) == 2.0                      # 0-d integer array
    assert check_real("x", 2 ** 64) == float(2 ** 64)


@pytest.mark.parametrize("bad,match", [
    (True, "booleans are not numbers"), ("2.0", "strings are not numbers"),
    (np.array([1.0 + 2.0j]), "complex values"), ([[1.0], [1.0, 2.0]], "a list of length 2"),
    (torch.ones(2, requires_grad=True), "requires_grad=True"), (_Hostile(), "_Hostile"),
    ([None, 1.0], "a list of length 2"), (np.array([1, 2], dtype=object), "dtype object"),
    ([1.0, float("nan")], "non-finite entries"),
])
def test_check_array_any_object(bad, match):
    with pytest.raises(ValueError, match=match):
        check_array("a", bad)


def test_check_array_shape_and_size():
    assert check_array("a", [[1, 2]], shape=(None, 2)).shape == (1, 2)
    with pytest.raises(ValueError, match=r"`a` must have shape \(any, 3\), got shape \(1, 2\)"):
        check_array("a", [[1, 2]], shape=(None, 3))
    with pytest.raises(ValueError, match="at least 1 entry, got shape \\(0,\\)"):
        check_array("a", [], min_size=1)
    assert check_array("a", []).shape == (0,)                       # empty allowed by default
    np.testing.assert_array_equal(check_array("a", np.array([1, 2], dtype=np.uint8)), [1.0, 2.0])


@pytest.mark.parametrize("bad", [2.0, True, "3", None, torch.tensor(3), MAX_INT + 1, 2 ** 64])
def test_check_positive_int_rejects(bad):
    with pytest.raises(ValueError, match="`n` must be an integer"):
        check_positive_int("n", bad)


def test_check_positive_int_bounds():
    assert check_positive_int("n", MAX_INT) == MAX_INT
    assert check_positive_int("n", 7, maximum=7) == 7
    with pytest.raises(ValueError, match="between 1 and 7, got 8"):
        check_positive_int("n", 8, maximum=7)


def test_check_choice_any_object():
    for bad in (None, ["a"], b"a", 1.5, _Hostile()):
        with pytest.raises(ValueError, match="unknown rule"):
            check_choice("rule", bad, ("a", "b"))


def test_check_bool_and_callable():
    assert check_bool("flag", np.bool_(False)) is False
    for bad in ("False", 1, 0, None, 1.5):
        with pytest.raises(ValueError, match="`flag` must be True or False"):
            check_bool("flag", bad)
    assert check_callable("f", len) is len
    with pytest.raises(ValueError, match="`f` must be a callable, got 'abc'"):
        check_callable("f", "abc")


def test_check_device():
    assert check_device("device", None) is None
    assert check_device("device", "cpu") == torch.device("cpu")
    assert check_device("device", torch.device("cpu")) == torch.device("cpu")
    bad = ["meta", "mps", "abc", 1.5, True, None if False else "cuda:99"]
    if not torch.cuda.is_available():
        bad.append("cuda")
    for b in bad:
        with pytest.raises(ValueError, match="`device` must be"):
            check_device("device", b)
    with pytest.raises(ValueError, match="`device` must be 'cpu'"):
        check_device("device", None, allow_none=False)
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="torch sees no GPU"):
            check_device("device", "cuda")


# --------------------------------------------------------------------------------------
# Answers are data
# --------------------------------------------------------------------------------------
@pytest.mark.parametrize("answer,match", [
    (None, "expected a number"), ("abc", "expected a number"), (True, "expected a number"),
    (1.0 + 1j, "complex"), (float("inf"), "inf or nan"), ([[1.0], [1.0, 2.0]], "array of numbers"),
    (_Hostile(), "array of numbers"), (object(), "array of numbers"), ({"a": 1}, "numbers"),
    ([], "expected shape ()"),
])
def test_check_number_reports_any_answer(answer, match):
    fb = check_number("x", answer, 1.0)
    assert isinstance(fb, Feedback) and not fb and match in str(fb)


def test_check_number_tensor_and_overflow():
    assert check_number("x", torch.tensor(1.0, requires_grad=True), 1.0)
    fb = check_number("W", 1e308 * np.eye(2), -1e308 * np.eye(2))      # |a - e| overflows
    assert not fb and fb.relative_error == math.inf


def test_feedback_never_stores_the_reference():
    fb = check_number("x", 0.5, 0.25)
    assert fb.expected is None and "0.25" not in str(fb)
    assert Feedback(True, "ok", 1.0, 42.0).expected is None


def test_check_number_validates_its_parameters():
    for kw, name in [({"expected": None}, "expected"), ({"expected": "1"}, "expected"),
                     ({"rtol": -1.0}, "rtol"), ({"atol": float("nan")}, "atol"),
                     ({"hint": None}, "hint"), ({"name": 3}, "name")]:
        args = {"name": "x", "answer": 1.0, "expected": 1.0, **kw}
        with pytest.raises(ValueError, match=f"`{name}`"):
            check_number(**args)


def test_as_answer():
    arr, fb = as_answer("v", [1, 2], shape=(2,))
    assert fb is None and arr.dtype == np.float64
    arr, fb = as_answer("v", [1, 2], shape=(3,))
    assert arr is None and "expected shape (3,), got (2,)" in str(fb)
    with pytest.raises(ValueError, match="`shape`"):
        as_answer("v", 1.0, shape=[3])


def test_answers_as_data_decorator():
    @answers_as_data
    def check(answer, level=1.0):
        level = check_real("level", level)
        return Feedback(float(np.sum(answer)) == level, "graded")

    assert check(1.0)
    fb = check(_Hostile())
    assert isinstance(fb, Feedback) and not fb and "could not grade" in str(fb)
    with pytest.raises(ValueError, match="`level`"):
        check(1.0, level="x")
    with pytest.raises(TypeError):
        check()                                     # a wrong call stays a TypeError
    with pytest.raises(ValueError, match="`check`"):
        answers_as_data(None)


# --------------------------------------------------------------------------------------
# Property: any object gives a checked value or a ValueError (and any answer a Feedback)
# --------------------------------------------------------------------------------------
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

_scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=5),
                     st.floats(allow_nan=True, allow_infinity=True), st.binary(max_size=4),
                     st.complex_numbers(allow_nan=True, allow_infinity=True))
ANY = st.recursive(_scalars, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                     st.tuples(inner, inner)), max_leaves=8)


@settings(max_examples=300, deadline=None)
@given(ANY)
def test_check_array_on_any_object(x):
    try:
        arr = check_array("a", x)
    except ValueError as err:
        assert "`a`" in str(err)
    else:
        assert arr.dtype == np.float64 and np.all(np.isfinite(arr))


@settings(max_examples=300, deadline=None)
@given(ANY)
def test_check_real_and_int_on_any_object(x):
    for check in (check_real, check_positive_int):
        try:
            v = check("v", x)
        except ValueError as err:
            assert "`v`" in str(err)
        else:
            assert type(v) in (float, int) and math.isfinite(v)


@settings(max_examples=300, deadline=None)
@given(ANY)
def test_check_number_on_any_answer(answer):
    fb = check_number("x", answer, [1.0, 2.0])
    assert isinstance(fb, Feedback) and isinstance(str(fb), str)
    if fb:
        np.testing.assert_allclose(np.asarray(answer, dtype=float), [1.0, 2.0], rtol=1e-4)

"""The common feedback object and the answer handling behind every exercise check.

A student's answer is *data*, not a programming error: whatever object it is (a string,
``None``, a complex number, NaN, a list of the wrong shape, a torch tensor, an array so large
that arithmetic on it overflows, an object whose conversion raises), a check returns a
not-correct :class:`Feedback` that says what is wrong with it, never an exception. The check's
*parameters* (which exercise variant to grade: an activation, a :math:`\\sigma_w^2`, ...) are
validated like any function's and raise ``ValueError``.

Three tools give every chapter's checks that behaviour:

* :func:`check_number` compares a numeric answer (scalar or array) with the reference value;
* :func:`as_answer` converts an answer to a finite float array of a given shape, or returns the
  :class:`Feedback` that explains why it cannot;
* :func:`answers_as_data` decorates a check function so that an exception raised while grading
  (anything but the ``ValueError`` of a bad parameter) becomes a not-correct Feedback.

A :class:`Feedback` never carries the reference value (its ``expected`` slot is kept only for
positional compatibility and is always ``None``), so printing or inspecting it does not reveal
the answer; ``relative_error`` is there for autograders.
"""

from __future__ import annotations

import functools
import inspect
import math
import sys
import warnings
from dataclasses import dataclass

import numpy as np

from .._validate import check_array, check_positive_int, check_real

__all__ = ["Feedback", "check_number", "as_answer", "answers_as_data"]


@dataclass(frozen=True)
class Feedback:
    """Outcome of an exercise check: truthy when correct; prints as a sentence.

    ``expected`` is always ``None`` (the reference value is never stored, whatever is passed).
    """

    correct: bool
    message: str
    answer: object = None
    expected: object = None
    relative_error: float = math.nan

    def __post_init__(self):
        object.__setattr__(self, "correct", bool(self.correct))
        object.__setattr__(self, "expected", None)

    def __bool__(self) -> bool:
        return self.correct

    def __str__(self) -> str:
        return self.message

    def _repr_markdown_(self) -> str:
        return ("✅ " if self.correct else "❌ ") + self.message

    def __repr__(self) -> str:
        return ("[correct] " if self.correct else "[not yet] ") + self.message


def _check_text(name, x):
    if not isinstance(x, str):
        raise ValueError(f"`{name}` must be a string, got {type(x).__name__}")
    return x


def _short(x, limit=60):
    try:
        r = repr(x)
    except Exception:
        r = f"<{type(x).__name__} object>"
    return r if len(r) <= limit else r[: limit - 3] + "..."


def as_answer(name: str, answer, *, shape=None):
    """Convert a student's ``answer`` to a finite float64 array; never raises.

    Returns ``(array, None)`` or ``(None, feedback)`` where the not-correct ``feedback`` says why
    the answer is not a usable number: not numeric (strings, ``None``, booleans, objects), complex,
    ragged, of the wrong shape (``shape`` as a tuple, when given) or not finite. A torch tensor
    (with or without gradient) is accepted and converted. ``name`` (a string) and ``shape``
    (None or a tuple of integers >= 0) are parameters, validated with ValueError.
    """
    _check_text("name", name)
    if shape is not None:
        if not isinstance(shape, tuple):
            raise ValueError(f"`shape` must be None or a tuple of integers, got "
                             f"{type(shape).__name__}")
        shape = tuple(check_positive_int("shape", d, minimum=0) for d in shape)
    def bad(why):
        return None, Feedback(False, f"{name}: {why}", answer)

    a = answer
    torch = sys.modules.get("torch")
    if torch is not None and isinstance(a, torch.Tensor):
        try:
            a = a.detach().cpu().numpy()
        except Exception:
            return bad(f"could not read the tensor {_short(answer)}; pass a float or an array.")
    if a is None or isinstance(a, (str, bytes, bool, np.bool_)):
        return bad(f"expected a number, got {_short(answer)}.")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            arr = np.asarray(a)
    except Exception:
        return bad(f"expected a number or an array of numbers, got {_short(answer)}.")
    if arr.dtype.kind == "c":
        return bad("expected a real number, got a complex value.")
    if arr.dtype.kind not in "iuf":
        return bad(f"expected a number or an array of numbers, got {_short(answer)}.")
    with np.errstate(all="ignore"):
        arr = arr.astype(np.float64)
    if shape is not None and arr.shape != tuple(shape):
        return bad(f"expected shape {tuple(shape)}, got {arr.shape}.")
    if not np.all(np.isfinite(arr)):
        return bad("your answer contains inf or nan.")
    return arr, None


def check_number(name: str, answer, expected, *, rtol: float = 1e-4, atol: float = 0.0,
                 hint: str = "") -> Feedback:
    """Compare a numeric answer (scalar or array) with the expected value.

    The answer is correct when ``|answer - expected| <= atol + rtol * |expected|`` elementwise.
    Any answer object gets a Feedback (see :func:`as_answer`), never an exception; the other
    arguments are the check's parameters (``expected`` a finite real or array, ``rtol`` and
    ``atol`` >= 0, ``name`` and ``hint`` strings) and raise ValueError when bad.
    """
    _check_text("name", name)
    _check_text("hint", hint)
    e = check_array("expected", expected)
    rtol = check_real("rtol", rtol, low=0.0)
    atol = check_real("atol", atol, low=0.0)
    a, fb = as_answer(name, answer, shape=e.shape)
    if fb is not None:
        return fb
    with np.errstate(all="ignore"):
        err = np.abs(a - e)
        rel = float(np.max(err / np.maximum(np.abs(e), 1e-300)))
        ok = bool(np.all(err <= atol + rtol * np.abs(e)))
    if ok:
        msg = f"{name}: correct (relative error {rel:.1e}, tolerance {rtol:g})."
    else:
        where = "" if a.ndim == 0 else f" at {int(np.argmax(err))} (flattened index)"
        direction = ""
        if a.ndim == 0:
            direction = " too large" if a > e else " too small"
        msg = (f"{name}: not yet — your value is{direction} by a relative {rel:.2g}{where}; "
               f"the tolerance is {rtol:g}.")
        if hint:
            msg += f" Hint: {hint}"
    return Feedback(ok, msg, answer, None, rel)


def answers_as_data(check):
    """Decorate an exercise check so that grading never raises on the student's answer.

    The check validates its parameters first (``ValueError``, which passes through); any other
    exception raised while grading comes from the answer and is returned as a not-correct
    :class:`Feedback` naming the error. Floating-point warnings are silenced while grading.
    """
    if not callable(check):
        raise ValueError(f"`check` must be a check function, got {type(check).__name__}")
    sig = inspect.signature(check)

    @functools.wraps(check)
    def wrapper(*args, **kwargs):
        sig.bind(*args, **kwargs)                        # a wrong call is a TypeError, as usual
        try:
            with np.errstate(all="ignore"), warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                return check(*args, **kwargs)
        except ValueError:
            raise
        except Exception as err:                         # the answer broke the grading
            return Feedback(False, f"{check.__name__}: could not grade this answer "
                            f"({type(err).__name__}: {_short(str(err), 120)}).",
                            args[0] if args else None)

    return wrapper


def _as_float(answer):
    """A student's scalar ``answer`` as a finite Python float, or None when it is not one (not a
    number, complex, not a scalar, not finite); never raises. The checks of every chapter use it
    and word the feedback themselves."""
    arr, feedback = as_answer("answer", answer, shape=())
    return None if feedback is not None else float(arr)


def _band(rel):
    """How far off a wrong answer is, in words a student can act on without learning the
    reference value: a coarse band of the relative error ``rel``."""
    if rel > 0.1:
        return "by more than 10 %"
    if rel > 0.01:
        return "by between 1 % and 10 %"
    return "by less than 1 %"

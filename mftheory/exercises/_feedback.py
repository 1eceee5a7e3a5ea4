"""The common feedback object and numeric comparison behind every exercise check."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

__all__ = ["Feedback", "check_number"]


@dataclass(frozen=True)
class Feedback:
    """Outcome of an exercise check: truthy when correct; prints as a sentence."""

    correct: bool
    message: str
    answer: object = None
    expected: object = None
    relative_error: float = math.nan

    def __bool__(self) -> bool:
        return self.correct

    def __str__(self) -> str:
        return self.message

    def _repr_markdown_(self) -> str:
        return ("✅ " if self.correct else "❌ ") + self.message

    def __repr__(self) -> str:
        return ("[correct] " if self.correct else "[not yet] ") + self.message


def check_number(name: str, answer, expected, *, rtol: float = 1e-4, atol: float = 0.0,
                 hint: str = "") -> Feedback:
    """Compare a numeric answer (scalar or array) with the expected value.

    The answer is correct when ``|answer - expected| <= atol + rtol * |expected|`` elementwise.
    A non-numeric, non-finite or wrongly shaped answer is reported (not raised), because the
    student's answer is data here, not a programming error.
    """
    try:
        a = np.asarray(answer, dtype=float)
    except (TypeError, ValueError):
        return Feedback(False, f"{name}: expected a number, got {answer!r}.", answer, expected)
    e = np.asarray(expected, dtype=float)
    if a.shape != e.shape:
        return Feedback(False, f"{name}: expected shape {e.shape}, got {a.shape}.", answer,
                        expected)
    if not np.all(np.isfinite(a)):
        return Feedback(False, f"{name}: your answer contains inf or nan.", answer, expected)
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
    return Feedback(ok, msg, answer, expected, rel)

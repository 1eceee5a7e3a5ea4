"""Input validation shared by every public function of :mod:`mftheory`.

Each checker raises :class:`ValueError` with a message that names the argument, what was
received and what is accepted. Inner functions trust their (already checked) input.
"""

from __future__ import annotations

import numbers

import numpy as np

__all__ = [
    "check_real",
    "check_array",
    "check_positive_int",
    "check_choice",
]


def _describe(x) -> str:
    arr = np.asarray(x)
    if arr.ndim == 0:
        return repr(x)
    return f"an array of shape {arr.shape}"


def check_real(name: str, x, *, low=None, high=None, low_inclusive=True, high_inclusive=True):
    """Return ``x`` as a Python float after checking it is a finite real in the given range."""
    if isinstance(x, bool) or not isinstance(x, (numbers.Real, np.floating, np.integer)):
        if isinstance(x, np.ndarray) and x.ndim == 0 and np.isrealobj(x):
            x = x.item()
        else:
            raise ValueError(f"`{name}` must be a finite real number, got {_describe(x)}")
    x = float(x)
    _check_range(name, np.asarray(x), low, high, low_inclusive, high_inclusive, scalar=True)
    return x


def check_array(name: str, x, *, low=None, high=None, low_inclusive=True, high_inclusive=True,
                ndim=None):
    """Return ``x`` as a float64 array after checking it is finite and in range."""
    try:
        arr = np.asarray(x, dtype=float)
    except (TypeError, ValueError):
        raise ValueError(f"`{name}` must be a real number or an array of real numbers, "
                         f"got {x!r}") from None
    if ndim is not None and arr.ndim != ndim:
        raise ValueError(f"`{name}` must be a {ndim}-dimensional array, got shape {arr.shape}")
    _check_range(name, arr, low, high, low_inclusive, high_inclusive, scalar=arr.ndim == 0)
    return arr


def _check_range(name, arr, low, high, low_inclusive, high_inclusive, scalar):
    if not np.all(np.isfinite(arr)):
        what = repr(arr.item()) if scalar else "non-finite entries"
        raise ValueError(f"`{name}` must be finite, got {what}")
    parts = []
    if low is not None:
        parts.append(f"{'>=' if low_inclusive else '>'} {low:g}")
    if high is not None:
        parts.append(f"{'<=' if high_inclusive else '<'} {high:g}")
    bad = np.zeros(arr.shape, dtype=bool)
    if low is not None:
        bad |= arr < low if low_inclusive else arr <= low
    if high is not None:
        bad |= arr > high if high_inclusive else arr >= high
    if np.any(bad):
        got = repr(arr.item()) if scalar else f"{float(arr[bad].ravel()[0])!r} among its entries"
        raise ValueError(f"`{name}` must be {' and '.join(parts)}, got {got}")


def check_positive_int(name: str, n, *, minimum: int = 1) -> int:
    """Return ``n`` as an int after checking it is an integer >= ``minimum``."""
    if isinstance(n, bool) or not isinstance(n, (numbers.Integral, np.integer)):
        raise ValueError(f"`{name}` must be an integer >= {minimum}, got {n!r}")
    n = int(n)
    if n < minimum:
        raise ValueError(f"`{name}` must be an integer >= {minimum}, got {n}")
    return n


def check_choice(name: str, value, choices) -> str:
    """Return ``value`` after checking it is one of ``choices`` (strings)."""
    if not isinstance(value, str) or value not in choices:
        accepted = ", ".join(repr(c) for c in sorted(choices))
        raise ValueError(f"unknown {name} {value!r}; expected one of {accepted}")
    return value

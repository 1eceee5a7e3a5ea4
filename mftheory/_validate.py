"""Input validation shared by every public function of :mod:`mftheory`.

The contract: a public function given a bad argument raises :class:`ValueError` with a message
that names the argument, says what was received and what is accepted — never another exception,
a NaN or a silently wrong answer. Each checker here enforces it for one kind of argument and is
robust to *any* object (it never lets ``np.asarray``, ``float`` or a comparison raise something
else):

* numbers (:func:`check_real`, :func:`check_array`, :func:`check_positive_int`) reject ``None``,
  strings, booleans (``True`` is not the number 1 here), complex values, NaN and infinities,
  Python integers too large for a float, ragged lists, object arrays and torch tensors (with or
  without ``requires_grad``: pass ``t.detach().cpu().numpy()`` or ``t.item()`` instead — the
  functions that document a tensor input convert it themselves);
* options (:func:`check_choice`) accept only the listed strings; flags (:func:`check_bool`) only
  real booleans (``'False'`` and ``1`` are not flags);
* devices (:func:`check_device`): ``None``, ``'cpu'`` and ``'cuda'`` (or ``'cuda:k'`` and the
  corresponding ``torch.device``) when torch sees a GPU; anything else, including ``'cuda'``
  without a GPU, ``'meta'`` and ``'mps'``, is a ValueError that says what this machine has;
* callables (:func:`check_callable`).

Integers are capped at :data:`MAX_INT` :math:`=2^{53}` by default: beyond it a float64 cannot
represent every integer, and no size, count or seed of this package is meaningful there.

Inner functions trust their (already checked) input.
"""

from __future__ import annotations

import math
import numbers
import sys
import warnings

import numpy as np

__all__ = [
    "check_real",
    "check_array",
    "check_positive_int",
    "check_choice",
    "check_bool",
    "check_device",
    "check_callable",
]

#: Largest integer accepted by :func:`check_positive_int` unless a caller says otherwise.
MAX_INT = 2 ** 53


def _is_tensor(x) -> bool:
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(x, torch.Tensor)


def _short_repr(x, limit: int = 60) -> str:
    try:
        r = repr(x)
    except Exception:                                    # a hostile __repr__
        r = f"<{type(x).__name__} object>"
    return r if len(r) <= limit else r[: limit - 3] + "..."


def _describe(x) -> str:
    """What was received, in words, without converting ``x`` (which may not be convertible)."""
    if _is_tensor(x):
        grad = ", requires_grad=True" if getattr(x, "requires_grad", False) else ""
        return f"a torch.Tensor of shape {tuple(x.shape)}{grad}"
    if isinstance(x, np.ndarray):
        if x.ndim == 0:
            return f"{_short_repr(x.item())} (a 0-d {x.dtype} array)"
        return f"an array of shape {x.shape} and dtype {x.dtype}"
    if isinstance(x, (bool, np.bool_)):
        return f"the boolean {bool(x)!r}"
    if isinstance(x, (str, bytes, numbers.Number)) or x is None:
        return _short_repr(x)
    if isinstance(x, (list, tuple)):
        return f"a {type(x).__name__} of length {len(x)}"
    return f"an object of type {type(x).__name__}"


_TENSOR_HINT = " (convert a torch tensor with t.item() or t.detach().cpu().numpy())"


def _float_or_none(x):
    """``x`` as a Python float if it is a real number of an accepted type, else None."""
    if isinstance(x, (bool, np.bool_)):
        return None
    if isinstance(x, np.ndarray):
        if x.ndim != 0 or x.dtype.kind not in "iuf":
            return None
        x = x.item()
    if isinstance(x, (numbers.Integral, np.integer)):
        try:
            return float(x)
        except OverflowError:                            # an int beyond 1.8e308
            return math.inf
    if isinstance(x, (float, np.floating)) or (isinstance(x, numbers.Real)
                                               and not isinstance(x, numbers.Integral)):
        try:
            return float(x)
        except (TypeError, ValueError, OverflowError):
            return None
    return None


def check_real(name: str, x, *, low=None, high=None, low_inclusive=True, high_inclusive=True):
    """Return ``x`` as a Python float after checking it is a finite real in the given range.

    Accepted: Python ``int``/``float``, NumPy integer/floating scalars and 0-d real arrays.
    """
    v = _float_or_none(x)
    if v is None:
        hint = _TENSOR_HINT if _is_tensor(x) else ""
        raise ValueError(f"`{name}` must be a finite real number, got {_describe(x)}{hint}")
    if not math.isfinite(v):
        raise ValueError(f"`{name}` must be finite, got {_short_repr(x)}")
    _check_range(name, np.asarray(v), low, high, low_inclusive, high_inclusive, scalar=True)
    return v


def check_array(name: str, x, *, low=None, high=None, low_inclusive=True, high_inclusive=True,
                ndim=None, shape=None, min_size=0):
    """Return ``x`` as a float64 array after checking it is real, finite and in range.

    Accepted: real numbers, nested lists/tuples of them, NumPy arrays of integer or floating
    dtype. ``ndim`` fixes the number of dimensions, ``shape`` the shape (``None`` entries are
    free), ``min_size`` the least number of entries (1 rejects empty arrays).
    """
    kind = None
    if _is_tensor(x):
        raise ValueError(f"`{name}` must be a real number or a NumPy array of real numbers, got "
                         f"{_describe(x)}{_TENSOR_HINT}")
    if x is None or isinstance(x, (str, bytes, bool, np.bool_)):
        kind = ("b" if isinstance(x, (bool, np.bool_)) else
                "U" if isinstance(x, (str, bytes)) else None)
        arr = None
    else:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                arr = np.asarray(x)
            kind = arr.dtype.kind
        except Exception:                                # ragged lists, hostile __array__ ...
            arr = None
    if arr is None or kind not in "iuf":
        why = {"b": " (booleans are not numbers here)", "c": " (complex values are not accepted)",
               "U": " (strings are not numbers)", "S": " (strings are not numbers)"}.get(kind, "")
        raise ValueError(f"`{name}` must be a real number or an array of real numbers, got "
                         f"{_describe(x)}{why}")
    with np.errstate(over="ignore"):
        arr = arr.astype(np.float64)
    if ndim is not None and arr.ndim != ndim:
        raise ValueError(f"`{name}` must be a {ndim}-dimensional array, got shape {arr.shape}")
    if shape is not None:
        ok = len(shape) == arr.ndim and all(s is None or s == a for s, a in zip(shape, arr.shape))
        if not ok:
            want = "(" + ", ".join("any" if s is None else str(s) for s in shape) + ")"
            raise ValueError(f"`{name}` must have shape {want}, got shape {arr.shape}")
    if arr.size < min_size:
        raise ValueError(f"`{name}` must have at least {min_size} entr"
                         f"{'y' if min_size == 1 else 'ies'}, got shape {arr.shape}")
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


def check_positive_int(name: str, n, *, minimum: int = 1, maximum: int = MAX_INT) -> int:
    """Return ``n`` as an int after checking it is an integer in ``[minimum, maximum]``.

    Accepted: Python ``int`` and NumPy integer scalars (not booleans, not floats such as 3.0).
    """
    if isinstance(n, (bool, np.bool_)) or not isinstance(n, (numbers.Integral, np.integer)):
        hint = _TENSOR_HINT if _is_tensor(n) else ""
        raise ValueError(f"`{name}` must be an integer >= {minimum}, got {_describe(n)}{hint}")
    n = int(n)
    if n < minimum:
        raise ValueError(f"`{name}` must be an integer >= {minimum}, got {n}")
    if maximum is not None and n > maximum:
        raise ValueError(f"`{name}` must be an integer between {minimum} and {maximum}, got "
                         f"{_short_repr(n)}")
    return n


def check_choice(name: str, value, choices) -> str:
    """Return ``value`` after checking it is one of ``choices`` (strings)."""
    if not isinstance(value, str) or value not in choices:
        accepted = ", ".join(repr(c) for c in sorted(choices))
        raise ValueError(f"unknown {name} {_short_repr(value)}; expected one of {accepted}")
    return value


def check_bool(name: str, flag) -> bool:
    """Return ``flag`` as a Python bool after checking it is ``True`` or ``False``.

    Accepted: ``bool`` and ``numpy.bool_``; not ``0``/``1``, not strings such as ``'False'``.
    """
    if not isinstance(flag, (bool, np.bool_)):
        raise ValueError(f"`{name}` must be True or False, got {_describe(flag)}")
    return bool(flag)


def check_callable(name: str, f):
    """Return ``f`` after checking it is callable."""
    if not callable(f):
        raise ValueError(f"`{name}` must be a callable, got {_describe(f)}")
    return f


def check_device(name: str, device, *, allow_none: bool = True):
    """Return a ``torch.device`` for ``device`` (``None`` means the CPU, or see ``allow_none``).

    Accepted: ``'cpu'``; ``'cuda'``, ``'cuda:k'`` only when torch sees a GPU (with index ``k``
    below the number of GPUs); the same as ``torch.device`` objects; ``None`` (returned as
    ``None`` so the caller picks its default) when ``allow_none``.
    """
    if device is None and allow_none:
        return None
    import torch

    n_gpu = torch.cuda.device_count() if torch.cuda.is_available() else 0
    have = "'cpu' or 'cuda'" if n_gpu else "'cpu' (torch sees no GPU on this machine)"
    accepted = ("None, " if allow_none else "") + have
    if isinstance(device, torch.device):
        dev = device
    elif isinstance(device, str):
        try:
            dev = torch.device(device)
        except Exception:
            raise ValueError(f"`{name}` must be {accepted}, got {_short_repr(device)}") from None
    else:
        raise ValueError(f"`{name}` must be {accepted}, got {_describe(device)}")
    if dev.type == "cpu":
        return torch.device("cpu")
    if dev.type == "cuda" and n_gpu and (dev.index is None or dev.index < n_gpu):
        return dev
    raise ValueError(f"`{name}` must be {accepted}, got {_short_repr(device)}")

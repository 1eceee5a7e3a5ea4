"""Input checks shared by the submodules of :mod:`mftheory.teacher` (private)."""

from __future__ import annotations

import numpy as np

from .._validate import check_array, check_positive_int

__all__: list[str] = []


def as_array(name, x, *, ndim=None, low=None, high=None, shape=None):
    """``x`` as a finite float64 array; anything else (None, strings, booleans, complex numbers,
    ragged lists, torch tensors, empty arrays) raises ``ValueError`` naming ``name``."""
    if x is None or isinstance(x, (str, bytes, bool, dict, set)):
        raise ValueError(f"`{name}` must be a real array, got {x!r}")
    if type(x).__module__.split(".")[0] == "torch":
        raise ValueError(f"`{name}` must be a NumPy array or a list of numbers, got a torch "
                         "tensor; convert it with `.detach().cpu().numpy()`")
    try:
        raw = np.asarray(x)
    except Exception:                                  # noqa: BLE001 - any failure is bad input
        raise ValueError(f"`{name}` must be a real array, got {type(x).__name__}") from None
    if raw.dtype.kind not in "iuf":
        raise ValueError(f"`{name}` must be a real (integer or float) array, got dtype "
                         f"{raw.dtype}")
    if raw.size == 0:
        raise ValueError(f"`{name}` must not be empty")
    arr = check_array(name, raw.astype(float), ndim=ndim, low=low, high=high)
    if shape is not None:
        if arr.ndim != len(shape):
            raise ValueError(f"`{name}` must have shape {shape} (None: any), got {arr.shape}")
        for axis, n in enumerate(shape):
            if n is not None and arr.shape[axis] != n:
                raise ValueError(f"`{name}` must have shape {shape} (None: any), got {arr.shape}")
    return arr


def as_probabilities(name, p, n):
    """A probability vector of length ``n`` (non-negative, summing to 1 within 1e-9)."""
    p = as_array(name, p, ndim=1, low=0.0, shape=(n,))
    if abs(p.sum() - 1.0) > 1e-9:
        raise ValueError(f"`{name}` must sum to 1, got {p.sum()!r}")
    return p


def as_seed(seed):
    return check_positive_int("seed", seed, minimum=0)


def as_bool(name, x):
    if not isinstance(x, (bool, np.bool_)):
        raise ValueError(f"`{name}` must be True or False, got {x!r}")
    return bool(x)


"""Where and how big the book's simulations run: device, scale and seeding.

* :func:`device` is CUDA when torch sees a GPU, else the CPU.
* :func:`scale` is ``'small'`` when the environment variable ``CI`` is set (the tests, the
  book build in CI) or when there is no GPU, and ``'full'`` on a GPU. The environment
  variable ``MFTHEORY_SCALE`` (``small`` or ``full``) overrides both, e.g. to run the full
  experiments on a CPU overnight or the small ones on a GPU.
* :func:`seed` seeds Python's, NumPy's and torch's generators and returns a NumPy
  ``Generator`` for code that takes its randomness as an argument.
"""

from __future__ import annotations

import os
import platform
import random

import numpy as np

from ._validate import check_choice, check_positive_int

__all__ = ["device", "scale", "seed", "describe", "SCALES"]

SCALES = ("small", "full")


def _torch():
    import torch  # imported lazily: the theory modules never need it

    return torch


def device():
    """``torch.device('cuda')`` when a GPU is visible to torch, else ``torch.device('cpu')``."""
    torch = _torch()
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def scale() -> str:
    """``'small'`` (CPU, CI) or ``'full'`` (GPU), overridable by ``MFTHEORY_SCALE``."""
    override = os.environ.get("MFTHEORY_SCALE", "").strip().lower()
    if override:
        return check_choice("MFTHEORY_SCALE", override, SCALES)
    if os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no"):
        return "small"
    return "full" if device().type == "cuda" else "small"


def seed(n: int = 0) -> np.random.Generator:
    """Seed Python, NumPy and torch (all devices) with ``n``; return ``np.random.default_rng(n)``."""
    n = check_positive_int("n", n, minimum=0)
    random.seed(n)
    np.random.seed(n % 2**32)
    torch = _torch()
    torch.manual_seed(n)
    return np.random.default_rng(n)


def describe() -> str:
    """One line for a chapter's first cell: versions, device, scale."""
    torch = _torch()
    dev = device()
    name = torch.cuda.get_device_name(0) if dev.type == "cuda" else platform.processor() or "cpu"
    return (f"python {platform.python_version()} | numpy {np.__version__} | torch "
            f"{torch.__version__} | device {dev.type} ({name}) | scale '{scale()}' | "
            f"threads {torch.get_num_threads()}")

"""Data sets for the book's experiments.

* :func:`gaussian_mixture`: a synthetic classification set (one Gaussian blob per class),
  made on the spot: no download, any size.
* :func:`load_digits_split`: scikit-learn's bundled 8x8 handwritten digits (1,797 images,
  shipped inside scikit-learn), split into train/test and standardised — the book's
  ready-to-use *real* data set, available offline.
* :func:`load_mnist`, :func:`load_cifar10`: the classic data sets, downloaded once into a
  cache directory (``$MFTHEORY_DATA`` or ``~/.cache/mftheory``). Without internet they fail
  with a clear message naming the offline alternatives above.

All loaders return a :class:`Dataset` of float32 features ``x`` (n, d) and int64 labels
``y`` (n,), as numpy arrays; ``torch.from_numpy`` turns them into tensors.
"""

from __future__ import annotations

import gzip
import os
import pickle
import tarfile
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ._validate import check_bool, check_positive_int, check_real

__all__ = [
    "Dataset",
    "Split",
    "gaussian_mixture",
    "load_digits_split",
    "load_mnist",
    "load_cifar10",
    "cache_dir",
    "OfflineError",
    "load_digits_binary",
    "load_digits_unit",
    "two_blobs",
]


@dataclass(frozen=True)
class Dataset:
    """Features ``x`` (n, d) float32 and integer labels ``y`` (n,)."""

    x: np.ndarray
    y: np.ndarray

    def __len__(self) -> int:
        return len(self.y)

    @property
    def n_classes(self) -> int:
        return int(self.y.max()) + 1


@dataclass(frozen=True)
class Split:
    """A train/test pair of :class:`Dataset`."""

    train: Dataset
    test: Dataset


class OfflineError(RuntimeError):
    """A data set could not be downloaded (no internet, or the host refused)."""


def gaussian_mixture(n: int = 1000, dim: int = 2, n_classes: int = 2, *, separation: float = 3.0,
                     seed: int = 0) -> Dataset:
    """A balanced mixture of isotropic unit Gaussians, one per class.

    Class means are ``separation`` times random unit vectors (drawn with ``seed``), so the
    Bayes error shrinks as ``separation`` grows.

    Parameters
    ----------
    n : int
        Number of points (>= n_classes); classes get ``n // n_classes`` or one more.
    dim : int
        Input dimension (>= 1).
    n_classes : int
        Number of classes (>= 2).
    separation : float
        Distance of each class mean from the origin, in [0, 1e30] (the features are float32).
    seed : int
        Seed of the generator (>= 0).
    """
    n = check_positive_int("n", n)
    dim = check_positive_int("dim", dim)
    n_classes = check_positive_int("n_classes", n_classes, minimum=2)
    separation = check_real("separation", separation, low=0.0, high=1e30)
    seed = check_positive_int("seed", seed, minimum=0)
    if n < n_classes:
        raise ValueError(f"`n` must be at least `n_classes` = {n_classes}, got {n}")
    rng = np.random.default_rng(seed)
    means = rng.standard_normal((n_classes, dim))
    means *= separation / np.linalg.norm(means, axis=1, keepdims=True)
    y = np.arange(n) % n_classes
    rng.shuffle(y)
    x = means[y] + rng.standard_normal((n, dim))
    return Dataset(x.astype(np.float32), y.astype(np.int64))


def load_digits_split(test_fraction: float = 0.25, *, seed: int = 0) -> Split:
    """scikit-learn's bundled digits (8x8 images, 10 classes), standardised, split train/test.

    Features are standardised with the *training* mean and standard deviation (pixels that
    are constant in the training set are left at 0). The split is stratified by class.
    """
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    test_fraction = check_real("test_fraction", test_fraction, low=0.0, high=1.0,
                               low_inclusive=False, high_inclusive=False)
    seed = check_positive_int("seed", seed, minimum=0)
    x, y = load_digits(return_X_y=True)
    xtr, xte, ytr, yte = train_test_split(x, y, test_size=test_fraction, random_state=seed,
                                          stratify=y)
    mean, std = xtr.mean(axis=0), xtr.std(axis=0)
    std = np.where(std > 0, std, 1.0)
    norm = lambda a: ((a - mean) / std).astype(np.float32)  # noqa: E731
    return Split(Dataset(norm(xtr), ytr.astype(np.int64)), Dataset(norm(xte), yte.astype(np.int64)))


# --------------------------------------------------------------------------------------
# Downloaded data sets (readers with internet)
# --------------------------------------------------------------------------------------
_MNIST_BASE = "https://ossci-datasets.s3.amazonaws.com/mnist/"
_MNIST_FILES = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}
_MAX_TIMEOUT = 1e6   # seconds; the socket layer overflows on much larger values
_CIFAR_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"

_OFFLINE_HINT = ("Offline alternatives that need no download: "
                 "mftheory.data.load_digits_split() (scikit-learn's bundled 8x8 digits) and "
                 "mftheory.data.gaussian_mixture() (synthetic).")


def cache_dir() -> Path:
    """Where downloaded data sets are kept: ``$MFTHEORY_DATA`` or ``~/.cache/mftheory``."""
    root = os.environ.get("MFTHEORY_DATA")
    return Path(root) if root else Path.home() / ".cache" / "mftheory"


def _download(url: str, dest: Path, timeout: float) -> Path:
    if dest.exists():
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_suffix(dest.suffix + ".part")
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r, open(tmp, "wb") as f:
            while chunk := r.read(1 << 20):
                f.write(chunk)
    except (urllib.error.URLError, OSError, TimeoutError, OverflowError, ValueError) as e:
        tmp.unlink(missing_ok=True)
        raise OfflineError(f"could not download {url} ({e}). You seem to be offline or the "
                           f"host is unreachable. {_OFFLINE_HINT}") from e
    tmp.replace(dest)
    return dest


def _read_idx(path: Path) -> np.ndarray:
    with gzip.open(path, "rb") as f:
        data = f.read()
    ndim = data[3]
    shape = tuple(int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(shape)


def load_mnist(*, flatten: bool = True, timeout: float = 30.0) -> Split:
    """MNIST (60,000 + 10,000 images of 28x28), pixels scaled to [0, 1].

    Downloaded once into :func:`cache_dir`; raises :class:`OfflineError` with the offline
    alternatives when there is no internet. ``timeout`` (seconds, in (0, 1e6]) applies to each
    network operation.
    """
    flatten = check_bool("flatten", flatten)
    timeout = check_real("timeout", timeout, low=0.0, high=_MAX_TIMEOUT, low_inclusive=False)
    parts = {}
    for split, (img, lab) in _MNIST_FILES.items():
        xi = _read_idx(_download(_MNIST_BASE + img, cache_dir() / "mnist" / img, timeout))
        yi = _read_idx(_download(_MNIST_BASE + lab, cache_dir() / "mnist" / lab, timeout))
        x = xi.astype(np.float32) / 255.0
        parts[split] = Dataset(x.reshape(len(x), -1) if flatten else x, yi.astype(np.int64))
    return Split(parts["train"], parts["test"])


def load_cifar10(*, flatten: bool = True, timeout: float = 60.0) -> Split:
    """CIFAR-10 (50,000 + 10,000 colour images of 32x32), pixels scaled to [0, 1].

    Images are (n, 3, 32, 32) when ``flatten`` is False. Downloaded once (163 MB) into
    :func:`cache_dir`; raises :class:`OfflineError` with the offline alternatives when
    there is no internet. ``timeout`` (seconds, in (0, 1e6]) applies to each network operation.
    """
    flatten = check_bool("flatten", flatten)
    timeout = check_real("timeout", timeout, low=0.0, high=_MAX_TIMEOUT, low_inclusive=False)
    archive = _download(_CIFAR_URL, cache_dir() / "cifar10" / "cifar-10-python.tar.gz", timeout)
    xs, ys = {"train": [], "test": []}, {"train": [], "test": []}
    with tarfile.open(archive, "r:gz") as tar:
        for member in tar.getmembers():
            name = Path(member.name).name
            split = "train" if name.startswith("data_batch") else "test" if name == "test_batch" \
                else None
            if split is None:
                continue
            batch = pickle.loads(tar.extractfile(member).read(), encoding="bytes")
            xs[split].append(np.asarray(batch[b"data"], dtype=np.uint8))
            ys[split].extend(batch[b"labels"])
    out = {}
    for split in ("train", "test"):
        x = np.concatenate(xs[split]).astype(np.float32) / 255.0
        x = x if flatten else x.reshape(-1, 3, 32, 32)
        out[split] = Dataset(x, np.asarray(ys[split], dtype=np.int64))
    return Split(out["train"], out["test"])


# --------------------------------------------------------------------------------------
# Unit-norm sets for the square-loss chapter (labels +1/-1 or class indices)
# --------------------------------------------------------------------------------------
def _center_unit_rows(xtr, xte):
    """Subtract the training mean, then scale every row to unit Euclidean norm."""
    mean = xtr.mean(axis=0)
    out = []
    for a in (xtr - mean, xte - mean):
        nrm = np.linalg.norm(a, axis=1, keepdims=True)
        out.append((a / np.where(nrm > 0, nrm, 1.0)).astype(np.float32))
    return out


def load_digits_binary(c0: int = 3, c1: int = 8, *, test_fraction: float = 0.3,
                       seed: int = 0) -> Split:
    """Two classes of scikit-learn's bundled digits, labels ``+1`` (``c0``) and ``-1`` (``c1``).

    Features are centred with the training mean and each row is scaled to unit norm (the
    setting of Poggio and Liao, 2020: every input has norm 1). Labels are float32 +1/-1. With
    the defaults (3 vs 8, 30 % test, seed 0): 249 training and 108 test images.
    """
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    c0 = check_positive_int("c0", c0, minimum=0)
    c1 = check_positive_int("c1", c1, minimum=0)
    if c0 > 9 or c1 > 9 or c0 == c1:
        raise ValueError(f"`c0` and `c1` must be two different digits 0..9, got {c0}, {c1}")
    test_fraction = check_real("test_fraction", test_fraction, low=0.0, high=1.0,
                               low_inclusive=False, high_inclusive=False)
    seed = check_positive_int("seed", seed, minimum=0)
    x, y = load_digits(return_X_y=True)
    keep = (y == c0) | (y == c1)
    x, y = x[keep], np.where(y[keep] == c0, 1.0, -1.0)
    xtr, xte, ytr, yte = train_test_split(x, y, test_size=test_fraction, random_state=seed,
                                          stratify=y)
    xtr, xte = _center_unit_rows(xtr, xte)
    return Split(Dataset(xtr, ytr.astype(np.float32)), Dataset(xte, yte.astype(np.float32)))


def load_digits_unit(*, per_class: int | None = None, test_fraction: float = 0.3,
                     seed: int = 0) -> Split:
    """All ten classes of the bundled digits, centred and with unit-norm rows, int64 labels.

    ``per_class`` (optional) keeps at most that many training images of each class (the first
    ones after the stratified split), for smaller demonstrations.
    """
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    test_fraction = check_real("test_fraction", test_fraction, low=0.0, high=1.0,
                               low_inclusive=False, high_inclusive=False)
    seed = check_positive_int("seed", seed, minimum=0)
    if per_class is not None:
        per_class = check_positive_int("per_class", per_class)
    x, y = load_digits(return_X_y=True)
    xtr, xte, ytr, yte = train_test_split(x, y, test_size=test_fraction, random_state=seed,
                                          stratify=y)
    if per_class is not None:
        idx = np.concatenate([np.flatnonzero(ytr == c)[:per_class] for c in range(10)])
        idx.sort()
        xtr, ytr = xtr[idx], ytr[idx]
    xtr, xte = _center_unit_rows(xtr, xte)
    return Split(Dataset(xtr, ytr.astype(np.int64)), Dataset(xte, yte.astype(np.int64)))


def two_blobs(n: int = 200, dim: int = 10, *, separation: float = 2.0, seed: int = 0) -> Dataset:
    """Two Gaussian blobs with means at +-``separation``/2 along a random unit vector, unit
    covariance, every row then scaled to unit norm; labels float32 +1/-1 (balanced)."""
    n = check_positive_int("n", n, minimum=2)
    dim = check_positive_int("dim", dim)
    separation = check_real("separation", separation, low=0.0)
    seed = check_positive_int("seed", seed, minimum=0)
    rng = np.random.default_rng(seed)
    u = rng.standard_normal(dim)
    u /= np.linalg.norm(u)
    y = np.where(np.arange(n) % 2 == 0, 1.0, -1.0)
    x = 0.5 * separation * y[:, None] * u + rng.standard_normal((n, dim))
    nrm = np.linalg.norm(x, axis=1, keepdims=True)
    x = x / np.where(nrm > 0, nrm, 1.0)
    return Dataset(x.astype(np.float32), y.astype(np.float32))

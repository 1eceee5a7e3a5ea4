import gzip
import urllib.error

import numpy as np
import pytest

from mftheory import data


def test_gaussian_mixture_is_balanced_reproducible_and_separable():
    ds = data.gaussian_mixture(n=3000, dim=5, n_classes=3, separation=6.0, seed=1)
    assert ds.x.shape == (3000, 5) and ds.x.dtype == np.float32 and ds.y.dtype == np.int64
    assert np.bincount(ds.y).tolist() == [1000, 1000, 1000]
    again = data.gaussian_mixture(n=3000, dim=5, n_classes=3, separation=6.0, seed=1)
    np.testing.assert_array_equal(ds.x, again.x)
    # With well separated means the nearest class mean classifies almost everything.
    means = np.stack([ds.x[ds.y == k].mean(0) for k in range(3)])
    pred = np.argmin(((ds.x[:, None, :] - means) ** 2).sum(-1), axis=1)
    assert np.mean(pred == ds.y) > 0.98


@pytest.mark.parametrize("kw,match", [
    ({"n": 1, "n_classes": 2}, "`n` must be at least `n_classes`"),
    ({"n_classes": 1}, "`n_classes` must be an integer >= 2"),
    ({"separation": -1.0}, "`separation` must be >= 0"),
    ({"dim": 0}, "`dim` must be an integer >= 1"),
])
def test_gaussian_mixture_bad_input(kw, match):
    with pytest.raises(ValueError, match=match):
        data.gaussian_mixture(**kw)


def test_digits_split_is_standardised_and_stratified():
    split = data.load_digits_split(test_fraction=0.25, seed=0)
    assert len(split.train) + len(split.test) == 1797
    assert split.train.x.shape[1] == 64 and split.train.n_classes == 10
    np.testing.assert_allclose(split.train.x.mean(0), 0, atol=1e-5)
    used = split.train.x.std(0) > 0
    np.testing.assert_allclose(split.train.x.std(0)[used], 1, atol=1e-4)
    assert np.bincount(split.test.y).min() >= 40
    with pytest.raises(ValueError, match="`test_fraction` must be > 0 and < 1"):
        data.load_digits_split(test_fraction=1.0)


def _offline(*args, **kwargs):
    raise urllib.error.URLError("no network in this test")


@pytest.mark.parametrize("loader", [data.load_mnist, data.load_cifar10])
def test_downloaders_fail_offline_with_a_clear_message(loader, monkeypatch, tmp_path):
    monkeypatch.setenv("MFTHEORY_DATA", str(tmp_path))
    monkeypatch.setattr(data.urllib.request, "urlopen", _offline)
    with pytest.raises(data.OfflineError, match="offline") as err:
        loader()
    assert "load_digits_split" in str(err.value) and "gaussian_mixture" in str(err.value)
    assert not any(tmp_path.rglob("*.part"))          # no half-written files left behind


def _write_idx(path, arr):
    header = bytes([0, 0, 8, arr.ndim]) + b"".join(int(s).to_bytes(4, "big") for s in arr.shape)
    with gzip.open(path, "wb") as f:
        f.write(header + arr.astype(np.uint8).tobytes())


def test_mnist_reads_a_cached_copy_without_network(monkeypatch, tmp_path):
    monkeypatch.setenv("MFTHEORY_DATA", str(tmp_path))
    monkeypatch.setattr(data.urllib.request, "urlopen", _offline)
    (tmp_path / "mnist").mkdir()
    rng = np.random.default_rng(0)
    for split, n in (("train", 6), ("test", 4)):
        img, lab = data._MNIST_FILES[split]
        _write_idx(tmp_path / "mnist" / img, rng.integers(0, 256, (n, 28, 28)))
        _write_idx(tmp_path / "mnist" / lab, np.arange(n) % 10)
    split = data.load_mnist()
    assert split.train.x.shape == (6, 784) and split.test.y.tolist() == [0, 1, 2, 3]
    assert 0.0 <= split.train.x.min() and split.train.x.max() <= 1.0


@pytest.mark.parametrize("loader", [data.load_mnist, data.load_cifar10])
def test_download_arguments_are_validated(loader, tmp_path, monkeypatch):
    monkeypatch.setenv("MFTHEORY_DATA", str(tmp_path))
    # 1e308 s overflowed the socket layer with an OverflowError that escaped the offline handler
    with pytest.raises(ValueError, match=r"`timeout` must be > 0 and <= 1e\+06, got 1e\+308"):
        loader(timeout=1e308)
    with pytest.raises(ValueError, match="`flatten` must be True or False, got 'False'"):
        loader(flatten="False")


def test_gaussian_mixture_separation_is_bounded_for_float32_features():
    assert np.all(np.isfinite(data.gaussian_mixture(n=4, separation=1e30).x))
    with pytest.raises(ValueError, match=r"`separation` must be >= 0 and <= 1e\+30"):
        data.gaussian_mixture(n=4, separation=1e308)

import numpy as np
import pytest
import torch

from mftheory import runtime


def test_device_is_cuda_exactly_when_torch_sees_a_gpu():
    assert runtime.device().type == ("cuda" if torch.cuda.is_available() else "cpu")


@pytest.mark.parametrize("ci,override,expected", [
    ("true", "", "small"), ("1", "", "small"), ("true", "full", "full"),
    ("", "small", "small"), ("", "FULL", "full"),
])
def test_scale_follows_ci_and_override(monkeypatch, ci, override, expected):
    monkeypatch.setenv("CI", ci)
    monkeypatch.setenv("MFTHEORY_SCALE", override)
    assert runtime.scale() == expected


def test_scale_without_ci_depends_on_the_gpu(monkeypatch):
    monkeypatch.delenv("CI", raising=False)
    monkeypatch.delenv("MFTHEORY_SCALE", raising=False)
    assert runtime.scale() == ("full" if torch.cuda.is_available() else "small")


def test_bad_scale_override_is_a_value_error(monkeypatch):
    monkeypatch.setenv("MFTHEORY_SCALE", "huge")
    with pytest.raises(ValueError, match="unknown MFTHEORY_SCALE 'huge'; expected one of"):
        runtime.scale()


def test_seed_makes_numpy_and_torch_reproducible():
    rng = runtime.seed(7)
    a = (rng.standard_normal(3), np.random.rand(2), torch.randn(2))
    rng = runtime.seed(7)
    b = (rng.standard_normal(3), np.random.rand(2), torch.randn(2))
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    assert torch.equal(a[2], b[2])


@pytest.mark.parametrize("bad", [-1, 1.5, "3", None])
def test_seed_rejects_non_integers(bad):
    with pytest.raises(ValueError, match="`n` must be an integer >= 0"):
        runtime.seed(bad)


def test_describe_names_device_and_scale():
    line = runtime.describe()
    assert "device" in line and f"scale '{runtime.scale()}'" in line


@pytest.mark.parametrize("bad", [-1, 1.5, "3", None, True, torch.tensor(3), 2 ** 64])
def test_seed_rejects_anything_but_an_integer_in_range(bad):
    with pytest.raises(ValueError, match="`n` must be an integer"):
        runtime.seed(bad)


def test_bad_scale_override_is_a_value_error(monkeypatch):
    monkeypatch.setenv("MFTHEORY_SCALE", "huge")
    with pytest.raises(ValueError, match="unknown MFTHEORY_SCALE 'huge'; expected one of"):
        runtime.scale()

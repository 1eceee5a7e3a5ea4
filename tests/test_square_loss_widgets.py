"""The square-loss explorers: their pure helpers against the theory module, their figures, bad
input, and the redraw time (p95 of 20 redraws on a reused figure, in CPU time of this process so
that other jobs on a shared machine do not count)."""

from __future__ import annotations

import time

import numpy as np
import pytest

mpl = pytest.importorskip("matplotlib")
mpl.use("Agg")

from mftheory import data  # noqa: E402
from mftheory import squareloss as sl  # noqa: E402
from mftheory.widgets import square_loss as wsl  # noqa: E402


@pytest.fixture(autouse=True)
def _close_figures():
    import matplotlib.pyplot as plt

    yield
    plt.close("all")


@pytest.fixture(scope="module")
def binary_history():
    import os

    os.environ.setdefault("CI", "1")
    d = data.two_blobs(n=40, dim=8, separation=3.0, seed=1)
    net = sl.init_frobenius_(sl.HomogeneousMLP([8, 16, 16, 1], bn=True), 1.0, seed=1)
    return sl.train_square_loss(net, d.x, d.y, steps=100, lr=0.02, momentum=0.9, wd=0.01,
                                log_every=10)


@pytest.fixture(scope="module")
def collapse_runs():
    d = data.gaussian_mixture(60, 6, 3, separation=4.0, seed=0)
    x = d.x / np.linalg.norm(d.x, axis=1, keepdims=True)
    net = sl.init_frobenius_(sl.HomogeneousMLP([6, 16, 16, 3], bn=True), 1.0)
    h = sl.train_square_loss(net, x, d.y, steps=60, lr=0.01, momentum=0.9, log_every=20,
                             nc_every=20, progress=False)
    import torch

    with torch.no_grad():
        feats = net.features(torch.as_tensor(x)).numpy()
    return {"wd = 0": (h.t[: len(h.nc)], [n["nc1"] for n in h.nc], feats, d.y)}


def p95_redraw_cpu(draw, n=20, **kw):
    fig = draw(**kw)
    fig.canvas.draw()
    times = []
    for _ in range(n):
        t0 = time.process_time()
        draw(fig=fig, **kw)
        fig.canvas.draw()
        times.append(time.process_time() - t0)
    return float(np.percentile(times, 95))


def test_rho_ode_curves_match_the_theory():
    t, r_un, r_n, t_half = wsl.rho_ode_curves(depth=4, log10_eps=-4, a=1.0, b=1.0, lam=0.5)
    assert t_half == pytest.approx(sl.escape_time(1e-4, 4, 1.0, 1.0))
    np.testing.assert_allclose(r_n, sl.rho_normalized_closed_form(1e-4, 1.0, 1.0, 0.5, t))
    i = np.searchsorted(t, t_half)
    assert r_un[i - 1] < 0.5 <= r_un[i] + 1e-9          # rho crosses a/(2b) at t_half
    assert r_un[-1] == pytest.approx(1.0, rel=0.02) and r_n[-1] == pytest.approx(1 / 1.5)


def test_draw_rho_ode_axes():
    fig = wsl.draw_rho_ode()
    ax, bx = fig._mftheory_axes
    assert len(ax.lines) == 5 and "escape time" in ax.get_title()
    assert len(bx.lines) == 5 + 4 + 1                 # exact L=2..6, asymptotic L=3..6, point


def test_draw_training_and_constraint(binary_history):
    fig = wsl.draw_training(binary_history, label="x")
    axes = fig._mftheory_axes
    assert len(axes) == 4 and len(axes[0].lines) == 2
    fig = wsl.draw_constraint("projection", depth=4, p=5, align_x=True)
    assert "max residual" in fig._mftheory_axes[0].get_title()


def test_pca_2d_recovers_the_leading_axes():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((200, 3)) * [5.0, 2.0, 0.1]
    p = wsl.pca_2d(x)
    assert p.shape == (200, 2)
    np.testing.assert_allclose(p.std(0), x.std(0)[:2], rtol=0.1)
    np.testing.assert_allclose(p.mean(0), 0.0, atol=1e-12)


def test_draw_collapse(collapse_runs):
    fig = wsl.draw_collapse(collapse_runs)
    ax, bx = fig._mftheory_axes
    assert len(ax.lines) == 1 and len(bx.collections) == 1


@pytest.mark.parametrize("call,match", [
    (lambda: wsl.rho_ode_curves(depth=1), "depth"),
    (lambda: wsl.rho_ode_curves(log10_eps=0.0), "log10_eps"),
    (lambda: wsl.rho_ode_curves(a="1"), "a"),
    (lambda: wsl.draw_training("history"), "History"),
    (lambda: wsl.draw_collapse([]), "runs"),
    (lambda: wsl.draw_collapse({"a": ([0], [1.0, 2.0], np.ones((3, 2)), [0, 1, 1])}), "same"),
    (lambda: wsl.draw_constraint("unitary"), "kind"),
    (lambda: wsl.draw_constraint(p=100), "p"),
    (lambda: wsl.draw_constraint(align_x="no"), "align_x"),
    (lambda: wsl.pca_2d(np.ones(3)), "features")])
def test_bad_input(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_explorers_build():
    pytest.importorskip("ipywidgets")
    assert wsl.rho_ode_explorer() is not None and wsl.constraint_explorer() is not None
    d = data.two_blobs(n=20, dim=64, seed=0)
    assert wsl.training_explorer(d.x, d.y) is not None
    assert wsl.collapse_explorer(d.x, (np.arange(20) % 10)) is not None


@pytest.mark.parametrize("name", ["rho_ode", "constraint", "training", "collapse"])
def test_redraw_time(name, binary_history, collapse_runs):
    draw, kw = {"rho_ode": (wsl.draw_rho_ode, {}),
                "constraint": (wsl.draw_constraint, {}),
                "training": (wsl.draw_training, {"history": binary_history}),
                "collapse": (wsl.draw_collapse, {"runs": collapse_runs})}[name]
    assert p95_redraw_cpu(draw, **kw) < 0.1

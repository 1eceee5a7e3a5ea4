"""The teacher-student explorers: their data functions against the package, their figures, bad
input, and the update time (p95 over 20 redraws on a reused figure)."""

from __future__ import annotations

import math
import time

import numpy as np
import pytest

mpl = pytest.importorskip("matplotlib")
mpl.use("Agg")

from mftheory import teacher as T  # noqa: E402
from mftheory.widgets import teacher_student as W  # noqa: E402


@pytest.fixture(autouse=True)
def _close_figures():
    import matplotlib.pyplot as plt

    yield
    plt.close("all")


def test_bn_projection_data():
    d = W.bn_projection_data()
    assert abs(d["ones_g"]) < 1e-12 and abs(d["f_g"]) < 1e-12
    assert abs(d["fhat"] @ d["g"]) < 1e-12                  # g on the normal of f-hat in 1-perp
    leak = W.bn_projection_data(f1=0.0, f2=0.01, f3=0.02, eps=1e-5)
    assert abs(leak["ones_g"]) < 1e-12 and abs(leak["f_g"]) > 1e-3
    with pytest.raises(ValueError, match="equal"):
        W.bn_projection_data(f1=1.0, f2=1.0, f3=1.0)


def test_lossiness_data():
    exact = W.lossiness_data("exact", 0.0)
    assert np.all(exact["errors"] < 1e-12)
    np.testing.assert_array_equal(exact["D_data"], exact["D_hard"])
    noisy = W.lossiness_data("exact", 0.2)
    assert np.all(noisy["errors"] > 1e-3)
    assert np.all((noisy["D_data"] > 0) & (noisy["D_data"] < 1) | (noisy["D_data"] % 1 == 0))


def test_hypercube_data():
    h = W.hypercube_data(4, 1)
    np.testing.assert_allclose(h["linear"], h["formula"], atol=1e-8)
    np.testing.assert_allclose(np.maximum(h["F_raw"], 0), np.eye(16), atol=1e-12)
    h2 = W.hypercube_data(6, 2)
    np.testing.assert_allclose(h2["linear"], h2["formula"], atol=1e-8)
    with pytest.raises(ValueError):
        W.hypercube_data(5, 2)


@pytest.mark.parametrize("seed", range(2))
@pytest.mark.parametrize("rank", [1, 2, 3])
def test_fast_vertices_agree_with_linear_programs(seed, rank):
    d = W.vertices_data(m=14, rank=rank, seed=seed)
    lp = [T.is_vertex(d["PF"], i) for i in range(14)]
    np.testing.assert_array_equal(d["vert_PF"], lp)
    np.testing.assert_array_equal(d["vert_P"], [T.is_vertex(d["P"], i) for i in range(14)])
    if rank > 1:                                          # Theorem 7 and injectivity on the plane
        np.testing.assert_array_equal(d["vert_P"], d["vert_PF"])
    else:
        assert d["vert_PF"].sum() == 2


def test_overfitting_data():
    d = W.overfitting_data(n=400, trials=4000)
    se = np.abs(d["eps"]).std() / math.sqrt(4000)
    assert abs(d["mean_abs"] - d["predicted"]) < 5 * se
    assert abs(d["win_fraction"] - d["win_normal"]) < 0.03


@pytest.mark.parametrize("draw,kw", [
    (W.draw_bn_projection, {"eps": -1.0}), (W.draw_lossiness, {"kind": "xor"}),
    (W.draw_lossiness, {"q": 0.7}), (W.draw_hypercube, {"d": 9}), (W.draw_vertices, {"rank": 4}),
    (W.draw_disentangle, {"coupling": 2.0}), (W.draw_overfitting, {"n": 0}),
    (W.draw_energy, {"order": "bn-first"}), (W.draw_energy, {"eta": math.nan})])
def test_draws_reject_bad_input(draw, kw):
    with pytest.raises(ValueError):
        draw(**kw)


DRAWS = [("draw_bn_projection", {}), ("draw_bn_projection", {"eps": 0.1}),
         ("draw_lossiness", {}), ("draw_lossiness", {"kind": "or", "q": 0.0}),
         ("draw_hypercube", {}), ("draw_hypercube", {"d": 8}), ("draw_vertices", {}),
         ("draw_vertices", {"rank": 1, "m": 30}), ("draw_disentangle", {}),
         ("draw_disentangle", {"coupling": 0.0, "w_prime": 0.0}), ("draw_overfitting", {}),
         ("draw_energy", {}), ("draw_energy", {"order": "none"})]


@pytest.mark.parametrize("name,kw", DRAWS)
def test_redraw_reuses_axes(name, kw):
    draw = getattr(W, name)
    fig = draw(**kw)
    n_axes = len(fig.axes)
    counts = [(len(a.lines), len(a.patches), len(a.images)) for a in fig.axes]
    draw(fig=fig, **kw)
    assert len(fig.axes) == n_axes
    assert [(len(a.lines), len(a.patches), len(a.images)) for a in fig.axes] == counts


@pytest.mark.parametrize("name,kw", DRAWS[::2] + [DRAWS[5]])
def test_update_time(name, kw):
    # p95 of 20 updates (computation + canvas draw on the reused figure), measured as this
    # process's CPU time so that other jobs on a shared machine count as little as possible.
    # Measured on the 2-core development machine while it ran 6-7 other jobs: p95 40-85 ms
    # (medians 35-55 ms). A second series is taken if the first misses (a burst of load).
    draw = getattr(W, name)
    fig = draw(**kw)
    fig.canvas.draw()

    def p95():
        times = []
        for _ in range(20):
            t0 = time.process_time()
            draw(fig=fig, **kw)
            fig.canvas.draw()
            times.append(time.process_time() - t0)
        return np.percentile(times, 95)

    first = p95()
    assert first < 0.1 or p95() < 0.1


def test_explorers_build():
    pytest.importorskip("ipywidgets")
    for build in (W.bn_projection_explorer, W.lossiness_explorer, W.hypercube_explorer,
                  W.vertices_explorer, W.disentangle_explorer, W.overfitting_explorer,
                  W.energy_explorer):
        assert build().children

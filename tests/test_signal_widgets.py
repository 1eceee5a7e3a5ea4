"""The signal-propagation explorers: their data helpers against known values, their figures
(axes, lines, degenerate cases) and their redraw time."""

from __future__ import annotations

import math

import numpy as np
import pytest

mpl = pytest.importorskip("matplotlib")
mpl.use("Agg")

from mftheory import nets, signal  # noqa: E402
from mftheory.widgets import signal_propagation as sp  # noqa: E402


@pytest.fixture(autouse=True)
def _close_figures():
    import matplotlib.pyplot as plt

    yield
    plt.close("all")


# --------------------------------------------------------------------------------------
# cobweb_path
# --------------------------------------------------------------------------------------
def test_cobweb_path_tanh_reference_iterates():
    # note C.5.1: nu^k(1), k = 1..6, at (1.5, 0.05), 6 significant digits -> rtol 1e-5; the 'fast'
    # rule is good to ~1e-8 for q <= 10, far below that.
    x, y = sp.cobweb_path("tanh", 1.0, 1.5, 0.05, 6)
    assert x.shape == y.shape == (13,)
    q = x[::2]
    np.testing.assert_array_equal(y[::2], q)                  # on the diagonal
    np.testing.assert_array_equal(x[1::2], q[:-1])            # vertical steps ...
    np.testing.assert_array_equal(y[1::2], q[1:])             # ... up to nu(q_k) = q_{k+1}
    ref = [1.0, 0.641442, 0.523058, 0.471557, 0.446370, 0.433330, 0.426376]
    np.testing.assert_allclose(q, ref, rtol=1e-5)


def test_cobweb_path_relu_is_the_affine_map():
    # ReLU: nu(q) = sigma_w2 q / 2 + sigma_b2 in closed form; only rounding differs (1e-12)
    x, _ = sp.cobweb_path("relu", 3.0, 1.5, 0.05, 10)
    q = [3.0]
    for _ in range(10):
        q.append(1.5 * q[-1] / 2 + 0.05)
    np.testing.assert_allclose(x[::2], q, rtol=1e-12)
    x, _ = sp.cobweb_path("relu", 0.0, 1.0, 0.0, 3)         # q = 0 is fixed without bias
    np.testing.assert_array_equal(x, 0.0)


@pytest.mark.parametrize("kw,match", [
    ({"act": "sigmoid"}, "activation"), ({"sigma_w2": 0.0}, "sigma_w2"),
    ({"sigma_b2": -0.1}, "sigma_b2"), ({"q0": -1.0}, "q0"), ({"q0": math.nan}, "q0"),
    ({"n_steps": 2.5}, "n_steps"), ({"n_steps": -1}, "n_steps")])
def test_cobweb_path_rejects_bad_input(kw, match):
    args = {"act": "tanh", "q0": 1.0, "sigma_w2": 1.5, "sigma_b2": 0.05, "n_steps": 3} | kw
    with pytest.raises(ValueError, match=match):
        sp.cobweb_path(**args)


# --------------------------------------------------------------------------------------
# fixed_points_on
# --------------------------------------------------------------------------------------
def test_fixed_points_tanh_reference():
    # note C.5.1: q* = 0.418037, a = nu'(q*) = 0.551983 at (1.5, 0.05); 6 digits -> rtol 1e-5
    (p,) = sp.fixed_points_on("tanh", 1.5, 0.05, 3.0)
    assert p.stable
    np.testing.assert_allclose([p.q, p.slope], [0.418037, 0.551983], rtol=1e-5)


def test_fixed_points_tanh_without_bias_has_two():
    # sigma_b2 = 0, sigma_w2 = 2 > 1: q = 0 is repelling (slope sigma_w2 phi'(0)^2 = 2) and
    # q* = 0.617965 (note C.5.1) attracts
    pts = sp.fixed_points_on("tanh", 2.0, 0.0, 3.0)
    assert [p.stable for p in pts] == [False, True]
    assert pts[0].q == 0.0
    np.testing.assert_allclose(pts[0].slope, 2.0, rtol=1e-8)
    np.testing.assert_allclose(pts[1].q, 0.617965, rtol=1e-5)


def test_fixed_points_marginal_zero_attracts():
    # tanh at (1, 0): nu'(0) = 1, but nu(q) < q for q > 0, so 0 attracts (power-law); the
    # slope test alone could not tell
    (p,) = sp.fixed_points_on("tanh", 1.0, 0.0, 2.0)
    assert p.q == 0.0 and p.stable
    np.testing.assert_allclose(p.slope, 1.0, rtol=1e-8)


@pytest.mark.parametrize("sw2,sb2,expected", [
    (1.5, 0.05, [(0.2, True)]),          # q* = sigma_b2 / (1 - sigma_w2/2), note C.5.1
    (1.9, 0.05, [(1.0, True)]),
    (3.0, 0.0, [(0.0, False)]),          # only q = 0, repelling: lengths grow
    (3.0, 0.1, []),                      # unbounded: no fixed point
    (2.0, 0.0, []),                      # nu(q) = q: a continuum, no isolated fixed point
])
def test_fixed_points_relu_closed_form(sw2, sb2, expected):
    pts = sp.fixed_points_on("relu", sw2, sb2, 5.0)
    assert [p.stable for p in pts] == [s for _, s in expected]
    np.testing.assert_allclose([p.q for p in pts], [q for q, _ in expected], rtol=1e-10, atol=1e-14)
    for p in pts:                        # slope of the affine map: sigma_w2 / 2 everywhere
        np.testing.assert_allclose(p.slope, sw2 / 2, rtol=1e-12)


def test_fixed_points_erf_and_linear():
    (p,) = sp.fixed_points_on("erf", 2.0, 0.1, 4.0)          # note C.5.1: q* = 1.04626
    np.testing.assert_allclose(p.q, 1.04626, rtol=1e-5)
    (p,) = sp.fixed_points_on("linear", 0.5, 0.2, 4.0)       # q* = 0.2 / (1 - 0.5)
    np.testing.assert_allclose(p.q, 0.4, rtol=1e-12)
    assert sp.fixed_points_on("linear", 0.5, 0.2, 0.3) == []  # q* = 0.4 lies beyond qmax


def test_fixed_points_agree_with_signal_fixed_point():
    # the grid search and signal.fixed_point (accurate rule) find the same attracting q*
    for act, sw2, sb2 in [("tanh", 2.5, 0.05), ("tanh", 4.0, 0.3), ("erf", 1.2, 0.5)]:
        stable = [p for p in sp.fixed_points_on(act, sw2, sb2, sw2 + sb2 + 1) if p.stable]
        assert len(stable) == 1
        np.testing.assert_allclose(stable[0].q, signal.fixed_point(act, sw2, sb2).q_star, rtol=1e-7)


@pytest.mark.parametrize("kw,match", [
    ({"act": "gelu"}, "activation"), ({"sigma_w2": -1.0}, "sigma_w2"), ({"sigma_b2": math.inf}, "sigma_b2"),
    ({"qmax": 0.0}, "qmax"), ({"qmax": "3"}, "qmax")])
def test_fixed_points_rejects_bad_input(kw, match):
    args = {"act": "tanh", "sigma_w2": 1.5, "sigma_b2": 0.05, "qmax": 3.0} | kw
    with pytest.raises(ValueError, match=match):
        sp.fixed_points_on(**args)


# --------------------------------------------------------------------------------------
# Figures
# --------------------------------------------------------------------------------------
def _error_bars(ax):
    return len(ax.containers)


def test_draw_cobweb_default_figure_matches_its_data():
    fig = sp.draw_cobweb()
    (ax,) = fig.axes
    assert len(ax.lines) == 5          # nu, diagonal, cobweb, stable and unstable fixed points
    x, y = sp.cobweb_path("tanh", 3.0, 2.5, 0.05, 12)
    np.testing.assert_array_equal(ax.lines[2].get_xdata(), x)
    np.testing.assert_array_equal(ax.lines[2].get_ydata(), y)
    stable = ax.lines[3].get_xdata()
    np.testing.assert_allclose(stable, [1.06396], rtol=1e-5)    # note C.5.1 q*
    assert len(ax.lines[4].get_xdata()) == 0
    assert "q^*$ = 1.064" in ax.get_title()


def test_draw_cobweb_unbounded_and_marginal_cases_say_so():
    fig = sp.draw_cobweb("relu", 3.0, 0.2, q0=1.0)
    ax = fig.axes[0]
    assert "no fixed point" in ax.get_title() and "grows without bound" in ax.get_title()
    assert len(ax.lines[3].get_xdata()) == len(ax.lines[4].get_xdata()) == 0
    fig = sp.draw_cobweb("relu", 2.0, 0.0, fig=fig)
    assert "every q is a fixed point" in fig.axes[0].get_title()
    fig = sp.draw_cobweb("tanh", 2.0, 0.0, q0=0.3, fig=fig)      # 0 open, q* filled
    ax = fig.axes[0]
    assert list(ax.lines[4].get_xdata()) == [0.0]
    np.testing.assert_allclose(ax.lines[3].get_xdata(), [0.617965], rtol=1e-5)


def test_draw_cmap_default_and_degenerate_cases():
    fig = sp.draw_cmap()
    ax1, ax2 = fig.axes
    assert len(ax1.lines) == 5 and len(ax2.lines) == 2   # map, diagonal, tangent, 2 markers | c_k, c*
    assert "1.134" in ax1.get_title()                     # chi1 = 1.13352 (note C.5.1)
    np.testing.assert_allclose(ax1.lines[3].get_xdata(), [0.446804], rtol=1e-5)   # c*, stable
    assert list(ax1.lines[4].get_xdata()) == [1.0]                                 # c = 1 unstable
    np.testing.assert_allclose(ax2.lines[0].get_ydata(),
                               signal.c_iterates("tanh", 0.9, 2.5, 0.05, 30, rule="fast"))
    # slope of the drawn tangent at c = 1 is chi1 (accurate: 1.13352)
    (t0, t1), (s0, s1) = ax1.lines[2].get_xdata(), ax1.lines[2].get_ydata()
    np.testing.assert_allclose((s1 - s0) / (t1 - t0), 1.13352, rtol=1e-5)
    # unbounded ReLU: no q*, no fixed point marked, no c* line
    fig = sp.draw_cmap("relu", 3.0, 0.2, c0=0.0, fig=fig)
    ax1, ax2 = fig.axes
    assert "no $q^*$" in ax1.get_title()
    assert len(ax1.lines[3].get_xdata()) == len(ax1.lines[4].get_xdata()) == 0
    assert len(ax2.lines) == 1
    ck = ax2.lines[0].get_ydata()
    assert np.all(np.diff(ck) > 0) and ck[-1] < 1.0       # correlations still approach 1
    # q* = 0 (tanh without bias, sigma_w2 < 1): the identity limit map is labelled
    fig = sp.draw_cmap("tanh", 0.8, 0.0, c0=0.5, fig=fig)
    assert "q^*$ = 0" in fig.axes[0].get_title()
    np.testing.assert_allclose(fig.axes[1].lines[0].get_ydata(), 0.5)


def test_draw_phase_grid_is_cached_and_figure_complete():
    pd = sp.phase_grid("tanh")
    assert sp.phase_grid("tanh") is pd
    assert pd.chi1.shape == (sp.SB2_GRID.size, sp.SW2_GRID.size)
    fig = sp.draw_phase()
    ax1, ax2, cbar = fig.axes
    assert len(ax1.lines) == 1 and len(ax1.images) == 1 and len(ax1.collections) >= 1   # contour
    assert len(ax2.lines) == 4          # xi_q, xi_c, critical line, current point
    np.testing.assert_allclose(ax2.lines[2].get_xdata()[0], 1.76095, rtol=1e-5)
    np.testing.assert_allclose(ax2.lines[3].get_ydata(), [1.17987, 11.7956], rtol=1e-5)
    assert "1.18" in ax2.get_title() and "11.8" in ax2.get_title()
    # off-grid sigma_b2: a row computed on the fly agrees with the grid's neighbours' bracket
    fig = sp.draw_phase("tanh", 1.5, 0.0371, fig=fig)
    assert len(fig.axes) == 3                                  # the colour bar is reused
    assert len(fig.axes[1].lines) == 4
    crit = fig.axes[1].lines[2].get_xdata()[0]
    assert signal.critical_sigma_w2("tanh", 0.025) < crit < signal.critical_sigma_w2("tanh", 0.05)


def test_draw_simulation_overlays_theory_on_the_runs():
    fig = sp.draw_simulation(width=100, depth=8)
    ax1, ax2, ax3 = fig.axes
    assert [_error_bars(a) for a in fig.axes] == [1, 1, 1]
    sim = nets.simulate("tanh", 2.5, 0.05, width=100, depth=8, n_seeds=3, seed=0, device="cpu")
    qt, ct = signal.trajectory("tanh", 2.5, 0.05, 8, rule="fast")
    np.testing.assert_allclose(ax1.lines[0].get_ydata(), qt)
    np.testing.assert_allclose(ax2.lines[0].get_ydata(), ct)
    np.testing.assert_allclose(ax1.containers[0][0].get_ydata(), sim.mean("q"))
    np.testing.assert_allclose(ax3.containers[0][0].get_ydata(), sim.grad_ratio().mean(axis=0))
    assert ax3.lines[1].get_ydata()[0] == pytest.approx(1.13352, rel=1e-5)     # chi1 line


def test_draw_simulation_restores_torch_threads():
    torch = pytest.importorskip("torch")
    n = torch.get_num_threads()
    sp.draw_simulation(width=20, depth=3)
    assert torch.get_num_threads() == n


def test_redraw_does_not_accumulate_artists():
    for draw, kw in [(sp.draw_cobweb, {}), (sp.draw_cmap, {}), (sp.draw_phase, {}),
                     (sp.draw_simulation, {"width": 50, "depth": 4})]:
        fig = draw(**kw)
        counts = [(len(a.lines), len(a.collections), len(a.containers)) for a in fig.axes]
        for _ in range(2):
            draw(fig=fig, **kw)
        assert [(len(a.lines), len(a.collections), len(a.containers)) for a in fig.axes] == counts


@pytest.mark.parametrize("draw,kw", [
    (sp.draw_cobweb, {"act": "sigmoid"}), (sp.draw_cmap, {"sigma_w2": 0.0}),
    (sp.draw_phase, {"sigma_b2": -0.5}), (sp.draw_simulation, {"width": 0}),
    (sp.draw_cmap, {"c0": 1.5}), (sp.draw_cobweb, {"q0": math.nan})])
def test_draws_reject_bad_input(draw, kw):
    with pytest.raises(ValueError):
        draw(**kw)


@pytest.mark.parametrize("name,kw", [("draw_cobweb", {}), ("draw_cmap", {}), ("draw_phase", {}),
                                     ("draw_simulation", {}),
                                     ("draw_cobweb", {"act": "relu", "sigma_w2": 3.0}),
                                     ("draw_phase", {"act": "erf", "sigma_w2": 1.2})])
def test_redraw_time(name, kw):
    # The target is well under 0.2 s per compute + redraw on a reused figure. Measured on the 2-core
    # development machine: cobweb ~0.06 s, c-map ~0.1 s, phase ~0.1 s (the first tanh phase
    # diagram ~0.5-1 s, then cached), simulation (width 300, depth 20, 3 seeds) ~0.15 s. The bound
    # 0.5 s leaves room for a busy CI machine; the best of three repeats removes one-off hiccups,
    # and CPU time (not wall time) ignores the other jobs sharing the cores.
    import time

    draw = getattr(sp, name)
    fig = draw(**kw)
    fig.canvas.draw()
    times = []
    for _ in range(3):
        t0 = time.process_time()
        draw(fig=fig, **kw)
        fig.canvas.draw()
        times.append(time.process_time() - t0)
    assert min(times) < 0.5


def test_explorers_build():
    pytest.importorskip("ipywidgets")
    for build in (sp.cobweb_explorer, sp.cmap_explorer, sp.phase_explorer, sp.simulation_explorer):
        box = build()
        assert box.children                         # controls and the output area


# --------------------------------------------------------------------------------------
# Update time over a slider sweep: p95 of 20 updates on a reused figure
# --------------------------------------------------------------------------------------
def _p95_update_time(draw, sweep):
    """p95 of the CPU time (process time: robust to other jobs on a shared machine) of
    ``draw(fig=fig, **kw)`` plus a canvas draw, over the slider values ``sweep``."""
    import time

    fig = draw(**sweep[0])
    fig.canvas.draw()
    times = []
    for kw in sweep:
        t0 = time.process_time()
        draw(fig=fig, **kw)
        fig.canvas.draw()
        times.append(time.process_time() - t0)
    return float(np.percentile(times, 95))


# slider positions (steps of 0.025, as the explorers' sliders move; sigma_b2 on the cached rows)
_SW2_SWEEP = [{"sigma_w2": float(w)} for w in sp.SW2_GRID[::9]]             # 21 values
_SB2_SWEEP = [{"sigma_b2": float(b)} for b in sp.SB2_GRID[::2]]             # 21 values


@pytest.mark.parametrize("name, sweep", [
    ("draw_cobweb", _SW2_SWEEP), ("draw_cmap", _SW2_SWEEP), ("draw_phase", _SB2_SWEEP),
])
def test_update_time_p95_over_a_slider_sweep(name, sweep):
    # Measured on the shared 2-core machine (CPU time per update, p95 of 21): cobweb 0.08 s,
    # c-map 0.11-0.14 s, phase 0.10-0.12 s, of which the matplotlib canvas draw of the panels is
    # 0.03-0.08 s; the theory is cached or vectorised. CPU time still inflates when other jobs
    # compete for the cores, so the bound, 0.4 s, guards against regressions, not the target.
    assert _p95_update_time(getattr(sp, name), sweep) < 0.4

"""Explorers for the chapter on gradient descent.

Each explorer has a ``draw_*`` function (pure computation from :mod:`mftheory.optim` plus the
redraw on a given figure; timed in the tests) and a builder that wires ipywidgets sliders to
it. The chapter's static figures are the record for the website.
"""

from __future__ import annotations

import functools

import numpy as np
from matplotlib.collections import LineCollection
from matplotlib.ticker import NullLocator

from .. import optim
from .._validate import check_bool, check_positive_int, check_real
from ..plotting import PALETTE
from ._base import explorer, reusable_figure

__all__ = ["draw_quadratic", "quadratic_explorer", "draw_saddle", "saddle_explorer",
           "draw_descent", "descent_explorer", "draw_double_well", "double_well_explorer"]


# Redraw speed: labels are plain Unicode text (mathtext layout costs milliseconds per label) and
# log axes have no minor ticks; the saddle's contour lines are computed once.


def _no_minor(ax):
    ax.yaxis.set_minor_locator(NullLocator())


@functools.lru_cache(maxsize=1)
def _saddle_contours():
    import contourpy

    u = np.linspace(-1.3, 1.3, 101)
    X, Y = np.meshgrid(u, u)
    Z = optim.saddle(np.stack([X, Y]))[0]
    gen = contourpy.contour_generator(X, Y, Z, line_type="Separate")
    levels = np.linspace(Z.min(), Z.max(), 22)[1:-1]
    return [line for lev in levels for line in gen.lines(lev)]


def _fig(fig, ncols, width=10.0):
    return reusable_figure(fig, ncols, width, 3.4, bottom=0.16, top=0.9, wspace=0.35)


def draw_quadratic(log10_kappa=2.0, alpha_factor=1.0, beta=0.5, polyak=True, n_steps=100,
                   fig=None):
    """Contours with GD/HB paths, error vs n with rho^n lines, and the (alpha, beta) stability map.

    ``polyak=True`` uses Polyak's optimal (alpha, beta) (GD then uses 2/(mu+L)); otherwise GD and
    HB use alpha = alpha_factor * 2/(mu+L) and the given beta. Accepted: ``log10_kappa`` in
    [0, 8], ``alpha_factor`` > 0, ``beta`` in [0, 1), ``n_steps`` in 1..100000.
    """
    log10_kappa = check_real("log10_kappa", log10_kappa, low=0.0, high=8.0)
    alpha_factor = check_real("alpha_factor", alpha_factor, low=0.0, low_inclusive=False)
    beta = check_real("beta", beta, low=0.0, high=1.0, high_inclusive=False)
    polyak = check_bool("polyak", polyak)
    n_steps = check_positive_int("n_steps", n_steps, maximum=100_000)
    kappa = 10.0 ** log10_kappa
    if polyak:
        a_gd, _ = optim.gd_optimal_step(1.0, kappa)
        a_hb, b, _ = optim.polyak_heavy_ball(1.0, kappa)
    else:
        a_gd = a_hb = alpha_factor * optim.gd_optimal_step(1.0, kappa)[0]
        b = beta
    x0 = (1.0, 1.0 / np.sqrt(kappa))          # equal energy in both eigen-directions
    r_gd = optim.quadratic_race(kappa, a_gd, 0.0, n_steps, x0)
    r_hb = optim.quadratic_race(kappa, a_hb, b, n_steps, x0)
    fig, (ax1, ax2, ax3) = _fig(fig, 3, 12.0)
    t = np.linspace(0, 2 * np.pi, 60)
    for rad in (0.25, 0.5, 0.75, 1.0, 1.25):            # level sets are circles in (x1, sqrt(k) x2)
        ax1.plot(rad * np.cos(t), rad * np.sin(t), color="0.85", lw=0.7)
    for x, lab, col in [(r_gd.gd.x, "GD", PALETTE["blue"]), (r_hb.hb.x, "heavy ball", PALETTE["orange"])]:
        x = x[np.all(np.abs(x) < 10, axis=1)]
        ax1.plot(x[:, 0], np.sqrt(kappa) * x[:, 1], ".-", ms=3, lw=0.8, color=col, label=lab)
    ax1.set(xlim=(-1.3, 1.3), ylim=(-1.3, 1.3), xlabel="x₁", ylabel="√κ x₂")
    ax1.legend(fontsize=8)
    n = np.arange(n_steps + 1)
    for e, rate, lab, col in [(r_gd.error_gd, r_gd.rate_gd, "GD", PALETTE["blue"]),
                              (r_hb.error_hb, r_hb.rate_hb, "heavy ball", PALETTE["orange"])]:
        ax2.semilogy(n, e, "o", ms=2.5, color=col, label=f"{lab} (simulation)")
        ax2.semilogy(n, e[0] * rate ** n, "-", color=col, lw=1, label=f"theory ρⁿ, ρ = {rate:.3f}")
    ax2.set(xlabel="iteration n", ylabel="|xₙ|", ylim=(1e-12, 1e3))
    _no_minor(ax2)
    ax2.legend(fontsize=7)
    al = np.linspace(1e-3, 2.2 * 2 / (1 + kappa) * 2, 120)
    be = np.linspace(0, 0.99, 100)
    A, B = np.meshgrid(al, be)
    rad = np.maximum(optim.heavy_ball_spectral_radius(A, B, 1.0),
                     optim.heavy_ball_spectral_radius(A, B, kappa))
    im = ax3.imshow(np.minimum(rad, 1.2), origin="lower", aspect="auto", cmap="viridis",
                    extent=(al[0] * kappa, al[-1] * kappa, be[0], be[-1]))
    ax3.plot(2 * (1 + be), be, color="w", lw=1)             # Jury: alpha M = 2 (1 + beta)
    ax3.plot([a_hb * kappa], [b], "*", color=PALETTE["orange"], ms=10)
    ax3.set(xlabel="αM", ylabel="β", title="HB spectral radius (white: 1)")
    if not hasattr(fig, "_mftheory_cbar"):
        fig._mftheory_cbar = fig.colorbar(im, ax=ax3)
    else:
        fig._mftheory_cbar.update_normal(im)
    return fig


def quadratic_explorer():
    """Sliders: log10 kappa, alpha (times 2/(mu+L)), beta; toggle Polyak's optimal parameters."""
    import ipywidgets as w

    return _explorer(draw_quadratic, 12.0,
                         log10_kappa=w.FloatSlider(2.0, min=0.0, max=4.0, step=0.1),
                         alpha_factor=w.FloatSlider(1.0, min=0.1, max=1.5, step=0.05),
                         beta=w.FloatSlider(0.5, min=0.0, max=0.99, step=0.01),
                         polyak=w.Checkbox(True, description="Polyak optimal"))


def draw_saddle(log10_y0=-6.0, alpha=0.1, n_steps=None, fig=None):
    """GD path on L = x^2/2 + y^4/4 - y^2/2 from (1, y0) and |y_n| with the predicted escape.

    ``n_steps=None`` runs long enough to show the escape (the observed escape iteration plus
    a quarter, at least 100 steps): over the sliders' range escape takes up to 1717 steps.
    Accepted: ``log10_y0`` in [-300, 0), ``alpha`` in (0, 1), ``n_steps`` None or 1..100000.
    """
    log10_y0 = check_real("log10_y0", log10_y0, low=-300.0, high=0.0, high_inclusive=False)
    alpha = check_real("alpha", alpha, low=0.0, high=1.0, low_inclusive=False,
                       high_inclusive=False)
    if n_steps is not None:
        n_steps = check_positive_int("n_steps", n_steps, maximum=100_000)
    y0 = 10.0 ** log10_y0
    if n_steps is None:
        n_steps = max(100, int(1.25 * optim.escape_iterations(y0, alpha)) + 10)
    f = lambda z: float(optim.saddle(z)[0])  # noqa: E731
    g = lambda z: optim.saddle(z)[1]  # noqa: E731
    tr = optim.gradient_descent(f, [1.0, y0], alpha, n_steps, grad=g)
    n_pred = optim.predicted_escape_iteration(y0, alpha)
    n_obs = optim.escape_iterations(y0, alpha)
    fig, (ax1, ax2) = _fig(fig, 2)
    ax1.add_collection(LineCollection(_saddle_contours(), colors="0.8", linewidths=0.7))
    every = max(1, n_steps // 150)                 # markers: at most about 150 per series
    ax1.plot(tr.x[:, 0], tr.x[:, 1], ".-", ms=2, lw=0.8, color=PALETTE["blue"],
             markevery=every)
    ax1.plot([0], [0], "x", color="k")
    ax1.set(xlabel="x", ylabel="y", xlim=(-1.3, 1.3), ylim=(-1.3, 1.3))
    ax2.semilogy(np.arange(n_steps + 1)[::every], np.abs(tr.x[::every, 1]), "o", ms=2,
                 color=PALETTE["blue"], label="|yₙ| (GD)")
    nn = np.arange(n_steps + 1)
    ax2.semilogy(nn, np.minimum(y0 * (1 + alpha) ** nn, 10), "-", color=PALETTE["orange"],
                 label="y₀(1+α)ⁿ")
    ax2.axvline(n_pred, color=PALETTE["orange"], ls="--", lw=1,
                label=f"predicted escape {n_pred:.0f} (observed {n_obs})")
    ax2.axhline(0.5, color="0.5", lw=0.5)
    ax2.set(xlabel="iteration n", ylim=(min(y0, 1e-16) / 2, 5))
    _no_minor(ax2)
    ax2.legend(fontsize=7)
    return fig


def saddle_explorer():
    """Sliders: log10 y0 and alpha."""
    import ipywidgets as w

    return _explorer(draw_saddle, 10.0,
                         log10_y0=w.FloatSlider(-6.0, min=-15.0, max=-1.0, step=0.5),
                         alpha=w.FloatSlider(0.1, min=0.02, max=0.5, step=0.02))


def draw_descent(alpha_M=1.0, n_steps=60, fig=None):
    """Sufficient decrease on the cosine sum (M = 4), step alpha = alpha_M / M.

    Left: L(W_n) - min L (markers) and the descent-lemma guarantee L(W_n) - c|grad|^2 for the next
    value (line). Right: the gaps of :func:`mftheory.optim.sufficient_decrease_gaps` (<= 0 when the
    lemma applies, i.e. alpha_M < 2). Accepted: ``alpha_M`` in (0, 10], ``n_steps`` 1..100000.
    """
    alpha_M = check_real("alpha_M", alpha_M, low=0.0, high=10.0, low_inclusive=False)
    n_steps = check_positive_int("n_steps", n_steps, maximum=100_000)
    M = 4.0
    alpha = alpha_M / M
    c = optim.descent_constant(alpha, M)
    lmin, _ = optim.cosine_sum_minimum(10)
    x0 = np.linspace(-0.3, 0.3, 10) + 0.01
    tr = optim.gradient_descent(lambda x: optim.cosine_sum(x)[0], x0, alpha, n_steps,
                                grad=lambda x: optim.cosine_sum(x)[1])
    gaps = optim.sufficient_decrease_gaps(tr, c)
    fig, (ax1, ax2) = _fig(fig, 2)
    n = np.arange(n_steps + 1)
    ax1.semilogy(n, tr.loss - lmin + 1e-16, "o", ms=3, color=PALETTE["blue"], label="L(Wₙ) − min L")
    ax1.semilogy(n[1:], np.maximum(tr.loss[:-1] - c * tr.grad_norm[:-1] ** 2 - lmin, 1e-16), "-",
                 color=PALETTE["orange"], label="guarantee for L(Wₙ)")
    ax1.set(xlabel="iteration n", title=f"αM = {alpha_M:.2f}, c = {c:.3f}")
    _no_minor(ax1)
    ax1.legend(fontsize=8)
    ax2.plot(n[:-1], gaps, ".-", color=PALETTE["blue"])
    ax2.axhline(0, color="k", lw=0.5)
    if c > 0:
        title = f"c > 0: violations {int(np.sum(gaps > 1e-12))} (the lemma allows none)"
    else:
        rises = int(np.sum(np.diff(tr.loss) > 0))
        title = f"c <= 0: no guarantee; the loss rose in {rises} of {n_steps} steps"
    ax2.set(xlabel="iteration n", ylabel="gap (<= 0: inequality holds)", title=title)
    return fig


def descent_explorer():
    """Slider: alpha * M in (0, 3]: beyond 2 the lemma gives nothing, and past about 2.7 GD
    oscillates out of the minimum of the cosine sum (curvature 2.95 there, M = 4)."""
    import ipywidgets as w

    return _explorer(draw_descent, 10.0,
                         alpha_M=w.FloatSlider(1.0, min=0.05, max=3.0, step=0.05))


def draw_double_well(alpha=0.05, tilt=0.3, fig=None):
    """Basin map of GD on (w^2 - 1)^2 + tilt w: the limit reached from each start w0.

    Accepted: ``alpha`` > 0 and ``tilt`` finite reals (as :func:`mftheory.optim.double_well_limits`).
    """
    alpha = check_real("alpha", alpha, low=0.0, low_inclusive=False)
    tilt = check_real("tilt", tilt)
    w0 = np.linspace(-2.0, 2.0, 401)
    lim = optim.double_well_limits(w0, alpha, 1000, tilt)
    pts = optim.double_well_stationary_points(tilt)
    fig, (ax1, ax2) = _fig(fig, 2)
    ax1.plot(w0, optim.double_well(w0, tilt)[0], color="k", lw=1)
    glob = np.isfinite(lim) & (np.abs(lim - pts[0]) < 1e-3)
    loc = np.isfinite(lim) & ~glob
    ax1.plot(w0[glob], np.full(glob.sum(), -0.8), "|", ms=4, color=PALETTE["blue"],
             label="to global min")
    ax1.plot(w0[loc], np.full(loc.sum(), -0.8), "|", ms=4, color=PALETTE["orange"],
             label="elsewhere")
    ax1.set(xlabel="w₀", ylabel="L(w)", ylim=(-1, 4))
    ax1.legend(fontsize=8)
    ax2.plot(w0, lim, ".", ms=2, color=PALETTE["blue"])
    for p in pts:
        ax2.axhline(p, color="0.6", lw=0.5)
    ax2.set(xlabel="w₀", ylabel="limit of GD", title=f"α = {alpha:.3f}")
    return fig


def double_well_explorer():
    """Sliders: alpha and the tilt."""
    import ipywidgets as w

    return _explorer(draw_double_well, 10.0,
                         alpha=w.FloatSlider(0.05, min=0.01, max=0.3, step=0.01),
                         tilt=w.FloatSlider(0.3, min=0.0, max=1.0, step=0.05))


def _explorer(draw, width, **sliders):
    return explorer(draw, (width, 3.4), **sliders)

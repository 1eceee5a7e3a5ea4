r"""Explorers for the chapter on the Fisher information and the largest stable learning rate.

Each explorer is a ``draw_*`` function (theory from :mod:`mftheory.fisher`, then a redraw on a
reused figure; its update time is measured in the tests) and an ``*_explorer()`` builder that
wires ipywidgets controls to it. Called with its defaults, every ``draw_*`` is also the
chapter's static figure for the website.

* :func:`draw_lambda_gamma`: the mean-field :math:`\bar\lambda_{\max}(\gamma)` of a BN network
  (the paper's, the centred and the train-mode variant) against the vanilla level, with the
  crossing :math:`\gamma_c`, and :math:`\eta_*(\gamma)=2(1+\mu)/\bar\lambda_{\max}`.
* :func:`draw_layers`: the per-layer contributions :math:`f_l`, vanilla against BN.
* :func:`empirical_layers` (a small random MLP, per-layer bounds by autograd, about 0.1-0.5 s)
  and :func:`draw_empirical` (its bars against the theory's): the "empirical vs theory" button;
  :func:`draw_empirical_at` draws it at one setting.
* :func:`lr_curves` (heavy ball on a small BN network and on its linearization, cached per
  setting) and :func:`draw_lr`: the loss curves at a learning rate given in units of
  :math:`\eta_*`.
* :func:`draw_heavy_ball`: the spectral radius of heavy ball on one quadratic mode over
  :math:`(\eta\lambda,\mu)`, with the roots of :math:`z^2-(1+\mu-\eta\lambda)z+\mu` at the
  current point.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np

from .. import fisher
from .._validate import check_choice, check_positive_int, check_real
from ..plotting import PALETTE
from ._base import explorer, reusable_figure

__all__ = [
    "draw_lambda_gamma",
    "lambda_gamma_explorer",
    "draw_layers",
    "layers_explorer",
    "empirical_layers",
    "draw_empirical",
    "draw_empirical_at",
    "empirical_explorer",
    "lr_curves",
    "draw_lr",
    "lr_explorer",
    "draw_heavy_ball",
    "heavy_ball_explorer",
]

_GAMMAS = np.geomspace(0.05, 10.0, 160)
_VARIANT_STYLE = {"paper": ("vermillion", "BN, paper's formula"),
                  "centered": ("green", "BN, centred (corrected)"),
                  "train": ("purple", "BN, train mode (last layer)")}


def _check_fig(fig):
    if fig is None:
        return None
    from matplotlib.figure import Figure

    if not isinstance(fig, Figure):
        raise ValueError(f"`fig` must be a matplotlib Figure or None, got {type(fig).__name__}")
    return fig


def _log_axes(ax, x):
    """Log scale without minor ticks and with at most 6 major ones: drawing the ticks of log
    axes dominates the redraw time otherwise."""
    from matplotlib.ticker import LogLocator, NullLocator

    if x and ax.get_xscale() != "log":
        ax.set_xscale("log")
    if ax.get_yscale() != "log":
        ax.set_yscale("log")
    for axis in (ax.xaxis, ax.yaxis) if x else (ax.yaxis,):
        axis.set_major_locator(LogLocator(numticks=6))
        axis.set_minor_locator(NullLocator())


def _setting(depth, width, sigma_w2, sigma_b2):
    depth = check_positive_int("depth", depth, minimum=2)
    if depth > 50:
        raise ValueError(f"`depth` must be <= 50, got {depth}")
    width = check_positive_int("width", width)
    if width > 10**7:
        raise ValueError(f"`width` must be <= 1e7, got {width}")
    sw2 = check_real("sigma_w2", sigma_w2, low=0.0, low_inclusive=False, high=100.0)
    sb2 = check_real("sigma_b2", sigma_b2, low=0.0, high=100.0)
    return [784] + [width] * (depth - 1) + [10], sw2, sb2


def draw_lambda_gamma(depth=4, width=1000, sigma_w2=2.0, sigma_b2=0.5, variant="paper",
                      momentum=0.9, fig=None):
    r"""Left: :math:`\bar\lambda_{\max}` against :math:`\gamma` for BN (the chosen ``variant``
    bold, the other two thin) and the vanilla level, with :math:`\gamma_c`. Right:
    :math:`\eta_*(\gamma)` with ``momentum``. Widths ``[784] + [width] * (depth - 1) + [10]``."""
    widths, sw2, sb2 = _setting(depth, width, sigma_w2, sigma_b2)
    variant = check_choice("variant", variant, fisher.VARIANTS)
    mu = check_real("momentum", momentum, low=0.0, high=1.0, high_inclusive=False)
    fig, (ax, bx) = reusable_figure(_check_fig(fig), 2, 10.5, 3.8, bottom=0.16, top=0.86)
    van = fisher.fim_lambda_max(widths, sw2, sb2)
    curves = {v: fisher.lambda_vs_gamma(widths, sw2, sb2, _GAMMAS, v) for v in fisher.VARIANTS}
    for v, lam in curves.items():
        col, label = _VARIANT_STYLE[v]
        bold = v == variant
        kw = dict(color=PALETTE[col], lw=2.2 if bold else 1.0, alpha=1.0 if bold else 0.55,
                  label=label)
        ax.plot(_GAMMAS, lam, **kw)
        bx.plot(_GAMMAS, 2 * (1 + mu) / lam, **kw)
    ax.axhline(van, color=PALETTE["blue"], label="vanilla")
    bx.axhline(2 * (1 + mu) / van, color=PALETTE["blue"], label="vanilla")
    g_c = fisher.gamma_crossing(widths, sw2, sb2, variant)
    ax.axvline(g_c, color="#777777", ls=":", lw=1)
    ax.plot([g_c], [van], "o", color=PALETTE[_VARIANT_STYLE[variant][0]], ms=6)
    for a in (ax, bx):
        _log_axes(a, x=True)
        a.set_xlabel(r"BN scale $\gamma$")
    ax.set_ylabel(r"$\bar\lambda_{\max}$ (mean field)")
    bx.set_ylabel(r"$\eta_*=2(1+\mu)/\bar\lambda_{\max}$")
    # plain text (no mathtext) in the strings that change with the sliders: faster redraws
    ax.set_title(f"γc = {g_c:.3f};  vanilla λmax = {van:.5g}")
    bx.set_title(f"L = {depth}, N = {width}, σw² = {sw2:g}, σb² = {sb2:g}, μ = {mu:g}")
    ax.legend(fontsize=7.5, loc="upper left")
    return fig


def lambda_gamma_explorer():
    """Depth, width, sigma_w2, sigma_b2, variant and momentum."""
    import ipywidgets as w

    return explorer(
        draw_lambda_gamma, (10.5, 3.8),
        depth=w.IntSlider(4, min=2, max=12, description="depth L"),
        width=w.IntSlider(1000, min=64, max=2048, step=64, description="width N"),
        sigma_w2=w.FloatSlider(2.0, min=0.5, max=4.0, step=0.05, description="σ_w²"),
        sigma_b2=w.FloatSlider(0.5, min=0.0, max=2.0, step=0.05, description="σ_b²"),
        variant=w.Dropdown(options=list(fisher.VARIANTS), value="paper", description="variant"),
        momentum=w.FloatSlider(0.9, min=0.0, max=0.99, step=0.01, description="μ"))


def draw_layers(depth=4, width=1000, sigma_w2=2.0, sigma_b2=0.5, gamma=1.0, variant="paper",
                fig=None):
    r"""Bars of the per-layer contributions :math:`f_l` (log scale), vanilla and BN."""
    widths, sw2, sb2 = _setting(depth, width, sigma_w2, sigma_b2)
    variant = check_choice("variant", variant, fisher.VARIANTS)
    gamma = check_real("gamma", gamma, low=0.0, low_inclusive=False, high=1e3)
    fig, (ax,) = reusable_figure(_check_fig(fig), 1, 6.4, 3.6, bottom=0.15, top=0.86)
    van = fisher.order_parameters(widths, sw2, sb2).f
    bn = fisher.order_parameters(widths, sw2, sb2, True, gamma, variant).f
    layers = np.arange(1, len(van) + 1)
    floor = 1e-3 * max(van.max(), bn.max())
    ax.bar(layers - 0.2, np.maximum(van, floor), 0.4, color=PALETTE["blue"], label="vanilla")
    ax.bar(layers + 0.2, np.maximum(bn, floor), 0.4, color=PALETTE[_VARIANT_STYLE[variant][0]],
           label=_VARIANT_STYLE[variant][1] + f", γ = {gamma:g}")
    _log_axes(ax, x=False)
    ax.set_ylim(floor, 3 * max(van.max(), bn.max()))
    ax.set_xticks(layers)
    ax.set_xlabel("layer $l$")
    ax.set_ylabel("$f_l$")
    ax.set_title(f"sums: vanilla {van.sum():.4g}, BN {bn.sum():.4g} (bars at the floor are 0)",
                 fontsize=9.5)
    ax.legend(fontsize=8, loc="upper left")
    return fig


def layers_explorer():
    """Depth, width, sigma_w2, sigma_b2, gamma and variant."""
    import ipywidgets as w

    return explorer(
        draw_layers, (6.4, 3.6),
        depth=w.IntSlider(4, min=2, max=12, description="depth L"),
        width=w.IntSlider(1000, min=64, max=2048, step=64, description="width N"),
        sigma_w2=w.FloatSlider(2.0, min=0.5, max=4.0, step=0.05, description="σ_w²"),
        sigma_b2=w.FloatSlider(0.5, min=0.0, max=2.0, step=0.05, description="σ_b²"),
        gamma=w.FloatLogSlider(1.0, base=10, min=-1.3, max=1, step=0.05, description="γ"),
        variant=w.Dropdown(options=list(fisher.VARIANTS), value="paper", description="variant"))


def empirical_layers(mode="frozen", gamma=1.0, width=256, m=128, n_seeds=2, seed=0):
    r"""Per-layer bounds of ``n_seeds`` random MLPs ``[width, width, width, width, 1]`` (BN
    ``mode``) on ``m`` Gaussian inputs, with the theory: a dict with ``emp`` (n_seeds, 4),
    ``centered``, ``paper`` (:math:`(1-\frac1m)f_l+\mathrm{diag}_l/m`, or 0 for the hidden
    layers in 'batch' mode), and the settings."""
    mode = check_choice("mode", mode, fisher.MODES)
    gamma = check_real("gamma", gamma, low=0.0, low_inclusive=False, high=100.0)
    width = check_positive_int("width", width, minimum=2)
    m = check_positive_int("m", m, minimum=2)
    n_seeds = check_positive_int("n_seeds", n_seeds)
    seed = check_positive_int("seed", seed, minimum=0)
    if width * max(width, m) * n_seeds > 5e7:
        raise ValueError("`width`, `m` and `n_seeds` are too large for an explorer "
                         "(width * max(width, m) * n_seeds must be <= 5e7)")
    widths = [width] * 4 + [1]
    emp = []
    for s in range(n_seeds):
        X, _ = fisher.synthetic_problem(m, width, 1, seed=1000 + seed + s)
        net = fisher.make_mlp(widths, 2.0, 0.5, mode=mode, gamma=gamma, seed=seed + s)
        emp.append(fisher.fim_layer_bounds(net, X).weights)
    bn = mode != "none"
    theory = {}
    for v in ("centered", "paper"):
        op = fisher.order_parameters(widths, 2.0, 0.5, bn, gamma, "train" if mode == "batch"
                                     else v)
        theory[v] = (1 - 1 / m) * op.f + (0 if mode == "batch" else op.diag / m)
    return {"emp": np.array(emp), "centered": theory["centered"], "paper": theory["paper"],
            "mode": mode, "gamma": gamma, "width": width, "m": m}


def draw_empirical(data=None, fig=None):
    """Bars: the measured per-layer bounds (mean, with the spread of the seeds as error bars)
    against the centred theory and the paper's; ``data`` from :func:`empirical_layers`."""
    if data is None:
        data = _default_empirical()
    if not isinstance(data, dict) or not {"emp", "centered", "paper", "mode"} <= set(data):
        raise ValueError("`data` must be the dict returned by empirical_layers()")
    fig, (ax,) = reusable_figure(_check_fig(fig), 1, 6.4, 3.6, bottom=0.15, top=0.86)
    emp = np.asarray(data["emp"])
    layers = np.arange(1, emp.shape[1] + 1)
    err = emp.std(0, ddof=1) if emp.shape[0] > 1 else None
    ax.bar(layers - 0.27, emp.mean(0), 0.27, yerr=err, capsize=2, color=PALETTE["sky"],
           label="autograd (mean of seeds)")
    ax.bar(layers, data["centered"], 0.27, color=PALETTE["green"], label="theory, centred")
    ax.bar(layers + 0.27, data["paper"], 0.27, color=PALETTE["vermillion"],
           label="theory, paper")
    ax.set_xticks(layers)
    ax.set_xlabel("layer $l$")
    ax.set_ylabel("per-layer bound")
    ax.set_title(f"mode '{data['mode']}', γ = {data['gamma']:g}, "
                 f"N = {data['width']}, m = {data['m']}", fontsize=10)
    ax.legend(fontsize=8, loc="upper left")
    return fig


def draw_empirical_at(gamma=1.0, mode="frozen", width=256, fig=None):
    """The empirical explorer's figure at one setting: :func:`draw_empirical` of
    :func:`empirical_layers` (``mode``, ``gamma``, ``width``), as its button draws it (for the
    site scrubber over ``gamma``)."""
    return draw_empirical(empirical_layers(mode, gamma, width), fig=fig)


@lru_cache(maxsize=1)
def _default_empirical():
    return empirical_layers()


def empirical_explorer():
    """Mode, gamma and width; the button recomputes (about 0.1-0.5 s) and redraws."""
    import ipywidgets as w
    import matplotlib.pyplot as plt
    from IPython.display import display

    fig = plt.figure(figsize=(6.4, 3.6), layout="none")
    plt.close(fig)
    out = w.Output()
    mode = w.Dropdown(options=list(fisher.MODES), value="frozen", description="BN mode")
    gamma = w.FloatLogSlider(1.0, base=10, min=-1, max=0.7, step=0.05, description="γ")
    width = w.IntSlider(256, min=64, max=512, step=64, description="width N")
    button = w.Button(description="empirical vs theory")

    def run(_=None):
        draw_empirical(empirical_layers(mode.value, gamma.value, width.value), fig=fig)
        with out:
            out.clear_output(wait=True)
            display(fig)

    button.on_click(run)
    run()
    return w.VBox([w.HBox([mode, gamma, width, button]), out])


_LR_SETTING = {"widths": (16, 64, 64, 64, 4), "m": 64, "gamma": 1.0, "steps": 80}


@lru_cache(maxsize=4)
def _lr_problem(momentum):
    s = _LR_SETTING
    X, Y = fisher.synthetic_problem(s["m"], s["widths"][0], s["widths"][-1], seed=0)
    net = fisher.make_mlp(list(s["widths"]), 2.0, 0.5, mode="batch", gamma=s["gamma"], seed=0)
    lam = fisher.fim_top_eigenvalue(net, X)
    return net, X, Y, lam


@lru_cache(maxsize=64)
def _lr_runs(ratio, momentum):
    net, X, Y, lam = _lr_problem(momentum)
    eta = ratio * fisher.max_learning_rate(lam, momentum)
    steps = _LR_SETTING["steps"]
    real = fisher.heavy_ball(net, X, Y, eta, momentum, steps)
    lin = fisher.heavy_ball(net, X, Y, eta, momentum, steps, linearized=True)
    return real, lin, lam


def lr_curves(ratio=1.2, momentum=0.0):
    r"""Heavy ball on a small train-mode BN network (widths 16-64-64-64-4, 64 Gaussian inputs,
    random one-hot targets, 80 steps) and on its linearization, at
    :math:`\eta=` ``ratio`` :math:`\times\eta_*`, :math:`\eta_*=2(1+\mu)/\lambda_{\max}` at
    initialization. Returns ``(real, linearized, lam)``; cached per (ratio, momentum), with
    the ratio rounded to 0.01 and the momentum to 0.01."""
    ratio = round(check_real("ratio", ratio, low=0.05, high=20.0), 2)
    momentum = round(check_real("momentum", momentum, low=0.0, high=0.99), 2)
    return _lr_runs(ratio, momentum)


def draw_lr(ratio=1.2, momentum=0.0, fig=None):
    """Loss and batch-mean residual of the real network and its linearization against the
    step, at ``ratio`` times eta*."""
    real, lin, lam = lr_curves(ratio, momentum)
    fig, (ax, bx) = reusable_figure(_check_fig(fig), 2, 10.5, 3.6, bottom=0.16, top=0.86)
    for run, col, label in ((lin, "vermillion", "linearized"), (real, "blue", "real network")):
        t = np.arange(len(run.loss))
        ax.plot(t, run.loss, color=PALETTE[col], label=label + (" (exploded)" if run.exploded
                                                                else ""))
        bx.plot(t, run.mean_residual, color=PALETTE[col], label=label)
    for a in (ax, bx):
        _log_axes(a, x=False)
        a.set_xlabel("step $t$")
        a.set_xlim(0, _LR_SETTING["steps"])
    top = 1e3 * max(real.loss[0], 1e-12)
    ax.set_ylim(top=top)
    bx.set_ylim(top=1e3 * max(real.mean_residual[0], 1e-12))
    ax.set_ylabel("loss")
    bx.set_ylabel("batch-mean residual")
    ax.set_title(f"η = {ratio:g} η*,  μ = {momentum:g},  λmax = {lam:.3g}", fontsize=10)
    bx.set_title("the top Fisher mode", fontsize=10)
    ax.legend(fontsize=8)
    return fig


def lr_explorer():
    """Learning rate in units of eta* (0.5 to 4) and momentum (0 or 0.9); each new setting
    trains two small networks once (about 0.1-0.3 s), later visits are cached."""
    import ipywidgets as w

    return explorer(
        draw_lr, (10.5, 3.6),
        ratio=w.FloatSlider(1.2, min=0.5, max=4.0, step=0.1, description="η / η*",
                            continuous_update=False),
        momentum=w.Dropdown(options=[0.0, 0.9], value=0.0, description="μ"))


_X_GRID = np.linspace(0.0, 4.5, 181)
_MU_GRID = np.linspace(0.0, 0.98, 99)
_RADIUS = None


def _radius_grid():
    global _RADIUS
    if _RADIUS is None:
        _RADIUS = fisher.heavy_ball_spectral_radius(_X_GRID[None, :], _MU_GRID[:, None])
    return _RADIUS


def draw_heavy_ball(eta_lambda=3.2, momentum=0.7, fig=None):
    r"""Left: the spectral radius of heavy ball on one mode over :math:`(\eta\lambda,\mu)` with
    the boundary :math:`\eta\lambda=2(1+\mu)` of the region where it is below 1, and the
    current point. Right: the two roots of
    :math:`z^2-(1+\mu-\eta\lambda)z+\mu` and the unit circle."""
    x = check_real("eta_lambda", eta_lambda, low=0.0, high=4.5)
    mu = check_real("momentum", momentum, low=0.0, high=0.98)
    fig, (ax, bx) = reusable_figure(_check_fig(fig), 2, 10.0, 3.9, bottom=0.15, top=0.86)
    R = _radius_grid()
    img = getattr(fig, "_fisher_radius_image", None)
    if img is None or img.axes is not None:
        img = ax.imshow(np.minimum(R, 1.5), origin="lower", aspect="auto", cmap="viridis",
                        extent=(_X_GRID[0], _X_GRID[-1], _MU_GRID[0], _MU_GRID[-1]), vmin=0,
                        vmax=1.5, interpolation="nearest")
        fig._fisher_radius_image = img      # reused: re-rendering a new image is slow
    else:
        ax.add_image(img)
    ax.grid(False)
    mus = np.array([0.0, 0.98])
    ax.plot(2 * (1 + mus), mus, color=PALETTE["vermillion"], ls="--", lw=1.2,
            label=r"$\eta\lambda=2(1+\mu)$")
    ax.plot([x], [mu], "o", color="white", mec="black", ms=7)
    ax.set_xlim(_X_GRID[0], _X_GRID[-1])
    ax.set_ylim(_MU_GRID[0], _MU_GRID[-1])
    ax.set_xlabel(r"$\eta\lambda$")
    ax.set_ylabel(r"momentum $\mu$")
    ax.set_title("spectral radius (yellow: 1.5 and above)", fontsize=10)
    ax.legend(fontsize=8, loc="upper left")
    roots = np.roots([1.0, -(1 + mu - x), mu])
    t = np.linspace(0, 2 * math.pi, 200)
    bx.plot(np.cos(t), np.sin(t), color="#888888", lw=1)
    r = fisher.heavy_ball_spectral_radius(x, mu)
    col = PALETTE["green"] if r < 1 else PALETTE["vermillion"]
    bx.plot(roots.real, roots.imag, "o", color=col, ms=7)
    bx.set_xlim(-2.2, 1.4)
    bx.set_ylim(-1.3, 1.3)
    bx.set_xlabel("Re z")
    bx.set_ylabel("Im z")
    bx.set_title(f"roots at ηλ = {x:.2f}, μ = {mu:.2f}: radius {r:.3f}",
                 fontsize=10)
    return fig


def heavy_ball_explorer():
    """eta * lambda in [0, 4.5] and momentum in [0, 0.98]."""
    import ipywidgets as w

    return explorer(
        draw_heavy_ball, (10.0, 3.9),
        eta_lambda=w.FloatSlider(3.2, min=0.0, max=4.5, step=0.02, description="ηλ"),
        momentum=w.FloatSlider(0.7, min=0.0, max=0.98, step=0.01, description="μ"))

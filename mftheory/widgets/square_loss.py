r"""Explorers for the chapter on square-loss dynamics (Poggio and Liao, 2020).

Each explorer has a pure ``draw_*`` function (computation with :mod:`mftheory.squareloss`, then a
redraw on a reused figure; timed in ``tests/test_square_loss_widgets.py``) and a
``*_explorer()`` builder wiring ipywidgets to it. Called with its defaults (or with the
chapter's histories), every ``draw_*`` is also a static figure for the website.

* :func:`draw_rho_ode`: :math:`\rho(t)` of the unnormalised dynamics (memo Eq. 28) and of the
  normalised dynamics with weight decay (Eq. 5), the escape time against :math:`\epsilon`.
* :func:`draw_training`: a :class:`~mftheory.squareloss.History`: :math:`\rho` with
  :math:`\rho_{eq}`, mean :math:`|f|`, the final margins and the histogram of :math:`|f_n|`.
  :func:`training_explorer` trains on a button press (BN, WD, init, lr, steps), with progress.
* :func:`draw_collapse`: NC1 over training for several weight decays and a 2-D PCA of the
  penultimate features (:func:`pca_2d`). :func:`collapse_explorer` trains on a button press.
* :func:`draw_constraint`: the residual of Eq. 48 per layer for orthogonal, projection or
  random weights of a deep linear network.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from .. import squareloss as sl
from .._validate import check_choice, check_positive_int, check_real
from ..plotting import PALETTE
from ._base import explorer, reusable_figure

__all__ = [
    "rho_ode_curves",
    "draw_rho_ode",
    "rho_ode_explorer",
    "draw_training",
    "training_explorer",
    "pca_2d",
    "draw_collapse",
    "collapse_explorer",
    "draw_constraint",
    "constraint_explorer",
]

_COLORS = [PALETTE[c] for c in ("blue", "vermillion", "green", "orange", "purple", "sky")]


def _fig(fig, ncols, width, height, *, nbins=None):
    """A reused figure; ``nbins`` caps the ticks per linear axis (tick labels are most of the
    redraw time)."""
    fig, axes = reusable_figure(fig, ncols, width, height, bottom=0.16, top=0.86, wspace=0.32)
    if nbins is not None:
        from matplotlib.ticker import MaxNLocator

        for ax in axes:
            ax.xaxis.set_major_locator(MaxNLocator(nbins))
            ax.yaxis.set_major_locator(MaxNLocator(nbins))
    return fig, axes


# --------------------------------------------------------------------------------------
# (a) the rho ODEs
# --------------------------------------------------------------------------------------
def rho_ode_curves(depth=4, log10_eps=-4.0, a=1.0, b=1.0, lam=0.0, n_points=200):
    r"""Times and :math:`\rho(t)` of Eq. 28 (depth L) and of Eq. 5 (weight decay :math:`\lambda`)
    from :math:`\rho(0)=10^{\text{log10\_eps}}`, on :math:`[0,3T_{1/2}]` with :math:`T_{1/2}`
    the escape time of Eq. 28. Returns ``(t, rho_unnormalized, rho_normalized, t_half)``."""
    depth = check_positive_int("depth", depth, minimum=2)
    log10_eps = check_real("log10_eps", log10_eps, low=-12.0, high=-0.5)
    a = check_real("a", a, low=0.01, high=100.0)
    b = check_real("b", b, low=0.01, high=100.0)
    lam = check_real("lam", lam, low=0.0, high=100.0)
    n_points = check_positive_int("n_points", n_points, minimum=10)
    eps = 10.0**log10_eps
    if eps >= 0.5 * a / b:
        raise ValueError("`log10_eps` must put rho(0) below half of a / b")
    t_half = sl.escape_time(eps, depth, a, b)
    t = np.linspace(0.0, 3.0 * t_half, n_points)
    return (t, sl.solve_rho_ode(eps, depth, a, b, t),
            sl.rho_normalized_closed_form(eps, a, b, lam, t), t_half)


@lru_cache(maxsize=64)
def _escape_grid(a, b):
    """Exact and asymptotic escape times on a grid of eps for L = 2..6 (cached per a, b)."""
    eps_grid = np.logspace(-8, -2, 13)
    out = []
    for L in range(2, 7):
        e_ok = eps_grid[eps_grid < 0.5 * a / b]
        T = np.array([sl.escape_time(e, L, a, b) for e in e_ok])
        T_asym = (np.array([sl.escape_time_asymptotic(e, L, a) for e in e_ok]) if L >= 3
                  else None)
        out.append((L, e_ok, T, T_asym))
    return tuple(out)


def draw_rho_ode(depth=4, log10_eps=-4.0, a=1.0, b=1.0, lam=0.0, fig=None):
    r"""Left: :math:`\rho(t)` of Eq. 28 and of Eq. 5 with :math:`\rho_\infty=a/b` and
    :math:`\rho_{eq}=a/(b+\lambda)` marked and the escape time :math:`T_{1/2}`. Right: the exact
    escape time against :math:`\epsilon` for L = 2..6 (lines) and the asymptotic law
    :math:`\epsilon^{-(L-2)/L}/(2a(L-2))` (dashed), the current point marked."""
    t, r_un, r_n, t_half = rho_ode_curves(depth, log10_eps, a, b, lam)
    fig, (ax, bx) = _fig(fig, 2, 10.5, 3.8)
    _few_ticks(ax)
    ax.plot(t, r_un, color=PALETTE["blue"], label=f"no normalization, L = {depth} (Eq. 28)")
    ax.plot(t, r_n, color=PALETTE["vermillion"], label="normalized + WD (Eq. 5)")
    ax.axhline(a / b, color="0.5", lw=1, ls=":", label=r"$\rho_\infty=a/b$")
    ax.axhline(a / (b + lam), color=PALETTE["vermillion"], lw=1, ls="--",
               label=r"$\rho_{eq}=a/(b+\lambda)$")
    ax.axvline(t_half, color=PALETTE["blue"], lw=1, ls="--")
    ax.set(xlabel="time t", ylabel=r"$\rho(t)$")
    ax.set_title(f"escape time $T_{{1/2}}$ = {t_half:.4g}", fontsize=10)
    ax.legend(fontsize=7, loc="lower right")
    for i, (L, e_ok, T, T_asym) in enumerate(_escape_grid(a, b)):
        bx.loglog(e_ok, T, color=_COLORS[i], label=f"L = {L}")
        if T_asym is not None:
            bx.loglog(e_ok, T_asym, color=_COLORS[i], ls="--", lw=1)
    bx.loglog([10.0**log10_eps], [t_half], "o", color="k", ms=6)
    bx.minorticks_off()                   # minor log ticks cost half of the redraw
    bx.set(xlabel=r"$\epsilon=\rho(0)$", ylabel=r"$T_{1/2}$")
    bx.set_title("exact (lines) and asymptotic (dashed)", fontsize=10)
    bx.legend(fontsize=7, loc="upper right")
    return fig


def rho_ode_explorer():
    """Depth, log10 eps, a = sum y f, b = sum f^2 and lambda."""
    import ipywidgets as w

    return explorer(draw_rho_ode, (10.5, 3.8),
                    depth=w.IntSlider(4, min=2, max=8, description="L"),
                    log10_eps=w.FloatSlider(-4.0, min=-8.0, max=-1.0, step=0.25,
                                            description="log₁₀ ε"),
                    a=w.FloatSlider(1.0, min=0.1, max=3.0, step=0.1, description="a = Σyf"),
                    b=w.FloatSlider(1.0, min=0.1, max=3.0, step=0.1, description="b = Σf²"),
                    lam=w.FloatSlider(0.0, min=0.0, max=2.0, step=0.05, description="λ"))


# --------------------------------------------------------------------------------------
# (b) training histories
# --------------------------------------------------------------------------------------
def _check_history(h, name="history"):
    if not isinstance(h, sl.History):
        raise ValueError(f"`{name}` must be a mftheory.squareloss.History, got "
                         f"{type(h).__name__}")
    if h.margins.size == 0:
        raise ValueError(f"`{name}` must come from a network with one output unit")
    return h


def draw_training(history, label="", fig=None):
    r"""Four panels of one binary training run: :math:`\rho(t)` with :math:`\rho_{eq}(t)`, the
    mean :math:`|f_n|`, the final margins :math:`y_nf_n` over the training points (the memo's
    "horizontal line" at :math:`1/\rho` at interpolation) and the histogram of final
    :math:`|f_n|`."""
    h = _check_history(history)
    if not isinstance(label, str):
        raise ValueError(f"`label` must be a string, got {label!r}")
    fig, (a1, a2, a3, a4) = _fig(fig, 4, 13.0, 3.4, nbins=4)
    a1.plot(h.t, h.rho, color=PALETTE["blue"], label=r"$\rho$")
    a1.plot(h.t, h.rho_eq, color=PALETTE["vermillion"], ls="--", label=r"$\rho_{eq}$")
    a1.set(xlabel="step", ylabel=r"$\rho$")
    a1.legend(fontsize=7)
    a2.plot(h.t, h.mean_abs_f, color=PALETTE["green"])
    a2.set(xlabel="step", ylabel=r"mean $|f_n|$")
    m = h.margins[-1]
    a3.plot(np.arange(m.size), np.sort(m), ".", color=PALETTE["blue"], ms=3)
    a3.axhline(1.0 / h.rho[-1], color=PALETTE["vermillion"], lw=1, label=r"$1/\rho$")
    a3.set(xlabel="training point (sorted)", ylabel=r"margin $y_nf_n$")
    a3.legend(fontsize=7)
    counts, edges = np.histogram(np.abs(m), bins=30)
    a4.stairs(counts, edges, fill=True, color=PALETTE["sky"])   # one artist, not 30 bars
    a4.set(xlabel=r"$|f_n|$ at the end", ylabel="count")
    fig.suptitle(label or f"final rho = {h.rho[-1]:.4g}, train loss = {h.loss[-1]:.2e}",
                 fontsize=10)
    return fig


def _check_dims(dims, X, out):
    """``dims`` as for HomogeneousMLP, starting at X's width (and ending at ``out``)."""
    sl.HomogeneousMLP(dims)                      # validates the widths
    if dims[0] != X.shape[1] or (out is not None and dims[-1] != out):
        raise ValueError(f"`dims` must start with {X.shape[1]} (the columns of `X`)"
                         + ("" if out is None else f" and end with {out}") + f", got {dims!r}")


def _few_ticks(ax, nbins=5):
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(nbins))
    ax.yaxis.set_major_locator(MaxNLocator(nbins))


def training_explorer(X, y, *, dims=(64, 64, 64, 64, 1)):
    """BN, weight decay, init norm, lr and steps; trains on 'run' (progress bar), then redraws
    with :func:`draw_training`."""
    import ipywidgets as w
    import matplotlib.pyplot as plt
    import torch
    from IPython.display import display

    X = sl._arr("X", X, ndim=2)
    y = sl._labels_pm1("y", y)
    _check_dims(dims, X, 1)
    bn = w.Checkbox(True, description="BN")
    wd = w.FloatLogSlider(0.01, base=10, min=-4, max=-1, description="wd")
    use_wd = w.Checkbox(True, description="weight decay")
    init = w.FloatLogSlider(1.0, base=10, min=-1, max=1.5, description="init ‖W_k‖")
    lr = w.FloatLogSlider(0.01, base=10, min=-4, max=-1, description="lr")
    steps = w.IntSlider(1000, min=100, max=3000, step=100, description="steps")
    run = w.Button(description="run")
    bar = w.IntProgress(0, min=0, max=1)
    out = w.Output()
    fig = plt.figure(figsize=(13.0, 3.4), layout="none")
    plt.close(fig)

    def go(_):
        torch.set_flush_denormal(True)
        model = sl.init_frobenius_(sl.HomogeneousMLP(list(dims), bn=bn.value), init.value)
        bar.max, bar.value = steps.value, 0
        chunk, hist = max(steps.value // 50, 1), None
        try:
            hist = sl.train_square_loss(model, X, y, steps=steps.value, lr=lr.value,
                                        momentum=0.9, wd=wd.value if use_wd.value else 0.0,
                                        log_every=chunk, progress=False,
                                        callback=lambda step: setattr(bar, "value", step))
        except ValueError as err:
            with out:
                out.clear_output()
                print(err)
            return
        bar.value = steps.value
        draw_training(hist, fig=fig)
        with out:
            out.clear_output(wait=True)
            display(fig)

    run.on_click(go)
    return w.VBox([w.HBox([bn, use_wd, wd]), w.HBox([init, lr, steps]), w.HBox([run, bar]), out])


# --------------------------------------------------------------------------------------
# (c) neural collapse
# --------------------------------------------------------------------------------------
def pca_2d(features):
    """Projections of centred ``features`` (N, p) on their two leading principal axes (N, 2)."""
    h = sl._arr("features", features, ndim=2)
    if h.shape[0] < 2 or h.shape[1] < 2:
        raise ValueError("`features` must have at least 2 rows and 2 columns")
    hc = h - h.mean(0)
    _, _, vt = np.linalg.svd(hc, full_matrices=False)
    return hc @ vt[:2].T


def draw_collapse(runs, fig=None):
    r"""Left: NC1 against the training step, one line per run. Right: 2-D PCA of the final
    penultimate features of the *last* run, coloured by class.

    ``runs`` is a dict ``{label: (steps, nc1_values, features, labels)}`` (at most 6 runs)."""
    if not isinstance(runs, dict) or not 1 <= len(runs) <= 6:
        raise ValueError("`runs` must be a dict of 1 to 6 {label: (steps, nc1, features, "
                         "labels)}")
    checked = {}
    for key, val in runs.items():
        if not isinstance(val, tuple) or len(val) != 4:
            raise ValueError(f"`runs[{key!r}]` must be a tuple (steps, nc1, features, labels)")
        t = sl._arr("steps", val[0], ndim=1)
        nc1 = sl._arr("nc1", val[1], ndim=1, low=0.0)
        if t.shape != nc1.shape or t.size == 0:
            raise ValueError("`steps` and `nc1` must be nonempty and of the same length")
        checked[str(key)] = (t, nc1, val[2], val[3])
    fig, (ax, bx) = _fig(fig, 2, 10.5, 3.9)
    for i, (key, (t, nc1, _, _)) in enumerate(checked.items()):
        ax.semilogy(t, np.maximum(nc1, 1e-12), "o-", ms=3, color=_COLORS[i], label=key)
    ax.minorticks_off()
    ax.set(xlabel="step", ylabel="NC1")
    ax.legend(fontsize=8)
    key, (_, _, h, lab) = list(checked.items())[-1]
    lab = sl._arr("labels", lab, ndim=1)
    p = pca_2d(h)
    if lab.shape[0] != p.shape[0]:
        raise ValueError("`labels` must have one entry per feature row")
    cmap = __import__("matplotlib").colormaps["tab10"]
    bx.scatter(p[:, 0], p[:, 1], c=cmap(lab.astype(int) % 10), s=6)
    bx.set(xlabel="PC 1", ylabel="PC 2")
    bx.set_title(f"penultimate features, {key}", fontsize=10)
    return fig


def collapse_explorer(X, y, *, dims=(64, 64, 64, 64, 10)):
    """Weight decay and steps; trains a BN network on 'run' and draws NC1 and the PCA."""
    import ipywidgets as w
    import matplotlib.pyplot as plt
    import torch
    from IPython.display import display

    X = sl._arr("X", X, ndim=2)
    y = sl._arr("y", y, ndim=1)
    _check_dims(dims, X, None)
    if len(y) != X.shape[0] or np.any(y != np.round(y)) or y.min() < 0 or y.max() >= dims[-1]:
        raise ValueError(f"`y` must hold one class index 0..{dims[-1] - 1} per row of `X`")
    wd = w.FloatSlider(0.02, min=0.0, max=0.05, step=0.005, description="wd")
    steps = w.IntSlider(800, min=100, max=3000, step=100, description="steps")
    run = w.Button(description="run")
    out = w.Output()
    fig = plt.figure(figsize=(10.5, 3.9), layout="none")
    plt.close(fig)

    def go(_):
        torch.set_flush_denormal(True)
        model = sl.init_frobenius_(sl.HomogeneousMLP(list(dims), bn=True), 1.0)
        every = max(steps.value // 8, 1)
        hist = sl.train_square_loss(model, X, y, steps=steps.value, lr=0.01, momentum=0.9,
                                    wd=wd.value, log_every=every, nc_every=every,
                                    progress=False)
        with torch.no_grad():
            h = model.features(torch.as_tensor(X, dtype=model.weights[0].dtype)).numpy()
        t = hist.t[hist.t % every == 0][: len(hist.nc)]
        draw_collapse({f"wd = {wd.value:g}": (t, [n["nc1"] for n in hist.nc], h, y)}, fig=fig)
        with out:
            out.clear_output(wait=True)
            display(fig)

    run.on_click(go)
    return w.VBox([w.HBox([wd, steps, run]), out])


# --------------------------------------------------------------------------------------
# (d) the linear-constraint sandbox
# --------------------------------------------------------------------------------------
def draw_constraint(kind="orthogonal", depth=4, p=5, seed=0, align_x=False, fig=None):
    r"""Residual :math:`\|\partial f/\partial V_k-V_kf\|/\|\partial f/\partial V_k\|` of Eq. 48 per
    layer for :func:`~mftheory.squareloss.constraint_matrices` of the given kind (``align_x``:
    the projection's u along the input), and the stable ranks of :math:`V_k` and of
    :math:`\partial f/\partial V_k` (always 1)."""
    kind = check_choice("kind", kind, ("orthogonal", "projection", "random"))
    if not isinstance(align_x, (bool, np.bool_)):
        raise ValueError(f"`align_x` must be True or False, got {align_x!r}")
    depth = check_positive_int("depth", depth, minimum=2)
    p = check_positive_int("p", p, minimum=2)
    if depth > 10 or p > 50:
        raise ValueError("`depth` must be <= 10 and `p` <= 50")
    rng = np.random.default_rng(check_positive_int("seed", seed, minimum=0) + 1000)
    x = rng.standard_normal(p) if align_x else None
    mats, xv = sl.constraint_matrices(kind, p, depth, seed=seed, x=x)
    res = sl.linear_constraint_residuals(mats, xv)
    ranks = [sl.stable_rank(v) for v in mats]
    fig, (ax, bx) = _fig(fig, 2, 10.0, 3.5)
    _few_ticks(bx)
    k = np.arange(1, depth + 1)
    ax.bar(k, np.maximum(res, 1e-17), color=PALETTE["blue"])
    ax.set_yscale("log")
    ax.set_ylim(1e-17, 10)
    ax.set(xlabel="layer k", ylabel="relative residual of Eq. 48")
    ax.set_title(f"{kind} weights: max residual {res.max():.2g}", fontsize=10)
    bx.bar(k - 0.2, ranks, width=0.4, color=PALETTE["orange"], label=r"stable rank $V_k$")
    bx.bar(k + 0.2, np.ones(depth), width=0.4, color=PALETTE["green"],
           label=r"rank $\partial f/\partial V_k$")
    bx.set(xlabel="layer k", ylabel="rank")
    bx.legend(fontsize=7)
    return fig


def constraint_explorer():
    """Kind of weights, depth, width p, seed and whether u is aligned with the input."""
    import ipywidgets as w

    return explorer(draw_constraint, (10.0, 3.5),
                    kind=w.Dropdown(options=["orthogonal", "projection", "random"],
                                    value="orthogonal", description="V_k"),
                    depth=w.IntSlider(4, min=2, max=8, description="L"),
                    p=w.IntSlider(5, min=2, max=20, description="p"),
                    seed=w.IntSlider(0, min=0, max=20, description="seed"),
                    align_x=w.Checkbox(False, description="u ∥ x"))



r"""Explorers for the chapter on deep linear networks.

Each explorer is a ``draw_*`` function (computation with :mod:`mftheory.linear`, then the redraw
on a given or new figure; timed in ``tests/test_linear_widgets.py``) and a ``*_explorer()``
builder that wires ipywidgets controls to it. Called with its default arguments, every
``draw_*`` is also the chapter's static figure for the website.

* :func:`draw_scalar_dynamics`: the balanced scalar network of depth K, gradient flow (line)
  against gradient descent with step :math:`\alpha` (markers), and the loss; the limit
  :math:`r^{1/K}` (or the stuck value 0) and the largest stable step are annotated.
* :func:`draw_matrix_dynamics`: gradient descent on :math:`W_K\cdots W_1` with a symmetric
  target :math:`R=O\operatorname{diag}(r)O^\top`: eigenvalues of the end-to-end map against the
  steps, and the commutator :math:`\|[W_K\cdots W_1,R]\|` which stays at rounding level from
  the identity and does not from a random near-identity start.
* :func:`draw_hardt_ma`: the factor norms :math:`\|V_k\|` of the Hardt-Ma factorisation and
  :math:`K\max_k\|V_k\|` against K with its limit.
* :func:`draw_connection`: a two-dimensional Gaussian sample moved along the linear or the arc
  path, and the deviation of a wide random-feature network along both paths.

Data helpers (pure, tested): :func:`scalar_dynamics_data`, :func:`matrix_dynamics_data`,
:func:`hardt_ma_norms`.
"""

from __future__ import annotations

import math
import warnings
from functools import lru_cache
from typing import NamedTuple

import numpy as np

from .. import linear
from .._validate import check_choice, check_positive_int, check_real
from ..plotting import PALETTE
from ._base import explorer, reusable_figure

__all__ = [
    "scalar_dynamics_data",
    "draw_scalar_dynamics",
    "scalar_dynamics_explorer",
    "matrix_dynamics_data",
    "draw_matrix_dynamics",
    "matrix_dynamics_explorer",
    "hardt_ma_norms",
    "draw_hardt_ma",
    "hardt_ma_explorer",
    "draw_connection",
    "connection_explorer",
]

_N_FLOW = 300


def _few_ticks(*axes):
    """At most about five ticks per axis: drawing tick labels is most of a redraw's cost."""
    from matplotlib.ticker import LogLocator, MaxNLocator

    for ax in axes:
        for axis, scale in ((ax.xaxis, ax.get_xscale()), (ax.yaxis, ax.get_yscale())):
            axis.set_major_locator(LogLocator(numticks=5) if scale == "log"
                                   else MaxNLocator(nbins=5))
            if scale == "log":
                axis.set_minor_locator(LogLocator(subs=(), numticks=5))
_K_GRID = np.unique(np.round(np.geomspace(1, 1000, 40)).astype(int))


# ----------------------------------------------------------------------------- scalar dynamics
class ScalarDynamics(NamedTuple):
    """Flow ``t``, ``w_flow``; gradient descent ``steps``, ``w_gd`` (times ``steps * alpha``);
    ``limit`` of the flow and the largest stable step ``alpha_max`` (None when r <= 0: there
    is no minimum away from 0)."""

    t: np.ndarray
    w_flow: np.ndarray
    steps: np.ndarray
    w_gd: np.ndarray
    limit: float
    alpha_max: float


def _figure_flow(r, K, t, w0):
    """The scalar flow to figure accuracy (~1e-8), fast for stiff cases (K >= 3).

    Once w is within 1e-9 (relative) of its limit r^(1/K) > 0, the rest is the linearised
    solution w* + (w_c - w*) exp(-lambda (t - t_c)), lambda = K r^(2 - 2/K): its error is
    O(1e-18), while integrating that tail with an explicit method costs most of the time.
    """
    if K <= 2:
        return linear.scalar_gradient_flow(r, K, t, w0)
    lim = linear.scalar_flow_limit(r, K, w0)
    if not (r > 0 and w0 > 0) or abs(w0 - lim) <= 1e-9 * lim:
        return linear._flow_ode(r, K, t, w0, rtol=1e-9, atol=1e-12)
    w_c = lim - math.copysign(1e-9 * lim, lim - w0)
    with warnings.catch_warnings():                       # quad near the log singularity
        warnings.simplefilter("ignore")
        t_c = linear.scalar_flow_time(r, K, w_c, w0)
    head = t <= t_c
    out = np.empty_like(t)
    out[head] = linear._flow_ode(r, K, t[head], w0, rtol=1e-9, atol=1e-12)
    lam = K * r ** (2.0 - 2.0 / K)
    out[~head] = lim + (w_c - lim) * np.exp(-lam * (t[~head] - t_c))
    return out


def scalar_dynamics_data(depth=3, r=2.0, alpha=0.05, T=5.0, w0=1.0) -> ScalarDynamics:
    """Gradient flow on a grid of ``[0, T]`` and gradient descent for ``T / alpha`` steps
    (at most 2000) of the balanced scalar network (:func:`mftheory.linear.scalar_gd`)."""
    depth = check_positive_int("depth", depth)
    r = check_real("r", r)
    alpha = check_real("alpha", alpha, low=0.0, low_inclusive=False)
    T = check_real("T", T, low=0.0, high=1e4, low_inclusive=False)
    w0 = check_real("w0", w0)
    t = np.linspace(0.0, T, _N_FLOW)
    w_flow = _figure_flow(r, depth, t, w0)
    n = int(math.ceil(min(T / alpha, 2000.0)))
    w_gd = linear.scalar_gd(r, depth, alpha, n, w0)
    a_max = linear.max_stable_step(r, depth) if r > 0 else None
    return ScalarDynamics(t, w_flow, np.arange(n + 1), w_gd,
                          linear.scalar_flow_limit(r, depth, w0), a_max)


def draw_scalar_dynamics(depth=3, r=2.0, alpha=0.05, T=5.0, w0=1.0, *, fig=None):
    """Left: :math:`w(t)` (flow, line) and gradient descent (markers); right: the loss
    :math:`\\frac12(w^K-r)^2` of both on a log scale. Returns the figure."""
    d = scalar_dynamics_data(depth, r, alpha, T, w0)
    depth, r, w0 = int(depth), float(r), float(w0)
    alpha = check_real("alpha", alpha)                   # a float from here on (alpha = 2**64)
    fig, (ax1, ax2) = reusable_figure(fig, 2, 10.0, 3.6, bottom=0.15, top=0.86)
    t_gd = d.steps * alpha
    every = max(1, len(t_gd) // 60)
    shown = np.clip(d.w_gd, -1e6, 1e6)
    ax1.plot(d.t, d.w_flow, color=PALETTE["blue"], label="gradient flow")
    ax1.plot(t_gd[::every], shown[::every], "o", ms=3.5, mfc="white", color=PALETTE["vermillion"],
             label=rf"GD, $\alpha={alpha:.3g}$")
    ax1.axhline(d.limit, color=PALETTE["grey"], ls="--", lw=1,
                label="limit" if r > 0 or depth == 1 else "stuck at 0")
    finite = d.w_gd[np.isfinite(d.w_gd)]
    lo = min(0.0, d.limit, float(np.min(d.w_flow)))
    hi = max(float(np.max(d.w_flow)), d.limit, 0.0)
    span = hi - lo or 1.0
    if finite.size and (np.max(np.abs(finite)) > hi + span):
        hi = hi + span                                   # diverging GD: keep the flow readable
    ax1.set(xlim=(0, d.t[-1]), ylim=(lo - 0.1 * span, hi + 0.15 * span), xlabel="time t",
            ylabel="weight w")
    ax1.legend(fontsize=8, loc="best")
    with np.errstate(over="ignore", invalid="ignore"):
        lf = 0.5 * (d.w_flow**depth - r) ** 2
        lg = 0.5 * (d.w_gd**depth - r) ** 2
    floor = 1e-20                                        # below it: rounding noise
    ax2.semilogy(d.t, np.maximum(lf, floor), color=PALETTE["blue"])
    ok = np.isfinite(lg)
    ax2.semilogy(t_gd[ok][::every], np.maximum(lg[ok][::every], floor), "o", ms=3.5,
                 mfc="white", color=PALETTE["vermillion"])
    ax2.set(xlim=(0, d.t[-1]), xlabel="time t", ylabel=r"loss $(w^K-r)^2/2$")
    ax2.set_ylim(floor / 10, max(float(np.max(lf)), 1e-19) * 10)
    _few_ticks(ax1, ax2)
    stable = "" if d.alpha_max is None else rf", $\alpha_{{\max}}={d.alpha_max:.3g}$"
    fig.suptitle(f"depth K = {depth}, r = {r:g}, w0 = {w0:g}{stable}", fontsize=10)
    return fig


def scalar_dynamics_explorer():
    """Sliders for depth, r, log10(alpha) and the horizon T over :func:`draw_scalar_dynamics`."""
    import ipywidgets as w

    def draw(fig, depth, r, log10_alpha, T):
        return draw_scalar_dynamics(depth, r, 10.0**log10_alpha, T, fig=fig)

    return explorer(draw, (10.0, 3.6),
                    depth=w.IntSlider(value=3, min=1, max=8, description="depth K"),
                    r=w.FloatSlider(value=2.0, min=-2.0, max=4.0, step=0.1, description="r"),
                    log10_alpha=w.FloatSlider(value=-1.3, min=-3.0, max=0.0, step=0.05,
                                              description="log10 alpha"),
                    T=w.FloatSlider(value=5.0, min=0.5, max=20.0, step=0.5, description="T"))


# ----------------------------------------------------------------------------- matrix dynamics
class MatrixDynamics(NamedTuple):
    """``steps``, the eigenvalues ``eig`` of the symmetric part of the end-to-end map (shape
    (n_rec, d)), the commutator norms ``commutator`` and the ``losses``."""

    steps: np.ndarray
    eig: np.ndarray
    commutator: np.ndarray
    losses: np.ndarray


def matrix_dynamics_data(r=(0.5, 1.0, 2.0, 3.0), depth=3, alpha=0.02, n_steps=300,
                         random_init=False, seed=0) -> MatrixDynamics:
    r"""Gradient descent from the identity (or from :math:`\mathbf 1+0.3G/\sqrt d`, G standard
    Gaussian, when ``random_init``) on :math:`\frac12\|W_K\cdots W_1-R\|_F^2` with
    :math:`R=O\operatorname{diag}(r)O^\top` (random orthogonal O from ``seed``)."""
    r = np.asarray(linear._real_array("r", r, ndim=1), dtype=float)
    if r.size < 2:
        raise ValueError("`r` must have at least two entries")
    depth = check_positive_int("depth", depth)
    alpha = check_real("alpha", alpha, low=0.0, low_inclusive=False)
    n_steps = check_positive_int("n_steps", n_steps)
    if not isinstance(random_init, (bool, np.bool_)):
        raise ValueError(f"`random_init` must be True or False, got {random_init!r}")
    seed = check_positive_int("seed", seed, minimum=0)
    rng = np.random.default_rng(seed)
    d = r.size
    O = linear._random_orthogonal(rng, d)
    R = O @ np.diag(r) @ O.T
    ws = [np.eye(d) + (0.3 * rng.standard_normal((d, d)) / np.sqrt(d) if random_init else 0.0)
          for _ in range(depth)]
    run = linear.gradient_descent(ws, R, alpha=alpha, n_steps=n_steps,
                                  record_every=max(1, n_steps // 100))
    P = run.products
    sym = (P + np.swapaxes(P, 1, 2)) / 2
    comm = np.linalg.norm(P @ R - R @ P, axis=(1, 2))
    return MatrixDynamics(run.steps, np.linalg.eigvalsh(sym), comm, run.losses)


def draw_matrix_dynamics(r=(0.5, 1.0, 2.0, 3.0), depth=3, alpha=0.02, n_steps=300,
                         random_init=False, seed=0, *, fig=None):
    """Left: eigenvalues of the (symmetrised) end-to-end map against the step, with the targets
    :math:`r_i`; right: :math:`\\|[W_K\\cdots W_1,R]\\|_F` (log scale). Returns the figure."""
    d = matrix_dynamics_data(r, depth, alpha, n_steps, random_init, seed)
    fig, (ax1, ax2) = reusable_figure(fig, 2, 10.0, 3.6, bottom=0.15, top=0.86)
    colors = [PALETTE[c] for c in ("blue", "vermillion", "green", "orange", "purple", "sky")]
    for i in range(d.eig.shape[1]):
        ax1.plot(d.steps, d.eig[:, i], color=colors[i % len(colors)])
    for ri in np.asarray(r, dtype=float):
        ax1.axhline(ri, color=PALETTE["grey"], ls="--", lw=0.8)
    ax1.set(xlabel="step n", ylabel="eigenvalues of the end-to-end map")
    ax2.semilogy(d.steps, np.maximum(d.commutator, 1e-17), color=PALETTE["black"],
                 label=r"$\|[W_K\cdots W_1,R]\|$")
    ax2.semilogy(d.steps, np.maximum(d.losses, 1e-17), color=PALETTE["sky"], label="loss")
    ax2.set(xlabel="step n", ylim=(1e-17, max(10.0, float(np.max(d.losses)) * 10)))
    ax2.legend(fontsize=8, loc="best")
    _few_ticks(ax1, ax2)
    start = "random near-identity start" if random_init else "identity start"
    fig.suptitle(f"depth K = {depth}, alpha = {alpha:g}, {start}", fontsize=10)
    return fig


def matrix_dynamics_explorer():
    """Sliders for the four target eigenvalues, depth and step, and the random-init toggle."""
    import ipywidgets as w

    def draw(fig, r1, r2, r3, r4, depth, alpha, random_init):
        return draw_matrix_dynamics((r1, r2, r3, r4), depth, alpha, 300, random_init, fig=fig)

    sl = dict(min=-1.0, max=3.0, step=0.1)
    return explorer(draw, (10.0, 3.6),
                    r1=w.FloatSlider(value=0.5, description="r1", **sl),
                    r2=w.FloatSlider(value=1.0, description="r2", **sl),
                    r3=w.FloatSlider(value=2.0, description="r3", **sl),
                    r4=w.FloatSlider(value=3.0, description="r4", **sl),
                    depth=w.IntSlider(value=3, min=1, max=6, description="depth K"),
                    alpha=w.FloatSlider(value=0.02, min=0.005, max=0.1, step=0.005,
                                        description="alpha"),
                    random_init=w.Checkbox(value=False, description="random init"))


# ----------------------------------------------------------------------------- Hardt-Ma
@lru_cache(maxsize=64)
def _hm_spectrum(seed, d):
    rng = np.random.default_rng(seed)
    A = rng.standard_normal((d, d))
    if np.linalg.det(A) < 0:
        A[0] *= -1                                     # the refused case is shown separately
    hm = linear.hardt_ma_factors(A, 1)
    return hm.singular_values, hm.angles, hm.limit


def hardt_ma_norms(singular_values, angles, K):
    r"""Spectral norms of the two kinds of Hardt-Ma factors, in closed form:
    :math:`\max_i|\lambda_i^{1/K}-1|` (from :math:`B^{1/K}`) and
    :math:`2\sin(\max_j\phi_j/2K)` (from :math:`O^{1/K}`). ``K`` may be an array."""
    s = linear._real_array("singular_values", singular_values, ndim=1, low=0.0,
                           low_inclusive=False)
    phi = linear._real_array("angles", angles, ndim=1, low=0.0)
    K = linear._real_array("K", K, low=1.0)
    if np.any(K != np.round(K)):
        raise ValueError("`K` must be an integer >= 1 (or an array of them): the order of the "
                         "roots")
    b = np.max(np.abs(s[None, :] ** (1.0 / np.atleast_1d(K)[:, None]) - 1.0), axis=1)
    o = 2 * np.sin(np.max(phi, initial=0.0) / 2 / np.atleast_1d(K))
    if np.ndim(K) == 0:
        return float(b[0]), float(o[0])
    return b, o


def draw_hardt_ma(K=10, seed=2, d=4, *, fig=None):
    """Left: :math:`\\|V_k\\|` for the 2K factors of a random d x d matrix (seeded; a row is
    flipped when det < 0); right: :math:`K\\max_k\\|V_k\\|` against K and the limit."""
    K = check_positive_int("K", K)
    seed = check_positive_int("seed", seed, minimum=0)
    d = check_positive_int("d", d, minimum=2)
    s, phi, limit = _hm_spectrum(seed, d)
    b, o = hardt_ma_norms(s, phi, K)
    fig, (ax1, ax2) = reusable_figure(fig, 2, 10.0, 3.6, bottom=0.15, top=0.86)
    k = np.arange(1, 2 * K + 1)
    ax1.vlines(k[:K], 0, o, color=PALETTE["sky"], lw=4, label=r"rotation $O^{1/K}-1$")
    ax1.vlines(k[K:], 0, b, color=PALETTE["orange"], lw=4, label=r"stretch $B^{1/K}-1$")
    ax1.set(xlabel="factor k", ylabel=r"$\|V_k\|$", ylim=(0, 1.5 * max(b, o, 1e-3)))
    ax1.legend(fontsize=8, loc="upper left")
    bs, os_ = hardt_ma_norms(s, phi, _K_GRID)
    ax2.semilogx(_K_GRID, _K_GRID * np.maximum(bs, os_), color=PALETTE["blue"],
                 label=r"$K\,\max_k\|V_k\|$")
    ax2.axhline(limit, color=PALETTE["grey"], ls="--", lw=1,
                label=r"limit $\max(|\ln\lambda_i|,\phi_j)$")
    ax2.plot([K], [K * max(b, o)], "o", color=PALETTE["vermillion"], mfc="white")
    ax2.set(xlabel="K", ylabel=r"$K\,\max_k\|V_k\|$")
    ax2.legend(fontsize=8, loc="best")
    _few_ticks(ax1, ax2)
    fig.suptitle(f"random {d}x{d} matrix (seed {seed}), K = {K}: {2 * K} factors", fontsize=10)
    return fig


def hardt_ma_explorer():
    """Sliders for K and the seed of the random matrix over :func:`draw_hardt_ma`."""
    import ipywidgets as w

    return explorer(lambda fig, K, seed: draw_hardt_ma(K, seed, fig=fig), (10.0, 3.6),
                    K=w.IntSlider(value=10, min=1, max=60, description="K"),
                    seed=w.IntSlider(value=2, min=0, max=20, description="seed"))


# ----------------------------------------------------------------------------- connection
_TS = np.linspace(0.0, 1.0, 11)


@lru_cache(maxsize=4)
def _connection_curves(n_neurons, seed):
    A = linear.sample_neurons(n_neurons, seed)
    B = linear.sample_neurons(n_neurons, seed + 1)
    return (linear.path_deviation(A, B, _TS, "linear", grid_size=21),
            linear.path_deviation(A, B, _TS, "arc", grid_size=21))


@lru_cache(maxsize=4)
def _gaussian_pair(n, seed):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, 2)), rng.standard_normal((n, 2))


def draw_connection(t=0.5, method="linear", n_points=1000, n_neurons=2000, seed=0, *, fig=None):
    """Left: the Gaussian sample :math:`X(t)` on the chosen path with the circle of radius 2
    (two standard deviations of :math:`X(0)`); right: relative deviation of the random-feature network
    :func:`mftheory.linear.neuron_network` from its start along both paths."""
    t = check_real("t", t, low=0.0, high=1.0)
    method = check_choice("method", method, linear.CONNECTIONS)
    n_points = check_positive_int("n_points", n_points, minimum=2)
    n_neurons = check_positive_int("n_neurons", n_neurons, minimum=2)
    seed = check_positive_int("seed", seed, minimum=0)
    X, Y = _gaussian_pair(n_points, seed)
    Z = linear.connect(X, Y, t, method)
    lin_dev, arc_dev = _connection_curves(n_neurons, seed)
    fig, (ax1, ax2) = reusable_figure(fig, 2, 10.0, 4.0, bottom=0.14, top=0.88)
    ax1.plot(Z[:, 0], Z[:, 1], ".", ms=2, alpha=0.5,
             color=PALETTE["blue" if method == "linear" else "green"])
    u = np.linspace(0, 2 * np.pi, 200)
    ax1.plot(2 * np.cos(u), 2 * np.sin(u), color=PALETTE["grey"], lw=1)
    var = float(np.mean(Z**2))
    ax1.set(xlim=(-4, 4), ylim=(-4, 4), aspect="equal", xlabel="$x_1$", ylabel="$x_2$",
            title=f"{method} path, t = {t:.2f}: variance {var:.2f} "
                  f"(theory {linear.connection_variance_factor(t, method):.2f})")
    ax1.set_xticks([-4, -2, 0, 2, 4])
    ax1.set_yticks([-4, -2, 0, 2, 4])
    ax2.plot(_TS, lin_dev, "-o", ms=3.5, color=PALETTE["blue"], label="linear path")
    ax2.plot(_TS, arc_dev, "-s", ms=3.5, color=PALETTE["green"], label="arc path")
    cur = np.interp(t, _TS, lin_dev if method == "linear" else arc_dev)
    ax2.plot([t], [cur], "o", ms=9, mfc="none", color=PALETTE["vermillion"])
    ax2.set(xlabel="t", ylabel=r"$\|f_{X(t)}-f_A\|/\|f_A\|$",
            title=f"network of {n_neurons} tanh neurons")
    ax2.legend(fontsize=8, loc="upper right")
    _few_ticks(ax2)
    return fig


def connection_explorer():
    """Slider for t and a linear/arc toggle over :func:`draw_connection`."""
    import ipywidgets as w

    return explorer(lambda fig, t, method: draw_connection(t, method, fig=fig), (10.0, 4.0),
                    t=w.FloatSlider(value=0.5, min=0.0, max=1.0, step=0.05, description="t"),
                    method=w.ToggleButtons(options=list(linear.CONNECTIONS), value="linear",
                                           description="path"))

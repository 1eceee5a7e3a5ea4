r"""Explorers for the chapter on signal propagation in deep random networks.

Each explorer has a ``draw_*`` function (computation with :mod:`mftheory.signal` and
:mod:`mftheory.nets`, then the redraw on a given figure; its update time is measured by the tests)
and a ``*_explorer()`` builder that wires ipywidgets controls to it. Called with its default
arguments, every ``draw_*`` is also the chapter's static figure for the website.

* :func:`draw_cobweb`: the length map
  :math:`\nu(q)=\sigma_w^2\mathbb E[\phi(\sqrt q z)^2]+\sigma_b^2`
  against the diagonal, the cobweb :math:`q_0\to q_1\to\dots` and every fixed point on the shown
  interval (stable filled, unstable open). Data helpers: :func:`cobweb_path`,
  :func:`fixed_points_on`.
* :func:`draw_cmap`: the correlation map at :math:`q^*` with :math:`c^*` and its slope
  :math:`\chi_1` at :math:`c=1`, and the iterates :math:`c_k`.
* :func:`draw_phase`: :math:`\chi_1` over :math:`(\sigma_w^2,\sigma_b^2)` with the order-to-chaos
  line :math:`\chi_1=1`, and the depth scales :math:`\xi_q,\xi_c` along :math:`\sigma_w^2`.
* :func:`draw_simulation`: finite random networks (mean :math:`\pm` s.e. over seeds) on top of the
  predicted trajectory :math:`(q_k,c_k)` and the per-layer gradient factor.

Speed. The maps are evaluated with the ``'fast'`` quadrature rule of :mod:`mftheory.gaussian`
(about 1e-8 relative for :math:`q\le10`: invisible in a figure), figures are reused between
redraws (only the data artists are replaced), and the static phase-diagram grid is computed once
per activation (:func:`phase_grid`, cached). Measured redraw times are in the test module.
"""

from __future__ import annotations

import math
from contextlib import contextmanager
from functools import lru_cache
from typing import NamedTuple

import numpy as np
from scipy import optimize

from .. import gaussian, signal
from .._validate import check_positive_int, check_real
from ..plotting import PALETTE
from ._base import explorer, reusable_figure

__all__ = [
    "QFixedPoint",
    "cobweb_path",
    "fixed_points_on",
    "phase_grid",
    "draw_cobweb",
    "cobweb_explorer",
    "draw_cmap",
    "cmap_explorer",
    "draw_phase",
    "phase_explorer",
    "draw_simulation",
    "simulation_explorer",
]

ACTIVATION_CHOICES = ("tanh", "erf", "relu", "linear")
SIGMA_W2_RANGE = (0.5, 5.0)
SIGMA_B2_RANGE = (0.0, 1.0)
_RULE = "fast"
# The input checks and the closed-form slopes of linear and ReLU are the theory module's own.
_hyper = signal._hyper
_HOMOGENEOUS = signal._HOMOGENEOUS      # nu(q) = m sigma_w2 q + sigma_b2


# --------------------------------------------------------------------------------------
# Pure data helpers
# --------------------------------------------------------------------------------------
class QFixedPoint(NamedTuple):
    """A fixed point of the length map: ``q``, the slope :math:`\\nu'(q)`, whether it attracts."""

    q: float
    slope: float
    stable: bool


def cobweb_path(act: str, q0, sigma_w2, sigma_b2, n_steps: int, *, rule: str = _RULE):
    r"""Staircase coordinates of the cobweb of :math:`q_{k+1}=\nu(q_k)` started at ``q0``.

    The path visits :math:`(q_0,q_0)\to(q_0,q_1)\to(q_1,q_1)\to(q_1,q_2)\to\dots\to(q_n,q_n)`:
    vertical steps go from the diagonal to the graph of :math:`\nu`, horizontal steps back to
    the diagonal. The iterates are :func:`mftheory.signal.q_iterates`.

    Parameters
    ----------
    act : {'linear', 'relu', 'tanh', 'erf'}
    q0 : float >= 0
        Starting length.
    sigma_w2 : float > 0
    sigma_b2 : float >= 0
    n_steps : int >= 0
        Number of applications of :math:`\nu`.
    rule : {'fast', 'accurate'}
        Quadrature rule for tanh (see :func:`mftheory.gaussian.gauss_rule`).

    Returns
    -------
    (x, y) : two float arrays of length ``2 * n_steps + 1`` with ``x[2k] = y[2k] = q_k`` and
    ``(x[2k+1], y[2k+1]) = (q_k, q_{k+1})``.
    """
    act, sw2, sb2 = _hyper(act, sigma_w2, sigma_b2)
    q0 = check_real("q0", q0, low=0.0)
    n_steps = check_positive_int("n_steps", n_steps, minimum=0)
    q = signal.q_iterates(act, q0, sw2, sb2, n_steps, rule=rule)
    if not np.all(np.isfinite(q)):
        raise ValueError(f"the iterates of the length map overflow within {n_steps} steps; "
                         "use fewer steps")
    twice = np.repeat(q, 2)
    return twice[:-1].copy(), twice[1:].copy()


def fixed_points_on(act: str, sigma_w2, sigma_b2, qmax, *, n_grid: int = 512,
                    rule: str = _RULE) -> list[QFixedPoint]:
    r"""All fixed points :math:`\nu(q)=q` on :math:`[0,q_{\max}]`, with their stability.

    :math:`g(q)=\nu(q)-q` is evaluated on ``n_grid`` equally spaced points; exact zeros (such as
    :math:`q=0` when :math:`\sigma_b^2=0`) are kept and every sign change is refined by Brent's
    method. Since :math:`\nu` is increasing for every registered activation, a fixed point
    attracts the cobweb iff :math:`g>0` just below it (or it is :math:`q=0`) and :math:`g<0`
    just above it; for a transversal crossing that is :math:`\nu'(q)<1`, and it also decides the
    marginal case :math:`\nu'=1` (tanh at :math:`(1,0)`: :math:`q=0` attracts like a power law).

    Two fixed points closer than the grid spacing, or a tangency, can be missed; the grid is fine
    enough for the widgets' parameter ranges. When :math:`\nu(q)=q` for *every* q (ReLU at
    :math:`(2,0)`, linear at :math:`(1,0)`) there are no isolated fixed points and the result is
    empty; :func:`draw_cobweb` says so in its title.

    Parameters
    ----------
    act : {'linear', 'relu', 'tanh', 'erf'}
    sigma_w2 : float > 0
    sigma_b2 : float >= 0
    qmax : float > 0
        Right end of the search interval.
    n_grid : int >= 8
    rule : {'fast', 'accurate'}

    Returns
    -------
    list of :class:`QFixedPoint`, sorted by q.

    Examples
    --------
    >>> [round(p.q, 6) for p in fixed_points_on('tanh', 1.5, 0.05, 3.0)]
    [0.418037]
    """
    act, sw2, sb2 = _hyper(act, sigma_w2, sigma_b2)
    qmax = check_real("qmax", qmax, low=0.0, low_inclusive=False)
    n_grid = check_positive_int("n_grid", n_grid, minimum=8)
    if act in _HOMOGENEOUS and _HOMOGENEOUS[act] * sw2 == 1.0 and sb2 == 0.0:
        return []                                            # nu is the identity

    def g(q):
        return signal.q_map(act, q, sw2, sb2, rule=rule) - q

    grid = np.linspace(0.0, qmax, n_grid)
    gv = g(grid)
    # |g| below this is an exact zero (not a crossing): rounding of nu is ~1e-16 relative
    zero_tol = 1e-13 * (1.0 + np.abs(grid))
    is_zero = np.abs(gv) <= zero_tol
    roots = list(grid[is_zero])
    sign = np.sign(np.where(is_zero, 0.0, gv))
    for i in np.nonzero(sign[:-1] * sign[1:] < 0)[0]:
        roots.append(optimize.brentq(lambda q: float(g(q)), grid[i], grid[i + 1], xtol=1e-15,
                                     rtol=4 * np.finfo(float).eps, maxiter=200))
    h = 0.25 * qmax / (n_grid - 1)                           # probe well inside one grid cell
    out = []
    for r in sorted(roots):
        above = float(g(r + h)) < 0.0
        below = r - h < 0.0 or float(g(r - h)) > 0.0
        slope = float(signal.q_map_slope(act, r, sw2, sb2, rule=rule))
        out.append(QFixedPoint(float(r), slope, bool(above and below)))
    return out


SW2_GRID = np.round(np.linspace(*SIGMA_W2_RANGE, 181), 10)    # step 0.025
SB2_GRID = np.round(np.linspace(*SIGMA_B2_RANGE, 41), 10)     # step 0.025 (the slider's step)


def phase_grid(act: str) -> signal.PhaseDiagram:
    r""":func:`mftheory.signal.phase_diagram` on a grid, computed once per activation, cached.

    :math:`\sigma_w^2\in[0.5,5]\times\sigma_b^2\in[0,1]`, 181 x 41 points, steps 0.025."""
    return _phase_grid(gaussian.check_activation(act))     # checked before the (hashing) cache


@lru_cache(maxsize=None)
def _phase_grid(act):
    return signal.phase_diagram(act, SW2_GRID, SB2_GRID, correlations=True)


@lru_cache(maxsize=256)
def _phase_row(act, sb2):
    """xi_q, xi_c along SW2_GRID at one sigma_b2 (a grid row when sigma_b2 is on the grid)."""
    j = np.flatnonzero(np.abs(SB2_GRID - sb2) <= 1e-9)
    if j.size:
        pd = phase_grid(act)
        return pd.xi_q[j[0]], pd.xi_c[j[0]], pd.chi1[j[0]]
    pd = signal.phase_diagram(act, SW2_GRID, [sb2], correlations=True)
    return pd.xi_q[0], pd.xi_c[0], pd.chi1[0]


@lru_cache(maxsize=256)
def _critical_sigma_w2(act, sb2):
    """The order-to-chaos sigma_w2 at one sigma_b2: it does not move with the sigma_w2 slider."""
    return signal.critical_sigma_w2(act, sb2)


# --------------------------------------------------------------------------------------
# Figures
# --------------------------------------------------------------------------------------
def _fig(fig, ncols, width=10.0, height=3.6):
    return reusable_figure(fig, ncols, width, height, bottom=0.15, top=0.86, wspace=0.32)


def _fmt(x, digits=4):
    return "∞" if math.isinf(x) else f"{x:.{digits}g}"


def draw_cobweb(act="tanh", sigma_w2=2.5, sigma_b2=0.05, q0=3.0, n_steps=12, fig=None):
    r"""The length map :math:`\nu` against the diagonal, the cobweb from ``q0``, fixed points.

    One axes with five lines: :math:`\nu(q)`, the diagonal, the cobweb (:func:`cobweb_path`),
    the stable fixed points (filled) and the unstable ones (open) from :func:`fixed_points_on`.
    For ReLU and linear networks whose lengths grow without bound (``phase == 'unbounded'``)
    there is no fixed point to mark; the axis then follows the first iterates and the title
    says so.
    """
    act, sw2, sb2 = _hyper(act, sigma_w2, sigma_b2)
    q0 = check_real("q0", q0, low=0.0)
    n_steps = check_positive_int("n_steps", n_steps, minimum=0)
    if n_steps > 200:
        raise ValueError(f"`n_steps` must be <= 200, got {n_steps}")
    fp = signal.fixed_point(act, sw2, sb2, q0=max(q0, 1e-12))
    x, y = cobweb_path(act, q0, sw2, sb2, n_steps)
    if fp.phase == "unbounded":
        shown = x[: 2 * min(n_steps, 8) + 1]       # the first 8 steps set the scale
        qmax = 1.15 * max(float(shown.max()), float(y[: shown.size].max()), 1.0)
    else:
        qmax = 1.15 * max(float(x.max()), float(y.max()),
                          fp.q_star if math.isfinite(fp.q_star) else 0.0, 0.5)
    points = fixed_points_on(act, sw2, sb2, qmax)
    fig, (ax,) = _fig(fig, 1, 5.6, 4.2)
    qq = np.linspace(0.0, qmax, 300)
    ax.plot(qq, signal.q_map(act, qq, sw2, sb2, rule=_RULE), color=PALETTE["blue"],
            label=r"$\nu(q)$")
    ax.plot([0, qmax], [0, qmax], color="0.55", lw=1, label="diagonal")
    ax.plot(x, y, color=PALETTE["orange"], lw=1.0, label=f"cobweb from $q_0$ = {q0:g}")
    st = [p.q for p in points if p.stable]
    un = [p.q for p in points if not p.stable]
    ax.plot(st, st, "o", color="k", ms=7, ls="none", label="stable fixed point")
    ax.plot(un, un, "o", color="k", mfc="white", mew=1.4, ms=7, ls="none",
            label="unstable fixed point")
    ax.set(xlim=(0, qmax), ylim=(0, qmax), xlabel="$q_{k}$", ylabel="$q_{k+1}$")
    ax.legend(fontsize=7, loc="lower right")
    if fp.phase == "unbounded":
        title = (f"{act}: no fixed point — $q_k$ grows without bound "
                 f"($\\chi_1$ = {fp.chi1:.3g} ≥ 1)")
    elif act in _HOMOGENEOUS and sb2 == 0.0 and _HOMOGENEOUS[act] * sw2 == 1.0:
        title = f"{act}: ν(q) = q — every q is a fixed point (marginal)"
    elif fp.q_star == 0.0:
        title = (f"{act}: $q^*$ = 0, the signal dies (ν'(0) = {fp.a:.3g}, "
                 f"$\\xi_q$ = {_fmt(fp.xi_q, 3)})")
    else:
        title = (f"{act}: $q^*$ = {fp.q_star:.5g}, ν'($q^*$) = {fp.a:.3g}, "
                 f"$\\xi_q$ = {_fmt(fp.xi_q, 3)}")
    ax.set_title(title, fontsize=9.5)
    return fig


def draw_cmap(act="tanh", sigma_w2=2.5, sigma_b2=0.05, c0=0.9, depth=30, fig=None):
    r"""Left: the correlation map at :math:`q^*` on [-1, 1] with the diagonal, its tangent at
    :math:`c=1` (slope :math:`\chi_1`) and its fixed points :math:`c=1` and :math:`c^*`;
    right: the iterates :math:`c_k` from ``c0`` (:func:`mftheory.signal.c_iterates`) with
    :math:`c^*`.

    Degenerate cases (see :mod:`mftheory.signal`): when :math:`q^*=0` the c-map is its
    :math:`q\to0` limit; when the lengths are unbounded there is no :math:`q^*`: the left panel
    then shows the :math:`q\to\infty` limit of the map, labelled as such, and the right panel the
    joint iteration :math:`(q_k,c_k)` from :math:`q_0=1`, where :math:`c_{k+1}` is the c-map
    taken at the current length :math:`q_k` (not at a fixed point that does not exist).
    """
    act, sw2, sb2 = _hyper(act, sigma_w2, sigma_b2)
    c0 = check_real("c0", c0, low=-1.0, high=1.0)
    depth = check_positive_int("depth", depth)
    if depth > 500:
        raise ValueError(f"`depth` must be <= 500, got {depth}")
    fp = signal.fixed_point(act, sw2, sb2)
    unbounded = fp.phase == "unbounded"
    cc = np.linspace(-1.0, 1.0, 101)
    mehler = None
    if act == "tanh" and not unbounded and fp.q_star > 0.0:
        # 2D quadrature costs ~1 ms per point; Mehler's series at q* (120 Hermite coefficients,
        # one 1D quadrature, ~0.4 ms) gives the same map on [-1, 1] to 1e-7 or better over the
        # sliders' range (6e-8 at (5, 1), 1e-12 near the default point)
        coef = gaussian.hermite_coefficients(act, fp.q_star, 120, rule=_RULE) ** 2

        def mehler(c):
            return (sw2 * np.polynomial.polynomial.polyval(c, coef) + sb2) / fp.q_star

        cm = mehler(cc)
    else:
        cm = signal.c_map(act, cc, sw2, sb2, rule=_RULE)
    if mehler is not None:
        ck = np.empty(depth + 1)
        ck[0] = c0
        for k in range(depth):
            ck[k + 1] = min(1.0, max(-1.0, float(mehler(ck[k]))))
    elif unbounded:
        q = signal.q_iterates(act, 1.0, sw2, sb2, depth - 1, rule=_RULE)
        ck = np.empty(depth + 1)
        ck[0] = c0
        for k in range(depth):
            nxt = float(signal.c_map(act, ck[k], sw2, sb2, q[k], rule=_RULE))
            ck[k + 1] = min(1.0, max(-1.0, nxt))
    else:
        ck = signal.c_iterates(act, c0, sw2, sb2, depth, rule=_RULE)
    slope1 = float(signal.c_map_slope(act, 1.0, sw2, sb2, rule=_RULE))   # of the drawn map
    fig, (ax1, ax2) = _fig(fig, 2, 10.5, 3.8)
    lab = r"$q\to\infty$ limit of the c-map" if unbounded else r"c-map at $q^*$"
    ax1.plot(cc, cm, color=PALETTE["blue"], label=lab)
    ax1.plot([-1, 1], [-1, 1], color="0.55", lw=1, label="diagonal")
    t = np.array([0.55, 1.0])
    ax1.plot(t, 1.0 + slope1 * (t - 1.0), "--", color=PALETTE["vermillion"], lw=1.2,
             label=f"slope {slope1:.4g} at $c=1$")
    fixed = []                      # unbounded: no q*, so no fixed point of the layer map to mark
    if not unbounded:
        fixed.append((1.0, slope1 <= 1.0 + 1e-12 and fp.phase != "chaotic"))
        if fp.c_star < 1.0:
            fixed.append((fp.c_star, fp.chi_c < 1.0))
    st = [c for c, s in fixed if s]
    un = [c for c, s in fixed if not s]
    ax1.plot(st, st, "o", color="k", ms=7, ls="none", label="stable")
    ax1.plot(un, un, "o", color="k", mfc="white", mew=1.4, ms=7, ls="none", label="unstable")
    ax1.set(xlim=(-1.02, 1.02), ylim=(-1.02, 1.02), xlabel="$c_{k}$", ylabel="$c_{k+1}$")
    ax1.legend(fontsize=7, loc="lower right")
    k = np.arange(depth + 1)
    ax2.plot(k, ck, "o-", ms=3, lw=1, color=PALETTE["blue"], label="$c_k$")
    if unbounded:
        ax1.set_title(f"{act}: no $q^*$ — lengths grow without bound ($\\chi_1$ = {fp.chi1:.4g})",
                      fontsize=9.5)
        ax2.set_title("$c_k$ with $q_k$ from $q_0$ = 1 (no fixed point)", fontsize=9.5)
    else:
        ax2.axhline(fp.c_star, color=PALETTE["green"], ls="--", lw=1,
                    label=f"$c^*$ = {fp.c_star:.4g}")
        if fp.q_star == 0.0 or (act in _HOMOGENEOUS and sb2 == 0.0):
            extra = "; $q^*$ = 0: the q→0 limit map" if fp.q_star == 0.0 else ""
            head = f"{act}, {fp.phase}: $\\chi_1$ = {fp.chi1:.4g}, slope at 1 = {slope1:.4g}{extra}"
        else:
            head = (f"{act}, {fp.phase}: $\\chi_1$ = {fp.chi1:.4g} (slope at 1), "
                    f"$c^*$ = {fp.c_star:.4g}")
        ax1.set_title(head, fontsize=9.5)
        ax2.set_title(f"$\\xi_c$ = {_fmt(fp.xi_c)}  ($\\chi_c(c^*)$ = {fp.chi_c:.4g})",
                      fontsize=9.5)
    ax2.set(xlabel="layer $k$", ylabel="$c_k$", ylim=(min(-0.02, float(ck.min()) - 0.02), 1.02))
    ax2.legend(fontsize=7)
    return fig


def draw_phase(act="tanh", sigma_w2=2.5, sigma_b2=0.05, fig=None):
    r"""Left: :math:`\chi_1` over :math:`(\sigma_w^2,\sigma_b^2)` (log colour scale centred on 1)
    with the line :math:`\chi_1=1` and the current point; right: :math:`\xi_q` and :math:`\xi_c`
    against :math:`\sigma_w^2` at the current :math:`\sigma_b^2`, the critical :math:`\sigma_w^2`
    and the current point, with both depth scales in the title.

    The grid is :func:`phase_grid` (cached per activation: the first call for an activation pays
    for it, see the tests for the times); the current point's values come from
    :func:`mftheory.signal.fixed_point`.
    """
    from matplotlib.colors import LogNorm

    act, sw2, sb2 = _hyper(act, sigma_w2, sigma_b2)
    pd = phase_grid(act)
    xi_q_row, xi_c_row, _ = _phase_row(act, sb2)
    fp = signal.fixed_point(act, sw2, sb2)
    crit = _critical_sigma_w2(act, sb2)
    fig, (ax1, ax2) = _fig(fig, 2, 11.0, 3.9)
    norm = LogNorm(vmin=1 / 3, vmax=3)
    extent = (SW2_GRID[0], SW2_GRID[-1], SB2_GRID[0], SB2_GRID[-1])
    im = ax1.imshow(np.clip(pd.chi1, 1 / 3, 3), origin="lower", aspect="auto", extent=extent,
                    cmap="RdBu_r", norm=norm, interpolation="bilinear")
    ax1.contour(pd.sigma_w2, pd.sigma_b2, pd.chi1, levels=[1.0], colors="k", linewidths=1.2)
    ax1.plot([sw2], [sb2], "*", color=PALETTE["yellow"], mec="k", ms=12)
    ax1.set(xlim=extent[:2], ylim=extent[2:], xlabel=r"$\sigma_w^2$", ylabel=r"$\sigma_b^2$")
    ax1.set_title(rf"{act}: $\chi_1$ (black: $\chi_1$ = 1; red: chaotic)", fontsize=9.5)
    cbar = getattr(fig, "_mftheory_signal_cbar", None)
    if cbar is None or cbar.ax not in fig.axes:
        fig._mftheory_signal_cbar = fig.colorbar(im, ax=ax1, label=r"$\chi_1$")
    else:
        fig._mftheory_signal_cbar.update_normal(im)
    fin = lambda a: np.where(np.isfinite(a), a, np.nan)  # noqa: E731  (inf: not drawn)
    ax2.semilogy(SW2_GRID, fin(xi_q_row), color=PALETTE["blue"], label=r"$\xi_q$")
    ax2.semilogy(SW2_GRID, fin(xi_c_row), color=PALETTE["vermillion"], label=r"$\xi_c$")
    ax2.axvline(crit, color="k", ls="--", lw=1, label=rf"critical $\sigma_w^2$ = {crit:.5g}")
    pts = [(fp.xi_q, PALETTE["blue"]), (fp.xi_c, PALETTE["vermillion"])]
    ax2.plot([sw2 if math.isfinite(v) else np.nan for v, _ in pts],
             [v if math.isfinite(v) else np.nan for v, _ in pts], "o", color="k", ms=6, ls="none",
             label="current point")
    ax2.set(xlim=SIGMA_W2_RANGE, ylim=(0.1, 1e3), xlabel=r"$\sigma_w^2$",
            ylabel="depth scale (layers)")
    note = "  (unbounded $q$)" if fp.phase == "unbounded" else ""
    ax2.set_title(rf"$\sigma_b^2$ = {sb2:.3g}: $\xi_q$ = {_fmt(fp.xi_q)}, "
                  rf"$\xi_c$ = {_fmt(fp.xi_c)}, "
                  f"{fp.phase}{note}", fontsize=9.5)
    ax2.legend(fontsize=7, loc="upper right")
    return fig


def draw_simulation(act="tanh", sigma_w2=2.5, sigma_b2=0.05, width=300, depth=20, fig=None, *,
                    n_seeds=3, seed=0, q0=1.0, c0=0.9):
    r"""Finite random networks against mean-field theory, layer by layer.

    Runs :func:`mftheory.nets.simulate` (``n_seeds`` networks of constant ``width``, two inputs
    with length ``q0`` and cosine ``c0``) and draws, as markers with error bars (mean :math:`\pm`
    s.e. over seeds), the measured :math:`q_k`, :math:`c_k` and per-layer gradient ratio
    :math:`|\delta_k|^2/|\delta_{k+1}|^2`; as lines, the predicted trajectory
    (:func:`mftheory.signal.trajectory`), the per-layer factor
    :math:`\sigma_w^2\mathbb E[\phi'(\sqrt{q_k}z)^2]` along it, and :math:`\chi_1` at :math:`q^*`.

    The networks run on the CPU with one torch thread (see ``_one_torch_thread``). Cost grows like
    ``n_seeds * depth * width**2``: with the defaults about 0.06 s for the simulation and 0.15 s
    with the redraw; width 2000 takes seconds, so the explorer updates on release of its sliders.
    """
    from .. import nets

    act, sw2, sb2 = _hyper(act, sigma_w2, sigma_b2)
    width = check_positive_int("width", width, minimum=2)
    depth = check_positive_int("depth", depth, minimum=2)
    n_seeds = check_positive_int("n_seeds", n_seeds, minimum=2)
    q0 = check_real("q0", q0, low=0.0, low_inclusive=False)
    c0 = check_real("c0", c0, low=-1.0, high=1.0)
    with _one_torch_thread():
        sim = nets.simulate(act, sw2, sb2, width=width, depth=depth, q0=q0, c0=c0, n_seeds=n_seeds,
                            seed=seed, device="cpu")
    qt, ct = signal.trajectory(act, sw2, sb2, depth, q0=q0, c0=c0, rule=_RULE)
    chi_k = sw2 * gaussian.derivative_second_moment(act, qt, rule=_RULE)  # factor at layer k
    fp = signal.fixed_point(act, sw2, sb2)
    ratio = sim.grad_ratio()
    k = sim.layers
    fig, (ax1, ax2, ax3) = _fig(fig, 3, 13.0, 3.7)
    kw = {"fmt": "o", "ms": 3.5, "mfc": "white", "mew": 1.2, "capsize": 2, "lw": 1}
    ax1.plot(k, qt, color=PALETTE["blue"], label="theory")
    ax1.errorbar(k, sim.mean("q"), sim.sem("q"), color=PALETTE["blue"], label="simulation", **kw)
    ax1.set(xlabel="layer $k$", ylabel="$q_k$")
    scale = "log" if np.max(qt) > 50 * max(np.min(qt), 1e-300) else "linear"
    if ax1.get_yscale() != scale:                   # changing the scale is slow: only when needed
        ax1.set_yscale(scale)
    ax2.plot(k, ct, color=PALETTE["vermillion"], label="theory")
    ax2.errorbar(k, sim.mean("c"), sim.sem("c"), color=PALETTE["vermillion"], label="simulation",
                 **kw)
    ax2.set(xlabel="layer $k$", ylabel="$c_k$")
    kr = k[:-1]
    ax3.plot(kr, chi_k[:-1], color=PALETTE["green"], label=r"$\sigma_w^2\,E[\phi'(\sqrt{q_k}z)^2]$")
    ax3.axhline(fp.chi1, color="k", ls="--", lw=1, label=rf"$\chi_1$ = {fp.chi1:.4g}")
    ax3.errorbar(kr, ratio.mean(axis=0), ratio.std(axis=0, ddof=1) / math.sqrt(n_seeds),
                 color=PALETTE["green"], label="simulation", **kw)
    ax3.set(xlabel="layer $k$", ylabel=r"$|\delta_k|^2/|\delta_{k+1}|^2$")
    for ax in (ax1, ax2, ax3):
        ax.legend(fontsize=7)
    ax1.set_title(f"{act}, width {width}, {n_seeds} seeds: $q_k$", fontsize=9.5)
    ax2.set_title("$c_k$ (theory: trajectory, not $c^*$)", fontsize=9.5)
    ax3.set_title("per-layer gradient factor", fontsize=9.5)
    return fig


@contextmanager
def _one_torch_thread():
    """Run torch on one CPU thread, then restore the setting. The widget's networks are small
    (matrix-vector products; drawing the weights dominates), and two intra-op threads competing
    with another busy process made the default simulation 40x slower (2.3 s instead of 0.06 s)
    on the 2-core development machine."""
    import torch

    n = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(n)


# --------------------------------------------------------------------------------------
# Explorers
# --------------------------------------------------------------------------------------
def _sliders(w, continuous=True):
    return {
        "act": w.Dropdown(options=list(ACTIVATION_CHOICES), value="tanh", description="activation"),
        "sigma_w2": w.FloatSlider(2.5, min=SIGMA_W2_RANGE[0], max=SIGMA_W2_RANGE[1], step=0.025,
                                  description="σ_w²", continuous_update=continuous),
        "sigma_b2": w.FloatSlider(0.05, min=SIGMA_B2_RANGE[0], max=SIGMA_B2_RANGE[1], step=0.025,
                                  description="σ_b²", continuous_update=continuous),
    }


def cobweb_explorer():
    """Activation, sigma_w2 in [0.5, 5], sigma_b2 in [0, 1], q0 and the number of steps."""
    import ipywidgets as w

    return explorer(draw_cobweb, (5.6, 4.2), **_sliders(w),
                     q0=w.FloatSlider(3.0, min=0.0, max=8.0, step=0.05, description="q₀"),
                     n_steps=w.IntSlider(12, min=1, max=60, description="steps"))


def cmap_explorer():
    """Activation, sigma_w2, sigma_b2, c0 in [-1, 1] and the depth."""
    import ipywidgets as w

    return explorer(draw_cmap, (10.5, 3.8), **_sliders(w),
                     c0=w.FloatSlider(0.9, min=-1.0, max=1.0, step=0.01, description="c₀"),
                     depth=w.IntSlider(30, min=1, max=100, description="depth"))


def phase_explorer():
    """Activation and the point (sigma_w2, sigma_b2); sigma_b2 steps on the cached grid rows."""
    import ipywidgets as w

    return explorer(draw_phase, (11.0, 3.9), **_sliders(w))


def simulation_explorer():
    """Activation, sigma_w2, sigma_b2, width and depth; redraws when a slider is released."""
    import ipywidgets as w

    return explorer(draw_simulation, (13.0, 3.7), **_sliders(w, continuous=False),
                     width=w.IntSlider(300, min=50, max=2000, step=50, description="width",
                                       continuous_update=False),
                     depth=w.IntSlider(20, min=2, max=60, description="depth",
                                       continuous_update=False))

r"""Explorers for the chapter on the mean-field theory of batch normalization.

Each explorer is a ``draw_*`` function (the computation with :mod:`mftheory.batchnorm`, then
the redraw on a given figure; its redraw time is measured in the tests) and an
``*_explorer()`` builder that wires ipywidgets controls to it. Called with its default
arguments, each ``draw_*`` is also the chapter's static figure for the website.

* :func:`draw_explosion`: :math:`\lambda_G` against the batch size with the reference lines
  :math:`(B-2)/(B-3)` (linear, the minimum) and the large-batch limit; the predicted
  :math:`\ln\|\delta^l\|^2` against the layer, which does not move with :math:`\sigma_w^2`
  (BN is scale invariant at :math:`\epsilon=0`); the trainable depth :math:`16\xi`.
* :func:`draw_fixed_point`: the BSB1 matrix :math:`\Sigma^*` and the law of one coordinate of
  the BN output (uniform on a sphere) against the standard normal.
* :func:`draw_spectrum`: the eigenvalues of the linearised forward map (G, L, M) and the
  backward :math:`\lambda_G`, against the line 1.
* :func:`draw_symmetry`: forward :math:`\lambda_L,\lambda_M` of :math:`\alpha`-ReLU against
  :math:`\alpha` with the threshold :math:`\alpha_{tr}(B)`, and the batch covariance after a
  Monte Carlo mean-field iteration at the chosen :math:`\alpha`.
* :func:`draw_simulation`: a live finite network (width 256) over the theory line.

Speed: :math:`\lambda_G` curves use the ``'fast'`` sphere rule (40 nodes per panel, about
1e-10 for smooth activations at :math:`B\ge6`), the eigenvalue curves of the symmetry explorer
are cached per batch size, figures are reused between redraws; the two Monte Carlo explorers
(symmetry, simulation) redraw when a slider is released.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np

from .. import batchnorm as bn
from scipy import special

from .._validate import check_array, check_choice, check_positive_int, check_real
from ..plotting import PALETTE
from ._base import explorer, reusable_figure

__all__ = [
    "explosion_curve",
    "draw_explosion",
    "explosion_explorer",
    "sphere_marginal_density",
    "draw_fixed_point",
    "fixed_point_explorer",
    "draw_spectrum",
    "spectrum_explorer",
    "draw_symmetry",
    "symmetry_explorer",
    "draw_simulation",
    "simulation_explorer",
]

EXPLOSION_ACTS = ("relu", "linear", "tanh", "erf")
SPECTRUM_ACTS = ("relu", "linear", "alpha_relu")
_B_GRID = np.unique(np.round(np.geomspace(4, 256, 18)).astype(int))


def _act(act, choices):
    return check_choice("activation", act, choices)


def explosion_curve(act="relu", *, gamma=1.0, beta=0.0, B_grid=None):
    r""":math:`\lambda_G(B)` on ``B_grid`` (default 18 batch sizes from 4 to 256) for
    :math:`\phi(\gamma x+\beta)`, with the fast sphere rule. Returns ``(B, lam)`` arrays."""
    act = _act(act, EXPLOSION_ACTS)
    if B_grid is None:
        B_grid = _B_GRID
    Bs = np.asarray(B_grid)
    if Bs.ndim != 1 or Bs.size == 0 or not np.issubdtype(Bs.dtype, np.integer):
        raise ValueError(f"`B_grid` must be a non-empty 1-D array of integers >= 4, got {B_grid!r}")
    lam = np.array([bn.gradient_explosion_rate(act, int(B), gamma=gamma, beta=beta, rule="fast")
                    for B in Bs])
    return Bs.astype(int), lam


def _log_B_axis(ax, top=256):
    from matplotlib.ticker import FixedLocator, NullLocator, ScalarFormatter

    ax.set_xscale("log")
    ax.xaxis.set_major_locator(FixedLocator([t for t in (4, 8, 16, 32, 64, 128, 256) if t <= top]))
    ax.xaxis.set_major_formatter(ScalarFormatter())
    ax.xaxis.set_minor_locator(NullLocator())


def draw_explosion(act="relu", B=32, sigma_w2=1.0, gamma=1.0, beta=0.0, *, depth=60, fig=None):
    r"""Two panels: :math:`\lambda_G(B)` with the linear minimum :math:`(B-2)/(B-3)` and the
    large-batch limit; predicted :math:`\ln(\|\delta^l\|^2/\|\delta^L\|^2)=(L-l)\ln\lambda_G`
    for ``depth`` layers (independent of ``sigma_w2``), titled with :math:`\lambda_G`,
    :math:`\xi` and the trainable depth :math:`16\xi`."""
    act = _act(act, EXPLOSION_ACTS)
    B = check_positive_int("B", B, minimum=4)
    sw2 = check_real("sigma_w2", sigma_w2, low=0.0, low_inclusive=False)
    depth = check_positive_int("depth", depth, minimum=2)
    Bs, lam = explosion_curve(act, gamma=gamma, beta=beta)
    lam_B = bn.gradient_explosion_rate(act, B, gamma=gamma, beta=beta, rule="fast")
    limit = bn.large_batch_rate(act, gamma=gamma, beta=beta)
    fig, (a1, a2) = reusable_figure(fig, 2, 11, 3.8, wspace=0.28)
    a1.plot(Bs, lam, color=PALETTE["blue"], label=act)
    a1.plot(Bs, (Bs - 2) / (Bs - 3), color=PALETTE["grey"], ls="--", label="linear: (B-2)/(B-3)")
    a1.axhline(limit, color=PALETTE["orange"], ls=":", label="large-B limit")
    a1.plot([B], [lam_B], "o", color=PALETTE["vermillion"], ms=7)
    a1.set(xlabel="batch size $B$", ylabel=r"$\lambda_G$", ylim=(0.9, 4.0))
    _log_B_axis(a1)
    a1.legend(fontsize=7)
    layers = np.arange(depth + 1)
    a2.plot(layers, (depth - layers) * math.log(lam_B), color=PALETTE["blue"],
            label=f"sigma_w2 = {sw2:.2f} (no effect at eps = 0)")
    xi = 1 / math.log(lam_B) if lam_B > 1 else math.inf
    a2.set(xlabel="layer $l$", ylabel=r"$\ln(\|\delta^l\|^2/\|\delta^L\|^2)$")
    a2.set_title(f"{act}(gamma x + beta), gamma = {gamma:g}, beta = {beta:g}, B = {B}:\n"
                 f"lambda_G = {lam_B:.4f}, xi = {xi:.2f}, 16 xi = {16 * xi:.1f}", fontsize=8)
    a2.legend(fontsize=7, loc="upper right")
    return fig


def explosion_explorer():
    """Activation, batch size, sigma_w2, gamma and beta sliders over :func:`draw_explosion`."""
    import ipywidgets as w

    return explorer(draw_explosion, (11, 3.8),
                    act=w.Dropdown(options=EXPLOSION_ACTS, value="relu", description="phi"),
                    B=w.IntSlider(value=32, min=4, max=256, description="B"),
                    sigma_w2=w.FloatLogSlider(value=1.0, base=10, min=-0.6, max=0.6,
                                              description="sigma_w2"),
                    gamma=w.FloatSlider(value=1.0, min=0.05, max=2.0, step=0.05,
                                        description="gamma"),
                    beta=w.FloatSlider(value=0.0, min=0.0, max=3.0, step=0.1,
                                       description="beta"))


def sphere_marginal_density(x, B):
    r"""Density of one coordinate :math:`x_1` of :math:`x\sim\mathrm{Unif}(S)`:
    :math:`\propto(1-x^2/(B-1))^{(B-4)/2}` on :math:`|x|<\sqrt{B-1}` (0 outside)."""
    B = check_positive_int("B", B, minimum=4)
    x = check_array("x", x)
    t2 = x * x / (B - 1)
    norm = (math.exp(special.gammaln((B - 1) / 2) - special.gammaln((B - 2) / 2))
            / math.sqrt(math.pi * (B - 1)))
    with np.errstate(invalid="ignore"):
        dens = np.where(t2 < 1, norm * np.clip(1 - t2, 0, None) ** ((B - 4) / 2), 0.0)
    return dens


def draw_fixed_point(act="relu", B=8, *, fig=None):
    r"""The BSB1 fixed point :math:`\Sigma^*` as a heatmap, and the density of one BN output
    coordinate (:math:`x_1` of :math:`x\sim\mathrm{Unif}(S)`) against :math:`\mathcal N(0,1)`."""
    act = _act(act, EXPLOSION_ACTS)
    B = check_positive_int("B", B, minimum=4)
    Sfull = bn.bsb1_fixed_point(act, B, rule="fast")
    diag, off = Sfull[0, 0], Sfull[0, 1]
    fig, (a1, a2) = reusable_figure(fig, 2, 10, 3.8, wspace=0.3)
    shown = Sfull[:16, :16]
    vmax = max(abs(diag), abs(off))
    a1.imshow(shown, cmap="RdBu_r", vmin=-vmax, vmax=vmax)
    a1.set_title(rf"$\Sigma^*$ ({act}, B = {B}{', first 16 rows' if B > 16 else ''}): "
                 f"diag {diag:.4f}, off {off:.4f}", fontsize=8)
    a1.grid(False)
    x = np.linspace(-4, 4, 401)
    a2.plot(x, sphere_marginal_density(x, B), color=PALETTE["blue"],
            label=rf"$x_1$, $x$ uniform on $S$ (B = {B})")
    a2.plot(x, np.exp(-x * x / 2) / math.sqrt(2 * math.pi), color=PALETTE["grey"], ls="--",
            label=r"$\mathcal{N}(0,1)$")
    a2.set(xlabel="$x_1$", ylabel="density", ylim=(0, 0.75))
    a2.legend(fontsize=7)
    return fig


def fixed_point_explorer():
    """Activation and batch-size controls over :func:`draw_fixed_point`."""
    import ipywidgets as w

    return explorer(draw_fixed_point, (10, 3.8),
                    act=w.Dropdown(options=EXPLOSION_ACTS, value="relu", description="phi"),
                    B=w.IntSlider(value=8, min=4, max=128, description="B"))


def draw_spectrum(act="relu", B=8, alpha=1.0, *, fig=None):
    r"""Bars: forward eigenvalues :math:`\lambda_G=0,\lambda_L,\lambda_M` of the linearised BN
    map at :math:`\Sigma^*` and the backward :math:`\lambda_G`, against 1 (closed forms for
    degree-:math:`\alpha` activations)."""
    act = _act(act, SPECTRUM_ACTS)
    B = check_positive_int("B", B, minimum=4)
    ev = bn.forward_eigenvalues(act, B, alpha=alpha, method="closed")
    lam = bn.gradient_explosion_rate(act, B, alpha=alpha)
    fig, (ax,) = reusable_figure(fig, 1, 6.5, 3.6, bottom=0.2)
    names = ["fwd G", "fwd L", "fwd M", "bwd G"]
    vals = [ev["G"], ev["L"], ev["M"], lam]
    cols = [PALETTE["grey"], PALETTE["blue"], PALETTE["sky"], PALETTE["vermillion"]]
    ax.bar(names, vals, color=cols)
    ax.axhline(1.0, color=PALETTE["black"], lw=1)
    for i, v in enumerate(vals):
        ax.text(i, v + 0.03, f"{v:.3f}", ha="center", fontsize=8)
    label = act if act != "alpha_relu" else rf"$\alpha$-ReLU, $\alpha={alpha:g}$"
    ax.set(ylabel="eigenvalue", ylim=(0, max(2.0, lam * 1.15)))
    ax.set_title(f"{label}, B = {B}", fontsize=9)
    return fig


def spectrum_explorer():
    """Activation, batch size and alpha controls over :func:`draw_spectrum`."""
    import ipywidgets as w

    return explorer(draw_spectrum, (6.5, 3.6),
                    act=w.Dropdown(options=SPECTRUM_ACTS, value="relu", description="phi"),
                    B=w.IntSlider(value=8, min=4, max=128, description="B"),
                    alpha=w.FloatSlider(value=1.5, min=0.6, max=3.0, step=0.05,
                                        description="alpha"))


@lru_cache(maxsize=32)
def _symmetry_curves(B):
    """Forward lambda_L, lambda_M of alpha-ReLU on an alpha grid, and alpha_tr (cached per B)."""
    a_grid = np.linspace(0.55, 3.0, 50)
    ev = [bn.forward_eigenvalues("alpha_relu", B, alpha=a) for a in a_grid]
    lamL = np.array([e["L"] for e in ev])
    lamM = np.array([e["M"] for e in ev])
    for arr in (a_grid, lamL, lamM):
        arr.setflags(write=False)
    return a_grid, lamL, lamM, bn.alpha_transition(B)


def draw_symmetry(alpha=1.2, B=10, *, steps=12, n_samples=1500, seed=0, fig=None):
    r"""Left: forward :math:`\lambda_L(\alpha)`, :math:`\lambda_M(\alpha)` of :math:`\alpha`-ReLU
    at batch size ``B`` with the threshold :math:`\alpha_{tr}(B)` where :math:`\lambda_L=1`.
    Right: the batch covariance after ``steps`` Monte Carlo mean-field steps from a random
    start at the chosen :math:`\alpha` (normalised by its mean diagonal), with its relative
    diagonal spread."""
    alpha = check_real("alpha", alpha, low=0.5, high=3.0, low_inclusive=False)
    B = check_positive_int("B", B, minimum=4)
    steps = check_positive_int("steps", steps)
    n_samples = check_positive_int("n_samples", n_samples, minimum=100)
    seed = check_positive_int("seed", seed, minimum=0)
    a_grid, lamL, lamM, a_tr = _symmetry_curves(B)
    rng = np.random.default_rng(seed)
    A = rng.standard_normal((B, B))
    S0 = A @ A.T / B + 0.1 * np.eye(B)
    S = bn.mean_field_iterate("alpha_relu", S0, steps, n_samples=n_samples, seed=seed,
                              alpha=alpha)[-1]
    spread = bn.relative_diagonal_spread(S)
    fig, (a1, a2) = reusable_figure(fig, 2, 10.5, 3.8, wspace=0.3)
    a1.plot(a_grid, lamL, color=PALETTE["blue"], label=r"$\lambda_L$")
    a1.plot(a_grid, lamM, color=PALETTE["sky"], label=r"$\lambda_M$")
    a1.axhline(1.0, color=PALETTE["black"], lw=1)
    if math.isfinite(a_tr):
        a1.axvline(a_tr, color=PALETTE["vermillion"], ls="--",
                   label=rf"$\alpha_{{tr}}({B})={a_tr:.3f}$")
    a1.axvline(alpha, color=PALETTE["orange"], lw=1)
    a1.set(xlabel=r"$\alpha$", ylabel="forward eigenvalue", ylim=(0, 2))
    a1.legend(fontsize=7)
    a2.imshow(S / np.mean(np.diag(S)), cmap="viridis")
    a2.grid(False)
    a2.set_title(rf"$\alpha={alpha:.2f}$, {steps} steps: "
                 rf"Var$(\Sigma_{{ii}})$/mean$^2$ = {spread:.2g}", fontsize=8)
    return fig


def symmetry_explorer():
    """alpha and batch-size sliders over :func:`draw_symmetry` (redraws on release)."""
    import ipywidgets as w

    return explorer(draw_symmetry, (10.5, 3.8),
                    alpha=w.FloatSlider(value=1.2, min=0.6, max=2.5, step=0.05,
                                        description="alpha", continuous_update=False),
                    B=w.Dropdown(options=(6, 8, 10, 16), value=10, description="B"))


def draw_simulation(act="relu", B=16, *, width=256, depth=24, n_batches=4, seed=0, fig=None):
    r"""A live finite network: :math:`\ln(\|\delta^l\|^2/\|\delta^L\|^2)` for ``n_batches``
    batches through one network of the given width (markers: their mean) against the
    theory line :math:`(L-l)\ln\lambda_G`."""
    act = _act(act, EXPLOSION_ACTS)
    B = check_positive_int("B", B, minimum=4)
    sim = bn.simulate_bn_mlp(act, B, width=width, depth=depth, n_batches=n_batches, seed=seed,
                             device="cpu")
    lam = bn.gradient_explosion_rate(act, B, rule="fast")
    layers = np.arange(1, depth + 1)
    logg = np.log(sim.grad_sq)
    fig, (ax,) = reusable_figure(fig, 1, 6.5, 3.8)
    ax.plot(layers, (depth - layers) * math.log(lam), color=PALETTE["blue"],
            label=rf"theory, $\lambda_G={lam:.4f}$")
    ax.plot(layers, logg.mean(axis=0), "o", ms=3, color=PALETTE["vermillion"], mfc="white",
            label=f"width {width}, {n_batches} batches: fitted {sim.rate:.4f}")
    ax.set(xlabel="layer $l$", ylabel=r"$\ln(\|\delta^l\|^2/\|\delta^L\|^2)$")
    ax.set_title(f"{act}, B = {B}", fontsize=9)
    ax.legend(fontsize=7)
    return fig


def simulation_explorer():
    """Activation, batch size and width controls over :func:`draw_simulation`."""
    import ipywidgets as w

    return explorer(draw_simulation, (6.5, 3.8),
                    act=w.Dropdown(options=EXPLOSION_ACTS, value="relu", description="phi"),
                    B=w.IntSlider(value=16, min=4, max=64, description="B",
                                  continuous_update=False),
                    width=w.IntSlider(value=256, min=64, max=1024, step=64, description="width",
                                      continuous_update=False))

r"""Explorers for the chapter on the teacher-student framework for locally connected ReLU nets.

Each explorer is a pure ``*_data`` function (unit-tested) and a ``draw_*`` function that redraws a
reused figure from it (timed in ``tests/test_teacher_widgets.py``: p95 over 20 redraws), plus a
``*_explorer()`` builder wiring ipywidgets sliders to the draw function. Called with its defaults,
every ``draw_*`` is also the chapter's static figure for the website.

* :func:`draw_bn_projection`: batch normalization of :math:`N=3` samples seen in the plane
  orthogonal to :math:`\mathbf{1}`, where the back-propagated gradient lies on the normal of
  :math:`\hat{\mathbf{f}}` (Theorem 5), and how :math:`\epsilon>0` tilts it.
* :func:`draw_lossiness`: the error of the reformulation (Theorem 4) per layer for a lossy or
  noisy teacher, and the gating probabilities :math:`D_\beta` against the hard gate.
* :func:`draw_hypercube`: the minimum loss of a linear network on the hypercube against zero for
  ReLU, and the pre-activations of the explicit ReLU construction.
* :func:`draw_vertices`: rows of a random stochastic matrix in the triangle, their vertices, and
  the vertices that survive a linear map :math:`F` of a given rank (Theorem 7).
* :func:`draw_disentangle`: how far the backward signal is from disentangled (Section 8.7.3) and
  the off-block part of the update (Theorem 9).
* :func:`draw_overfitting`: the spurious correlation :math:`\epsilon` over resampled training
  sets against :math:`\pm1/\sqrt{\pi n}`.
* :func:`draw_energy`: row energies of a layer under gradient descent with and without BN.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np

from .. import teacher as T
from .._validate import check_choice, check_positive_int, check_real
from ..plotting import PALETTE
from ._base import explorer, reusable_figure

__all__ = [
    "bn_projection_data", "draw_bn_projection", "bn_projection_explorer",
    "lossiness_data", "draw_lossiness", "lossiness_explorer",
    "hypercube_data", "draw_hypercube", "hypercube_explorer",
    "vertices_data", "draw_vertices", "vertices_explorer",
    "draw_disentangle", "disentangle_explorer",
    "overfitting_data", "draw_overfitting", "overfitting_explorer",
    "draw_energy", "energy_explorer",
]

C = PALETTE


def _no_minor(ax):
    """No minor ticks on a log axis: they cost a third of a redraw and add nothing here."""
    from matplotlib.ticker import NullLocator

    ax.yaxis.set_minor_locator(NullLocator())


def _fig(fig, ncols, width, height, left=0.1):
    fig, axes = reusable_figure(fig, ncols, width, height, bottom=0.16, top=0.84, wspace=0.35)
    fig.subplots_adjust(left=left)
    return fig, axes


# ------------------------------------------------------------------------- BN projection
_U = np.array([[1, -1, 0], [1, 1, -2]], dtype=float) / np.array([[math.sqrt(2)], [math.sqrt(6)]])


def bn_projection_data(f1=0.2, f2=1.0, f3=2.5, g1=1.0, g2=-0.4, g3=0.6, c1=1.0, eps=0.0):
    r"""The three-sample BN backward pass in coordinates of the plane :math:`\mathbf{1}^\perp`.

    Returns a dict with the in-plane coordinates (orthonormal basis
    :math:`(1,-1,0)/\sqrt2,(1,1,-2)/\sqrt6`) of :math:`\hat{\mathbf{f}}`, of :math:`\mathbf{g}_{bn}`
    and of :math:`\mathbf{g}` (``fhat``, ``gbn``, ``g``), the component of :math:`\mathbf{g}_{bn}`
    along :math:`\mathbf{1}/\sqrt3` (``gbn_ones``), and the readouts :math:`\mathbf{1}^T\mathbf{g}`,
    :math:`\mathbf{f}^T\mathbf{g}` and :math:`|\mathbf{g}|/|\mathbf{g}_{bn}|`.
    """
    big = {"low": -1e6, "high": 1e6}
    f = np.array([check_real(n, v, **big) for n, v in (("f1", f1), ("f2", f2), ("f3", f3))])
    g = np.array([check_real(n, v, **big) for n, v in (("g1", g1), ("g2", g2), ("g3", g3))])
    c1 = check_real("c1", c1, **big)
    eps = check_real("eps", eps, low=0.0, high=1e6)
    if np.ptp(f) < 1e-9 and eps == 0:
        raise ValueError("`f1`, `f2`, `f3` must not all be equal when eps = 0")
    grad = T.batchnorm_backward(f, g, eps, c1=c1)
    norm_g = float(np.linalg.norm(g))
    return {"fhat": _U @ (f - f.mean()), "gbn": _U @ g, "g": _U @ grad,
            "gbn_ones": float(g.sum() / math.sqrt(3)), "ones_g": float(grad.sum()),
            "f_g": float(f @ grad), "ratio": float(np.linalg.norm(grad) / norm_g)
            if norm_g > 0 else 0.0, "eps": eps}


def draw_bn_projection(f1=0.2, f2=1.0, f3=2.5, g1=1.0, g2=-0.4, g3=0.6, c1=1.0, eps=0.0,
                       fig=None):
    """The plane orthogonal to 1 with f-hat (its line dashed), g_bn's in-plane part and g."""
    d = bn_projection_data(f1, f2, f3, g1, g2, g3, c1, eps)
    fig, (ax,) = _fig(fig, 1, 5.4, 4.6)
    vecs = [d["fhat"], d["gbn"], d["g"]]
    r = 1.15 * max(1e-9, max(float(np.linalg.norm(v)) for v in vecs))
    u = d["fhat"] / max(np.linalg.norm(d["fhat"]), 1e-300)
    ax.plot([-r * u[0], r * u[0]], [-r * u[1], r * u[1]], "--", color=C["grey"], lw=1,
            label=r"span of $\hat{\mathbf{f}}$")
    ax.plot([-r * u[1], r * u[1]], [r * u[0], -r * u[0]], ":", color=C["grey"], lw=1,
            label=r"normal line $\perp\hat{\mathbf{f}}$")
    for v, col, lab in zip(vecs, (C["blue"], C["orange"], C["vermillion"]),
                           (r"$\hat{\mathbf{f}}=\mathbf{f}-\mu\mathbf{1}$",
                            r"$\mathbf{g}_{bn}$ (in-plane part)", r"$\mathbf{g}$ = BN backward")):
        ax.annotate("", xy=v, xytext=(0, 0),
                    arrowprops={"arrowstyle": "->", "color": col, "lw": 2})
        ax.plot([v[0]], [v[1]], "o", color=col, ms=4, label=lab)
    ax.set(xlim=(-r, r), ylim=(-r, r), aspect="equal",
           xlabel=r"$(1,-1,0)/\sqrt{2}$", ylabel=r"$(1,1,-2)/\sqrt{6}$")
    ax.set_title(rf"$\epsilon$ = {d['eps']:g}:  $\mathbf{{1}}^T\mathbf{{g}}$ = {d['ones_g']:.1e},  "
                 rf"$\mathbf{{f}}^T\mathbf{{g}}$ = {d['f_g']:.1e},  "
                 rf"$|\mathbf{{g}}|/|\mathbf{{g}}_{{bn}}|$ = {d['ratio']:.3f}", fontsize=9)
    ax.legend(fontsize=7.5, loc="lower left")
    return fig


def bn_projection_explorer():
    """Sliders for f, g_bn (three samples each), c1 and a choice of eps."""
    import ipywidgets as w

    def s(v, lo=-3.0, hi=3.0):
        return w.FloatSlider(v, min=lo, max=hi, step=0.05)

    return explorer(draw_bn_projection, (5.4, 4.6), f1=s(0.2), f2=s(1.0), f3=s(2.5), g1=s(1.0),
                    g2=s(-0.4), g3=s(0.6), c1=s(1.0, 0.1, 3.0),
                    eps=w.Dropdown(options=[0.0, 1e-5, 0.1], value=0.0, description="ε"))


# ------------------------------------------------------------------------- lossiness
@lru_cache(maxsize=64)
def _lossy_world(kind, q, seed):
    return T.teacher_world(kind=kind, q=q, seed=seed)


def lossiness_data(kind="exact", q=0.1, seed=0):
    r"""Per-layer relative errors of the reformulated updates (hidden, top) for a teacher of the
    given kind with flip noise ``q``, and region 0's gating probabilities
    :math:`D_\beta=\mathbb E[f'\mid z_\beta]` (``D_data``) and the hard gate
    :math:`\mathbb 1[F^{raw}>0]` (``D_hard``)."""
    kind = check_choice("teacher kind", kind, T.TEACHER_KINDS)
    q = check_real("q", q, low=0.0, high=0.5)
    seed = check_positive_int("seed", seed, minimum=0)
    world = _lossy_world(kind, round(q, 6), seed)
    weights = T.init_student(world, seed=seed)
    ref = T.reformulate(world, weights)
    true = T.population_gradients(world, weights)
    scale = max(np.max(np.abs(b)) for b in true.hidden + true.top)
    errs = [max(np.max(np.abs(a - b)) for a, b in zip(ref.updates.hidden, true.hidden)) / scale,
            max(np.max(np.abs(a - b)) for a, b in zip(ref.updates.top, true.top)) / scale]
    hard = T.reformulate(world, weights, gate="hard").D_hidden[0]
    return {"errors": np.array(errs), "D_data": ref.D_hidden[0], "D_hard": hard}


def draw_lossiness(kind="exact", q=0.1, seed=0, fig=None):
    """Bars of the reformulation error per layer; the data gate next to the hard gate."""
    d = lossiness_data(kind, q, seed)
    fig, (ax, ax1) = _fig(fig, 2, 10.0, 3.6, left=0.09)
    ax.bar([0, 1], np.maximum(d["errors"], 1e-17), color=[C["blue"], C["vermillion"]])
    ax.set(yscale="log", ylim=(1e-17, 10), xticks=[0, 1], yticks=[1e-16, 1e-12, 1e-8, 1e-4, 1],
           xticklabels=["hidden layer", "top layer"], ylabel="relative error of Theorem 4")
    _no_minor(ax)
    ax.set_title(f"teacher '{kind}', flip noise q = {q:g}", fontsize=9)
    n = d["D_data"].shape[1]
    both = np.hstack([d["D_data"], np.full((len(d["D_data"]), 1), np.nan), d["D_hard"]])
    ax1.imshow(both, vmin=0, vmax=1, cmap="viridis", aspect="auto")
    ax1.set(xticks=[(n - 1) / 2, n + 1 + (n - 1) / 2], yticks=[0, len(both) - 1],
            xticklabels=["E[f' | z] (data)", "1[F_raw > 0] (hard)"], ylabel="event z of region 1")
    ax1.set_title("gating of region 1's nodes (yellow 1, purple 0)", fontsize=9)
    ax1.grid(False)
    return fig


def lossiness_explorer():
    """Teacher kind and flip noise q in [0, 0.5]."""
    import ipywidgets as w

    return explorer(draw_lossiness, (10.0, 3.6),
                    kind=w.Dropdown(options=list(T.TEACHER_KINDS), value="exact"),
                    q=w.FloatSlider(0.1, min=0.0, max=0.5, step=0.01))


# ------------------------------------------------------------------------- hypercube
@lru_cache(maxsize=64)
def _linear_loss(d, k):
    return T.linear_min_loss(T.hypercube_Q(d, k))


def hypercube_data(d=4, k=1):
    r"""Minimum linear losses :math:`\|QW-I\|_F^2` for :math:`d'=k,2k,\dots,10` (``ds``,
    ``linear``), the rank formula :math:`2^{d'}-(d'/k)(2^k-1)-1` (``formula``), and the
    pre-activations :math:`QW` of the explicit ReLU construction at ``d`` (``F_raw``)."""
    k = check_positive_int("k", k)
    if k > 2:
        raise ValueError(f"`k` must be 1 or 2, got {k}")
    d = check_positive_int("d", d, minimum=2)
    if d > 8 or d % k:
        raise ValueError(f"`d` must be in [2, 8] and divisible by k = {k}, got {d}")
    ds = np.arange(max(2, k), 11, k)
    lin = np.array([_linear_loss(int(x), k) for x in ds])
    formula = 2.0**ds - (ds // k) * (2**k - 1) - 1
    Q = T.hypercube_Q(d, k)
    return {"ds": ds, "linear": lin, "formula": formula,
            "F_raw": Q @ T.relu_identity_weights(Q, d // k), "d": d, "k": k}


def draw_hypercube(d=4, k=1, fig=None):
    """Linear minimum loss against d (log scale; ReLU reaches 0) and the construction's QW."""
    h = hypercube_data(d, k)
    fig, (ax, ax1) = _fig(fig, 2, 10.0, 3.8)
    pos = h["formula"] > 0                 # d = k (one child) has loss 0: off the log axis
    ax.semilogy(h["ds"][pos], h["formula"][pos], color=C["blue"],
                label=r"$2^d-\mathrm{rank}\,Q$")
    ax.semilogy(h["ds"][pos], h["linear"][pos], "o", color=C["blue"], ms=5,
                label="least squares")
    i = int(np.flatnonzero(h["ds"] == d)[0])
    if h["linear"][i] > 0.5:
        ax.semilogy([d], [h["linear"][i]], "o", color=C["vermillion"], ms=9, mfc="none",
                    mew=2)
    ax.set(xlabel="number of pixels d", ylabel=r"min linear loss $\|QW-I\|_F^2$",
           yticks=[1, 10, 100, 1000], ylim=(0.5, 2000))
    _no_minor(ax)
    ax.set_title(f"leaves of {k} pixel(s); ReLU reaches loss 0 for every d", fontsize=9)
    ax.legend(fontsize=8)
    from matplotlib.colors import TwoSlopeNorm

    c = d // k
    norm = TwoSlopeNorm(vmin=-(2 * c - 1), vcenter=0.0, vmax=1.0)
    ax1.imshow(h["F_raw"], cmap="RdBu_r", norm=norm)
    n = len(h["F_raw"])
    ax1.set(xticks=[0, n - 1], yticks=[0, n - 1], xlabel="node", ylabel="event")
    ax1.set_title(f"F_raw = QW (d = {d}): red 1 on the diagonal, blue <= -1 off it", fontsize=9)
    ax1.grid(False)
    return fig


def hypercube_explorer():
    """Number of pixels d in [2, 8] and the leaf size k in {1, 2} (k = 2 needs even d)."""
    import ipywidgets as w

    return explorer(draw_hypercube, (10.0, 3.8), d=w.IntSlider(4, min=2, max=8),
                    k=w.Dropdown(options=[1, 2], value=1))


# ------------------------------------------------------------------------- vertices
def _bary(P):
    """Barycentric rows (n = 3) to 2-D points of the equilateral triangle."""
    corners = np.array([[0.0, 0.0], [1.0, 0.0], [0.5, math.sqrt(3) / 2]])
    return P @ corners


def vertices_data(m=12, rank=2, seed=0):
    r"""``m`` Dirichlet rows :math:`P` in the 2-simplex, a Gaussian :math:`3\times r` map
    :math:`F` (``rank`` = r in {1, 2, 3}), and which rows are vertices of :math:`P` and of
    :math:`PF` (linear programs)."""
    m = check_positive_int("m", m, minimum=3)
    if m > 30:
        raise ValueError(f"`m` must be at most 30, got {m}")
    rank = check_positive_int("rank", rank)
    if rank > 3:
        raise ValueError(f"`rank` must be 1, 2 or 3, got {rank}")
    rng = np.random.default_rng(check_positive_int("seed", seed, minimum=0))
    P = rng.dirichlet(np.ones(3), size=m)
    F = rng.standard_normal((3, rank))
    PF = P @ F
    return {"P": P, "PF": PF, "vert_P": _vertex_mask(P), "vert_PF": _vertex_mask(PF)}


def _vertex_mask(points):
    """Which rows are vertices (Definition 1), by a convex hull in the points' affine span:
    as :func:`mftheory.teacher.is_vertex` (tested), but 1-2 ms instead of one LP per row."""
    from scipy.spatial import ConvexHull

    m = len(points)
    X = points - points.mean(axis=0)
    _, sv, vt = np.linalg.svd(X, full_matrices=False)
    k = int(np.sum(sv > 1e-10 * max(sv[0], 1e-300)))
    mask = np.zeros(m, dtype=bool)
    if k == 0:
        return mask
    Y = X @ vt[:k].T
    if k == 1:
        for i in (int(np.argmin(Y[:, 0])), int(np.argmax(Y[:, 0]))):
            mask[i] = np.sum(np.abs(Y[:, 0] - Y[i, 0]) < 1e-12) == 1
        return mask
    if k > 2:
        raise ValueError("the explorer's points span at most a plane")
    mask[ConvexHull(Y).vertices] = True
    return mask


def draw_vertices(m=12, rank=2, seed=0, fig=None):
    """The rows of P in the triangle and of PF (first two coordinates), vertices filled."""
    d = vertices_data(m, rank, seed)
    fig, (ax, ax1) = _fig(fig, 2, 10.0, 4.0)
    tri = _bary(np.vstack([np.eye(3), np.eye(3)[:1]]))
    ax.plot(tri[:, 0], tri[:, 1], color=C["grey"], lw=1)
    for a, pts, vert, title in (
            (ax, _bary(d["P"]), d["vert_P"], f"rows of P: vert(P) = {d['vert_P'].sum()}"),
            (ax1, d["PF"] if rank > 1 else np.column_stack([d["PF"][:, 0], np.zeros(m)]),
             d["vert_PF"], f"rows of PF, rank {rank}: vert(PF) = {d['vert_PF'].sum()}")):
        a.plot(pts[~vert, 0], pts[~vert, 1], "o", mfc="white", color=C["blue"], ms=6,
               label="not a vertex")
        a.plot(pts[vert, 0], pts[vert, 1], "o", color=C["vermillion"], ms=7, label="vertex")
        a.set_title(title, fontsize=9)
        a.legend(fontsize=8)
    ax.set(aspect="equal", xticks=[], yticks=[])
    ax1.set(xlabel="coordinate 1", ylabel="coordinate 2" if rank > 1 else "")
    return fig


def vertices_explorer():
    """Number of rows m, rank of F and the seed."""
    import ipywidgets as w

    return explorer(draw_vertices, (10.0, 4.0), m=w.IntSlider(12, min=3, max=30),
                    rank=w.IntSlider(2, min=1, max=3), seed=w.IntSlider(0, min=0, max=20))


# ------------------------------------------------------------------------- disentanglement
def draw_disentangle(coupling=1.0, w_prime=0.7, centred=True, fig=None):
    """Deviations from disentanglement (forward, backward) and the off-block update; the
    singular values of beta-node 1's backward block (one nonzero: disentangled)."""
    e = T.disentangle_example(coupling, w_prime, centred)
    fig, (ax, ax1) = _fig(fig, 2, 10.0, 3.6)
    vals = [e.forward_deviation, e.update_off_block, e.backward_deviation]
    ax.bar(range(3), np.maximum(vals, 1e-18), color=[C["green"], C["orange"], C["vermillion"]])
    ax.set(yscale="log", ylim=(1e-18, 10), xticks=range(3),
           xticklabels=["forward\n(Thm 8)", "off-block\n" + r"$\Delta W$ (Thm 9)",
                        "backward\n(Sec. 8.7.3)"], ylabel="deviation",
           yticks=[1e-15, 1e-10, 1e-5, 1])
    _no_minor(ax)
    ax.set_title(f"coupling {coupling:g}, w' = {w_prime:g}, "
                 f"{'centred' if centred else 'uncentred'} gradients", fontsize=9)
    sv = e.node1_singular_values
    ax1.bar([0, 1], np.maximum(sv, 1e-18), color=C["blue"])
    ax1.set(yscale="log", ylim=(1e-18, 10), xticks=[0, 1], xticklabels=[r"$s_1$", r"$s_2$"],
            title=r"backward block of $\beta$-node 1 (2x2)", ylabel="singular value",
            yticks=[1e-15, 1e-10, 1e-5, 1])
    _no_minor(ax1)
    return fig


def disentangle_explorer():
    """Coupling of P_{1,2} (0: product form), w' and whether the gradients are centred."""
    import ipywidgets as w

    return explorer(draw_disentangle, (10.0, 3.6),
                    coupling=w.FloatSlider(1.0, min=0.0, max=1.0, step=0.05),
                    w_prime=w.FloatSlider(0.7, min=-1.5, max=1.5, step=0.05),
                    centred=w.Checkbox(True, description="centre g̃"))


# ------------------------------------------------------------------------- overfitting
def overfitting_data(n=100, delta=0.1, contrast=1.0, trials=4000, seed=0):
    r"""Samples of :math:`\epsilon` over ``trials`` training sets of size ``n``, the fraction in
    which the spurious update :math:`|\epsilon(f_k(1)-f_k(0))|` beats the true one
    :math:`\delta/2`, and its normal approximation."""
    eps = T.spurious_epsilon(n, trials, seed)
    delta = check_real("delta", delta, low=0.0, low_inclusive=False)
    contrast = check_real("contrast", contrast)
    wins = float(np.mean(np.abs(eps * contrast) > delta / 2))
    return {"eps": eps, "win_fraction": wins,
            "win_normal": T.spurious_win_probability(n, delta, contrast),
            "mean_abs": float(np.mean(np.abs(eps))), "predicted": 1 / math.sqrt(math.pi * n)}


def draw_overfitting(n=100, delta=0.1, contrast=1.0, fig=None):
    """Histogram of epsilon with +-1/sqrt(pi n) and the threshold delta / (2 |contrast|)."""
    d = overfitting_data(n, delta, contrast)
    fig, (ax,) = _fig(fig, 1, 6.4, 4.0)
    ax.hist(d["eps"], bins=41, color=C["sky"], density=True)
    for s in (-1, 1):
        ax.axvline(s * d["predicted"], color=C["blue"], lw=2,
                   label=r"$\pm1/\sqrt{\pi n}$" if s > 0 else None)
        if contrast != 0:
            ax.axvline(s * delta / (2 * abs(contrast)), color=C["vermillion"], ls="--",
                       label=r"$\pm\delta/(2|f_k(1)-f_k(0)|)$" if s > 0 else None)
    ax.set(xlabel=r"$\epsilon=\tilde P(z_\omega=1\mid z_\gamma=1)-1/2$", ylabel="density")
    ax.set_title(f"n = {n}: mean |eps| = {d['mean_abs']:.4f} (1/sqrt(pi n) = "
                 f"{d['predicted']:.4f});\nspurious wins in {100 * d['win_fraction']:.1f}% "
                 f"(normal approx. {100 * d['win_normal']:.1f}%)", fontsize=8.5)
    ax.legend(fontsize=8)
    return fig


def overfitting_explorer():
    """Sample size n (log slider), delta and the contrast f_k(1) - f_k(0)."""
    import ipywidgets as w

    return explorer(draw_overfitting, (6.4, 4.0),
                    n=w.IntSlider(100, min=10, max=10_000, step=10),
                    delta=w.FloatSlider(0.1, min=0.01, max=1.0, step=0.01),
                    contrast=w.FloatSlider(1.0, min=0.0, max=3.0, step=0.05))


# ------------------------------------------------------------------------- energy
def draw_energy(eta=0.05, order="lin-bn-relu", steps=80, fig=None):
    """Relative change of each first-layer row energy over GD steps (Section 8.6.2)."""
    steps = check_positive_int("steps", steps)
    if steps > 400:
        raise ValueError(f"`steps` must be at most 400 in the explorer, got {steps}")
    run = T.energy_run(order, eta, steps)
    fig, (ax,) = _fig(fig, 1, 6.4, 4.0, left=0.16)
    rel = run.energies / run.energies[0] - 1
    ax.plot(np.arange(steps + 1), rel, lw=1.2)
    ax.axhline(0, color="k", lw=0.8)
    ax.set(xlabel="GD step", ylabel=r"$\|w_j\|^2/\|w_j(0)\|^2-1$")
    ax.set_title(f"{order}, eta = {eta:g}: max |sum_k w_jk dw_jk| = {run.max_identity:.1e}",
                 fontsize=9)
    return fig


def energy_explorer():
    """Learning rate, BN placement and number of steps."""
    import ipywidgets as w

    return explorer(draw_energy, (6.4, 4.0),
                    eta=w.FloatLogSlider(0.05, base=10, min=-3, max=-0.5, step=0.1),
                    order=w.Dropdown(options=list(T.ENERGY_ORDERS), value="lin-bn-relu"),
                    steps=w.IntSlider(80, min=10, max=400, step=10))

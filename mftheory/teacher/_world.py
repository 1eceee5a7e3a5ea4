r"""Enumerated binary worlds, teachers, the locally connected student and the reformulation.

The world is a finite list of *atoms*, each with an observed binary input :math:`x\in\{0,1\}^d`,
a probability, the teacher's summarization variables and a class label. With flip noise
:math:`q>0` an atom is a pair (clean content :math:`c`, observed :math:`x`), where each pixel of
:math:`x` is :math:`c` flipped independently with probability :math:`q`; the teacher sees the clean
content. Every population quantity is an exact finite sum over the atoms.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import NamedTuple

import numpy as np

from .._validate import check_choice, check_positive_int, check_real
from ._common import as_array, as_probabilities, as_seed

TEACHER_KINDS = ("exact", "or", "sum", "const")
GATES = ("data", "hard")


@dataclass(frozen=True)
class World:
    """An enumerated teacher world (see :func:`teacher_world`); arrays are indexed by atom."""

    X: np.ndarray            # (n_atoms, d) observed inputs, 0/1
    p: np.ndarray            # (n_atoms,) probabilities
    regions: tuple           # hidden receptive fields (tuples of pixel indices)
    z_leaf: np.ndarray       # (n_atoms, d) teacher variable of each pixel (the clean pixel)
    z_hidden: tuple          # per region: (n_atoms,) ints in [0, m)
    m_hidden: tuple          # per region: number of events m_beta
    z_top: np.ndarray        # (n_atoms,) the top variable (index of the clean content)
    m_top: int
    y: np.ndarray            # (n_atoms,) class labels
    n_classes: int
    kind: str
    q: float

    @property
    def d(self) -> int:
        return self.X.shape[1]


class StudentWeights(NamedTuple):
    r"""Weights of the two-layer locally connected student.

    ``hidden[r]`` is :math:`(2|\beta_r|)\times n` (rows: pixel :math:`i\in\beta_r`, value 0/1 in
    one-hot order); ``top[r]`` is :math:`n\times C`. In the matrix notation of Theorem 4,
    the rows of ``hidden[r]`` for pixel :math:`i` are :math:`W_{i\beta_r}` and ``top[r]`` is
    :math:`W_{\beta_r\omega}`.
    """

    hidden: tuple
    top: tuple


class Gradients(NamedTuple):
    r"""Negative loss gradients (updates :math:`\Delta W`) with the layout of StudentWeights."""

    hidden: tuple
    top: tuple


class Reformulation(NamedTuple):
    """The matrices of Theorem 4 for a world and a student."""

    F_hidden: tuple      # per region (m_beta, n)
    D_hidden: tuple      # per region (m_beta, n) gating probabilities
    F_top: np.ndarray    # (m_top, C)
    Gt_top: np.ndarray   # (m_top, C)  Lambda (Y - F)
    Gt_hidden: tuple     # per region (m_beta, n)
    updates: Gradients


def _patterns(d):
    return ((np.arange(2**d)[:, None] >> np.arange(d - 1, -1, -1)) & 1).astype(np.int64)


def teacher_world(d=4, regions=((0, 1), (1, 2), (2, 3)), kind="exact", q=0.0, n_classes=3,
                  seed=0) -> World:
    r"""An enumerated binary world with a two-level receptive-field hierarchy and a teacher.

    Parameters
    ----------
    d : int in [2, 8] (``q > 0``: at most 6, since atoms are pairs)
        Number of binary pixels; the clean contents :math:`c\in\{0,1\}^d` are enumerated in
        row-major order (pixel 0 most significant) with Dirichlet(1) probabilities.
    regions : sequence of non-empty sequences of distinct pixel indices
        The hidden receptive fields :math:`\beta`; they may overlap. The leaves are the pixels,
        the top field :math:`\omega` is the whole input.
    kind : {'exact', 'or', 'sum', 'const'}
        The summarization :math:`z_\beta` of each hidden field: its clean content
        (:math:`m_\beta=2^{|\beta|}`), the OR of its pixels (2 events), their sum
        (:math:`|\beta|+1`) or a constant (1 event). The top variable is always the clean content
        and the label is :math:`y=(\sum_ic_i)\bmod C`.
    q : float in [0, 0.5]
        Flip noise of the observed pixels.
    n_classes : int >= 2
    seed : int >= 0

    Examples
    --------
    >>> world = teacher_world()                  # lossless: Theorem 4 is exact
    >>> reformulation_error(world, init_student(world)) < 1e-12
    True
    >>> reformulation_error(teacher_world(q=0.1), init_student(world)) > 0.1
    True
    """
    d = check_positive_int("d", d, minimum=2)
    if d > 8:
        raise ValueError(f"`d` must be at most 8 (the world is enumerated), got {d}")
    kind = check_choice("teacher kind", kind, TEACHER_KINDS)
    q = check_real("q", q, low=0.0, high=0.5)
    if q > 0 and d > 6:
        raise ValueError(f"with flip noise `d` must be at most 6, got {d}")
    n_classes = check_positive_int("n_classes", n_classes, minimum=2)
    rng = np.random.default_rng(as_seed(seed))
    regs = _check_regions(regions, d)
    C = _patterns(d)
    pc = rng.dirichlet(np.ones(2**d))
    if q == 0.0:
        clean, X, p = C, C.copy(), pc
        top = np.arange(2**d)
    else:
        ic, ix = np.meshgrid(np.arange(2**d), np.arange(2**d), indexing="ij")
        ic, ix = ic.ravel(), ix.ravel()
        clean, X = C[ic], C[ix]
        h = (clean != X).sum(axis=1)
        p = pc[ic] * q**h * (1 - q) ** (d - h)
        top = ic
    z_hidden, m_hidden = [], []
    for reg in regs:
        sub = clean[:, list(reg)]
        if kind == "exact":
            z = sub @ (2 ** np.arange(len(reg) - 1, -1, -1))
            m = 2 ** len(reg)
        elif kind == "or":
            z, m = sub.max(axis=1), 2
        elif kind == "sum":
            z, m = sub.sum(axis=1), len(reg) + 1
        else:
            z, m = np.zeros(len(sub), dtype=np.int64), 1
        z_hidden.append(z.astype(np.int64))
        m_hidden.append(int(m))
    y = clean.sum(axis=1) % n_classes
    return World(X=X, p=p / p.sum(), regions=regs, z_leaf=clean, z_hidden=tuple(z_hidden),
                 m_hidden=tuple(m_hidden), z_top=top.astype(np.int64), m_top=2**d, y=y,
                 n_classes=n_classes, kind=kind, q=q)


def digits_world(n_events=16, patch=2, threshold=8.0):
    r"""A world made of real images: scikit-learn's 1797 handwritten digits (8x8), binarized
    (pixel on when its grey level, 0-16, is at least ``threshold``), each image one atom of
    probability 1/1797.

    The hidden fields are the non-overlapping ``patch`` x ``patch`` blocks. The teacher keeps,
    in each block, the ``n_events - 1`` most frequent pixel patterns as events of their own and
    lumps all other patterns into one event (a lossy summary, lossless once ``n_events``
    reaches the number of patterns that occur). The top variable is the image itself (so the
    top level is lossless) and the label is the digit (10 classes).
    """
    from sklearn.datasets import load_digits

    n_events = check_positive_int("n_events", n_events)
    patch = check_positive_int("patch", patch)
    if patch not in (1, 2, 4):
        raise ValueError(f"`patch` must be 1, 2 or 4 (it must tile 8 x 8), got {patch}")
    threshold = check_real("threshold", threshold, low=0.0, high=16.0)
    digits = load_digits()
    X = (digits.images >= threshold).astype(np.int64).reshape(len(digits.images), 64)
    n = len(X)
    regions = []
    for r0 in range(0, 8, patch):
        for c0 in range(0, 8, patch):
            regions.append(tuple(8 * r + c for r in range(r0, r0 + patch)
                                 for c in range(c0, c0 + patch)))
    z_hidden, m_hidden = [], []
    for reg in regions:
        code = X[:, list(reg)] @ (2 ** np.arange(len(reg) - 1, -1, -1))
        values, counts = np.unique(code, return_counts=True)
        order = values[np.lexsort((values, -counts))]         # most frequent first
        kept = order[:n_events - 1] if len(order) > n_events else order
        lookup = {int(v): i for i, v in enumerate(kept)}
        other = len(kept)
        z = np.array([lookup.get(int(c), other) for c in code], dtype=np.int64)
        z_hidden.append(z)
        m_hidden.append(int(z.max()) + 1)
    return World(X=X, p=np.full(n, 1.0 / n), regions=tuple(regions), z_leaf=X.copy(),
                 z_hidden=tuple(z_hidden), m_hidden=tuple(m_hidden),
                 z_top=np.arange(n, dtype=np.int64), m_top=n, y=digits.target.astype(np.int64),
                 n_classes=10, kind=f"digits, {n_events} events per patch", q=0.0)


def _check_regions(regions, d):
    if not isinstance(regions, (list, tuple, np.ndarray)) or len(regions) == 0:
        raise ValueError(f"`regions` must be a non-empty sequence of pixel-index sequences, "
                         f"got {regions!r}")
    out = []
    for reg in regions:
        if not isinstance(reg, (list, tuple, np.ndarray)) or len(reg) == 0:
            raise ValueError(f"`regions`: each region must be a non-empty sequence of pixel "
                             f"indices, got {reg!r}")
        idx = []
        for i in reg:
            if isinstance(i, (bool, np.bool_)) or not isinstance(i, (int, np.integer)):
                raise ValueError(f"`regions`: pixel indices must be integers in [0, {d}), got {i!r}")
            if not 0 <= int(i) < d:
                raise ValueError(f"`regions`: pixel indices must be integers in [0, {d}), got {i!r}")
            idx.append(int(i))
        if len(set(idx)) != len(idx):
            raise ValueError(f"`regions`: a region must not repeat a pixel, got {reg!r}")
        out.append(tuple(idx))
    return tuple(out)


def _check_world(world):
    if not isinstance(world, World):
        raise ValueError(f"`world` must be a World from teacher_world, got {type(world).__name__}")
    as_probabilities("world.p", world.p, len(world.X))      # e.g. after dataclasses.replace
    return world


def empirical_world(world, batch_size, seed=0) -> World:
    r"""The world seen by one minibatch: ``batch_size`` atoms drawn with replacement from
    :math:`P`, and :math:`\tilde P` = their frequencies (unseen atoms get probability 0)."""
    world = _check_world(world)
    batch_size = check_positive_int("batch_size", batch_size)
    if batch_size > 10**7:
        raise ValueError(f"`batch_size` must be at most 1e7, got {batch_size}")
    rng = np.random.default_rng(as_seed(seed))
    idx = rng.choice(len(world.p), size=batch_size, p=world.p)
    counts = np.bincount(idx, minlength=len(world.p)).astype(float)
    return replace(world, p=counts / batch_size)


def init_student(world, width=3, seed=0, weight_std=1.0) -> StudentWeights:
    """Gaussian initial weights (standard deviation ``weight_std``) for the student of ``world``."""
    world = _check_world(world)
    width = check_positive_int("width", width)
    if width > 1000:
        raise ValueError(f"`width` must be at most 1000, got {width}")
    weight_std = check_real("weight_std", weight_std, low=0.0, low_inclusive=False)
    rng = np.random.default_rng(as_seed(seed))
    hidden = tuple(weight_std * rng.standard_normal((2 * len(r), width)) for r in world.regions)
    top = tuple(weight_std * rng.standard_normal((width, world.n_classes)) / np.sqrt(width)
                for _ in world.regions)
    return StudentWeights(hidden, top)


def _check_weights(world, weights):
    if not isinstance(weights, StudentWeights):
        raise ValueError("`weights` must be a StudentWeights (see init_student), got "
                         f"{type(weights).__name__}")
    if not all(isinstance(part, (tuple, list)) for part in weights) \
            or len(weights.hidden) != len(world.regions) or len(weights.top) != len(world.regions):
        raise ValueError("`weights` must have one hidden and one top block per region")
    hidden = tuple(as_array(f"weights.hidden[{r}]", w, ndim=2, shape=(2 * len(reg), None))
                   for r, (w, reg) in enumerate(zip(weights.hidden, world.regions)))
    top = tuple(as_array(f"weights.top[{r}]", w, ndim=2, shape=(h.shape[1], world.n_classes))
                for r, (w, h) in enumerate(zip(weights.top, hidden)))
    return StudentWeights(hidden, top)


def _onehot_inputs(world, reg):
    x = world.X[:, list(reg)]
    u = np.empty((len(x), 2 * len(reg)))
    u[:, 0::2] = 1 - x
    u[:, 1::2] = x
    return u


def _check_bn(bn):
    """None, or the pair (c1, c0) of a batch normalization after each hidden linear layer."""
    if bn is None:
        return None
    if not isinstance(bn, (tuple, list)) or len(bn) != 2:
        raise ValueError(f"`bn` must be None or a pair (c1, c0) of real numbers, got {bn!r}")
    return (check_real("bn[0] (c1)", bn[0], low=-1e3, high=1e3),
            check_real("bn[1] (c0)", bn[1], low=-1e3, high=1e3))


def _bn_stats(pre, p):
    mu = p @ pre
    var = p @ (pre - mu) ** 2
    if np.any(var <= 1e-24 * np.maximum(1.0, np.max(np.abs(pre), axis=0)) ** 2):
        raise ValueError("a hidden node is constant over the data, so batch normalization is "
                         "undefined; choose other weights")
    sd = np.sqrt(var)
    return (pre - mu) / sd, sd


def _bn_back(Gt, ft, sd, lam, c1):
    """Unnormalized BN backward (Theorem 5, weighted): the transpose of the projector."""
    return c1 / sd * (Gt - np.outer(lam, Gt.sum(axis=0)) - lam[:, None] * ft * (ft * Gt).sum(0))


def student_forward(world, weights, bn=None):
    """Per-atom pre-activations, activations and outputs of the student.

    Returns ``(raw, act, out)``: tuples over regions of ``(n_atoms, n)`` arrays of the
    pre-ReLU values (after BN when ``bn=(c1, c0)``: population statistics under :math:`P`)
    and of the activations, and the ``(n_atoms, C)`` linear top output
    :math:`\\sum_\\beta f_\\beta W_{\\beta\\omega}`.
    """
    world = _check_world(world)
    weights = _check_weights(world, weights)
    return _forward(world, weights, _check_bn(bn))[1:]


def _forward(world, weights, bn=None):
    pre = tuple(_onehot_inputs(world, reg) @ w for reg, w in zip(world.regions, weights.hidden))
    if bn is None:
        raw = pre
    else:
        raw = tuple(bn[0] * _bn_stats(x, world.p)[0] + bn[1] for x in pre)
    act = tuple(np.maximum(r, 0.0) for r in raw)
    out = sum(a @ w for a, w in zip(act, weights.top))
    return pre, raw, act, out


def population_gradients(world, weights, bn=None) -> Gradients:
    r"""Exact population updates :math:`\Delta W=-\partial L/\partial W` by enumeration, for
    :math:`L=\tfrac12\sum_xP(x)\,|f_\omega(x)-e_{y(x)}|^2` (minibatch: use
    :func:`empirical_world`). ``bn=(c1, c0)`` inserts batch normalization with population
    statistics between each hidden linear layer and its ReLU."""
    world = _check_world(world)
    weights = _check_weights(world, weights)
    return _population(world, weights, _check_bn(bn))[0]


def _population(world, weights, bn=None):
    pre, raw, act, out = _forward(world, weights, bn)
    r = np.eye(world.n_classes)[world.y] - out
    pr = world.p[:, None] * r
    top = tuple(a.T @ pr for a in act)
    g = tuple((pr @ w.T) * (rw > 0) for rw, w in zip(raw, weights.top))
    if bn is not None:
        g = tuple(_bn_back(gi, *_bn_stats(x, world.p), world.p, bn[0]) for gi, x in zip(g, pre))
    hidden = tuple(_onehot_inputs(world, reg).T @ gi for reg, gi in zip(world.regions, g))
    return Gradients(hidden, top), g


def backpropagated_gradients(world, weights):
    r"""Per-atom gated back-propagated signals :math:`g_j(x)` of the hidden nodes (without the
    factor :math:`P(x)`), one ``(n_atoms, n)`` array per region."""
    world = _check_world(world)
    weights = _check_weights(world, weights)
    _, raw, _, out = _forward(world, weights)
    r = np.eye(world.n_classes)[world.y] - out
    return tuple((r @ w.T) * (rw > 0) for rw, w in zip(raw, weights.top))


def conditional_matrix(z_parent, z_child, p, m_parent, m_child):
    r"""The row-stochastic :math:`[P_{\alpha\beta}]_{ab}=P(z_\beta=b\mid z_\alpha=a)`.

    ``z_parent`` and ``z_child`` are per-atom integer events, ``p`` the atom probabilities.
    A row whose event has probability 0 (e.g. absent from a minibatch) is set uniform: it is
    multiplied by :math:`P(z_\alpha=a)=0` everywhere it matters and must not be NaN.
    """
    m_parent = check_positive_int("m_parent", m_parent)
    m_child = check_positive_int("m_child", m_child)
    if m_parent * m_child > 10**8:
        raise ValueError(f"`m_parent` * `m_child` must be at most 1e8, got {m_parent * m_child}")
    za = _as_events("z_parent", z_parent, m_parent)
    zb = _as_events("z_child", z_child, m_child)
    if za.shape != zb.shape:
        raise ValueError(f"`z_parent` and `z_child` must have the same length, got {za.shape} "
                         f"and {zb.shape}")
    p = as_probabilities("p", p, len(za))
    return _conditional(za, zb, p, m_parent, m_child)


def _as_events(name, z, m):
    arr = as_array(name, z, ndim=1, low=0, high=m - 1)
    if np.any(arr != np.round(arr)):
        raise ValueError(f"`{name}` must hold integer events in [0, {m})")
    return arr.astype(np.int64)


def _conditional(za, zb, p, ma, mb):
    joint = np.zeros((ma, mb))
    np.add.at(joint, (za, zb), p)
    marg = joint.sum(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        P = np.where(marg > 0, joint / np.where(marg > 0, marg, 1.0), 1.0 / mb)
    return P


def event_probabilities(z, p, m):
    """:math:`P(z=a)` for ``a = 0..m-1`` (the diagonal of :math:`\\Lambda`)."""
    m = check_positive_int("m", m)
    if m > 10**8:
        raise ValueError(f"`m` must be at most 1e8, got {m}")
    z = _as_events("z", z, m)
    p = as_probabilities("p", p, len(z))
    return np.bincount(z, weights=p, minlength=m)


def conditional_mean(values, p, keys):
    r"""Per-atom :math:`\mathbb E[v\mid\text{key}]` under the atom probabilities ``p``.

    ``values``: ``(n_atoms,)`` or ``(n_atoms, k)``; ``keys``: ``(n_atoms,)`` or ``(n_atoms, r)``
    integer labels (rows are keys). Groups of probability 0 get their plain average.
    """
    v = as_array("values", values)
    if v.ndim not in (1, 2):
        raise ValueError(f"`values` must be 1- or 2-dimensional, got shape {v.shape}")
    k = as_array("keys", keys)
    if k.ndim not in (1, 2) or k.shape[0] != v.shape[0]:
        raise ValueError(f"`keys` must have {v.shape[0]} rows, got shape {k.shape}")
    p = as_probabilities("p", p, v.shape[0])
    k2 = k.reshape(len(k), -1)
    _, inv = np.unique(k2, axis=0, return_inverse=True)
    inv = inv.ravel()
    g = inv.max() + 1
    V = v.reshape(len(v), -1)
    num = np.zeros((g, V.shape[1]))
    np.add.at(num, inv, p[:, None] * V)
    den = np.bincount(inv, weights=p, minlength=g)
    cnt = np.bincount(inv, minlength=g)
    plain = np.zeros_like(num)
    np.add.at(plain, inv, V)
    plain /= cnt[:, None]
    mean = np.where(den[:, None] > 0, num / np.where(den > 0, den, 1.0)[:, None], plain)
    return mean[inv].reshape(v.shape)


def reformulate(world, weights, gate="data", bn=None) -> Reformulation:
    r"""Forward, backward and update of Theorem 4 on the teacher's events.

    With :math:`P_{\beta i}=P(z_i\mid z_\beta)`, :math:`F_i=\mathbb E[\text{one-hot}(x_i)\mid z_i]`:

    .. math::
        F_\beta=D_\beta\circ\sum_{i\in\beta}P_{\beta i}F_iW_{i\beta},\quad
        F_\omega=\sum_\beta P_{\omega\beta}F_\beta W_{\beta\omega},\quad
        \tilde G_\omega=\Lambda_\omega(Y_\omega-F_\omega),

    .. math::
        \tilde G_\beta=D_\beta\circ P_{\omega\beta}^T\tilde G_\omega W_{\beta\omega}^T,\quad
        \Delta W_{\beta\omega}=(P_{\omega\beta}F_\beta)^T\tilde G_\omega,\quad
        \Delta W_{i\beta}=(P_{\beta i}F_i)^T\tilde G_\beta.

    ``gate='data'`` takes :math:`D_\beta=\mathbb E[f'\mid z_\beta]` from the atoms;
    ``gate='hard'`` uses :math:`\mathbb 1[F^{raw}_\beta>0]` (exact only for a lossless teacher).
    With ``bn=(c1, c0)``, the weighted BN of Section 4.2 (statistics under
    :math:`P(z_\beta)`) follows :math:`\sum_iP_{\beta i}F_iW_{i\beta}`, and ``Gt_hidden`` is
    its unnormalized backward :math:`\frac{c_1}{\sigma}(P^{\perp}_{\Lambda})^T\tilde G`
    at the linear output, whose columns sum to 0.
    """
    world = _check_world(world)
    weights = _check_weights(world, weights)
    gate = check_choice("gate", gate, GATES)
    bn = _check_bn(bn)
    p = world.p
    _, raw_atoms, _, _ = _forward(world, weights, bn)
    F_leaf = []
    for i in range(world.d):
        onehot = np.stack([1 - world.X[:, i], world.X[:, i]], axis=1).astype(float)
        F_leaf.append(_conditional_rows(world.z_leaf[:, i], onehot, p, 2))
    F_h, D_h, PF_top, stats = [], [], [], []
    for r, reg in enumerate(world.regions):
        zb, mb = world.z_hidden[r], world.m_hidden[r]
        w = weights.hidden[r]
        raw = np.zeros((mb, w.shape[1]))
        for t, i in enumerate(reg):
            P_bi = _conditional(zb, world.z_leaf[:, i], p, mb, 2)
            raw += P_bi @ F_leaf[i] @ w[2 * t:2 * t + 2]
        lam_b = np.bincount(zb, weights=p, minlength=mb)
        if bn is not None:
            ft, sd = _bn_stats(raw, lam_b)
            stats.append((ft, sd, lam_b))
            raw = bn[0] * ft + bn[1]
        if gate == "hard":
            D = (raw > 0).astype(float)
        else:
            D = _conditional_rows(zb, (raw_atoms[r] > 0).astype(float), p, mb)
        F_h.append(D * raw)
        D_h.append(D)
        P_wb = _conditional(world.z_top, zb, p, world.m_top, mb)
        PF_top.append(P_wb @ F_h[-1])
    F_top = sum(pf @ w for pf, w in zip(PF_top, weights.top))
    Y = _conditional_rows(world.z_top, np.eye(world.n_classes)[world.y], p, world.m_top)
    lam = np.bincount(world.z_top, weights=p, minlength=world.m_top)
    Gt_top = lam[:, None] * (Y - F_top)
    top = tuple(pf.T @ Gt_top for pf in PF_top)
    Gt_h, hidden = [], []
    for r, reg in enumerate(world.regions):
        zb, mb = world.z_hidden[r], world.m_hidden[r]
        P_wb = _conditional(world.z_top, zb, p, world.m_top, mb)
        Gt = D_h[r] * (P_wb.T @ Gt_top @ weights.top[r].T)
        if bn is not None:
            Gt = _bn_back(Gt, *stats[r], bn[0])
        Gt_h.append(Gt)
        blocks = []
        for i in reg:
            P_bi = _conditional(zb, world.z_leaf[:, i], p, mb, 2)
            blocks.append((P_bi @ F_leaf[i]).T @ Gt)
        hidden.append(np.vstack(blocks))
    return Reformulation(tuple(F_h), tuple(D_h), F_top, Gt_top, tuple(Gt_h),
                         Gradients(tuple(hidden), top))


def _conditional_rows(z, values, p, m):
    """Rows a = 0..m-1 of E[values | z = a] (uniform average where P(z=a) = 0)."""
    num = np.zeros((m, values.shape[1]))
    np.add.at(num, z, p[:, None] * values)
    den = np.bincount(z, weights=p, minlength=m)
    plain = np.zeros_like(num)
    np.add.at(plain, z, values)
    cnt = np.maximum(np.bincount(z, minlength=m), 1)
    return np.where(den[:, None] > 0, num / np.where(den > 0, den, 1.0)[:, None],
                    plain / cnt[:, None])


def reformulation_error(world, weights, gate="data", bn=None) -> float:
    r"""Relative error :math:`\max|\Delta W_{ref}-\Delta W|/\max|\Delta W|` of the reformulated
    updates (Theorem 4) against the exact population updates, over all weights."""
    world = _check_world(world)
    weights = _check_weights(world, weights)
    gate = check_choice("gate", gate, GATES)
    bn = _check_bn(bn)
    ref = reformulate(world, weights, gate, bn).updates
    true = _population(world, weights, bn)[0]
    num = max(np.max(np.abs(a - b)) for a, b in zip(ref.hidden + ref.top, true.hidden + true.top))
    den = max(np.max(np.abs(b)) for b in true.hidden + true.top)
    if den == 0:
        raise ValueError("the population gradient vanishes; choose other weights")
    return float(num / den)

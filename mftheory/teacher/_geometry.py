r"""Convex geometry of the conditional-probability matrices (Definitions 1-2, Theorems 6-7)."""

from __future__ import annotations

import numpy as np
from scipy.optimize import linprog

from .._validate import check_positive_int
from ._common import as_array, as_probabilities

_LP_TOL = 1e-9


def hypercube_Q(d, k=1):
    r"""The matrix :math:`Q=[P_{\omega\beta_1},\dots,P_{\omega\beta_{d/k}}]` of a lossless teacher
    on :math:`\{0,1\}^d` whose children are the :math:`d/k` blocks of :math:`k` consecutive pixels
    (``k = 1``: the pixels). Row :math:`a` (the input :math:`x^{(a)}`, row-major) concatenates the
    one-hot codes of its blocks: shape :math:`2^d\times(d/k)2^k`."""
    d = check_positive_int("d", d)
    k = check_positive_int("k", k)
    if d > 12:
        raise ValueError(f"`d` must be at most 12 (2^d rows), got {d}")
    if d % k:
        raise ValueError(f"`k` must divide `d`, got d = {d}, k = {k}")
    a = np.arange(2**d)
    blocks = []
    for b in range(d // k):
        shift = d - k * (b + 1)
        code = (a >> shift) & (2**k - 1)
        blocks.append(np.eye(2**k)[code])
    return np.hstack(blocks)


def linear_min_loss(Q, weights=None):
    r""":math:`\min_W\sum_ap_a\,|(QW)_a-e_a|^2`, the best loss of a linear map from the rows of
    ``Q`` to the one-hot targets :math:`I` (unweighted, :math:`p_a=1`: :math:`m-\mathrm{rank}\,Q`
    by Eckart-Young). Computed by least squares.

    Examples
    --------
    >>> round(linear_min_loss(hypercube_Q(4)), 9)          # 2^4 - 4 - 1
    11.0
    >>> round(linear_min_loss(hypercube_Q(4), [1 / 16] * 16), 9)
    0.6875
    """
    Q = as_array("Q", Q, ndim=2)
    m = Q.shape[0]
    w = np.ones(m) if weights is None else as_probabilities("weights", weights, m)
    s = np.sqrt(w)
    A = s[:, None] * Q
    U, sv, _ = np.linalg.svd(A, full_matrices=False)
    r = int(np.sum(sv > sv[0] * max(A.shape) * np.finfo(float).eps)) if sv[0] > 0 else 0
    B = np.diag(s)
    proj = U[:, :r] @ (U[:, :r].T @ B)
    return float(np.sum((B - proj) ** 2))


def relu_identity_weights(Q, n_children):
    r"""Weights with :math:`\mathrm{ReLU}(QW)=I` for a lossless one-level teacher: ``Q``'s rows
    are distinct concatenations of ``n_children`` one-hot codes (as :func:`hypercube_Q`).

    :math:`W=2Q^T-\frac{2c-1}{c}` (:math:`c` = ``n_children``): a matching child contributes
    :math:`+1/c`, a mismatching one :math:`-(2c-1)/c`, so :math:`(QW)_{ab}=1-2\,h(a,b)` with
    :math:`h` the number of children on which events :math:`a,b` differ.
    """
    Q = as_array("Q", Q, ndim=2)
    c = check_positive_int("n_children", n_children)
    if not np.all((Q == 0) | (Q == 1)) or not np.all(Q.sum(axis=1) == c):
        raise ValueError("`Q` must be 0/1 with exactly `n_children` ones in each row")
    if len(np.unique(Q, axis=0)) != Q.shape[0]:
        raise ValueError("the rows of `Q` must be distinct (a lossless teacher)")
    return 2.0 * Q.T - (2 * c - 1) / c


def _in_hull(P, i):
    others = np.delete(P, i, axis=0)
    m = others.shape[0]
    if m == 0:
        return False
    A_eq = np.vstack([others.T, np.ones((1, m))])
    b_eq = np.concatenate([P[i], [1.0]])
    res = linprog(np.zeros(m), A_eq=A_eq, b_eq=b_eq, bounds=(0, None), method="highs")
    if res.status == 0:
        return bool(np.max(np.abs(A_eq @ res.x - b_eq)) < 1e-7 * (1 + np.max(np.abs(P))))
    return False


def is_vertex(P, i):
    r"""Whether row ``i`` of ``P`` is a vertex: :math:`p_i\notin\mathrm{Conv}(P\setminus p_i)`
    (Definition 1, rows removed by index, so a duplicated row is not a vertex); decided by the
    feasibility of a linear program.

    Examples
    --------
    >>> import numpy as np
    >>> P = np.array([[1, 0], [0, 1], [0.5, 0.5]])
    >>> is_vertex(P, 0), is_vertex(P, 2)
    (True, False)
    """
    P = as_array("P", P, ndim=2)
    i = check_positive_int("i", i, minimum=0)
    if i >= P.shape[0]:
        raise ValueError(f"`i` must be a row index in [0, {P.shape[0]}), got {i}")
    return not _in_hull(P, i)


def vertex_count(P):
    r""":math:`\mathrm{vert}(P)`, the number of rows of ``P`` that are vertices (Definition 2)."""
    P = as_array("P", P, ndim=2)
    return int(sum(not _in_hull(P, i) for i in range(P.shape[0])))


def vertex_separators(P, margin=1.0):
    r"""Weights :math:`W` with :math:`\mathrm{ReLU}(PW)=I` for an all-vert row-stochastic ``P``.

    Column :math:`i` solves the linear program :math:`p_i^Tw=1`, :math:`p_j^Tw\le-`margin
    (:math:`j\ne i`); a bias is not needed, since rows summing to 1 absorb it. Raises
    ``ValueError`` when some row is not a vertex (then no such column exists).
    """
    P = as_array("P", P, ndim=2)
    if np.max(np.abs(P.sum(axis=1) - 1)) > 1e-9:
        raise ValueError("the rows of `P` must sum to 1")
    margin = float(as_array("margin", margin, ndim=0, low=0.0))
    m, n = P.shape
    W = np.zeros((n, m))
    for i in range(m):
        others = np.delete(P, i, axis=0)
        res = linprog(np.zeros(n), A_ub=others, b_ub=-margin * np.ones(m - 1),
                      A_eq=P[i:i + 1], b_eq=[1.0], bounds=(None, None), method="highs")
        if res.status != 0:
            raise ValueError(f"row {i} of `P` is not a vertex: `P` is not all-vert")
        W[:, i] = res.x
    return W

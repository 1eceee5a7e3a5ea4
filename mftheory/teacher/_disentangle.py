r"""Disentangled representations (Definitions 3-5, Lemma 1, Theorems 8-9, Section 8.7.3)."""

from __future__ import annotations

from functools import reduce
from typing import NamedTuple

import numpy as np

from .._validate import check_real
from ._common import as_array, as_bool, as_seed


def _kron(vs):
    return reduce(np.kron, vs)


def _factor_vectors(name, v):
    v = as_array(name, v, ndim=2)
    if v.shape[1] != 2:
        raise ValueError(f"`{name}` must have shape (n_factors, 2), got {v.shape}")
    if v.shape[0] > 12:
        raise ValueError(f"`{name}` must have at most 12 factors, got {v.shape[0]}")
    return v


def disentangled_activation(factors):
    r"""Definition 3: the :math:`2^n\times n` matrix whose column :math:`j` is
    :math:`\mathbf 1\otimes\cdots\otimes\mathbf f_j\otimes\cdots\otimes\mathbf 1`, for the rows
    ``factors[j]`` = :math:`\mathbf f_j\in\mathbb R^2` (factor 1 most significant, as
    ``numpy.kron``)."""
    f = _factor_vectors("factors", factors)
    n = f.shape[0]
    one = np.ones(2)
    return np.stack([_kron([f[j] if i == j else one for i in range(n)]) for j in range(n)], 1)


def disentangled_gradient(factors, marginals):
    r"""Definition 4: column :math:`j` is :math:`\mathbf p_1\otimes\cdots\otimes\tilde{\mathbf g}_j
    \otimes\cdots\otimes\mathbf p_n`, with ``factors[j]`` = :math:`\tilde{\mathbf g}_j` and
    ``marginals[i]`` = :math:`\mathbf p_i=[P(z_i=0),P(z_i=1)]`."""
    g = _factor_vectors("factors", factors)
    p = _marginals(marginals, g.shape[0])
    n = g.shape[0]
    return np.stack([_kron([g[j] if i == j else p[i] for i in range(n)]) for j in range(n)], 1)


def _marginals(marginals, n):
    p = _factor_vectors("marginals", marginals)
    if p.shape[0] != n or np.any(p < 0) or np.max(np.abs(p.sum(axis=1) - 1)) > 1e-9:
        raise ValueError(f"`marginals` must be {n} probability 2-vectors")
    return p


def _columns(name, F):
    F = as_array(name, F, ndim=2)
    m = F.shape[0]
    n = int(round(np.log2(m)))
    if 2**n != m or n < 1:
        raise ValueError(f"`{name}` must have 2^n rows (n binary factors), got {m}")
    if F.shape[1] > n:
        raise ValueError(f"`{name}` must have at most n = {n} columns (one per factor), "
                         f"got {F.shape[1]}")
    return F, n


def activation_deviation(F):
    r"""How far the columns of ``F`` are from Definition 3: the largest
    :math:`|F_{:j}-\mathbf 1\otimes\cdots\otimes\bar{\mathbf f}_j\otimes\cdots\otimes\mathbf 1|`,
    where :math:`\bar{\mathbf f}_j` averages column :math:`j` (reshaped to :math:`(2,)^n`) over the
    other factors. Zero exactly when every column depends on its own factor only."""
    F, n = _columns("F", F)
    dev = 0.0
    for j in range(F.shape[1]):
        t = F[:, j].reshape((2,) * n)
        axes = tuple(i for i in range(n) if i != j)
        avg = t.mean(axis=axes, keepdims=True)
        dev = max(dev, float(np.max(np.abs(t - avg))))
    return dev


def gradient_deviation(G, marginals):
    r"""How far the columns of ``G`` are from Definition 4: the largest entry of
    :math:`G_{:j}-\mathbf p_1\otimes\cdots\otimes\tilde{\mathbf g}_j\otimes\cdots
    \otimes\mathbf p_n`,
    with :math:`\tilde{\mathbf g}_j` the column summed over the other factors."""
    G, n = _columns("G", G)
    p = _marginals(marginals, n)
    dev = 0.0
    for j in range(G.shape[1]):
        t = G[:, j].reshape((2,) * n)
        axes = tuple(i for i in range(n) if i != j)
        gj = t.sum(axis=axes)
        ref = _kron([gj if i == j else p[i] for i in range(n)]).reshape((2,) * n)
        dev = max(dev, float(np.max(np.abs(t - ref))))
    return dev


def off_block_max(W, blocks):
    r"""Largest :math:`|W_{kj}|` outside the blocks of Definition 5: ``blocks[j]`` lists the rows
    (child nodes :math:`S_j`) allowed in column :math:`j`; 0 for a separable ``W``."""
    W = as_array("W", W, ndim=2)
    if isinstance(blocks, (str, bytes)) or not hasattr(blocks, "__len__") \
            or len(blocks) != W.shape[1]:
        raise ValueError(f"`blocks` must list the allowed rows of each of the {W.shape[1]} "
                         "columns")
    mask = np.ones(W.shape, dtype=bool)
    for j, rows in enumerate(blocks):
        idx = as_array(f"blocks[{j}]", rows, ndim=1, low=0, high=W.shape[0] - 1)
        mask[idx.astype(int), j] = False
    return float(np.max(np.abs(W[mask]))) if mask.any() else 0.0


class DisentangleExample(NamedTuple):
    """The worked case of Theorems 8-9 and Section 8.7.3 (see :func:`disentangle_example`)."""

    P: np.ndarray                 # (4, 8) = P12 (2x4) kron P3 (2x2)
    F_beta: np.ndarray            # (8, 3) disentangled
    W: np.ndarray                 # (3, 2) separable, blocks {0,1} and {2}
    F_raw: np.ndarray             # (4, 2) = P F_beta W
    forward_deviation: float      # activation_deviation(ReLU(F_raw))
    Gt_alpha: np.ndarray          # (4, 2) disentangled, centred or not
    update_off_block: float       # off_block_max(Delta W)
    marginals_beta: np.ndarray    # (3, 2)
    backward: np.ndarray          # (8, 3) = P^T Gt W^T
    backward_deviation: float     # gradient_deviation(backward, marginals_beta)
    node1_singular_values: np.ndarray   # of beta-node 1's column, summed over factor 3, as 2x2
    P12: np.ndarray
    P3: np.ndarray
    f_beta: np.ndarray            # (3, 2) the factor vectors of F_beta
    g_alpha: np.ndarray           # (2, 2) the factor vectors of Gt_alpha
    p_alpha: np.ndarray           # (2, 2) the marginals of alpha's factors


def disentangle_example(coupling=1.0, w_prime=0.7, centred=True, seed=0):
    r"""The case :math:`n_\alpha=2`, :math:`n_\beta=3`, :math:`S=\{\{1,2\},\{3\}\}` of the proofs.

    ``coupling`` in [0, 1] moves :math:`P_{1,2}` (2x4) from the product form
    :math:`P(z_{\beta[1,2]}\mid z_{\alpha[1]}=a)=\mathbf q_a\otimes\mathbf r` (0: factor
    :math:`\beta[2]` independent of :math:`\alpha[1]`) to a generic stochastic matrix (1).
    ``w_prime`` is the second entry of :math:`\mathbf w_{1,2}=(w,w')`. ``centred`` makes
    :math:`\mathbf 1^T\tilde{\mathbf g}_j=0` (as batch normalization does, Theorem 5).
    """
    coupling = check_real("coupling", coupling, low=0.0, high=1.0)
    w_prime = check_real("w_prime", w_prime, low=-1e3, high=1e3)
    centred = as_bool("centred", centred)
    rng = np.random.default_rng(as_seed(seed))
    q = rng.dirichlet(np.ones(2), size=2)
    r = rng.dirichlet(np.ones(2))
    product = np.stack([np.kron(q[a], r) for a in range(2)])
    generic = rng.dirichlet(np.ones(4), size=2)
    P12 = (1 - coupling) * product + coupling * generic
    P3 = rng.dirichlet(np.ones(2), size=2)
    P = np.kron(P12, P3)
    f_beta = rng.uniform(0.2, 1.5, size=(3, 2))
    F_beta = disentangled_activation(f_beta)
    w = rng.uniform(0.5, 1.5)
    W = np.array([[w, 0.0], [w_prime, 0.0], [0.0, rng.uniform(0.5, 1.5)]])
    F_raw = P @ F_beta @ W
    p_alpha = rng.dirichlet(np.ones(2), size=2)
    g = rng.standard_normal((2, 2))
    if centred:
        g = g - g.mean(axis=1, keepdims=True)
    Gt = disentangled_gradient(g, p_alpha)
    dW = (P @ F_beta).T @ Gt
    p_beta_joint = P.T @ _kron([p_alpha[0], p_alpha[1]])
    t = p_beta_joint.reshape(2, 2, 2)
    marg = np.stack([t.sum(axis=(1, 2)), t.sum(axis=(0, 2)), t.sum(axis=(0, 1))])
    back = P.T @ Gt @ W.T
    node1 = back[:, 0].reshape(2, 2, 2).sum(axis=2)
    return DisentangleExample(
        P=P, F_beta=F_beta, W=W, F_raw=F_raw,
        forward_deviation=activation_deviation(np.maximum(F_raw, 0)),
        Gt_alpha=Gt, update_off_block=off_block_max(dW, [[0, 1], [2]]),
        marginals_beta=marg, backward=back,
        backward_deviation=gradient_deviation(back, marg),
        node1_singular_values=np.linalg.svd(node1, compute_uv=False),
        P12=P12, P3=P3, f_beta=f_beta, g_alpha=g, p_alpha=p_alpha)

r"""Spurious local minima of two-layer ReLU networks (Safran and Shamir).

The population loss of a student network with n ReLU neurons :math:`\mathbf w_i\in\mathbb R^k`
fitting a teacher with k orthonormal neurons :math:`\mathbf v_j` (Safran and Shamir [1]_, as in
Yarotsky's slides [2]_, *with* the factor 1/2 that the slides omit but their tables use):

.. math:: F(\mathbf w_1..\mathbf w_n)=\tfrac12\,\mathbb E_{\mathbf x\sim\mathcal N(0,I_k)}
          \Big(\sum_{i=1}^n(\mathbf w_i^\top\mathbf x)_+-\sum_{j=1}^k(\mathbf v_j^\top\mathbf x)_+\Big)^2 .

Every term is the arc-cosine kernel of degree 1 (``gaussian.kernel('relu', ...)``),

.. math:: f(\mathbf w,\mathbf v)=\mathbb E[(\mathbf w^\top\mathbf x)_+(\mathbf v^\top\mathbf x)_+]
          =\frac{|\mathbf w||\mathbf v|}{2\pi}\big(\sin\theta+(\pi-\theta)\cos\theta\big),\qquad
          \nabla_{\mathbf w}f=\frac1{2\pi}\Big(|\mathbf v|\sin\theta\,\frac{\mathbf w}{|\mathbf w|}
          +(\pi-\theta)\mathbf v\Big),

so F and its gradient are exact closed forms, vectorised here over a batch of students (shape
``(R, n, k)``) so that hundreds of gradient-descent restarts run at once. Certification of a
minimum: gradient norm tiny and the smallest eigenvalue of the Hessian (central differences
of the analytic gradient, symmetrised) positive.

References
----------
.. [1] I. Safran and O. Shamir, "Spurious local minima are common in two-layer ReLU neural
   networks", ICML 2018, arXiv:1712.08968.
.. [2] D. Yarotsky, "Optimization of neural networks", lecture slides.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from ._validate import check_array, check_choice, check_device, check_positive_int, check_real

__all__ = ["relu_kernel", "safran_shamir_objective", "safran_shamir_gradient",
           "safran_shamir_hessian", "SearchResult", "spurious_minima_search"]

_EPS = 1e-300


_W_MAX = 1e100   # entries beyond would overflow the squared norms and give NaN


def _weights(W, V):
    W = check_array("W", W, low=-_W_MAX, high=_W_MAX)
    if W.ndim not in (2, 3):
        raise ValueError(f"`W` must have shape (n, k) or (runs, n, k), got {W.shape}")
    k = W.shape[-1]
    V = np.eye(k) if V is None else check_array("V", V, low=-_W_MAX, high=_W_MAX)
    if V.ndim != 2 or V.shape[1] != k:
        raise ValueError(f"`V` must have shape (m, {k}), got {V.shape}")
    return W, V


def _kernel_and_grad(A, B, grad=True):
    """f(a_i, b_j) and grad_a f for batches A (..., n, k), B (..., m, k)."""
    na = np.sqrt(np.sum(A * A, axis=-1))[..., :, None]          # (..., n, 1)
    nb = np.sqrt(np.sum(B * B, axis=-1))[..., None, :]          # (..., 1, m)
    dot = A @ np.swapaxes(B, -1, -2)
    c = np.clip(dot / np.maximum(na * nb, _EPS), -1.0, 1.0)
    s = np.sqrt(np.clip(1 - c * c, 0.0, None))
    theta = np.arctan2(s, c)
    f = na * nb / (2 * np.pi) * (s + (np.pi - theta) * c)
    if not grad:
        return f, None
    # grad_a f(a, b_j) = (|b_j| sin(theta) a/|a| + (pi - theta) b_j) / (2 pi), summed over j later
    coef_a = (nb * s / np.maximum(na, _EPS)) / (2 * np.pi)     # multiplies a_i
    coef_b = (np.pi - theta) / (2 * np.pi)                      # multiplies b_j
    return f, (coef_a, coef_b)


def relu_kernel(W, V):
    r"""Matrix of the arc-cosine kernel :math:`f(\mathbf w_i,\mathbf v_j)`.

    .. math:: f(\mathbf w,\mathbf v)=\mathbb E[(\mathbf w^\top\mathbf x)_+(\mathbf v^\top\mathbf x)_+]

    ``W`` (n, k) and ``V`` (m, k), entries finite with absolute value <= 1e100 (as for every
    function of this module; ``V=None`` means the identity); returns (n, m). Equals
    ``gaussian.kernel('relu', |w|^2, |v|^2, cos(theta))``.

    Examples
    --------
    >>> round(float(relu_kernel([[1.0, 0.0]], [[0.0, 1.0]])[0, 0]), 12) == round(1 / (2 * np.pi), 12)
    True
    """
    W, V = _weights(W, V)
    return _kernel_and_grad(W, V, grad=False)[0]


def safran_shamir_objective(W, V=None):
    r"""The objective F (with the factor 1/2) for students W of shape (n, k) or (runs, n, k).

    .. math:: 2F=\sum_{i,i'}f(\mathbf w_i,\mathbf w_{i'})-2\sum_{i,j}f(\mathbf w_i,\mathbf v_j)
              +\sum_{j,j'}f(\mathbf v_j,\mathbf v_{j'})

    ``V`` defaults to the identity (k orthonormal teacher neurons), where the last sum is
    :math:`k/2+k(k-1)/(2\pi)`. Returns a float, or an array of shape (runs,).

    Examples
    --------
    >>> safran_shamir_objective(np.eye(3))
    0.0
    """
    W, V = _weights(W, V)
    fww = _kernel_and_grad(W, W, grad=False)[0].sum(axis=(-1, -2))
    fwv = _kernel_and_grad(W, V, grad=False)[0].sum(axis=(-1, -2))
    fvv = _kernel_and_grad(V, V, grad=False)[0].sum()
    out = np.maximum(0.5 * (fww - 2 * fwv + fvv), 0.0)
    return float(out) if np.ndim(out) == 0 else out


def safran_shamir_gradient(W, V=None):
    r"""Analytic gradient of :func:`safran_shamir_objective`, same shape as W.

    .. math:: \nabla_{\mathbf w_i}F=\tfrac12\mathbf w_i
              +\sum_{i'\ne i}\nabla_{\mathbf w}f(\mathbf w_i,\mathbf w_{i'})
              -\sum_j\nabla_{\mathbf w}f(\mathbf w_i,\mathbf v_j)

    (the term :math:`\tfrac12\mathbf w_i` is the derivative of
    :math:`\tfrac12f(\mathbf w_i,\mathbf w_i)=|\mathbf w_i|^2/4`
    counted once in 2F). Neurons with :math:`\mathbf w_i=0` get the one-sided value.
    """
    W, V = _weights(W, V)
    _, (ca, cb) = _kernel_and_grad(W, W)
    n = W.shape[-2]
    off = 1.0 - np.eye(n)
    ca, cb = ca * off, cb * off
    g = 0.5 * W + ca.sum(axis=-1, keepdims=True) * W + cb @ W
    _, (ca, cb) = _kernel_and_grad(W, V)
    g = g - ca.sum(axis=-1, keepdims=True) * W - cb @ V
    return g


def safran_shamir_hessian(W, V=None, h=1e-6):
    r"""Hessian of F at W (n, k), shape (nk, nk): central differences of the analytic gradient.

    Symmetrised; its error is :math:`O(h^2)` (about 1e-10 for h = 1e-6), far below the
    eigenvalues (~1e-2) that certify a minimum.
    """
    W, V = _weights(W, V)
    if W.ndim != 2:
        raise ValueError("`W` must have shape (n, k) for the Hessian")
    h = check_real("h", h, low=0.0, high=1.0, low_inclusive=False)
    d = W.size
    E = np.eye(d).reshape(d, *W.shape) * h
    gp = safran_shamir_gradient(W + E, V).reshape(d, d)
    gm = safran_shamir_gradient(W - E, V).reshape(d, d)
    H = (gp - gm) / (2 * h)
    return 0.5 * (H + H.T)


class SearchResult(NamedTuple):
    """Outcome of :func:`spurious_minima_search` (arrays over runs; ``W`` (runs, n, k)).

    ``spurious`` marks runs ending at F > ``threshold`` with gradient norm < ``grad_tol`` and a
    positive-definite Hessian; ``lambda_min`` is nan for runs that were not certified.
    """

    W: np.ndarray
    value: np.ndarray
    grad_norm: np.ndarray
    lambda_min: np.ndarray
    spurious: np.ndarray


def _gd_torch(W, lr, n_steps, device):
    """The GD phase of the search in torch (float64) on ``device``; same formulas as numpy."""
    import torch

    Wt = torch.as_tensor(W, dtype=torch.float64, device=device)
    V = torch.eye(W.shape[-1], dtype=torch.float64, device=device)
    off = 1.0 - torch.eye(W.shape[-2], dtype=torch.float64, device=device)

    def parts(A, B):
        na = A.norm(dim=-1)[..., :, None]
        nb = B.norm(dim=-1)[..., None, :]
        c = (A @ B.transpose(-1, -2) / (na * nb).clamp_min(_EPS)).clamp(-1.0, 1.0)
        s = (1 - c * c).clamp_min(0.0).sqrt()
        theta = torch.atan2(s, c)
        return nb * s / na.clamp_min(_EPS) / (2 * math.pi), (math.pi - theta) / (2 * math.pi)

    with torch.no_grad():
        for _ in range(n_steps):
            ca, cb = parts(Wt, Wt)
            ca, cb = ca * off, cb * off
            g = 0.5 * Wt + ca.sum(-1, keepdim=True) * Wt + cb @ Wt
            ca, cb = parts(Wt, V)
            g = g - ca.sum(-1, keepdim=True) * Wt - cb @ V
            Wt = Wt - lr * g
    return Wt.cpu().numpy()


def spurious_minima_search(k, n, n_runs, *, n_steps=3000, lr=0.3, seed=0, threshold=5e-4,
                           grad_tol=1e-8, refine_steps=20, device=None, init="uniform"):
    r"""Gradient descent from ``n_runs`` Xavier initialisations, then certification.

    Initialisation (``init``): ``'uniform'``, :math:`w_{ij}\sim U[\pm\sqrt{6/(n+k)}]`, or
    ``'normal'``, :math:`w_{ij}\sim\mathcal N(0, 2/(n+k))`: the same variance, another law (the
    fraction of runs that end in a spurious minimum depends on it); all runs advance together
    (vectorised GD, step ``lr``) for ``n_steps`` steps. Runs with :math:`F>` ``threshold`` are
    candidates: each is polished by ``refine_steps`` Newton steps on the analytic gradient
    (finite-difference Hessian) — which converges quadratically at a strict minimum — and is
    certified spurious when the gradient norm is below ``grad_tol`` and the Hessian's smallest
    eigenvalue is positive. ``device`` (a torch device, e.g. ``runtime.device()``) runs the GD
    phase in torch float64 there (same iteration, for many restarts on a GPU); ``None`` uses numpy.
    Devices: ``None``, ``'cpu'``, and ``'cuda'`` only when torch sees a GPU (else ValueError).
    """
    device = check_device("device", device)
    k = check_positive_int("k", k)
    n = check_positive_int("n", n)
    R = check_positive_int("n_runs", n_runs)
    if R * n * max(n, k) > 50_000_000:                # the (R, n, n) and (R, n, k) arrays
        raise ValueError(f"`n_runs` x `n` x max(`n`, `k`) = {R * n * max(n, k):.3g} is too "
                         f"large (at most 5e7 numbers per array, 400 MB)")
    n_steps = check_positive_int("n_steps", n_steps, minimum=0)
    lr = check_real("lr", lr, low=0.0, low_inclusive=False)
    threshold = check_real("threshold", threshold, low=0.0, low_inclusive=False)
    grad_tol = check_real("grad_tol", grad_tol, low=0.0, low_inclusive=False)
    refine_steps = check_positive_int("refine_steps", refine_steps, minimum=0)
    init = check_choice("init", init, ("uniform", "normal"))
    rng = np.random.default_rng(check_positive_int("seed", seed, minimum=0))
    if init == "uniform":
        a = math.sqrt(6.0 / (n + k))
        W = rng.uniform(-a, a, (R, n, k))
    else:
        W = rng.normal(0.0, math.sqrt(2.0 / (n + k)), (R, n, k))
    V = np.eye(k)
    if device is None:
        for _ in range(n_steps):
            W = W - lr * safran_shamir_gradient(W, V)
    else:
        W = _gd_torch(W, lr, n_steps, device)
    value = np.atleast_1d(safran_shamir_objective(W, V))
    lam = np.full(R, np.nan)
    for r in np.flatnonzero(value > threshold):
        w = W[r]
        for _ in range(refine_steps):
            g = safran_shamir_gradient(w, V).ravel()
            if np.linalg.norm(g) < 1e-13:
                break
            H = safran_shamir_hessian(w, V)
            ev, U = np.linalg.eigh(H)
            if ev[0] <= 0:                           # not near a minimum: keep the GD point
                break
            w = w - (U @ ((U.T @ g) / ev)).reshape(w.shape)
        W[r] = w
        lam[r] = np.linalg.eigvalsh(safran_shamir_hessian(w, V))[0]
    value = np.atleast_1d(safran_shamir_objective(W, V))
    gnorm = np.sqrt(np.sum(safran_shamir_gradient(W, V) ** 2, axis=(1, 2)))
    spurious = (value > threshold) & (gnorm < grad_tol) & (np.nan_to_num(lam, nan=-1.0) > 0)
    return SearchResult(W, value, gnorm, lam, spurious)

r"""Batch normalization as a projection (Theorem 5 and its weighted form)."""

from __future__ import annotations

import numpy as np

from .._validate import check_real
from ._common import as_array, as_probabilities


#: Largest magnitude accepted in ``f`` and ``g``: squares and products stay finite in float64.
MAX_ABS = 1e150


def _vectors(f, g=None, weights=None):
    f = as_array("f", f, ndim=1)
    if f.size < 2:
        raise ValueError(f"`f` must hold at least 2 samples, got {f.size}")
    if np.max(np.abs(f)) > MAX_ABS:
        raise ValueError(f"`f` must have entries of magnitude at most {MAX_ABS:g}, "
                         f"got {float(np.max(np.abs(f))):g}")
    if g is not None:
        g = as_array("g", g, ndim=1, shape=(f.size,))
        if np.max(np.abs(g)) > MAX_ABS:
            raise ValueError(f"`g` must have entries of magnitude at most {MAX_ABS:g}, "
                             f"got {float(np.max(np.abs(g))):g}")
    if weights is None:
        p = np.full(f.size, 1.0 / f.size)
    else:
        p = as_probabilities("weights", weights, f.size)
    return f, g, p


def _finite(name, x):
    if not np.all(np.isfinite(x)):
        raise ValueError(f"the {name} overflows in float64; rescale the inputs")
    return x


def _stats(f, p, eps):
    mu = p @ f
    fhat = f - mu
    var = p @ fhat**2
    if var + eps <= 1e-24 * max(1.0, float(np.max(np.abs(f)))) ** 2:
        raise ValueError("`f` must not be constant when eps = 0 (its variance vanishes)")
    return fhat, var


def batchnorm_forward(f, c1=1.0, c0=0.0, eps=0.0, weights=None):
    r""":math:`f_{bn}=c_1(f-\mu)/\sqrt{\sigma^2+\epsilon}+c_0` with the population (biased)
    variance; ``weights`` (a probability vector) replaces the uniform :math:`1/N`."""
    c1 = check_real("c1", c1)
    c0 = check_real("c0", c0)
    eps = check_real("eps", eps, low=0.0)
    f, _, p = _vectors(f, None, weights)
    with np.errstate(over="ignore", invalid="ignore"):
        fhat, var = _stats(f, p, eps)
        return _finite("BN output", c1 * fhat / np.sqrt(var + eps) + c0)


def batchnorm_backward(f, g, eps=0.0, *, c1=1.0, weights=None):
    r"""Gradient with respect to the pre-BN vector ``f`` given the upstream gradient ``g``
    (with respect to the BN output), :math:`\gamma=c_1` (default 1), :math:`\beta=0`, population
    variance; equal to autograd through ``BatchNorm1d`` in training mode.

    .. math::
        \mathbf g_f=\frac{c_1}{s}\Big(\mathbf g-\langle\mathbf 1,\mathbf g\rangle\mathbf 1
        -\frac{\hat{\mathbf f}\,\langle\hat{\mathbf f},\mathbf g\rangle}{s^2}\Big),\qquad
        s=\sqrt{\sigma^2+\epsilon},

    with :math:`\langle a,b\rangle=\sum_i p_ia_ib_i` and :math:`p_i=1/N` (unweighted: then
    ``g`` is the gradient of a sum, and :math:`\mathbf g_f=\frac{c_1}{\sigma}P^\perp_{\mathbf f,
    \mathbf 1}\mathbf g` at :math:`\epsilon=0`). With ``weights`` :math:`p`, ``g`` and the result
    are per-event gradients of :math:`\sum_zp_zg(z)f_{bn}(z)` (the unnormalized ones are
    :math:`p\circ g`).

    Examples
    --------
    >>> import numpy as np
    >>> f, g = np.array([0.0, 1.0, 3.0]), np.array([1.0, -2.0, 0.5])
    >>> grad = batchnorm_backward(f, g)
    >>> bool(abs(grad.sum()) < 1e-12 and abs(f @ grad) < 1e-12)   # orthogonal to 1 and f
    True
    """
    eps = check_real("eps", eps, low=0.0)
    c1 = check_real("c1", c1)
    f, g, p = _vectors(f, g, weights)
    with np.errstate(over="ignore", invalid="ignore"):
        fhat, var = _stats(f, p, eps)
        s2 = var + eps
        out = c1 / np.sqrt(s2) * (g - (p @ g) - fhat * (p @ (fhat * g)) / s2)
    return _finite("BN gradient", out)


def batchnorm_projector(f, weights=None):
    r"""The projector :math:`P^\perp_{\mathbf f,\mathbf 1}=I-\mathbf 1\mathbf p^T-\tilde{\mathbf f}
    \tilde{\mathbf f}^T\Lambda` acting on per-event gradients (:math:`\epsilon=0`).

    Unweighted (:math:`\mathbf p=\mathbf 1/N`) it is the symmetric orthogonal projector onto the
    complement of :math:`\mathrm{span}\{\mathbf f,\mathbf 1\}`; weighted it is idempotent and
    self-adjoint for :math:`\langle a,b\rangle_\Lambda=a^T\Lambda b` (:math:`\Lambda P=P^T\Lambda`)
    but not symmetric. Its transpose acts on unnormalized gradients :math:`\Lambda g`.
    """
    f, _, p = _vectors(f, None, weights)
    with np.errstate(over="ignore", invalid="ignore"):
        fhat, var = _stats(f, p, 0.0)
        ft = _finite("normalized f", fhat / np.sqrt(var))
    n = f.size
    return np.eye(n) - np.outer(np.ones(n), p) - np.outer(ft, ft * p)


def ioffe_szegedy_backward(f, g, c1=1.0, eps=0.0):
    r"""The backward formulas of Ioffe and Szegedy (2015, Algorithm 1 and its backward pass),
    term by term: returns ``(dx, dgamma, dbeta)`` for upstream ``g`` = :math:`\partial\ell/
    \partial y`, :math:`\gamma=c_1`."""
    c1 = check_real("c1", c1)
    eps = check_real("eps", eps, low=0.0)
    if g is None:
        raise ValueError("`g` must be a real array, got None")
    x, dy, _ = _vectors(f, g, None)
    with np.errstate(over="ignore", invalid="ignore"):
        return _ioffe(x, dy, c1, eps)


def _ioffe(x, dy, c1, eps):
    _stats(x, np.full(x.size, 1.0 / x.size), eps)
    m = x.size
    mu = x.mean()
    var = ((x - mu) ** 2).mean()
    xhat = (x - mu) / np.sqrt(var + eps)
    dxhat = dy * c1
    dvar = np.sum(dxhat * (x - mu)) * (-0.5) * (var + eps) ** -1.5
    dmu = np.sum(dxhat * (-1.0 / np.sqrt(var + eps))) + dvar * np.sum(-2.0 * (x - mu)) / m
    dx = dxhat / np.sqrt(var + eps) + dvar * 2.0 * (x - mu) / m + dmu / m
    out = (dx, float(np.sum(dy * xhat)), float(np.sum(dy)))
    _finite("BN gradient", np.concatenate([dx, out[1:]]))
    return out

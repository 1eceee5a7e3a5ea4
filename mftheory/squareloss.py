r"""Square-loss dynamics of homogeneous networks: the norm :math:`\rho`, weight decay, margins
and neural collapse (Poggio and Liao, CBMM Memo 112, 2020).

Theory and conventions
----------------------
A bias-free ReLU network :math:`g(W;x)=W_L\sigma(W_{L-1}\cdots\sigma(W_1x))` is positively
homogeneous: with :math:`\rho_k=\|W_k\|_F`, :math:`V_k=W_k/\rho_k` and :math:`\rho=\prod_k\rho_k`,
:math:`g(W;x)=\rho f(V;x)` with the *normalised network* :math:`f` (unit-norm layers), and
:math:`\langle W_k,\partial g/\partial W_k\rangle=g` for every layer (the structural lemma).

* **Loss convention.** Training minimises the *mean* square loss
  :math:`\frac1N\sum_n(g_n-y_n)^2` and torch's ``weight_decay=wd`` adds ``wd * W`` to the
  gradient (a penalty :math:`\frac{wd}2\|W\|^2`). The memo writes the *sum*
  :math:`\sum_n(\rho f_n-y_n)^2+\lambda\rho^2`; multiplying ours by :math:`N` gives
  :math:`\lambda=N\,wd/2` (:func:`lam_from_torch_wd`).
* **Equilibrium** (memo Eq. 7): :math:`\rho_{eq}=\sum_ny_nf_n/(\lambda+\sum_nf_n^2)`
  (:func:`rho_eq`); it holds exactly at any stationary point in a last layer on which the
  output is linear, with or without batch normalization (BN).
* **Normalised dynamics with weight decay** (memo Eq. 5, sum loss):
  :math:`\dot\rho=2\sum_nf_ny_n-2\rho(\lambda+\sum_nf_n^2)` (:func:`rho_dot_normalized`).
* **Unnormalised dynamics** (memo Eq. 28, balanced layers, sum loss):
  :math:`\dot\rho=2L\rho^{(2L-2)/L}(\sum_nf_ny_n-\rho\sum_nf_n^2)`
  (:func:`rho_dot_unnormalized`, :func:`solve_rho_ode`). With :math:`a=\sum yf`,
  :math:`b=\sum f^2` held fixed and :math:`\rho(0)=\epsilon`, the time to reach half of
  :math:`a/b` is :math:`\ln((a/b-\epsilon)/\epsilon)/(4a)` for :math:`L=2` and
  :math:`\approx\epsilon^{-(L-2)/L}/(2a(L-2))` for :math:`L\ge3` (:func:`escape_time`,
  :func:`escape_time_asymptotic`).
* **BN.** :class:`HomogeneousMLP` with ``bn=True`` puts a BN without affine parameters before
  every ReLU, always with the statistics of a reference batch (the training set), never running
  averages: running means would add biases and break homogeneity. The output is then invariant
  under rescaling of :math:`W_1..W_{L-1}`, and :math:`\rho=\|W_L\|_F` (``mode='last'``). The
  memo's model of BN assumes :math:`\|W_k\|=1` for :math:`k<L`; :func:`project_lower_layers_`
  enforces it after each step (the "paper model").

Corrections to the memo implemented here: Eq. 26 reads
:math:`\frac{d}{dt}\|W_k\|^2=-\frac4N\sum_n(g_n-y_n)g_n` (the memo has the wrong sign and no
:math:`y_n`); footnote 4 holds only for :math:`\lambda=0` (in general
:math:`\sum_n\ell_nf_n=-\lambda\rho`); the ramp loss satisfies :math:`\ell_0\le\ell_\gamma`.

References: Poggio and Liao (2020); Papyan, Han and Donoho (2020) for the neural-collapse
metrics; Liang et al. (2019) for the structural lemma.
"""

from __future__ import annotations

import functools
import math
import os
from dataclasses import dataclass, field

import numpy as np
import torch
from scipy import integrate

from ._validate import check_array, check_choice, check_positive_int, check_real

__all__ = [
    "HomogeneousMLP",
    "init_frobenius_",
    "layer_norms",
    "rho",
    "normalized_output",
    "project_lower_layers_",
    "rho_eq",
    "lam_from_torch_wd",
    "torch_wd_from_lam",
    "rho_dot_normalized",
    "rho_dot_unnormalized",
    "rho_normalized_closed_form",
    "solve_rho_ode",
    "escape_time",
    "escape_time_asymptotic",
    "lagrange_nu",
    "normalized_flow",
    "History",
    "train_square_loss",
    "margins",
    "ramp_loss",
    "neural_collapse_metrics",
    "stable_rank",
    "homogeneity_residual",
    "structural_lemma_residual",
    "layer_norm_rates",
    "linear_constraint_residuals",
    "constraint_matrices",
    "diagonal_offdiag_gradient",
]

_BN_EPS = 1e-5
_BIG = 1e6          # range of the ODE parameters a, b, lambda, eps (larger ones are stiff)


def _all_finite(out):
    if isinstance(out, dict):
        return all(_all_finite(v) for v in out.values())
    if isinstance(out, (tuple, list)):
        return all(_all_finite(v) for v in out)
    if isinstance(out, (float, int, np.ndarray, np.floating)):
        return bool(np.all(np.isfinite(out)))
    return True


def _guarded(fn):
    """Turn overflow in a numeric function into a ValueError (never return NaN or inf)."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        with np.errstate(all="ignore"):
            try:
                out = fn(*args, **kwargs)
            except (OverflowError, ZeroDivisionError, FloatingPointError) as err:
                raise ValueError(f"{fn.__name__}: the arguments are outside the range where the "
                                 f"result is representable ({err})") from None
        if not _all_finite(out):
            raise ValueError(f"{fn.__name__}: the result overflows for these arguments (inputs "
                             "too large or too small)")
        return out

    return wrapper


# --------------------------------------------------------------------------------------
# Input checks
# --------------------------------------------------------------------------------------
def _arr(name, x, *, ndim=None, low=None, high=None):
    """A finite float64 array; torch tensors, strings, bools, complex and objects refused."""
    if isinstance(x, (torch.Tensor, str, bytes, bool, dict, set)) or x is None:
        raise ValueError(f"`{name}` must be a real number or a numpy array of real numbers, "
                         f"got {type(x).__name__}")
    try:
        raw = np.asarray(x)
    except Exception:
        raise ValueError(f"`{name}` must be an array of real numbers, got {x!r}") from None
    if raw.dtype.kind not in "iuf":
        raise ValueError(f"`{name}` must hold real numbers (int or float), got dtype {raw.dtype}")
    return check_array(name, raw, ndim=ndim, low=low, high=high)


def _vec_pair(f, y, fname="f", yname="y"):
    f = _arr(fname, f, ndim=1)
    y = _arr(yname, y, ndim=1)
    if f.shape != y.shape:
        raise ValueError(f"`{fname}` and `{yname}` must have the same shape, got {f.shape} "
                         f"and {y.shape}")
    if f.size == 0:
        raise ValueError(f"`{fname}` must not be empty")
    return f, y


def _labels_pm1(name, y):
    y = _arr(name, y, ndim=1)
    if not np.all(np.abs(y) == 1.0):
        raise ValueError(f"`{name}` must hold labels +1 and -1 only")
    return y


def _model(model):
    if not isinstance(model, HomogeneousMLP):
        raise ValueError(f"`model` must be a mftheory.squareloss.HomogeneousMLP, got "
                         f"{type(model).__name__}")
    return model


def _tensor_x(model, X, name="X"):
    """Inputs (a numpy array, not a tensor) as a tensor of the model's dtype and device."""
    w = model.weights[0]
    t = torch.as_tensor(_arr(name, X, ndim=2), dtype=w.dtype, device=w.device)
    if t.ndim != 2 or t.shape[1] != model.dims[0] or t.shape[0] < 1:
        raise ValueError(f"`{name}` must have shape (n, {model.dims[0]}), got {tuple(t.shape)}")
    if not torch.isfinite(t).all():
        raise ValueError(f"`{name}` must be finite")
    if model.bn and t.shape[0] < 2:
        raise ValueError(f"`{name}` needs at least 2 rows for batch normalization")
    return t


# --------------------------------------------------------------------------------------
# Model and decomposition
# --------------------------------------------------------------------------------------
class HomogeneousMLP(torch.nn.Module):
    r"""Bias-free ReLU MLP ``dims[0] -> ... -> dims[-1]``, optionally with BN before each ReLU.

    Parameters
    ----------
    dims : sequence of int >= 1, length >= 3 (at least two layers, :math:`L\ge2`)
    bn : bool
        Batch normalization without affine parameters before every ReLU. Its statistics come
        from ``stats_from`` in :meth:`forward` (default: the batch itself).
    dtype : {'float32', 'float64'}
    bn_eps : float >= 0
        The :math:`\epsilon` of BN, :math:`(z-\mu)/\sqrt{\sigma^2+\epsilon}` (torch's default
        1e-5). Scale invariance in the lower layers is exact only for ``bn_eps = 0``.
    seed : int >= 0
        Seed of the weights, :math:`\mathcal N(0,1/d_{in})` entries (rescale them with
        :func:`init_frobenius_`).
    """

    def __init__(self, dims, bn=False, *, dtype="float32", bn_eps=_BN_EPS, seed=0):
        super().__init__()
        if isinstance(dims, (str, bytes)) or not hasattr(dims, "__len__") or len(dims) < 3:
            raise ValueError(f"`dims` must be a sequence of at least 3 layer widths, got {dims!r}")
        dims = tuple(check_positive_int("dims", d) for d in dims)
        if not isinstance(bn, (bool, np.bool_)):
            raise ValueError(f"`bn` must be True or False, got {bn!r}")
        dtype = check_choice("dtype", dtype, ("float32", "float64"))
        seed = check_positive_int("seed", seed, minimum=0)
        self.bn_eps = check_real("bn_eps", bn_eps, low=0.0)
        self.dims, self.bn = dims, bool(bn)
        tdt = getattr(torch, dtype)
        gen = torch.Generator().manual_seed(seed)
        self.weights = torch.nn.ParameterList([
            torch.nn.Parameter(torch.randn(dout, din, generator=gen, dtype=tdt) / math.sqrt(din))
            for din, dout in zip(dims[:-1], dims[1:])])

    @property
    def depth(self) -> int:
        """Number of weight matrices L."""
        return len(self.weights)

    def _bn(self, z, ref):
        mu, var = ref.mean(0), ref.var(0, unbiased=False)
        return (z - mu) / torch.sqrt(var + self.bn_eps)

    def features(self, x, stats_from=None):
        """Penultimate activations :math:`h(x)` (after the last ReLU), a tensor (n, dims[-2]).

        With BN the statistics are those of ``stats_from`` (default: ``x`` itself)."""
        h, r = x, stats_from
        for w in self.weights[:-1]:
            z = h @ w.T
            if r is None:
                if self.bn:
                    z = self._bn(z, z)
            else:
                zr = r @ w.T
                if self.bn:
                    z, zr = self._bn(z, zr), self._bn(zr, zr)
                r = torch.relu(zr)
            h = torch.relu(z)
        return h

    def forward(self, x, stats_from=None):
        """The output :math:`g(W;x)`, shape (n,) for one output unit, else (n, dims[-1])."""
        out = self.features(x, stats_from) @ self.weights[-1].T
        return out[:, 0] if self.dims[-1] == 1 else out


def init_frobenius_(model, norm, *, seed=0):
    r"""Redraw every :math:`W_k` with i.i.d. :math:`\mathcal N(0,1)` entries and rescale it to
    :math:`\|W_k\|_F=` ``norm`` (a float, or one float per layer). Returns the model."""
    model = _model(model)
    norms = _arr("norm", norm, low=0.0)
    if norms.ndim == 0:
        norms = np.full(model.depth, float(norms))
    if norms.shape != (model.depth,) or np.any(norms <= 0):
        raise ValueError(f"`norm` must be a positive number or {model.depth} positive numbers")
    seed = check_positive_int("seed", seed, minimum=0)
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for w, n in zip(model.weights, norms):
            w.copy_(torch.randn(w.shape, generator=gen, dtype=w.dtype))
            w.mul_(float(n) / w.norm())
    return model


@_guarded
def layer_norms(model) -> np.ndarray:
    r"""The Frobenius norms :math:`\rho_k=\|W_k\|_F`, k = 1..L (float64 array)."""
    model = _model(model)
    return np.array([float(w.detach().double().norm()) for w in model.weights])


@_guarded
def rho(model, mode="auto") -> float:
    r""":math:`\rho`: ``'all'`` = :math:`\prod_k\|W_k\|_F`, ``'last'`` = :math:`\|W_L\|_F`;
    ``'auto'`` is ``'last'`` for BN networks and ``'all'`` otherwise."""
    model = _model(model)
    mode = check_choice("mode", mode, ("auto", "all", "last"))
    norms = layer_norms(model)
    if mode == "auto":
        mode = "last" if model.bn else "all"
    return float(norms[-1]) if mode == "last" else float(np.prod(norms))


@_guarded
def normalized_output(model, X, mode="auto", *, stats_from=None) -> np.ndarray:
    r"""The normalised network :math:`f=g/\rho` on inputs ``X`` (float64 numpy array)."""
    model = _model(model)
    x = _tensor_x(model, X)
    ref = None if stats_from is None else _tensor_x(model, stats_from, "stats_from")
    r = rho(model, mode)
    with torch.no_grad():
        g = model(x, ref)
    return g.double().cpu().numpy() / r


def project_lower_layers_(model):
    r"""Rescale :math:`W_1..W_{L-1}` to unit Frobenius norm in place (the memo's model of BN,
    :math:`\rho_k=1` for :math:`k<L`). For a BN network the function is unchanged. Returns
    the model."""
    model = _model(model)
    if any(float(w.detach().norm()) == 0 for w in model.weights[:-1]):
        raise ValueError("a lower layer of `model` is zero and cannot be normalised")
    with torch.no_grad():
        for w in model.weights[:-1]:
            w.div_(w.norm())
    return model


# --------------------------------------------------------------------------------------
# Theory
# --------------------------------------------------------------------------------------
@_guarded
def rho_eq(f, y, lam=0.0) -> float:
    r"""Memo Eq. 7, :math:`\rho_{eq}=\sum_ny_nf_n/(\lambda+\sum_nf_n^2)` (sum-loss :math:`\lambda`).

    Examples
    --------
    >>> rho_eq([0.5, -0.5], [1, -1], lam=0.5)
    1.0
    """
    f, y = _vec_pair(f, y)
    lam = check_real("lam", lam, low=0.0)
    den = lam + float(np.sum(f * f))
    if den <= 0:
        raise ValueError("rho_eq is undefined when lam = 0 and all f are 0")
    return float(np.sum(y * f)) / den


def lam_from_torch_wd(wd, n) -> float:
    r"""The memo's :math:`\lambda=N\,wd/2` for the mean loss and torch's ``weight_decay=wd``."""
    wd = check_real("wd", wd, low=0.0)
    n = check_positive_int("n", n)
    return n * wd / 2.0


def torch_wd_from_lam(lam, n) -> float:
    r"""Inverse of :func:`lam_from_torch_wd`: ``wd`` :math:`=2\lambda/N`."""
    lam = check_real("lam", lam, low=0.0)
    n = check_positive_int("n", n)
    return 2.0 * lam / n


@_guarded
def rho_dot_normalized(rho, f, y, lam=0.0) -> float:
    r"""Memo Eq. 5: :math:`\dot\rho=-2(\rho\sum f_n^2-\sum f_ny_n)-2\lambda\rho` (sum loss)."""
    rho = check_real("rho", rho, low=0.0)
    f, y = _vec_pair(f, y)
    lam = check_real("lam", lam, low=0.0)
    return float(-2.0 * (rho * np.sum(f * f) - np.sum(f * y)) - 2.0 * lam * rho)


def _ab(a, b):
    a = check_real("a", a, low=1.0 / _BIG, high=_BIG)
    b = check_real("b", b, low=1.0 / _BIG, high=_BIG)
    return a, b


@_guarded
def rho_dot_unnormalized(rho, a, b, depth) -> float:
    r"""Memo Eq. 28: :math:`\dot\rho=2L\rho^{(2L-2)/L}(a-\rho b)` with :math:`a=\sum y_nf_n`,
    :math:`b=\sum f_n^2` (sum loss; divide by N for the mean loss)."""
    rho = check_real("rho", rho, low=0.0)
    a, b = _ab(a, b)
    depth = check_positive_int("depth", depth, minimum=2)
    return float(2 * depth * rho ** ((2 * depth - 2) / depth) * (a - rho * b))


@_guarded
def rho_normalized_closed_form(eps, a, b, lam, t) -> np.ndarray:
    r"""Solution of Eq. 5 with :math:`a,b` fixed: :math:`\rho(t)=\rho_{eq}+(\epsilon-\rho_{eq})
    e^{-2(b+\lambda)t}`, :math:`\rho_{eq}=a/(b+\lambda)`."""
    eps = check_real("eps", eps, low=0.0, high=_BIG)
    a, b = _ab(a, b)
    lam = check_real("lam", lam, low=0.0, high=_BIG)
    t = _arr("t", t, low=0.0)
    req = a / (b + lam)
    return req + (eps - req) * np.exp(-2.0 * (b + lam) * t)


@_guarded
def solve_rho_ode(eps, depth, a, b, t) -> np.ndarray:
    r""":math:`\rho(t)` from Eq. 28 with :math:`\rho(0)=\epsilon` and fixed :math:`a,b`
    (scipy ``solve_ivp``, LSODA, relative tolerance 1e-10), at the times ``t`` (>= 0)."""
    eps = check_real("eps", eps, low=0.0, high=_BIG, low_inclusive=False)
    depth = check_positive_int("depth", depth, minimum=2)
    a, b = _ab(a, b)
    t = _arr("t", t, low=0.0, high=1e9)
    ts = np.atleast_1d(t).ravel()
    if ts.size == 0:
        raise ValueError("`t` must contain at least one time")
    if ts.max() == 0.0:
        return np.full(t.shape, eps)
    p = (2 * depth - 2) / depth

    def rhs(_, r):
        rr = max(r[0], 0.0)
        return [2 * depth * rr**p * (a - rr * b)]

    sol = integrate.solve_ivp(rhs, (0.0, float(ts.max())), [eps],
                              method="LSODA", t_eval=np.sort(ts), rtol=1e-10, atol=1e-14 * eps)
    if not sol.success:
        raise ValueError(f"the rho ODE could not be integrated: {sol.message}")
    out = np.empty_like(ts)
    out[np.argsort(ts)] = sol.y[0]
    return out.reshape(t.shape)


@_guarded
def escape_time(eps, depth, a, b, *, fraction=0.5) -> float:
    r"""Exact time for Eq. 28 (fixed :math:`a,b`) to go from :math:`\epsilon` to ``fraction``
    :math:`\cdot a/b`: :math:`T=\int_\epsilon^{\rho_1}d\rho/(2L\rho^{(2L-2)/L}(a-b\rho))`,
    computed by quadrature in :math:`\ln\rho` (relative accuracy about 1e-10)."""
    eps = check_real("eps", eps, low=0.0, low_inclusive=False)
    depth = check_positive_int("depth", depth, minimum=2)
    a, b = _ab(a, b)
    fraction = check_real("fraction", fraction, low=0.0, high=1.0, low_inclusive=False,
                          high_inclusive=False)
    r1 = fraction * a / b
    if eps >= r1:
        raise ValueError(f"`eps` must be below fraction * a / b = {r1:g}, got {eps:g}")
    p = (2 * depth - 2) / depth

    def integrand(s):
        r = math.exp(s)
        return r ** (1 - p) / (2 * depth * (a - b * r))

    val, _ = integrate.quad(integrand, math.log(eps), math.log(r1), epsabs=0.0, epsrel=1e-11,
                            limit=200)
    return float(val)


@_guarded
def escape_time_asymptotic(eps, depth, a, b=None) -> float:
    r"""Small-:math:`\epsilon` escape time of Eq. 28: :math:`\epsilon^{-(L-2)/L}/(2a(L-2))` for
    :math:`L\ge3`; for :math:`L=2` the exact logistic half-time
    :math:`\ln((a/b-\epsilon)/\epsilon)/(4a)` (``b`` required)."""
    eps = check_real("eps", eps, low=0.0, low_inclusive=False)
    depth = check_positive_int("depth", depth, minimum=2)
    a = check_real("a", a, low=1.0 / _BIG, high=_BIG)
    if b is not None:
        b = check_real("b", b, low=1.0 / _BIG, high=_BIG)
    if depth == 2:
        if b is None:
            raise ValueError("`b` is required for depth 2 (the logistic half-time)")
        if eps >= a / b:
            raise ValueError(f"`eps` must be below a / b = {a / b:g}")
        return math.log((a / b - eps) / eps) / (4 * a)
    return eps ** (-(depth - 2) / depth) / (2 * a * (depth - 2))


@_guarded
def lagrange_nu(rho, f, y) -> float:
    r"""The multiplier of the unit-norm constraint, :math:`\nu=-\rho\sum_n(\rho f_n-y_n)f_n`."""
    rho = check_real("rho", rho, low=0.0)
    f, y = _vec_pair(f, y)
    return float(-rho * np.sum((rho * f - y) * f))


@_guarded
def normalized_flow(model, X, y, lam=0.0) -> dict:
    r"""The vector field of the memo's Eqs. 5-6 at the directions of ``model`` (no BN).

    With :math:`V_k=W_k/\|W_k\|_F`, :math:`\rho=\prod_k\|W_k\|_F`, :math:`f_n=f(V;x_n)` and
    :math:`\ell_n=\rho f_n-y_n` (sum loss): ``'rho_dot'`` :math:`=-2\sum_n\ell_nf_n-2\lambda\rho`;
    ``'v_dot'`` the list of :math:`\dot V_k=-2\rho\,P_k\sum_n\ell_n\partial f_n/\partial V_k`
    with the tangent projector :math:`P_k G=G-\langle V_k,G\rangle V_k`; ``'v_dot_memo'`` the
    memo's form :math:`2\rho\sum_n\ell_n(V_kf_n-\partial f_n/\partial V_k)`; ``'nu'`` the
    multiplier :math:`-\rho\sum_n\ell_nf_n`; ``'tangency'`` the largest
    :math:`|\langle V_k,\dot V_k\rangle|/\|\dot V_k\|`. Gradients by autograd in the model's
    dtype; the model is not changed.
    """
    model = _model(model)
    if model.bn:
        raise ValueError("`model` must have no BN (the flow is that of weight normalization)")
    if model.dims[-1] != 1:
        raise ValueError("`model` must have one output unit")
    x = _tensor_x(model, X)
    yv = _labels_pm1("y", y)
    if len(yv) != x.shape[0]:
        raise ValueError("`y` must have one label per row of `X`")
    lam = check_real("lam", lam, low=0.0)
    norms = layer_norms(model)
    if not np.all(norms > 0):
        raise ValueError("every layer of `model` must be nonzero")
    r = float(np.prod(norms))
    vs = [(w.detach() / float(n)).clone().requires_grad_() for w, n in zip(model.weights, norms)]
    h = x
    for v in vs[:-1]:
        h = torch.relu(h @ v.T)
    f = (h @ vs[-1].T)[:, 0]
    fn = f.detach().double().cpu().numpy()
    ell = r * fn - yv
    grads = torch.autograd.grad((torch.as_tensor(ell, dtype=f.dtype, device=f.device) * f).sum(),
                                vs)
    v_dot, v_dot_memo, tang = [], [], 0.0
    s_lf = float(np.sum(ell * fn))
    for v, g in zip(vs, grads):
        vn, gn = v.detach().double().cpu().numpy(), g.double().cpu().numpy()
        proj = gn - float(np.sum(vn * gn)) * vn
        vd = -2.0 * r * proj
        v_dot.append(vd)
        v_dot_memo.append(2.0 * r * (vn * s_lf - gn))
        nrm = np.linalg.norm(vd)
        tang = max(tang, abs(float(np.sum(vn * vd))) / nrm if nrm > 0 else 0.0)
    return {"rho_dot": -2.0 * s_lf - 2.0 * lam * r, "v_dot": v_dot, "v_dot_memo": v_dot_memo,
            "nu": -r * s_lf, "tangency": tang, "rho": r}


# --------------------------------------------------------------------------------------
# Training
# --------------------------------------------------------------------------------------
@dataclass
class History:
    """What :func:`train_square_loss` records every ``log_every`` steps (numpy arrays).

    ``t`` steps; ``rho`` (``mode='auto'``) and ``rho_all`` (product of all norms);
    ``layer_norms`` (n_logs, L); ``loss`` (mean square loss); ``train_acc``; ``test_acc`` and
    ``test_mse`` (NaN-free: empty when no test set). For one output: ``rho_eq`` (with
    :math:`\\lambda=N\\,wd/2`), ``margins`` (n_logs, N) = :math:`y_nf_n`, ``mean_abs_f``.
    For several outputs: ``nc`` (list of :func:`neural_collapse_metrics` dicts).
    """

    t: np.ndarray
    rho: np.ndarray
    rho_all: np.ndarray
    layer_norms: np.ndarray
    loss: np.ndarray
    train_acc: np.ndarray
    test_acc: np.ndarray
    test_mse: np.ndarray
    rho_eq: np.ndarray = field(default_factory=lambda: np.empty(0))
    margins: np.ndarray = field(default_factory=lambda: np.empty((0, 0)))
    mean_abs_f: np.ndarray = field(default_factory=lambda: np.empty(0))
    nc: list = field(default_factory=list)
    lam: float = 0.0


def _silent():
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def _targets(model, y, name):
    k = model.dims[-1]
    if k == 1:
        return _labels_pm1(name, y)
    y = _arr(name, y, ndim=1)
    if np.any(y != np.round(y)) or y.min() < 0 or y.max() >= k:
        raise ValueError(f"`{name}` must hold integer class labels in 0..{k - 1}")
    return y.astype(np.int64)


def train_square_loss(model, X, y, *, steps, lr, momentum=0.0, wd=0.0, wd_last_only=False,
                      project_lower=False, X_test=None, y_test=None, log_every=10,
                      nc_every=None, progress=None, callback=None) -> History:
    r"""Full-batch (S)GD on the mean square loss :math:`\frac1N\sum_n\|g(x_n)-y_n\|^2`.

    Labels are :math:`\pm1` for one output unit, class indices (targets one-hot) otherwise.
    ``wd`` is torch's ``weight_decay`` (all layers, or only :math:`W_L` with
    ``wd_last_only``); ``project_lower`` renormalises :math:`W_1..W_{L-1}` after every step (the
    memo's model of BN; for BN networks only). BN statistics are those of the training batch;
    test outputs use the training statistics too. The tqdm progress bar is silent when the
    environment variable ``CI`` is set (or with ``progress=False``). ``callback(step)``, if
    given, is called after every log (the explorers move their progress bar with it).
    """
    model = _model(model)
    x = _tensor_x(model, X)
    yv = _targets(model, y, "y")
    if len(yv) != x.shape[0]:
        raise ValueError(f"`y` must have one label per row of `X` ({x.shape[0]}), got {len(yv)}")
    steps = check_positive_int("steps", steps, minimum=0)
    lr = check_real("lr", lr, low=0.0, low_inclusive=False)
    momentum = check_real("momentum", momentum, low=0.0, high=1.0, high_inclusive=False)
    wd = check_real("wd", wd, low=0.0)
    log_every = check_positive_int("log_every", log_every)
    for nm, v in (("wd_last_only", wd_last_only), ("project_lower", project_lower),
                  ("progress", True if progress is None else progress)):
        if not isinstance(v, (bool, np.bool_)):
            raise ValueError(f"`{nm}` must be True or False, got {v!r}")
    if project_lower and not model.bn:
        raise ValueError("`project_lower` changes the function of a network without BN; "
                         "use it with bn=True only")
    if (X_test is None) != (y_test is None):
        raise ValueError("give both `X_test` and `y_test`, or neither")
    if nc_every is not None:
        nc_every = check_positive_int("nc_every", nc_every)
    if callback is not None and not callable(callback):
        raise ValueError(f"`callback` must be a function of the step or None, got {callback!r}")
    has_test = X_test is not None
    if has_test:
        xt = _tensor_x(model, X_test, "X_test")
        yt = _targets(model, y_test, "y_test")
        if len(yt) != xt.shape[0]:
            raise ValueError("`y_test` must have one label per row of `X_test`")
    k = model.dims[-1]
    dt = model.weights[0].dtype
    if k == 1:
        target = torch.as_tensor(yv, dtype=dt, device=x.device)
    else:
        target = torch.nn.functional.one_hot(torch.as_tensor(yv, device=x.device), k).to(dt)
    n = x.shape[0]
    params = list(model.weights)
    # torch.optim.SGD's update (dampening 0, no Nesterov), written out: its constructor costs
    # seconds on first use; buf = momentum * buf + grad + wd * W, then W -= lr * buf
    decay = [0.0] * (len(params) - 1) + [wd] if wd_last_only else [wd] * len(params)
    bufs = [None] * len(params)
    lam = lam_from_torch_wd(wd, n)
    rec = {key: [] for key in ("t", "rho", "rho_all", "norms", "loss", "acc", "tacc", "tmse",
                               "req", "marg", "absf")}
    nc = []

    def log(step):
        with torch.no_grad():
            g = model(x)
            loss = float(((g - target) ** 2).reshape(n, -1).sum(1).mean())
            norms = layer_norms(model)
            if not (math.isfinite(loss) and np.all(np.isfinite(norms))):
                raise ValueError(f"training diverged by step {step} (loss not finite); "
                                 "lower `lr`")
            if not torch.any(g != 0) or not np.all(norms > 0):
                raise ValueError(f"the network output is identically zero at step {step} "
                                 "(dead ReLUs or a zero layer); change the initialisation")
            r = float(norms[-1]) if model.bn else float(np.prod(norms))
            rec["t"].append(step), rec["rho"].append(r), rec["rho_all"].append(np.prod(norms))
            rec["norms"].append(norms), rec["loss"].append(loss)
            if k == 1:
                f = g.double().cpu().numpy() / r
                rec["acc"].append(float(np.mean(np.sign(f) == yv)))
                rec["req"].append(rho_eq(f, yv, lam))
                rec["marg"].append(yv * f), rec["absf"].append(float(np.mean(np.abs(f))))
            else:
                rec["acc"].append(float(np.mean(g.argmax(1).cpu().numpy() == yv)))
                if nc_every is not None and step % nc_every == 0:
                    h = model.features(x).double().cpu().numpy()
                    nc.append(neural_collapse_metrics(
                        h, yv, classifier=model.weights[-1].detach().double().cpu().numpy()))
            if has_test:
                gt = model(xt, x)
                if k == 1:
                    rec["tacc"].append(float(np.mean(np.sign(gt.double().cpu().numpy()) == yt)))
                    tt = torch.as_tensor(yt, dtype=dt, device=x.device)
                    rec["tmse"].append(float(((gt - tt) ** 2).mean()))
                else:
                    rec["tacc"].append(float(np.mean(gt.argmax(1).cpu().numpy() == yt)))
                    tt = torch.nn.functional.one_hot(torch.as_tensor(yt, device=x.device), k).to(dt)
                    rec["tmse"].append(float(((gt - tt) ** 2).sum(1).mean()))
        if callback is not None:
            callback(step)

    silent = _silent() if progress is None else not progress
    if silent:
        from tqdm.std import tqdm            # cheap to import; the bar is disabled anyway
    else:
        from tqdm.auto import tqdm           # a widget bar in Jupyter
    bar = tqdm(range(steps), disable=silent, leave=False, desc="training")
    for step in bar:
        if step % log_every == 0:
            log(step)
        g = model(x)
        loss = ((g - target) ** 2).reshape(n, -1).sum(1).mean()
        if not torch.isfinite(loss):
            raise ValueError(f"training diverged at step {step} (loss not finite); lower `lr`")
        grads = torch.autograd.grad(loss, params)
        with torch.no_grad():
            for i, (w, gr) in enumerate(zip(params, grads)):
                d = gr.add(w, alpha=decay[i]) if decay[i] else gr
                if momentum:
                    bufs[i] = d.clone() if bufs[i] is None else bufs[i].mul_(momentum).add_(d)
                    d = bufs[i]
                w.add_(d, alpha=-lr)
        if project_lower:
            project_lower_layers_(model)
    log(steps)
    a = np.asarray
    return History(t=a(rec["t"]), rho=a(rec["rho"]), rho_all=a(rec["rho_all"]),
                   layer_norms=a(rec["norms"]), loss=a(rec["loss"]), train_acc=a(rec["acc"]),
                   test_acc=a(rec["tacc"]), test_mse=a(rec["tmse"]), rho_eq=a(rec["req"]),
                   margins=a(rec["marg"]) if rec["marg"] else np.empty((0, 0)),
                   mean_abs_f=a(rec["absf"]), nc=nc, lam=lam)


# --------------------------------------------------------------------------------------
# Metrics
# --------------------------------------------------------------------------------------
@_guarded
def margins(f, y) -> np.ndarray:
    r"""Margins :math:`y_nf_n` of the normalised outputs ``f`` for labels :math:`\pm1`."""
    f, y = _vec_pair(f, y)
    y = _labels_pm1("y", y)
    return y * f


@_guarded
def ramp_loss(g, y, gamma) -> np.ndarray:
    r"""Ramp loss per sample: 1 if :math:`yg\le0`, :math:`1-yg/\gamma` on :math:`[0,\gamma]`,
    0 beyond; ``gamma = 0`` is the 0-1 loss (:math:`\ell_0\le\ell_\gamma`)."""
    g, y = _vec_pair(g, y, "g", "y")
    y = _labels_pm1("y", y)
    gamma = check_real("gamma", gamma, low=0.0)
    m = y * g
    if gamma == 0.0:
        return (m <= 0).astype(float)
    return np.clip(1.0 - m / gamma, 0.0, 1.0)


@_guarded
def neural_collapse_metrics(features, labels, classifier=None) -> dict:
    r"""Neural-collapse measures of Papyan, Han and Donoho (2020) for features (N, p).

    Keys: ``'nc1'`` :math:`=\mathrm{tr}(\Sigma_W\Sigma_B^+)/K`; ``'nc2_equinorm'``, the
    coefficient of variation of :math:`\|\mu_c-\mu_G\|`; ``'nc2_equiangle'``, the mean over pairs
    of :math:`|\cos(\mu_c-\mu_G,\mu_{c'}-\mu_G)+1/(K-1)|`. With a ``classifier`` (K, p) (bias-free,
    logits :math:`Wh`): ``'nc3'`` :math:`=\|W/\|W\|_F-M/\|M\|_F\|_F` with :math:`M` the centred
    class means (K, p), and ``'nc4'``, the fraction of samples whose nearest class mean differs
    from the classifier's decision. :math:`\mu_G` is the global mean; :math:`\Sigma_W` averages
    over all samples, :math:`\Sigma_B` over classes. Labels are 0..K-1, every class present.
    """
    h = _arr("features", features, ndim=2)
    lab = _arr("labels", labels, ndim=1)
    if len(lab) != h.shape[0]:
        raise ValueError(f"`labels` must have one entry per row of `features` ({h.shape[0]})")
    if np.any(lab != np.round(lab)) or lab.min() < 0:
        raise ValueError("`labels` must be integer class indices 0..K-1")
    lab = lab.astype(np.int64)
    if h.size and np.any(h):
        h = h / np.abs(h).max()              # every measure is scale invariant
    k = int(lab.max()) + 1
    if k < 2 or np.any(np.bincount(lab, minlength=k) == 0):
        raise ValueError("`labels` must contain every class 0..K-1, with K >= 2")
    mu_g = h.mean(0)
    means = np.stack([h[lab == c].mean(0) for c in range(k)])
    centred = means - mu_g
    within = h - means[lab]
    sw = within.T @ within / h.shape[0]
    sb = centred.T @ centred / k
    out = {"nc1": float(np.trace(sw @ np.linalg.pinv(sb, rcond=1e-10, hermitian=True)) / k)}
    norms = np.linalg.norm(centred, axis=1)
    if np.any(norms == 0):
        raise ValueError("two class means coincide with the global mean; NC2 is undefined")
    out["nc2_equinorm"] = float(norms.std() / norms.mean())
    unit = centred / norms[:, None]
    cos = unit @ unit.T
    iu = np.triu_indices(k, 1)
    out["nc2_equiangle"] = float(np.mean(np.abs(cos[iu] + 1.0 / (k - 1))))
    if classifier is not None:
        w = _arr("classifier", classifier, ndim=2)
        if w.shape != (k, h.shape[1]):
            raise ValueError(f"`classifier` must have shape ({k}, {h.shape[1]}), got {w.shape}")
        if not np.any(w):
            raise ValueError("`classifier` must not be zero")
        diff = w / np.linalg.norm(w) - centred / np.linalg.norm(centred)
        out["nc3"] = float(np.linalg.norm(diff))
        d2 = ((h[:, None, :] - means[None, :, :]) ** 2).sum(-1)
        out["nc4"] = float(np.mean(d2.argmin(1) != (h @ w.T).argmax(1)))
    return out


@_guarded
def stable_rank(W) -> float:
    r"""Stable rank :math:`\|W\|_F^2/\|W\|_2^2` of a nonzero matrix (between 1 and its rank)."""
    w = _arr("W", W, ndim=2)
    if w.size == 0 or not np.any(w):
        raise ValueError("`W` must be a nonzero matrix")
    w = w / np.abs(w).max()                  # scale invariant: avoid overflow and underflow
    s = np.linalg.norm(w, 2)
    if s == 0:
        raise ValueError("`W` must not be the zero matrix")
    return float(np.sum(w * w) / s**2)


@_guarded
def homogeneity_residual(model, X, alpha) -> float:
    r"""Relative :math:`\max_n|g(\alpha W;x_n)-\alpha^Lg(W;x_n)|/\max_n|\alpha^Lg(W;x_n)|` for
    a network without BN (all layers scaled by ``alpha`` > 0). The model is not changed."""
    model = _model(model)
    if model.bn:
        raise ValueError("`model` must have no BN: a BN network is not homogeneous of degree L")
    x = _tensor_x(model, X)
    alpha = check_real("alpha", alpha, low=0.0, low_inclusive=False)
    with torch.no_grad():
        g = model(x)
        saved = [w.clone() for w in model.weights]
        try:
            for w in model.weights:
                w.mul_(alpha)
            ga = model(x)
        finally:
            for w, s in zip(model.weights, saved):
                w.copy_(s)
    ref = (alpha ** model.depth) * g
    scale_ = float(ref.abs().max())
    if scale_ == 0:
        raise ValueError("the network output is zero on `X`")
    return float((ga - ref).abs().max()) / scale_


@_guarded
def structural_lemma_residual(model, X) -> np.ndarray:
    r"""Per layer, :math:`\max_n|\langle W_k,\partial g(x_n)/\partial W_k\rangle-c_kg(x_n)|/
    \max_n|g|` with :math:`c_k=1` (no BN) or :math:`c_k=0` for :math:`k<L` and 1 for :math:`W_L`
    (BN: the output is scale invariant in the lower layers). One gradient per sample."""
    model = _model(model)
    x = _tensor_x(model, X)
    if x.shape[0] > 512:
        raise ValueError("`X` must have at most 512 rows (one gradient per row)")
    res = np.zeros(model.depth)
    gs = []
    for i in range(x.shape[0]):
        xi = x if model.bn else x[i:i + 1]
        out = model(xi)
        gi = out[i] if model.bn else out[0]
        if gi.ndim:
            raise ValueError("`model` must have one output unit")
        grads = torch.autograd.grad(gi, list(model.weights))
        g = float(gi.detach())
        gs.append(abs(g))
        for k, (w, gr) in enumerate(zip(model.weights, grads)):
            c = 1.0 if (not model.bn or k == model.depth - 1) else 0.0
            res[k] = max(res[k], abs(float((w.detach() * gr).sum()) - c * g))
    scale_ = max(gs)
    if scale_ == 0:
        raise ValueError("the network output is zero on `X`")
    return res / scale_


@_guarded
def layer_norm_rates(model, X, y) -> np.ndarray:
    r"""Lemma 3: :math:`\frac{d}{dt}\|W_k\|^2=-2\langle W_k,\nabla_{W_k}\mathcal L\rangle` under
    gradient flow on the mean loss, one value per layer (all equal to
    :math:`-\frac4N\sum_n(g_n-y_n)g_n` without BN)."""
    model = _model(model)
    x = _tensor_x(model, X)
    yv = _labels_pm1("y", y)
    if len(yv) != x.shape[0]:
        raise ValueError("`y` must have one label per row of `X`")
    if model.dims[-1] != 1:
        raise ValueError("`model` must have one output unit")
    t = torch.as_tensor(yv, dtype=x.dtype)
    loss = ((model(x) - t) ** 2).mean()
    grads = torch.autograd.grad(loss, list(model.weights))
    return np.array([-2.0 * float((w.detach() * g).sum()) for w, g in zip(model.weights, grads)])


# --------------------------------------------------------------------------------------
# The constraint dV_k f = V_k f (memo Eq. 48) for deep linear networks, and diagonal nets
# --------------------------------------------------------------------------------------
def _check_vs(vs, x):
    if isinstance(vs, (str, bytes, torch.Tensor)) or not hasattr(vs, "__len__") or len(vs) < 2:
        raise ValueError("`Vs` must be a list of at least 2 matrices V_1..V_L")
    mats = [_arr(f"Vs[{i}]", v, ndim=2) for i, v in enumerate(vs)]
    x = _arr("x", x, ndim=1)
    if mats[0].shape[1] != x.shape[0] or mats[-1].shape[0] != 1:
        raise ValueError("`Vs[0]` must have len(x) columns and `Vs[-1]` one row")
    for i in range(1, len(mats)):
        if mats[i].shape[1] != mats[i - 1].shape[0]:
            raise ValueError(f"`Vs[{i}]` does not chain with `Vs[{i - 1}]`")
    return mats, x


@_guarded
def linear_constraint_residuals(Vs, x) -> np.ndarray:
    r"""For the scalar deep *linear* network :math:`f=V_L\cdots V_1x`, the relative residual
    :math:`\|\partial f/\partial V_k-V_kf\|_F/\|\partial f/\partial V_k\|_F` of memo Eq. 48, per
    layer, with :math:`\partial f/\partial V_k=ab^\top`, :math:`a^\top=V_L\cdots V_{k+1}`,
    :math:`b=V_{k-1}\cdots V_1x`. (Zero gradient gives residual 0 only if :math:`V_kf=0`.)"""
    mats, x = _check_vs(Vs, x)
    if np.any(x):
        x = x / np.abs(x).max()              # the relative residual is invariant to |x|
    acts = [x]
    for v in mats:
        acts.append(v @ acts[-1])
    f = float(acts[-1][0])
    out = []
    for k, v in enumerate(mats):
        a = np.ones(1)
        for u in reversed(mats[k + 1:]):
            a = a @ u
        grad = np.outer(a, acts[k])
        gn = np.linalg.norm(grad)
        diff = np.linalg.norm(grad - v * f)
        out.append(diff / gn if gn > 0 else (0.0 if diff == 0 else math.inf))
    return np.array(out)


def constraint_matrices(kind, p, depth, *, seed=0, x=None):
    r"""Weights :math:`V_1..V_L` (unit Frobenius norm) for the constraint sandbox.

    ``kind``: ``'orthogonal'`` (random orthogonal :math:`p\times p`, the memo's H.2),
    ``'projection'`` (:math:`V_k=uu^\top` for :math:`k<L`, :math:`V_L=u^\top`, with :math:`u`
    random or, when ``x`` is given, :math:`u=x/\|x\|`), ``'random'`` (Gaussian). Returns a list of
    float64 arrays and the input x (random unit vector unless given).
    """
    kind = check_choice("kind", kind, ("orthogonal", "projection", "random"))
    p = check_positive_int("p", p, minimum=2)
    depth = check_positive_int("depth", depth, minimum=2)
    seed = check_positive_int("seed", seed, minimum=0)
    rng = np.random.default_rng(seed)
    xv = rng.standard_normal(p) if x is None else _arr("x", x, ndim=1)
    if xv.shape != (p,) or not np.any(xv):
        raise ValueError(f"`x` must be a nonzero vector of length p = {p}")
    xv = xv / np.linalg.norm(xv)
    mats = []
    if kind == "projection":
        u = rng.standard_normal(p) if x is None else xv.copy()
        u /= np.linalg.norm(u)
        mats = [np.outer(u, u) for _ in range(depth - 1)] + [u[None, :]]
    else:
        for _ in range(depth - 1):
            g = rng.standard_normal((p, p))
            if kind == "orthogonal":
                q, r = np.linalg.qr(g)
                g = q * np.sign(np.diag(r))
            mats.append(g / np.linalg.norm(g))
        last = rng.standard_normal((1, p))
        mats.append(last / np.linalg.norm(last))
    return mats, xv


def diagonal_offdiag_gradient(p, depth, *, n=8, seed=0) -> float:
    r"""Largest off-diagonal entry of :math:`\nabla_{W_k}\mathcal L`, over layers :math:`k<L`,
    for a ReLU network whose square layers :math:`W_1..W_{L-1}` are *diagonal* (the memo's
    H.3), on ``n`` random inputs with labels :math:`\pm1`. A nonzero value means that one
    gradient step makes the matrices non-diagonal: GD does not preserve diagonality when the
    off-diagonal entries are trainable."""
    p = check_positive_int("p", p, minimum=2)
    depth = check_positive_int("depth", depth, minimum=2)
    n = check_positive_int("n", n)
    seed = check_positive_int("seed", seed, minimum=0)
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(n, p, generator=gen, dtype=torch.float64)
    y = torch.where(torch.arange(n) % 2 == 0, 1.0, -1.0).double()
    ws = [torch.diag(torch.rand(p, generator=gen, dtype=torch.float64) + 0.5).requires_grad_()
          for _ in range(depth - 1)]
    wl = torch.randn(1, p, generator=gen, dtype=torch.float64).requires_grad_()
    h = x
    for w in ws:
        h = torch.relu(h @ w.T)
    loss = ((h @ wl.T)[:, 0] - y).pow(2).mean()
    grads = torch.autograd.grad(loss, ws)
    mask = ~torch.eye(p, dtype=torch.bool)
    return float(max(g[mask].abs().max() for g in grads))

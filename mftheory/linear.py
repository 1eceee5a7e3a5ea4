r"""Deep linear networks: loss, gradient, solvable dynamics, factorisations, mode connectivity.

Implements the linear-network part of Yarotsky's lecture slides [1]_ and the "beyond linear"
demonstrations that go with it:

* the model :math:`\tilde f(\mathbf x)=W_K\cdots W_1\mathbf x`, :math:`W_k\in\mathbb R^{d_k\times
  d_{k-1}}`, and the quadratic loss in trace form

  .. math:: L(\mathbf W)=\tfrac12\operatorname{tr}(\Delta^\top\Delta\,\Sigma),\qquad
            \Delta=W_K\cdots W_1-R,

  with the input second-moment matrix :math:`\Sigma=\int\mathbf x\mathbf x^\top d\mu` and the
  linear target :math:`R` (the orthogonal projection of any target onto linear maps,
  :func:`linear_projection`); its gradient
  :math:`\nabla_{W_k}L=(W_K\cdots W_{k+1})^\top\Delta\Sigma(W_{k-1}\cdots W_1)^\top`
  (:func:`gradient`, and :func:`product_gradient` for any loss of the product) and Hessian;
* the balanced scalar network of depth K (Bartlett et al. [2]_): every layer follows
  :math:`\dot w_k=-\partial L/\partial w_k` for :math:`L=\frac12(w_1\cdots w_K-r)^2` from
  :math:`w_k(0)=w_0`, so all layers stay equal and :math:`\dot w=w^{K-1}(r-w^K)`; closed forms
  for K = 1, 2, an accurate ODE solution otherwise, the exact implicit time
  :math:`t(w)=\int_{w_0}^{w}ds/(s^{K-1}(r-s^K))`, discrete gradient descent and its largest
  locally stable constant step :math:`2/(Kr^{2-2/K})`;
* the decoupled matrix dynamics of Saxe et al. [3]_ when target, input covariance and
  initialisation share singular vectors: every mode follows the scalar flow with time scaled by
  its input variance; matrix gradient descent, balancedness, mode strengths;
* the near-identity factorisation of Hardt and Ma [4]_ of a matrix with positive determinant;
* the mode-connectivity demonstration of the slides (Anokhin and Yarotsky [5]_): linear versus
  arc paths between Gaussian samples and between two wide random-feature networks;
* a seeded torch experiment: a wide deep linear network trained from small random weights on a
  low-rank teacher (the "staircase" of mode learning).
* Laurent and von Brecht's theorem [6]_ for convex differentiable losses
  :math:`g(A)=\frac1N\sum_n\ell(\mathbf y_n,A\mathbf x_n)` (log-cosh, softmax cross-entropy):
  the convex problem (P1) :math:`\min_Ag(A)` solved directly by Newton's method
  (:func:`convex_minimum`), the factored problem (P2) :math:`\min g(W_K\cdots W_1)` from many
  random starts (:func:`factored_runs`), and the exact Hessian of (P2) (:func:`factored_hessian`).

Conventions: ``weights`` is a sequence ``[W_1, ..., W_K]`` (input side first) of 2-D arrays with
matching shapes; ``R`` is ``d_K x d_0``; ``Sigma`` is a symmetric positive semi-definite
``d_0 x d_0`` matrix (default: the identity). Losses carry the factor 1/2 everywhere (the slides
drop it once). Time ``t`` is gradient-flow time: gradient descent with step ``alpha`` makes
``n`` steps in time about ``n * alpha``.

References
----------
.. [1] D. Yarotsky, "Optimization of neural networks", lecture slides.
.. [2] P. L. Bartlett, D. P. Helmbold, P. M. Long, "Gradient descent with identity
   initialization efficiently learns positive definite linear transformations by deep residual
   networks", ICML 2018.
.. [3] A. M. Saxe, J. L. McClelland, S. Ganguli, "Exact solutions to the nonlinear dynamics of
   learning in deep linear neural networks", ICLR 2014, arXiv:1312.6120.
.. [4] M. Hardt, T. Ma, "Identity matters in deep learning", ICLR 2017, arXiv:1611.04231.
.. [5] I. Anokhin, D. Yarotsky, "Low-loss connection of weight vectors: distribution-based
   approaches", ICML 2020, arXiv:2008.00741.
.. [6] T. Laurent, J. von Brecht, "Deep linear networks with arbitrary loss: all local minima
   are global", ICML 2018, arXiv:1712.01473.
"""

from __future__ import annotations

import math
import warnings
from typing import NamedTuple

import numpy as np
from scipy import integrate, linalg

from ._validate import check_choice, check_positive_int, check_real

__all__ = [
    "end_to_end",
    "loss",
    "gradient",
    "product_gradient",
    "hessian",
    "linear_projection",
    "balancedness",
    "gradient_descent",
    "scalar_gradient_flow",
    "scalar_flow_limit",
    "scalar_flow_time",
    "time_to_learn",
    "scalar_gd",
    "max_stable_step",
    "saxe_problem",
    "mode_strengths",
    "saxe_mode_flow",
    "hardt_ma_factors",
    "hardt_ma_limit",
    "connect",
    "connection_variance_factor",
    "sample_neurons",
    "neuron_network",
    "path_deviation",
    "staircase_experiment",
    "relu_interpolation",
    "relu_interpolant",
    "pyramidal_fit",
    "convex_loss",
    "convex_minimum",
    "factored_runs",
    "factored_hessian",
]

CONNECTIONS = ("linear", "arc")


# ----------------------------------------------------------------------------- validation
def _is_torch(x) -> bool:
    return type(x).__module__.split(".")[0] == "torch"


def _real_array(name, x, *, ndim=None, low=None, low_inclusive=True):
    """``x`` as a finite float64 array; ValueError for strings, bools, complex, torch, NaN, ..."""
    if x is None or isinstance(x, (str, bytes, bool)) or _is_torch(x):
        raise ValueError(f"`{name}` must be a real number or an array of real numbers, "
                         f"got {type(x).__name__}")
    try:
        raw = np.asarray(x)
    except Exception:
        raise ValueError(f"`{name}` must be a real number or an array of real numbers") from None
    if raw.dtype.kind not in "iuf":
        raise ValueError(f"`{name}` must be a real number or an array of real numbers, got an "
                         f"array of dtype {raw.dtype}")
    arr = raw.astype(float)
    if ndim is not None and arr.ndim not in np.atleast_1d(ndim):
        raise ValueError(f"`{name}` must be a {ndim}-dimensional array, got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"`{name}` must be finite, got non-finite entries")
    if low is not None:
        bad = arr < low if low_inclusive else arr <= low
        if np.any(bad):
            op = ">=" if low_inclusive else ">"
            raise ValueError(f"`{name}` must be {op} {low:g}, got {float(arr[bad].ravel()[0])!r}")
    return arr


def _matrix(name, x):
    arr = _real_array(name, x, ndim=2)
    if 0 in arr.shape:
        raise ValueError(f"`{name}` must be a non-empty matrix, got shape {arr.shape}")
    return arr


def _weights(weights):
    if isinstance(weights, np.ndarray) and weights.ndim == 2:
        weights = [weights]
    if not isinstance(weights, (list, tuple)) or len(weights) == 0:
        raise ValueError("`weights` must be a non-empty list [W_1, ..., W_K] of 2-D arrays, "
                         f"got {type(weights).__name__}")
    ws = [_matrix(f"weights[{k}]", w) for k, w in enumerate(weights)]
    for k in range(1, len(ws)):
        if ws[k].shape[1] != ws[k - 1].shape[0]:
            raise ValueError(f"`weights[{k}]` has shape {ws[k].shape} but weights[{k - 1}] has "
                             f"shape {ws[k - 1].shape}: W_(k+1) must have d_k columns")
    return ws


def _target_and_sigma(ws, R, Sigma):
    R = _matrix("R", R)
    shape = (ws[-1].shape[0], ws[0].shape[1])
    if R.shape != shape:
        raise ValueError(f"`R` must have shape (d_K, d_0) = {shape}, got {R.shape}")
    if Sigma is None:
        return R, np.eye(shape[1])
    S = _matrix("Sigma", Sigma)
    if S.shape != (shape[1], shape[1]):
        raise ValueError(f"`Sigma` must have shape (d_0, d_0) = {(shape[1],) * 2}, got {S.shape}")
    scale = max(1.0, float(np.max(np.abs(S))))
    if not np.allclose(S, S.T, rtol=0, atol=1e-12 * scale):
        raise ValueError("`Sigma` must be symmetric (an input second-moment matrix)")
    if np.linalg.eigvalsh(S)[0] < -1e-12 * scale:
        raise ValueError("`Sigma` must be positive semi-definite (an input second-moment matrix)")
    return R, S


# ----------------------------------------------------------------------------- loss and gradient
def _finite(result, what):
    """``result`` (an array, a float or a list of arrays) if every entry is finite; otherwise
    the computation overflowed float64 and a ValueError says which inputs are too large."""
    parts = result if isinstance(result, list) else [result]
    if not all(np.all(np.isfinite(x)) for x in parts):
        raise ValueError(f"the result overflows float64: the entries of {what} are too large")
    return result


def _chain(ws):
    out = ws[0]
    for w in ws[1:]:
        out = w @ out
    return out


def end_to_end(weights):
    r"""The end-to-end matrix :math:`W_K\cdots W_1` of ``weights = [W_1, ..., W_K]``.

    Examples
    --------
    >>> end_to_end([[[2.0]], [[3.0]]]).tolist()
    [[6.0]]
    """
    with np.errstate(all="ignore"):
        return _finite(_chain(_weights(weights)), "`weights`")


def loss(weights, R, Sigma=None) -> float:
    r"""Quadratic loss :math:`L=\frac12\operatorname{tr}(\Delta^\top\Delta\Sigma)`,
    :math:`\Delta=W_K\cdots W_1-R`.

    Equal to :math:`\frac12\frac1N\sum_n|\Delta\mathbf x_n|^2` when
    :math:`\Sigma=\frac1N\sum_n\mathbf x_n\mathbf x_n^\top`.

    Examples
    --------
    >>> loss([[[1.0]], [[1.0]]], [[3.0]])
    2.0
    """
    ws = _weights(weights)
    R, S = _target_and_sigma(ws, R, Sigma)
    with np.errstate(all="ignore"):
        D = _chain(ws) - R
        return float(_finite(0.5 * np.trace(D.T @ D @ S), "`weights`, `R` or `Sigma`"))


def _product_gradient(ws, G):
    K = len(ws)
    left = [None] * K           # left[k] = W_K ... W_{k+2}  (product above layer k+1)
    right = [None] * K          # right[k] = W_k ... W_1      (product below layer k+1)
    acc = np.eye(ws[-1].shape[0])
    for k in range(K - 1, -1, -1):
        left[k] = acc
        acc = acc @ ws[k]
    acc = np.eye(ws[0].shape[1])
    for k in range(K):
        right[k] = acc
        acc = ws[k] @ acc
    return [left[k].T @ G @ right[k].T for k in range(K)]


def product_gradient(weights, G):
    r"""Chain rule for a loss of the product: :math:`\nabla_{W_k}g(W_K\cdots W_1)`.

    For :math:`G(W_1,\dots,W_K)=g(W_K\cdots W_1)` with :math:`\nabla g=` ``G`` at the product,

    .. math:: \nabla_{W_k}G=W_{k+1}^\top\cdots W_K^\top\,\nabla g\,W_1^\top\cdots W_{k-1}^\top .

    Parameters
    ----------
    weights : list of 2-D arrays ``[W_1, ..., W_K]``
    G : (d_K, d_0) array, the gradient of g at the product.

    Returns
    -------
    list of arrays, the gradient for each layer (same shapes as ``weights``).
    """
    ws = _weights(weights)
    G = _matrix("G", G)
    if G.shape != (ws[-1].shape[0], ws[0].shape[1]):
        raise ValueError(f"`G` must have shape (d_K, d_0) = {(ws[-1].shape[0], ws[0].shape[1])}, "
                         f"got {G.shape}")
    with np.errstate(all="ignore"):
        return _finite(_product_gradient(ws, G), "`weights` or `G`")


def gradient(weights, R, Sigma=None):
    r"""Gradient of :func:`loss`: :math:`\nabla_{W_k}L=(W_K\cdots W_{k+1})^\top\Delta\Sigma
    (W_{k-1}\cdots W_1)^\top`, one array per layer.

    Agrees with torch autograd in float64 to rounding (``tests/test_linear.py``).
    """
    ws = _weights(weights)
    R, S = _target_and_sigma(ws, R, Sigma)
    with np.errstate(all="ignore"):
        return _finite(_product_gradient(ws, (_chain(ws) - R) @ S), "`weights`, `R` or `Sigma`")


def hessian(weights, R, Sigma=None):
    r"""Hessian of :func:`loss` with respect to all weights, flattened ``W_1`` (row-major)
    first, computed exactly (torch autograd in float64).

    At the origin of a scalar network (all :math:`w_k=0`) it is
    :math:`\begin{pmatrix}0&-r\\-r&0\end{pmatrix}` for K = 2 (a strict saddle, eigenvalues
    :math:`\pm r`) and zero for K >= 3 (a higher-order saddle).

    Returns
    -------
    (P, P) float array, P the total number of weights.
    """
    import torch

    ws = _weights(weights)
    R, S = _target_and_sigma(ws, R, Sigma)
    shapes = [w.shape for w in ws]
    sizes = [w.size for w in ws]
    Rt, St = torch.tensor(R), torch.tensor(S)

    def f(theta):
        mats, i = [], 0
        for shape, n in zip(shapes, sizes):
            mats.append(theta[i:i + n].reshape(shape))
            i += n
        P = mats[0]
        for m in mats[1:]:
            P = m @ P
        D = P - Rt
        return 0.5 * torch.trace(D.T @ D @ St)

    theta = torch.tensor(np.concatenate([w.ravel() for w in ws]), dtype=torch.float64)
    H = torch.autograd.functional.hessian(f, theta)
    return _finite(H.detach().numpy().copy(), "`weights`, `R` or `Sigma`")


def linear_projection(X, Y):
    r"""Project a target onto linear maps: ``(R, Sigma, residual)`` from samples.

    With :math:`\Sigma=\frac1N\sum_n\mathbf x_n\mathbf x_n^\top` (invertible) and
    :math:`R=\big(\frac1N\sum_n\mathbf y_n\mathbf x_n^\top\big)\Sigma^{-1}`, for every matrix
    :math:`A`

    .. math:: \tfrac12\tfrac1N\sum_n|\mathbf y_n-A\mathbf x_n|^2=
              \text{residual}+\tfrac12\operatorname{tr}\big((A-R)^\top(A-R)\Sigma\big)

    (Pythagoras), so training a linear network on ``Y`` is training it on the target ``R``.

    Parameters
    ----------
    X : (N, d_0) array of inputs (rows), with invertible second moment.
    Y : (N, d_K) array of targets.
    """
    X = _matrix("X", X)
    Y = _matrix("Y", Y)
    if Y.shape[0] != X.shape[0]:
        raise ValueError(f"`X` and `Y` must have the same number of rows, got {X.shape[0]} "
                         f"and {Y.shape[0]}")
    n = X.shape[0]
    with np.errstate(all="ignore"):
        S = _finite(X.T @ X / n, "`X`")
    if np.linalg.matrix_rank(S) < S.shape[0]:
        raise ValueError("`X` must have an invertible second moment X^T X / N (at least d_0 "
                         "linearly independent rows)")
    with np.errstate(all="ignore"):
        R = np.linalg.solve(S, X.T @ Y / n).T
        res = Y - X @ R.T
        residual = float(0.5 * np.mean(np.sum(res**2, axis=1)))
    _finite([R, np.array(residual)], "`X` or `Y`")
    return R, S, residual


def balancedness(weights):
    r"""The matrices :math:`W_{k+1}^\top W_{k+1}-W_kW_k^\top`, k = 1..K-1, which gradient flow
    conserves (any loss of the product); an empty list for K = 1."""
    ws = _weights(weights)
    with np.errstate(all="ignore"):
        return _finite([ws[k + 1].T @ ws[k + 1] - ws[k] @ ws[k].T for k in range(len(ws) - 1)],
                       "`weights`")


class LinearGD(NamedTuple):
    """A run of :func:`gradient_descent`: ``weights`` after the last step, the recorded
    ``steps``, ``products`` (end-to-end matrices, shape (n_rec, d_K, d_0)) and ``losses``."""

    weights: list
    steps: np.ndarray
    products: np.ndarray
    losses: np.ndarray


def gradient_descent(weights, R, Sigma=None, *, alpha, n_steps, record_every=1) -> LinearGD:
    r"""Gradient descent :math:`W_k\leftarrow W_k-\alpha\nabla_{W_k}L` on :func:`loss`, all
    layers updated simultaneously; the input ``weights`` are not modified.

    Records the end-to-end matrix and the loss at steps 0, ``record_every``, ... and at the
    last step. Raises ValueError when the iterates overflow (step too large).
    """
    ws = [w.copy() for w in _weights(weights)]
    R, S = _target_and_sigma(ws, R, Sigma)
    alpha = check_real("alpha", alpha, low=0.0, low_inclusive=False)
    n_steps = check_positive_int("n_steps", n_steps, minimum=0)
    record_every = check_positive_int("record_every", record_every)
    steps, prods, losses = [], [], []

    def record(n):
        P = _chain(ws)
        D = P - R
        steps.append(n)
        prods.append(P)
        losses.append(0.5 * np.trace(D.T @ D @ S))

    with np.errstate(all="ignore"):
        record(0)
        _finite(losses[0], "`weights`, `R` or `Sigma`")
        for n in range(1, n_steps + 1):
            g = _product_gradient(ws, (_chain(ws) - R) @ S)
            ws = [w - alpha * gk for w, gk in zip(ws, g)]
            if n % record_every == 0 or n == n_steps:
                record(n)
                if not np.isfinite(losses[-1]):
                    raise ValueError(f"gradient descent diverged at step {n}: `alpha` = {alpha:g} "
                                     "is too large for this problem")
    return LinearGD(ws, np.array(steps), np.array(prods), np.array(losses))


# ----------------------------------------------------------------------------- scalar dynamics
_R_MAX, _DEPTH_MAX, _SPEED_MAX = 1e4, 16, 1e12


def _check_scalar_problem(r, depth, w0):
    r = check_real("r", r, low=-_R_MAX, high=_R_MAX)
    depth = check_positive_int("depth", depth)
    if depth > _DEPTH_MAX:
        raise ValueError(f"`depth` must be an integer <= {_DEPTH_MAX}, got {depth}")
    w0 = check_real("w0", w0, low=-1e3, high=1e3)
    if abs(w0) ** (depth - 1) * (abs(r) + abs(w0) ** depth) > _SPEED_MAX:
        raise ValueError(f"the initial speed |w0|^(depth-1) (|r| + |w0|^depth) must be at most "
                         f"{_SPEED_MAX:g}: got w0 = {w0:g}, r = {r:g}, depth {depth}")
    return r, depth, w0


def _limit(r, K, w0):
    if K == 1:
        return r
    if w0 == 0.0:
        return 0.0
    if w0 > 0:
        return r ** (1.0 / K) if r > 0 else 0.0
    if K % 2 == 0:
        return -(r ** (1.0 / K)) if r > 0 else 0.0
    return -((-r) ** (1.0 / K)) if r < 0 else 0.0


def scalar_flow_limit(r, depth, w0=1.0) -> float:
    r"""Where the balanced scalar flow :math:`\dot w=w^{K-1}(r-w^K)` from ``w0`` ends up.

    The root of :math:`w^K=r` on the side of ``w0`` when there is one, else 0 (for K >= 2,
    :math:`w=0` is an equilibrium that :math:`w` cannot cross: the *stuck* case, e.g.
    :math:`r\le0` from :math:`w_0>0`). For K = 1 it is ``r``.
    """
    r, K, w0 = _check_scalar_problem(r, depth, w0)
    return float(_limit(r, K, w0))


def _flow_closed_form(r, K, t, w0):
    with np.errstate(over="ignore"):
        if K == 1:
            return r + (w0 - r) * np.exp(-t)
        u0 = w0 * w0
        if r == 0.0:
            u = u0 / (1.0 + 2.0 * u0 * t)
        else:
            # u = w^2 solves the logistic equation u' = 2u(r - u):
            # u = u0 / (e^{-2rt} - u0 expm1(-2rt) / r), stable for both signs of r and r -> 0
            u = u0 / (np.exp(-2.0 * r * t) - u0 * np.expm1(-2.0 * r * t) / r)
        return math.copysign(1.0, w0) * np.sqrt(u)


def _flow_ode(r, K, t, w0, rtol=1e-12, atol=1e-14):
    """Solve w' = w^(K-1) (r - w^K) at the times t (any order and shape).

    DOP853 from 0 until w is within 1e-13 (relative) of a nonzero limit w*, then the
    linearised solution w* + (w_c - w*) exp(-lambda (t - t_c)), lambda = K w*^(2K-2), whose
    error is O(1e-26): integrating that stiff tail explicitly would cost ~lambda t steps.
    Approaches to the limit 0 slow down (algebraically), so they are integrated to the end.
    """
    t = np.asarray(t, dtype=float)
    flat = t.ravel()
    if w0 == 0.0 or flat.size == 0:                       # w = 0 is an equilibrium for K >= 2
        return np.zeros(t.shape)
    lim = _limit(r, K, w0)
    if lim == 0.0 and K >= 3:
        return _flow_to_zero(r, K, flat, w0, rtol, atol).reshape(t.shape)
    out = np.empty_like(flat)
    if lim == 0.0:                                         # K <= 2 (tests only): plain DOP853
        t_c, w_c = math.inf, None
    elif abs(w0 - lim) <= 1e-13 * abs(lim):
        t_c, w_c = 0.0, w0
    else:
        w_c = lim - math.copysign(1e-13 * abs(lim), lim - w0)
        with warnings.catch_warnings():                    # quad near the log singularity
            warnings.simplefilter("ignore")
            t_c = scalar_flow_time(r, K, w_c, w0)
    head = flat <= t_c
    ts = np.unique(flat[head])
    if ts.size and ts[-1] > 0.0:
        sol = integrate.solve_ivp(lambda _, w: w ** (K - 1) * (r - w**K), (0.0, float(ts[-1])),
                                  [w0], method="DOP853", t_eval=ts, rtol=rtol, atol=atol)
        if not sol.success:                                 # pragma: no cover - not observed
            raise ValueError(f"the ODE solver failed: {sol.message}")
        out[head] = np.interp(flat[head], ts, sol.y[0])     # exact at the t_eval nodes
    elif ts.size:
        out[head] = w0
    if np.any(~head):
        lam = K * abs(lim) ** (2 * K - 2)
        with np.errstate(over="ignore"):
            out[~head] = lim + (w_c - lim) * np.exp(-lam * (flat[~head] - t_c))
    return out.reshape(t.shape)


def _flow_to_zero(r, K, flat, w0, rtol, atol):
    """The flow when its limit is 0 (K >= 3): w slows down algebraically, so integrate
    v = |w|^-(K-2), which grows smoothly: v' = (K-2)(|w|^K - r') with r' = r, or -r for odd K
    and w0 < 0 (then x = -w solves the flow with -r)."""
    sign = math.copysign(1.0, w0)
    rr = -r if (K % 2 == 1 and w0 < 0) else r
    p = K - 2.0
    v0 = abs(w0) ** -p
    if rr == 0.0:                        # w' = -w^(2K-1): w^-(2K-2) = w0^-(2K-2) + (2K-2) t
        q = 2.0 * K - 2.0
        return sign * (abs(w0) ** -q + q * flat) ** (-1.0 / q)
    ts = np.unique(flat)
    out = np.empty_like(flat)
    if ts[-1] > 0.0:
        sol = integrate.solve_ivp(lambda _, v: p * (v ** (-K / p) - rr), (0.0, float(ts[-1])),
                                  [v0], method="DOP853", t_eval=ts, rtol=rtol, atol=0.0)
        if not sol.success:                                 # pragma: no cover - not observed
            raise ValueError(f"the ODE solver failed: {sol.message}")
        v = np.interp(flat, ts, sol.y[0])
    else:
        v = np.full(flat.shape, v0)
    out[:] = sign * v ** (-1.0 / p)
    return out


def scalar_gradient_flow(r, depth, t, w0=1.0):
    r"""The common weight :math:`w(t)` of a balanced scalar deep linear network.

    Each of the ``depth`` = K layers follows :math:`\dot w_k=-\partial L/\partial w_k` for
    :math:`L=\frac12(w_1\cdots w_K-r)^2`, from :math:`w_k(0)=w_0`; then all layers stay equal
    and :math:`\dot w=w^{K-1}(r-w^K)`.

    * K = 1: :math:`w=r+(w_0-r)e^{-t}`.
    * K = 2: :math:`u=w^2` is logistic, :math:`u=\dfrac{r u_0}{u_0+(r-u_0)e^{-2rt}}`
      (:math:`u_0/(1+2u_0t)` at r = 0); evaluated in a form stable for r < 0, large t and
      r near 0.
    * K >= 3: DOP853 (scipy) with rtol 1e-12, atol 1e-14, until w is within 1e-13 of a nonzero
      limit, then the linearised exponential tail (so any t, however large, is cheap); when the
      limit is 0 (stuck cases) the variable :math:`|w|^{-(K-2)}` is integrated instead, and
      r = 0 has the closed form :math:`w^{-(2K-2)}=w_0^{-(2K-2)}+(2K-2)t`. It agrees with the
      closed forms and with :func:`scalar_flow_time` to about 1e-11.

    Parameters
    ----------
    r : float, |r| <= 1e4
        Target value of the product :math:`w_1\cdots w_K`.
    depth : int, 1 <= depth <= 16
    t : float or array of floats >= 0
        Times (any order, any shape).
    w0 : float
        Initial value of every layer, with an initial speed
        :math:`|w_0|^{K-1}(|r|+|w_0|^K)\le10^{12}`.

    Returns
    -------
    float for scalar ``t``, else an array of the shape of ``t``.

    Examples
    --------
    >>> round(scalar_gradient_flow(4.0, 2, 0.25), 6)
    1.686695
    """
    r, K, w0 = _check_scalar_problem(r, depth, w0)
    tt = _real_array("t", t, low=0.0)
    out = _flow_closed_form(r, K, tt, w0) if K <= 2 else _flow_ode(r, K, tt, w0)
    out = np.asarray(out, dtype=float)
    return float(out) if out.ndim == 0 else out


def scalar_flow_time(r, depth, w, w0=1.0) -> float:
    r"""Exact time at which the balanced scalar flow reaches ``w``:
    :math:`t(w)=\int_{w_0}^{w}\frac{ds}{s^{K-1}(r-s^K)}` (adaptive quadrature, about 1e-12).

    ``w`` must lie between ``w0`` (included) and :func:`scalar_flow_limit` (excluded), the
    values the flow actually visits.
    """
    r, K, w0 = _check_scalar_problem(r, depth, w0)
    w = check_real("w", w)
    lim = _limit(r, K, w0)
    lo, hi = min(w0, lim), max(w0, lim)
    if w0 == lim or not (lo <= w <= hi) or w == lim:
        raise ValueError(f"`w` must lie between w0 = {w0:g} (included) and the limit {lim:g} of "
                         f"the flow (excluded), got {w:g}")
    if w == w0:
        return 0.0
    try:
        val = _flow_time(r, K, w, w0)
    except (OverflowError, ZeroDivisionError):
        val = math.inf
    if not math.isfinite(val):
        raise ValueError(f"the flow from w0 = {w0:g} takes longer than 1e308 to reach w = {w:g} "
                         "(w0 too close to 0)")
    return val


def _flow_time(r, K, w, w0):
    """t(w) = int_{w0}^{w} ds / (s^(K-1) (r - s^K)), with the singular part at s = 0 done
    analytically: 1/(s^(K-1)(r - s^K)) = 1/(r s^(K-1)) + s/(r (r - s^K)) for r != 0."""
    if K == 1:
        return math.log((r - w0) / (r - w))
    q = 2.0 * K - 2.0
    if r == 0.0:                                     # -int s^(1-2K) ds
        return (abs(w) ** -q - abs(w0) ** -q) / q
    if K == 2:
        head = math.log(w / w0) / r
    else:
        p = K - 2.0
        head = (math.copysign(abs(w0) ** -p, w0 ** (K - 2)) -
                math.copysign(abs(w) ** -p, w ** (K - 2))) / (p * r)
    tail, _ = integrate.quad(lambda s: s / (r * (r - s**K)), w0, w, epsabs=1e-300,
                             epsrel=1e-13, limit=200)
    return float(head + tail)


def time_to_learn(r, depth, w0, fraction=0.5) -> float:
    r"""Time for the product :math:`q=w^K` of the balanced scalar flow to reach
    ``fraction * r`` from :math:`q_0=w_0^K` (Saxe et al.'s learning time of a mode of strength
    r; the mid-point of the sigmoid for ``fraction = 0.5``).

    Requires r > 0, w0 > 0 and :math:`w_0^K<` ``fraction * r``. For small :math:`q_0` it behaves as
    :math:`\frac1{2r}\ln\frac{r}{q_0}` for K = 2 and :math:`\frac{q_0^{2/K-1}}{(K-2)\,r}` for
    K >= 3: deeper networks started near zero wait much longer on the plateau.
    """
    r = check_real("r", r, low=0.0, low_inclusive=False)
    w0 = check_real("w0", w0, low=0.0, low_inclusive=False)
    r, K, w0 = _check_scalar_problem(r, depth, w0)
    fraction = check_real("fraction", fraction, low=0.0, high=1.0, low_inclusive=False,
                          high_inclusive=False)
    target = fraction * r
    if w0**K >= target:
        raise ValueError(f"`w0`^depth = {w0**K:g} must be below fraction * r = {target:g}")
    return scalar_flow_time(r, K, target ** (1.0 / K), w0)


def scalar_gd(r, depth, alpha, n_steps, w0=1.0):
    r"""Gradient descent on the balanced scalar network: :math:`w\leftarrow w+\alpha
    w^{K-1}(r-w^K)` (every layer makes the same step).

    ``r`` and ``w0`` may be arrays (independent problems, e.g. the modes of a decoupled matrix
    network), broadcast together. Returns the iterates, shape ``(n_steps + 1,) + shape``; a run
    that overflows (step far too large) is continued as +-inf, never NaN.
    """
    r = _real_array("r", r)
    K = check_positive_int("depth", depth)
    alpha = check_real("alpha", alpha, low=0.0, low_inclusive=False)
    n_steps = check_positive_int("n_steps", n_steps, minimum=0)
    w = np.array(np.broadcast_arrays(_real_array("w0", w0), r)[0], dtype=float)
    if w.ndim == 0:
        return _scalar_gd_float(float(r), K, alpha, n_steps, float(w))
    out = np.empty((n_steps + 1,) + w.shape)
    out[0] = w
    with np.errstate(over="ignore", invalid="ignore"):
        for n in range(1, n_steps + 1):
            blown = ~np.isfinite(w) | (np.abs(w) > 1e100)
            step = w + alpha * w ** (K - 1) * (r - w**K)
            w = np.where(blown, np.copysign(np.inf, w), step)
            w = np.where(np.isnan(w), np.inf, w)
            out[n] = w
    return out


def _scalar_gd_float(r, K, alpha, n_steps, w):
    """The scalar case of :func:`scalar_gd` with Python floats (about 20 times faster)."""
    out = [w]
    for _ in range(n_steps):
        if math.isinf(w) or abs(w) > 1e100:
            w = math.copysign(math.inf, w)
        else:
            try:
                wk1 = w ** (K - 1)
                w = w + alpha * wk1 * (r - wk1 * w)
            except OverflowError:
                w = math.copysign(math.inf, w)
            if math.isnan(w):                             # inf - inf after an overflow
                w = math.inf
        out.append(w)
    return np.array(out)


def max_stable_step(r, depth) -> float:
    r"""Largest constant step for which gradient descent on the balanced scalar network is
    locally stable at its minimum :math:`w^*=r^{1/K}` (r > 0):

    .. math:: \alpha_{\max}=\frac{2}{K\,r^{2-2/K}},

    since the map :math:`w\mapsto w+\alpha w^{K-1}(r-w^K)` has slope
    :math:`1-\alpha Kr^{2-2/K}` there. (The flow's local rate is :math:`Kr^{2-2/K}`.)

    Examples
    --------
    >>> round(max_stable_step(2.0, 3), 6)
    0.264567
    """
    r = check_real("r", r, low=0.0, low_inclusive=False)
    r, K, _ = _check_scalar_problem(r, depth, 0.0)
    try:
        out = math.exp(math.log(2.0 / K) - (2.0 - 2.0 / K) * math.log(r)) if K > 1 else 2.0
    except OverflowError:
        out = math.inf
    if not math.isfinite(out):
        raise ValueError(f"`r` = {r:g} is so small that the largest stable step overflows")
    return out


# ----------------------------------------------------------------------------- Saxe decoupling
class SaxeProblem(NamedTuple):
    """Target ``R``, input second moment ``Sigma`` and initial ``weights`` sharing the singular
    bases ``bases = [O_0, ..., O_K]``: ``R = O_K diag(r) O_0^T``, ``Sigma = O_0 diag(sigma)
    O_0^T``, ``W_k = O_k diag(a0) O_(k-1)^T``."""

    weights: list
    R: np.ndarray
    Sigma: np.ndarray
    bases: list


def _random_orthogonal(rng, d):
    Q, Rm = np.linalg.qr(rng.standard_normal((d, d)))
    return Q * np.sign(np.diag(Rm))


def saxe_problem(r, sigma, a0, depth, seed=0) -> SaxeProblem:
    r"""A matrix problem of width d = len(r) that decouples into d scalar problems.

    Random orthogonal :math:`O_0,\dots,O_K` (seeded) and
    :math:`R=O_K\operatorname{diag}(r)O_0^\top`, :math:`\Sigma=O_0\operatorname{diag}(\sigma)
    O_0^\top`, :math:`W_k=O_k\operatorname{diag}(a_0)O_{k-1}^\top`. In the rotated variables
    :math:`\bar W_k=O_k^\top W_kO_{k-1}` every gradient is diagonal, so gradient descent keeps
    them diagonal and mode i is the scalar problem
    :math:`\frac12\sigma_i(\prod_k\bar w_{k,i}-r_i)^2`.

    Parameters
    ----------
    r : 1-D array (length d) of target strengths (singular values, or eigenvalues of any sign).
    sigma : 1-D array (length d) of input variances > 0.
    a0 : float or 1-D array (length d), the initial strength of every layer in each mode.
    depth : int >= 1
    seed : int >= 0
    """
    r = _real_array("r", r, ndim=1)
    d = r.size
    if d == 0:
        raise ValueError("`r` must have at least one entry")
    sigma = _real_array("sigma", sigma, ndim=1, low=0.0, low_inclusive=False)
    if sigma.size != d:
        raise ValueError(f"`sigma` must have the length of `r` ({d}), got {sigma.size}")
    a0 = _real_array("a0", a0, ndim=(0, 1))
    if a0.ndim == 1 and a0.size != d:
        raise ValueError(f"`a0` must be a number or have the length of `r` ({d}), got {a0.size}")
    a0 = np.broadcast_to(a0, (d,))
    K = check_positive_int("depth", depth)
    seed = check_positive_int("seed", seed, minimum=0)
    rng = np.random.default_rng(seed)
    bases = [_random_orthogonal(rng, d) for _ in range(K + 1)]
    with np.errstate(all="ignore"):
        R = bases[K] @ np.diag(r) @ bases[0].T
        S = bases[0] @ np.diag(sigma) @ bases[0].T
        S = (S + S.T) / 2
        ws = [bases[k] @ np.diag(a0) @ bases[k - 1].T for k in range(1, K + 1)]
    _finite([R, S] + ws, "`r`, `sigma` or `a0`")
    return SaxeProblem(ws, R, S, bases)


def mode_strengths(weights, bases):
    r"""Rotate ``weights`` into the shared bases: ``(diag, offdiag)`` with ``diag[k, i]`` the
    strength :math:`(\bar W_k)_{ii}` of layer k in mode i (shape (K, d)) and ``offdiag`` the
    largest :math:`|(\bar W_k)_{ij}|`, i != j (0 while the dynamics stay decoupled)."""
    ws = _weights(weights)
    if not isinstance(bases, (list, tuple)) or len(bases) != len(ws) + 1:
        raise ValueError(f"`bases` must be a list of K + 1 = {len(ws) + 1} orthogonal matrices")
    Os = [_matrix(f"bases[{k}]", O) for k, O in enumerate(bases)]
    diag, off = [], 0.0
    for k, w in enumerate(ws):
        if Os[k + 1].shape != (w.shape[0],) * 2 or Os[k].shape != (w.shape[1],) * 2:
            raise ValueError(f"`bases[{k}]`, `bases[{k + 1}]` do not match weights[{k}] of shape "
                             f"{w.shape}")
        bar = Os[k + 1].T @ w @ Os[k]
        m = min(bar.shape)
        diag.append(np.diag(bar)[:m])
        mask = np.ones(bar.shape, dtype=bool)
        mask[np.arange(m), np.arange(m)] = False
        if mask.any():
            off = max(off, float(np.max(np.abs(bar[mask]))))
    return np.array(diag), off


def saxe_mode_flow(r, sigma, depth, t, a0):
    r"""Gradient-flow trajectories of the mode products :math:`u_i(t)=\prod_k\bar w_{k,i}(t)` of a
    decoupled (Saxe) problem from balanced strengths ``a0``:
    :math:`u_i(t)=w(\sigma_it)^K` with :math:`w` = :func:`scalar_gradient_flow` ``(r_i, K, ., a0_i)``.

    Returns an array of shape ``(len(t), d)``.
    """
    r = _real_array("r", r, ndim=1)
    sigma = _real_array("sigma", sigma, ndim=1, low=0.0, low_inclusive=False)
    if sigma.size != r.size or r.size == 0:
        raise ValueError("`r` and `sigma` must be non-empty and of the same length")
    a0 = _real_array("a0", a0, ndim=(0, 1))
    if a0.ndim == 0:
        a0 = np.broadcast_to(a0, r.shape)
    if a0.shape != r.shape:
        raise ValueError("`a0` must be a number or have the length of `r`")
    K = check_positive_int("depth", depth)
    t = _real_array("t", t, ndim=1, low=0.0)
    cols = [np.asarray(scalar_gradient_flow(ri, K, si * t, ai)) ** K
            for ri, si, ai in zip(r, sigma, a0)]
    return np.stack(cols, axis=1)


# ----------------------------------------------------------------------------- Hardt-Ma
class HardtMa(NamedTuple):
    r"""Near-identity factorisation :math:`A=(\mathbf 1+V_{2K})\cdots(\mathbf 1+V_1)`:
    ``factors = [V_1, ..., V_2K]`` (the first K are :math:`O^{1/K}-\mathbf 1`, the last K are
    :math:`B^{1/K}-\mathbf 1` for the polar decomposition :math:`A=BO`), the ``singular_values``
    :math:`\lambda_i` of A, the rotation ``angles`` :math:`\phi_j\in(0,\pi]` of O, the
    largest factor norm ``max_norm`` and ``limit`` :math:`=\lim_K K\max_k\|V_k\|`."""

    factors: list
    singular_values: np.ndarray
    angles: np.ndarray
    max_norm: float
    limit: float


def _rotation_log(O):
    """Real logarithm (skew) of O in SO(d), and its rotation angles in (0, pi]."""
    d = O.shape[0]
    T, Z = linalg.schur(O, output="real")
    L = np.zeros((d, d))
    angles, minus_one = [], []
    i = 0
    while i < d:
        if i + 1 < d and abs(T[i + 1, i]) > 1e-12:
            phi = math.atan2(T[i, i + 1] - T[i + 1, i], T[i, i] + T[i + 1, i + 1])
            L[i, i + 1], L[i + 1, i] = phi, -phi
            angles.append(abs(phi))
            i += 2
        else:
            if T[i, i] < 0:
                minus_one.append(i)
            i += 1
    for a, b in zip(minus_one[0::2], minus_one[1::2]):     # det = 1: the -1's come in pairs
        L[a, b], L[b, a] = math.pi, -math.pi
        angles.append(math.pi)
    return Z @ L @ Z.T, np.sort(np.array(angles))[::-1]


def _polar(A):
    U, s, Vt = np.linalg.svd(A)
    return U, s, U @ Vt                                    # A = (U diag(s) U^T)(U Vt)


def hardt_ma_factors(A, K) -> HardtMa:
    r"""Write a square matrix with :math:`\det A>0` as a product of 2K near-identity factors.

    Following the slides' proof of Hardt and Ma's proposition: the polar decomposition
    :math:`A=BO` (:math:`B=(AA^\top)^{1/2}\succ0`, :math:`O\in SO(d)` because
    :math:`\det A>0`), then :math:`A=(B^{1/K})^K(O^{1/K})^K` with

    .. math:: \|B^{1/K}-\mathbf 1\|=\max_i|\lambda_i^{1/K}-1|,\qquad
              \|O^{1/K}-\mathbf 1\|=2\max_j\sin\frac{\phi_j}{2K},

    so :math:`K\max_k\|V_k\|\to\max(\max_i|\ln\lambda_i|,\max_j\phi_j)` (spectral norms). The
    proof makes 2K factors, K from each polar factor; relabel K -> K/2 for K factors.

    Raises ValueError when :math:`\det A\le0`: a product of factors :math:`\mathbf 1+V` with
    :math:`\|V\|<1` has positive determinant.
    """
    A = _matrix("A", A)
    if A.shape[0] != A.shape[1]:
        raise ValueError(f"`A` must be a square matrix, got shape {A.shape}")
    K = check_positive_int("K", K)
    sign, logdet = np.linalg.slogdet(A)
    if sign <= 0:
        raise ValueError("`A` must have a positive determinant: a product of near-identity "
                         f"factors 1 + V_k (|V_k| < 1) has det > 0, got det(A) = "
                         f"{sign * math.exp(logdet) if sign != 0 else 0.0:g}")
    U, s, O = _polar(A)
    if s[-1] <= 0.0 or not np.all(np.isfinite(np.log(s))):
        raise ValueError("`A` must be numerically invertible (its smallest singular value "
                         "underflows to 0)")
    Lrot, angles = _rotation_log(O)
    d = A.shape[0]
    I = np.eye(d)
    Bk = U @ np.diag(s ** (1.0 / K)) @ U.T
    Ok = linalg.expm(Lrot / K)
    factors = [Ok - I] * K + [Bk - I] * K
    max_norm = max(float(np.linalg.norm(Ok - I, 2)), float(np.linalg.norm(Bk - I, 2)))
    return HardtMa([f.copy() for f in factors], s, angles, max_norm, _hm_limit(s, angles))


def _hm_limit(s, angles):
    return float(max(np.max(np.abs(np.log(s))), np.max(angles, initial=0.0)))


def hardt_ma_limit(A) -> float:
    r""":math:`\lim_{K\to\infty}K\max_k\|V_k\|=\max(\max_i|\ln\lambda_i|,\max_j\phi_j)` for the
    factorisation of :func:`hardt_ma_factors` (``A`` with positive determinant)."""
    return hardt_ma_factors(A, 1).limit


# ----------------------------------------------------------------------------- mode connectivity
def connection_variance_factor(t, method):
    r"""Variance factor of :math:`X(t)` for independent :math:`X,Y\sim\mathcal N(0,\Sigma_0)`:
    :math:`t^2+(1-t)^2` on the linear path (1/2 at the middle: squeezed) and 1 on the arc
    :math:`\cos(\pi t/2)X+\sin(\pi t/2)Y` (the distribution is preserved).

    Examples
    --------
    >>> connection_variance_factor(0.5, 'linear')
    0.5
    """
    t = _real_array("t", t, low=0.0)
    if np.any(t > 1):
        raise ValueError("`t` must be in [0, 1]")
    method = check_choice("method", method, CONNECTIONS)
    out = t**2 + (1 - t) ** 2 if method == "linear" else np.ones_like(t)
    return float(out) if out.ndim == 0 else out


def connect(A, B, t, method):
    r"""The point at ``t`` in [0, 1] of the linear path :math:`(1-t)A+tB` or of the arc
    :math:`\cos(\pi t/2)A+\sin(\pi t/2)B` between two arrays of the same shape (weights of
    two networks, or two Gaussian samples). The arc preserves a centred Gaussian distribution
    of i.i.d. rows; for non-centred weights centre them first (the slides leave this out)."""
    A = _real_array("A", A)
    B = _real_array("B", B)
    if A.shape != B.shape:
        raise ValueError(f"`A` and `B` must have the same shape, got {A.shape} and {B.shape}")
    t = check_real("t", t, low=0.0, high=1.0)
    method = check_choice("method", method, CONNECTIONS)
    with np.errstate(all="ignore"):
        out = ((1 - t) * A + t * B if method == "linear"
               else math.cos(math.pi * t / 2) * A + math.sin(math.pi * t / 2) * B)
    return _finite(out, "`A` or `B`")


def sample_neurons(n, seed=0, cov_lc=0.8):
    r"""``n`` neurons :math:`(l_1,l_2,b,c)` of a mean-field network, i.i.d.
    :math:`\mathcal N(0,S)` with :math:`S=\mathbf 1_4` except
    :math:`\mathrm{Cov}(l_1,c)=` ``cov_lc`` (|cov_lc| < 1). Shape (n, 4)."""
    n = check_positive_int("n", n)
    seed = check_positive_int("seed", seed, minimum=0)
    cov_lc = check_real("cov_lc", cov_lc, low=-1.0, high=1.0, low_inclusive=False,
                        high_inclusive=False)
    S = np.eye(4)
    S[0, 3] = S[3, 0] = cov_lc
    return np.random.default_rng(seed).standard_normal((n, 4)) @ np.linalg.cholesky(S).T


def neuron_network(neurons, x):
    r"""The mean-field network :math:`f(\mathbf x)=\frac1N\sum_i c_i\tanh(\mathbf l_i\cdot
    \mathbf x+b_i)` of ``neurons`` (shape (N, 4): l1, l2, b, c) at points ``x`` (shape (m, 2))."""
    nu = _matrix("neurons", neurons)
    if nu.shape[1] != 4:
        raise ValueError(f"`neurons` must have shape (N, 4), got {nu.shape}")
    x = _matrix("x", x)
    if x.shape[1] != 2:
        raise ValueError(f"`x` must have shape (m, 2), got {x.shape}")
    with np.errstate(all="ignore"):
        out = np.tanh(x @ nu[:, :2].T + nu[:, 2]) @ nu[:, 3] / nu.shape[0]
    return _finite(out, "`neurons` or `x`")


def path_deviation(A, B, ts, method, grid_size=41):
    r"""Relative RMS deviation :math:`\|f_{X(t)}-f_A\|/\|f_A\|` of the network along a path.

    ``A`` and ``B`` are neuron arrays from :func:`sample_neurons` (two independent draws of the
    same distribution); the functions are compared on a ``grid_size`` x ``grid_size`` grid of
    :math:`[-2,2]^2`. Returns an array of the length of ``ts``.
    """
    A = _matrix("A", A)
    B = _matrix("B", B)
    if A.shape != B.shape or A.shape[1] != 4:
        raise ValueError(f"`A` and `B` must both have shape (N, 4), got {A.shape}, {B.shape}")
    ts = _real_array("ts", ts, ndim=1, low=0.0)
    if np.any(ts > 1):
        raise ValueError("`ts` must be in [0, 1]")
    method = check_choice("method", method, CONNECTIONS)
    g = check_positive_int("grid_size", grid_size, minimum=2)
    u = np.linspace(-2.0, 2.0, g)
    x = np.stack(np.meshgrid(u, u), axis=-1).reshape(-1, 2)
    fa = neuron_network(A, x)
    norm = np.linalg.norm(fa)
    if not (0.0 < norm < math.inf):
        raise ValueError("`A` must define a network that is not zero on the grid (and whose "
                         "norm does not overflow)")
    return np.array([np.linalg.norm(neuron_network(connect(A, B, float(t), method), x) - fa) / norm
                     for t in ts])


# ----------------------------------------------------------------------------- staircase (torch)
class Staircase(NamedTuple):
    """A run of :func:`staircase_experiment`: ``times`` (flow time n * alpha), ``modes``
    (projections :math:`u_i=\\mathbf a_i^\\top P\\mathbf b_i` of the end-to-end map on the
    teacher's singular pairs, shape (n_rec, rank)), ``losses`` and the measured half-way
    ``learn_times`` of each mode (NaN-free: ValueError if a mode is not learned)."""

    times: np.ndarray
    modes: np.ndarray
    losses: np.ndarray
    learn_times: np.ndarray


def staircase_experiment(s, depth, width, d=16, init_std=0.05, alpha=0.02, n_steps=3000,
                         seed=0, device="cpu", record_every=10) -> Staircase:
    r"""Train a deep linear network :math:`W_K\cdots W_1` (``d -> width -> ... -> width -> d``)
    by full-batch gradient descent on the population loss :math:`\frac12\|W_K\cdots W_1-R\|_F^2`
    (whitened inputs, :math:`\Sigma=\mathbf 1`) for a teacher :math:`R=\sum_is_i\mathbf a_i
    \mathbf b_i^\top` of rank ``len(s)`` with random orthonormal singular vectors.

    Weights start i.i.d. :math:`\mathcal N(0,` ``init_std`` :math:`^2)` (small, not aligned with
    the teacher). Float64 torch on ``device``; seeded and deterministic on the CPU.
    ``learn_times[i]`` is the first flow time at which :math:`u_i` reaches :math:`s_i/2`
    (linear interpolation between recorded steps).
    """
    import torch

    s = _real_array("s", s, ndim=1, low=0.0, low_inclusive=False)
    K = check_positive_int("depth", depth, minimum=2)
    width = check_positive_int("width", width)
    d = check_positive_int("d", d)
    if s.size > d:
        raise ValueError(f"the teacher rank len(s) = {s.size} must be at most d = {d}")
    init_std = check_real("init_std", init_std, low=0.0, low_inclusive=False)
    alpha = check_real("alpha", alpha, low=0.0, low_inclusive=False)
    n_steps = check_positive_int("n_steps", n_steps)
    seed = check_positive_int("seed", seed, minimum=0)
    record_every = check_positive_int("record_every", record_every)
    if not isinstance(device, (str,)) and type(device).__name__ != "device":
        raise ValueError(f"`device` must be a torch device or its name, got {device!r}")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError):
        raise ValueError(f"`device` must be a torch device or its name ('cpu', 'cuda'), "
                         f"got {device!r}") from None
    if dev.type not in ("cpu", "cuda") or (dev.type == "cuda" and not torch.cuda.is_available()):
        raise ValueError(f"`device` must be 'cpu' or, when torch sees a GPU, 'cuda'; got "
                         f"{device!r}")
    gen = torch.Generator().manual_seed(seed)
    kw = dict(dtype=torch.float64)
    a = torch.linalg.qr(torch.randn(d, d, generator=gen, **kw))[0][:, : s.size]
    b = torch.linalg.qr(torch.randn(d, d, generator=gen, **kw))[0][:, : s.size]
    R = (a * torch.tensor(s, **kw)) @ b.T
    dims = [d] + [width] * (K - 1) + [d]
    ws = [(init_std * torch.randn(dims[k + 1], dims[k], generator=gen, **kw)).to(dev)
          for k in range(K)]
    R, a, b = R.to(dev), a.to(dev), b.to(dev)
    times, modes, losses = [], [], []
    with torch.no_grad():
        for n in range(n_steps + 1):
            # forward products from the input side and backward from the output side
            below = [torch.eye(d, **kw, device=dev)]
            for w in ws:
                below.append(w @ below[-1])
            P = below[-1]
            D = P - R
            if n % record_every == 0 or n == n_steps:
                times.append(n * alpha)
                modes.append(torch.einsum("ij,ik,kj->j", a, P, b).cpu().numpy())
                losses.append(0.5 * float((D * D).sum()))
                if not math.isfinite(losses[-1]):
                    raise ValueError(f"training diverged: `alpha` = {alpha:g} is too large")
            if n == n_steps:
                break
            above = D
            grads = [None] * K
            for k in range(K - 1, -1, -1):
                grads[k] = above @ below[k].T
                above = ws[k].T @ above
            for w, g in zip(ws, grads):
                w -= alpha * g
    times, modes = np.array(times), np.array(modes)
    learn = []
    for i, si in enumerate(s):
        above = np.flatnonzero(modes[:, i] >= si / 2)
        if above.size == 0 or above[0] == 0:
            raise ValueError(f"mode {i} (s = {si:g}) was not learned half-way within the run "
                             "(or started above half); train longer")
        j = above[0]
        u0, u1 = modes[j - 1, i], modes[j, i]
        learn.append(times[j - 1] + (si / 2 - u0) / (u1 - u0) * (times[j] - times[j - 1]))
    return Staircase(times, modes, np.array(losses), np.array(learn))


# ----------------------------------------------------------------------------- wide ReLU nets
class ReluInterpolant(NamedTuple):
    r"""One-hidden-layer ReLU network :math:`f(\mathbf x)=\sum_jw_j\operatorname{ReLU}
    (\mathbf a\cdot\mathbf x-b_j)`: ``direction`` a, ``biases`` b (increasing), ``weights`` w,
    and the lower-triangular ``matrix`` :math:`A_{ij}=\operatorname{ReLU}(z_i-b_j)` solved."""

    direction: np.ndarray
    biases: np.ndarray
    weights: np.ndarray
    matrix: np.ndarray


def relu_interpolation(X, y, seed=0) -> ReluInterpolant:
    r"""Zhang et al.'s construction: a ReLU network with one hidden layer of n units and
    2n + d parameters that fits any labels ``y`` on n points ``X`` (n, d) exactly.

    A random direction a gives distinct projections :math:`z_i=\mathbf a\cdot\mathbf x_i`;
    sorted, :math:`b_1<z_1<b_2<\dots<b_n<z_n` (midpoints), so :math:`A_{ij}=\operatorname{ReLU}
    (z_i-b_j)` is lower triangular with positive diagonal and :math:`A\mathbf w=\mathbf y` has a
    unique solution. Raises ValueError when two points have equal projections (repeated
    points).
    """
    X = _matrix("X", X)
    y = _real_array("y", y, ndim=1)
    if y.size != X.shape[0]:
        raise ValueError(f"`y` must have one label per row of X ({X.shape[0]}), got {y.size}")
    seed = check_positive_int("seed", seed, minimum=0)
    a = np.random.default_rng(seed).standard_normal(X.shape[1])
    z = X @ a
    order = np.argsort(z)
    zs = z[order]
    gaps = np.diff(zs)
    if np.any(gaps <= 1e-12 * max(1.0, float(np.max(np.abs(zs))))):
        raise ValueError("`X` must have distinct rows (two projections coincide)")
    b = np.concatenate([[zs[0] - 1.0], (zs[:-1] + zs[1:]) / 2])
    A = np.maximum(zs[:, None] - b[None, :], 0.0)
    w = linalg.solve_triangular(A, y[order], lower=True)
    return ReluInterpolant(a, b, w, A)


def relu_interpolant(net, X):
    r"""Evaluate a :class:`ReluInterpolant` at the rows of ``X``."""
    if not isinstance(net, ReluInterpolant):
        raise ValueError("`net` must be the result of relu_interpolation")
    X = _matrix("X", X)
    if X.shape[1] != net.direction.size:
        raise ValueError(f"`X` must have {net.direction.size} columns, got {X.shape[1]}")
    with np.errstate(all="ignore"):
        out = np.maximum((X @ net.direction)[:, None] - net.biases[None, :], 0.0) @ net.weights
    return _finite(out, "`X`")


# ----------------------------------------------------------------------------- pyramidal nets
class PyramidalFit(NamedTuple):
    """Result of :func:`pyramidal_fit`: final ``loss`` and ``grad_norm`` of each run, and the
    smallest singular value of each trained layer (``min_singular``, shape (runs, K))."""

    loss: np.ndarray
    grad_norm: np.ndarray
    min_singular: np.ndarray


def _pyramidal_loss_grad(theta, shapes, Xe, Y):
    ws, i = [], 0
    for shp in shapes:
        n = shp[0] * shp[1]
        ws.append(theta[i:i + n].reshape(shp))
        i += n
    acts = [Xe]
    for k, w in enumerate(ws):
        z = acts[-1] @ w.T
        acts.append(np.tanh(z) if k < len(ws) - 1 else z)
    res = acts[-1] - Y
    loss = 0.5 * np.sum(res**2)
    delta, grads = res, []
    for k in range(len(ws) - 1, -1, -1):
        grads.append(delta.T @ acts[k])
        if k:
            delta = (delta @ ws[k]) * (1 - acts[k] ** 2)
    return loss, np.concatenate([g.ravel() for g in grads[::-1]])


def pyramidal_fit(widths, X, Y, n_runs=10, seed=0, init_std=1.0):
    r"""Train a tanh network with a linear output on a finite training set from ``n_runs``
    seeded random starts (L-BFGS, gradient tolerance 1e-12), to test Gori and Tesi's theorem.

    ``widths = [d_1, ..., d_K]`` are the layer widths after the extended input
    :math:`\tilde{\mathbf x}=(\mathbf x,1)` (so the first weight matrix is
    :math:`d_1\times(d_0+1)`); hidden layers are tanh without biases, the last layer is linear.
    The loss is :math:`\frac12\sum_n|\tilde f(\mathbf x_n)-\mathbf y_n|^2`.

    Parameters
    ----------
    widths : list of int >= 1
    X : (N, d_0) inputs; Y : (N, d_K) targets.
    n_runs : int >= 1
    seed : int >= 0
    init_std : float in (0, 100], standard deviation of the initial weights times sqrt(fan-in).
    """
    from scipy import optimize

    if not isinstance(widths, (list, tuple)) or len(widths) == 0:
        raise ValueError("`widths` must be a non-empty list of positive integers")
    widths = [check_positive_int(f"widths[{k}]", w) for k, w in enumerate(widths)]
    X = _matrix("X", X)
    Y = _matrix("Y", Y)
    if Y.shape != (X.shape[0], widths[-1]):
        raise ValueError(f"`Y` must have shape (N, d_K) = {(X.shape[0], widths[-1])}, got "
                         f"{Y.shape}")
    n_runs = check_positive_int("n_runs", n_runs)
    seed = check_positive_int("seed", seed, minimum=0)
    init_std = check_real("init_std", init_std, low=0.0, high=100.0, low_inclusive=False)
    if max(np.max(np.abs(X)), np.max(np.abs(Y))) > 1e6:
        raise ValueError("`X` and `Y` must have entries of modulus at most 1e6 (rescale the data)")
    Xe = np.hstack([X, np.ones((X.shape[0], 1))])
    dims = [Xe.shape[1]] + widths
    shapes = [(dims[k + 1], dims[k]) for k in range(len(widths))]
    rng = np.random.default_rng(seed)
    losses, gnorms, smin = [], [], []
    for _ in range(n_runs):
        theta0 = np.concatenate([init_std * rng.standard_normal(a * b) / math.sqrt(b)
                                 for a, b in shapes])
        res = optimize.minimize(_pyramidal_loss_grad, theta0, args=(shapes, Xe, Y), jac=True,
                                method="L-BFGS-B",
                                options=dict(gtol=1e-12, ftol=0.0, maxiter=5000))
        loss, g = _pyramidal_loss_grad(res.x, shapes, Xe, Y)
        losses.append(loss)
        gnorms.append(float(np.linalg.norm(g)))
        ws, i = [], 0
        for a, b in shapes:
            ws.append(res.x[i:i + a * b].reshape(a, b))
            i += a * b
        smin.append([float(np.linalg.svd(w, compute_uv=False)[-1]) for w in ws])
    return PyramidalFit(np.array(losses), np.array(gnorms), np.array(smin))


# ----------------------------------------------------------------------------- convex losses
#: The convex, differentiable, non-quadratic losses of :func:`convex_loss`.
CONVEX_LOSSES = ("logcosh", "softmax")


def _convex_data(X, Y, loss):
    """Checked ``(X, Y, loss)`` for the convex-loss functions."""
    loss = check_choice("loss", loss, CONVEX_LOSSES)
    X = _matrix("X", X)
    Y = _matrix("Y", Y)
    if Y.shape[0] != X.shape[0]:
        raise ValueError(f"`Y` must have one row per row of `X` ({X.shape[0]}), got "
                         f"{Y.shape[0]}")
    for name, arr in (("X", X), ("Y", Y)):
        if np.max(np.abs(arr)) > 1e6:
            raise ValueError(f"`{name}` must have entries of modulus at most 1e6 (rescale the "
                             "data)")
    if loss == "softmax" and (np.any(Y < 0) or not np.allclose(Y.sum(axis=1), 1.0, rtol=0,
                                                                  atol=1e-9)):
        raise ValueError("`Y` must hold probability vectors (rows >= 0 summing to 1, e.g. "
                         "one-hot labels) for loss='softmax'")
    return X, Y, loss


def _convex_value_grad(A, X, Y, loss):
    r"""g(A) and its gradient, the mean over the rows of X and Y (inputs already checked)."""
    Z = X @ A.T
    N = X.shape[0]
    if loss == "logcosh":
        R = Z - Y
        a = np.abs(R)
        value = np.sum(a + np.log1p(np.exp(-2.0 * a)) - math.log(2.0)) / N
        return float(value), np.tanh(R).T @ X / N
    m = Z.max(axis=1, keepdims=True)
    E = np.exp(Z - m)
    S = E.sum(axis=1, keepdims=True)
    lse = m[:, 0] + np.log(S[:, 0])
    value = np.sum(lse - np.sum(Y * Z, axis=1)) / N
    return float(value), (E / S - Y).T @ X / N


def _convex_hessian(A, X, Y, loss):
    """Hessian of g in the row-major flattening of A, (d_K d_0, d_K d_0)."""
    Z = X @ A.T
    N, d0 = X.shape
    dK = Z.shape[1]
    if loss == "logcosh":
        W = np.zeros((N, dK, dK))
        W[:, np.arange(dK), np.arange(dK)] = 1.0 / np.cosh(np.clip(Z - Y, -700, 700)) ** 2
    else:
        P = np.exp(Z - Z.max(axis=1, keepdims=True))
        P /= P.sum(axis=1, keepdims=True)
        W = P[:, :, None] * np.eye(dK)[None] - P[:, :, None] * P[:, None, :]
    H = np.einsum("njk,na,nb->jakb", W, X, X) / N
    return H.reshape(dK * d0, dK * d0)


def convex_loss(A, X, Y, loss="logcosh"):
    r"""The convex loss of a linear map and its gradient: :math:`g(A)=\frac1N\sum_n
    \ell(\mathbf y_n,A\mathbf x_n)` and :math:`\nabla g(A)`.

    ``loss='logcosh'``: :math:`\ell(\mathbf y,\tilde{\mathbf y})=\sum_j\ln\cosh(\tilde y_j-y_j)`,
    gradient :math:`\frac1N\sum_n\tanh(A\mathbf x_n-\mathbf y_n)\mathbf x_n^\top`.
    ``loss='softmax'``: the softmax cross-entropy :math:`\ell=\ln\sum_je^{\tilde y_j}-
    \sum_jy_j\tilde y_j` for probability vectors :math:`\mathbf y` (one-hot labels), gradient
    :math:`\frac1N\sum_n(\operatorname{softmax}(A\mathbf x_n)-\mathbf y_n)\mathbf x_n^\top`.
    Both are convex and differentiable in :math:`\tilde{\mathbf y}` and not quadratic, the
    setting of Laurent and von Brecht's theorem.

    Parameters
    ----------
    A : (d_K, d_0) array
    X : (N, d_0) inputs; Y : (N, d_K) targets, entries of modulus at most 1e6.
    loss : 'logcosh' or 'softmax'

    Returns
    -------
    (float, (d_K, d_0) array)

    Examples
    --------
    >>> convex_loss([[0.0]], [[1.0]], [[0.0]])[0]
    0.0
    """
    X, Y, loss = _convex_data(X, Y, loss)
    A = _matrix("A", A)
    if A.shape != (Y.shape[1], X.shape[1]):
        raise ValueError(f"`A` must have shape (d_K, d_0) = {(Y.shape[1], X.shape[1])}, got "
                         f"{A.shape}")
    with np.errstate(all="ignore"):
        value, grad = _convex_value_grad(A, X, Y, loss)
    if not (math.isfinite(value) and np.all(np.isfinite(grad))):
        raise ValueError("the loss overflows float64: the entries of `A` are too large")
    return value, grad


class ConvexMinimum(NamedTuple):
    """Result of :func:`convex_minimum`: the minimum ``value`` of g, a minimiser ``matrix`` and
    the gradient norm ``grad_norm`` there (Frobenius)."""

    value: float
    matrix: np.ndarray
    grad_norm: float


def _convex_minimum(X, Y, loss, max_iter=100):
    """Damped Newton's method from A = 0 (backtracking on g; least-squares steps, since the
    softmax Hessian is singular along A + 1 c^T)."""
    dK, d0 = Y.shape[1], X.shape[1]
    A = np.zeros((dK, d0))
    value, grad = _convex_value_grad(A, X, Y, loss)
    for _ in range(max_iter):
        gnorm = np.linalg.norm(grad)
        if gnorm == 0.0:
            break
        H = _convex_hessian(A, X, Y, loss)
        step = -np.linalg.lstsq(H, grad.ravel(), rcond=1e-12)[0].reshape(dK, d0)
        t, improved = 1.0, False
        while t > 1e-10:
            v_new, g_new = _convex_value_grad(A + t * step, X, Y, loss)
            if v_new < value or (v_new == value and np.linalg.norm(g_new) < gnorm):
                improved = True
                break
            t /= 2
        if not improved:
            break                   # no decrease left at rounding level: converged
        A, value, grad = A + t * step, v_new, g_new
    return ConvexMinimum(float(value), A, float(np.linalg.norm(grad)))


def convex_minimum(X, Y, loss="logcosh") -> ConvexMinimum:
    r"""Solve the convex problem (P1), :math:`\min_A g(A)` with g of :func:`convex_loss`,
    directly: damped Newton's method with the exact Hessian from A = 0, iterated until g stops
    decreasing at rounding level (quadratic convergence: the gradient norm ends near 1e-16).

    g is convex, so a stationary point is a global minimiser. The minimum need not be attained
    (softmax on linearly separable data has infimum 0 and no minimiser): then ``grad_norm`` is
    not small, and the result must not be read as the minimum.

    Parameters
    ----------
    X : (N, d_0) inputs; Y : (N, d_K) targets (probability vectors for 'softmax').
    loss : 'logcosh' or 'softmax'

    Examples
    --------
    >>> float(round(convex_minimum([[1.0], [2.0]], [[1.0], [2.0]]).matrix[0, 0], 12))
    1.0
    """
    X, Y, loss = _convex_data(X, Y, loss)
    with np.errstate(all="ignore"):
        return _convex_minimum(X, Y, loss)


class FactoredRuns(NamedTuple):
    r"""Result of :func:`factored_runs`, one entry per run: the final ``values`` of
    :math:`G(W_1,\dots,W_K)=g(W_K\cdots W_1)`, the gradient norms ``grad_norm`` of G (all
    layers together), the gradient norms ``product_grad_norm`` of g at the product, the
    numerical ``product_rank`` of the product, and the final ``weights`` (a list of
    ``[W_1, ..., W_K]``)."""

    values: np.ndarray
    grad_norm: np.ndarray
    product_grad_norm: np.ndarray
    product_rank: np.ndarray
    weights: list


def _unflatten(theta, shapes):
    ws, i = [], 0
    for a, b in shapes:
        ws.append(theta[i:i + a * b].reshape(a, b))
        i += a * b
    return ws


def _factored_value_grad(theta, shapes, X, Y, loss):
    ws = _unflatten(theta, shapes)
    value, G = _convex_value_grad(_chain(ws), X, Y, loss)
    return value, np.concatenate([x.ravel() for x in _product_gradient(ws, G)])


def _widths(widths, X, Y):
    if not isinstance(widths, (list, tuple)) or len(widths) < 2:
        raise ValueError("`widths` must be a list [d_0, d_1, ..., d_K] of at least two positive "
                         f"integers, got {widths!r}"[:200])
    widths = [check_positive_int(f"widths[{k}]", w, maximum=10_000)
              for k, w in enumerate(widths)]
    if widths[0] != X.shape[1] or widths[-1] != Y.shape[1]:
        raise ValueError(f"`widths` must start with d_0 = {X.shape[1]} (the columns of X) and "
                         f"end with d_K = {Y.shape[1]} (the columns of Y), got {widths}")
    if sum(a * b for a, b in zip(widths[:-1], widths[1:])) > 100_000:
        raise ValueError("`widths` give more than 100000 weights: too many for L-BFGS here")
    return widths


def factored_runs(widths, X, Y, loss="logcosh", n_runs=10, seed=0, init_std=1.0) -> FactoredRuns:
    r"""Problem (P2) of Laurent and von Brecht: minimise :math:`G(W_1,\dots,W_K)=
    g(W_K\cdots W_1)` over the factors from ``n_runs`` seeded random starts.

    Each run starts from :math:`(W_k)_{ij}\sim\mathcal N(0,\texttt{init\_std}^2/d_{k-1})` and runs
    L-BFGS (scipy, float64, exact gradient :func:`product_gradient`) until the gradient of G
    falls below 1e-12 or the line search can no longer decrease G (10000 iterations at most).
    Compare the ``values`` with :func:`convex_minimum`: when the thinnest layer is the input or
    the output, every local minimum of G reaches it; with a bottleneck thinner than both, the
    products have rank at most the bottleneck width and G cannot reach it.

    Parameters
    ----------
    widths : list of int ``[d_0, d_1, ..., d_K]``, d_0 = columns of X, d_K = columns of Y.
    X, Y, loss : as in :func:`convex_loss`.
    n_runs : int >= 1 (at most 1000)
    seed : int >= 0
    init_std : float in (0, 100]

    Returns
    -------
    FactoredRuns
    """
    from scipy import optimize

    X, Y, loss = _convex_data(X, Y, loss)
    widths = _widths(widths, X, Y)
    n_runs = check_positive_int("n_runs", n_runs, maximum=1000)
    seed = check_positive_int("seed", seed, minimum=0)
    init_std = check_real("init_std", init_std, low=0.0, high=100.0, low_inclusive=False)
    shapes = [(b, a) for a, b in zip(widths[:-1], widths[1:])]
    rng = np.random.default_rng(seed)
    values, gnorms, pnorms, ranks, weights = [], [], [], [], []
    with np.errstate(all="ignore"):
        for _ in range(n_runs):
            theta0 = np.concatenate([init_std * rng.standard_normal(a * b) / math.sqrt(b)
                                     for a, b in shapes])
            res = optimize.minimize(_factored_value_grad, theta0, args=(shapes, X, Y, loss),
                                    jac=True, method="L-BFGS-B",
                                    options=dict(gtol=1e-12, ftol=0.0, maxiter=10_000,
                                                 maxcor=20))
            value, g = _factored_value_grad(res.x, shapes, X, Y, loss)
            ws = _unflatten(res.x, shapes)
            A = _chain(ws)
            s = np.linalg.svd(A, compute_uv=False)
            values.append(value)
            gnorms.append(float(np.linalg.norm(g)))
            pnorms.append(float(np.linalg.norm(_convex_value_grad(A, X, Y, loss)[1])))
            ranks.append(int(np.sum(s > 1e-8 * max(s[0], 1e-300))))
            weights.append([w.copy() for w in ws])
    _finite([np.array(values), np.array(gnorms), np.array(pnorms)], "the weights (G overflowed)")
    return FactoredRuns(np.array(values), np.array(gnorms), np.array(pnorms), np.array(ranks),
                        weights)


def factored_hessian(weights, X, Y, loss="logcosh"):
    r"""Exact Hessian of :math:`G(W_1,\dots,W_K)=g(W_K\cdots W_1)` (g of :func:`convex_loss`)
    with respect to all weights, flattened ``W_1`` (row-major) first; torch autograd in
    float64.

    At a stationary point, a negative eigenvalue is a descent direction (a saddle); a positive
    semi-definite Hessian makes the point second-order stationary, which is not yet a local
    minimum when some eigenvalues are zero (the rescalings
    :math:`W_{k+1}\to W_{k+1}C^{-1}, W_k\to CW_k` always give zero eigenvalues).

    Returns
    -------
    (P, P) float array, P the total number of weights.
    """
    import torch

    ws = _weights(weights)
    X, Y, loss = _convex_data(X, Y, loss)
    if ws[0].shape[1] != X.shape[1] or ws[-1].shape[0] != Y.shape[1]:
        raise ValueError(f"`weights` must map d_0 = {X.shape[1]} (the columns of X) to d_K = "
                         f"{Y.shape[1]} (the columns of Y)")
    if sum(w.size for w in ws) > 2000:
        raise ValueError("`weights` has more than 2000 entries: the Hessian would be too large")
    shapes = [w.shape for w in ws]
    Xt, Yt = torch.tensor(X), torch.tensor(Y)

    def G(theta):
        mats, i = [], 0
        for a, b in shapes:
            mats.append(theta[i:i + a * b].reshape(a, b))
            i += a * b
        A = mats[0]
        for m in mats[1:]:
            A = m @ A
        Z = Xt @ A.T
        if loss == "logcosh":
            R = Z - Yt                  # ln cosh R = R + softplus(-2R) - ln 2, smooth
            return ((R + torch.nn.functional.softplus(-2 * R) - math.log(2.0)).sum()
                    / Xt.shape[0])
        return (torch.logsumexp(Z, dim=1) - (Yt * Z).sum(dim=1)).sum() / Xt.shape[0]

    theta = torch.tensor(np.concatenate([w.ravel() for w in ws]), dtype=torch.float64)
    H = torch.autograd.functional.hessian(G, theta).detach().numpy().copy()
    return _finite(H, "`weights`")

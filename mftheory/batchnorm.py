r"""Mean-field theory of batch normalization: the BSB1 fixed point and gradient explosion.

A fully connected network with batch normalization (BN) over a batch of :math:`B` inputs,

.. math:: z^l = W^l\,\phi(\tilde z^{l-1}),\qquad
          \tilde z^l_i=\gamma\,\frac{z^l_i-\mu}{\sigma}+\beta,\qquad
          \mu=\tfrac1B\sum_i z^l_i,\quad \sigma^2=\tfrac1B\sum_i(z^l_i-\mu)^2+\epsilon,

(per neuron, over the batch; population variance, as torch's ``BatchNorm1d`` in training
mode), with :math:`W^l_{\alpha\beta}\sim\mathcal N(0,\sigma_w^2/N)`. Following Yang et al.
(2019) [1]_, the state of a wide layer is the :math:`B\times B` covariance
:math:`\Sigma^l` of its pre-activations over the batch. With :math:`\epsilon=0` the network is
invariant to :math:`\sigma_w^2` and :math:`\sigma_b^2` (we take 1 and 0), and, writing
:math:`G=I-\mathbf 1\mathbf 1^T/B`, BN followed by :math:`\phi` acts on one neuron's batch
vector :math:`h` as :math:`\mathcal B_\phi(h)=\phi(\sqrt B\,Gh/\|Gh\|)`. The mean-field map is

.. math:: \Sigma^l = V_{\mathcal B_\phi}(\Sigma^{l-1})
          =\mathbb E_{h\sim\mathcal N(0,\Sigma^{l-1})}\big[\mathcal B_\phi(h)\mathcal B_\phi(h)^T\big].

What is here
------------
* :func:`bn_forward`, :func:`bn_backward`: numpy reference BN (population variance, optional
  :math:`\epsilon`) and its exact backward pass
  :math:`dz=(g-\bar g-\hat z\,\overline{g\hat z})/\sigma`.
* :func:`arccos_kernel`: the normalised arc-cosine kernel :math:`J_\alpha` (:math:`J_\alpha(1)=1`)
  in closed form via Gauss's hypergeometric function, and its derivative.
* :func:`bsb1_fixed_point`: the permutation-symmetric ("BSB1") fixed point
  :math:`\Sigma^*=\mathbb E_{x\sim\mathrm{Unif}(S)}[\phi(x)\phi(x)^T]`, where :math:`S` is the
  sphere of radius :math:`\sqrt B` in :math:`\mathbf 1^\perp` (closed forms for ReLU,
  :math:`\alpha`-ReLU and linear; sphere quadrature otherwise).
* :func:`bn_vmap_laplace` (the one-dimensional Laplace/Schwinger representation, Thm 2 of [1],
  for positive-homogeneous :math:`\phi`) and :func:`bn_vmap_mc` (Monte Carlo, any :math:`\phi`).
* :func:`forward_eigenvalues`: eigenvalues of the linearised map at :math:`\Sigma^*` on the
  G, L and M eigenspaces (closed form for degree-:math:`\alpha` activations, Monte Carlo
  otherwise); :func:`alpha_transition`: the :math:`\alpha` at which :math:`\lambda_L=1`
  (BSB1 to BSB2 symmetry breaking).
* :func:`gradient_explosion_rate`: :math:`\lambda_G`, the per-layer growth factor of the squared
  gradient norm (Thm 7/8 of [1]); :func:`large_batch_rate`, its :math:`B\to\infty` limit
  :math:`\mathbb E\phi'(g)^2/\mathrm{Var}\,\phi(g)`; :func:`max_trainable_depth`
  :math:`=k/\ln\lambda_G`.
* :func:`simulate_bn_mlp`: finite networks in torch (any width, depth, batch size, CPU or GPU),
  per-layer squared gradient norms and covariances, with a fitted per-layer rate;
  :func:`train_bn_mlp` and :func:`sgd_step_profile` for the training experiments.

Conventions
-----------
Activations are named ``'linear'``, ``'relu'``, ``'tanh'``, ``'erf'`` or ``'alpha_relu'``
(:math:`\phi(x)=\max(x,0)^\alpha`, with ``alpha``). The BN scale and shift are absorbed into the
activation, :math:`\phi(x)\mapsto\phi(\gamma x+\beta)` (keywords ``gamma`` and ``beta``). Every
:math:`\lambda` is a per-layer factor of a **squared** norm; :math:`\xi=1/\ln\lambda_G` uses
the natural logarithm. All formulas need :math:`B\ge4` (:math:`\lambda_G` is infinite at
:math:`B=3`); smaller batches raise ``ValueError``.

Accuracy
--------
Closed forms are exact to rounding. The sphere quadrature integrates over the two spherical
angles of Thm 4 of [1]_ (densities :math:`\sin^{B-3}\theta_1`, :math:`\sin^{B-4}\theta_2`) with
Gauss-Legendre panels split where the activation has a kink (for every outer node, the inner
split moves with it), truncated where the density is below 1e-32 of its peak (large B). With
200 nodes per panel (``rule='accurate'``) it reproduces the ReLU and :math:`\alpha=2` closed
forms to 1e-13 at :math:`B\ge8` (3e-9 at :math:`B=6`, 2e-5 at :math:`B=4`, where the inner
density does not vanish at the ends), and agrees with 400 nodes to 1e-11 for
:math:`\mathrm{relu}(x+\beta)`; smooth activations (tanh, erf) converge faster still. Where
:math:`\phi'` is unbounded at the kink (:math:`\alpha`-ReLU with :math:`\alpha<1`) quadrature
fails (0.4 % at :math:`B=8`): use the closed forms there.

References
----------
.. [1] G. Yang, J. Pennington, V. Rao, J. Sohl-Dickstein, S. S. Schoenholz, "A mean field
   theory of batch normalization", ICLR 2019, arXiv:1902.08129.
.. [2] Y. Cho, L. K. Saul, "Kernel methods for deep learning", NeurIPS 2009.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from scipy import optimize, special

from ._validate import (check_array, check_bool, check_choice, check_device, check_positive_int,
                        check_real)

__all__ = [
    "ACTIVATION_NAMES",
    "bn_forward",
    "bn_backward",
    "arccos_kernel",
    "arccos_kernel_derivative",
    "sphere_sample",
    "bsb1_fixed_point",
    "bsb1_mu",
    "bn_vmap_laplace",
    "bn_vmap_mc",
    "mean_field_iterate",
    "relative_diagonal_spread",
    "forward_eigenvalues",
    "alpha_transition",
    "gradient_explosion_rate",
    "large_batch_rate",
    "depth_scale",
    "max_trainable_depth",
    "BNSimulation",
    "simulate_bn_mlp",
    "train_bn_mlp",
    "sgd_step_profile",
]

ACTIVATION_NAMES = ("linear", "relu", "tanh", "erf", "alpha_relu")
_ALPHA_RANGE = (0.5, 6.0)           # alpha-ReLU: phi' square integrable needs alpha > 1/2
_GAMMA_RANGE = (1e-4, 100.0)        # BN scale absorbed into phi
_BETA_MAX = 100.0                   # |BN shift|
_B_MAX = 10**7                      # closed forms; the quadrature stops at _B_MAX_QUADRATURE
_MC_MAX = 5 * 10**8                 # B * n_samples of a Monte Carlo estimate
_B_MAX_QUADRATURE = 20000
_N_QUAD = {"accurate": 200, "fast": 40}        # Gauss-Legendre nodes per panel


# --------------------------------------------------------------------------------------
# Input checks
# --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Phi:
    act: str
    alpha: float
    gamma: float
    beta: float

    @property
    def degree(self):
        """Degree of positive homogeneity, or None (needs beta == 0)."""
        if self.beta != 0.0:
            return None
        return {"linear": 1.0, "relu": 1.0, "alpha_relu": self.alpha}.get(self.act)

    def base(self, x):
        if self.act == "linear":
            return x
        if self.act == "relu":
            return np.maximum(x, 0.0)
        if self.act == "alpha_relu":
            return np.where(x > 0, np.abs(x) ** self.alpha, 0.0)
        if self.act == "tanh":
            return np.tanh(x)
        return special.erf(x)

    def dbase(self, x):
        if self.act == "linear":
            return np.ones_like(x)
        if self.act == "relu":
            return (x > 0).astype(float)
        if self.act == "alpha_relu":
            return np.where(x > 0, self.alpha * np.abs(x) ** (self.alpha - 1.0), 0.0)
        if self.act == "tanh":
            t = np.tanh(x)
            return 1.0 - t * t
        return 2.0 / math.sqrt(math.pi) * np.exp(-x * x)

    def phi(self, x):
        return self.base(self.gamma * x + self.beta)

    def dphi(self, x):
        return self.gamma * self.dbase(self.gamma * x + self.beta)


def _check_phi(act, alpha=1.0, gamma=1.0, beta=0.0) -> _Phi:
    act = check_choice("activation", act, ACTIVATION_NAMES)
    alpha = check_real("alpha", alpha, low=_ALPHA_RANGE[0], high=_ALPHA_RANGE[1],
                       low_inclusive=False)
    gamma = check_real("gamma", gamma, low=_GAMMA_RANGE[0], high=_GAMMA_RANGE[1])
    beta = check_real("beta", beta, low=-_BETA_MAX, high=_BETA_MAX)
    if act == "alpha_relu" and alpha == 1.0:
        act = "relu"
    return _Phi(act, alpha, gamma, beta)


def _check_B(B, *, maximum=None) -> int:
    B = check_positive_int("B", B, minimum=4, maximum=_B_MAX)
    if maximum is not None and B > maximum:
        raise ValueError(f"`B` must be an integer <= {maximum} for this activation "
                         f"(sphere quadrature), got {B}")
    return B


def _check_k(k) -> float:
    return check_real("k", k, low=0.0, low_inclusive=False)


# --------------------------------------------------------------------------------------
# BN forward and backward (numpy references)
# --------------------------------------------------------------------------------------
def bn_forward(z, eps=0.0):
    r"""Batch-normalise ``z`` over its first axis (the batch), population variance.

    Parameters
    ----------
    z : array_like, shape (B,) or (B, N)
        Pre-activations of ``N`` neurons for a batch of ``B >= 2`` inputs.
    eps : float >= 0
        Added to the batch variance. With ``eps = 0`` every column must vary over the batch.

    Returns
    -------
    (zhat, sigma) : ``zhat`` of the shape of ``z``, with zero batch mean and (for
    ``eps = 0``) unit batch variance; ``sigma`` of shape ``z.shape[1:]``, the batch standard
    deviation :math:`\sqrt{\mathrm{var}+\epsilon}`.
    """
    z = check_array("z", z)
    if z.ndim not in (1, 2) or z.shape[0] < 2:
        raise ValueError(f"`z` must be an array of shape (B,) or (B, N) with B >= 2, "
                         f"got shape {z.shape}")
    eps = check_real("eps", eps, low=0.0)
    scale = float(np.max(np.abs(z))) if z.size else 0.0
    if scale > 1e150 or eps > 1e300:
        raise ValueError(f"`z` must have entries below 1e150 in magnitude (and `eps` <= 1e300) "
                         f"so that the batch variance is representable, got {scale:.3g}")
    centred = z - z.mean(axis=0)
    var = np.mean(centred**2, axis=0)
    sigma = np.sqrt(var + eps)
    if np.any(sigma <= 1e-150):
        raise ValueError("`z` must vary over the batch in every column when eps = 0 "
                         "(a constant column has no batch standard deviation)")
    return centred / sigma, sigma


def bn_backward(g, zhat, sigma):
    r"""Gradient with respect to the BN input, given ``g`` = dLoss/d``zhat``.

    .. math:: \frac{\partial L}{\partial z}=\frac1\sigma\Big(g-\bar g-\hat z\,\overline{g\hat z}\Big)

    (bars are batch means); exact for any :math:`\epsilon\ge0` when ``zhat`` and ``sigma``
    come from :func:`bn_forward` with that :math:`\epsilon`.

    Parameters
    ----------
    g, zhat : array_like of the same shape (B,) or (B, N)
    sigma : array_like of shape ``zhat.shape[1:]``, positive
    """
    zhat = check_array("zhat", zhat)
    g = check_array("g", g)
    sigma = check_array("sigma", sigma, low=0.0, low_inclusive=False)
    if zhat.ndim not in (1, 2) or zhat.shape[0] < 2:
        raise ValueError(f"`zhat` must have shape (B,) or (B, N) with B >= 2, got {zhat.shape}")
    if g.shape != zhat.shape:
        raise ValueError(f"`g` must have the shape of `zhat` {zhat.shape}, got {g.shape}")
    if sigma.shape != zhat.shape[1:]:
        raise ValueError(f"`sigma` must have shape {zhat.shape[1:]}, got {sigma.shape}")
    return (g - g.mean(axis=0) - zhat * np.mean(g * zhat, axis=0)) / sigma


# --------------------------------------------------------------------------------------
# Arc-cosine kernels
# --------------------------------------------------------------------------------------
def _c_alpha(alpha):
    """E[relu(g)^(2 alpha)] for g ~ N(0, 1)."""
    return 2.0 ** (alpha - 1.0) * special.gamma(alpha + 0.5) / math.sqrt(math.pi)


def _J(alpha, c):
    """Normalised arc-cosine kernel E[relu(u)^a relu(v)^a] / c_alpha, unit variances, corr c.

    Even/odd hypergeometric series (valid for alpha > -1/2, |c| <= 1)."""
    c = np.asarray(c, dtype=float)
    c2 = np.clip(c * c, 0.0, 1.0)
    a = alpha
    even = special.gamma((a + 1) / 2) ** 2 * special.hyp2f1(-a / 2, -a / 2, 0.5, c2)
    odd = 2 * c * special.gamma(a / 2 + 1) ** 2 * special.hyp2f1((1 - a) / 2, (1 - a) / 2, 1.5, c2)
    return 2.0**a / (4 * math.pi) * (even + odd) / _c_alpha(a)


def _J1(c):
    c = np.clip(np.asarray(c, dtype=float), -1.0, 1.0)
    return (np.sqrt(1 - c * c) + (math.pi - np.arccos(c)) * c) / math.pi


def _J1_prime(c):
    c = np.clip(np.asarray(c, dtype=float), -1.0, 1.0)
    return (math.pi - np.arccos(c)) / math.pi


def _J_any(alpha, c):
    return _J1(c) if alpha == 1.0 else _J(alpha, c)


def _J_prime(alpha, c):
    if alpha == 1.0:
        return _J1_prime(c)
    return alpha**2 / (2 * alpha - 1) * _J(alpha - 1.0, c)


def _scalar(x):
    x = np.asarray(x, dtype=float)
    return float(x) if x.ndim == 0 else x


def arccos_kernel(c, alpha=1.0):
    r"""The normalised arc-cosine kernel :math:`J_\alpha(c)` of Cho and Saul [2]_.

    :math:`J_\alpha(c)=\mathbb E[\mathrm{relu}(u)^\alpha\mathrm{relu}(v)^\alpha]/c_\alpha` for
    standard Gaussians :math:`u,v` with correlation :math:`c`, where
    :math:`c_\alpha=\mathbb E[\mathrm{relu}(u)^{2\alpha}]=2^{\alpha-1}\Gamma(\alpha+\tfrac12)/\sqrt\pi`,
    so :math:`J_\alpha(1)=1` and :math:`J_\alpha(-1)=0`. ReLU (:math:`\alpha=1`):
    :math:`J_1(c)=(\sqrt{1-c^2}+(\pi-\arccos c)c)/\pi`.

    Parameters
    ----------
    c : float or array_like in [-1, 1]
    alpha : float in (-1/2, 6]
    """
    c = check_array("c", c, low=-1.0, high=1.0)
    alpha = check_real("alpha", alpha, low=-0.5, high=_ALPHA_RANGE[1], low_inclusive=False)
    return _scalar(_J_any(alpha, c))


def arccos_kernel_derivative(c, alpha=1.0):
    r""":math:`J_\alpha'(c)=\frac{\alpha^2}{2\alpha-1}J_{\alpha-1}(c)` (Prop H.9 of [1]_),
    for :math:`\alpha>1/2`; ReLU: :math:`J_1'(c)=(\pi-\arccos c)/\pi`."""
    c = check_array("c", c, low=-1.0, high=1.0)
    alpha = check_real("alpha", alpha, low=0.5, high=_ALPHA_RANGE[1], low_inclusive=False)
    return _scalar(_J_prime(alpha, c))


# --------------------------------------------------------------------------------------
# The sphere S = {x in 1^perp : |x|^2 = B}: sampling and quadrature
# --------------------------------------------------------------------------------------
def _sphere_sample(B, n, rng):
    g = rng.standard_normal((n, B))
    g -= g.mean(axis=1, keepdims=True)
    return math.sqrt(B) * g / np.linalg.norm(g, axis=1, keepdims=True)


def sphere_sample(B, n, seed=0):
    r"""``n`` points uniform on :math:`S=\{x\in\mathbf 1^\perp:\|x\|^2=B\}`, shape (n, B).

    :math:`x=\sqrt B\,Gg/\|Gg\|` with :math:`g\sim\mathcal N(0,I_B)`: the output of BN
    (:math:`\epsilon=0`) for a Gaussian batch with permutation-symmetric covariance.
    """
    B = _check_B(B)
    n = check_positive_int("n", n, maximum=max(1, _MC_MAX // B))
    seed = check_positive_int("seed", seed, minimum=0)
    return _sphere_sample(B, n, np.random.default_rng(seed))


def _panels(a, b, t, w):
    """Gauss-Legendre nodes/weights (reference ``t``, ``w`` on [-1, 1]) mapped to [a, b]
    (arrays of the same shape, one panel per entry); returns (..., n) arrays."""
    a, b = np.asarray(a)[..., None], np.asarray(b)[..., None]
    return (b - a) / 2 * t + (a + b) / 2, (b - a) / 2 * w


@lru_cache(maxsize=128)
def _sphere_rule(B, n, kink):
    """Nodes and weights for E over x ~ Unif(S) of f(x1) (1D) and f(x1) g(x2) (2D).

    Spherical angles (Thm 4 of Yang et al.): x1 = sqrt(B-1) cos(th1), density ~ sin^(B-3) th1;
    x2 = -cos(th1)/sqrt(B-1) + sqrt(B(B-2)/(B-1)) sin(th1) cos(th2), density ~ sin^(B-4) th2.
    Gauss-Legendre in the angles, on two panels split where x1 (outer) or x2 (inner, for each
    th1) crosses ``kink`` (or at the middle); the angles are truncated where the density is
    below 1e-32 of its peak (large B)."""
    t, w = special.roots_legendre(n)
    half = min(math.pi / 2, math.sqrt(2 * 74.0 / max(B - 4, 1)))
    lo1, hi1 = math.pi / 2 - half, math.pi / 2 + half
    split1 = math.pi / 2
    if kink is not None:
        ck = kink / math.sqrt(B - 1)
        if -1 < ck < 1 and lo1 < math.acos(ck) < hi1:
            split1 = math.acos(ck)
    th1, w1 = _panels([lo1, split1], [split1, hi1], t, w)
    th1, w1 = th1.ravel(), w1.ravel()
    logw = (B - 3) * np.log(np.sin(th1))
    w1 = w1 * np.exp(logw - logw.max())
    w1 /= w1.sum()
    x1 = math.sqrt(B - 1) * np.cos(th1)
    # inner angle, one split per outer node
    amp = math.sqrt(B * (B - 2) / (B - 1)) * np.sin(th1)
    shift = -np.cos(th1) / math.sqrt(B - 1)
    half2 = min(math.pi / 2, math.sqrt(2 * 74.0 / max(B - 5, 1)))
    lo2, hi2 = math.pi / 2 - half2, math.pi / 2 + half2
    split2 = np.full(th1.shape, math.pi / 2)
    if kink is not None:
        with np.errstate(divide="ignore", invalid="ignore"):
            ck2 = (kink - shift) / amp
        ok = np.abs(ck2) < 1
        s2 = np.arccos(np.clip(ck2, -1, 1))
        ok &= (s2 > lo2) & (s2 < hi2)
        split2 = np.where(ok, s2, split2)
    a = np.stack([np.full(th1.shape, lo2), split2], axis=1)
    b = np.stack([split2, np.full(th1.shape, hi2)], axis=1)
    th2, w2 = _panels(a, b, t, w)                       # (n1, 2, n)
    th2, w2 = th2.reshape(len(th1), -1), w2.reshape(len(th1), -1)
    logw2 = (B - 4) * np.log(np.sin(th2))
    w2 = w2 * np.exp(logw2 - logw2.max())
    w2 /= w2.sum(axis=1, keepdims=True)
    X2 = shift[:, None] + amp[:, None] * np.cos(th2)
    X1 = np.broadcast_to(x1[:, None], X2.shape)
    W = w1[:, None] * w2
    return x1, w1, X1.ravel(), X2.ravel(), W.ravel()


def _sphere_moments(p: _Phi, B, rule="accurate"):
    """(E phi(x1)^2, E phi(x1) phi(x2), numerator of lambda_G) by sphere quadrature."""
    n = _N_QUAD[rule]
    kink = None
    if p.act in ("relu", "alpha_relu"):
        kink = -p.beta / p.gamma
    x1, w1, X1, X2, W = _sphere_rule(B, n, kink)
    f1 = p.phi(x1)
    q = float(w1 @ (f1 * f1))
    qc = float(W @ (p.phi(X1) * p.phi(X2)))
    d1 = p.dphi(x1)
    dX1, dX2 = p.dphi(X1), p.dphi(X2)
    num = float(w1 @ ((B - 1 - x1**2) * d1 * d1) + W @ ((1 + X1 * X2) * dX1 * dX2))
    return q, qc, num


# --------------------------------------------------------------------------------------
# BSB1 fixed point
# --------------------------------------------------------------------------------------
def _rho(B):
    return -1.0 / (B - 1)


def _K(alpha, B):
    """K_{alpha,B} = c_alpha ((B-1)/2)^alpha Gamma((B-1)/2) / Gamma((B-1)/2 + alpha)."""
    h = (B - 1) / 2.0
    return _c_alpha(alpha) * math.exp(alpha * math.log(h) + special.gammaln(h)
                                      - special.gammaln(h + alpha))


def _fixed_point_qc(p: _Phi, B, rule="accurate"):
    """(diagonal, off-diagonal) of Sigma*."""
    deg = p.degree
    if p.act == "linear" and deg is not None:
        return p.gamma**2, -p.gamma**2 / (B - 1)
    if deg is not None:                                        # relu / alpha-relu, beta = 0
        K = _K(deg, B) * p.gamma ** (2 * deg)
        return K, K * float(_J_any(deg, _rho(B)))
    if B > _B_MAX_QUADRATURE:
        raise ValueError(f"`B` must be <= {_B_MAX_QUADRATURE} for activation {p.act!r} with "
                         f"beta = {p.beta:g} (sphere quadrature), got {B}")
    q, qc, _ = _sphere_moments(p, B, rule)
    return q, qc


def bsb1_fixed_point(act, B, *, alpha=1.0, gamma=1.0, beta=0.0, rule="accurate"):
    r"""The BSB1 fixed point :math:`\Sigma^*` (shape (B, B)) of the BN mean-field map.

    :math:`\Sigma^*=\mathbb E_{x\sim\mathrm{Unif}(S)}[\phi(x)\phi(x)^T]`, reached in one step
    from every BSB1 input (:math:`\sigma_w^2=1`, :math:`\sigma_b^2=0`). Closed forms
    (Thm 5 and Cor B.26-B.28 of [1]_): ReLU has diagonal 1/2 and off-diagonal
    :math:`\tfrac12J_1(-1/(B-1))`; :math:`\alpha`-ReLU diagonal :math:`K_{\alpha,B}` and
    off-diagonal :math:`K_{\alpha,B}J_\alpha(-1/(B-1))`; linear :math:`\frac B{B-1}G`. Other
    activations (tanh, erf, any :math:`\beta\ne0`) use the sphere quadrature.

    Parameters
    ----------
    act : {'linear', 'relu', 'tanh', 'erf', 'alpha_relu'}
    B : int >= 4
    alpha : float in (1/2, 6], for 'alpha_relu'
    gamma : float > 0, beta : float
        BN scale and shift, absorbed as :math:`\phi(\gamma x+\beta)`.
    rule : {'accurate', 'fast'}
        Quadrature size (200 or 40 nodes per panel) for the activations without a closed form.

    Examples
    --------
    >>> S = bsb1_fixed_point('relu', 8)
    >>> float(S[0, 0]), round(float(S[0, 1]), 7)
    (0.5, 0.1250675)
    """
    p = _check_phi(act, alpha, gamma, beta)
    B = _check_B(B)
    rule = check_choice("rule", rule, _N_QUAD)
    d, o = _fixed_point_qc(p, B, rule)
    return (d - o) * np.eye(B) + o * np.ones((B, B))


def bsb1_mu(act, B, *, alpha=1.0, gamma=1.0, beta=0.0, rule="accurate") -> float:
    r""":math:`\mu^*=q(1-c)`, the coefficient of :math:`I` in :math:`\Sigma^*`
    (:math:`G\Sigma^*G=\mu^*G`). Same arguments as :func:`bsb1_fixed_point`."""
    p = _check_phi(act, alpha, gamma, beta)
    B = _check_B(B)
    rule = check_choice("rule", rule, _N_QUAD)
    d, o = _fixed_point_qc(p, B, rule)
    return float(d - o)


# --------------------------------------------------------------------------------------
# The mean-field map: Laplace representation and Monte Carlo
# --------------------------------------------------------------------------------------
def _check_sigma(Sigma, B_min=4, name="Sigma"):
    S = check_array(name, Sigma, ndim=2)
    B = S.shape[0]
    if S.shape != (B, B) or B < B_min:
        raise ValueError(f"`{name}` must be a square (B, B) matrix with B >= {B_min}, "
                         f"got shape {S.shape}")
    if S.shape[0] > 4096:
        raise ValueError(f"`{name}` must be at most 4096 x 4096, got shape {S.shape}")
    top = float(np.abs(S).max())
    if not 1e-100 < top < 1e100:
        raise ValueError(f"`{name}` must have its largest entry between 1e-100 and 1e100 in "
                         f"magnitude (rescale it: the map is scale invariant), got {top:.3g}")
    S = S / top
    if not np.allclose(S, S.T, rtol=1e-10, atol=1e-12):
        raise ValueError(f"`{name}` must be symmetric")
    ev = np.linalg.eigvalsh(S)
    if ev[0] < -1e-10 * max(1.0, ev[-1]):
        raise ValueError(f"`{name}` must be positive semi-definite, got an eigenvalue "
                         f"{ev[0] * top:.3g}")
    S = (S + S.T) / 2 * top
    G = np.eye(B) - 1.0 / B
    if np.linalg.eigvalsh(G @ S @ G)[-1] <= 1e-12 * max(1e-300, ev[-1] * top):
        raise ValueError(f"`{name}` must vary within the batch (G Sigma G = 0: BN is undefined)")
    return S, B, G


def _V_homogeneous(deg, act, A):
    """V_phi(A) for phi = relu_alpha or linear (unit gamma), A stacked (..., B, B) PSD."""
    if act == "linear":
        return A
    d = np.sqrt(np.clip(np.einsum("...ii->...i", A), 0.0, None))
    outer = d[..., :, None] * d[..., None, :]
    c = np.where(outer > 0, A / np.where(outer > 0, outer, 1.0), 0.0)
    return _c_alpha(deg) * outer**deg * _J_any(deg, np.clip(c, -1.0, 1.0))


def bn_vmap_laplace(act, Sigma, *, alpha=1.0, gamma=1.0, n_nodes=801):
    r"""The BN mean-field map :math:`V_{\mathcal B_\phi}(\Sigma)` by the Laplace method.

    For :math:`\phi` positive-homogeneous of degree :math:`\alpha` (Thm 2 of [1]_),

    .. math:: V_{\mathcal B_\phi}(\Sigma)=\frac{B^\alpha}{\Gamma(\alpha)}\int_0^\infty
              s^{\alpha-1}\,\frac{V_\phi\big(\Sigma^G(I+2s\Sigma^G)^{-1}\big)}
              {\sqrt{\det(I+2s\Sigma^G)}}\,ds,\qquad \Sigma^G=G\Sigma G,

    from :math:`\|Gh\|^{-2\alpha}=\Gamma(\alpha)^{-1}\int_0^\infty s^{\alpha-1}e^{-s\|Gh\|^2}ds`.
    The integral is taken in :math:`u=\ln s` with the trapezoidal rule (``n_nodes`` nodes),
    which converges exponentially for this smooth, doubly exponentially decaying integrand:
    about 1e-13 at the default.

    Parameters
    ----------
    act : {'linear', 'relu', 'alpha_relu'} (no shift: positive homogeneity needs beta = 0)
    Sigma : (B, B) symmetric positive semi-definite, B >= 4, with
        :math:`\operatorname{rank}G\Sigma G>2\alpha`.
    """
    p = _check_phi(act, alpha, gamma, 0.0)
    if p.degree is None or p.act not in ("linear", "relu", "alpha_relu"):
        raise ValueError(f"unknown activation for the Laplace method {act!r}; expected one of "
                         "'alpha_relu', 'linear', 'relu' (positive-homogeneous; use bn_vmap_mc)")
    n_nodes = check_positive_int("n_nodes", n_nodes, minimum=51)
    S, B, G = _check_sigma(Sigma)
    deg = p.degree
    SG = G @ S @ G
    d, U = np.linalg.eigh((SG + SG.T) / 2)
    d = np.clip(d, 0.0, None)
    rank = int(np.sum(d > 1e-12 * d.max()))
    if rank <= 2 * deg:
        raise ValueError(f"`Sigma` must have rank(G Sigma G) > 2 alpha = {2 * deg:g} for the "
                         f"Laplace method, got rank {rank}")
    scale = 1.0 / np.mean(d[d > 1e-12 * d.max()])
    u = np.linspace(-40.0, 25.0, n_nodes) + math.log(scale)
    s = np.exp(u)
    fac = d[None, :] / (1 + 2 * s[:, None] * d[None, :])               # (n, B)
    A = np.einsum("ij,nj,kj->nik", U, fac, U)
    logdet = 0.5 * np.sum(np.log1p(2 * s[:, None] * d[None, :]), axis=1)
    w = np.exp(deg * u - logdet) * (u[1] - u[0])                       # s^alpha ds/s
    V = np.einsum("n,nij->ij", w, _V_homogeneous(deg, p.act, A))
    out = B**deg / special.gamma(deg) * V * p.gamma ** (2 * deg)
    return (out + out.T) / 2


def bn_vmap_mc(act, Sigma, *, n_samples=100_000, seed=0, alpha=1.0, gamma=1.0, beta=0.0,
               return_se=False):
    r"""Monte Carlo estimate of :math:`V_{\mathcal B_\phi}(\Sigma)` for any activation.

    Draws :math:`h\sim\mathcal N(0,\Sigma)` (``n_samples`` of them, seeded), normalises
    :math:`x=\sqrt B\,Gh/\|Gh\|` and averages :math:`\phi(x)\phi(x)^T`. With
    ``return_se=True`` also returns the elementwise standard error.
    """
    p = _check_phi(act, alpha, gamma, beta)
    S, B, G = _check_sigma(Sigma)
    n = check_positive_int("n_samples", n_samples, minimum=2, maximum=max(2, _MC_MAX // B))
    seed = check_positive_int("seed", seed, minimum=0)
    return_se = check_bool("return_se", return_se)
    rng = np.random.default_rng(seed)
    ev, U = np.linalg.eigh(S)
    root = U * np.sqrt(np.clip(ev, 0.0, None))
    out = np.zeros((B, B))
    sq = np.zeros((B, B))
    chunk = max(1, min(n, 2_000_000 // B))
    done = 0
    while done < n:
        m = min(chunk, n - done)
        h = rng.standard_normal((m, B)) @ root.T
        h -= h.mean(axis=1, keepdims=True)
        nrm = np.linalg.norm(h, axis=1, keepdims=True)
        f = p.phi(math.sqrt(B) * h / np.where(nrm > 0, nrm, 1.0))
        prod = f[:, :, None] * f[:, None, :]
        out += prod.sum(axis=0)
        if return_se:
            sq += (prod**2).sum(axis=0)
        done += m
    mean = out / n
    if not return_se:
        return mean
    var = np.clip(sq / n - mean**2, 0.0, None)
    return mean, np.sqrt(var / (n - 1))


def mean_field_iterate(act, Sigma0, steps, *, n_samples=20_000, seed=0, alpha=1.0, gamma=1.0,
                       beta=0.0):
    r"""Iterate the BN mean-field map by Monte Carlo: :math:`\Sigma^{t+1}=\hat V(\Sigma^t)`.

    Each step is :func:`bn_vmap_mc` with ``n_samples`` fresh samples (seeds ``seed``,
    ``seed + 1``, ...). Returns the array of iterates, shape (steps + 1, B, B), starting with
    ``Sigma0``. Used to show convergence to the BSB1 point from random starts, and the
    symmetry breaking of :math:`\alpha`-ReLU past :func:`alpha_transition`.
    """
    p = _check_phi(act, alpha, gamma, beta)
    S, B, _ = _check_sigma(Sigma0, name="Sigma0")
    steps = check_positive_int("steps", steps, maximum=10_000)
    n = check_positive_int("n_samples", n_samples, minimum=2,
                           maximum=max(2, _MC_MAX // (B * steps)))
    seed = check_positive_int("seed", seed, minimum=0)
    out = [S]
    for t in range(steps):
        try:
            S = bn_vmap_mc(p.act, S, n_samples=n, seed=seed + t, alpha=p.alpha, gamma=p.gamma,
                           beta=p.beta)
        except ValueError:
            raise ValueError(f"the iteration degenerated at step {t + 1} (G Sigma G = 0: the "
                             "activation maps every batch to a constant)") from None
        out.append(S)
    return np.array(out)


def relative_diagonal_spread(Sigma) -> float:
    r""":math:`\mathrm{Var}(\Sigma_{ii})/\mathrm{mean}(\Sigma_{ii})^2`: 0 for a BSB1 matrix,
    of order 1 after BSB1 :math:`\to` BSB2 symmetry breaking (unequal norms)."""
    S = check_array("Sigma", Sigma, ndim=2)
    if S.shape[0] != S.shape[1] or S.shape[0] < 2:
        raise ValueError(f"`Sigma` must be a square matrix of size >= 2, got shape {S.shape}")
    d = np.diag(S)
    top = float(np.max(np.abs(d)))
    if not top > 0 or not np.mean(d / top) > 1e-12:
        raise ValueError("`Sigma` must have a positive mean diagonal")
    d = d / top
    return float(np.var(d) / np.mean(d) ** 2)


# --------------------------------------------------------------------------------------
# Linearised forward dynamics
# --------------------------------------------------------------------------------------
def _eig_reps(B):
    G = np.eye(B) - 1.0 / B
    D = np.zeros(B)
    D[0], D[1] = 1.0, -1.0
    L = G @ np.diag(D) @ G
    M = np.zeros((B, B))
    a = np.zeros(B)
    b = np.zeros(B)
    a[[0, 1]] = [1, -1]
    b[[2, 3]] = [1, -1]
    M = np.outer(a, b) + np.outer(b, a)
    return G, L, M


def _forward_closed(deg, act, B):
    rho = _rho(B)
    if act == "linear":
        Jd1, Jdr, Jpr = 2.0, 2.0 * rho, 2.0
    else:
        Jd1, Jdr, Jpr = 1.0, float(_J_any(deg, rho)), float(_J_prime(deg, rho))
    r = Jpr / (Jd1 - Jdr)
    lam_M = B * r / (B - 1 + 2 * deg)
    lam_L = (deg * (B - 2) + B / (B - 1) * r) / (B - 1 + 2 * deg)
    return lam_L, lam_M


def _forward_mc(p: _Phi, B, n_samples, seed):
    """Rayleigh quotients of the linearised map at Sigma* on L and M representatives.

    At Sigma = I (BSB1, same image Sigma*), for E in H^G:
    dV_I[E] = 1/2 E_x[((B-1)/B x^T E x - tr E) phi(x) phi(x)^T]; the Jacobian at Sigma* is
    dV_I / mu*. Each representative is averaged over all batch relabellings in the sample."""
    rng = np.random.default_rng(seed)
    mu = _fixed_point_qc(p, B)
    mu = mu[0] - mu[1]
    out = {}
    x = _sphere_sample(B, n_samples, rng)
    f = p.phi(x)
    _, L, M = _eig_reps(B)
    for name, E in (("L", L), ("M", M)):
        vals = []
        for _ in range(4):                               # four random relabellings
            perm = rng.permutation(B)
            Ep = E[np.ix_(perm, perm)]
            quad = np.einsum("ni,ij,nj->n", x, Ep, x)
            fq = np.einsum("ni,ij,nj->n", f, Ep, f)
            vals.append(0.5 * ((B - 1) / B * quad - np.trace(Ep)) * fq / np.sum(Ep * Ep))
        v = np.concatenate(vals) / mu
        out[name] = (float(v.mean()), float(v.std() / math.sqrt(v.size)))
    return out


def forward_eigenvalues(act, B, *, alpha=1.0, gamma=1.0, beta=0.0, method="auto",
                        n_samples=400_000, seed=0):
    r"""Eigenvalues of the linearised BN mean-field map at :math:`\Sigma^*` on G, L, M.

    Returns a dict ``{'G': 0.0, 'L': lam_L, 'M': lam_M}`` (with ``method='mc'`` also
    ``'L_se'`` and ``'M_se'``). The G direction (the scale of the batch) is annihilated:
    :math:`\lambda_G=0`. For degree-:math:`\alpha` activations (Thm B.68 of [1]_ divided by
    :math:`\mu^*`, simplified), with :math:`\rho=-1/(B-1)` and
    :math:`r=J_\phi'(\rho)/(J_\phi(1)-J_\phi(\rho))`:

    .. math:: \lambda_M=\frac{B\,r}{B-1+2\alpha},\qquad
              \lambda_L=\frac{\alpha(B-2)+\frac B{B-1}r}{B-1+2\alpha}.

    Other activations (or ``method='mc'``): Monte Carlo Rayleigh quotients on L and M
    representatives (``n_samples`` sphere points; standard errors returned).
    """
    p = _check_phi(act, alpha, gamma, beta)
    B = _check_B(B)
    method = check_choice("method", method, ("auto", "closed", "mc"))
    n_samples = check_positive_int("n_samples", n_samples, minimum=100)
    seed = check_positive_int("seed", seed, minimum=0)
    deg = p.degree
    if (method == "mc" or deg is None) and n_samples * 4 * B > _MC_MAX:
        raise ValueError(f"`n_samples` must be at most {_MC_MAX // (4 * B)} for B = {B} "
                         f"(Monte Carlo memory), got {n_samples}")
    if method == "closed" and deg is None:
        raise ValueError(f"no closed form for activation {p.act!r} with beta = {p.beta:g}; "
                         "use method 'mc' or 'auto'")
    if method != "mc" and deg is not None:
        lam_L, lam_M = _forward_closed(deg, p.act, B)
        return {"G": 0.0, "L": lam_L, "M": lam_M}
    r = _forward_mc(p, B, n_samples, seed)
    return {"G": 0.0, "L": r["L"][0], "M": r["M"][0], "L_se": r["L"][1], "M_se": r["M"][1]}


def alpha_transition(B) -> float:
    r"""The :math:`\alpha` at which the forward :math:`\lambda_L` of :math:`\alpha`-ReLU crosses 1.

    Past it the BSB1 fixed point is unstable in the L direction (unequal norms) and the batch
    covariance breaks symmetry (BSB2). ``math.inf`` when there is no crossing for
    :math:`\alpha\le6` (:math:`B=4`). E.g. 1.4007 at :math:`B=10`; tends to 1 as :math:`B\to\infty`.
    """
    B = _check_B(B)

    def f(a):
        return _forward_closed(a, "alpha_relu", B)[0] - 1.0

    if f(1.0) >= 0:
        return 1.0
    if f(_ALPHA_RANGE[1]) < 0:
        return math.inf
    return float(optimize.brentq(f, 1.0, _ALPHA_RANGE[1], xtol=1e-12))


# --------------------------------------------------------------------------------------
# Gradient explosion
# --------------------------------------------------------------------------------------
def _lambda_closed(deg, act, B):
    if act == "linear":
        return (B - 2.0) / (B - 3.0)
    rho = _rho(B)
    J, Jp = float(_J_any(deg, rho)), float(_J_prime(deg, rho))
    if deg == 1.0:
        return (B - 2 + J + Jp) / ((B - 3) * (1 - J))
    a = deg
    return ((B - 3 + 2 * a) * ((2 * a - 1) * Jp + a * a * (B - 1))
            / ((2 * a - 1) * (B - 3) * (B - 1) * (1 - J)) - a * a / (B - 3))


def _lambda(p: _Phi, B, rule="accurate"):
    deg = p.degree
    if deg is not None:
        return _lambda_closed(deg, p.act, B)
    if B > _B_MAX_QUADRATURE:
        raise ValueError(f"`B` must be <= {_B_MAX_QUADRATURE} for activation {p.act!r} with "
                         f"beta = {p.beta:g} (sphere quadrature), got {B}")
    q, qc, num = _sphere_moments(p, B, rule)
    mu = q - qc
    if not mu > 1e-300:
        raise ValueError("the activation is constant on the sphere (mu* = 0): no gradient")
    return num / ((B - 3) * mu)


def gradient_explosion_rate(act, B, *, alpha=1.0, gamma=1.0, beta=0.0, rule="accurate") -> float:
    r""":math:`\lambda_G`: per-layer growth factor of the squared gradient norm (Thm 7 of [1]_).

    .. math:: \lambda_G=\frac{\mathbb E\big[(B-1-x_1^2)\phi'(x_1)^2+(1+x_1x_2)\phi'(x_1)\phi'(x_2)\big]}
              {(B-3)\,\mu^*},\qquad x\sim\mathrm{Unif}(S),

    going from layer :math:`l+1` to layer :math:`l` (towards the input). Closed forms: linear
    :math:`(B-2)/(B-3)`; ReLU :math:`\frac{B-2+J_1(\rho)+J_1'(\rho)}{(B-3)(1-J_1(\rho))}`,
    :math:`\rho=-1/(B-1)`, decreasing to :math:`\pi/(\pi-1)`; :math:`\alpha`-ReLU by Thm 8 of
    [1]_ (with its lost :math:`\alpha`'s restored). Other activations by sphere quadrature.
    Independent of :math:`\sigma_w^2,\sigma_b^2` (exact scale invariance of BN at
    :math:`\epsilon=0`). :math:`\lambda_G>1` for every non-constant :math:`\phi`, with the
    minimum :math:`(B-2)/(B-3)` for affine :math:`\phi` (Thm 9 of [1]_).

    Parameters as for :func:`bsb1_fixed_point`. ``B < 4`` raises (infinite at :math:`B=3`).
    For :math:`\alpha`-ReLU above :func:`alpha_transition` the BSB1 point is unstable and the
    value describes a state the network does not reach.

    Examples
    --------
    >>> round(gradient_explosion_rate('relu', 8), 6)
    1.78819
    >>> gradient_explosion_rate('linear', 8)
    1.2
    >>> round(gradient_explosion_rate('tanh', 32), 6)
    1.208303
    """
    p = _check_phi(act, alpha, gamma, beta)
    B = _check_B(B)
    rule = check_choice("rule", rule, _N_QUAD)
    return float(_lambda(p, B, rule))


def large_batch_rate(act, *, alpha=1.0, gamma=1.0, beta=0.0) -> float:
    r"""The :math:`B\to\infty` limit of :math:`\lambda_G`:
    :math:`\mathbb E[\phi'(g)^2]/\mathrm{Var}[\phi(g)]`, :math:`g\sim\mathcal N(0,1)`.

    At least 1 by the Gaussian Poincaré inequality, with equality iff :math:`\phi` is affine.
    ReLU: :math:`\pi/(\pi-1)`; tanh: 1.1778072. Computed by Gauss-Hermite quadrature split at
    the kink (:math:`g=-\beta/\gamma`) with 200 Gauss-Legendre nodes per panel.
    """
    p = _check_phi(act, alpha, gamma, beta)
    deg = p.degree
    if deg is not None and p.act != "linear":
        m1 = 2.0 ** (deg / 2) * special.gamma((deg + 1) / 2) / (2 * math.sqrt(math.pi))
        var = _c_alpha(deg) - m1 * m1
        return float(deg * deg * _c_alpha(deg - 1.0) / var) if deg > 0.5 else math.inf
    kink = -p.beta / p.gamma
    edges = np.unique(np.clip(np.array([-14.0, kink, 14.0]), -14.0, 14.0))
    t, w = special.roots_legendre(200)
    xs, ws = [], []
    for a, b in zip(edges[:-1], edges[1:]):
        xs.append((b - a) / 2 * t + (a + b) / 2)
        ws.append((b - a) / 2 * w)
    x, w = np.concatenate(xs), np.concatenate(ws)
    w = w * np.exp(-x * x / 2) / math.sqrt(2 * math.pi)
    f, d = p.phi(x), p.dphi(x)
    var = w @ (f * f) - (w @ f) ** 2
    if not var > 1e-300:
        raise ValueError("the activation is constant: Var phi(g) = 0")
    return float((w @ (d * d)) / var)


def depth_scale(lam) -> float:
    r""":math:`\xi=1/\ln\lambda` for a growth factor :math:`\lambda>1` (``math.inf`` at 1)."""
    lam = check_real("lam", lam, low=1.0)
    return math.inf if lam == 1.0 else 1.0 / math.log(lam)


def max_trainable_depth(act, B, k=16.0, *, alpha=1.0, gamma=1.0, beta=0.0) -> float:
    r"""Predicted maximal trainable depth :math:`k\,\xi=k/\ln\lambda_G` (Fig. 2 of [1]_ uses
    :math:`k=16`). ReLU: 27.5 at :math:`B=8`, 38.1 at :math:`B=32`, 41.8 as :math:`B\to\infty`."""
    k = _check_k(k)
    lam = gradient_explosion_rate(act, B, alpha=alpha, gamma=gamma, beta=beta)
    return k * depth_scale(lam)


# --------------------------------------------------------------------------------------
# Finite networks (torch)
# --------------------------------------------------------------------------------------
def _torch():
    import torch

    return torch


_TORCH_ACTS = ("linear", "relu", "tanh", "erf", "alpha_relu")


def _torch_phi(p: _Phi, torch):
    def base(x):
        if p.act == "linear":
            return x
        if p.act == "relu":
            return torch.relu(x)
        if p.act == "alpha_relu":
            return torch.relu(x) ** p.alpha
        if p.act == "tanh":
            return torch.tanh(x)
        return torch.erf(x)

    def dbase(x):
        if p.act == "linear":
            return torch.ones_like(x)
        if p.act == "relu":
            return (x > 0).to(x.dtype)
        if p.act == "alpha_relu":
            return p.alpha * torch.relu(x) ** (p.alpha - 1.0) * (x > 0).to(x.dtype)
        if p.act == "tanh":
            return 1 - torch.tanh(x) ** 2
        return 2 / math.sqrt(math.pi) * torch.exp(-x * x)

    return base, dbase


def _check_device_dtype(device, dtype):
    torch = _torch()
    device = check_device("device", device)
    if device is None:
        from .runtime import device as default_device

        device = default_device()
    dtype = check_choice("dtype", dtype, ("float32", "float64"))
    return device, getattr(torch, dtype)


@dataclass(frozen=True)
class BNSimulation:
    """Result of :func:`simulate_bn_mlp`.

    ``grad_sq[s, l]``: squared Frobenius norm of :math:`\\partial L/\\partial z^{l+1}` (layer
    ``l + 1`` of ``depth``) for batch ``s`` (network ``s // n_batches``), normalised so that the last layer's is 1;
    ``cov``: :math:`z^lz^{lT}/N` averaged over networks and over the last ``cov_layers``
    layers, shape (B, B); ``rates``: the fitted per-layer growth factor of each network
    (:math:`\\exp` of minus the least-squares slope of :math:`\\ln` ``grad_sq`` over the
    layers ``window``); ``rate``, ``rate_se``: their mean and standard error; ``r2``: the
    smallest coefficient of determination of the fits.
    """

    act: str
    B: int
    width: int
    depth: int
    grad_sq: np.ndarray
    cov: np.ndarray
    rates: np.ndarray
    rate: float
    rate_se: float
    window: tuple
    r2: float


def _fit_rate(log_g, window):
    lo, hi = window
    layers = np.arange(lo, hi + 1, dtype=float)
    y = log_g[:, lo - 1:hi]
    xm = layers - layers.mean()
    slopes = (y - y.mean(axis=1, keepdims=True)) @ xm / (xm @ xm)
    resid = y - y.mean(axis=1, keepdims=True) - slopes[:, None] * xm[None, :]
    ss = np.sum((y - y.mean(axis=1, keepdims=True)) ** 2, axis=1)
    r2 = 1 - np.sum(resid**2, axis=1) / np.where(ss > 0, ss, 1.0)
    return np.exp(-slopes), float(r2.min())


def simulate_bn_mlp(act, B, *, width, depth, n_seeds=1, n_batches=2, seed=0, sigma_w2=1.0,
                    eps=0.0, alpha=1.0, gamma=1.0, beta=0.0, window=None, cov_layers=None,
                    device=None, dtype="float32") -> BNSimulation:
    r"""Finite batch-normalized MLPs: per-layer squared gradient norms and batch covariances.

    Each of ``n_seeds`` networks carries ``n_batches`` independent input batches (BN
    normalises each batch separately; the batches share the weights, which makes the
    weights, the dominant cost, ``n_batches`` times cheaper per estimate; in a wide layer
    the gradients of different batches point in nearly orthogonal directions, so their
    fitted rates are nearly independent). Each batch: input :math:`x^0\sim\mathcal N(0,I)`
    of shape (B, width); for
    :math:`l=1..` ``depth``: :math:`z^l=x^{l-1}W^{lT}` with
    :math:`W^l_{ij}\sim\mathcal N(0,\sigma_w^2/\text{width})`,
    :math:`x^l=\phi(\gamma\,\mathrm{BN}_\epsilon(z^l)+\beta)`. A Gaussian cotangent on
    :math:`x^{L}` is backpropagated with the exact BN backward (:func:`bn_backward`);
    :math:`\|\partial L/\partial z^l\|_F^2` is recorded (accumulated in logarithms, so that
    nothing overflows). Weights are drawn as float32 normals from a seeded torch generator
    and cast to ``dtype``.

    Parameters
    ----------
    act, alpha, gamma, beta : the activation, as in :func:`gradient_explosion_rate`
    B : int >= 4; width, depth : int >= 1 (depth >= 4); n_seeds, n_batches : int >= 1;
    seed : int >= 0
    sigma_w2 : float > 0 (irrelevant when eps = 0); eps : float >= 0
    window : (first, last) layers of the fit, default (depth // 5, depth - depth // 10)
    cov_layers : int, the number of last layers averaged into ``cov`` (default depth // 2)
    device : None (runtime's choice), 'cpu', 'cuda' or a torch.device; dtype : 'float32'/'float64'
    """
    p = _check_phi(act, alpha, gamma, beta)
    B = _check_B(B)
    width = check_positive_int("width", width, maximum=100_000)
    depth = check_positive_int("depth", depth, minimum=4, maximum=10_000)
    n_seeds = check_positive_int("n_seeds", n_seeds, maximum=10_000)
    n_batches = check_positive_int("n_batches", n_batches, maximum=10_000)
    if n_seeds * n_batches < 2:
        raise ValueError("`n_seeds` * `n_batches` must be at least 2 (the standard error of the "
                         f"rate needs two estimates), got {n_seeds} * {n_batches}")
    seed = check_positive_int("seed", seed, minimum=0)
    sw2 = check_real("sigma_w2", sigma_w2, low=1e-6, high=1e6)
    eps = check_real("eps", eps, low=0.0, high=1e6)
    if window is None:
        window = (max(1, depth // 5), depth - depth // 10)
    if (not isinstance(window, (tuple, list)) or len(window) != 2):
        raise ValueError(f"`window` must be a pair (first, last) of layers, got {window!r}")
    lo = check_positive_int("window[0]", window[0])
    hi = check_positive_int("window[1]", window[1])
    if not lo + 2 <= hi <= depth:
        raise ValueError(f"`window` must satisfy 1 <= first <= last - 2, last <= depth = {depth},"
                         f" got {tuple(window)}")
    cov_layers = depth // 2 if cov_layers is None else cov_layers
    cov_layers = check_positive_int("cov_layers", cov_layers)
    if cov_layers > depth:
        raise ValueError(f"`cov_layers` must be <= depth = {depth}, got {cov_layers}")
    dev, dt = _check_device_dtype(device, dtype)
    torch = _torch()
    base, dbase = _torch_phi(p, torch)
    k = n_batches
    log_g = np.zeros((n_seeds, k, depth))
    cov = torch.zeros((B, B), dtype=torch.float64, device=dev)
    with torch.no_grad():
        for s in range(n_seeds):
            gen = torch.Generator(device=dev).manual_seed(seed * 1_000_003 + s)
            x = torch.randn((k, B, width), generator=gen, device=dev,
                            dtype=torch.float32).to(dt)
            Ws, zhats, sigmas = [], [], []
            for layer in range(depth):
                W = torch.randn((width, width), generator=gen, device=dev,
                                dtype=torch.float32).to(dt) * math.sqrt(sw2 / width)
                z = x @ W.T
                if layer >= depth - cov_layers:
                    cov += torch.einsum("kin,kjn->ij", z, z).to(torch.float64) / (width * k)
                zc = z - z.mean(dim=1, keepdim=True)
                sig = torch.sqrt((zc * zc).mean(dim=1, keepdim=True) + eps)
                zhat = zc / sig
                x = base(p.gamma * zhat + p.beta)
                Ws.append(W)
                zhats.append(zhat)
                sigmas.append(sig)
            g = torch.randn((k, B, width), generator=gen, device=dev,
                            dtype=torch.float32).to(dt)
            log_scale = np.zeros(k)
            for layer in range(depth - 1, -1, -1):
                zhat, sig = zhats[layer], sigmas[layer]
                gh = g * p.gamma * dbase(p.gamma * zhat + p.beta)
                dz = (gh - gh.mean(dim=1, keepdim=True)
                      - zhat * (gh * zhat).mean(dim=1, keepdim=True)) / sig
                nrm2 = (dz * dz).sum(dim=(1, 2)).to(torch.float64).cpu().numpy()
                with np.errstate(divide="ignore"):
                    log_g[s, :, layer] = np.log(nrm2) + log_scale
                g = dz @ Ws[layer]
                gn = torch.sqrt((g * g).sum(dim=(1, 2), keepdim=True))
                gn = torch.where(gn > 0, gn, torch.ones_like(gn))
                g = g / gn
                log_scale += 2 * np.log(gn.reshape(k).to(torch.float64).cpu().numpy())
            del Ws, zhats, sigmas
    log_g = log_g.reshape(n_seeds * k, depth)
    if not np.all(np.isfinite(log_g[:, lo - 1:hi])) or not torch.all(torch.isfinite(cov)):
        raise ValueError("the gradient vanished exactly in the fitted window (a dead network);"
                         " use another activation, width or window")
    log_g -= log_g[:, -1:]
    rates, r2 = _fit_rate(log_g, (lo, hi))
    n = n_seeds * k
    se = float(rates.std(ddof=1) / math.sqrt(n)) if n > 1 else math.nan
    return BNSimulation(p.act, B, width, depth, np.exp(log_g),
                        (cov / (n_seeds * cov_layers)).cpu().numpy(), rates, float(rates.mean()),
                        se, (lo, hi), r2)


# --------------------------------------------------------------------------------------
# Training experiments (torch)
# --------------------------------------------------------------------------------------
def _bn_mlp(torch, d_in, width, depth, n_out, act, eps):
    nn = torch.nn
    acts = {"relu": nn.ReLU, "tanh": nn.Tanh, "linear": nn.Identity}
    layers = []
    d = d_in
    for _ in range(depth):
        lin = nn.Linear(d, width, bias=False)
        nn.init.normal_(lin.weight, 0.0, 1.0 / math.sqrt(d))
        layers += [lin, nn.BatchNorm1d(width, eps=eps, affine=False), acts[act]()]
        d = width
    out = nn.Linear(d, n_out)
    nn.init.normal_(out.weight, 0.0, 1.0 / math.sqrt(d))
    nn.init.zeros_(out.bias)
    layers.append(out)
    return nn.Sequential(*layers)


def _sgd_step(net, lr, torch):
    """Plain SGD in place (torch.optim is not imported: its import costs seconds)."""
    with torch.no_grad():
        for prm in net.parameters():
            if prm.grad is not None:
                prm -= lr * prm.grad


def _check_data(x, y, name):
    x = check_array(f"{name} features", x, ndim=2)
    yy = np.asarray(y)
    if yy.ndim != 1 or yy.shape[0] != x.shape[0] or not np.issubdtype(yy.dtype, np.integer) \
            or yy.min(initial=0) < 0:
        raise ValueError(f"`{name}` labels must be non-negative integers, one per row of the "
                         f"features, got shape {yy.shape} and dtype {yy.dtype}")
    return x, yy.astype(np.int64)


def train_bn_mlp(data, *, act="relu", depth, B, width=128, steps=400, lr=0.02, eps=1e-3,
                 seed=0, device=None) -> float:
    r"""Train a batch-normalized MLP with SGD; return its test accuracy.

    ``data`` is a :class:`mftheory.data.Split`. The net: ``depth`` blocks Linear (no bias,
    :math:`\mathcal N(0,1/\text{fan-in})`) :math:`\to` BN (population variance, ``eps``,
    no affine parameters) :math:`\to\phi`, then a linear read-out; softmax cross-entropy
    averaged over the batch; plain SGD with learning rate ``lr`` for ``steps`` minibatches of
    size ``B`` (sampled with a seeded generator). Accuracy on the test set with BN in training
    mode over test batches of size ``B`` (the statistics the network was trained with).
    Deterministic on the CPU for a given seed.
    """
    act = check_choice("activation", act, ("relu", "tanh", "linear"))
    depth = check_positive_int("depth", depth, maximum=10_000)
    B = _check_B(B)
    width = check_positive_int("width", width, maximum=100_000)
    steps = check_positive_int("steps", steps, maximum=10**7)
    lr = check_real("lr", lr, low=0.0, high=1e3, low_inclusive=False)
    eps = check_real("eps", eps, low=0.0, high=1e6)
    seed = check_positive_int("seed", seed, minimum=0)
    try:
        xtr, ytr = _check_data(data.train.x, data.train.y, "train")
        xte, yte = _check_data(data.test.x, data.test.y, "test")
    except AttributeError:
        raise ValueError("`data` must be a mftheory.data.Split with train and test "
                         f"Datasets, got {type(data).__name__}") from None
    if len(ytr) < B:
        raise ValueError(f"`B` must be at most the training set size {len(ytr)}, got {B}")
    dev, _ = _check_device_dtype(device, "float32")
    torch = _torch()
    torch.manual_seed(seed)
    n_out = int(max(ytr.max(), yte.max())) + 1
    net = _bn_mlp(torch, xtr.shape[1], width, depth, n_out, act, eps).to(dev)
    Xtr = torch.as_tensor(xtr, dtype=torch.float32, device=dev)
    Ytr = torch.as_tensor(ytr, device=dev)
    gen = torch.Generator().manual_seed(seed)
    loss_fn = torch.nn.CrossEntropyLoss()
    net.train()
    for _ in range(steps):
        idx = torch.randint(0, len(ytr), (B,), generator=gen).to(dev)
        loss = loss_fn(net(Xtr[idx]), Ytr[idx])
        net.zero_grad()
        loss.backward()
        _sgd_step(net, lr, torch)
    correct = 0
    with torch.no_grad():
        Xte = torch.as_tensor(xte, dtype=torch.float32, device=dev)
        Yte = torch.as_tensor(yte, device=dev)
        n_full = (len(yte) // B) * B
        for i in range(0, n_full, B):
            pred = net(Xte[i:i + B]).argmax(dim=1)
            correct += int((pred == Yte[i:i + B]).sum())
    if not math.isfinite(float(loss.detach())):
        return 1.0 / n_out
    return correct / n_full


def sgd_step_profile(data, *, depth=50, width=256, B=64, lr=0.1, steps=1, eps=1e-5, seed=0,
                     device=None):
    r"""Per-layer norms before and after SGD steps on a deep ReLU BN network (Fig. 3 of [1]_).

    Returns a dict of arrays of shape (steps + 1, depth): ``'weight'`` (Frobenius norm of
    :math:`W^l`), ``'grad_z'`` (:math:`\|\partial L/\partial z^l\|`) and ``'grad_w'``
    (:math:`\|\partial L/\partial W^l\|`), row ``t`` measured on the same fixed batch after
    ``t`` steps of plain SGD (each step on a fresh batch of size ``B``).
    """
    depth = check_positive_int("depth", depth, minimum=2, maximum=10_000)
    width = check_positive_int("width", width, maximum=100_000)
    B = _check_B(B)
    lr = check_real("lr", lr, low=0.0, high=1e3, low_inclusive=False)
    steps = check_positive_int("steps", steps, maximum=10_000)
    eps = check_real("eps", eps, low=0.0, high=1e6)
    seed = check_positive_int("seed", seed, minimum=0)
    try:
        xtr, ytr = _check_data(data.train.x, data.train.y, "train")
    except AttributeError:
        raise ValueError("`data` must be a mftheory.data.Split with train and test "
                         f"Datasets, got {type(data).__name__}") from None
    if len(ytr) < B:
        raise ValueError(f"`B` must be at most the training set size {len(ytr)}, got {B}")
    dev, _ = _check_device_dtype(device, "float32")
    torch = _torch()
    torch.manual_seed(seed)
    net = _bn_mlp(torch, xtr.shape[1], width, depth, int(ytr.max()) + 1, "relu", eps).to(dev)
    linears = [m for m in net if isinstance(m, torch.nn.Linear)][:depth]
    X = torch.as_tensor(xtr, dtype=torch.float32, device=dev)
    Y = torch.as_tensor(ytr, device=dev)
    gen = torch.Generator().manual_seed(seed)
    probe = torch.randint(0, len(ytr), (B,), generator=gen).to(dev)
    loss_fn = torch.nn.CrossEntropyLoss()
    out = {k: np.zeros((steps + 1, depth)) for k in ("weight", "grad_z", "grad_w")}
    zs = []
    def keep(module, inputs, output):
        if output.requires_grad:
            output.retain_grad()
        zs.append(output)

    hooks = [lin.register_forward_hook(keep) for lin in linears]

    def measure(t):
        zs.clear()
        net.zero_grad()
        loss_fn(net(X[probe]), Y[probe]).backward()
        for i, lin in enumerate(linears):
            out["weight"][t, i] = float(lin.weight.detach().norm())
            out["grad_w"][t, i] = float(lin.weight.grad.norm())
            out["grad_z"][t, i] = float(zs[i].grad.norm())

    measure(0)
    for t in range(1, steps + 1):
        idx = torch.randint(0, len(ytr), (B,), generator=gen).to(dev)
        zs.clear()
        net.zero_grad()
        loss_fn(net(X[idx]), Y[idx]).backward()
        _sgd_step(net, lr, torch)
        measure(t)
    for h in hooks:
        h.remove()
    if not all(np.all(np.isfinite(v)) for v in out.values()):
        raise ValueError(f"the training diverged (non-finite norms) with lr = {lr:g}; "
                         "use a smaller `lr`")
    return out

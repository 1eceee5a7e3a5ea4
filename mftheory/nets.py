r"""Finite random networks in torch: the simulations that the signal-propagation chapter lays over
the mean-field theory of :mod:`mftheory.signal`.

The network (Poole et al. 2016; Schoenholz et al. 2017). An input
:math:`\mathbf x_0\in\mathbb R^{d_0}` goes
through :math:`L` layers

.. math::

    \mathbf z_k = W_k\mathbf x_{k-1}+\mathbf b_k,\qquad \mathbf x_k=\phi(\mathbf z_k),\qquad
    (W_k)_{ij}\sim\mathcal N(0,\sigma_w^2/d_{k-1}),\quad
    (\mathbf b_k)_i\sim\mathcal N(0,\sigma_b^2),

:math:`k=1,\dots,L`, all entries independent, widths :math:`d_0,\dots,d_L` arbitrary. The first
layer acts on the raw input (no :math:`\phi` on :math:`\mathbf x_0`). Measured per layer, on the
pre-activations (not the post-activations):

* the length :math:`q_k^a=|\mathbf z_k^a|^2/d_k` of every input :math:`a`;
* the (uncentred) correlation of two inputs
  :math:`c_k=\langle\mathbf z_k^a,\mathbf z_k^b\rangle/(|\mathbf z_k^a|\,|\mathbf z_k^b|)`;
* backpropagated errors: with a random output error :math:`\mathbf g\sim\mathcal N(0,I_{d_L})`,
  i.e. the loss :math:`\langle\mathbf g,\mathbf z_L\rangle`,
  :math:`\boldsymbol\delta_L=\mathbf g` and
  :math:`\boldsymbol\delta_k=\phi'(\mathbf z_k)\odot(W_{k+1}^\top\boldsymbol\delta_{k+1})
  =\partial\langle\mathbf g,\mathbf z_L\rangle/\partial\mathbf z_k`, reported as
  :math:`|\boldsymbol\delta_k|^2`. Mean-field theory predicts
  :math:`|\boldsymbol\delta_k|^2\approx\chi_1|\boldsymbol\delta_{k+1}|^2` for any widths (fan-in
  variance convention); for the linear network
  :math:`\mathbb E\,|\boldsymbol\delta_k|^2=\sigma_w^2\,\mathbb E\,|\boldsymbol\delta_{k+1}|^2`
  holds exactly.

The backward pass is written by hand and agrees with torch autograd to rounding
(:func:`weight_gradients` computes both).

Randomness and cost
-------------------
Drawing the Gaussian weights dominates the cost (a width-1000 layer is :math:`10^6` numbers and
one matrix-vector product). With an integer seed the weights come from a torch generator on the
device, drawn as float32 normals (2.5 times faster than NumPy's float64 normals on the CPU) and
cast to the working precision; with a NumPy generator, from that generator in float64. A seed
gives different networks on CPU and GPU (the statistics are the same). The weights are kept for
the backward pass when they take at most 256 MB, and redrawn from saved generator states
otherwise, so memory stays at one layer for any depth and width. Measured on 2 idle CPU cores:
one network of width 1000 and depth 30 with backprop takes about 0.25 s in float64, of which
drawing the weights is 0.12 s and casting them to float64 0.06 s.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass, field

import numpy as np

from ._validate import (check_array, check_bool, check_choice, check_device, check_positive_int,
                        check_real)
from .gaussian import check_activation

__all__ = [
    "Propagation",
    "Simulation",
    "PCA",
    "propagate",
    "simulate",
    "two_inputs",
    "circle_inputs",
    "pca_project",
    "circle_profile",
    "Circle",
    "circle_experiment",
    "layer_preactivations",
    "excess_kurtosis",
    "conditional_excess_kurtosis",
    "weight_gradients",
]

# Keep the weights between the forward and backward pass up to this many bytes; above, redraw them.
_WEIGHT_LAWS = ("gaussian", "rademacher")
_STORE_LIMIT_BYTES = 2**28


def _torch():
    import torch  # lazily: importing mftheory must not need torch

    return torch


# --------------------------------------------------------------------------------------
# Activations in torch (same conventions as mftheory.gaussian: ReLU has phi'(0) = 0)
# --------------------------------------------------------------------------------------
def _torch_activation(act):
    torch = _torch()
    two_over_sqrt_pi = 2.0 / math.sqrt(math.pi)
    if act == "linear":
        return (lambda z: z), (lambda z: torch.ones_like(z))
    if act == "relu":
        return torch.relu, (lambda z: (z > 0).to(z.dtype))
    if act == "tanh":
        def dtanh(z):
            t = torch.tanh(z)
            return 1.0 - t * t

        return torch.tanh, dtanh
    return torch.erf, (lambda z: two_over_sqrt_pi * torch.exp(-z * z))   # 'erf'


# --------------------------------------------------------------------------------------
# Validation helpers
# --------------------------------------------------------------------------------------
def _check_widths(widths):
    if isinstance(widths, (str, bytes)) or not hasattr(widths, "__len__"):
        raise ValueError(f"`widths` must be a list [d0, d1, ..., dL] of integers >= 1, "
                         f"got {widths!r}")
    widths = [check_positive_int("widths entry", w) for w in widths]
    if len(widths) < 2:
        raise ValueError(f"`widths` needs at least two entries [d0, d1] (input and one layer), "
                         f"got {widths!r}")
    return widths


def _check_variances(sigma_w2, sigma_b2):
    sigma_w2 = check_real("sigma_w2", sigma_w2, low=0.0, low_inclusive=False)
    sigma_b2 = check_real("sigma_b2", sigma_b2, low=0.0)
    return sigma_w2, sigma_b2


def _check_device_dtype(device, dtype):
    torch = _torch()
    if device is None:
        from .runtime import device as default_device

        device = default_device()
    device = check_device("device", device, allow_none=False)      # 'cpu', or 'cuda' with a GPU
    if dtype not in (torch.float32, torch.float64):
        raise ValueError(f"`dtype` must be torch.float32 or torch.float64, got {dtype!r}")
    return device, dtype


# --------------------------------------------------------------------------------------
# Random streams
# --------------------------------------------------------------------------------------
def _numpy_rng(generator):
    """A NumPy Generator from None / int / NumPy Generator (for inputs, always drawn in float64)."""
    if generator is None or (isinstance(generator, numbers.Integral)
                             and not isinstance(generator, bool)):
        if generator is not None and not 0 <= generator < 2**64:   # simulate() uses < 2**62
            raise ValueError(f"`generator` as a seed must be an integer in [0, 2**64), "
                             f"got {generator}")
        return np.random.default_rng(generator)
    if isinstance(generator, np.random.Generator):
        return generator
    raise ValueError("`generator` must be None, an integer seed >= 0, a numpy.random.Generator "
                     f"or a torch.Generator, got {type(generator).__name__}")


def _std_normal_np(generator, shape):
    """Standard normals as a float64 NumPy array from any accepted generator type."""
    torch = _torch()
    if isinstance(generator, torch.Generator):
        out = torch.randn(shape, generator=generator, device=generator.device, dtype=torch.float64)
        return out.cpu().numpy()
    return _numpy_rng(generator).standard_normal(shape)


class _Stream:
    """Standard normal tensors on (device, dtype) with save/restore of the generator state."""

    def __init__(self, generator, device, dtype):
        torch = _torch()
        self.device, self.dtype = device, dtype
        if isinstance(generator, torch.Generator):
            if generator.device.type != device.type:
                raise ValueError(f"the torch `generator` lives on {generator.device.type!r} but "
                                 f"the network runs on {device.type!r}; give a generator on the "
                                 "same device or an integer seed")
            self.torch_gen, self.np_gen = generator, None
        elif isinstance(generator, np.random.Generator):
            self.torch_gen, self.np_gen = None, generator
        else:                                         # int or None: a torch generator on the device
            seed = _numpy_rng(generator).integers(2**62)
            self.torch_gen = torch.Generator(device=device).manual_seed(int(seed))
            self.np_gen = None

    def normal(self, shape):
        torch = _torch()
        if self.np_gen is not None:
            arr = self.np_gen.standard_normal(shape)
            return torch.from_numpy(arr).to(self.device, self.dtype)
        # Torch draws float32 normals 2.5 times faster than NumPy draws float64 ones on the CPU
        # (and drawing is most of the cost); rounding a N(0, 1) sample at 6e-8 relative changes no
        # statistic we measure. Drawn in float32 for both precisions: a seed gives the same network.
        out = torch.randn(shape, generator=self.torch_gen, device=self.device, dtype=torch.float32)
        return out.to(self.dtype)

    def state(self):
        if self.np_gen is not None:
            return self.np_gen.bit_generator.state
        return self.torch_gen.get_state()

    def restore(self, state):
        if self.np_gen is not None:
            self.np_gen.bit_generator.state = state
        else:
            self.torch_gen.set_state(state)


# --------------------------------------------------------------------------------------
# Inputs
# --------------------------------------------------------------------------------------
def _orthonormal_pair(d0, generator):
    g = _std_normal_np(generator, (d0, 2))
    qmat, r = np.linalg.qr(g)
    qmat = qmat * np.sign(np.diag(r))            # a definite orientation (Haar-distributed pair)
    return qmat[:, 0], qmat[:, 1]


def two_inputs(d0, q0=1.0, c0=0.9, *, generator=None):
    r"""Two inputs with prescribed length and cosine, in a random orientation.

    .. math::

        \mathbf x_a=\sqrt{d_0q_0}\,\mathbf u,\qquad
        \mathbf x_b=\sqrt{d_0q_0}\,\big(c_0\mathbf u+\sqrt{1-c_0^2}\,\mathbf v\big),

    with :math:`\mathbf u,\mathbf v` orthonormal and uniformly random, so that
    :math:`|\mathbf x_a|^2/d_0=|\mathbf x_b|^2/d_0=q_0` and
    :math:`\cos(\mathbf x_a,\mathbf x_b)=c_0` up to rounding.

    Parameters
    ----------
    d0 : int
        Input dimension, at least 2.
    q0 : float
        Squared length per coordinate, > 0.
    c0 : float
        Cosine of the two inputs, in [-1, 1].
    generator : None, int, numpy.random.Generator or torch.Generator
        Source of the random orientation (an int is a seed).

    Returns
    -------
    numpy.ndarray
        Shape ``(2, d0)``, float64.
    """
    d0 = check_positive_int("d0", d0, minimum=2)
    q0 = check_real("q0", q0, low=0.0, low_inclusive=False)
    c0 = check_real("c0", c0, low=-1.0, high=1.0)
    u, v = _orthonormal_pair(d0, generator)
    r = math.sqrt(d0 * q0)
    return np.stack([r * u, r * (c0 * u + math.sqrt(1.0 - c0 * c0) * v)])


def circle_inputs(n_points, d0, q0=1.0, *, generator=None):
    r"""Inputs on a great circle (Poole et al. 2016):
    :math:`\mathbf x(\theta_j)=\sqrt{d_0q_0}\,(\mathbf u\cos\theta_j+\mathbf v\sin\theta_j)`,
    :math:`\theta_j=2\pi j/n`, :math:`j=0,\dots,n-1`, with :math:`\mathbf u,\mathbf v` random
    orthonormal; every point has :math:`|\mathbf x|^2/d_0=q_0`.

    Parameters
    ----------
    n_points : int
        Number of points, at least 3.
    d0 : int
        Input dimension, at least 2.
    q0 : float
        Squared length per coordinate, > 0 (the chapter uses the fixed point :math:`q^*`).
    generator : None, int, numpy.random.Generator or torch.Generator
        Source of the plane of the circle.

    Returns
    -------
    numpy.ndarray
        Shape ``(n_points, d0)``, float64; row ``j`` is the point at angle :math:`2\pi j/n`.
    """
    n_points = check_positive_int("n_points", n_points, minimum=3)
    d0 = check_positive_int("d0", d0, minimum=2)
    q0 = check_real("q0", q0, low=0.0, low_inclusive=False)
    u, v = _orthonormal_pair(d0, generator)
    theta = 2 * np.pi * np.arange(n_points) / n_points
    return math.sqrt(d0 * q0) * (np.cos(theta)[:, None] * u + np.sin(theta)[:, None] * v)


# --------------------------------------------------------------------------------------
# One network
# --------------------------------------------------------------------------------------
@dataclass
class Propagation:
    r"""Per-layer measurements of one random network (numpy float64, row ``k-1`` is layer ``k``).

    Attributes
    ----------
    q : ndarray, shape (L, n)
        :math:`q_k^a=|\mathbf z_k^a|^2/d_k` for every input ``a``.
    c : ndarray, shape (L,), or None
        Correlation of inputs 0 and 1 on the pre-activations (None for a single input).
    grad_sq : ndarray, shape (L,), or None
        :math:`|\boldsymbol\delta_k|^2` for input 0 (None when ``backprop=False``).
    corr : ndarray, shape (L, n, n), or None
        All pairwise correlations (when ``correlations=True``).
    activations : dict
        Post-activations :math:`\mathbf x_k`, shape ``(n, d_k)``, of the layers asked for in
        ``keep_activations``, keyed by ``k``.
    output_error : ndarray, shape (d_L,), or None
        The random output error :math:`\mathbf g=\boldsymbol\delta_L`.
    weights : list of (W, b), or None
        The weights :math:`W_k` (shape ``(d_k, d_{k-1})``) and biases (when
        ``return_weights=True``).
    """

    act: str
    widths: tuple
    sigma_w2: float
    sigma_b2: float
    q: np.ndarray
    c: np.ndarray | None = None
    grad_sq: np.ndarray | None = None
    corr: np.ndarray | None = None
    activations: dict = field(default_factory=dict)
    output_error: np.ndarray | None = None
    weights: list | None = None

    @property
    def depth(self) -> int:
        """Number of layers L."""
        return len(self.widths) - 1

    @property
    def layers(self) -> np.ndarray:
        """Layer numbers 1..L, aligned with the rows of ``q``, ``c``, ``grad_sq``."""
        return np.arange(1, self.depth + 1)


def _check_inputs(x, d0, device, dtype):
    torch = _torch()
    if isinstance(x, torch.Tensor):
        x = x.detach().to("cpu", torch.float64).numpy()
    x = check_array("x", x)
    if x.ndim == 1:
        x = x[None, :]
    if x.ndim != 2 or x.shape[1] != d0 or x.shape[0] < 1:
        raise ValueError(f"`x` must have shape (n_inputs, d0) = (n, {d0}) (or ({d0},) for one "
                         "input), "
                         f"got shape {x.shape}")
    return torch.as_tensor(x, dtype=dtype, device=device)


def _keep_layers(keep, depth):
    if keep is False or keep is None:
        return set()
    if keep is True:
        return {depth}
    try:
        layers = list(keep)
    except TypeError:
        raise ValueError(f"`keep_activations` must be a bool or a list of layers in 1..{depth}, "
                         f"got {keep!r}") from None
    out = set()
    for k in layers:
        if isinstance(k, bool) or not isinstance(k, numbers.Integral) or not 1 <= k <= depth:
            raise ValueError(f"`keep_activations` entries must be layers in 1..{depth}, got {k!r}")
        out.add(int(k))
    return out


class NetworkOverflowError(FloatingPointError, ValueError):
    """The signal of a simulated network became non-finite: the arguments (e.g. a huge
    ``sigma_w2``) are outside the range the network can represent. A ``ValueError``, as every
    bad argument of the package, and a ``FloatingPointError``."""


def _check_finite(name, arr):
    arr = np.asarray(arr)
    if arr.size and not np.all(np.isfinite(arr)):
        rows = np.nonzero((~np.isfinite(arr.reshape(arr.shape[0], -1))).any(axis=1))[0]
        raise NetworkOverflowError(
            f"the network's {name} became non-finite at layer {int(rows[0]) + 1} (overflow, or a "
            "pre-activation of length 0); use float64, fewer layers or smaller sigma_w2")


def propagate(act, widths, sigma_w2, sigma_b2, x, *, generator=None, device=None, dtype=None,
              backprop=True, correlations=False, keep_activations=False, return_weights=False,
              weights="gaussian"):
    r"""Send inputs through one random network and measure :math:`q_k`, :math:`c_k`,
    :math:`|\boldsymbol\delta_k|^2` at every layer.

    Parameters
    ----------
    act : {'linear', 'relu', 'tanh', 'erf'}
        Activation :math:`\phi`.
    widths : list of int
        ``[d0, d1, ..., dL]``, each >= 1, at least two entries.
    sigma_w2 : float
        Weight variance :math:`\sigma_w^2>0` (entries of :math:`W_k` have variance
        :math:`\sigma_w^2/d_{k-1}`).
    sigma_b2 : float
        Bias variance :math:`\sigma_b^2\ge0`.
    x : array_like or torch.Tensor, shape (n, d0) or (d0,)
        Inputs (see :func:`two_inputs`, :func:`circle_inputs`).
    generator : None, int, numpy.random.Generator or torch.Generator
        Randomness of the weights and of the output error (an int is a seed; a torch generator
        must live on ``device``).
    device : None, str or torch.device
        Where to compute; default :func:`mftheory.runtime.device`.
    dtype : torch.float64 (default) or torch.float32
        Precision of the computation; results are returned as float64.
    backprop : bool
        Also compute :math:`|\boldsymbol\delta_k|^2` for input 0 with
        :math:`\boldsymbol\delta_L=\mathbf g\sim\mathcal N(0,I)`,
        :math:`\boldsymbol\delta_k=\phi'(\mathbf z_k)\odot W_{k+1}^\top\boldsymbol\delta_{k+1}`.
    correlations : bool
        Also return all pairwise correlations per layer, shape ``(L, n, n)``.
    keep_activations : bool or list of int
        ``True`` keeps the last layer's post-activations :math:`\mathbf x_L`; a list keeps those
        layers' (for the circle's PCA).
    return_weights : bool
        Also return the weights (numpy), e.g. to check the backward pass.
    weights : {'gaussian', 'rademacher'}
        Law of the weights, both of variance :math:`\sigma_w^2/d_{k-1}`: Gaussian (default), or
        :math:`\pm\sqrt{\sigma_w^2/d_{k-1}}` with probability 1/2 each, for which the
        pre-activations are Gaussian only through the central limit theorem.

    Returns
    -------
    Propagation

    Raises
    ------
    ValueError
        Bad arguments, and when the signal overflowed (e.g. ReLU, large :math:`\sigma_w^2`,
        many layers in float32; also a ``FloatingPointError``). The same holds for
        :func:`simulate` and :func:`circle_experiment`, which call this function.
    """
    torch = _torch()
    act = check_activation(act)
    widths = _check_widths(widths)
    sigma_w2, sigma_b2 = _check_variances(sigma_w2, sigma_b2)
    device, dtype = _check_device_dtype(device, torch.float64 if dtype is None else dtype)
    X = _check_inputs(x, widths[0], device, dtype)
    depth = len(widths) - 1
    keep = _keep_layers(keep_activations, depth)
    backprop = check_bool("backprop", backprop)
    correlations = check_bool("correlations", correlations)
    return_weights = check_bool("return_weights", return_weights)
    signs = check_choice("weights", weights, _WEIGHT_LAWS) == "rademacher"
    phi, dphi = _torch_activation(act)
    stream = _Stream(generator, device, dtype)
    itemsize = 4 if dtype == torch.float32 else 8
    n_weights = sum(a * b for a, b in zip(widths[:-1], widths[1:], strict=True))
    store = return_weights or (n_weights * itemsize
                               <= _STORE_LIMIT_BYTES)
    w_std = [math.sqrt(sigma_w2 / d) for d in widths[:-1]]      # w_std[k-1] scales W_k
    b_std = math.sqrt(sigma_b2)
    n = X.shape[0]

    gs, states, slopes, q_rows, c_rows, corr_rows, kept, weights = [], [], [], [], [], [], {}, []
    with torch.no_grad():
        for k in range(1, depth + 1):
            if backprop and not store:
                states.append(stream.state())
            G = stream.normal((widths[k], widths[k - 1]))          # W_k = w_std * G
            if signs:
                G = torch.sign(G)
            b = stream.normal((widths[k],)) * b_std
            Z = (X @ G.T) * w_std[k - 1] + b
            if store:
                gs.append(G)
            if return_weights:
                weights.append(((G * w_std[k - 1]).cpu().double().numpy(),
                                b.cpu().double().numpy()))
            sq = (Z * Z).sum(dim=1)
            q_rows.append(sq / widths[k])
            if n >= 2:
                c_rows.append((Z[0] @ Z[1]) / torch.sqrt(sq[0] * sq[1]))
            if correlations:
                norm = torch.sqrt(sq)
                corr_rows.append((Z @ Z.T) / (norm[:, None] * norm[None, :]))
            if backprop:
                slopes.append(dphi(Z[0]))
            X = phi(Z)
            if k in keep:
                kept[k] = X.cpu().double().numpy()

        grad_sq = g = None
        if backprop:
            g = stream.normal((widths[depth],))
            end_state = None if store else stream.state()
            delta = g
            norms = [None] * depth
            norms[depth - 1] = delta @ delta
            for k in range(depth - 1, 0, -1):                       # delta_k from delta_{k+1}
                if store:
                    G = gs[k]                                       # W_{k+1}
                else:
                    stream.restore(states[k])
                    G = stream.normal((widths[k + 1], widths[k]))
                    if signs:
                        G = torch.sign(G)
                delta = slopes[k - 1] * ((delta @ G) * w_std[k])
                norms[k - 1] = delta @ delta
            if not store:
                stream.restore(end_state)
            grad_sq = torch.stack(norms).cpu().double().numpy()
            g = g.cpu().double().numpy()

    q = torch.stack(q_rows).cpu().double().numpy()
    c = torch.stack(c_rows).cpu().double().numpy() if n >= 2 else None
    corr = torch.stack(corr_rows).cpu().double().numpy() if correlations else None
    _check_finite("lengths q_k", q)
    if c is not None:
        _check_finite("correlations c_k", c)
    if corr is not None:
        _check_finite("correlations", corr)
    if grad_sq is not None:
        _check_finite("backpropagated errors |delta_k|^2", grad_sq)
    return Propagation(act=act, widths=tuple(widths), sigma_w2=sigma_w2, sigma_b2=sigma_b2,
                       q=q, c=c,
                       grad_sq=grad_sq, corr=corr, activations=kept, output_error=g,
                       weights=weights if return_weights else None)


# --------------------------------------------------------------------------------------
# Many seeds
# --------------------------------------------------------------------------------------
_QUANTITIES = ("q", "c", "grad_sq")


@dataclass
class Simulation:
    r"""Two inputs through ``n_seeds`` independent random networks of constant width.

    Arrays have shape ``(n_seeds, depth)``; column ``k-1`` is layer ``k``.

    Attributes
    ----------
    q : ndarray
        :math:`q_k` of input 0 (input 1 has the same law).
    c : ndarray
        :math:`c_k` of the two inputs.
    grad_sq : ndarray
        :math:`|\boldsymbol\delta_k|^2` for input 0.
    q_single, c_single : ndarray
        :math:`q_k` of input 0 alone and :math:`c_k` of the first pair alone: what one network
        does to one pair of inputs (``q`` and ``c`` average over the network's pairs).
    """

    act: str
    sigma_w2: float
    sigma_b2: float
    width: int
    depth: int
    q0: float
    c0: float
    seed: int
    q: np.ndarray
    c: np.ndarray
    grad_sq: np.ndarray
    q_single: np.ndarray | None = None
    c_single: np.ndarray | None = None

    @property
    def n_seeds(self) -> int:
        return self.q.shape[0]

    @property
    def layers(self) -> np.ndarray:
        """Layer numbers 1..depth, aligned with the columns."""
        return np.arange(1, self.depth + 1)

    def mean(self, quantity: str) -> np.ndarray:
        """Mean over seeds of ``'q'``, ``'c'`` or ``'grad_sq'``, shape ``(depth,)``."""
        return getattr(self, check_choice("quantity", quantity, _QUANTITIES)).mean(axis=0)

    def sem(self, quantity: str) -> np.ndarray:
        r"""Standard error of :meth:`mean`: sample standard deviation / :math:`\sqrt{n}`."""
        a = getattr(self, check_choice("quantity", quantity, _QUANTITIES))
        return a.std(axis=0, ddof=1) / math.sqrt(a.shape[0])

    def grad_ratio(self) -> np.ndarray:
        r"""Per-layer ratios :math:`|\boldsymbol\delta_k|^2/|\boldsymbol\delta_{k+1}|^2`,
        :math:`k=1,\dots,L-1`, per seed: shape ``(n_seeds, depth-1)`` (theory: :math:`\chi_1`)."""
        return self.grad_sq[:, :-1] / self.grad_sq[:, 1:]

    def grad_rate(self, first: int = 1, last: int | None = None) -> tuple[float, float]:
        r"""Geometric-mean ratio over layers ``first..last``, mean and standard error over seeds.

        Per seed, :math:`r=\big(|\boldsymbol\delta_{\rm first}|^2/|\boldsymbol\delta_{\rm last}|^2
        \big)^{1/({\rm last}-{\rm first})}`, the geometric mean of the ratios of
        :meth:`grad_ratio` for :math:`k={\rm first},\dots,{\rm last}-1`; compare with
        :math:`\chi_1` (skip the first layers, where :math:`q_k` has not yet reached
        :math:`q^*`).

        Returns
        -------
        (float, float)
            Mean of :math:`r` over seeds and its standard error.
        """
        last = self.depth if last is None else last
        first = check_positive_int("first", first, minimum=1)
        last = check_positive_int("last", last, minimum=first + 1)
        if last > self.depth:
            raise ValueError(f"`last` must be <= depth = {self.depth}, got {last}")
        r = (self.grad_sq[:, first - 1] / self.grad_sq[:, last - 1]) ** (1.0 / (last - first))
        return float(r.mean()), float(r.std(ddof=1) / math.sqrt(r.size))


def simulate(act, sigma_w2, sigma_b2, *, width, depth, q0=1.0, c0=0.9, n_seeds=6, seed=0,
             device=None,
             dtype=None, n_pairs=1, first=0):
    r"""Measure :math:`q_k`, :math:`c_k`, :math:`|\boldsymbol\delta_k|^2` in ``n_seeds`` random
    networks of widths ``[width] * (depth + 1)`` (input dimension = width) on ``n_pairs`` pairs of
    inputs from :func:`two_inputs` with length :math:`q_0` and cosine :math:`c_0`.

    With ``n_pairs > 1`` each network's ``q`` is the average over its ``2 n_pairs`` inputs and its
    ``c`` the average over its pairs (independently oriented): nearly free (the weights, not the
    inputs, cost the time) and it reduces the spread between networks. The networks remain the
    independent units, so :meth:`Simulation.sem` stays an honest standard error.

    Compare with :func:`mftheory.signal.trajectory` (same first-layer convention
    :math:`q_1=\sigma_w^2q_0+\sigma_b^2`) and with :math:`\chi_1` (:meth:`Simulation.grad_rate`).

    Parameters
    ----------
    act, sigma_w2, sigma_b2
        As in :func:`propagate`.
    width, depth : int
        Width >= 2 of every layer (and of the input), number of layers >= 1.
    q0, c0 : float
        Input length (> 0) and cosine (in [-1, 1]).
    n_seeds : int
        Independent networks, >= 2 so that a standard error exists.
    n_pairs : int
        Input pairs per network (>= 1); ``grad_sq`` is measured for the first input.
    seed : int
        Master seed (>= 0); network ``i`` uses the ``i``-th child of
        ``numpy.random.SeedSequence(seed)``.
    first : int
        Index (>= 0) of the first network: the call simulates networks
        ``first, ..., first + n_seeds - 1`` of that master seed. Chunks run separately (on
        several workers, see :mod:`mftheory.sweep`) are then the very networks of one call,
        and their concatenated arrays equal its arrays.
    device, dtype
        As in :func:`propagate`.

    Returns
    -------
    Simulation
    """
    act = check_activation(act)
    sigma_w2, sigma_b2 = _check_variances(sigma_w2, sigma_b2)
    width = check_positive_int("width", width, minimum=2)
    depth = check_positive_int("depth", depth)
    q0 = check_real("q0", q0, low=0.0, low_inclusive=False)
    c0 = check_real("c0", c0, low=-1.0, high=1.0)
    n_seeds = check_positive_int("n_seeds", n_seeds, minimum=2)
    n_pairs = check_positive_int("n_pairs", n_pairs)
    seed = check_positive_int("seed", seed, minimum=0)
    first = check_positive_int("first", first, minimum=0, maximum=2**62)
    widths = [width] * (depth + 1)
    q, c, grad_sq, q1, c1 = [], [], [], [], []
    # the children SeedSequence(seed).spawn(first + n_seeds)[first:], without spawning the rest
    for i in range(first, first + n_seeds):
        child = np.random.SeedSequence(seed, spawn_key=(i,))
        rng = np.random.default_rng(child)
        x = np.concatenate([two_inputs(width, q0, c0, generator=rng) for _ in range(n_pairs)])
        net_seed = int(rng.integers(2**62))        # an int: on a GPU the weights are drawn there
        res = propagate(act, widths, sigma_w2, sigma_b2, x, generator=net_seed, device=device,
                        dtype=dtype, correlations=n_pairs > 1)
        q.append(res.q.mean(axis=1))
        q1.append(res.q[:, 0])
        c1.append(res.c)
        if n_pairs > 1:
            pairs = np.arange(n_pairs)
            c.append(res.corr[:, 2 * pairs, 2 * pairs + 1].mean(axis=1))
        else:
            c.append(res.c)
        grad_sq.append(res.grad_sq)
    return Simulation(act=act, sigma_w2=sigma_w2, sigma_b2=sigma_b2, width=width, depth=depth,
                      q0=q0,
                      c0=c0, seed=seed, q=np.array(q), c=np.array(c), grad_sq=np.array(grad_sq),
                      q_single=np.array(q1), c_single=np.array(c1))


# --------------------------------------------------------------------------------------
# PCA of a propagated point cloud
# --------------------------------------------------------------------------------------
@dataclass
class PCA:
    r"""Top-``k`` principal components of the rows of a matrix :math:`H` (``n`` points).

    Attributes
    ----------
    scores : ndarray, shape (n, k)
        The projection :math:`(H-\bar H)V_k` of the centred rows on the components.
    components : ndarray, shape (k, d)
        Orthonormal principal directions :math:`V_k^\top`, by decreasing variance.
    explained_variance : ndarray, shape (k,)
        Variance along each direction, :math:`s_i^2/(n-1)`, decreasing.
    explained_variance_ratio : ndarray, shape (k,)
        Its fraction of the total variance.
    """

    scores: np.ndarray
    components: np.ndarray
    explained_variance: np.ndarray
    explained_variance_ratio: np.ndarray


def pca_project(h, k=3):
    r"""Project the rows of ``h`` on their top-``k`` principal components (NumPy SVD).

    With :math:`H-\bar H=USV^\top` (rows centred), the scores are :math:`U_kS_k=(H-\bar H)V_k`.
    Signs are fixed so that the largest-magnitude entry of each component is positive.

    Parameters
    ----------
    h : array_like, shape (n, d)
        Points as rows, e.g. ``Propagation.activations[L]``; n >= 2.
    k : int
        Number of components, 1 <= k <= min(n, d).

    Returns
    -------
    PCA
    """
    h = check_array("h", h, ndim=2)
    n, d = h.shape
    if n < 2:
        raise ValueError(f"`h` needs at least 2 rows (points), got shape {h.shape}")
    k = check_positive_int("k", k)
    if k > min(n, d):
        raise ValueError(f"`k` must be <= min(n, d) = {min(n, d)} for `h` of shape {h.shape}, "
                         f"got {k}")
    centred = h - h.mean(axis=0)
    _, s, vt = np.linalg.svd(centred, full_matrices=False)
    vt = vt[:k]
    sign = np.sign(vt[np.arange(k), np.argmax(np.abs(vt), axis=1)])
    vt = vt * np.where(sign == 0, 1.0, sign)[:, None]
    var = s ** 2 / (n - 1)
    total = var.sum()
    ratio = var[:k] / total if total > 0 else np.zeros(k)
    return PCA(scores=centred @ vt.T, components=vt, explained_variance=var[:k],
               explained_variance_ratio=ratio)


def circle_profile(corr):
    r"""Mean correlation against angular separation for points on a circle (:func:`circle_inputs`).

    For ``n`` equally spaced points, pairs :math:`(i,j)` with :math:`j-i\equiv\pm d \pmod n` started
    with the same correlation :math:`\cos(2\pi d/n)`; this averages a correlation matrix over them.

    Parameters
    ----------
    corr : array_like, shape (n, n)
        A correlation matrix of the propagated circle, e.g. ``Propagation.corr[k - 1]``.

    Returns
    -------
    (angles, profile) : two arrays of length ``n // 2 + 1``: the separations :math:`2\pi d/n` and
    the mean correlation at each.
    """
    corr = check_array("corr", corr, ndim=2)
    n = corr.shape[0]
    if corr.shape != (n, n) or n < 3:
        raise ValueError(f"`corr` must be a square matrix of at least 3 points, got shape "
                         f"{corr.shape}")
    idx = np.arange(n)
    sep = (idx[None, :] - idx[:, None]) % n
    sep = np.minimum(sep, n - sep)
    d = np.arange(n // 2 + 1)
    counts = np.bincount(sep.ravel(), minlength=d.size)
    profile = np.bincount(sep.ravel(), weights=corr.ravel(), minlength=d.size) / counts
    return 2 * np.pi * d / n, profile


@dataclass
class Circle:
    r"""A circle of inputs propagated through several random networks (:func:`circle_experiment`).

    Attributes
    ----------
    angles : ndarray, shape (m,)
        Angular separations :math:`2\pi d/n`, :math:`d=0..n/2`, of pairs of input points.
    profiles : ndarray, shape (n_networks, m)
        Mean last-layer correlation of the pairs at each separation, per network.
    pca : PCA
        Top-3 principal components of the first network's last-layer post-activations.
    output_length : float
        :math:`|\mathbf x_L|^2/d_L` of the first network (averaged over its points): the scale of
        the curve had it kept its size.
    q0 : float
        The inputs' :math:`|\mathbf x_0|^2/d_0`.
    """

    angles: np.ndarray
    profiles: np.ndarray
    pca: PCA
    output_length: float
    q0: float

    @property
    def mean(self) -> np.ndarray:
        """Mean over networks of :attr:`profiles`."""
        return self.profiles.mean(axis=0)

    @property
    def sem(self) -> np.ndarray:
        """Standard error of :attr:`mean` over networks."""
        return self.profiles.std(axis=0, ddof=1) / math.sqrt(self.profiles.shape[0])


def circle_experiment(act, sigma_w2, sigma_b2, *, width, depth, n_points=120, n_networks=8, q0=1.0,
                      seed=0, device=None, dtype=None):
    r"""Propagate a great circle of inputs (Poole et al. 2016) through ``n_networks`` networks.

    Network ``i`` gets its own circle (:func:`circle_inputs`, seed ``seed + i``) and weights
    (seed ``seed + n_networks + i``), of constant ``width``. The last layer's pair correlations
    are averaged by angular separation (:func:`circle_profile`), to compare with the c-map
    started at :math:`c_0=\cos\Delta\theta`; the first network's last layer is also projected on
    its top 3 principal components (:func:`pca_project`) for the picture.

    Parameters
    ----------
    act, sigma_w2, sigma_b2
        As in :func:`propagate`.
    width, depth : int
        Width (>= 3) of the input and every layer, and number of layers (>= 1).
    n_points : int
        Points on the circle (>= 3).
    n_networks : int
        Independent networks (>= 2, for a standard error).
    q0 : float
        :math:`|\mathbf x_0|^2/d_0` of every point (> 0).
    seed : int
        Base seed (>= 0).
    device, dtype
        As in :func:`propagate` (float32 halves the cost of the wide circle's matrix products).

    Returns
    -------
    Circle
    """
    act = check_activation(act)
    sigma_w2, sigma_b2 = _check_variances(sigma_w2, sigma_b2)
    width = check_positive_int("width", width, minimum=3)
    depth = check_positive_int("depth", depth)
    n_points = check_positive_int("n_points", n_points, minimum=3)
    n_networks = check_positive_int("n_networks", n_networks, minimum=2)
    q0 = check_real("q0", q0, low=0.0, low_inclusive=False)
    seed = check_positive_int("seed", seed, minimum=0)
    profiles, pca, length, angles = [], None, 0.0, None
    for i in range(n_networks):
        x = circle_inputs(n_points, width, q0, generator=seed + i)
        res = propagate(act, [width] * (depth + 1), sigma_w2, sigma_b2, x,
                        generator=seed + n_networks + i,
                        device=device, dtype=dtype, backprop=False, correlations=True,
                        keep_activations=[depth])
        angles, prof = circle_profile(res.corr[-1])
        profiles.append(prof)
        if pca is None:
            pca = pca_project(res.activations[depth], k=3)
            length = float(np.mean(res.activations[depth] ** 2))
    return Circle(angles=angles, profiles=np.array(profiles), pca=pca, output_length=length, q0=q0)


# --------------------------------------------------------------------------------------
# The central limit theorem inside one layer
# --------------------------------------------------------------------------------------
def _check_vector(name, x):
    torch = _torch()
    if isinstance(x, torch.Tensor):
        x = x.detach().to("cpu", torch.float64).numpy()
    x = check_array(name, x, ndim=1, low=-1e150, high=1e150)   # |x| <= 1e150: sums stay finite
    if x.size < 1:
        raise ValueError(f"`{name}` must be a non-empty vector, got shape {x.shape}")
    return x


def layer_preactivations(x, n_out, sigma_w2, sigma_b2, *, weights="rademacher", n_draws=1,
                         generator=None):
    r"""Pre-activations :math:`z_i=\sum_jW_{ij}x_j+b_i` of ``n_out`` neurons fed the same ``x``.

    Given :math:`\mathbf x` (of dimension :math:`d`), the :math:`z_i` are i.i.d.: with Gaussian
    weights exactly :math:`\mathcal N(0,\sigma_w^2|\mathbf x|^2/d+\sigma_b^2)`; with Rademacher
    weights :math:`\pm\sqrt{\sigma_w^2/d}` each :math:`z_i` is a sum of :math:`d` independent
    non-Gaussian terms (plus a Gaussian bias), Gaussian only in the limit :math:`d\to\infty`
    (central limit theorem). See :func:`conditional_excess_kurtosis` for the exact distance.

    Parameters
    ----------
    x : array_like, shape (d,)
        The previous layer's post-activations.
    n_out : int
        Number of neurons (>= 1).
    sigma_w2, sigma_b2 : float
        Weight variance (> 0; entries have variance sigma_w2 / d) and bias variance (>= 0).
    weights : {'rademacher', 'gaussian'}
    n_draws : int
        Independent layers drawn (>= 1).
    generator : None, int or numpy.random.Generator

    Returns
    -------
    ndarray, shape (n_draws, n_out)
    """
    x = _check_vector("x", x)
    n_out = check_positive_int("n_out", n_out)
    n_draws = check_positive_int("n_draws", n_draws)
    sigma_w2, sigma_b2 = _check_variances(sigma_w2, sigma_b2)
    law = check_choice("weights", weights, _WEIGHT_LAWS)
    rng = _numpy_rng(generator)
    d = x.size
    out = np.empty((n_draws, n_out))
    w_std = math.sqrt(sigma_w2 / d)
    for r in range(n_draws):
        if law == "rademacher":                     # 8 signs per random byte
            bits = np.unpackbits(np.frombuffer(rng.bytes(-(-n_out * d // 8)), np.uint8))
            w = bits[: n_out * d].reshape(n_out, d) * 2.0 - 1.0
        else:
            w = rng.standard_normal((n_out, d))
        out[r] = w_std * (w @ x) + math.sqrt(sigma_b2) * rng.standard_normal(n_out)
    return out


def excess_kurtosis(z):
    r"""Sample excess kurtosis along the last axis.

    :math:`\overline{(z-\bar z)^4}/\overline{(z-\bar z)^2}^2-3`.

    0 for a Gaussian; its sampling standard deviation is about :math:`\sqrt{24/n}` for n
    Gaussian values. ``z`` of shape (..., n) with n >= 4 gives shape (...).
    """
    z = check_array("z", z)
    if z.ndim == 0 or z.shape[-1] < 4:
        raise ValueError(f"`z` must hold at least 4 samples along its last axis, got shape "
                         f"{z.shape}")
    scale = np.max(np.abs(z), axis=-1, keepdims=True) if z.size else 1.0
    z = z / np.where(scale > 0, scale, 1.0)             # the kurtosis is scale-free: no overflow
    c = z - z.mean(axis=-1, keepdims=True)
    m2 = (c * c).mean(axis=-1)
    if np.any(m2 == 0):
        raise ValueError("`z` has zero variance: the kurtosis is undefined")
    out = (c ** 4).mean(axis=-1) / m2 ** 2 - 3.0
    return float(out) if out.ndim == 0 else out


def conditional_excess_kurtosis(x, sigma_w2, sigma_b2, *, weights="rademacher"):
    r"""Exact excess kurtosis of :math:`z_i=\sum_jW_{ij}x_j+b_i` given :math:`\mathbf x`.

    Cumulants of independent terms add: with weights of variance :math:`s^2=\sigma_w^2/d` and
    excess kurtosis :math:`\kappa_w` (Rademacher :math:`-2`, Gaussian 0) and a Gaussian bias,

    .. math:: \kappa(z)=\frac{\kappa_w s^4\sum_jx_j^4}{\big(s^2|\mathbf x|^2+\sigma_b^2\big)^2}
              =O(1/d)\quad\text{for spread-out }\mathbf x,

    the rate at which the central limit theorem makes :math:`z` Gaussian.
    """
    x = _check_vector("x", x)
    sigma_w2, sigma_b2 = _check_variances(sigma_w2, sigma_b2)
    law = check_choice("weights", weights, _WEIGHT_LAWS)
    kappa_w = -2.0 if law == "rademacher" else 0.0
    m = float(np.max(np.abs(x)))
    if m == 0.0:
        if sigma_b2 == 0.0:
            raise ValueError("`x` is zero and sigma_b2 = 0: the pre-activations are all 0")
        return 0.0                                       # only the Gaussian bias
    u = x / m       # kappa = kappa_w sum u^4 / (|u|^2 + sigma_b2 / (s^2 m^2))^2, s^2 = sigma_w2/d
    with np.errstate(over="ignore", divide="ignore"):
        t = np.float64(sigma_b2) / (np.float64(sigma_w2) / x.size) / m / m
        return float(kappa_w * np.sum(u ** 4) / (float(u @ u) + t) ** 2)


# --------------------------------------------------------------------------------------
# Weight gradients: backpropagated errors times the layer's input
# --------------------------------------------------------------------------------------
def weight_gradients(act, widths, sigma_w2, sigma_b2, x, *, generator=None, method="backprop"):
    r"""Weight gradients :math:`\nabla_{W_k}\ell` for one input.

    The loss is :math:`\ell=\langle\mathbf g,\mathbf z_L\rangle`.

    The network and the output error :math:`\mathbf g\sim\mathcal N(0,I)` are those of
    :func:`propagate` (float64, CPU; weights drawn from ``generator``). ``method='backprop'``
    returns :math:`\boldsymbol\delta_k\mathbf x_{k-1}^\top` with the hand recursion
    :math:`\boldsymbol\delta_L=\mathbf g`,
    :math:`\boldsymbol\delta_k=\phi'(\mathbf z_k)\odot W_{k+1}^\top\boldsymbol\delta_{k+1}`;
    ``method='autograd'`` differentiates :math:`\ell` with torch autograd. The two agree to
    rounding, which is the link between the errors :math:`\boldsymbol\delta_k` (whose norms the
    chapter follows) and the gradients that training uses.

    Parameters
    ----------
    act, widths, sigma_w2, sigma_b2
        As in :func:`propagate`.
    x : array_like, shape (d0,)
        One input.
    generator : None, int or numpy.random.Generator
    method : {'backprop', 'autograd'}

    Returns
    -------
    list of ndarray
        ``grads[k-1]`` has the shape ``(d_k, d_{k-1})`` of :math:`W_k`.
    """
    torch = _torch()
    act = check_activation(act)
    widths = _check_widths(widths)
    sigma_w2, sigma_b2 = _check_variances(sigma_w2, sigma_b2)
    method = check_choice("method", method, ("backprop", "autograd"))
    x = _check_vector("x", x)
    if x.size != widths[0]:
        raise ValueError(f"`x` must have length d0 = {widths[0]}, got {x.size}")
    rng = _numpy_rng(generator)
    Ws, bs = [], []
    for k in range(1, len(widths)):
        Ws.append(torch.tensor(rng.standard_normal((widths[k], widths[k - 1]))
                               * math.sqrt(sigma_w2 / widths[k - 1]), dtype=torch.float64))
        bs.append(torch.tensor(rng.standard_normal(widths[k]) * math.sqrt(sigma_b2),
                               dtype=torch.float64))
    g = torch.tensor(rng.standard_normal(widths[-1]), dtype=torch.float64)
    phi, dphi = _torch_activation(act)
    h = torch.tensor(x, dtype=torch.float64)
    if method == "autograd":
        for W in Ws:
            W.requires_grad_(True)
        for k, (W, b) in enumerate(zip(Ws, bs, strict=True)):
            z = W @ h + b
            h = phi(z) if k < len(Ws) - 1 else z
        (g @ h).backward()
        return [W.grad.numpy().copy() for W in Ws]
    inputs, zs = [], []
    for W, b in zip(Ws, bs, strict=True):
        inputs.append(h)
        z = W @ h + b
        zs.append(z)
        h = phi(z)
    delta = g
    grads = [None] * len(Ws)
    for k in range(len(Ws) - 1, -1, -1):
        grads[k] = torch.outer(delta, inputs[k]).numpy()
        if k > 0:
            delta = dphi(zs[k - 1]) * (Ws[k].T @ delta)
    return grads

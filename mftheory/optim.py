r"""Gradient descent and Polyak's heavy ball: rates, stability, descent lemma, failure modes.

Implements the optimisation part of Yarotsky's lecture slides [1]_:

* the two iterations, with the standard (Polyak [2]_) indexing of the heavy ball,

  .. math:: \mathbf V^{(n+1)}=\beta\mathbf V^{(n)}+\alpha\nabla L(\mathbf W^{(n)}),\qquad
            \mathbf W^{(n+1)}=\mathbf W^{(n)}-\mathbf V^{(n+1)},

  run on any differentiable function given as numpy code (loss and gradient) or as torch code
  (the gradient then comes from autograd, in float64);
* their rates on quadratics with spectrum in :math:`[\mu, L]`: the optimal step
  :math:`2/(\mu+L)` of gradient descent (GD), Polyak's optimal :math:`(\alpha,\beta)` and the
  spectral radius of the heavy-ball iteration matrix for any :math:`(\alpha,\beta,\lambda)`;
* the slides' literal heavy-ball indexing (:math:`\mathbf W^{(n+1)}=\mathbf W^{(n)}-\mathbf V^{(n)}`),
  kept only to show that it is a delayed-gradient method which diverges at Polyak's parameters;
* the quantities of the descent lemma (Nesterov [3]_, Thm 1.2.4 and the slides' proposition);
* the toy problems of the chapter: a non-convex sum of cosines, a saddle, a tilted double well,
  the curved valley of Baity-Jesi et al. [4]_ and a shallow one-dimensional ReLU network;
  backpropagation versus finite differences;
* the reduction of 3-SAT to the minimisation of a concave quadratic over a polytope (why no
  polynomial-time method finds global minima of non-convex problems in general, unless P = NP),
  checked by brute force on small instances: :func:`sat_satisfiable` tries every assignment,
  :func:`sat_qp_minimum` the objective at every vertex of the polytope (a concave function
  attains its minimum over a polytope at a vertex).

Conventions: ``alpha`` is the learning rate, ``beta`` the momentum, ``mu`` and ``L`` the smallest
and largest Hessian eigenvalue of a quadratic, ``M`` a Lipschitz constant of the gradient.
Arrays of iterates have shape ``(n_steps + 1, d)``: row 0 is the starting point.

References
----------
.. [1] D. Yarotsky, "Optimization of neural networks", lecture slides.
.. [2] B. T. Polyak, "Some methods of speeding up the convergence of iteration methods",
   USSR Comput. Math. Math. Phys. 4 (1964).
.. [3] Y. Nesterov, "Introductory Lectures on Convex Optimization", Kluwer (2004).
.. [4] M. Baity-Jesi et al., "Comparing dynamics: deep neural networks versus glassy systems",
   ICML (2018).
"""

from __future__ import annotations

import math
from typing import Callable, NamedTuple

import numpy as np

from ._validate import check_array, check_bool, check_positive_int, check_real

__all__ = [
    "gd_optimal_step", "polyak_heavy_ball", "gd_rate", "iterations_to_tolerance",
    "heavy_ball_spectral_radius", "slides_heavy_ball_spectral_radius", "heavy_ball_stable",
    "Trajectory", "Quadratic", "quadratic", "torch_objective", "QuadraticRace", "quadratic_race",
    "sufficient_decrease_gaps",
    "gradient_descent", "heavy_ball", "slides_heavy_ball",
    "descent_constant", "min_gradient_bound", "steps_to_epsilon_bound",
    "cosine_sum", "cosine_sum_minimum",
    "saddle", "escape_iterations", "predicted_escape_iteration",
    "double_well", "double_well_stationary_points", "double_well_limits",
    "shallow_relu_teacher", "train_shallow_relu", "ShallowReluRuns", "shallow_relu_runs",
    "mlp_init", "mlp_loss_and_backprop", "finite_difference_gradient",
    "valley", "sat_satisfiable", "sat_qp_minimum",
]


# ----------------------------------------------------------------------------- quadratic rates
def _check_mu_L(mu, L):
    mu = check_real("mu", mu, low=0.0, low_inclusive=False)
    L = check_real("L", L, low=mu)
    return mu, L


def gd_optimal_step(mu, L):
    r"""Optimal constant step of GD on a quadratic with spectrum in [mu, L], and its rate.

    .. math:: \alpha^*=\frac{2}{\mu+L},\qquad \rho^*=\frac{\kappa-1}{\kappa+1},\quad\kappa=L/\mu

    The error after n steps is at most :math:`(\rho^*)^n` times the initial error.

    Examples
    --------
    >>> alpha, rate = gd_optimal_step(1.0, 100.0)
    >>> round(alpha, 7), round(rate, 6)
    (0.019802, 0.980198)
    """
    mu, L = _check_mu_L(mu, L)
    return 2.0 / (mu + L), (L - mu) / (L + mu)          # = (kappa - 1)/(kappa + 1), no overflow


def polyak_heavy_ball(mu, L):
    r"""Polyak's optimal heavy-ball parameters for a quadratic with spectrum in [mu, L].

    .. math:: \alpha^*=\frac{4}{(\sqrt L+\sqrt\mu)^2},\qquad
              \beta^*=\Big(\frac{\sqrt\kappa-1}{\sqrt\kappa+1}\Big)^2,\qquad
              \rho^*=\sqrt{\beta^*}=\frac{\sqrt\kappa-1}{\sqrt\kappa+1}

    They put :math:`\sqrt{\alpha\mu}=1-\sqrt\beta` and :math:`\sqrt{\alpha L}=1+\sqrt\beta`, so that
    every eigenvalue of the iteration matrix has modulus exactly :math:`\sqrt\beta`.

    Examples
    --------
    >>> [round(v, 6) for v in polyak_heavy_ball(1.0, 100.0)]
    [0.033058, 0.669421, 0.818182]
    """
    mu, L = _check_mu_L(mu, L)
    sl, sm = math.sqrt(L), math.sqrt(mu)
    rate = (sl - sm) / (sl + sm)
    return 4.0 / (sl + sm) ** 2, rate * rate, rate


def gd_rate(alpha, mu, L):
    r"""Contraction factor of GD with step alpha on a quadratic with spectrum in [mu, L].

    .. math:: \rho(\alpha)=\max(|1-\alpha\mu|,\,|1-\alpha L|)

    GD converges for every start iff :math:`\rho<1`, i.e. :math:`0<\alpha<2/L`.
    ``alpha`` may be an array.
    """
    mu, L = _check_mu_L(mu, L)
    a = check_array("alpha", alpha, low=0.0, low_inclusive=False)
    out = np.maximum(np.abs(1 - a * mu), np.abs(1 - a * L))
    return float(out) if out.ndim == 0 else out


def iterations_to_tolerance(rate, tol=1e-6):
    r"""Number of iterations n with :math:`\rho^n=\mathrm{tol}`, i.e. :math:`\ln\mathrm{tol}/\ln\rho`.

    Examples
    --------
    >>> round(iterations_to_tolerance(0.9), 1)
    131.1
    """
    r = check_array("rate", rate, low=0.0, high=1.0, low_inclusive=False, high_inclusive=False)
    tol = check_real("tol", tol, low=0.0, high=1.0, low_inclusive=False, high_inclusive=False)
    out = np.log(tol) / np.log(r)
    return float(out) if out.ndim == 0 else out


def _radius_monic(t, s):
    """Largest root modulus of z^2 - t z + s (real t, s), without root finding."""
    disc = t * t - 4.0 * s
    # a discriminant within rounding of 0 is a double root (sqrt would turn 1e-16 into 1e-8)
    double = np.abs(disc) <= 8 * np.finfo(float).eps * (t * t + 4.0 * np.abs(s))
    real = 0.5 * (np.abs(t) + np.sqrt(np.clip(disc, 0.0, None)))
    cplx = np.sqrt(np.clip(s, 0.0, None))           # disc <= 0 => s >= t^2/4 >= 0, |z|^2 = s
    return np.where((disc > 0) & ~double, real, cplx)


def _abl(alpha, beta, lam):
    a = check_array("alpha", alpha, low=0.0, low_inclusive=False)
    b = check_array("beta", beta, low=0.0, high=1.0, high_inclusive=False)
    lam = check_array("lam", lam)
    return np.broadcast_arrays(a, b, lam)


def heavy_ball_spectral_radius(alpha, beta, lam):
    r"""Spectral radius of the heavy-ball iteration on the eigen-direction lam (broadcast).

    Per eigenvalue :math:`\lambda` of the Hessian, :math:`(x_{n+1},x_n)=T_\lambda(x_n,x_{n-1})` with

    .. math:: T_\lambda=\begin{pmatrix}1+\beta-\alpha\lambda&-\beta\\1&0\end{pmatrix},\qquad
              \det(z-T_\lambda)=z^2-(1+\beta-\alpha\lambda)z+\beta .

    The root moduli are computed in closed form (:math:`\sqrt\beta` when the discriminant is
    :math:`\le0`), exact to rounding even at the double roots of Polyak's parameters, where
    ``np.roots`` loses half the digits. The iteration is stable iff the radius is < 1, i.e.
    :math:`0\le\beta<1` and :math:`0<\alpha\lambda<2(1+\beta)` (Jury's criterion).

    Examples
    --------
    >>> a, b, rate = polyak_heavy_ball(1.0, 100.0)
    >>> abs(heavy_ball_spectral_radius(a, b, 100.0) - rate) < 1e-15
    True
    """
    a, b, lam = _abl(alpha, beta, lam)
    out = _radius_monic(1.0 + b - a * lam, b)
    return float(out) if out.ndim == 0 else out


def slides_heavy_ball_spectral_radius(alpha, beta, lam):
    r"""Spectral radius of the heavy ball with the slides' indexing, on the eigen-direction lam.

    The slides' :math:`\mathbf W^{(n+1)}=\mathbf W^{(n)}-\mathbf V^{(n)}` gives the delayed-gradient
    recursion :math:`x_{n+1}=x_n+\beta(x_n-x_{n-1})-\alpha\lambda x_{n-1}`, with characteristic
    polynomial :math:`z^2-(1+\beta)z+(\beta+\alpha\lambda)`: stable iff :math:`0<\alpha\lambda<1-\beta`.

    Examples
    --------
    >>> a, b, _ = polyak_heavy_ball(1.0, 100.0)
    >>> round(slides_heavy_ball_spectral_radius(a, b, 100.0), 5)
    1.99379
    """
    a, b, lam = _abl(alpha, beta, lam)
    out = _radius_monic(1.0 + b, b + a * lam)
    return float(out) if out.ndim == 0 else out


def heavy_ball_stable(alpha, beta, lam):
    r"""True where the (correctly indexed) heavy ball is stable: :math:`0<\alpha\lambda<2(1+\beta)`.

    This is the region where :func:`heavy_ball_spectral_radius` is < 1; ``beta`` in [0, 1).
    """
    a, b, lam = _abl(alpha, beta, lam)
    out = (a * lam > 0) & (a * lam < 2 * (1 + b))
    return bool(out) if out.ndim == 0 else out


# ----------------------------------------------------------------------------- runners
class Trajectory(NamedTuple):
    """Iterates ``x`` (n_steps+1, d), losses ``loss`` and gradient norms ``grad_norm`` (n_steps+1,)."""

    x: np.ndarray
    loss: np.ndarray
    grad_norm: np.ndarray


class Quadratic(NamedTuple):
    r"""The quadratic :math:`L(x)=\tfrac12x^\top Ax-b^\top x` with ``loss``, ``grad``, ``minimizer``."""

    A: np.ndarray
    b: np.ndarray
    minimizer: np.ndarray
    loss: Callable
    grad: Callable


def quadratic(A, b=None):
    r"""The quadratic :math:`\tfrac12x^\top Ax-b^\top x` for a symmetric positive definite A.

    ``A`` may be a square matrix or a 1-D array of eigenvalues (then :math:`A=\mathrm{diag}`).
    Returns a :class:`Quadratic`; its ``loss`` and ``grad`` are plain numpy functions of x.
    """
    A = check_array("A", A, min_size=1)
    if A.ndim == 1:
        A = np.diag(A)
    if A.ndim != 2 or A.shape[0] != A.shape[1] or not np.allclose(A, A.T, rtol=1e-13, atol=0):
        raise ValueError(f"`A` must be a symmetric square matrix or a 1-D array of "
                         f"eigenvalues, got shape {A.shape}")
    if np.linalg.eigvalsh(A)[0] <= 0:
        raise ValueError("`A` must be positive definite (all eigenvalues > 0)")
    b = np.zeros(A.shape[0]) if b is None else check_array("b", b)
    if b.shape != (A.shape[0],):
        raise ValueError(f"`b` must have shape ({A.shape[0]},), got {b.shape}")
    A, b = A.copy(), b.copy()
    return Quadratic(A, b, np.linalg.solve(A, b), lambda x: 0.5 * x @ A @ x - b @ x,
                     lambda x: A @ x - b)


def torch_objective(fun):
    r"""Turn a torch function of a 1-D float64 tensor into numpy ``(loss, grad)`` callables.

    The gradient is computed by reverse-mode automatic differentiation (backpropagation).

    Examples
    --------
    >>> loss, grad = torch_objective(lambda w: (w ** 2).sum() / 2)
    >>> grad(np.array([1.0, -2.0])).tolist()
    [1.0, -2.0]
    """
    import torch

    if not callable(fun):
        raise ValueError("`fun` must be a callable mapping a torch tensor to a scalar tensor")

    def loss(x):
        with torch.no_grad():
            return float(fun(torch.as_tensor(np.asarray(x, dtype=np.float64))))

    def grad(x):
        t = torch.tensor(np.asarray(x, dtype=np.float64), requires_grad=True)
        (g,) = torch.autograd.grad(fun(t), t)
        return g.detach().numpy().copy()

    return loss, grad


def _setup(loss, grad, x0, alpha, n_steps, torch):
    torch = check_bool("torch", torch)
    if torch:
        if grad is not None:
            raise ValueError("give either a torch `loss` (torch=True) or a numpy `grad`, not both")
        loss, grad = torch_objective(loss)
    elif grad is None:
        raise ValueError("`grad` is required for a numpy loss; pass torch=True for a torch loss")
    if not callable(loss) or not callable(grad):
        raise ValueError("`loss` and `grad` must be callables of a 1-D numpy array")
    x0 = np.atleast_1d(check_array("x0", x0, min_size=1))
    if x0.ndim != 1:
        raise ValueError(f"`x0` must be a 1-D array, got shape {x0.shape}")
    alpha = check_real("alpha", alpha, low=0.0, low_inclusive=False)
    n_steps = check_positive_int("n_steps", n_steps, minimum=0)
    return loss, grad, x0, alpha, n_steps


def _run(loss, grad, x0, alpha, beta, n_steps, variant):
    xs = np.empty((n_steps + 1, x0.size))
    ls = np.empty(n_steps + 1)
    gn = np.empty(n_steps + 1)
    x = x0.copy()
    v = np.zeros_like(x)
    for n in range(n_steps + 1):
        g = np.asarray(grad(x), dtype=float)
        xs[n], ls[n], gn[n] = x, loss(x), math.sqrt(float(g @ g))
        if n == n_steps or not np.all(np.isfinite(x)):
            xs[n + 1:], ls[n + 1:], gn[n + 1:] = np.nan, np.nan, np.nan
            break
        if variant == "gd":
            x = x - alpha * g
        elif variant == "hb":                       # V(n+1) = beta V(n) + alpha g(n); W -= V(n+1)
            v = beta * v + alpha * g
            x = x - v
        else:                                       # slides: W(n+1) = W(n) - V(n)
            x = x - v
            v = beta * v + alpha * g
    return Trajectory(xs, ls, gn)


def gradient_descent(loss, x0, alpha, n_steps, *, grad=None, torch=False):
    r"""Run GD :math:`\mathbf W^{(n+1)}=\mathbf W^{(n)}-\alpha\nabla L(\mathbf W^{(n)})`.

    Parameters
    ----------
    loss : callable
        numpy function of a 1-D array (with ``grad``), or a torch function of a float64 tensor
        (with ``torch=True``; the gradient then comes from autograd).
    x0 : array_like
        Starting point, 1-D.
    alpha : float
        Learning rate, > 0.
    n_steps : int
        Number of steps, >= 0.

    Returns
    -------
    Trajectory
        ``x`` of shape (n_steps+1, d), ``loss`` and ``grad_norm`` of shape (n_steps+1,). If an
        iterate overflows, the rest is filled with nan.

    Examples
    --------
    >>> q = quadratic([1.0, 10.0])
    >>> tr = gradient_descent(q.loss, [1.0, 1.0], 0.1, 2, grad=q.grad)
    >>> tr.x[-1].tolist()
    [0.81, 0.0]
    """
    loss, grad, x0, alpha, n_steps = _setup(loss, grad, x0, alpha, n_steps, torch)
    return _run(loss, grad, x0, alpha, 0.0, n_steps, "gd")


def heavy_ball(loss, x0, alpha, beta, n_steps, *, grad=None, torch=False):
    r"""Run Polyak's heavy ball with the standard indexing (arguments as :func:`gradient_descent`).

    .. math:: \mathbf V^{(n+1)}=\beta\mathbf V^{(n)}+\alpha\nabla L(\mathbf W^{(n)}),\quad
              \mathbf W^{(n+1)}=\mathbf W^{(n)}-\mathbf V^{(n+1)},\quad \mathbf V^{(0)}=0,

    equivalently :math:`\mathbf W^{(n+1)}=\mathbf W^{(n)}-\alpha\nabla L(\mathbf W^{(n)})
    +\beta(\mathbf W^{(n)}-\mathbf W^{(n-1)})`.
    With ``beta = 0`` the iterates equal those of :func:`gradient_descent` bit for bit.
    """
    loss, grad, x0, alpha, n_steps = _setup(loss, grad, x0, alpha, n_steps, torch)
    beta = check_real("beta", beta, low=0.0, high=1.0, high_inclusive=False)
    return _run(loss, grad, x0, alpha, beta, n_steps, "hb")


def slides_heavy_ball(loss, x0, alpha, beta, n_steps, *, grad=None, torch=False):
    r"""The heavy ball *as printed in the slides* — a delayed-gradient method; do not use.

    .. math:: \mathbf W^{(n+1)}=\mathbf W^{(n)}-\mathbf V^{(n)},\qquad
              \mathbf V^{(n+1)}=\alpha\nabla L(\mathbf W^{(n)})+\beta\mathbf V^{(n)},\quad\mathbf V^{(0)}=0.

    It is stable on a quadratic only when :math:`\alpha\lambda<1-\beta` for every eigenvalue
    (see :func:`slides_heavy_ball_spectral_radius`); kept to show the error.
    """
    loss, grad, x0, alpha, n_steps = _setup(loss, grad, x0, alpha, n_steps, torch)
    beta = check_real("beta", beta, low=0.0, high=1.0, high_inclusive=False)
    return _run(loss, grad, x0, alpha, beta, n_steps, "slides")


class QuadraticRace(NamedTuple):
    """GD and heavy-ball runs on diag(1, kappa) with the theory rates (see :func:`quadratic_race`)."""

    gd: Trajectory
    hb: Trajectory
    rate_gd: float
    rate_hb: float
    error_gd: np.ndarray
    error_hb: np.ndarray


def quadratic_race(kappa, alpha, beta, n_steps=100, x0=(1.0, 1.0)):
    r"""GD (step alpha) and heavy ball (alpha, beta) on :math:`\tfrac12(x_1^2+\kappa x_2^2)`.

    Returns both trajectories, their errors :math:`|x_n|` and the theory rates: for GD
    :math:`\max(|1-\alpha|,|1-\alpha\kappa|)`, for the heavy ball the larger spectral radius
    at :math:`\lambda\in\{1,\kappa\}` (the only eigenvalues of this problem). This is the pure
    function behind the quadratic explorer. A diverging run is filled with nan after the step
    where it overflows, as in :func:`gradient_descent`.
    """
    kappa = check_real("kappa", kappa, low=1.0)
    q = quadratic([1.0, kappa])
    gd = gradient_descent(q.loss, x0, alpha, n_steps, grad=q.grad)
    hb = heavy_ball(q.loss, x0, alpha, beta, n_steps, grad=q.grad)
    rate_hb = float(np.max(heavy_ball_spectral_radius(alpha, beta, np.array([1.0, kappa]))))
    return QuadraticRace(gd, hb, gd_rate(alpha, 1.0, kappa), rate_hb,
                         np.linalg.norm(gd.x, axis=1), np.linalg.norm(hb.x, axis=1))


def sufficient_decrease_gaps(trajectory, c):
    r""":math:`L(\mathbf W^{(n+1)})-\big(L(\mathbf W^{(n)})-c|\nabla L(\mathbf W^{(n)})|^2\big)` along a run.

    The descent lemma guarantees every gap is <= 0 when c = :func:`descent_constant` (alpha, M)
    and L is M-smooth. Shape (n_steps,).
    """
    if not isinstance(trajectory, Trajectory):
        raise ValueError("`trajectory` must be a Trajectory returned by gradient_descent")
    c = check_real("c", c)
    return trajectory.loss[1:] - (trajectory.loss[:-1] - c * trajectory.grad_norm[:-1] ** 2)


# ----------------------------------------------------------------------------- descent lemma
def descent_constant(alpha, M):
    r"""Guaranteed decrease constant :math:`c=\alpha(1-\tfrac M2\alpha)` of the descent lemma.

    For an M-smooth L one GD step gives
    :math:`L(\mathbf W^{(n+1)})\le L(\mathbf W^{(n)})-c\,|\nabla L(\mathbf W^{(n)})|^2`.
    c > 0 iff :math:`0<\alpha<2/M`; it is largest, :math:`1/(2M)`, at :math:`\alpha=1/M`.
    ``alpha`` may be an array; values of c <= 0 are returned (no guarantee there).

    Examples
    --------
    >>> descent_constant(0.25, 4.0)
    0.125
    """
    a = check_array("alpha", alpha, low=0.0, low_inclusive=False)
    M = check_real("M", M, low=0.0, low_inclusive=False)
    out = a * (1 - 0.5 * M * a)
    return float(out) if out.ndim == 0 else out


def min_gradient_bound(loss_start, loss_min, c, N):
    r"""The bound :math:`\min_{n\le N}|\nabla L(\mathbf W^{(n)})|\le\sqrt{(L(\mathbf W^{(1)})-\min L)/(cN)}`.

    ``N`` may be an array of counts (>= 1).
    """
    l1 = check_real("loss_start", loss_start)
    lm = check_real("loss_min", loss_min, high=l1)
    c = check_real("c", c, low=0.0, low_inclusive=False)
    N = check_array("N", N, low=1.0)
    out = np.sqrt((l1 - lm) / (c * N))
    return float(out) if out.ndim == 0 else out


def steps_to_epsilon_bound(loss_start, loss_min, c, eps):
    r"""Most steps before :math:`|\nabla L|<\epsilon` first holds.

    .. math:: \lceil(L_1-\min L)/(c\epsilon^2)\rceil

    An int, or ``math.inf`` when the bound exceeds the float range (e.g. ``eps = 5e-324``).
    """
    l1 = check_real("loss_start", loss_start)
    lm = check_real("loss_min", loss_min, high=l1)
    c = check_real("c", c, low=0.0, low_inclusive=False)
    eps = check_real("eps", eps, low=0.0, low_inclusive=False)
    bound = (l1 - lm) / c / eps / eps          # divided in turn: c * eps^2 may underflow to 0
    return int(math.ceil(bound)) if math.isfinite(bound) else math.inf


# ----------------------------------------------------------------------------- toy problems
def cosine_sum(x):
    r"""Non-convex test function :math:`L(x)=\sum_i(\tfrac12x_i^2+3\cos x_i)` and its gradient.

    Its Hessian is :math:`\mathrm{diag}(1-3\cos x_i)\in[-2,4]`, so the gradient is 4-Lipschitz
    (M = 4). Returns ``(loss, grad)``.
    """
    x = np.atleast_1d(check_array("x", x, min_size=1))
    return float(np.sum(0.5 * x * x + 3 * np.cos(x))), x - 3 * np.sin(x)


def cosine_sum_minimum(d):
    r"""Global minimum of :func:`cosine_sum` in d dimensions and the minimiser coordinate x*.

    x* > 0 solves x = 3 sin x (Newton's method to machine precision); min L = d (x*²/2 + 3 cos x*).

    Examples
    --------
    >>> value, xs = cosine_sum_minimum(10)
    >>> round(value, 8), round(xs, 8)
    (6.45509109, 2.27886266)
    """
    d = check_positive_int("d", d)
    x = 2.3
    for _ in range(50):
        x -= (x - 3 * math.sin(x)) / (1 - 3 * math.cos(x))
    return d * (0.5 * x * x + 3 * math.cos(x)), x


def saddle(xy):
    r"""The saddle example :math:`L(x,y)=\tfrac12x^2+\tfrac14y^4-\tfrac12y^2`: ``(loss, grad)``.

    Minima at (0, ±1) with L = -1/4; a strict saddle at (0, 0) with Hessian diag(1, -1).
    ``xy`` may have shape (2,) or (2, m) (m points at once), entries in [-1e75, 1e75].
    """
    xy = check_array("xy", xy, low=-1e75, high=1e75)      # y^4 stays finite
    if xy.ndim == 0 or xy.shape[0] != 2:
        raise ValueError(f"`xy` must have leading dimension 2, got shape {xy.shape}")
    x, y = xy[0], xy[1]
    return 0.5 * x * x + 0.25 * y ** 4 - 0.5 * y * y, np.stack([x, y ** 3 - y])


def escape_iterations(y0, alpha, *, x0=1.0, threshold=0.5, max_steps=100_000):
    r"""First GD iteration at which :math:`|y_n|>` threshold on :func:`saddle`, from (x0, y0).

    Vectorised over ``y0``; runs that never escape (y0 = 0 stays on the stable manifold y = 0)
    return -1. GD step: :math:`x\mapsto(1-\alpha)x`, :math:`y\mapsto y+\alpha(y-y^3)`.
    """
    y0 = check_array("y0", y0, low=-1.0, high=1.0)
    alpha = check_real("alpha", alpha, low=0.0, high=1.0, low_inclusive=False, high_inclusive=False)
    check_real("x0", x0)
    threshold = check_real("threshold", threshold, low=0.0, high=1.0, low_inclusive=False,
                           high_inclusive=False)
    max_steps = check_positive_int("max_steps", max_steps)
    y = np.atleast_1d(y0).astype(float).copy()
    out = np.full(y.shape, -1, dtype=int)
    out[np.abs(y) > threshold] = 0
    for n in range(1, max_steps + 1):
        y = y + alpha * (y - y ** 3)
        new = (out < 0) & (np.abs(y) > threshold)
        out[new] = n
        if np.all(out >= 0) or np.all(y[out < 0] == 0):
            break
    return int(out[0]) if np.ndim(y0) == 0 else out.reshape(np.shape(y0))


def predicted_escape_iteration(y0, alpha, *, threshold=0.5):
    r"""Linearised escape time :math:`\ln(\mathrm{threshold}/|y_0|)/\ln(1+\alpha)` from the saddle.

    Near the saddle :math:`y_{n+1}\approx(1+\alpha)y_n` (Hessian eigenvalue -1), so the escape
    time grows like :math:`\log(1/y_0)`: :math:`\ln10/\ln(1+\alpha)` iterations per decade.
    """
    y0 = check_array("y0", y0, low=0.0, high=1.0, low_inclusive=False)
    alpha = check_real("alpha", alpha, low=0.0, low_inclusive=False)
    threshold = check_real("threshold", threshold, low=0.0, low_inclusive=False)
    out = np.log(threshold / y0) / np.log1p(alpha)
    return float(out) if out.ndim == 0 else out


def double_well(w, tilt=0.3):
    r"""Tilted double well :math:`L(w)=(w^2-1)^2+\mathrm{tilt}\cdot w` and :math:`L'(w)`: ``(loss, dloss)``.

    Vectorised over w. With tilt = 0.3 the global minimum is near -1 and a spurious local
    minimum near +1.
    """
    w = check_array("w", w)
    tilt = check_real("tilt", tilt)
    return (w * w - 1) ** 2 + tilt * w, 4 * w * (w * w - 1) + tilt


def double_well_stationary_points(tilt=0.3):
    r"""Real roots of :math:`4w^3-4w+\mathrm{tilt}`, sorted (min, max, min when |tilt| < 8/(3√3)).

    Examples
    --------
    >>> [round(w, 6) for w in double_well_stationary_points(0.3)]
    [-1.035579, 0.075429, 0.96015]
    """
    tilt = check_real("tilt", tilt)
    r = np.roots([4.0, 0.0, -4.0, tilt])
    r = np.sort(r[np.abs(r.imag) < 1e-9].real)
    for _ in range(3):                                         # polish by Newton
        r = r - (4 * r ** 3 - 4 * r + tilt) / (12 * r * r - 4)
    return r.tolist()


def double_well_limits(w0, alpha, n_steps=2000, tilt=0.3):
    r"""Where GD on :func:`double_well` ends from each start w0 (vectorised): the final iterate.

    Diverging runs (too large alpha) return nan.
    """
    w = check_array("w0", w0).copy()
    alpha = check_real("alpha", alpha, low=0.0, low_inclusive=False)
    n_steps = check_positive_int("n_steps", n_steps)
    tilt = check_real("tilt", tilt)
    with np.errstate(over="ignore", invalid="ignore"):
        for _ in range(n_steps):
            w = w - alpha * (4 * w * (w * w - 1) + tilt)
            w = np.where(np.abs(w) > 1e6, np.nan, w)
    return float(w) if w.ndim == 0 else w


# ----------------------------------------------------------------------------- shallow ReLU net
def shallow_relu_teacher(x):
    r"""Target of the slides' exercise.

    .. math:: y=\mathrm{ReLU}(x+\tfrac12)-2\,\mathrm{ReLU}(x)+2\,\mathrm{ReLU}(x-\tfrac12)
    """
    x = check_array("x", x, low=-1e300, high=1e300)      # |x| <= 1e300: no inf - inf
    r = lambda z: np.maximum(z, 0.0)  # noqa: E731
    return r(x + 0.5) - 2 * r(x) + 2 * r(x - 0.5)


#: Largest number of float64 entries one array of a toy problem here may have (400 MB): a bigger
#: size is refused with a ValueError rather than exhausting the machine's memory.
MAX_ENTRIES = 50_000_000


def _check_entries(names, entries):
    if entries > MAX_ENTRIES:
        raise ValueError(f"{names} too large: arrays of {entries:.3g} numbers (at most "
                         f"{MAX_ENTRIES:.0e}, 400 MB)")


class ShallowReluRuns(NamedTuple):
    """Final state of :func:`shallow_relu_runs`: per run the loss, the gradient norm, the kink
    positions :math:`-b_j/w_j` (``nan`` for :math:`w_j=0`), and how many units are active on
    at least one data point; and the parameters, shapes (R, n) for a, w, b and (R,) for c."""

    loss: np.ndarray
    grad_norm: np.ndarray
    kinks: np.ndarray
    n_active: np.ndarray
    a: np.ndarray
    w: np.ndarray
    b: np.ndarray
    c: np.ndarray


def shallow_relu_runs(width, n_runs, *, n_steps=5000, lr=0.05, n_points=101, seed=0):
    r"""Like :func:`train_shallow_relu`, returning the final state of every run.

    The gradient norm is that of the full parameter vector :math:`(a, w, b, c)` at the final
    point (ReLU' taken as 0 at 0). A run is *stationary* when it is below, e.g., :math:`10^{-6}`:
    gradient descent then no longer moves it, whatever its loss.
    """
    n = check_positive_int("width", width)
    R = check_positive_int("n_runs", n_runs)
    n_steps = check_positive_int("n_steps", n_steps, minimum=0)
    lr = check_real("lr", lr, low=0.0, low_inclusive=False)
    P = check_positive_int("n_points", n_points, minimum=2)
    _check_entries("`width` x `n_runs` x `n_points`", n * R * P)
    rng = np.random.default_rng(check_positive_int("seed", seed, minimum=0))
    x = np.linspace(-1, 1, P)
    y = shallow_relu_teacher(x)
    w = rng.normal(0, 1, (R, n, 1))
    b = rng.normal(0, 0.5, (R, n, 1))
    a = rng.normal(0, 1 / math.sqrt(n), (R, n, 1))
    c = np.zeros((R, 1))
    for step in range(n_steps + 1):
        pre = w * x + b                                    # (R, n, P)
        h = np.maximum(pre, 0.0)
        r = np.sum(a * h, axis=1) + c - y                 # residual (R, P)
        loss = 0.5 * np.mean(r * r, axis=1)
        dpre = (pre > 0) * a * r[:, None, :] / P           # dL/dpre
        ga = np.sum(h * r[:, None, :], axis=2, keepdims=True) / P
        gw = np.sum(dpre * x, axis=2, keepdims=True)
        gb = np.sum(dpre, axis=2, keepdims=True)
        gc = np.mean(r, axis=1, keepdims=True)
        if step == n_steps:
            break
        a, w, b, c = a - lr * ga, w - lr * gw, b - lr * gb, c - lr * gc
    with np.errstate(over="ignore", invalid="ignore"):
        gnorm = np.sqrt(np.sum(ga ** 2 + gw ** 2 + gb ** 2, axis=(1, 2)) + gc[:, 0] ** 2)
    if not (np.all(np.isfinite(loss)) and np.all(np.isfinite(gnorm))):
        raise ValueError(f"`lr` = {lr:g} is too large: gradient descent diverged (overflow); "
                         f"the chapter uses 0.2")
    with np.errstate(divide="ignore", invalid="ignore"):
        kinks = np.where(w[..., 0] != 0, -b[..., 0] / w[..., 0], np.nan)
    active = np.sum(np.any(pre > 0, axis=2), axis=1)
    return ShallowReluRuns(loss, gnorm, kinks, active, a[..., 0], w[..., 0], b[..., 0], c[:, 0])


def train_shallow_relu(width, n_runs, *, n_steps=5000, lr=0.05, n_points=101, seed=0):
    r"""Full-batch GD on a one-hidden-layer ReLU network with 1-D input, many runs at once.

    .. math:: \tfrac1{2P}\sum_p\Big(\sum_j a_j\mathrm{ReLU}(w_jx_p+b_j)+c-y_p\Big)^2


    Data: P = ``n_points`` grid points in [-1, 1], targets :func:`shallow_relu_teacher`.
    A step ``lr`` so large that gradient descent overflows raises ValueError.
    Initialisation: :math:`w\sim\mathcal N(0,1)`, :math:`b\sim\mathcal N(0,1/4)`,
    :math:`a\sim\mathcal N(0,1/n)`,
    c = 0 (n = ``width``). Returns the final losses, shape (n_runs,). The backward pass is
    written by hand (backpropagation through one hidden layer).
    """
    return shallow_relu_runs(width, n_runs, n_steps=n_steps, lr=lr, n_points=n_points,
                             seed=seed).loss


# ----------------------------------------------------------------------------- backprop vs FD
def mlp_init(widths, seed=0):
    r"""Parameters of a tanh MLP with widths [d0, ..., dK] as one flat float64 vector.

    Weights :math:`\mathcal N(0,1/d_{k-1})`, biases 0. Layer k has :math:`d_k(d_{k-1}+1)` numbers.
    """
    widths = _int_list("widths", widths)
    if len(widths) < 2:
        raise ValueError("`widths` needs at least an input and an output width")
    _check_entries("`widths`", sum(a * b + b for a, b in zip(widths[:-1], widths[1:])))
    rng = np.random.default_rng(check_positive_int("seed", seed, minimum=0))
    parts = []
    for d_in, d_out in zip(widths[:-1], widths[1:], strict=True):
        parts += [rng.normal(0, 1 / math.sqrt(d_in), d_out * d_in), np.zeros(d_out)]
    return np.concatenate(parts)


def _int_list(name, values):
    if not isinstance(values, (list, tuple, np.ndarray)) or getattr(values, "ndim", 1) != 1:
        raise ValueError(f"`{name}` must be a list of integers >= 1, got {type(values).__name__}")
    return [check_positive_int(name, w) for w in values]


def _unpack(theta, widths):
    out, i = [], 0
    for d_in, d_out in zip(widths[:-1], widths[1:], strict=True):
        W = theta[i:i + d_out * d_in].reshape(d_out, d_in)
        i += d_out * d_in
        out.append((W, theta[i:i + d_out]))
        i += d_out
    if i != theta.size:
        raise ValueError(f"`theta` has {theta.size} numbers; widths {widths} need {i}")
    return out


def mlp_loss_and_backprop(theta, widths, X, Y):
    r"""Loss :math:`\frac1{2N}\sum_n|f(x_n)-y_n|^2` of a tanh MLP (linear output) and its backprop gradient.

    Forward: :math:`z_0=x`, :math:`z_k=\tanh(W_kz_{k-1}+b_k)` for k < K, :math:`f=W_Kz_{K-1}+b_K`.
    Backward: :math:`\delta_K=(f-y)/N`, :math:`\nabla_{W_k}=\delta_kz_{k-1}^\top`,
    :math:`\delta_{k-1}=(W_k^\top\delta_k)\odot(1-z_{k-1}^2)` — one pass, cost O(forward).
    ``X`` has shape (N, d0), ``Y`` (N, dK); entries of ``theta`` lie in [-1e50, 1e50].
    Returns ``(loss, grad)`` with grad flat like theta.
    """
    widths = _int_list("widths", widths)
    if len(widths) < 2:
        raise ValueError("`widths` needs at least an input and an output width")
    theta = check_array("theta", theta, ndim=1, low=-1e50, high=1e50)   # no inf * 0 below
    X = check_array("X", X, shape=(None, widths[0]))
    Y = check_array("Y", Y, shape=(X.shape[0], widths[-1]))
    layers = _unpack(theta, widths)
    zs = [X]
    for k, (W, b) in enumerate(layers):
        h = zs[-1] @ W.T + b
        zs.append(np.tanh(h) if k < len(layers) - 1 else h)
    N = X.shape[0]
    r = zs[-1] - Y
    loss = 0.5 * float(np.sum(r * r)) / N
    delta = r / N
    grads = []
    for k in range(len(layers) - 1, -1, -1):
        W, _ = layers[k]
        grads.append((delta.sum(0), (delta.T @ zs[k]).ravel()))
        if k > 0:
            delta = (delta @ W) * (1 - zs[k] ** 2)
    flat = []
    for gb, gW in reversed(grads):
        flat += [gW, gb]
    return loss, np.concatenate(flat)


def finite_difference_gradient(fun, x, h=1e-5):
    r"""Central finite-difference gradient :math:`(L(x+he_i)-L(x-he_i))/(2h)`: 2d evaluations of L.

    Error :math:`O(h^2)` from truncation plus :math:`O(\epsilon_{\rm mach}/h)` from rounding.
    """
    if not callable(fun):
        raise ValueError("`fun` must be a callable of a 1-D array")
    x = np.atleast_1d(check_array("x", x, min_size=1))
    if x.ndim != 1:
        raise ValueError(f"`x` must be a 1-D array, got shape {x.shape}")
    h = check_real("h", h, low=0.0, high=1e300, low_inclusive=False)
    g = np.empty_like(x)
    e = x.copy()
    for i in range(x.size):
        e[i] = x[i] + h
        fp = fun(e)
        e[i] = x[i] - h
        fm = fun(e)
        e[i] = x[i]
        g[i] = (fp - fm) / (2 * h)
    if not np.all(np.isfinite(g)):
        raise ValueError("`fun` is not finite (or overflows) at `x` +- `h`: no finite difference")
    return g


# ----------------------------------------------------------------------------- a curved valley
def valley(w, eps=0.01):
    r"""The curved valley :math:`L(w_1,w_2)=(w_2-w_1^2)^2+\epsilon w_1^2` and its gradient.

    ``w`` has shape (2,) or (2, m). Its only stationary point is the global minimum (0, 0)
    (:math:`\partial_2L=0` forces :math:`w_2=w_1^2`, then :math:`\partial_1L=2\epsilon w_1`),
    with Hessian :math:`\mathrm{diag}(2\epsilon,2)`; the gradient is not globally Lipschitz.
    Returns ``(loss, grad)``.
    """
    w = check_array("w", w)
    eps = check_real("eps", eps, low=0.0, low_inclusive=False)
    if w.ndim == 0 or w.shape[0] != 2:
        raise ValueError(f"`w` must have leading dimension 2, got shape {w.shape}")
    w1, w2 = w[0], w[1]
    r = w2 - w1 * w1
    return r * r + eps * w1 * w1, np.stack([-4 * w1 * r + 2 * eps * w1, 2 * r])


# ----------------------------------------------------------------------------- 3-SAT as a QP
def _check_clauses(clauses, n_vars):
    n = check_positive_int("n_vars", n_vars, maximum=12)
    if not isinstance(clauses, (list, tuple)) or not clauses:
        raise ValueError("`clauses` must be a non-empty list of clauses, each a tuple of "
                         "literals (+i for x_i, -i for not x_i, 1 <= i <= n_vars)")
    out = []
    for c in clauses:
        if (not isinstance(c, (list, tuple)) or not c
                or not all(isinstance(l, (int, np.integer)) and not isinstance(l, bool)
                           and 1 <= abs(int(l)) <= n for l in c)):
            raise ValueError(f"`clauses`: {c!r} is not a tuple of literals +-i with "
                             f"1 <= i <= {n}")
        out.append(tuple(int(l) for l in c))
    return out, n


def sat_satisfiable(clauses, n_vars) -> bool:
    """Whether a CNF formula is satisfiable, by trying all 2^n_vars assignments (n_vars <= 12).

    Literals follow the DIMACS convention: +i is x_i, -i is not x_i.

    Examples
    --------
    >>> sat_satisfiable([(1, 2), (-1,), (-2,)], 2)
    False
    """
    clauses, n = _check_clauses(clauses, n_vars)
    bits = (np.arange(2 ** n)[:, None] >> np.arange(n)) & 1        # every assignment
    ok = np.ones(2 ** n, dtype=bool)
    for c in clauses:
        ok &= np.any([bits[:, abs(l) - 1] == (l > 0) for l in c], axis=0)
    return bool(ok.any())


def sat_qp_minimum(clauses, n_vars):
    r"""Global minimum of the reduction's QP, by enumerating the vertices of its polytope.

    Minimise the concave :math:`\sum_k(x_k-x_k^2)` subject to :math:`0\le x_k\le1` and, per
    clause, :math:`\sum_{i\in c^+}x_i+\sum_{j\in c^-}(1-x_j)\ge1`. It is :math:`\ge0` on the
    box and 0 exactly at binary points, and the feasible binary points are the satisfying
    assignments, so the minimum is 0 if and only if the formula is satisfiable. A concave
    function attains its minimum over a polytope at a vertex: every choice of ``n_vars`` active
    constraints with a unique solution is tried (so keep ``n_vars`` and the clauses few).
    Returns ``(minimum, minimiser)``.
    """
    from itertools import combinations

    clauses, n = _check_clauses(clauses, n_vars)
    A = [np.eye(n), -np.eye(n)]                        # x >= 0 and -x >= -1
    b = [np.zeros(n), -np.ones(n)]
    rows, rhs = [], []
    for c in clauses:
        a = np.zeros(n)
        const = 0.0
        for l in c:
            a[abs(l) - 1] += 1.0 if l > 0 else -1.0
            const += 0.0 if l > 0 else 1.0
        rows.append(a)
        rhs.append(1.0 - const)
    A = np.vstack(A + [np.array(rows)])
    b = np.concatenate(b + [np.array(rhs)])
    if math.comb(len(b), n) * n * n > MAX_ENTRIES:
        raise ValueError(f"`clauses`: {len(clauses)} clauses in {n} variables give "
                         f"{math.comb(len(b), n):.3g} candidate vertices; too many to enumerate")
    subsets = np.array(list(combinations(range(len(b)), n)))
    As, bs = A[subsets], b[subsets]
    good = np.abs(np.linalg.det(As)) > 1e-9
    xs = np.linalg.solve(As[good], bs[good][..., None])[..., 0]
    feasible = np.all(xs @ A.T >= b - 1e-9, axis=1)
    xs = xs[feasible]
    vals = np.sum(xs - xs * xs, axis=1)
    i = int(np.argmin(vals))
    return float(max(vals[i], 0.0)), xs[i]

r"""Small experiments: spurious correlation (Section 6), row energy under BN (Section 8.6.2),
and a locally connected teacher-student run (torch)."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from scipy.special import ndtr

from .._validate import check_choice, check_positive_int, check_real
from ._common import as_seed

ENERGY_ORDERS = ("lin-bn-relu", "lin-relu-bn", "none")


def spurious_epsilon(n, trials, seed=0):
    r"""Samples of :math:`\epsilon=\tilde P(z_\omega=1\mid z_\gamma=1)-\tfrac12` over ``trials``
    training sets of ``n`` pairs with :math:`z_\alpha,z_\gamma` i.i.d. Bernoulli(1/2) and label
    :math:`z_\omega=z_\alpha` (:math:`z_\gamma` is unrelated). A set without :math:`z_\gamma=1`
    (probability :math:`2^{-n}`) gives :math:`\epsilon=0`."""
    n = check_positive_int("n", n)
    trials = check_positive_int("trials", trials)
    if trials > 10**7 or n > 10**12:
        raise ValueError(f"`trials` must be at most 1e7 and `n` at most 1e12, got {trials}, {n}")
    rng = np.random.default_rng(as_seed(seed))
    n1 = rng.binomial(n, 0.5, size=trials)
    k = rng.binomial(n1, 0.5)
    return np.where(n1 > 0, k / np.maximum(n1, 1) - 0.5, 0.0)


def spurious_mean_abs(n):
    r"""Exact :math:`\mathbb E|\epsilon|` for :func:`spurious_epsilon` (binomial sums over the
    number :math:`n_1` of samples with :math:`z_\gamma=1` and the labels among them); it tends to
    :math:`1/\sqrt{\pi n}` as :math:`n\to\infty`."""
    from scipy.stats import binom

    n = check_positive_int("n", n)
    if n > 20_000:
        raise ValueError(f"`n` must be at most 20000, got {n}")
    total = 0.0
    n1 = np.arange(1, n + 1)
    w1 = binom.pmf(n1, n, 0.5)
    keep = w1 > 1e-17 * w1.max()           # the rest adds less than 1e-17 relative
    for m, w in zip(n1[keep], w1[keep]):
        k = np.arange(m + 1)
        total += w * float(binom.pmf(k, m, 0.5) @ np.abs(k / m - 0.5))
    return total


def spurious_win_probability(n, delta, contrast):
    r"""Normal approximation of :math:`P(|\epsilon|\,|f_k(1)-f_k(0)|>\delta/2)`, the probability
    that the spurious weight's update beats the true one, with :math:`\epsilon\approx
    \mathcal N(0,1/(2n))`: :math:`2\bar\Phi\big(\frac{\delta}{2|c|}\sqrt{2n}\big)`."""
    n = check_positive_int("n", n)
    delta = check_real("delta", delta, low=0.0, low_inclusive=False)
    contrast = check_real("contrast", contrast)
    if contrast == 0:
        return 0.0
    return float(2 * ndtr(-delta / (2 * abs(contrast)) * np.sqrt(2 * n)))


class EnergyRun(NamedTuple):
    """Row energies :math:`\\|w_j\\|^2` of the first layer and the checks of Section 8.6.2."""

    energies: np.ndarray          # (steps + 1, hidden) squared row norms
    max_identity: float           # max over steps and rows of |sum_k w_jk dw_jk|
    max_increment_error: float    # max |(|w^{t+1}|^2-|w^t|^2) - eta^2 |dw|^2|
    losses: np.ndarray            # (steps + 1,)


def energy_run(order="lin-bn-relu", eta=0.05, steps=2000, seed=0, n_samples=64,
               sizes=(10, 8, 3), c1=1.0, c0=0.1):
    r"""Full-batch GD on a two-layer network :math:`10\to8\to3` (no biases) with squared loss on
    Gaussian inputs and random one-hot targets; batch normalization (:math:`c_1, c_0`, population
    statistics of the batch) after the first linear layer (``'lin-bn-relu'``), after its ReLU
    (``'lin-relu-bn'``) or absent (``'none'``). Records the first layer's row energies."""
    order = check_choice("order", order, ENERGY_ORDERS)
    # Steps beyond 10 blow the weights up within a few iterations (float overflow).
    eta = check_real("eta", eta, low=0.0, low_inclusive=False, high=10.0)
    steps = check_positive_int("steps", steps)
    n_samples = check_positive_int("n_samples", n_samples, minimum=4)
    if steps > 10**5 or n_samples > 10**5:
        raise ValueError(f"`steps` and `n_samples` must be at most 1e5, got {steps}, {n_samples}")
    c1 = check_real("c1", c1, low=-100.0, high=100.0)
    c0 = check_real("c0", c0, low=-100.0, high=100.0)
    if (not isinstance(sizes, tuple) or len(sizes) != 3):
        raise ValueError(f"`sizes` must be a tuple (d_in, hidden, d_out), got {sizes!r}")
    d_in, h, d_out = (check_positive_int("sizes", s) for s in sizes)
    if max(d_in, h, d_out) > 10**4:
        raise ValueError(f"`sizes` must be at most 1e4 each, got {sizes}")
    rng = np.random.default_rng(as_seed(seed))
    X = rng.standard_normal((n_samples, d_in))
    Y = np.eye(d_out)[rng.integers(0, d_out, n_samples)]
    W1 = rng.standard_normal((h, d_in)) / np.sqrt(d_in)
    W2 = rng.standard_normal((d_out, h)) / np.sqrt(h)
    energies = [np.sum(W1**2, axis=1)]
    losses, ident, inc = [], 0.0, 0.0
    for t in range(steps + 1):
        with np.errstate(all="ignore"):
            loss, dW1, dW2 = _energy_grads(order, X, Y, W1, W2, c1, c0)
        if not (np.isfinite(loss) and np.all(np.isfinite(dW1)) and np.all(np.isfinite(dW2))):
            raise ValueError("gradient descent diverged (or a BN input became constant) at "
                             f"step {t}; use a smaller `eta`")
        losses.append(loss)
        if t == steps:
            break
        ident = max(ident, float(np.max(np.abs(np.sum(W1 * dW1, axis=1)))))
        new = W1 + eta * dW1
        with np.errstate(all="ignore"):
            e_new = np.sum(new**2, axis=1)
            pred = energies[-1] + eta**2 * np.sum(dW1**2, axis=1)
        if not np.all(np.isfinite(e_new)) or not np.all(np.isfinite(pred)):
            raise ValueError(f"gradient descent diverged at step {t}; use a smaller `eta`")
        if order != "none":
            inc = max(inc, float(np.max(np.abs(e_new - pred))))
        W1, W2 = new, W2 + eta * dW2
        energies.append(e_new)
    return EnergyRun(np.array(energies), ident, inc, np.array(losses))


def _bn_cols(H, c1, c0):
    mu = H.mean(axis=0)
    sd = np.sqrt(((H - mu) ** 2).mean(axis=0))
    return c1 * (H - mu) / sd + c0


def _bn_back(H, G, c1):
    # column-wise batchnorm_backward (eps = 0), vectorized; equal to it to rounding (tested)
    Hh = H - H.mean(axis=0)
    var = (Hh**2).mean(axis=0)
    return c1 / np.sqrt(var) * (G - G.mean(axis=0) - Hh * (Hh * G).mean(axis=0) / var)


def _energy_grads(order, X, Y, W1, W2, c1, c0):
    Z = X @ W1.T
    if order == "lin-bn-relu":
        B = _bn_cols(Z, c1, c0)
        A = np.maximum(B, 0)
    elif order == "lin-relu-bn":
        R = np.maximum(Z, 0)
        A = _bn_cols(R, c1, c0)
    else:
        A = np.maximum(Z, 0)
    out = A @ W2.T
    r = Y - out                        # negative gradient of 1/2 |out - Y|^2 (summed)
    loss = 0.5 * float(np.sum(r**2)) / len(X)
    dW2 = r.T @ A / len(X)
    gA = r @ W2 / len(X)
    if order == "lin-bn-relu":
        gZ = _bn_back(Z, gA * (B > 0), c1)
    elif order == "lin-relu-bn":
        gZ = _bn_back(R, gA, c1) * (Z > 0)
    else:
        gZ = gA * (Z > 0)
    return loss, gZ.T @ X, dW2


class SpecializationRun(NamedTuple):
    """Correlations between teacher and student hidden units, at init and after training."""

    corr_init: np.ndarray      # (teacher units, student units) at the first layer
    corr_final: np.ndarray
    best_init: np.ndarray      # per teacher unit: max over student units at the same field
    best_final: np.ndarray
    losses: np.ndarray         # training loss every `record` steps
    n_fields: int


def _lc_layer(torch, x, w, window, stride):
    # x: (batch, positions, channels); w: (out_positions, window * channels, out_channels)
    patches = x.unfold(1, window, stride)                 # (batch, out_pos, ch, window)
    patches = patches.transpose(2, 3).reshape(x.shape[0], patches.shape[1], -1)
    return torch.einsum("bpi,pio->bpo", patches, w)


def specialization_run(length=16, teacher_width=2, student_width=6, steps=3000, batch=256,
                       lr=0.05, seed=0, device="cpu"):
    r"""Train a wider locally connected ReLU student on a locally connected ReLU teacher.

    Both nets: input of ``length`` pixels :math:`\pm1`; layer 1 with windows of 4 pixels at
    stride 2 (overlapping fields); layer 2 with windows of 3 layer-1 fields at stride 2; a
    linear read-out of all layer-2 units to 2 outputs. The teacher has ``teacher_width`` units
    per field, the student ``student_width``; the student is trained by SGD on fresh samples to
    match the teacher's outputs (squared loss). Returns the correlation matrix (over held-out
    inputs) between the teacher's and the student's layer-1 units, at init and after training.
    """
    import torch

    length = check_positive_int("length", length, minimum=8)
    if (length - 4) % 2:
        raise ValueError(f"`length` must be even, got {length}")
    tw = check_positive_int("teacher_width", teacher_width)
    sw = check_positive_int("student_width", student_width)
    steps = check_positive_int("steps", steps)
    batch = check_positive_int("batch", batch)
    lr = check_real("lr", lr, low=0.0, low_inclusive=False, high=10.0)   # larger: diverges to NaN
    if length > 4096 or max(tw, sw) > 512 or steps > 10**6 or batch > 10**5:
        raise ValueError("sizes too large: length <= 4096, widths <= 512, steps <= 1e6, "
                         "batch <= 1e5")
    seed = as_seed(seed)
    if isinstance(device, str):
        dev = torch.device(check_choice("device", device, ("cpu", "cuda")))
    elif isinstance(device, torch.device):
        dev = device
    else:
        raise ValueError(f"`device` must be 'cpu', 'cuda' or a torch.device, got {device!r}")
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError("`device` is 'cuda' but torch sees no GPU")
    n1 = (length - 4) // 2 + 1
    if n1 < 3:
        raise ValueError("`length` is too small for two layers")
    n2 = (n1 - 3) // 2 + 1
    gen = torch.Generator(device="cpu").manual_seed(seed)

    def make(width):
        w1 = torch.randn(n1, 4, width, generator=gen, dtype=torch.float64) / 2.0
        w2 = torch.randn(n2, 3 * width, width, generator=gen, dtype=torch.float64) \
            / np.sqrt(3 * width)
        w3 = torch.randn(n2 * width, 2, generator=gen, dtype=torch.float64) / np.sqrt(n2 * width)
        return [w.to(dev) for w in (w1, w2, w3)]

    def forward(ws, x):
        h1 = torch.relu(_lc_layer(torch, x[:, :, None], ws[0], 4, 2))
        h2 = torch.relu(_lc_layer(torch, h1, ws[1], 3, 2))
        return h1, h2.reshape(len(x), -1) @ ws[2]

    teacher = make(tw)
    student = make(sw)
    for w in student:
        w.requires_grad_(True)

    def sample(k):
        return (2 * torch.randint(0, 2, (k, length), generator=gen) - 1).to(
            device=dev, dtype=torch.float64)

    x_eval = sample(4096)
    with torch.no_grad():
        t_eval, y_eval = forward(teacher, x_eval)

    def correlations():
        with torch.no_grad():
            s_eval, _ = forward(student, x_eval)
        T = t_eval.reshape(len(x_eval), -1).cpu().numpy()
        S = s_eval.reshape(len(x_eval), -1).cpu().numpy()
        T = (T - T.mean(0)) / np.maximum(T.std(0), 1e-12)
        S = (S - S.mean(0)) / np.maximum(S.std(0), 1e-12)
        C = T.T @ S / len(T)
        best = np.array([np.max(C[i, (i // tw) * sw:(i // tw + 1) * sw])
                         for i in range(C.shape[0])])
        return C, best

    c0_, b0 = correlations()
    opt = torch.optim.SGD(student, lr=lr)
    losses = []
    for step in range(steps):
        x = sample(batch)
        with torch.no_grad():
            _, y = forward(teacher, x)
        _, out = forward(student, x)
        loss = 0.5 * ((out - y) ** 2).sum(1).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        if step % max(1, steps // 50) == 0 or step == steps - 1:
            losses.append(float(loss.detach()))
    c1_, b1 = correlations()
    return SpecializationRun(c0_, c1_, b0, b1, np.array(losses), n1)

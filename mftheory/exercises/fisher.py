r"""Checks for the exercises of the chapter on the Fisher information and the largest stable
learning rate.

Each check takes the student's answer as data: any answer (a string, None, NaN, a wrong
shape) gives a not-correct :class:`~mftheory.exercises.Feedback`, never an exception. The
expected values are computed here by private functions from first principles (closed forms,
the roots of the heavy-ball polynomial, the conv arithmetic), not read from a table, and the
Feedback carries the answer and the relative error but not the expected value. An answer that
matches a typical mistake gets a hint naming it.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.special import ndtr

from ._feedback import Feedback
from . import _feedback

__all__ = [
    "check_bn_relu_moments",
    "check_centered_depth_limit",
    "check_train_mode_crossing",
    "check_heavy_ball_growth",
    "check_train_mode_lambda",
    "check_conv_geometry",
    "check_conv_lambda",
]

# Parameter points of the exercises (the chapter poses them; they differ from the text's).
_BN_GAMMA, _BN_BETA = 1.5, 0.5
_CROSS_DEPTH, _SW2, _SB2 = 8, 2.0, 0.5
_HB_RATIO, _HB_MU = 1.05, 0.5
_TRAIN_N, _TRAIN_GAMMA = 512, 1.5
_CONV = dict(in_channels=3, in_hw=32, channels=(30, 60, 90), out_dim=10, ksize=3, stride=2)


_as_float = _feedback._as_float       # a finite float, or None: the caller reports it


def _as_int_list(x, n):
    if isinstance(x, (str, bytes, dict)) or x is None:
        return None
    try:
        if np.iscomplexobj(x):
            return None
    except Exception:                    # an object whose conversion raises
        return None
    try:
        arr = np.asarray(x, dtype=float)
    except Exception:                    # any answer object: reported, never raised
        return None
    if arr.shape != (n,) or not np.all(np.isfinite(arr)) or np.any(arr != np.round(arr)):
        return None
    return [int(v) for v in arr]


def _grade(name, answer, expected, rtol, wrong_forms=()):
    """Feedback for a scalar answer; ``wrong_forms`` are (value, hint) of typical mistakes."""
    a = _as_float(answer)
    if a is None:
        return Feedback(False, f"{name}: expected one finite real number, got {answer!r}.",
                        answer)
    rel = abs(a - expected) / abs(expected)
    if rel <= rtol:
        return Feedback(True, f"{name}: correct (relative error {rel:.1e}, tolerance "
                        f"{rtol:g}).", answer, None, rel)
    msg = (f"{name}: not yet — your value is too {'large' if a > expected else 'small'} by a "
           f"relative {rel:.2g}; the tolerance is {rtol:g}.")
    for wrong, hint in wrong_forms:
        if abs(a - wrong) <= max(rtol, 1e-6) * abs(wrong):
            msg += f" Hint: {hint}"
            break
    return Feedback(False, msg, answer, None, rel)


# --------------------------------------------------------------------------------------
# 1. BN-ReLU moments with a shift beta
# --------------------------------------------------------------------------------------
def _reference_bn_moments(gamma, beta):
    a = beta / gamma
    pdf = math.exp(-a * a / 2) / math.sqrt(2 * math.pi)
    cdf = float(ndtr(a))
    mean = gamma * pdf + beta * cdf                               # E relu(gamma u + beta)
    second = (gamma**2 + beta**2) * cdf + beta * gamma * pdf      # E relu(gamma u + beta)^2
    return second, mean**2


def check_bn_relu_moments(qhat, qhat_xy) -> Feedback:
    r"""The post-activation moments :math:`\hat q=\mathbb E[\phi(\gamma u+\beta)^2]` and
    :math:`\hat q_{xy}=\mathbb E[\phi(\gamma u+\beta)\phi(\gamma v+\beta)]` of BN-ReLU with
    the exercise's :math:`\gamma` and shift :math:`\beta`, for independent standard normals
    u, v; 1e-6 relative (closed forms)."""
    exp_q, exp_xy = _reference_bn_moments(_BN_GAMMA, _BN_BETA)
    g2 = _BN_GAMMA**2
    fb_q = _grade("hat q", qhat, exp_q, 1e-6, [
        (g2 / 2, "that is the value for beta = 0; the shift moves mass across the kink."),
        ((g2 + _BN_BETA**2) / 2, "the weight of the positive part is Phi(beta/gamma), not 1/2."),
        (math.sqrt(exp_q), "hat q is a second moment: do not take a square root.")])
    fb_xy = _grade("hat q_xy", qhat_xy, exp_xy, 1e-6, [
        (g2 / (2 * math.pi), "that is the value for beta = 0."),
        (math.sqrt(exp_xy), "for independent u, v the expectation factorises into the "
                            "*square* of E relu(gamma u + beta)."),
        (exp_q, "x and y are independent: this is E[phi(u) phi(v)], not E[phi(u)^2].")])
    ok = fb_q.correct and fb_xy.correct
    return Feedback(ok, f"{fb_q.message} {fb_xy.message}", (qhat, qhat_xy), None,
                    max(fb_q.relative_error, fb_xy.relative_error)
                    if not (math.isnan(fb_q.relative_error) or math.isnan(fb_xy.relative_error))
                    else math.nan)


# --------------------------------------------------------------------------------------
# 2. Depth limit of the centred BN estimate
# --------------------------------------------------------------------------------------
def _reference_centered_limit():
    r = math.pi / (2 * (math.pi - 1))
    return 1 / (1 - r)


def check_centered_depth_limit(value) -> Feedback:
    r"""The limit of :math:`\bar\lambda_{\max}/(N\gamma^2/2\pi)` as the depth grows, centred
    BN variant; 1e-6 relative."""
    expected = _reference_centered_limit()
    r_paper = 0.5                                   # the paper's ratio as gamma -> infinity
    return _grade("depth limit", value, expected, 1e-6, [
        (1 / (1 - r_paper), "that is the paper's formula (ratio 1/2 at large gamma); use "
                            "the centred ratio pi / (2 (pi - 1))."),
        (math.pi / (2 * (math.pi - 1)), "that is the ratio r itself; sum the geometric series "
                                        "1 + r + r^2 + ..."),
        (1 / (1 - 1 / 3), "ratio 1/3 is the paper's formula at gamma = 1."),
        (expected - 1, "the last layer contributes the leading 1 of the series.")])


# --------------------------------------------------------------------------------------
# 3. Crossing gamma of train-mode BN at depth 8
# --------------------------------------------------------------------------------------
def _reference_vanilla_per_width(depth, sw2, sb2):
    """lambda / N of the vanilla network (equal hidden widths N, N0 irrelevant), from the
    recursions written out with the closed-form ReLU kernels."""
    def k1(q, c):
        c = min(max(c, -1.0), 1.0)
        return q / (2 * math.pi) * (math.sqrt(1 - c * c) + c * (math.pi / 2 + math.asin(c)))

    def k0(c):
        c = min(max(c, -1.0), 1.0)
        return (math.pi / 2 + math.asin(c)) / (2 * math.pi)

    q, qxy = [0.0], [0.0]
    qh, qhxy = [1.0], [0.0]
    for l in range(1, depth + 1):
        q.append(sb2 + sw2 * qh[-1])
        qxy.append(sb2 + sw2 * qhxy[-1])
        qh.append(q[l] / 2)
        qhxy.append(k1(q[l], qxy[l] / q[l]))
    qt = [0.0] * (depth + 1)
    qt[depth] = 1.0
    for l in range(depth - 1, 0, -1):
        qt[l] = sw2 * k0(qxy[l] / q[l]) * qt[l + 1]
    return sum(qhxy[l - 1] * qt[l] for l in range(2, depth + 1))


def check_train_mode_crossing(value) -> Feedback:
    r""":math:`\gamma_c` at which train-mode BN (last layer only,
    :math:`\bar\lambda_{\max}=N\gamma^2/2\pi`) matches the vanilla network of depth 8
    (:math:`\sigma_w^2=2,\sigma_b^2=0.5`); 1e-4 relative."""
    van = _reference_vanilla_per_width(_CROSS_DEPTH, _SW2, _SB2)
    expected = math.sqrt(2 * math.pi * van)
    van4 = _reference_vanilla_per_width(4, _SW2, _SB2)
    return _grade("gamma_c (train mode, L = 8)", value, expected, 1e-4, [
        (math.sqrt(2 * math.pi * van4), "that is the depth-4 network; the exercise asks for "
                                        "L = 8."),
        (2 * math.pi * van, "you forgot the square root: lambda grows like gamma^2."),
        (math.sqrt(van), "the last layer gives N gamma^2 / (2 pi): keep the 2 pi."),
        (4.941, "that is the crossing with the paper's formula, which keeps the hidden layers."),
        (3.782, "that is the crossing with the centred formula, which keeps the hidden "
                "layers; in train mode only the last layer survives.")])


# --------------------------------------------------------------------------------------
# 4. Growth factor of the linearized network just above eta*
# --------------------------------------------------------------------------------------
def _reference_growth(ratio, mu):
    x = ratio * 2 * (1 + mu)
    return float(np.max(np.abs(np.roots([1.0, -(1 + mu - x), mu]))))


def check_heavy_ball_growth(value) -> Feedback:
    r"""Per-step growth factor of the top Fisher mode under heavy ball at
    :math:`\eta=1.05\,\eta_*`, :math:`\mu=0.5`: the largest root modulus of
    :math:`z^2-(1+\mu-\eta\lambda)z+\mu`; 1e-4 relative."""
    expected = _reference_growth(_HB_RATIO, _HB_MU)
    x = _HB_RATIO * 2 * (1 + _HB_MU)
    small = float(np.min(np.abs(np.roots([1.0, -(1 + _HB_MU - x), _HB_MU]))))
    return _grade("growth factor", value, expected, 1e-4, [
        (math.sqrt(_HB_MU), "sqrt(mu) is the modulus of complex roots; above eta* the roots "
                            "are real."),
        (small, "that is the smaller root; the larger one decides the growth."),
        (_HB_RATIO, "the growth is not the ratio eta/eta*: solve the quadratic."),
        (abs(1 - x), "that is plain gradient descent (mu = 0); include the momentum "
                     "term."),
        (_reference_growth(_HB_RATIO, 0.0), "that is the factor for mu = 0.")])


# --------------------------------------------------------------------------------------
# 5. Train-mode lambda with its O(1) corrections
# --------------------------------------------------------------------------------------
def _reference_train_lambda(n, gamma, sw2):
    return n * gamma**2 / (2 * math.pi) + 1 + sw2 * (0.25 + 1 / (2 * math.pi))


def check_train_mode_lambda(value) -> Feedback:
    r""":math:`\lambda_{\max}` of a train-mode BN network with :math:`N_{L-1}=512`,
    :math:`\gamma=1.5`, :math:`\sigma_w^2=2`, one output, including the O(1) terms of the
    output bias and of :math:`\gamma_{L-1},\beta_{L-1}`; 2e-3 relative."""
    expected = _reference_train_lambda(_TRAIN_N, _TRAIN_GAMMA, _SW2)
    lead = _TRAIN_N * _TRAIN_GAMMA**2 / (2 * math.pi)
    return _grade("train-mode lambda", value, expected, 2e-3, [
        (lead, "that is the last-layer weight term alone; add the output bias (1) and the "
               "BN parameters of layer L-1."),
        (lead + 1, "add the BN parameters gamma_{L-1} and beta_{L-1} of the last hidden "
                   "layer."),
        (_TRAIN_N * _TRAIN_GAMMA / (2 * math.pi) + 1 + _SW2 * (0.25 + 1 / (2 * math.pi)),
         "the last-layer term grows like gamma^2."),
        (_TRAIN_N * _TRAIN_GAMMA**2 / 2 + 1 + _SW2 * (0.25 + 1 / (2 * math.pi)),
         "E[relu(u)]^2 = 1/(2 pi) for x != y, not E[relu(u)^2] = 1/2.")])


# --------------------------------------------------------------------------------------
# 6. The paper's CNN on CIFAR-10
# --------------------------------------------------------------------------------------
def _reference_conv():
    c = _CONV
    sides = [c["in_hw"]]
    for _ in c["channels"]:
        sides.append((sides[-1] - c["ksize"]) // c["stride"] + 1)
    chans = (c["in_channels"],) + c["channels"]
    fan_ins = [chans[l] * c["ksize"] ** 2 for l in range(len(c["channels"]))]
    fan_ins.append(chans[-1] * sides[-1] ** 2)
    return [s * s for s in sides], fan_ins


def check_conv_geometry(sites, fan_ins) -> Feedback:
    r"""The numbers of spatial sites :math:`|\mathcal K_l|` (input and the three conv layers)
    and the fan-ins :math:`N_{l-1}` of the four layers of the paper's CNN on 32x32x3 inputs
    (3x3 kernels, stride 2, no padding, channels 30/60/90, flatten head)."""
    exp_sites, exp_fan = _reference_conv()
    got_s, got_f = _as_int_list(sites, 4), _as_int_list(fan_ins, 4)
    if got_s is None or got_f is None:
        return Feedback(False, "conv geometry: expected two lists of four integers (sites, "
                        f"fan-ins), got {sites!r} and {fan_ins!r}.", (sites, fan_ins))
    msgs = []
    if got_s != exp_sites:
        bad = next(i for i in range(4) if got_s[i] != exp_sites[i])
        hint = (" Hint: with padding 0 the side is floor((K - 3) / 2) + 1, e.g. 32 -> 15."
                if got_s[1] in (256, 16**2) else "")
        msgs.append(f"the number of sites is off at entry {bad}.{hint}")
    if got_f != exp_fan:
        bad = next(i for i in range(4) if got_f[i] != exp_fan[i])
        hint = ""
        if bad == 3:
            hint = " Hint: the head sees the flattened channels x sites of the last conv layer."
        elif got_f[bad] == exp_fan[bad] // 9:
            hint = " Hint: a 3x3 kernel reads 9 sites of every input channel."
        msgs.append(f"the fan-in is off at entry {bad}.{hint}")
    if not msgs:
        return Feedback(True, "conv geometry: correct.", (sites, fan_ins), None, 0.0)
    return Feedback(False, "conv geometry: not yet — " + " ".join(msgs), (sites, fan_ins))


def _reference_conv_lambda(gamma):
    _, fan = _reference_conv()
    sw2, sb2 = _SW2, _SB2
    s2 = sw2 * gamma**2 * (math.pi - 1) / (2 * math.pi)          # q - q_xy, layers >= 2
    q1, qxy1 = sw2 + sb2, sb2
    ratios = [gamma**2 * sw2 / (4 * (q1 - qxy1))] + [gamma**2 * sw2 / (4 * s2)] * 2
    qt = [1.0]
    for r in reversed(ratios):
        qt.insert(0, qt[0] * r)                                   # qtil_xy, layers 1..4
    qhxy = [0.0] + [gamma**2 / (2 * math.pi)] * 3
    return sum(fan[l] * qhxy[l] * qt[l] for l in range(4))


def check_conv_lambda(value) -> Feedback:
    r"""The mean-field :math:`\bar\lambda_{\max}` of the paper's CNN on CIFAR-10 with BN,
    :math:`\gamma=1`, centred variant (flatten head); 1e-4 relative."""
    expected = _reference_conv_lambda(1.0)
    _, fan = _reference_conv()
    return _grade("conv lambda", value, expected, 1e-4, [
        (fan[3] / (2 * math.pi), "that is the head alone; the conv layers contribute too "
                                 "in the centred (frozen-statistics) model."),
        (expected * 10, "the bound is per output: do not multiply by the 10 classes.")])

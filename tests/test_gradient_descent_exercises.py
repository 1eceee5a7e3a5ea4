"""The exercise checks of the gradient-descent chapter: reference values computed independently
here, right answers accepted, the plausible wrong answers rejected (with their hint), feedback
with a direction word for each number and no field that reveals the reference; the chapter's
explorers redraw quickly."""

import inspect
import math
import time

import numpy as np
import pytest

from mftheory import landscape, optim
from mftheory.exercises import Feedback
from mftheory.exercises import gradient_descent as ex

# ---------------------------------------------------------------------------------------------
# reference values, recomputed here by other means

FIXED = ex._reference_fixed_momentum(1.0, 10.0, 0.25)


def test_fixed_momentum_reference_is_the_brute_force_optimum():
    # worst spectral radius over a fine spectrum grid, minimised over a fine grid of steps
    lam = np.linspace(1.0, 10.0, 2001)
    alphas = np.linspace(0.20, 0.25, 2001)
    worst = np.array([optim.heavy_ball_spectral_radius(a, 0.25, lam).max() for a in alphas])
    i = int(np.argmin(worst))
    assert abs(alphas[i] - FIXED[0]) <= 2.5e-5           # the grid spacing
    # no step on the grid does better, and at the reference step the worst radius is the rate
    assert worst.min() >= FIXED[1] - 1e-12
    at_ref = optim.heavy_ball_spectral_radius(FIXED[0], 0.25, lam).max()
    assert abs(at_ref - FIXED[1]) < 1e-12
    # and it beats GD, loses to Polyak's (momentum 0.27) -- a consistency check
    assert optim.polyak_heavy_ball(1, 10)[2] < FIXED[1] < optim.gd_optimal_step(1, 10)[1]


def test_descent_steps_reference():
    bound, taken = ex._reference_descent_steps()
    x = np.linspace(-0.3, 0.3, 10) + 0.01
    L_min, _ = optim.cosine_sum_minimum(10)
    L0 = float(np.sum(0.5 * x * x + 3 * np.cos(x)))
    n = 0
    while np.linalg.norm(x - 3 * np.sin(x)) >= 1e-3:          # plain GD, written out
        x = x - 0.4 * (x - 3 * np.sin(x))
        n += 1
    assert taken == n == 11
    assert bound == pytest.approx((L0 - L_min) / (0.4 * (1 - 2 * 0.4) * 1e-6), rel=1e-12)


def test_escape_slope_reference_matches_a_fit():
    ks = np.arange(2, 15)
    fit = np.polyfit(ks, optim.escape_iterations(10.0 ** -ks, 0.3), 1)[0]
    assert ex.check_escape_slope(fit)
    assert abs(fit / ex._reference_escape_slope(0.3) - 1) < 2e-3


def _mlp():
    widths = [3, 6, 4]
    theta = optim.mlp_init(widths, seed=0)
    X = np.random.default_rng(0).normal(size=(10, 3))
    return theta, widths, X, np.arange(10) % 4


def test_cross_entropy_gradient_reference_agrees_with_central_differences():
    theta, widths, X, lab = _mlp()
    g = ex._reference_cross_entropy_gradient(theta, widths, X, lab)
    fd = optim.finite_difference_gradient(
        lambda t: ex._cross_entropy_loss(t, widths, X, lab), theta)
    # central differences, h = 1e-5: truncation ~1e-10 relative (measured 1.1e-10)
    assert np.linalg.norm(fd - g) / np.linalg.norm(g) < 1e-9


# ---------------------------------------------------------------------------------------------
# right answers accepted, wrong ones rejected with their hint

def test_fixed_momentum_check():
    assert ex.check_fixed_momentum(*FIXED)
    a_p, _, r_p = optim.polyak_heavy_ball(1.0, 10.0)
    a_gd, r_gd = optim.gd_optimal_step(1.0, 10.0)
    for wrong, hint in [((a_p, r_p), "Polyak's step"), ((FIXED[0], 0.5), "sqrt(beta)"),
                        ((FIXED[0], r_p), "rate of Polyak's"), ((a_gd, r_gd), "plain gradient"),
                        ((FIXED[0] * 1.001, FIXED[1]), ""), ((FIXED[0], -FIXED[1]), "")]:
        fb = ex.check_fixed_momentum(*wrong)
        assert not fb and hint in str(fb), (wrong, str(fb))
    fb = ex.check_fixed_momentum(FIXED[0] * 0.9, FIXED[1] * 1.2)
    assert "alpha is too small" in str(fb) and "rate is too large" in str(fb)
    fb = ex.check_fixed_momentum(FIXED[0], FIXED[1] * 0.9)
    assert "alpha correct" in str(fb) and "rate is too small" in str(fb)


def test_descent_steps_check_grades_the_step_count():
    bound, taken = ex._reference_descent_steps()
    assert ex.check_descent_steps(bound, taken)
    assert ex.check_descent_steps(math.ceil(bound), taken)
    assert ex.check_descent_steps(math.floor(bound), taken)
    text_bound = optim.steps_to_epsilon_bound(
        ex._cosine_run(0.25).loss[0], optim.cosine_sum_minimum(10)[0], 0.125, 1e-3)
    for wrong, hint in [((bound, taken + 1), "not the iterates"), ((bound, 18), "alpha = 1/M"),
                        ((bound, taken - 1), ""), ((text_bound, taken), "alpha = 1/M"),
                        ((bound * 0.08 / 0.4, taken), "not alpha"),
                        ((bound * 1e-3, taken), "eps squared"), ((0.25, 11), "")]:
        fb = ex.check_descent_steps(*wrong)
        assert not fb and hint in str(fb), (wrong, str(fb))
    assert "steps taken is too large" in str(ex.check_descent_steps(bound, 12))


def test_slides_stability_limit_check_has_its_own_momentum():
    # the old check took beta from the student and accepted any pair (1 - beta, beta)
    assert list(inspect.signature(ex.check_slides_stability_limit).parameters) == ["limit"]
    assert ex.check_slides_stability_limit(0.7)
    for wrong, hint in [(1.0, ""), (0.5, ""), (2.6, "Jury"), (1.3, "sum of the roots"),
                        (0.49, "turn complex"), (0.3, "product"), (0.91, "beta^2"),
                        (1.4, "factor 2"), (0.7 * 1.00001, "")]:
        fb = ex.check_slides_stability_limit(wrong)
        assert not fb and hint in str(fb), (wrong, str(fb))
    assert "too large" in str(ex.check_slides_stability_limit(1.0))


def test_escape_slope_check_rejects_the_continuous_time_value():
    ref = math.log(10) / math.log(1.3)
    assert ex.check_escape_slope(ref) and ex.check_escape_slope(ref * 1.009)
    for wrong, hint in [(math.log(10) / 0.3, "continuous-time"),
                        (math.log(10) / math.log(1.1), "alpha = 0.1"),
                        (-ref, "positive"), (1 / math.log(1.3), "log base 10"),
                        (math.log(1.3) / math.log(10), "inverse"), (ref * 1.02, "")]:
        fb = ex.check_escape_slope(wrong)
        assert not fb and hint in str(fb), (wrong, str(fb))


def test_backprop_check_for_the_cross_entropy_loss():
    theta, widths, X, lab = _mlp()
    g = ex._reference_cross_entropy_gradient(theta, widths, X, lab)
    assert ex.check_backprop_gradient(g, theta, widths, X, lab)
    assert ex.check_backprop_gradient(list(g), theta, widths, X, lab.astype(float))
    layers, zs = ex._forward(theta, widths, X)
    square = ex._backward(layers, zs, (zs[-1] - np.eye(4)[lab]) / 10)
    for wrong, hint in [(-g, "sign"), (10 * g, "divide by N"), (g / 10, "not twice"),
                        (square, "square-loss"), (g * 1.01, ""), (g[:-1], "shape"),
                        ("grad", "expected an array"), (None, "expected an array"),
                        (np.full_like(g, np.nan), "nan")]:
        fb = ex.check_backprop_gradient(wrong, theta, widths, X, lab)
        assert not fb and hint in str(fb), hint
    # an error in the hidden layers only: the output bias is still right
    bad = g.copy()
    bad[:5] += 1.0
    assert "output bias is right" in str(ex.check_backprop_gradient(bad, theta, widths, X, lab))
    with pytest.raises(ValueError, match="labels"):
        ex.check_backprop_gradient(g, theta, widths, X, lab + 4)
    with pytest.raises(ValueError, match="theta"):
        ex.check_backprop_gradient(g, theta[:-1], widths, X, lab)
    with pytest.raises(ValueError, match="widths"):
        ex.check_backprop_gradient(g, theta, 3, X, lab)


@pytest.fixture(scope="module")
def search9():
    return landscape.spurious_minima_search(9, 9, 40, n_steps=2000, seed=1)


def test_spurious_check(search9):
    assert search9.spurious.any()
    W = search9.W[np.flatnonzero(search9.spurious)[0]]
    assert ex.check_spurious_minimum(W)
    fb = ex.check_spurious_minimum(np.eye(9)[::-1])            # a permutation: global
    assert not fb and "global minimum" in str(fb)
    fb = ex.check_spurious_minimum(W + 1e-4)
    assert not fb and "Newton" in str(fb)
    assert "not 8" in str(ex.check_spurious_minimum(np.eye(8)))
    saddle = np.zeros((9, 9))          # all neurons at 0: not a minimum (F > 0, grad != 0)
    assert not ex.check_spurious_minimum(saddle)


@pytest.mark.parametrize("check, args", [
    (ex.check_fixed_momentum, (0.2, 0.6)), (ex.check_descent_steps, (1e8, 11)),
    (ex.check_slides_stability_limit, (0.5,)), (ex.check_escape_slope, (8.0,)),
    (ex.check_spurious_minimum, (np.eye(9),)),
])
@pytest.mark.parametrize("bad", [None, "0.5", True, 1 + 2j, math.nan, math.inf, [1.0, 2.0],
                                 object()])
def test_any_answer_gets_feedback(check, args, bad):
    for i in range(len(args)):
        fb = check(*args[:i], bad, *args[i + 1:])
        assert isinstance(fb, Feedback) and not fb


def test_feedback_never_reveals_the_reference():
    theta, widths, X, lab = _mlp()
    bound, taken = ex._reference_descent_steps()
    cases = [(ex.check_fixed_momentum(0.2, 0.6), FIXED),
             (ex.check_descent_steps(1e8, 3), (bound, taken)),
             (ex.check_slides_stability_limit(0.5), (0.7,)),
             (ex.check_escape_slope(8.0), (math.log(10) / math.log(1.3),))]
    for fb, ref in cases:
        assert fb.expected is None
        for r in ref:
            for digits in (3, 4, 6):
                assert f"{r:.{digits}g}" not in fb.message, (fb.message, r)
    for name in ex.__all__:
        doc = getattr(ex, name).__doc__
        for r in (*FIXED, 0.7, math.log(10) / math.log(1.3), bound):
            assert f"{r:.3g}" not in doc.replace("1e-4", ""), (name, r)


# ---------------------------------------------------------------------------------------------
# explorers

@pytest.mark.parametrize("name,kw", [("draw_quadratic", {}), ("draw_saddle", {}),
                                     ("draw_descent", {"alpha_M": 2.1}),
                                     ("draw_double_well", {})])
def test_explorer_redraw_time(name, kw, best_redraw_time):
    from mftheory.widgets import gradient_descent as widgets

    # the target is well under 0.2 s; the assert leaves room for a busy CI machine
    assert best_redraw_time(getattr(widgets, name), **kw) < 0.5


@pytest.mark.parametrize("name, slider, values, kw", [
    ("draw_quadratic", "alpha_factor", np.linspace(0.1, 1.5, 20), {"polyak": False}),
    ("draw_saddle", "log10_y0", np.linspace(-15.0, -1.0, 20), {}),
    ("draw_descent", "alpha_M", np.linspace(0.05, 3.0, 20), {}),
    ("draw_double_well", "alpha", np.linspace(0.01, 0.3, 20), {}),
])
def test_explorer_p95_update_time(name, slider, values, kw):
    """p95 of 20 updates over the slider's range on a reused figure (compute + canvas draw).

    Measured 2026-12-01 on the shared 2-core machine under a load average of 4-6, in CPU time
    of the process (wall time was 1.5-3 times more): quadratic 109 ms, saddle 86 ms, descent
    109 ms, double well 113 ms (medians 71-96 ms), after plain-text labels, no minor log ticks,
    cached saddle contours and at most ~150 markers per series (before: 162, 91, 122, 115 ms).
    Wall time on a loaded machine is noisy, so the bound only guards against a regression.
    """
    import matplotlib

    matplotlib.use("Agg")
    from mftheory.widgets import gradient_descent as widgets

    draw = getattr(widgets, name)
    fig = draw(**{slider: values[0]}, **kw)
    fig.canvas.draw()
    times = []
    for v in values:
        t0 = time.perf_counter()
        draw(fig=fig, **{slider: float(v)}, **kw)
        fig.canvas.draw()
        times.append(time.perf_counter() - t0)
    assert np.percentile(times, 95) < 1.5
    assert len(fig.axes) <= 4                      # the figure is reused, not accumulated

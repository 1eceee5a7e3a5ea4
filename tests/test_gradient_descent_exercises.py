"""The exercise checks of the gradient-descent chapter accept right answers, reject wrong ones,
and the chapter's explorers redraw quickly."""


import numpy as np
import pytest

from mftheory import landscape, optim
from mftheory.exercises import gradient_descent as ex


def test_checks_accept_and_reject():
    a, b, _ = optim.polyak_heavy_ball(1.0, 10.0)
    assert ex.check_polyak_parameters(a, b) and not ex.check_polyak_parameters(a, b * 1.01)
    assert ex.check_descent_step(0.25) and not ex.check_descent_step(0.5)
    assert ex.check_slides_stability_limit(0.3, 0.7) and not ex.check_slides_stability_limit(2.6, 0.3)
    assert ex.check_escape_slope(24.2) and not ex.check_escape_slope(10.0)
    fb = ex.check_polyak_parameters("abc", 0.3)
    assert not fb and "expected" in str(fb)


def test_backprop_check():
    widths = [2, 5, 1]
    theta = optim.mlp_init(widths, seed=0)
    rng = np.random.default_rng(0)
    X, Y = rng.normal(size=(8, 2)), rng.normal(size=(8, 1))
    g = optim.mlp_loss_and_backprop(theta, widths, X, Y)[1]
    assert ex.check_backprop_gradient(g, theta, widths, X, Y)
    assert not ex.check_backprop_gradient(1.01 * g, theta, widths, X, Y)
    assert not ex.check_backprop_gradient(g[:-1], theta, widths, X, Y)


def test_spurious_check_rejects_global_minimum():
    fb = ex.check_spurious_minimum(np.eye(8))
    assert not fb and "not a certified" in str(fb)
    assert not ex.check_spurious_minimum(np.eye(3))
    res = landscape.spurious_minima_search(8, 8, 60, n_steps=2000, seed=1)
    assert ex.check_spurious_minimum(res.W[np.flatnonzero(res.spurious)[0]])


@pytest.mark.parametrize("name,kw", [("draw_quadratic", {}), ("draw_saddle", {}),
                                     ("draw_descent", {"alpha_M": 2.1}),
                                     ("draw_double_well", {})])
def test_explorer_redraw_time(name, kw, best_redraw_time):
    from mftheory.widgets import gradient_descent as widgets

    # the target is well under 0.2 s; the assert leaves room for a busy CI machine
    assert best_redraw_time(getattr(widgets, name), **kw) < 0.5

"""Site scrubbers (mftheory.widgets.scrubber): each frame is the live explorer's figure at its
grid value (pixel for pixel, one explorer per chapter with scrubbers), the HTML is
self-contained and small, the CI grid is short, and bad input raises ValueError."""

from __future__ import annotations

import base64
import io
import json
import math
import re

import numpy as np
import pytest

mpl = pytest.importorskip("matplotlib")
mpl.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
from PIL import Image  # noqa: E402

from mftheory.widgets import _base  # noqa: E402
from mftheory.widgets import scrubber as S  # noqa: E402


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _stub(a=0.5, colour="C0", fig=None):
    """A cheap explorer: one line whose slope is ``a`` and the value in the title."""
    fig, (ax,) = _base.reusable_figure(fig, 1, 3.0, 2.0)
    x = np.linspace(0, 1, 20)
    ax.plot(x, a * x, color=colour)
    ax.set_ylim(-1, 1)
    ax.set_title(f"a = {a:g}")
    return fig


def _pixels(png: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB"), dtype=np.int16)


def _live(draw, size, dpi=72, colors=256, image_format="png", **kw):
    """The live widget's figure at one value, encoded as a frame: a fresh figure of the size
    that the explorer builder gives, without layout engine (as _base.explorer makes it)."""
    fig = plt.figure(figsize=size, layout="none")
    try:
        draw(fig=fig, **kw)
        assert fig.get_layout_engine() is None
        return S._encode(fig, dpi, colors, image_format)
    finally:
        plt.close(fig)


# --------------------------------------------------------------------------------------
# frames are the live draw function's figures
# --------------------------------------------------------------------------------------
# One explorer per chapter that has scrubbers. The frames are drawn on one reused figure
# after other values; the live figure is fresh. Pixel for pixel: the palette of a frame is
# computed from that frame alone, so equal renders give equal frames.
# The figure sizes are those the explorer builders pass to _base.explorer. The book's style
# (constrained layout by default) is on, as in the chapters.
EXPLORERS = [
    ("fisher", "draw_lambda_gamma", (10.5, 3.8), "sigma_w2", [1.0, 2.5, 3.5], {}),
    ("teacher_student", "draw_lossiness", (10.0, 3.6), "q", [0.0, 0.25, 0.5], {"kind": "exact"}),
    ("signal_propagation", "draw_phase", (11.0, 3.9), "sigma_w2", [0.5, 2.5, 4.5],
     {"act": "tanh"}),
    ("batchnorm", "draw_fixed_point", (10.0, 3.8), "B", [4, 8, 16], {"act": "relu"}),
    ("gradient_descent", "draw_descent", (10.0, 3.4), "alpha_M", [0.5, 1.0, 2.5], {}),
    ("square_loss", "draw_rho_ode", (10.5, 3.8), "log10_eps", [-8.0, -4.0, -1.0], {"lam": 0.3}),
    ("linear_networks", "draw_connection", (10.0, 4.0), "t", [0.0, 0.5, 1.0], {}),
]


@pytest.mark.parametrize("module,name,size,param,grid,fixed", EXPLORERS,
                         ids=[e[0] for e in EXPLORERS])
def test_frame_equals_live_draw_pixel_for_pixel(module, name, size, param, grid, fixed):
    import importlib

    from mftheory import plotting

    draw = getattr(importlib.import_module(f"mftheory.widgets.{module}"), name)
    with mpl.rc_context():
        plotting.use_style()
        frames = S.scrubber_frames(draw, param, grid, fixed=fixed)
        assert len(frames) == len(grid)
        for i in (1, 2):                # frames drawn after another value on the same figure
            live = _live(draw, size, **fixed, **{param: grid[i]})
            a, b = _pixels(frames[i]), _pixels(live)
            assert a.shape == b.shape
            assert np.array_equal(a, b), f"{np.mean(np.any(a != b, -1)):.2%} of pixels differ"
    assert not np.array_equal(_pixels(frames[0]), _pixels(frames[2]))   # the value matters


def test_frame_at_the_live_dpi_is_the_live_explorers_png():
    # The live explorer sends the PNG of its figure as drawn (no tight bounding box) at the
    # figure's dpi (100 in the book's style): a lossless frame at that dpi is the same image,
    # pixel for pixel, so the scrubber on the site shows what the live widget shows.
    import ipywidgets as w

    from mftheory import plotting
    from mftheory.widgets import signal_propagation as sp

    with mpl.rc_context():
        plotting.use_style()
        box = sp.phase_explorer()
        image = box.children[1]
        slider = next(c for c in box.children[0].children if c.description == "σ_w²")
        assert isinstance(image, w.Image)
        grid = [1.0, 3.5]
        frames = S.scrubber_frames(sp.draw_phase, "sigma_w2", grid,
                                   fixed={"act": "tanh", "sigma_b2": 0.05}, dpi=100,
                                   image_format="png-rgb")
        for value, frame in zip(grid, frames):
            slider.value = value
            live = _pixels(bytes(image.value))
            assert live.shape == (390, 1100, 3)            # 11 x 3.9 inches at 100 dpi
            assert np.array_equal(_pixels(frame), live)


def test_fisher_empirical_frame_is_the_button_figure():
    # The empirical explorer redraws on a button: draw_empirical(empirical_layers(mode, gamma,
    # width)) on its (6.4, 3.6) figure. draw_empirical_at (the scrubber's draw) gives the same
    # pixels after another gamma on the reused figure.
    from mftheory.widgets import fisher

    frames = S.scrubber_frames(fisher.draw_empirical_at, "gamma", [0.5, 2.0],
                               fixed={"width": 64})
    fig = plt.figure(figsize=(6.4, 3.6), layout="none")
    fisher.draw_empirical(fisher.empirical_layers("frozen", 2.0, 64), fig=fig)
    live = S._encode(fig, 72, 256, "png")
    assert np.array_equal(_pixels(frames[1]), _pixels(live))
    assert not np.array_equal(_pixels(frames[0]), _pixels(frames[1]))


def test_palette_frame_is_close_to_the_lossless_render():
    # The 256-colour palette keeps explorer figures nearly exact. Measured on the Fisher
    # explorer: 99.90% of the pixels within 8/255 of the lossless render, largest error 38/255
    # (anti-aliased crossings of two lines), mean 0.061/255.
    from mftheory.widgets import fisher

    exact = _pixels(_live(fisher.draw_lambda_gamma, (10.5, 3.8), image_format="png-rgb"))
    pal = _pixels(_live(fisher.draw_lambda_gamma, (10.5, 3.8)))
    err = np.abs(exact - pal).max(-1)
    assert exact.shape == pal.shape == (273, 756, 3)        # 10.5 x 3.8 inches at 72 dpi
    assert np.mean(err <= 8) > 0.998
    assert err.max() <= 48 and err.mean() < 0.1


# --------------------------------------------------------------------------------------
# the HTML
# --------------------------------------------------------------------------------------
def _parts(page):
    uris = json.loads(re.search(r"var f=(\[.*?\]);", page).group(1))
    texts = json.loads(re.search(r"var t=(\[.*?\]);", page).group(1))
    return uris, texts


def test_html_is_self_contained_with_slider_value_and_frames():
    grid = [-0.5, 0.0, 0.25, 0.5]
    page = S.scrubber(_stub, "a", grid, label="slope a", fmt="{:.2f}", initial=2,
                      fixed={"colour": "C1"})
    uris, texts = _parts(page)
    assert len(uris) == 4 and all(u.startswith("data:image/png;base64,") for u in uris)
    assert texts == ["slope a = -0.50", "slope a = 0.00", "slope a = 0.25", "slope a = 0.50"]
    assert len(set(uris)) == 4                                      # every frame differs
    assert re.search(r'<input class="mftheory-scrubber-slider" type="range" min="0" max="3" '
                     r'step="1" value="2"', page)
    assert '<output class="mftheory-scrubber-value">slope a = 0.25</output>' in page
    assert f'src="{uris[2]}"' in page                               # the initial frame shown
    assert "http" not in page and "<link" not in page               # no CDN, nothing outside
    assert page.count("<script>") == 1 and page.count("</script>") == 1
    for u in uris:                                                  # decodable PNGs
        img = Image.open(io.BytesIO(base64.b64decode(u.split(",", 1)[1])))
        assert img.format == "PNG" and img.size == (216, 144)       # 3 x 2 inches at 72 dpi
    assert plt.get_fignums() == []                                  # the figure was closed


def test_html_escapes_label_and_script_cannot_be_closed_early():
    page = S.scrubber(_stub, "a", [0.0, 1.0], label="</script><b>x")
    assert page.count("</script>") == 1 and "<b>" not in page


def test_default_initial_frame_is_the_draw_default_and_ids_differ():
    p1 = S.scrubber(_stub, "a", [0.0, 0.4, 0.7, 1.0])          # _stub's default: a = 0.5
    p2 = S.scrubber(_stub, "a", [0.0, 0.5, 0.9])
    assert 'value="1"' in p1 and "a = 0.4</output>" in p1

    def no_default(a, fig=None):
        return _stub(a, fig=fig)

    p3 = S.scrubber(no_default, "a", [0.0, 0.1, 0.2, 0.3])    # no default: the middle
    assert 'value="1"' in p3
    ids = [re.search(r'id="(mfscrub-\w+)"', p).group(1) for p in (p1, p2)]
    assert ids[0] != ids[1]


def test_integral_values_are_passed_as_int():
    seen = []

    def draw(n=1, fig=None):
        seen.append(n)
        return _stub(fig=fig)

    S.scrubber_frames(draw, "n", np.arange(2, 5))
    assert seen == [2, 2, 3, 4] and all(type(n) is int for n in seen)   # a probe for the size


def test_sizes_of_real_explorer_frames_fit_forty_per_scrubber():
    # Budget: 1.5 MB per scrubber of up to 40 frames -> 37 kB of PNG per frame (base64 adds
    # 1/3). Measured: 12-17 kB (Fisher), 6-9 kB (teacher-student).
    from mftheory.widgets import fisher, teacher_student

    for draw, param, grid in ((fisher.draw_lambda_gamma, "sigma_w2", [0.5, 4.0]),
                              (teacher_student.draw_lossiness, "q", [0.0, 0.5])):
        sizes = [len(f) for f in S.scrubber_frames(draw, param, grid)]
        assert max(sizes) * 4 / 3 * 40 < S.MAX_BYTES, sizes


def test_too_large_scrubber_is_refused(monkeypatch):
    monkeypatch.setattr(S, "MAX_BYTES", 10_000)
    with pytest.raises(ValueError, match="MB"):
        S.scrubber(_stub, "a", np.linspace(0, 1, 5))


# --------------------------------------------------------------------------------------
# frame_grid
# --------------------------------------------------------------------------------------
def test_frame_grid_full_and_ci(monkeypatch):
    monkeypatch.delenv("CI", raising=False)
    g = S.frame_grid(0.5, 4.0, 29)
    assert len(g) == 29 and g[0] == 0.5 and g[-1] == 4.0
    np.testing.assert_allclose(np.diff(g), 0.125, rtol=1e-12)
    g = S.frame_grid(0.1, 10.0, 21, log=True)
    np.testing.assert_allclose(g[[0, 10, 20]], [0.1, 1.0, 10.0], rtol=1e-12)
    for value in ("true", "1"):
        monkeypatch.setenv("CI", value)
        np.testing.assert_allclose(S.frame_grid(0.5, 4.0, 29), np.linspace(0.5, 4.0, 5))
        assert len(S.frame_grid(0.5, 4.0, 3)) == 3
        assert list(S.frame_grid(2, 8, 7, integer=True)) == [2, 4, 5, 6, 8]   # half to even
    monkeypatch.setenv("CI", "false")
    assert list(S.frame_grid(3, 30, 28, integer=True)) == list(range(3, 31))
    assert list(S.frame_grid(10, 10_000, 4, log=True, integer=True)) == [10, 100, 1000, 10_000]
    assert list(S.frame_grid(0, 1, 5, integer=True)) == [0, 1]
    assert len(S.frame_grid(0.5, 4.0, 29)) == 29


# --------------------------------------------------------------------------------------
# bad input
# --------------------------------------------------------------------------------------
def _no_figure(a=0.5, fig=None):
    return None


def _no_fig_param(a=0.5):
    return _stub(a)


@pytest.mark.parametrize("args,kw,match", [
    ((None, "a", [0.0, 1.0]), {}, "draw"),
    (("abc", "a", [0.0, 1.0]), {}, "draw"),
    ((_stub, "b", [0.0, 1.0]), {}, "param"),
    ((_stub, None, [0.0, 1.0]), {}, "param"),
    ((_stub, "", [0.0, 1.0]), {}, "param"),
    ((_stub, "a", [0.0]), {}, "values"),
    ((_stub, "a", []), {}, "values"),
    ((_stub, "a", np.zeros(61)), {}, "values"),
    ((_stub, "a", [[0.0, 1.0]]), {}, "values"),
    ((_stub, "a", [0.0, math.nan]), {}, "values"),
    ((_stub, "a", [0.0, math.inf]), {}, "values"),
    ((_stub, "a", ["x", "y"]), {}, "values"),
    ((_stub, "a", [1 + 1j, 2.0]), {}, "values"),
    ((_stub, "a", "01"), {}, "values"),
    ((_stub, "a", [0.0, 1.0]), {"fixed": {"nope": 1}}, "fixed"),
    ((_stub, "a", [0.0, 1.0]), {"fixed": {"a": 1}}, "fixed"),
    ((_stub, "a", [0.0, 1.0]), {"fixed": {"fig": None}}, "fixed"),
    ((_stub, "a", [0.0, 1.0]), {"fixed": "colour"}, "fixed"),
    ((_stub, "a", [0.0, 1.0]), {"dpi": 0}, "dpi"),
    ((_stub, "a", [0.0, 1.0]), {"dpi": 72.0}, "dpi"),
    ((_stub, "a", [0.0, 1.0]), {"dpi": True}, "dpi"),
    ((_stub, "a", [0.0, 1.0]), {"colors": 1}, "colors"),
    ((_stub, "a", [0.0, 1.0]), {"image_format": "gif"}, "image_format"),
    ((_stub, "a", [0.0, 1.0]), {"image_format": None}, "image_format"),
    ((_no_figure, "a", [0.0, 1.0]), {}, "draw"),
    ((_no_fig_param, "a", [0.0, 1.0]), {}, "draw"),
])
def test_bad_input_raises_value_error(args, kw, match):
    for f in (S.scrubber_frames, S.scrubber):
        with pytest.raises(ValueError, match=match):
            f(*args, **kw)


@pytest.mark.parametrize("kw,match", [
    ({"label": 3.0}, "label"), ({"fmt": None}, "fmt"), ({"fmt": "{:d}"}, "fmt"),
    ({"fmt": "{0}{1}"}, "fmt"), ({"fmt": "a"}, "fmt"), ({"fmt": ""}, "fmt"),
    ({"fmt": "{x}"}, "fmt"), ({"initial": 2}, "initial"),
    ({"initial": -1}, "initial"), ({"initial": 0.5}, "initial"), ({"alt": 1}, "alt")])
def test_bad_display_options_raise_value_error(kw, match):
    with pytest.raises(ValueError, match=match):
        S.scrubber(_stub, "a", [0.0, 0.5], **kw)


@pytest.mark.parametrize("args,match", [
    ((None, 1.0), "low"), ((0.0, "1"), "high"), ((1.0, 1.0), "high"), ((0.0, 1.0, 1), "n"),
    ((0.0, 1.0, 61), "n"), ((0.0, 1.0, 2.5), "n"), ((math.nan, 1.0), "low"),
    ((-1e308, 1e308), "finite")])
def test_frame_grid_bad_input(args, match):
    with pytest.raises(ValueError, match=match):
        S.frame_grid(*args)
    with pytest.raises(ValueError, match="low"):
        S.frame_grid(0.0, 1.0, log=True)
    with pytest.raises(ValueError, match="log"):
        S.frame_grid(0.1, 1.0, log=1)
    with pytest.raises(ValueError, match="integer"):
        S.frame_grid(0.1, 0.4, integer=True)

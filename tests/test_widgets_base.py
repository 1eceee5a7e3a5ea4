"""mftheory.widgets._base: the live explorer's update path (one Agg draw of the figure, as laid
out, to PNG bytes in an Image widget) and the figure's layout across redraws."""

import io

import matplotlib
import numpy as np
import pytest

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from PIL import Image  # noqa: E402

from mftheory.widgets import _base  # noqa: E402


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _parts(box):
    import ipywidgets as w

    ui, image = box.children
    assert isinstance(image, w.Image) and image.format == "png"
    return ui, ui.children[0], image


def _pixels(png):
    img = Image.open(io.BytesIO(png))
    assert img.format == "PNG"
    return np.asarray(img.convert("RGB"), dtype=np.int16)


def _draw(fig=None, a=1.0):
    # A figure laid out by hand with a long label reaching past the axes: a tight bounding box
    # would crop the white margin and change the image's size.
    fig, (ax,) = _base.reusable_figure(fig, 1, 4.0, 3.0)
    ax.plot([0, 1], [0, a], color="C1")
    ax.set_ylim(0, 1)
    ax.set_title(f"a = {a:.2f}")
    return fig


def test_update_gives_a_png_of_the_whole_figure_from_one_draw(monkeypatch):
    import IPython.display

    from mftheory import plotting

    plotting.use_style()                               # figure.dpi 100, as in the chapters
    draws, tight = [], []
    orig_draw, orig_tight = Figure.draw, Figure.get_tightbbox

    def counting_draw(self, renderer):
        draws.append(type(renderer).__name__)
        return orig_draw(self, renderer)

    def counting_tight(self, *args, **kwargs):
        tight.append(1)
        return orig_tight(self, *args, **kwargs)

    def no_display(*args, **kwargs):
        raise AssertionError("the explorer must not go through IPython's display")

    monkeypatch.setattr(Figure, "draw", counting_draw)
    monkeypatch.setattr(Figure, "get_tightbbox", counting_tight)
    monkeypatch.setattr(IPython.display, "display", no_display)
    box = _base.explorer(_draw, (4, 3), a=(0.0, 1.0))
    ui, slider, image = _parts(box)
    first = bytes(image.value)
    draws.clear()
    slider.value = 0.25
    png = bytes(image.value)
    assert draws == ["RendererAgg"]                   # one full draw per update, with Agg
    assert tight == []                                # no tight bounding box
    assert png != first
    # the whole figure at its own dpi (4 x 3 inches at 100 dpi), not cropped
    live = _pixels(png)
    assert live.shape == (300, 400, 3)
    # ... and the figure as drawn at 0.25: the same pixels as savefig of a fresh figure
    fig = plt.figure(figsize=(4, 3), layout="none")
    _draw(fig=fig, a=0.25)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    assert np.array_equal(live, _pixels(buf.getvalue()))
    assert not np.array_equal(live, _pixels(first))


def test_render_png_is_fast_compression_and_rejects_non_figures():
    fig = _draw(a=0.5)
    fast, small = _base._render_png(fig), _base._render_png(fig, compress_level=9)
    assert np.array_equal(_pixels(fast), _pixels(small))
    assert len(small) < len(fast)                     # level 1 is not the default level 6+
    for bad in (None, "fig", plt, 3.0):
        with pytest.raises(ValueError, match="fig"):
            _base._render_png(bad)
    for bad in (-1, 10, 1.0, True, None):
        with pytest.raises(ValueError, match="compress_level"):
            _base._render_png(fig, compress_level=bad)


def test_explorer_figure_keeps_no_layout_engine_across_updates():
    # savefig (hence IPython's display(fig)) ends by re-setting the layout engine; under the
    # book's style (constrained layout by default) a figure made with layout="none" then came
    # back with a ConstrainedLayoutEngine after its first display, and explorers that place
    # their own axes moved (the phase explorer divided by zero on its second redraw).
    from mftheory import plotting

    plotting.use_style()
    engines, positions = [], []

    def draw(fig=None, a=1.0):
        fig, (ax,) = _base.reusable_figure(fig, 1, 4.0, 3.0)
        ax.plot([0, a])
        engine = fig.get_layout_engine()
        engines.append(None if engine is None else type(engine).__name__)
        positions.append(tuple(ax.get_position().bounds))
        return fig

    box = _base.explorer(draw, (4, 3), a=(0.0, 1.0))
    _, slider, _ = _parts(box)
    for v in (0.3, 0.7, 0.2):
        slider.value = v
    assert len(engines) == 4 and all(e is None for e in engines), engines
    assert len(set(positions)) == 1, positions


def test_failing_draw_keeps_the_last_figure_and_recovers():
    def draw(fig=None, a=1.0):
        if a > 0.8:
            raise RuntimeError("no figure here")
        return _draw(fig=fig, a=a)

    box = _base.explorer(draw, (4, 3), a=(0.0, 1.0))
    _, slider, image = _parts(box)
    slider.value = 0.5
    good = bytes(image.value)
    slider.value = 0.9                                # interactive logs the error
    assert bytes(image.value) == good
    slider.value = 0.3
    assert bytes(image.value) != good and _pixels(image.value).shape == (300, 400, 3)


@pytest.mark.parametrize("module,name,kwargs", [
    ("signal_propagation", "draw_cobweb", {}),              # 5.6 in wide: y label
    ("fisher", "draw_layers", {"width": 64}),               # 6.4 in: long y tick labels
    ("batchnorm", "draw_spectrum", {"B": 66}),              # 6.5 in
    ("batchnorm", "draw_explosion", {"gamma": 0.5}),        # long title over the right panel
    ("teacher_student", "draw_overfitting", {}),            # long title, 6.4 in
    ("linear_networks", "draw_hardt_ma", {"K": 45}),
])
def test_explorer_figures_fit_inside_the_shown_figure(module, name, kwargs):
    # Without a tight bounding box, what lies outside the figure is cut off: these explorers'
    # labels and titles reached past its edges (up to 0.48 inch) at the values given, before
    # the 0.85-inch left margin of reusable_figure and the titles on two lines.
    import importlib

    from matplotlib.backends.backend_agg import FigureCanvasAgg

    from mftheory import plotting

    with matplotlib.rc_context():
        plotting.use_style()
        draw = getattr(importlib.import_module(f"mftheory.widgets.{module}"), name)
        fig = draw(**kwargs)                              # its own figure, its own size
        box = fig.get_tightbbox(FigureCanvasAgg(fig).get_renderer())
        w, h = fig.get_size_inches()
        assert box.x0 >= 0 and box.y0 >= 0 and box.x1 <= w and box.y1 <= h, (box, (w, h))


def test_reusable_figure_left_margin_is_at_least_085_inch():
    for width, left in ((5.6, 0.85 / 5.6), (10.0, 0.085), (13.0, 0.07), (1.0, 0.3)):
        fig, (ax,) = _base.reusable_figure(None, 1, width, 3.0)
        assert fig.subplotpars.left == pytest.approx(left)

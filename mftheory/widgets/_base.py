"""Shared machinery of the explorers: a reusable figure and the slider wiring.

An update (a slider moved, to the picture in the browser) should take under 100 ms. Re-creating
axes and ticks costs more than most of the computations, so a figure made by
:func:`reusable_figure` keeps its axes between redraws and only their artists are removed.

The figure reaches the browser as a PNG in an ``ipywidgets.Image`` whose ``value`` is replaced
(a binary comm message; no output cleared and re-added, so no flicker), rendered here once with
Agg at the figure's own dpi, without a tight bounding box and with fast zlib compression
(:func:`_render_png`). Displaying the figure through IPython instead (``display(fig)``) costs
twice as much: Jupyter's inline backend asks for ``bbox_inches='tight'``, whose bounding box
needs a second full draw, and compresses at level 6. The figures are laid out by hand
(:func:`reusable_figure` places the axes), so the tight box is not needed; what it cut was white
margin. Sharpness is that of the inline backend's default PNG: the figure's dpi (100 in the
book's style), one image pixel per CSS pixel.
"""

from __future__ import annotations

from .._validate import check_array, check_callable, check_positive_int, check_real

__all__ = ["reusable_figure", "explorer"]

_LEFT_MARGIN_INCHES = 0.85


def reusable_figure(fig, ncols, width, height, *, bottom=0.15, top=0.88, wspace=0.33):
    """A figure with ``ncols`` axes in a row, returned as ``(fig, axes)``.

    A figure made here before (with the same number of axes) is reused with its axes emptied
    of lines, collections, images, texts, patches, error-bar containers and legends; otherwise
    ``fig`` (or a new figure of the given size) is cleared and given fresh axes, with a left
    margin of at least 0.85 inch. No constrained layout: it would double the redraw time. ``ncols`` is 1..12; ``width``/``height`` in inches
    in (0, 100]; ``bottom < top`` in [0, 1]; ``wspace >= 0``.
    """
    import matplotlib.pyplot as plt
    from matplotlib.figure import Figure

    if fig is not None and not isinstance(fig, Figure):
        raise ValueError(f"`fig` must be None or a matplotlib Figure, got {type(fig).__name__}")
    ncols = check_positive_int("ncols", ncols, maximum=12)
    width = check_real("width", width, low=0.0, high=100.0, low_inclusive=False)
    height = check_real("height", height, low=0.0, high=100.0, low_inclusive=False)
    bottom = check_real("bottom", bottom, low=0.0, high=1.0)
    top = check_real("top", top, low=bottom, high=1.0, low_inclusive=False)
    wspace = check_real("wspace", wspace, low=0.0, high=10.0)

    axes = getattr(fig, "_mftheory_axes", None)
    if axes is not None and len(axes) == ncols:
        for ax in axes:
            for container in list(ax.containers):           # error bars: removes their children
                container.remove()
            for artist in (list(ax.lines) + list(ax.collections) + list(ax.images) + list(ax.texts)
                           + list(ax.patches)):
                artist.remove()
            if ax.get_legend() is not None:
                ax.get_legend().remove()
            ax.relim()
            ax.set_autoscale_on(True)
        return fig, axes
    if fig is None:
        fig = plt.figure(figsize=(width, height), layout="none")
    fig.clf()
    axes = list(fig.subplots(1, ncols, squeeze=False)[0])
    # The left margin holds the y tick labels and label: at least 0.85 inch (7% of a wide
    # figure; at most 30% of a tiny one). The figure is shown as laid out, without a tight
    # bounding box, so a smaller margin would cut them on narrow figures.
    left = min(max(0.07, _LEFT_MARGIN_INCHES / width), 0.3)
    fig.subplots_adjust(left=left, right=0.97, bottom=bottom, top=top, wspace=wspace)
    fig._mftheory_axes = axes
    return fig, axes


def _render_png(fig, *, compress_level=1):
    """The figure drawn once with Agg at its own dpi and encoded as an RGB PNG (``bytes``).

    No tight bounding box (the whole figure, as laid out), no layout engine run, zlib level
    ``compress_level`` (0..9; level 1 encodes about twice as fast as matplotlib's 6 for 5-15%
    more bytes on the explorers' figures). The figure keeps an Agg canvas afterwards.
    """
    import io

    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from PIL import Image

    if not isinstance(fig, Figure):
        raise ValueError(f"`fig` must be a matplotlib Figure, got {type(fig).__name__}")
    compress_level = check_positive_int("compress_level", compress_level, minimum=0, maximum=9)
    canvas = fig.canvas
    if not isinstance(canvas, FigureCanvasAgg):   # a closed pyplot figure has a bare canvas
        canvas = FigureCanvasAgg(fig)
    canvas.draw()
    width, height = canvas.get_width_height(physical=True)
    img = Image.frombuffer("RGBA", (width, height), canvas.buffer_rgba(), "raw", "RGBA", 0, 1)
    out = io.BytesIO()
    img.convert("RGB").save(out, format="png", compress_level=compress_level)
    return out.getvalue()


def explorer(draw, size, **controls):
    """Wire ipywidgets ``controls`` to ``draw(fig=..., **values)`` on one reused figure.

    Returns a ``VBox`` of the controls (an ``interactive``, whose output area shows a failing
    draw's traceback) and an ``Image`` widget holding the figure as a PNG
    (:func:`_render_png`), replaced on every update. ``size`` is the figure's
    ``(width, height)`` in inches, each in (0, 100].
    """
    check_callable("draw", draw)
    size = tuple(check_array("size", size, shape=(2,), low=0.0, high=100.0, low_inclusive=False))
    import ipywidgets as w
    import matplotlib.pyplot as plt

    fig = plt.figure(figsize=size, layout="none")
    plt.close(fig)                      # shown only through the Image widget below
    image = w.Image(format="png")
    failed = []                         # the last update raised: its traceback is shown

    def update(**kw):
        if failed:
            ui.out.clear_output()
            failed.clear()
        failed.append(True)
        draw(fig=fig, **kw)
        # One Agg draw: unlike savefig (and so display(fig)), this never re-sets the figure's
        # layout engine, so the axes stay where the draw function put them.
        image.value = _render_png(fig)
        failed.clear()

    ui = w.interactive(update, {"clear_output": False}, **controls)
    return w.VBox([ui, image])

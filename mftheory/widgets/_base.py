"""Shared machinery of the explorers: a reusable figure and the slider wiring.

Redrawing must stay well under 200 ms, and re-creating axes and ticks costs more than most of
the computations, so a figure made by :func:`reusable_figure` keeps its axes between redraws and
only their artists are removed.
"""

from __future__ import annotations

from .._validate import check_array, check_callable, check_positive_int, check_real

__all__ = ["reusable_figure", "explorer"]


def reusable_figure(fig, ncols, width, height, *, bottom=0.15, top=0.88, wspace=0.33):
    """A figure with ``ncols`` axes in a row, returned as ``(fig, axes)``.

    A figure made here before (with the same number of axes) is reused with its axes emptied
    of lines, collections, images, texts, patches, error-bar containers and legends; otherwise
    ``fig`` (or a new figure of the given size) is cleared and given fresh axes. No constrained
    layout: it would double the redraw time. ``ncols`` is 1..12; ``width``/``height`` in inches
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
    fig.subplots_adjust(left=0.07, right=0.97, bottom=bottom, top=top, wspace=wspace)
    fig._mftheory_axes = axes
    return fig, axes


def explorer(draw, size, **controls):
    """Wire ipywidgets ``controls`` to ``draw(fig=..., **values)`` on one reused figure.

    Returns a ``VBox`` of the controls and an ``Output`` widget showing the figure. ``size`` is
    the figure's ``(width, height)`` in inches, each in (0, 100].
    """
    check_callable("draw", draw)
    size = tuple(check_array("size", size, shape=(2,), low=0.0, high=100.0, low_inclusive=False))
    import ipywidgets as w
    import matplotlib
    import matplotlib.pyplot as plt
    from IPython.display import display

    fig = plt.figure(figsize=size, layout="none")
    plt.close(fig)                      # shown only through the Output widget below
    out = w.Output()

    def update(**kw):
        draw(fig=fig, **kw)
        with out:
            out.clear_output(wait=True)
            # Rendering re-sets the figure's layout engine afterwards; outside this context it
            # would fall back to the style's constrained layout, move the axes after the first
            # display and break explorers that place their axes themselves.
            with matplotlib.rc_context({"figure.constrained_layout.use": False,
                                        "figure.autolayout": False}):
                display(fig)

    return w.VBox([w.interactive(update, **controls), out])

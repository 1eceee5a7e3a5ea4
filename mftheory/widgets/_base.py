"""Shared machinery of the explorers: a reusable figure and the slider wiring.

Redrawing must stay well under 200 ms, and re-creating axes and ticks costs more than most of
the computations, so a figure made by :func:`reusable_figure` keeps its axes between redraws and
only their artists are removed.
"""

from __future__ import annotations

__all__ = ["reusable_figure", "explorer"]


def reusable_figure(fig, ncols, width, height, *, bottom=0.15, top=0.88, wspace=0.33):
    """A figure with ``ncols`` axes in a row, returned as ``(fig, axes)``.

    A figure made here before (with the same number of axes) is reused with its axes emptied
    of lines, collections, images, texts, patches, error-bar containers and legends; otherwise
    ``fig`` (or a new figure of the given size) is cleared and given fresh axes. No constrained
    layout: it would double the redraw time.
    """
    import matplotlib.pyplot as plt

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

    Returns a ``VBox`` of the controls and an ``Output`` widget showing the figure.
    """
    import ipywidgets as w
    import matplotlib.pyplot as plt
    from IPython.display import display

    fig = plt.figure(figsize=size, layout="none")
    plt.close(fig)                      # shown only through the Output widget below
    out = w.Output()

    def update(**kw):
        draw(fig=fig, **kw)
        with out:
            out.clear_output(wait=True)
            display(fig)

    return w.VBox([w.interactive(update, **controls), out])

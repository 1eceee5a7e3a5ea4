"""mftheory.widgets._base: the live explorer keeps its figure's own layout across redraws."""

import io

import matplotlib

matplotlib.use("Agg")


def test_explorer_figure_keeps_no_layout_engine_after_display(monkeypatch):
    # Rendering a figure re-sets its layout engine afterwards; under the book's style (whose
    # default is constrained layout) a figure made with layout="none" then came back with a
    # ConstrainedLayoutEngine after its first display, and explorers that place their own
    # axes moved (the phase explorer divided by zero on its second redraw).
    import IPython.display

    from mftheory import plotting
    from mftheory.widgets._base import explorer

    plotting.use_style()
    engines = []

    def draw(fig=None, a=1.0):
        fig.clf()
        fig.add_axes([0.1, 0.1, 0.8, 0.8]).plot([0, a])
        engine = fig.get_layout_engine()
        engines.append(None if engine is None else type(engine).__name__)
        return fig

    def render(fig, *args, **kwargs):         # what Jupyter's inline backend does
        fig.canvas.print_figure(io.BytesIO(), format="png", bbox_inches="tight")

    monkeypatch.setattr(IPython.display, "display", render)
    box = explorer(draw, (4, 3), a=(0.0, 1.0))
    slider = box.children[0].children[0]
    slider.value = 0.5
    slider.value = 0.7
    assert engines and all(e is None for e in engines), engines

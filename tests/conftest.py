"""Shared test helpers."""

from __future__ import annotations

import time

import pytest


@pytest.fixture
def best_redraw_time():
    """Best of ``repeats`` timings of ``draw(fig=fig, **kw)`` plus a canvas draw, on a reused figure.

    The first call (which builds the figure and any caches) is not timed; the best of three
    removes one-off hiccups of a busy machine.
    """
    import matplotlib

    matplotlib.use("Agg")

    def measure(draw, repeats=3, **kw):
        fig = draw(**kw)
        fig.canvas.draw()
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            draw(fig=fig, **kw)
            fig.canvas.draw()
            times.append(time.perf_counter() - t0)
        return min(times)

    return measure

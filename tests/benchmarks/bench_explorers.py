"""Update time of every explorer of the book, as a reader moving its main slider feels it.

Run by hand (a timing is not an assertion; each chapter's widget tests bound their own):

    OMP_NUM_THREADS=1 .venv/bin/python tests/benchmarks/bench_explorers.py [module.explorer ...]

For each ``*_explorer()`` of every ``mftheory.widgets`` module (or only the ones named) it
builds the live ipywidgets explorer, finds its first slider (the main parameter), moves it
through 21 positions spread over its whole range, and times each update from the new value to
the PNG bytes that the browser receives: the explorer's draw function, the one Agg render and
the PNG encoding (``mftheory.widgets._base.explorer``: the bytes become the ``value`` of its
``Image`` widget, which ipywidgets sends as a binary message). Each update is checked to have
produced a new PNG. It prints a Markdown table of the median and the 95th percentile (wall
clock and this process's CPU time) and the median PNG size.

``--inline`` times the former display path instead, for comparison: the figure shown with
``IPython.display.display`` inside an ``Output`` widget, rendered as Jupyter's inline backend
renders it (PNG at the figure's dpi with ``bbox_inches='tight'``, zlib level 6).
"""

from __future__ import annotations

import importlib
import inspect
import io
import pkgutil
import sys
import time

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402

import mftheory.widgets  # noqa: E402
from mftheory.widgets import _base  # noqa: E402

_PNG = b"\x89PNG\r\n\x1a\n"


def _inline_explorer(draw, size, **controls):
    """The former ``_base.explorer``: ``display(fig)`` in an ``Output``, as the inline backend
    renders it (its PNG bytes go to the Output's ``_png`` attribute, for the check below)."""
    import ipywidgets as w
    import matplotlib.pyplot as plt

    fig = plt.figure(figsize=size, layout="none")
    plt.close(fig)
    out = w.Output()

    def update(**kw):
        draw(fig=fig, **kw)
        with matplotlib.rc_context({"figure.constrained_layout.use": False,
                                    "figure.autolayout": False}):
            buf = io.BytesIO()
            # matplotlib_inline renders at the figure's own dpi (not savefig.dpi)
            fig.canvas.print_figure(buf, format="png", bbox_inches="tight", dpi=fig.dpi)
            out._png = buf.getvalue()

    return w.VBox([w.interactive(update, **controls), out])


def _walk(widget, types):
    found, stack = [], [widget]
    while stack:
        node = stack.pop(0)
        if isinstance(node, types):
            found.append(node)
        stack.extend(getattr(node, "children", ()) or ())
    return found


def _sliders(widget):
    import ipywidgets as w

    return _walk(widget, (w.IntSlider, w.FloatSlider, w.FloatLogSlider, w.SelectionSlider))


def _png_of(box):
    """The PNG bytes the explorer last produced (Image widget, or the inline stand-in)."""
    import ipywidgets as w

    images = _walk(box, (w.Image,))
    if images:
        return bytes(images[0].value)
    outs = [o for o in _walk(box, (w.Output,)) if hasattr(o, "_png")]
    return outs[0]._png if outs else b""


def _positions(slider, n=21):
    import ipywidgets as w

    if isinstance(slider, w.SelectionSlider):
        opts = list(slider.options)
        idx = np.linspace(0, len(opts) - 1, n).round().astype(int)
        values = [opts[i][1] if isinstance(opts[i], tuple) else opts[i] for i in idx]
    elif isinstance(slider, w.FloatLogSlider):
        values = list(slider.base ** np.linspace(slider.min, slider.max, n))
    else:
        values = list(np.linspace(slider.min, slider.max, n))
        if isinstance(slider, w.IntSlider):
            values = [int(round(v)) for v in values]
    # alternate ends and middle so that consecutive values differ
    return values[::2] + values[1::2]


def measure(factory):
    box = factory()
    sliders = _sliders(box)
    if not sliders:
        return None
    s = sliders[0]
    if not _png_of(box):        # not a _base.explorer (fisher's empirical one redraws on a button)
        return None
    walls, cpus, sizes = [], [], []
    for v in _positions(s):
        if v == s.value:
            continue
        before = _png_of(box)
        w0, c0 = time.perf_counter(), time.process_time()
        s.value = v
        walls.append(time.perf_counter() - w0)
        cpus.append(time.process_time() - c0)
        png = _png_of(box)
        if not png.startswith(_PNG) or png is before:
            raise RuntimeError(f"no new PNG after {s.description} = {v}")
        sizes.append(len(png))
    return s.description or "?", np.array(walls) * 1e3, np.array(cpus) * 1e3, np.array(sizes)


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    inline = "--inline" in argv
    wanted = {a for a in argv if not a.startswith("--")}
    if inline:
        _base.explorer = _inline_explorer   # the chapters' modules import it at import time
    from mftheory import plotting

    plotting.use_style()                    # as the chapters run (dpi 100)
    rows = []
    for info in pkgutil.iter_modules(mftheory.widgets.__path__):
        if info.name.startswith("_") or info.name == "scrubber":
            continue
        mod = importlib.import_module(f"mftheory.widgets.{info.name}")
        if inline:
            mod.explorer = _inline_explorer
        for name, fn in inspect.getmembers(mod, inspect.isfunction):
            if not name.endswith("_explorer") or fn.__module__ != mod.__name__:
                continue
            if wanted and f"{info.name}.{name}" not in wanted:
                continue
            if any(p.default is p.empty for p in inspect.signature(fn).parameters.values()):
                continue
            try:
                res = measure(fn)
            except Exception as exc:  # noqa: BLE001 - report and go on
                print(f"{info.name}.{name}: {type(exc).__name__}: {exc}", file=sys.stderr)
                continue
            if res is None:
                continue
            label, wall, cpu, size = res
            rows.append((info.name, name, label, np.median(wall), np.percentile(wall, 95),
                         np.percentile(cpu, 95), len(wall), np.median(size) / 1e3))
            print(f"{info.name}.{name}: p95 {np.percentile(wall, 95):.0f} ms", file=sys.stderr,
                  flush=True)
    print("| chapter | explorer | slider moved | median (ms) | p95 wall (ms) | p95 CPU (ms) "
          "| updates | PNG (kB) |")
    print("|---|---|---|---:|---:|---:|---:|---:|")
    for chap, name, label, med, p95, p95c, n, kb in rows:
        print(f"| {chap} | `{name}` | {label} | {med:.0f} | {p95:.0f} | {p95c:.0f} | {n} "
              f"| {kb:.0f} |")


if __name__ == "__main__":
    main()

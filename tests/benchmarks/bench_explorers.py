"""Update time of every explorer of the book, as a reader moving its main slider feels it.

Run by hand (a timing is not an assertion; each chapter's widget tests bound their own):

    OMP_NUM_THREADS=1 .venv/bin/python tests/benchmarks/bench_explorers.py

For each ``*_explorer()`` of every ``mftheory.widgets`` module it builds the live ipywidgets
explorer, finds its first slider (the main parameter), moves it through 21 positions spread over
its whole range, and times each update from the new value to a rendered PNG of the figure (the
figure is rendered as Jupyter's inline backend does: PNG at the figure's dpi, ``bbox_inches='tight'``). It prints a
Markdown table of the median and the 95th percentile (wall clock and this process's CPU time).
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

import IPython.display  # noqa: E402
import numpy as np  # noqa: E402

import mftheory.widgets  # noqa: E402

_rendered = []


def _render(obj, *args, **kwargs):
    """Stand-in for IPython's display: a figure becomes a PNG, as the inline backend does."""
    if hasattr(obj, "savefig"):
        buf = io.BytesIO()
        # matplotlib_inline renders at the figure's own dpi (not savefig.dpi)
        obj.canvas.print_figure(buf, format="png", bbox_inches="tight", dpi=obj.dpi)
        _rendered.append(buf.tell())


def _sliders(widget):
    import ipywidgets as w

    found, stack = [], [widget]
    while stack:
        node = stack.pop(0)
        if isinstance(node, (w.IntSlider, w.FloatSlider, w.FloatLogSlider, w.SelectionSlider)):
            found.append(node)
        stack.extend(getattr(node, "children", ()) or ())
    return found


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
    IPython.display.display = _render
    box = factory()
    sliders = _sliders(box)
    if not sliders:
        return None
    s = sliders[0]
    walls, cpus = [], []
    for v in _positions(s):
        if v == s.value:
            continue
        w0, c0 = time.perf_counter(), time.process_time()
        s.value = v
        walls.append(time.perf_counter() - w0)
        cpus.append(time.process_time() - c0)
    return s.description or "?", np.array(walls) * 1e3, np.array(cpus) * 1e3


def main():
    rows = []
    for info in pkgutil.iter_modules(mftheory.widgets.__path__):
        if info.name.startswith("_") or info.name == "scrubber":
            continue
        mod = importlib.import_module(f"mftheory.widgets.{info.name}")
        for name, fn in inspect.getmembers(mod, inspect.isfunction):
            if not name.endswith("_explorer") or fn.__module__ != mod.__name__:
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
            label, wall, cpu = res
            rows.append((info.name, name, label, np.median(wall), np.percentile(wall, 95),
                         np.percentile(cpu, 95), len(wall)))
    print("| chapter | explorer | slider moved | median (ms) | p95 wall (ms) | p95 CPU (ms) | updates |")
    print("|---|---|---|---:|---:|---:|---:|")
    for chap, name, label, med, p95, p95c, n in rows:
        print(f"| {chap} | `{name}` | {label} | {med:.0f} | {p95:.0f} | {p95c:.0f} | {n} |")


if __name__ == "__main__":
    main()

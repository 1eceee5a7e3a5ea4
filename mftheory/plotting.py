"""One figure style for every chapter, readable in the site's light and dark themes.

Figures get an explicit white background (``figure.facecolor`` and ``savefig.facecolor``),
dark text and the colour-blind-safe Okabe-Ito palette, so a figure looks the same on the
light page, on the dark page (where it shows as a white card) and in a downloaded notebook.
Convention used by every chapter: **theory is drawn as lines, simulations as markers with
error bars** (:func:`theory_vs_simulation`).
"""

from __future__ import annotations

import matplotlib as mpl
import numpy as np

from ._validate import check_array


def _plot_array(name, x, **kw):
    """``x`` as a float array, checked like :func:`~mftheory._validate.check_array` except that
    NaN and inf entries are allowed (matplotlib leaves a gap there)."""
    if isinstance(x, (list, tuple)):
        try:
            candidate = np.asarray(x)
        except Exception:                    # ragged: check_array below says what is wrong
            candidate = None
        if candidate is not None and candidate.dtype.kind == "f":
            x = candidate
    if isinstance(x, np.ndarray) and x.dtype.kind == "f":
        check_array(name, np.nan_to_num(x, nan=0.0, posinf=0.0, neginf=0.0), **kw)
        return x.astype(float)
    return check_array(name, x, **kw)


__all__ = ["PALETTE", "use_style", "theory_vs_simulation", "STYLE"]

#: Okabe & Ito's colour-blind-safe palette (black first, then the eight hues).
PALETTE = {
    "blue": "#0072B2", "orange": "#E69F00", "green": "#009E73", "vermillion": "#D55E00",
    "purple": "#CC79A7", "sky": "#56B4E9", "yellow": "#F0E442", "black": "#000000",
    "grey": "#7F7F7F",
}

STYLE = {
    "figure.facecolor": "white",
    "savefig.facecolor": "white",
    "axes.facecolor": "white",
    "axes.edgecolor": "#333333",
    "axes.labelcolor": "#222222",
    "text.color": "#222222",
    "xtick.color": "#333333",
    "ytick.color": "#333333",
    "axes.prop_cycle": mpl.cycler(color=[PALETTE[k] for k in (
        "blue", "vermillion", "green", "orange", "purple", "sky", "black")]),
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.color": "#DDDDDD",
    "grid.linewidth": 0.6,
    "figure.dpi": 100,
    "savefig.dpi": 150,
    "figure.figsize": (6.4, 4.0),
    "font.size": 10.5,
    "axes.titlesize": 11,
    "legend.frameon": False,
    "lines.linewidth": 1.8,
    "lines.markersize": 5,
    "figure.constrained_layout.use": True,
}


def use_style() -> None:
    """Apply the book's matplotlib style (call once, in a chapter's imports cell)."""
    mpl.rcParams.update(STYLE)


def theory_vs_simulation(ax, x_theory, y_theory, x_sim, y_sim, y_err=None, *, label="",
                         color=None, marker="o"):
    """Draw a theory curve (line) and simulation points (markers, optional error bars).

    Returns the colour used, so several pairs can share a legend entry style. ``ax`` is a
    matplotlib ``Axes``; ``x_theory``/``y_theory`` and ``x_sim``/``y_sim`` are 1-D arrays of
    equal lengths (NaN or inf entries are allowed and leave gaps); ``y_err`` (optional) is >= 0
    with the shape of ``y_sim`` (or ``(2, n)``).
    """
    from matplotlib.axes import Axes
    from matplotlib.colors import is_color_like

    if not isinstance(ax, Axes):
        raise ValueError(f"`ax` must be a matplotlib Axes, got {type(ax).__name__}")
    x_theory = _plot_array("x_theory", x_theory, ndim=1)
    y_theory = _plot_array("y_theory", y_theory, shape=x_theory.shape)
    x_sim = _plot_array("x_sim", x_sim, ndim=1)
    y_sim = _plot_array("y_sim", y_sim, shape=x_sim.shape)
    if y_err is not None:
        y_err = _plot_array("y_err", y_err, low=0.0)
        if y_err.shape not in (y_sim.shape, (2,) + y_sim.shape, ()):
            raise ValueError(f"`y_err` must have shape {y_sim.shape} or {(2,) + y_sim.shape}, "
                             f"got {y_err.shape}")
    if not isinstance(label, str):
        raise ValueError(f"`label` must be a string, got {type(label).__name__}")
    if color is not None and (isinstance(color, bool) or not is_color_like(color)):
        raise ValueError(f"`color` must be None or a matplotlib colour, got {color!r}")
    if not isinstance(marker, str) or not marker:
        raise ValueError(f"`marker` must be a matplotlib marker string such as 'o', got "
                         f"{marker!r}")
    (line,) = ax.plot(x_theory, y_theory, color=color, label=f"{label} theory" if label
                      else "theory")
    color = line.get_color()
    y_sim = np.asarray(y_sim)
    if y_err is None:
        ax.plot(x_sim, y_sim, marker, color=color, mfc="white", mew=1.4,
                label=f"{label} simulation" if label else "simulation")
    else:
        ax.errorbar(x_sim, y_sim, yerr=y_err, fmt=marker, color=color, mfc="white", mew=1.4,
                    capsize=2, label=f"{label} simulation" if label else "simulation")
    return color

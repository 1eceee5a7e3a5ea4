r"""Site scrubbers: an explorer's main slider, working on the static site without a kernel.

On the rendered site an ipywidgets explorer is frozen in its initial state (it needs a kernel to
redraw). A *scrubber* is the explorer's own draw function evaluated at build time over a grid of
its main parameter, on one reused figure; the frames are embedded in a small self-contained
piece of HTML (an ``<img>``, an ``<input type="range">``, an ``<output>`` showing the parameter's
value and a few lines of inline script that swap the image). It needs no CDN, no kernel and no
server: it works from a folder, offline, in Jupyter and on the site alike.

Conventions
-----------
* ``draw(fig=None, **kwargs)`` is an explorer's draw function (as in
  :mod:`mftheory.widgets.signal_propagation`): called with ``fig=None`` it makes its figure,
  called with that figure again it redraws on it (:func:`mftheory.widgets._base.reusable_figure`),
  and it returns the figure.
* Frame ``i`` is ``draw(fig=fig, **fixed, **{param: values[i]})`` rendered at ``dpi`` and encoded
  as a PNG with an adaptive palette of at most ``colors`` colours (explorer figures have few
  colours: the palette makes a frame about three times smaller than an RGB PNG; measured on the
  Fisher explorer, 99.9% of the pixels within 8/255 of the lossless render, the rest where
  anti-aliasing blends two lines). The frame at a grid value is the live widget's figure at that
  value, pixel for pixel (tested); ``image_format='png-rgb'`` gives lossless RGB frames.
* Size: about 10-40 kB per frame at the default 72 dpi, so 25-35 frames stay under the 1.5 MB
  per scrubber that a page can afford; :func:`scrubber` refuses to return a larger one.

Chapters call it in one line::

    from IPython.display import HTML
    HTML(scrubber(explorers.draw_cobweb, "sigma_w2", np.linspace(0.5, 4, 31), label="σ_w²"))

References: the frames-and-slider idea is that of matplotlib's ``Animation.to_jshtml``
(Hunter 2007, matplotlib), here without its player controls and with a palette PNG per frame.
"""

from __future__ import annotations

import base64
import hashlib
import html
import inspect
import io
import json
import os
import string

import numpy as np

from .._validate import check_array, check_bool, check_callable, check_positive_int, check_real

__all__ = ["frame_grid", "scrubber_frames", "scrubber"]

MAX_FRAMES = 60
MAX_BYTES = 1_500_000          # per scrubber (HTML text), the page budget of the issue
_FORMATS = ("png", "png-rgb")


def _ci() -> bool:
    """True in CI mode (the environment variable CI set, as :func:`mftheory.runtime.scale`)."""
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def frame_grid(low, high, n=25, *, log=False, integer=False):
    """``n`` values from ``low`` to ``high`` (both included; geometric when ``log``) for a
    scrubber; in CI mode only ``min(n, 5)`` of them (same ends), so that the chapters run
    fast under the tests while the site, built without CI, gets every frame.

    With ``integer`` the values are rounded to integers and repeats dropped (for integer
    parameters such as a depth or a width). ``low < high`` finite (``low > 0`` when ``log``);
    ``n`` in [2, 60].
    """
    low = check_real("low", low)
    high = check_real("high", high, low=low, low_inclusive=False)
    n = check_positive_int("n", n, minimum=2, maximum=MAX_FRAMES)
    log = check_bool("log", log)
    integer = check_bool("integer", integer)
    if _ci():
        n = min(n, 5)
    if log:
        if low <= 0:
            raise ValueError(f"`low` must be > 0 for a geometric grid (log=True), got {low:g}")
        grid = np.geomspace(low, high, n)
    else:
        with np.errstate(over="ignore", invalid="ignore"):
            grid = np.linspace(low, high, n)
    if not np.all(np.isfinite(grid)):
        raise ValueError("`low` and `high` must be finite with a finite difference, got "
                         f"{low:g} and {high:g}")
    if integer:
        if max(abs(low), abs(high)) > 2**53:
            raise ValueError(f"`low` and `high` must be below 2**53 in size for an integer grid, "
                             f"got {low:g} and {high:g}")
        grid = np.unique(np.round(grid))
        if grid.size < 2:
            raise ValueError(f"an integer grid from `low` = {low:g} to `high` = {high:g} "
                             f"must hold at least 2 integers")
    return grid


def _check_setup(draw, param, values, fixed, dpi, colors, image_format):
    check_callable("draw", draw)
    if not isinstance(param, str) or not param.isidentifier():
        raise ValueError(f"`param` must be the name of one of draw's parameters (a str), "
                         f"got {param!r:.60}")
    vals = check_array("values", values, ndim=1)
    if not 2 <= vals.size <= MAX_FRAMES:
        raise ValueError(f"`values` must have between 2 and {MAX_FRAMES} entries (one frame "
                         f"each), got {vals.size}")
    if fixed is None:
        fixed = {}
    if not isinstance(fixed, dict) or not all(isinstance(k, str) for k in fixed):
        raise ValueError(f"`fixed` must be None or a dict of draw's keyword arguments, got "
                         f"{type(fixed).__name__}")
    if param in fixed or "fig" in fixed:
        raise ValueError(f"`fixed` must not contain `fig` or the scrubbed parameter {param!r}")
    try:
        sig = inspect.signature(draw)
    except (TypeError, ValueError):
        sig = None
    if sig is not None:
        ps = sig.parameters
        var_kw = any(p.kind is p.VAR_KEYWORD for p in ps.values())
        for key, what in [("fig", "draw")] + [(k, "fixed") for k in fixed] + [(param, "param")]:
            if key not in ps and not var_kw:
                raise ValueError(f"`{what}`: draw has no parameter {key!r}; it takes "
                                 f"{', '.join(ps) or 'nothing'}")
    dpi = check_positive_int("dpi", dpi, minimum=10, maximum=300)
    colors = check_positive_int("colors", colors, minimum=2, maximum=256)
    if not isinstance(image_format, str) or image_format not in _FORMATS:
        raise ValueError(f"unknown image_format {image_format!r:.40}; expected one of "
                         f"{', '.join(map(repr, _FORMATS))}")
    return vals, dict(fixed), dpi, colors


def _js(x):
    """JSON safe inside an inline <script> (no '</script>' can end it early)."""
    return json.dumps(x).replace("<", "\\u003c").replace(">", "\\u003e")


def _as_value(v):
    """A grid value as the draw function expects it: an int when it is integral."""
    return int(v) if float(v).is_integer() and abs(v) < 2**53 else float(v)


class _NoLayout:
    """Matplotlib's ``savefig`` ends by re-setting the figure's layout engine, and a figure
    without one then gets the rc default: the book's style turns constrained layout on, which
    moves the axes of every later frame (and fails on some figures). Inside this context the rc
    default is no layout engine."""

    def __enter__(self):
        import matplotlib as mpl

        self._ctx = mpl.rc_context({"figure.constrained_layout.use": False,
                                    "figure.autolayout": False})
        self._ctx.__enter__()

    def __exit__(self, *exc):
        return self._ctx.__exit__(*exc)


_NO_LAYOUT = _NoLayout()


def _encode(fig, dpi, colors, image_format):
    """The figure rendered at ``dpi`` as PNG bytes (palette PNG unless 'png-rgb')."""
    from PIL import Image

    buf = io.BytesIO()
    if image_format == "png-rgb":
        with _NO_LAYOUT:
            fig.savefig(buf, format="png", dpi=dpi, facecolor="white")
        return buf.getvalue()
    with _NO_LAYOUT:
        fig.savefig(buf, format="raw", dpi=dpi, facecolor="white")    # RGBA, no PNG round trip
    w, h = (int(x) for x in fig.get_size_inches() * dpi)            # as the Agg renderer
    raw = buf.getvalue()
    if len(raw) == 4 * w * h:
        img = Image.frombuffer("RGBA", (w, h), raw, "raw", "RGBA", 0, 1).convert("RGB")
    else:                                                           # another backend's rounding
        buf = io.BytesIO()
        with _NO_LAYOUT:
            fig.savefig(buf, format="png", dpi=dpi, facecolor="white")
        buf.seek(0)
        img = Image.open(buf).convert("RGB")
    pal = img.quantize(colors=colors, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
    out = io.BytesIO()
    pal.save(out, format="PNG", compress_level=9)
    return out.getvalue()


def _default_index(draw, param, vals):
    """The frame nearest the draw function's default value of ``param``, else the middle."""
    try:
        default = inspect.signature(draw).parameters[param].default
        default = float(default) if not isinstance(default, (bool, np.bool_)) else None
    except (TypeError, ValueError, KeyError):
        default = None
    if default is None or not np.isfinite(default):
        return (len(vals) - 1) // 2
    return int(np.argmin(np.abs(vals - default)))


def _draw_value(draw, fig, param, value, fixed):
    from matplotlib.figure import Figure

    res = draw(fig=fig, **fixed, **{param: value})
    if not isinstance(res, Figure):
        raise ValueError(f"`draw` must return a matplotlib Figure, got {type(res).__name__}")
    return res


def scrubber_frames(draw, param, values, *, fixed=None, dpi=72, colors=256, image_format="png"):
    """The encoded frames (a list of PNG ``bytes``), one per entry of ``values``.

    ``draw(fig=..., **fixed, param=value)`` is called for each value on one reused figure made
    as the live explorer makes it (the size of the figure that ``draw(fig=None, ...)`` makes,
    without layout engine), never displayed by the notebook. Integral grid values are passed
    as ``int``. ``values``: 2 to 60 finite reals; ``dpi`` in [10, 300]; ``colors`` (palette size)
    in [2, 256]; ``image_format`` 'png' (palette) or 'png-rgb' (lossless, larger).
    """
    import matplotlib.pyplot as plt

    vals, fixed, dpi, colors = _check_setup(draw, param, values, fixed, dpi, colors,
                                            image_format)
    fig = None
    frames = []
    try:
        # The live explorer (mftheory.widgets._base.explorer) draws on a figure of the draw
        # function's own size made with layout="none"; do the same (the style's constrained
        # layout would move the axes, and fails on some figures).
        with _NO_LAYOUT:
            probe = _draw_value(draw, None, param, _as_value(vals[0]), fixed)
        size = tuple(probe.get_size_inches())
        plt.close(probe)
        fig = plt.figure(figsize=size, layout="none")
        plt.close(fig)                        # never displayed by the notebook itself
        for v in vals:
            fig = _draw_value(draw, fig, param, _as_value(v), fixed)
            frames.append(_encode(fig, dpi, colors, image_format))
    finally:
        if fig is not None:
            plt.close(fig)
    return frames


def scrubber(draw, param, values, *, fixed=None, label=None, fmt="{:g}", initial=None, dpi=72,
             colors=256, image_format="png", alt=None):
    """A self-contained HTML scrubber (a ``str``) of ``draw`` over ``values`` of ``param``.

    Display it with ``IPython.display.HTML``. The slider shows ``label`` (default ``param``) and
    the value formatted by ``fmt`` (a format string with one field, e.g. ``'{:.2f}'``);
    ``initial`` is the index of the first frame shown (default: the grid value nearest the
    draw function's default for ``param``, as the live widget starts, else the middle); ``alt`` the
    image's text alternative. Other arguments as :func:`scrubber_frames`. Raises ``ValueError``
    when the HTML would exceed 1.5 MB (lower ``dpi`` or the number of values).
    """
    vals, _, _, _ = _check_setup(draw, param, values, fixed, dpi, colors, image_format)
    if label is None:
        label = param
    if not isinstance(label, str):
        raise ValueError(f"`label` must be None or a str, got {type(label).__name__}")
    if not isinstance(fmt, str):
        raise ValueError(f"`fmt` must be a format string such as '{{:g}}', got "
                         f"{type(fmt).__name__}")
    try:
        fields = [f for _, f, _, _ in string.Formatter().parse(fmt) if f is not None]
        if len(fields) != 1:
            raise ValueError(f"{len(fields)} replacement fields")
        texts = [fmt.format(_as_value(v)) for v in vals]
    except (ValueError, IndexError, KeyError, TypeError, AttributeError) as exc:
        raise ValueError(f"`fmt` must be a format string with one field such as '{{:g}}', got "
                         f"{fmt!r:.40} ({exc})") from None
    if initial is None:
        initial = _default_index(draw, param, vals)
    initial = check_positive_int("initial", initial, minimum=0, maximum=len(vals) - 1)
    if alt is None:
        alt = f"the explorer's figure at {label} = "
    if not isinstance(alt, str):
        raise ValueError(f"`alt` must be None or a str, got {type(alt).__name__}")

    frames = scrubber_frames(draw, param, vals, fixed=fixed, dpi=dpi, colors=colors,
                             image_format=image_format)
    uris = ["data:image/png;base64," + base64.b64encode(f).decode("ascii") for f in frames]
    uid = "mfscrub-" + hashlib.sha1("".join(uris).encode("ascii")).hexdigest()[:12]
    e = html.escape
    page = (
        f'<div class="mftheory-scrubber" id="{uid}" data-param="{e(param)}">'
        f'<img class="mftheory-scrubber-frame" src="{uris[initial]}" '
        f'alt="{e(alt + texts[initial])}" style="max-width:100%;height:auto;display:block">'
        f'<label style="display:flex;align-items:center;gap:0.8em;font-size:0.9em">'
        f'<span>{e(label)}</span>'
        f'<input class="mftheory-scrubber-slider" type="range" min="0" max="{len(uris) - 1}" '
        f'step="1" value="{initial}" style="flex:1;max-width:32em" '
        f'aria-label="{e(label)}">'
        f'<output class="mftheory-scrubber-value">{e(label)} = {e(texts[initial])}</output>'
        f'</label>'
        f'<script>(function(){{var r=document.getElementById("{uid}");'
        f'var f={_js(uris)};var t={_js([label + " = " + s for s in texts])};'
        f'var a={_js(alt)};'
        f'var i=r.querySelector("img"),s=r.querySelector("input"),o=r.querySelector("output");'
        f's.addEventListener("input",function(){{var k=+s.value;i.src=f[k];'
        f'o.textContent=t[k];i.alt=a+t[k].slice(t[k].indexOf("= ")+2);}});}})();</script>'
        f'</div>')
    if len(page) > MAX_BYTES:
        raise ValueError(f"the scrubber would take {len(page) / 1e6:.2f} MB (more than "
                         f"{MAX_BYTES / 1e6:g} MB): lower `dpi` or the number of `values`")
    return page

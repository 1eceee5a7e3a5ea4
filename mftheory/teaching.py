"""Instructors' tools: the LaTeX macros of every notebook, student notebooks without solutions,
and a student-edition site.

**Macros.** The book's LaTeX macros (``\\sw``, ``\\E``, ...) are defined once, in ``_config.yml``
(``sphinx.config.mathjax3_config.tex.macros``), which only the built site reads. Jupyter, Colab
and nbconvert render a notebook's markdown with MathJax and know nothing of that file, so each
notebook carries the same definitions in its first cell: a markdown cell of
``$\\newcommand{\\sw}{\\sigma_w^2}$`` lines, tagged ``remove-cell`` (the site drops it, so the
chapter's label and title stay the first thing on the page) and marked
``"mftheory": {"role": "latex-macros"}`` in its metadata so that :func:`add_macro_cell` finds
and rewrites it. MathJax's ``\\newcommand`` definitions are global to the page, so one cell
serves the whole notebook. :func:`latex_macros` reads the list from ``_config.yml``,
:func:`macro_cell_source` writes the cell, :func:`add_macro_cell` puts it first in a notebook.

Exercises in the chapters use sphinx-exercise. A solution is either a single markdown
directive (```` ```{solution} ex-label ```` ... ```` ``` ````) or a *gated* solution that
spans cells: a markdown cell opening ```` ```{solution-start} ex-label ````, the solution's
code and text cells, and a markdown cell with ```` ```{solution-end} ````.

:func:`strip_solutions` removes both kinds from a notebook (and all outputs), leaving in
place of each solution a short cell that tells the student how to check an answer.
:func:`student_config` turns the book's ``_config.yml`` into the student edition's
(``hide_solutions: true``: the site keeps the exercises and drops every solution).

Command line (the last two are used by ``make student``)::

    python -m mftheory.teaching macros book/*.ipynb            # write/refresh the macro cells
    python -m mftheory.teaching macros --check book/*.ipynb    # exit 1 if any is missing/stale
    python -m mftheory.teaching student-notebooks book student/notebooks
    python -m mftheory.teaching student-config _config.yml _build/student/src/_config.yml

``macros`` reads ``_config.yml`` from the current folder (``--config PATH`` to change it).

``make student`` builds the student site from the stripped notebooks (``hide_solutions`` only
guards what is left; on its own it crashes on gated solutions with sphinx-exercise 1.2.1).
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

__all__ = ["latex_macros", "macro_cell_source", "add_macro_cell", "write_macro_cells",
           "strip_solutions", "student_notebooks", "student_config", "main"]

#: Metadata that marks a notebook's macro cell (so the generator finds it again).
MACRO_MARK = {"role": "latex-macros"}
_MACRO_NAME = re.compile(r"^[A-Za-z]+$")

_GATE_START = re.compile(r"^\s*(`{3,}|:{3,})\{solution-start\}\s*(\S+)", re.MULTILINE)
_GATE_END = re.compile(r"^\s*(`{3,}|:{3,})\{solution-end\}", re.MULTILINE)
_INLINE = re.compile(r"^(?P<fence>`{3,}|:{3,})\{solution\}.*?^(?P=fence)\s*$",
                     re.MULTILINE | re.DOTALL)

_PLACEHOLDER = ("*Solution removed in the student edition.* Exercises with a numeric answer "
                "have a check function: `from mftheory.exercises import {chapter}` and call "
                "the `check_...` function named in the exercise.")


def _source(cell) -> str:
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else src


def _fence_end(text: str, start: int, fence: str) -> int:
    """Index just after the line that closes the directive whose opening line starts at ``start``."""
    closing = re.compile(rf"^\s*{re.escape(fence)}\s*$", re.MULTILINE)
    line_end = text.find("\n", start)
    if line_end < 0:
        return len(text)
    m = closing.search(text, line_end + 1)
    if m is None:
        return len(text)
    return m.end()


# ---------------------------------------------------------------------------------------------
# LaTeX macros


def latex_macros(config_text) -> dict[str, tuple[str, int]]:
    """The book's LaTeX macros, read from the text of ``_config.yml``.

    Returns ``{name: (definition, number_of_arguments)}`` in the file's order, from
    ``sphinx.config.mathjax3_config.tex.macros``, whose entries are MathJax's: a string, or a
    list ``[definition, n_args]`` (or ``[definition, n_args, default]``, which is refused: an
    optional argument has no ``\\newcommand`` form that all renderers share).
    """
    import yaml

    if not isinstance(config_text, str):
        raise ValueError(f"`config_text` must be the text of _config.yml (a str), "
                         f"got {type(config_text).__name__}")
    try:
        cfg = yaml.safe_load(config_text)
    except yaml.YAMLError as err:
        raise ValueError(f"`config_text` is not valid YAML: {err}") from None
    try:
        raw = cfg["sphinx"]["config"]["mathjax3_config"]["tex"]["macros"]
    except (TypeError, KeyError):
        raise ValueError("`config_text` has no sphinx.config.mathjax3_config.tex.macros "
                         "mapping") from None
    if not isinstance(raw, dict) or not raw:
        raise ValueError("sphinx.config.mathjax3_config.tex.macros must be a non-empty mapping")
    macros = {}
    for name, value in raw.items():
        if not isinstance(name, str) or not _MACRO_NAME.match(name):
            raise ValueError(f"macro name {name!r} must be letters only (e.g. 'sw')")
        if isinstance(value, str):
            body, nargs = value, 0
        elif (isinstance(value, list) and len(value) == 2 and isinstance(value[0], str)
              and isinstance(value[1], int) and not isinstance(value[1], bool)
              and 1 <= value[1] <= 9):
            body, nargs = value
        else:
            raise ValueError(f"macro {name!r}: the definition must be a string or "
                             f"[string, n_args] with 1 <= n_args <= 9, got {value!r}")
        if "$" in body or "\n" in body:
            raise ValueError(f"macro {name!r}: the definition may not contain '$' or a newline")
        macros[name] = (body, nargs)
    return macros


def macro_cell_source(macros) -> str:
    """The text of a notebook's macro cell: one ``$\\newcommand...$`` per macro.

    The first line is an HTML comment (invisible in Jupyter) saying where the list comes from.
    """
    if not isinstance(macros, dict) or not macros:
        raise ValueError("`macros` must be a non-empty dict {name: (definition, n_args)} as "
                         "returned by latex_macros()")
    lines = ["<!-- LaTeX macros for Jupyter, Colab and nbconvert, generated from _config.yml "
             "by `python -m mftheory.teaching macros`; do not edit by hand. -->"]
    for name, spec in macros.items():
        if (not isinstance(name, str) or not _MACRO_NAME.match(name)
                or not isinstance(spec, tuple) or len(spec) != 2
                or not isinstance(spec[0], str) or "$" in spec[0]
                or not isinstance(spec[1], int) or isinstance(spec[1], bool)
                or not 0 <= spec[1] <= 9):
            raise ValueError(f"`macros`: entry {name!r}: {spec!r} is not "
                             f"(definition without '$', n_args in 0..9)")
        body, nargs = spec
        args = f"[{nargs}]" if nargs else ""
        lines.append(f"$\\newcommand{{\\{name}}}{args}{{{body}}}$")
    return "\n".join(lines)


def _is_macro_cell(cell) -> bool:
    return (isinstance(cell, dict) and cell.get("cell_type") == "markdown"
            and isinstance(cell.get("metadata"), dict)
            and cell["metadata"].get("mftheory") == MACRO_MARK)


def add_macro_cell(nb, macros) -> tuple[dict, bool]:
    """Return a copy of notebook ``nb`` whose first cell is the macro cell, and whether it changed.

    An existing macro cell (found by its metadata mark, wherever it is) is rewritten and moved to
    the front, keeping its cell id; extra copies are removed. The other cells are untouched.
    """
    if not isinstance(nb, dict) or not isinstance(nb.get("cells"), list):
        raise ValueError("`nb` must be a notebook (a dict with a 'cells' list)")
    source = macro_cell_source(macros)
    old = [c for c in nb["cells"] if _is_macro_cell(c)]
    rest = [c for c in nb["cells"] if not _is_macro_cell(c)]
    cell = json.loads(json.dumps(old[0])) if old else {"cell_type": "markdown"}
    cell["metadata"] = {"mftheory": dict(MACRO_MARK), "tags": ["remove-cell"]}
    cell["source"] = source
    if "id" not in cell and nb.get("nbformat", 4) >= 4 and nb.get("nbformat_minor", 5) >= 5:
        cell["id"] = "latex-macros"
    out = dict(nb)
    out["cells"] = [cell] + rest
    changed = not (len(old) == 1 and nb["cells"] and nb["cells"][0] is old[0]
                   and old[0] == cell)
    return out, changed


def write_macro_cells(paths, config_path="_config.yml", *, check=False) -> list[str]:
    """Put the macro cell of ``config_path``'s macros first in each notebook of ``paths``.

    Returns the notebooks that changed (with ``check=True``: that would change; nothing is
    written). Notebooks are read and written with nbformat, as jupytext writes them.
    """
    import nbformat

    if isinstance(paths, (str, Path)):
        paths = [paths]
    if not isinstance(paths, (list, tuple)) or not paths:
        raise ValueError("`paths` must be a non-empty list of notebook paths")
    if not isinstance(check, bool):
        raise ValueError(f"`check` must be True or False, got {check!r}")
    for p in paths:
        if not isinstance(p, (str, Path)) or not Path(p).is_file():
            raise ValueError(f"`paths`: {p!r} is not an existing notebook file")
    if not isinstance(config_path, (str, Path)) or not Path(config_path).is_file():
        raise ValueError(f"`config_path`: {config_path!r} is not an existing file (the book's "
                         f"_config.yml)")
    macros = latex_macros(Path(config_path).read_text())
    changed = []
    for p in paths:
        text = Path(p).read_text()
        try:
            nb = nbformat.reads(text, as_version=4)
        except Exception as err:                      # nbformat raises several kinds
            raise ValueError(f"{str(p)!r} is not a notebook: {err}") from None
        new, did = add_macro_cell(nb, macros)
        if did:
            changed.append(str(p))
            if not check:
                nbformat.write(nbformat.from_dict(new), str(p))
    return changed


# ---------------------------------------------------------------------------------------------
# Student edition


def strip_solutions(nb: dict, chapter: str = "<chapter>") -> tuple[dict, int]:
    """Return a copy of notebook ``nb`` without solutions or outputs, and how many were removed.

    Works on the text, not on whole cells: jupytext puts consecutive markdown in one cell, so
    an exercise, the ``solution-start`` of its solution, and (after the solution's code) the
    ``solution-end`` together with the next exercise often share cells. Text before a
    ``solution-start`` and after a ``solution-end`` is kept; everything in between (markdown
    and code) is removed and replaced by one placeholder cell.

    Raises ValueError if a ``solution-start`` has no matching ``solution-end``.
    """
    if not isinstance(nb, dict) or "cells" not in nb:
        raise ValueError("`nb` must be a notebook (a dict with a 'cells' list)")
    if not isinstance(chapter, str):
        raise ValueError(f"`chapter` must be the chapter's module name (a str), got "
                         f"{type(chapter).__name__}")
    cells, removed, inside = [], 0, None

    def keep_markdown(cell, text):
        nonlocal removed
        text, n = _INLINE.subn(_PLACEHOLDER.format(chapter=chapter), text)
        removed += n
        if text.strip():
            new = json.loads(json.dumps(cell))
            new["source"] = text.strip("\n")
            cells.append(new)

    for cell in nb["cells"]:
        if cell.get("cell_type") != "markdown":
            if inside is None:
                cell = json.loads(json.dumps(cell))
                if cell.get("cell_type") == "code":
                    cell["outputs"], cell["execution_count"] = [], None
                cells.append(cell)
            continue
        text = _source(cell)
        while True:
            if inside is None:
                m = _GATE_START.search(text)
                if m is None:
                    keep_markdown(cell, text)
                    break
                keep_markdown(cell, text[:m.start()])
                inside = m.group(2)
                text = text[_fence_end(text, m.start(), m.group(1)):]
            else:
                m = _GATE_END.search(text)
                if m is None:                     # solution text: dropped
                    break
                cells.append(_placeholder(chapter))
                removed += 1
                inside = None
                text = text[_fence_end(text, m.start(), m.group(1)):]
    if inside is not None:
        raise ValueError(f"solution-start {inside!r} has no matching solution-end")
    out = dict(nb)
    out["cells"] = cells
    out["metadata"] = {k: v for k, v in nb.get("metadata", {}).items() if k != "widgets"}
    return out, removed


def _placeholder(chapter):
    return {"cell_type": "markdown", "metadata": {},
            "source": _PLACEHOLDER.format(chapter=chapter)}


def student_notebooks(src_dir, dst_dir) -> dict[str, int]:
    """Write a solution-free copy of every notebook of ``src_dir`` into ``dst_dir``."""
    src_dir, dst_dir = Path(src_dir), Path(dst_dir)
    if not src_dir.is_dir():
        raise ValueError(f"`src_dir` must be a folder of notebooks, got {str(src_dir)!r}")
    counts = {}
    for path in sorted(src_dir.rglob("*.ipynb")):
        if ".ipynb_checkpoints" in path.parts:
            continue
        nb = json.loads(path.read_text())
        out, n = strip_solutions(nb, chapter=path.stem)
        target = dst_dir / path.relative_to(src_dir)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(json.dumps(out, indent=1, ensure_ascii=False) + "\n")
        counts[str(path.relative_to(src_dir))] = n
    return counts


def student_config(config_text: str) -> str:
    """The student edition's ``_config.yml``: same book, ``hide_solutions: true``."""
    import yaml

    if not isinstance(config_text, str):
        raise ValueError(f"`config_text` must be the text of _config.yml (a str), "
                         f"got {type(config_text).__name__}")
    try:
        cfg = yaml.safe_load(config_text)
    except yaml.YAMLError as err:
        raise ValueError(f"`config_text` is not valid YAML: {err}") from None
    if not isinstance(cfg, dict):
        raise ValueError("`config_text` must be a YAML mapping (the text of _config.yml)")
    cfg["title"] = f"{cfg.get('title', 'Book')} (student edition)"
    cfg.setdefault("sphinx", {}).setdefault("config", {})["hide_solutions"] = True
    return yaml.safe_dump(cfg, sort_keys=False, allow_unicode=True)


def main(argv=None) -> int:
    """Command line; see the module docstring. Returns the exit status."""
    if argv is None:
        argv = sys.argv[1:]
    if not isinstance(argv, (list, tuple)) or not all(isinstance(a, str) for a in argv):
        raise ValueError(f"`argv` must be None or a list of strings, got {argv!r}")
    argv = list(argv)
    if argv and argv[0] == "macros":
        args, config, check = argv[1:], "_config.yml", False
        if "--check" in args:
            check = True
            args = [a for a in args if a != "--check"]
        if "--config" in args:
            i = args.index("--config")
            if i + 1 >= len(args):
                print("--config needs a path", file=sys.stderr)
                return 2
            config = args[i + 1]
            args = args[:i] + args[i + 2:]
        if not args:
            print("macros: give the notebooks, e.g. book/*.ipynb", file=sys.stderr)
            return 2
        changed = write_macro_cells(args, config, check=check)
        for name in changed:
            print(f"{name}: macro cell {'missing or stale' if check else 'written'}")
        if not changed:
            print(f"{len(args)} notebook(s): macro cells up to date")
        return 1 if (check and changed) else 0
    if len(argv) == 3 and argv[0] == "student-notebooks":
        counts = student_notebooks(argv[1], argv[2])
        for name, n in counts.items():
            print(f"{name}: {n} solution(s) removed")
        return 0
    if len(argv) == 3 and argv[0] == "student-config":
        Path(argv[2]).parent.mkdir(parents=True, exist_ok=True)
        Path(argv[2]).write_text(student_config(Path(argv[1]).read_text()))
        return 0
    print(__doc__.split("Command line")[1], file=sys.stderr)
    return 2


if __name__ == "__main__":
    raise SystemExit(main())

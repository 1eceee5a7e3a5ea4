"""Instructors' tools: student notebooks without solutions, and a student-edition site.

Exercises in the chapters use sphinx-exercise. A solution is either a single markdown
directive (```` ```{solution} ex-label ```` ... ```` ``` ````) or a *gated* solution that
spans cells: a markdown cell opening ```` ```{solution-start} ex-label ````, the solution's
code and text cells, and a markdown cell with ```` ```{solution-end} ````.

:func:`strip_solutions` removes both kinds from a notebook (and all outputs), leaving in
place of each solution a short cell that tells the student how to check an answer.
:func:`student_config` turns the book's ``_config.yml`` into the student edition's
(``hide_solutions: true``: the site keeps the exercises and drops every solution).

Command line (used by ``make student``)::

    python -m mftheory.teaching student-notebooks book student/notebooks
    python -m mftheory.teaching student-config _config.yml _build/student/src/_config.yml

``make student`` builds the student site from the stripped notebooks (``hide_solutions`` only
guards what is left; on its own it crashes on gated solutions with sphinx-exercise 1.2.1).
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

__all__ = ["strip_solutions", "student_notebooks", "student_config", "main"]

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

    cfg = yaml.safe_load(config_text)
    if not isinstance(cfg, dict):
        raise ValueError("the configuration must be a YAML mapping")
    cfg["title"] = f"{cfg.get('title', 'Book')} (student edition)"
    cfg.setdefault("sphinx", {}).setdefault("config", {})["hide_solutions"] = True
    return yaml.safe_dump(cfg, sort_keys=False, allow_unicode=True)


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
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

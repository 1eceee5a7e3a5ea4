"""The gates of `make book` and `make test` really fail on a failing cell.

Each test builds a throw-away book with the project's own _config.yml through the very make
targets that `make book` and `make test` use (build-html, which executes every notebook once and
then renders it; book-check calls it with CI=true) and the developers' `make nbval`, once with a
healthy chapter (the gate must pass, so the failure below is not an artefact of the set-up)
and once with a chapter whose cell raises (the gate must fail).
"""

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FAILING = "raise RuntimeError('deliberately failing cell')"


def _book(tmp_path: Path, code: str) -> Path:
    src = tmp_path / "book-src"
    (src / "book").mkdir(parents=True)
    shutil.copy(ROOT / "_config.yml", src / "_config.yml")
    shutil.copy(ROOT / "book" / "references.bib", src / "book" / "references.bib")
    for folder in ("_ext", "_static"):          # the site's extension and scripts (_config.yml)
        shutil.copytree(ROOT / "book" / folder, src / "book" / folder)
    (src / "_toc.yml").write_text("format: jb-book\nroot: book/intro\nchapters:\n"
                                  "- file: book/chapter\n")
    (src / "book" / "intro.md").write_text("# Gate test\n\nA book with one chapter.\n")
    nb = {"nbformat": 4, "nbformat_minor": 5,
          "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3",
                                      "language": "python"}},
          "cells": [{"cell_type": "markdown", "metadata": {}, "source": "# Chapter"},
                    {"cell_type": "code", "metadata": {}, "execution_count": None,
                     "outputs": [], "source": "x = 1 + 1"},
                    {"cell_type": "code", "metadata": {}, "execution_count": None,
                     "outputs": [], "source": code}]}
    (src / "book" / "chapter.ipynb").write_text(json.dumps(nb))
    return src


def _make(*args):
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_XDIST")}
    env.pop("PYTEST_CURRENT_TEST", None)
    return subprocess.run(["make", "--no-print-directory", "-C", str(ROOT), *args],
                          capture_output=True, text=True, env=env, timeout=600)


@pytest.mark.parametrize("code,should_pass", [("print(x)", True), (FAILING, False)],
                         ids=["healthy", "failing"])
def test_book_build_gate(tmp_path, code, should_pass):
    src = _book(tmp_path, code)
    res = _make("build-html", f"SRC={src}", f"OUT={tmp_path / 'out'}")
    log = res.stdout + res.stderr
    if should_pass:
        assert res.returncode == 0, log[-3000:]
        assert (tmp_path / "out" / "_build" / "html" / "index.html").exists()
    else:
        assert res.returncode != 0, log[-3000:]
        assert "deliberately failing cell" in log


@pytest.mark.parametrize("code,should_pass", [("print(x)", True), (FAILING, False)],
                         ids=["healthy", "failing"])
def test_nbval_gate(tmp_path, code, should_pass):
    src = _book(tmp_path, code)
    res = _make("nbval", f"NOTEBOOKS={src / 'book' / 'chapter.ipynb'}", "JOBS=1")
    log = res.stdout + res.stderr
    assert (res.returncode == 0) == should_pass, log[-3000:]
    if not should_pass:
        assert "deliberately failing cell" in log


def test_student_edition(tmp_path):
    # A chapter with an exercise whose gated solution holds a secret; the student edition must
    # build (sphinx-exercise's hide_solutions alone crashes on gated solutions) and contain the
    # exercise but neither in its notebooks nor on its site the solution.
    src = _book(tmp_path, "print(x)")
    nb = json.loads((src / "book" / "chapter.ipynb").read_text())
    nb["cells"] += [
        {"cell_type": "markdown", "metadata": {},
         "source": "```{exercise}\n:label: ex-gate\n\nCompute 6 * 7.\n```\n\n"
                   "```{solution-start} ex-gate\n:class: dropdown\n```\n"},
        {"cell_type": "code", "metadata": {}, "execution_count": None, "outputs": [],
         "source": "secret_answer = 6 * 7\nprint('SECRET', secret_answer)"},
        {"cell_type": "markdown", "metadata": {}, "source": "```{solution-end}\n```"},
    ]
    (src / "book" / "chapter.ipynb").write_text(json.dumps(nb))
    out = tmp_path / "out"
    res = _make("student", f"SRC={src}", f"STUDENT_OUT={out}")
    assert res.returncode == 0, (res.stdout + res.stderr)[-3000:]
    student_nb = (out / "student" / "notebooks" / "chapter.ipynb").read_text()
    html = (out / "_build" / "student" / "_build" / "html" / "book" / "chapter.html").read_text()
    assert "Compute 6 * 7" in student_nb and "Compute 6 * 7" in html
    assert "secret_answer" not in student_nb and "SECRET" not in html

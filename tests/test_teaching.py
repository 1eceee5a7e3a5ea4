import json

import pytest
import yaml

from mftheory import teaching


def _md(src):
    return {"cell_type": "markdown", "metadata": {}, "source": src}


def _code(src):
    return {"cell_type": "code", "metadata": {}, "source": src, "execution_count": 3,
            "outputs": [{"output_type": "stream", "name": "stdout", "text": "42"}]}


NB = {"nbformat": 4, "nbformat_minor": 5, "metadata": {"widgets": {"x": 1}}, "cells": [
    _md("# Chapter"),
    _md("```{exercise}\n:label: ex-a\nCompute q*.\n```"),
    _md("```{solution-start} ex-a\n:class: dropdown\n```"),
    _code("answer = 0.418037\ncheck(answer)"),
    _md("Explanation of the solution."),
    _md("```{solution-end}\n```"),
    _md("```{exercise}\n:label: ex-b\nProve it.\n```\n\n```{solution} ex-b\n:class: dropdown\n"
        "By induction.\n```\nAfter."),
    _code("x = 1"),
]}


def test_strip_solutions_removes_gated_and_inline_solutions_and_outputs():
    out, n = teaching.strip_solutions(NB, chapter="signal_propagation")
    text = json.dumps(out)
    assert n == 2
    assert "0.418037" not in text and "By induction" not in text and "Explanation" not in text
    assert "Compute q*." in text and "Prove it." in text and "After." in text
    assert "from mftheory.exercises import signal_propagation" in text
    codes = [c for c in out["cells"] if c["cell_type"] == "code"]
    assert codes == [{"cell_type": "code", "metadata": {}, "source": "x = 1",
                      "execution_count": None, "outputs": []}]
    assert "widgets" not in out["metadata"]
    assert NB["cells"][3]["outputs"]                  # the input notebook is not modified


def test_strip_solutions_with_jupytext_cell_layout():
    # jupytext merges consecutive markdown: exercise + solution-start share a cell, and the
    # solution-end shares one with the next exercise and its solution-start.
    nb = {"cells": [
        _md("Intro text.\n\n```{exercise}\n:label: ex-a\n\nCompute q*.\n```\n\n"
            "```{solution-start} ex-a\n:class: dropdown\n```\n\nSolution words A."),
        _code("secret_a = 0.418037"),
        _md("More solution words.\n\n```{solution-end}\n```\n\n```{exercise}\n:label: ex-b\n\n"
            "Find xi_c.\n```\n\n```{solution-start} ex-b\n:class: dropdown\n```"),
        _code("secret_b = 11.7956"),
        _md("```{solution-end}\n```\n\nClosing remarks."),
        _code("y = 2"),
    ]}
    out, n = teaching.strip_solutions(nb, chapter="ch")
    text = json.dumps(out)
    assert n == 2
    for kept in ("Intro text.", "Compute q*.", "Find xi_c.", "Closing remarks.", "y = 2"):
        assert kept in text
    for gone in ("secret_a", "secret_b", "Solution words A", "More solution words", "solution-start",
                 "solution-end"):
        assert gone not in text
    kinds = [(c["cell_type"], c["source"][:12]) for c in out["cells"]]
    assert kinds == [("markdown", "Intro text.\n"), ("markdown", "*Solution re"),
                     ("markdown", "```{exercise"), ("markdown", "*Solution re"),
                     ("markdown", "Closing rema"), ("code", "y = 2")]


def test_unterminated_solution_is_an_error():
    nb = {"cells": [_md("```{solution-start} ex-a\n```"), _code("1")]}
    with pytest.raises(ValueError, match="no matching solution-end"):
        teaching.strip_solutions(nb)
    with pytest.raises(ValueError, match="must be a notebook"):
        teaching.strip_solutions([])


def test_student_notebooks_and_config(tmp_path):
    (tmp_path / "book").mkdir()
    (tmp_path / "book" / "ch.ipynb").write_text(json.dumps(NB))
    counts = teaching.student_notebooks(tmp_path / "book", tmp_path / "student")
    assert counts == {"ch.ipynb": 2}
    assert "0.418037" not in (tmp_path / "student" / "ch.ipynb").read_text()
    cfg = yaml.safe_load(teaching.student_config("title: T\nsphinx:\n  config:\n    a: 1\n"))
    assert cfg["sphinx"]["config"] == {"a": 1, "hide_solutions": True}
    assert cfg["title"] == "T (student edition)"
    with pytest.raises(ValueError, match="folder of notebooks"):
        teaching.student_notebooks(tmp_path / "missing", tmp_path / "x")

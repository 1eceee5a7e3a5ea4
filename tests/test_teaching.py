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


# ---------------------------------------------------------------------------------------------
# LaTeX macros of the notebooks

CONFIG = """
sphinx:
  config:
    mathjax3_config:
      tex:
        macros:
          E: "\\\\mathbb{E}"
          sw: "\\\\sigma_w^2"
          norm: ["\\\\left\\\\lVert #1 \\\\right\\\\rVert", 1]
"""


def test_latex_macros_and_the_cell_they_make():
    macros = teaching.latex_macros(CONFIG)
    assert macros == {"E": ("\\mathbb{E}", 0), "sw": ("\\sigma_w^2", 0),
                      "norm": ("\\left\\lVert #1 \\right\\rVert", 1)}
    lines = teaching.macro_cell_source(macros).splitlines()
    assert lines[0].startswith("<!--") and lines[0].endswith("-->")
    assert lines[1:] == ["$\\newcommand{\\E}{\\mathbb{E}}$", "$\\newcommand{\\sw}{\\sigma_w^2}$",
                         "$\\newcommand{\\norm}[1]{\\left\\lVert #1 \\right\\rVert}$"]


def test_the_books_config_has_the_macros_the_chapters_use():
    from pathlib import Path
    text = (Path(__file__).resolve().parents[1] / "_config.yml").read_text()
    macros = teaching.latex_macros(text)
    assert {"E", "sw", "sb", "Normal", "Dz", "chione"} <= set(macros)


@pytest.mark.parametrize("bad, match", [
    (None, "must be the text"), (b"x", "must be the text"), ("a: [", "not valid YAML"),
    ("title: x", "no sphinx.config"), ("sphinx: 3", "no sphinx.config"),
    ("sphinx: {config: {mathjax3_config: {tex: {macros: {}}}}}", "non-empty"),
    ("sphinx: {config: {mathjax3_config: {tex: {macros: {a1: x}}}}}", "letters only"),
    ("sphinx: {config: {mathjax3_config: {tex: {macros: {a: 3}}}}}", "must be a string"),
    ("sphinx: {config: {mathjax3_config: {tex: {macros: {a: [x, 1, d]}}}}}", "must be a string"),
    ("sphinx: {config: {mathjax3_config: {tex: {macros: {a: [x, true]}}}}}", "must be a string"),
    ("sphinx: {config: {mathjax3_config: {tex: {macros: {a: '$x$'}}}}}", "may not contain"),
])
def test_latex_macros_rejects_bad_config(bad, match):
    with pytest.raises(ValueError, match=match):
        teaching.latex_macros(bad)


@pytest.mark.parametrize("bad", [None, {}, [("E", "x")], {"E": "x"}, {"E1": ("x", 0)},
                                 {"E": ("x", -1)}, {"E": ("x", True)}, {"E": ("$", 0)}])
def test_macro_cell_source_rejects_bad_macros(bad):
    with pytest.raises(ValueError, match="macros"):
        teaching.macro_cell_source(bad)


def test_add_macro_cell_inserts_moves_refreshes_and_dedupes():
    macros = teaching.latex_macros(CONFIG)
    nb = {"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": [_md("(ch-x)=\n# X")]}
    out, changed = teaching.add_macro_cell(nb, macros)
    assert changed and out["cells"][1:] == nb["cells"] and len(nb["cells"]) == 1
    first = out["cells"][0]
    assert first["metadata"] == {"mftheory": {"role": "latex-macros"}, "tags": ["remove-cell"]}
    assert first["source"] == teaching.macro_cell_source(macros) and first["id"]
    assert teaching.add_macro_cell(out, macros) == (out, False)
    # a stale cell in the wrong place, plus a duplicate: one fresh cell, first, same id
    stale = dict(first, source="$\\newcommand{\\old}{x}$", id="keep-me")
    messy = dict(nb, cells=[nb["cells"][0], stale, dict(stale, id="dup")])
    fixed, changed = teaching.add_macro_cell(messy, macros)
    assert changed and len(fixed["cells"]) == 2 and fixed["cells"][1] == nb["cells"][0]
    assert fixed["cells"][0]["id"] == "keep-me"
    assert fixed["cells"][0]["source"] == first["source"]
    with pytest.raises(ValueError, match="must be a notebook"):
        teaching.add_macro_cell({"cells": None}, macros)


def test_write_macro_cells_and_the_command_line(tmp_path, capsys):
    import nbformat

    cfg = tmp_path / "_config.yml"
    cfg.write_text(CONFIG)
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("(ch-x)=\n# X")])
    path = tmp_path / "x.ipynb"
    nbformat.write(nb, str(path))
    argv = ["macros", "--config", str(cfg), str(path)]
    assert teaching.main(argv[:1] + ["--check"] + argv[1:]) == 1
    assert teaching.main(argv) == 0
    assert "written" in capsys.readouterr().out
    assert teaching.main(argv[:1] + ["--check"] + argv[1:]) == 0
    assert teaching.write_macro_cells([path], cfg) == []
    written = nbformat.read(str(path), as_version=4)
    nbformat.validate(written)
    assert written.cells[0].source == teaching.macro_cell_source(teaching.latex_macros(CONFIG))
    assert teaching.main(["macros"]) == 2
    for bad in (None, [], [tmp_path / "missing.ipynb"], 3):
        with pytest.raises(ValueError):
            teaching.write_macro_cells(bad, cfg)
    with pytest.raises(ValueError, match="True or False"):
        teaching.write_macro_cells([path], cfg, check=1)
    (tmp_path / "bad.ipynb").write_text("not json")
    with pytest.raises(ValueError, match="not a notebook"):
        teaching.write_macro_cells([tmp_path / "bad.ipynb"], cfg)
    with pytest.raises(ValueError, match="list of strings"):
        teaching.main("macros")


def test_student_edition_keeps_the_macro_cell():
    macros = teaching.latex_macros(CONFIG)
    nb, _ = teaching.add_macro_cell(NB, macros)
    out, n = teaching.strip_solutions(nb, chapter="ch")
    assert n == 2 and out["cells"][0]["source"] == teaching.macro_cell_source(macros)
    assert out["cells"][0]["metadata"]["tags"] == ["remove-cell"]

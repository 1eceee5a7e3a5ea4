"""The book's own rules: notebooks committed without outputs, the toc lists exactly the pages
that exist, every chapter's install cell points at the repository named in _config.yml."""

import json
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted(p for p in (ROOT / "book").rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts)
CONFIG = yaml.safe_load((ROOT / "_config.yml").read_text())
TOC = yaml.safe_load((ROOT / "_toc.yml").read_text())


def _toc_files(node):
    if isinstance(node, dict):
        for k, v in node.items():
            if k in ("file", "root"):
                yield v
            else:
                yield from _toc_files(v)
    elif isinstance(node, list):
        for v in node:
            yield from _toc_files(v)


def test_there_are_chapters():
    assert NOTEBOOKS, "book/ has no notebooks"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_committed_without_outputs(path):
    nb = json.loads(path.read_text())
    for i, cell in enumerate(nb["cells"]):
        if cell["cell_type"] == "code":
            assert cell.get("outputs") == [], f"{path.name} cell {i} has outputs"
            assert cell.get("execution_count") is None, f"{path.name} cell {i} was executed"
    assert "widgets" not in nb.get("metadata", {}), f"{path.name} carries widget state"


def test_toc_lists_exactly_the_pages_that_exist():
    listed = set(_toc_files(TOC))
    for name in listed:
        assert any((ROOT / f"{name}{ext}").exists() for ext in (".md", ".ipynb")), \
            f"_toc.yml lists {name}, which does not exist"
    pages = {str(p.relative_to(ROOT).with_suffix("")) for p in NOTEBOOKS}
    pages |= {str(p.relative_to(ROOT).with_suffix("")) for p in (ROOT / "book").glob("*.md")}
    assert pages <= listed, f"pages missing from _toc.yml: {sorted(pages - listed)}"


def test_repository_url_is_set_once_and_install_cells_use_it():
    url = CONFIG["repository"]["url"]
    assert CONFIG["repository"]["branch"] == "main"
    assert CONFIG["launch_buttons"]["colab_url"] and CONFIG["launch_buttons"]["binderhub_url"]
    for path in NOTEBOOKS:
        nb = json.loads(path.read_text())
        first_code = next((c for c in nb["cells"] if c["cell_type"] == "code"), None)
        assert first_code is not None, f"{path.name} has no code cell (no install cell)"
        src = "".join(first_code["source"])
        assert f"git+{url}" in src, f"{path.name}: first code cell must install from {url}"
        assert "import mftheory" in src


def test_failing_cells_fail_the_build():
    assert CONFIG["execute"]["raise_on_error"] is True
    assert CONFIG["execute"]["execute_notebooks"] in ("force", "cache")

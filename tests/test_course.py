"""The chapters as nbgrader assignments (mftheory.course).

The first tests need neither nbgrader nor a kernel (a few seconds): the table against the
chapters, the structure of the source notebooks, and the test cells run in-process on answers
that are data (strings, NaN, wrong shapes, off by a factor 2) and against a tampered checks
module.

The last two run nbgrader itself and are slow; they run with ``MFTHEORY_COURSE_TESTS=1``
(``make test-course``, which installs nbgrader first):

* ``test_grading_cycle``: one real chapter (linear_networks, at CI scale) through
  generate_assignment -> five submissions -> autograde (per-cell timeout) -> export, with the
  CSV's scores asserted exactly;
* ``test_no_solution_text_for_students``: no solution text in any nbgrader student notebook, in
  the student notebooks of ``make student`` or in the student site's HTML and downloadable
  notebooks.
"""

from __future__ import annotations

import csv
import html
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from mftheory import course
from mftheory.exercises import Feedback

ROOT = Path(__file__).resolve().parents[1]
BOOK = ROOT / "book"
BIN = Path(sys.executable).parent
SLOW = pytest.mark.skipif(os.environ.get("MFTHEORY_COURSE_TESTS") != "1",
                          reason="nbgrader cycle: run with `make test-course`")
CHAPTERS = sorted({e.chapter for e in course.exercise_table()})


def _nb(chapter):
    return json.loads((BOOK / f"{chapter}.ipynb").read_text())


# ---------------------------------------------------------------------------------------------
# The table and the chapters


def test_table_lists_exactly_the_exercises_of_each_chapter():
    for chapter in CHAPTERS:
        nb = _nb(chapter)
        labels = [e.label for e in course.exercise_table(chapter)]
        assert course.chapter_exercises(nb) == labels, chapter
        assert course.chapter_solutions(nb) == set(labels), chapter


def test_every_chapter_with_exercise_checks_is_in_the_table():
    modules = {p.stem for p in (ROOT / "mftheory" / "exercises").glob("*.py")
               if not p.stem.startswith("_")}
    with_exercises = {p.stem for p in BOOK.glob("*.ipynb")
                      if course.chapter_exercises(_nb(p.stem))}
    assert with_exercises == set(CHAPTERS)
    assert set(CHAPTERS) <= modules


def test_table_checks_exist_and_points_are_positive():
    import importlib

    for e in course.exercise_table():
        assert e.points > 0 and e.minutes > 0
        mod = importlib.import_module(f"mftheory.exercises.{e.chapter}")
        for p in e.parts:
            assert callable(getattr(mod, p.check)), (e.label, p.check)
            assert p.variable.startswith("answer_") and p.variable.isidentifier()
    names = [p.variable for e in course.exercise_table() for p in e.parts]
    assert len(names) == len(set(names))


def test_table_parser_refuses_malformed_rows():
    with pytest.raises(ValueError, match="7 columns"):
        course._parse_table("ch | ex-a | 10 | 2 | check_x | y")
    with pytest.raises(ValueError, match="minutes"):
        course._parse_table("ch | ex-a |  | 2 | check_x | y |")
    with pytest.raises(ValueError, match="by hand"):
        course._parse_table("ch | ex-a | 10 | 2 | - | |\nch | ex-a | | 1 | check_x | y |")
    with pytest.raises(ValueError, match="check_"):
        course._parse_table("ch | ex-a | 10 | 2 | x | y |")
    with pytest.raises(ValueError, match="chapter"):
        course.exercise_table("no_such_chapter")


# ---------------------------------------------------------------------------------------------
# Source notebooks


def _graded(nb):
    return [c for c in nb["cells"] if "nbgrader" in c["metadata"]]


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_source_notebook_structure(chapter):
    src = course.source_notebook(_nb(chapter), chapter)
    table = course.exercise_table(chapter)
    cells = _graded(src)
    tests = [c for c in cells if c["metadata"]["nbgrader"]["locked"]]
    manual = [c for c in cells if c["metadata"]["nbgrader"]["grade"]
              and c["metadata"]["nbgrader"]["solution"]]
    sols = [c for c in cells if c["metadata"]["nbgrader"]["solution"]
            and c["cell_type"] == "code"]
    assert len(tests) == sum(len(e.parts) for e in table)
    assert len(manual) == sum(e.manual for e in table)
    total = sum(c["metadata"]["nbgrader"]["points"] for c in tests + manual)
    assert total == sum(e.points for e in table)
    ids = [c["metadata"]["nbgrader"]["grade_id"] for c in cells]
    assert len(ids) == len(set(ids)) and all(re.match(r"^[A-Za-z0-9_-]+$", i) for i in ids)
    for c in sols:
        lines = c["source"].split("\n")
        assert lines[0] == course.BEGIN and lines[-1] == course.END
    for c in tests:
        assert c["cell_type"] == "code" and "assert _ok, _message" in c["source"]
    text = json.dumps(src)
    assert "solution-start" not in text and "{solution}" not in text
    assert all(c.get("outputs", []) == [] for c in src["cells"])
    # every part's answer variable is assigned inside a solution region
    for e in table:
        for p in e.parts:
            assert any(f"\n{p.variable} = " in c["source"] for c in sols), p.variable


def test_source_notebook_refuses_a_table_that_does_not_match():
    nb = _nb("linear_networks")
    nb["cells"] = [c for c in nb["cells"] if "ex-lin-lemma" not in "".join(c["source"])]
    with pytest.raises(ValueError):
        course.source_notebook(nb, "linear_networks")
    with pytest.raises(ValueError, match="nb"):
        course.source_notebook(None, "linear_networks")


# ---------------------------------------------------------------------------------------------
# The test cells, run in-process: answers are data; a tampered module gains nothing


def _test_cell(chapter, label, k=1):
    src = course.source_notebook(_nb(chapter), chapter)
    gid = f"test-{label}" + ("" if k == 1 else f"-{k}")
    (cell,) = [c for c in _graded(src) if c["metadata"]["nbgrader"]["grade_id"] == gid]
    return cell["source"]


def _run(source, **answers):
    ns = dict(answers)
    try:
        exec(compile(source, "<test cell>", "exec"), ns)
    except AssertionError as err:
        return False, str(err)
    return True, ns["_message"]


def _max_step():
    return 2 / (4 * 3 ** 1.5)                 # the book's solution of ex-lin-max-step


def test_test_cell_grades_answers_as_data(capsys):
    cell = _test_cell("linear_networks", "ex-lin-max-step")
    ok, msg = _run(cell, answer_lin_max_step=_max_step())
    assert ok and "correct" in msg
    for wrong, words in [(2 * _max_step(), "off by a relative 1 "),
                         (_max_step() / 2, "not yet — that is 1/(K"),
                         ("0.096", "number"), (None, "number"), (float("nan"), "nan"),
                         (np.array([_max_step(), 1.0]), "got shape (2,)"), (1 + 2j, "complex")]:
        ok, msg = _run(cell, answer_lin_max_step=wrong)
        assert not ok and words in msg, (wrong, msg)
    with pytest.raises(NameError):                # no answer at all: the cell errors: zero
        _run(cell)


def test_test_cell_spreads_tuple_answers_and_passes_extra_arguments():
    cell = _test_cell("linear_networks", "ex-lin-arc-mean")
    assert _run(cell, answer_lin_arc_mean=(np.sqrt(2), 1.0))[0]
    assert not _run(cell, answer_lin_arc_mean=(1.0, 1.0))[0]
    for bad in [np.sqrt(2), (np.sqrt(2),), "ab", None]:    # not a pair: zero, with a message
        ok, msg = _run(cell, answer_lin_arc_mean=bad)
        assert not ok and "a tuple of 2 answers" in msg
    cell = _test_cell("signal_propagation", "ex-sp-gradients")
    assert "check_gradient_ratio(answer_sp_gradients, 4.0, 0.3)" in cell


def test_tampering_with_the_checks_gains_nothing(monkeypatch):
    import mftheory.exercises._feedback as fbmod
    import mftheory.exercises.linear_networks as ex

    def always_right(*args, **kwargs):
        return Feedback(True, "correct (tampered)")

    class Liar:                                    # equal to everything, any float wanted
        def __eq__(self, other):
            return True

        def __float__(self):
            return _max_step()

    class FakeFeedback(Feedback):
        def __bool__(self):
            return True

    monkeypatch.setattr(ex, "check_max_step", always_right)
    monkeypatch.setattr(fbmod, "check_number", always_right)
    monkeypatch.setattr(fbmod, "Feedback", FakeFeedback)
    cell = _test_cell("linear_networks", "ex-lin-max-step")
    for wrong in [0.0, "anything", Liar()]:
        ok, msg = _run(cell, answer_lin_max_step=wrong)
        assert not ok and "tampered" not in msg
    # the student's (tampered) modules are put back after grading: their kernel is unchanged
    import mftheory.exercises.linear_networks as again
    assert again.check_max_step is always_right
    # and the right answer still scores
    assert _run(cell, answer_lin_max_step=_max_step())[0]


# ---------------------------------------------------------------------------------------------
# Instructors' table and bad input


def test_instructors_table_lists_every_exercise_with_points():
    text = course.instructors_table()
    for e in course.exercise_table():
        assert f"| `{e.label}` |" in text
    assert "| | **7 exercises** | | | **13** | **145** |" in text
    with pytest.raises(ValueError):
        course.instructors_table(["nope"])


def test_functions_refuse_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match="book_dir"):
        course.write_course(tmp_path / "missing", tmp_path / "c")
    with pytest.raises(ValueError, match="timeout"):
        course.write_course(BOOK, tmp_path / "c", timeout=0)
    with pytest.raises(ValueError, match="chapters"):
        course.write_course(BOOK, tmp_path / "c", ["nope"])
    with pytest.raises(ValueError, match="course_dir"):
        course.grades_summary(tmp_path)
    assert course.main(["bogus"]) == 2


def test_write_course_writes_sources_and_config(tmp_path):
    points = course.write_course(BOOK, tmp_path, ["linear_networks"], timeout=30)
    assert points == {"linear_networks": 13}
    assert (tmp_path / "source" / "linear_networks" / "linear_networks.ipynb").is_file()
    cfg = (tmp_path / "nbgrader_config.py").read_text()
    assert "c.Execute.timeout = 30" in cfg and "'name': 'linear_networks'" in cfg
    exec(cfg, {"get_config": lambda: __import__("traitlets.config").config.Config(),
               "__file__": str(tmp_path / "nbgrader_config.py")})


# ---------------------------------------------------------------------------------------------
# The whole cycle with nbgrader (slow; `make test-course`)


def _nbgrader(course_dir, *args, timeout=900):
    env = dict(os.environ, CI="true", MPLBACKEND="agg", OMP_NUM_THREADS="1",
               PATH=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}")  # alembic
    res = subprocess.run([str(BIN / "nbgrader"), *args], cwd=course_dir, env=env,
                         capture_output=True, text=True, timeout=timeout)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    return res


def _submit(course_dir, chapter, student, edits):
    """A submission: the release notebook with solution cells filled by ``edits[grade_id]``
    (default: the instructor's solution)."""
    src = json.loads((course_dir / "source" / chapter / f"{chapter}.ipynb").read_text())
    nb = json.loads((course_dir / "release" / chapter / f"{chapter}.ipynb").read_text())
    solutions = {c["metadata"]["nbgrader"]["grade_id"]: c["source"] for c in _graded(src)
                 if c["metadata"]["nbgrader"]["solution"]}
    for c in nb["cells"]:
        meta = c["metadata"].get("nbgrader", {})
        if meta.get("solution"):
            gid = meta["grade_id"]
            c["source"] = edits(gid, solutions[gid]) if callable(edits) else solutions[gid]
    out = course_dir / "submitted" / student / chapter / f"{chapter}.ipynb"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(nb))


_TAMPER = '''
import mftheory.exercises as _pkg
import mftheory.exercises._feedback as _fb
import mftheory.exercises.linear_networks as _ex

def _always(*a, **k):
    return _fb.Feedback(True, "correct")

for _name in dir(_ex):
    if _name.startswith("check_"):
        setattr(_ex, _name, _always)
_fb.check_number = _always
class _Yes(_fb.Feedback):
    def __bool__(self):
        return True
_fb.Feedback = _Yes
'''


def _bad(gid, source, replacements):
    for old, new in replacements.get(gid, []):
        assert old in source, (gid, old)
        source = source.replace(old, new)
    return source


@SLOW
def test_grading_cycle(tmp_path):
    chapter = "linear_networks"
    cdir = tmp_path / "course"
    course.write_course(BOOK, cdir, [chapter], timeout=60)
    _nbgrader(cdir, "generate_assignment", chapter, "--force")

    # alice: the instructor's solutions
    _submit(cdir, chapter, "alice", None)
    # bob: partly wrong answers, each of a different kind
    wrong = {
        "ex-lin-stuck-code-1": [("answer_lin_stuck = w1", "answer_lin_stuck = str(w1)")],
        "ex-lin-hessian-code-1": [("answer_lin_hessian = eigenvalues",
                                   "answer_lin_hessian = eigenvalues[:4]")],
        "ex-lin-max-step-code-1": [("answer_lin_max_step = a", "answer_lin_max_step = 2 * a")],
        "ex-lin-plateau-code-1": [("answer_lin_plateau = value",
                                   "answer_lin_plateau = float('nan')")],
    }
    _submit(cdir, chapter, "bob", lambda g, s: _bad(g, s, wrong))
    # carol: a cell raises in the middle (the Hessian exercise)
    raises = {"ex-lin-hessian-code-1": [("### BEGIN SOLUTION",
                                         "### BEGIN SOLUTION\nraise RuntimeError('oops')")]}
    _submit(cdir, chapter, "carol", lambda g, s: _bad(g, s, raises))
    # dave: an infinite loop in the max-step exercise
    loops = {"ex-lin-max-step-code-1": [("### BEGIN SOLUTION",
                                         "### BEGIN SOLUTION\nwhile True:\n    pass")]}
    _submit(cdir, chapter, "dave", lambda g, s: _bad(g, s, loops))
    # eve: replaces every check, check_number and Feedback, then answers wrongly
    tamper = {"ex-lin-stuck-code-1": [("### BEGIN SOLUTION", "### BEGIN SOLUTION" + _TAMPER)]}
    for gid, var in [("ex-lin-stuck-code-1", "w1"), ("ex-lin-hessian-code-1", "eigenvalues"),
                     ("ex-lin-max-step-code-1", "a"), ("ex-lin-hardt-ma-limit-code-1", "value"),
                     ("ex-lin-plateau-code-1", "value")]:
        name = {"ex-lin-stuck-code-1": "answer_lin_stuck",
                "ex-lin-hessian-code-1": "answer_lin_hessian",
                "ex-lin-max-step-code-1": "answer_lin_max_step",
                "ex-lin-hardt-ma-limit-code-1": "answer_lin_hardt_ma_limit",
                "ex-lin-plateau-code-1": "answer_lin_plateau"}[gid]
        tamper.setdefault(gid, []).append((f"{name} = {var}", f"{name} = 0.5"))
    tamper["ex-lin-arc-mean-code-1"] = [("answer_lin_arc_mean = (math.sqrt(2), 1.0)",
                                         "answer_lin_arc_mean = (1.0, 2.0)")]
    _submit(cdir, chapter, "eve", lambda g, s: _bad(g, s, tamper))

    _nbgrader(cdir, "autograde", chapter, "--force", timeout=1500)

    # the instructor grades the hand-graded exercise of alice (the book's proof)
    from nbgrader.api import Gradebook
    with Gradebook("sqlite:///" + str(cdir / "gradebook.db")) as gb:
        g = gb.find_grade("ex-lin-lemma-answer", chapter, chapter, "alice")
        assert g.needs_manual_grade and g.max_score == 3
        g.manual_score = 3.0
        gb.db.commit()

    _nbgrader(cdir, "export", "--to", str(cdir / "grades.csv"))
    with open(cdir / "grades.csv") as f:
        scores = {r["student_id"]: (float(r["score"]), float(r["max_score"]))
                  for r in csv.DictReader(f)}
    assert scores == {"alice": (13.0, 13.0),
                      "bob": (3.0, 13.0),      # arc-mean 1 + Hardt-Ma 2; the rest wrong
                      "carol": (8.0, 13.0),    # 10 autograded - 2 (Hessian cell raised)
                      "dave": (8.0, 13.0),     # 10 - 2 (max-step loop stopped by the timeout)
                      "eve": (0.0, 13.0)}      # tampering gains nothing

    def outputs(student, gid):
        nb = json.loads((cdir / "autograded" / student / chapter / f"{chapter}.ipynb")
                        .read_text())
        (cell,) = [c for c in nb["cells"]
                   if c["metadata"].get("nbgrader", {}).get("grade_id") == gid]
        return json.dumps(cell.get("outputs", []))

    # the check's own words are in the graded notebooks
    assert "expected a number" in outputs("bob", "test-ex-lin-stuck")
    assert "got shape (4,)" in outputs("bob", "test-ex-lin-hessian")
    assert "off by a relative 1 " in outputs("bob", "test-ex-lin-max-step")
    assert "inf or nan" in outputs("bob", "test-ex-lin-plateau")
    assert "RuntimeError" in outputs("carol", "ex-lin-hessian-code-1")
    assert "Timeout" in outputs("dave", "ex-lin-max-step-code-1") or \
        "KeyboardInterrupt" in outputs("dave", "ex-lin-max-step-code-1")

    # the readable summary (make grades)
    text = course.grades_summary(cdir, cdir / "grades")
    assert re.search(r"alice\s+linear_networks\s+13\.0 / 13\.0", text)
    assert re.search(r"bob\s+linear_networks\s+3\.0 / 13\.0\s+missed: ", text)
    with open(cdir / "grades" / "exercises.csv") as f:
        rows = {(r["student_id"], r["exercise"]): float(r["score"]) for r in csv.DictReader(f)}
    assert rows[("dave", "ex-lin-max-step")] == 0.0 and rows[("dave", "ex-lin-stuck")] == 1.0
    assert rows[("carol", "ex-lin-hessian")] == 0.0 and rows[("carol", "ex-lin-plateau")] == 2.0


# ---------------------------------------------------------------------------------------------
# No solution text reaches students


_MARKUP = re.compile(r"[$`*{}\[\]\\_|<>#]")


def _solution_fragments(chapter):
    """Distinctive pieces of the chapter's solutions: code lines and plain-prose phrases of
    at least 30 characters that occur nowhere outside the solutions."""
    pieces = course._pieces(_nb(chapter))
    inside = [t for label, kind, t, _ in pieces if label is not None]
    outside = "\n".join(t for label, kind, t, _ in pieces if label is None)
    frags = set()
    for label, kind, text, _ in pieces:
        if label is None:
            continue
        for line in text.split("\n"):
            line = line.strip()
            if kind == "code":
                if len(line) >= 30 and not line.startswith("#"):
                    frags.add(line)
            else:
                for phrase in re.split(r"[.;:,()]", line):
                    phrase = phrase.strip()
                    if len(phrase) >= 30 and not _MARKUP.search(phrase):
                        frags.add(phrase)
    assert inside
    return {f for f in frags if f not in outside}


def _src(cell):
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else src


def _leaks(text, fragments):
    return sorted(f for f in fragments if f in text)


def _html_text(path):
    raw = path.read_text(errors="replace")
    raw = re.sub(r"<script.*?</script>", " ", raw, flags=re.DOTALL)
    return html.unescape(re.sub(r"<[^>]+>", "", raw))


@SLOW
def test_no_solution_text_for_students(tmp_path):
    from mftheory import teaching

    frags = {c: _solution_fragments(c) for c in CHAPTERS}
    assert sum(len(f) for f in frags.values()) > 200

    # nbgrader student versions of every chapter
    cdir = tmp_path / "course"
    course.write_course(BOOK, cdir)
    script = ("from nbgrader.apps import NbGraderAPI\n"
              "from nbgrader.coursedir import CourseDirectory\n"
              "import sys\n"
              "api = NbGraderAPI(CourseDirectory(root='.'))\n"
              "for a in sys.argv[1:]:\n"
              "    r = api.generate_assignment(a, force=True)\n"
              "    assert r['success'], r\n")
    env = dict(os.environ, PATH=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}")
    res = subprocess.run([sys.executable, "-c", script, *CHAPTERS], cwd=cdir, env=env,
                         capture_output=True, text=True, timeout=900)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    for c in CHAPTERS:
        src = json.loads((cdir / "source" / c / f"{c}.ipynb").read_text())
        src_text = "\n".join(_src(cell) for cell in src["cells"])
        found = [f for f in frags[c] if f in src_text]
        assert len(found) >= 0.5 * len(frags[c]), c        # the fragments are real solutions
        release = (cdir / "release" / c / f"{c}.ipynb").read_text()
        nb = json.loads(release)
        whole = json.dumps(nb, ensure_ascii=False) + "\n".join(
            _src(cell) for cell in nb["cells"])
        assert not _leaks(whole, frags[c]), (c, _leaks(whole, frags[c])[:3])
        assert "BEGIN SOLUTION" not in whole and "solution-start" not in whole
        assert all(cell.get("outputs", []) == [] for cell in nb["cells"])

    # make student: the notebooks, and the site built from them (rendered without executing:
    # the stripped notebooks carry no outputs, and no outputs are added by the build here)
    site_src = tmp_path / "site"
    teaching.student_notebooks(BOOK, tmp_path / "notebooks")
    shutil.copytree(BOOK, site_src / "book")
    shutil.copy(ROOT / "_toc.yml", site_src / "_toc.yml")
    for p in (tmp_path / "notebooks").glob("*.ipynb"):
        text = p.read_text()
        nb = json.loads(text)
        whole = text + "\n".join(_src(cell) for cell in nb["cells"])
        if p.stem in frags:
            assert not _leaks(whole, frags[p.stem]), (p.name, _leaks(whole, frags[p.stem])[:3])
        shutil.copy(p, site_src / "book" / p.name)
    import yaml
    cfg = yaml.safe_load(teaching.student_config((ROOT / "_config.yml").read_text()))
    cfg.setdefault("execute", {})["execute_notebooks"] = "off"
    (site_src / "_config.yml").write_text(yaml.safe_dump(cfg, sort_keys=False))
    res = subprocess.run([str(BIN / "jupyter-book"), "build", str(site_src), "--path-output",
                          str(tmp_path / "out")], capture_output=True, text=True, timeout=900)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    html_dir = tmp_path / "out" / "_build" / "html"
    for c in CHAPTERS:
        page = html_dir / "book" / f"{c}.html"
        assert page.is_file(), page
        text = _html_text(page)
        assert "Exercise" in text
        assert not _leaks(text, frags[c]), (c, _leaks(text, frags[c])[:3])
        for dl in html_dir.rglob(f"{c}.ipynb"):               # downloadable notebooks
            assert not _leaks(dl.read_text(), frags[c]), dl


def test_instructors_page_carries_the_generated_table():
    page = (BOOK / "instructors.md").read_text()
    start = "<!-- exercise-table: generated by python -m mftheory.course table -->\n"
    body = page.split(start, 1)[1].split("\n<!-- exercise-table: end -->", 1)[0]
    assert body == course.instructors_table(), "run: python -m mftheory.course table"

"""The chapters as nbgrader assignments, graded with the package's exercise checks.

`nbgrader <https://nbgrader.readthedocs.io>`_ (the Jupyter project's assignment tool) turns a
*source* notebook, whose cells carry ``nbgrader`` metadata, into a student version
(``nbgrader generate_assignment``), runs submitted notebooks (``nbgrader autograde``, with a time
limit per cell) and records the points of every graded cell in a gradebook
(``nbgrader export`` writes it as CSV). This module writes the source notebooks from the
book's chapters, so that every exercise is graded by the same check function that gives
students feedback while they work.

**The table.** :data:`TABLE` is the one place where points and estimated minutes live: one row
per graded part of an exercise (chapter, exercise label, minutes, points, check function,
the expression that holds the answer in the book's solution, extra arguments of the check).
An exercise with no check (a proof, a discussion) has ``-`` as its check and is graded by hand.
:func:`exercise_table` parses it; the instructors' page and the assignments are generated from
it, and a test checks that it lists exactly the exercises of the chapters.

**A chapter as an assignment** (:func:`source_notebook`). The chapter's cells are kept, outputs
cleared. Each gated solution (``solution-start`` ... ``solution-end``) or inline ``{solution}``
becomes solution cells:

* its code cells become nbgrader *solution* cells whose whole source sits between
  ``### BEGIN SOLUTION`` and ``### END SOLUTION`` (the solution's prose is kept there as
  comments); the last one also assigns the answer to a named variable, ``answer_<exercise>``
  (e.g. ``answer_sp_chi1``; ``answer_sp_relu_maps_2`` for a second graded part);
* each graded part gets a *locked, autograded test cell* with its points, which calls the
  chapter's check on that variable and fails (zero points) with the check's message when
  the answer is not right: a string, NaN or a wrong shape scores zero with the check's words;
* an exercise without a check gets a *manually graded* markdown answer cell with its points
  (the book's solution text is the instructor's model answer).

**Tampering.** nbgrader restores locked cells from its database before grading (a student who
edits a test cell gains nothing), but the student's own cells run in the same kernel before the
tests and may monkeypatch ``mftheory.exercises``. Each test cell therefore imports the check
from a *fresh* copy of the package (every ``mftheory`` module is set aside in ``sys.modules``,
imported anew, and the student's copies put back afterwards), accepts only a ``Feedback`` of that
fresh module whose ``correct`` is exactly ``True``, and never compares the student's object
itself. What remains possible in any in-kernel grader (patching NumPy, ``importlib`` or the
builtins) is visible in the submitted code; the instructors' page says so.

Command line (``make assignments`` and ``make grades``)::

    python -m mftheory.course assignments book course        # course/source/<chapter>/...
    python -m mftheory.course grades course                  # per-student, per-exercise summary
    python -m mftheory.course table                          # the instructors' table (markdown)
"""

from __future__ import annotations

import csv
import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Part", "Exercise", "exercise_table", "source_notebook", "write_course",
           "grades_summary", "instructors_table", "main"]

# chapter | exercise label | minutes | points | check (- = graded by hand) | answer in the
# book's solution (a leading * spreads a tuple over the check's answer arguments) | extra args
# A second row with the same label is a second graded part (its minutes column is empty). A long
# row continues on the next line after a backslash.
TABLE = """
appendix_gaussian  | ex-gauss-theta-mixed   | 15 | 2 | check_theta_mixed_moment        | answer |
appendix_gaussian  | ex-gauss-relu-slope    | 15 | 2 | check_relu_kernel_slope         | answer |
appendix_gaussian  | ex-gauss-price         | 25 | 2 | check_price_slope               | slope | \
    *point
appendix_gaussian  | ex-gauss-mc-size       | 20 | 2 | check_mc_sample_size            | n |
appendix_gaussian  | ex-gauss-mehler        | 25 | 2 | check_mehler_terms              | K |
batchnorm          | ex-bn-relu-fixed       | 20 | 2 | check_relu_offdiagonal          | value |
batchnorm          | ex-bn-linear-m         | 25 | 2 | check_linear_backward_m         | value |
batchnorm          | ex-bn-relu-rate        | 25 | 2 | check_relu_rate                 | \
    relu_rate(12) |
batchnorm          | ex-bn-relu-rate        |    | 1 | check_trainable_depth           | \
    16 / math.log(relu_rate(24)) |
batchnorm          | ex-bn-gamma            | 20 | 2 | check_tanh_gamma                | gamma |
batchnorm          | ex-bn-poincare         | 30 | 2 | check_large_batch_rates         | *(a, b) |
batchnorm          | ex-bn-alpha-tr         | 25 | 2 | check_alpha_transition          | a12 |
batchnorm_training | ex-bnt-min-batch       | 20 | 2 | check_min_batch_for_depth       | B_min |
batchnorm_training | ex-bnt-boundary        | 15 | 1 | check_boundary_gradient_ratio   | \
    boundary |
batchnorm_training | ex-bnt-beta            | 20 | 2 | check_shift_for_gradient_ratio  | \
    beta_100 |
batchnorm_training | ex-bnt-one-step        | 30 | 3 | check_lr_for_weight_growth      | lr3 | \
    prof["weight"][0, 0], prof["grad_w"][0, 0]
fisher             | ex-fisher-bn-shift     | 20 | 2 | check_bn_relu_moments           | \
    *(qhat_b, mean**2) |
fisher             | ex-fisher-depth-limit  | 20 | 2 | check_centered_depth_limit      | limit |
fisher             | ex-fisher-crossing     | 25 | 2 | check_train_mode_crossing       | gamma_c8 |
fisher             | ex-fisher-growth       | 20 | 2 | check_heavy_ball_growth         | growth |
fisher             | ex-fisher-train-lambda | 25 | 2 | check_train_mode_lambda         | pred |
fisher             | ex-fisher-conv         | 30 | 1 | check_conv_geometry             | \
    *(sites, fan_ins) |
fisher             | ex-fisher-conv         |    | 2 | check_conv_lambda               | lam_conv |
gradient_descent   | ex-gd-fixed-momentum   | 20 | 2 | check_fixed_momentum            | \
    *(alpha_f, rate_f) |
gradient_descent   | ex-gd-descent-steps    | 20 | 2 | check_descent_steps             | \
    *(allowed_4, taken_4) |
gradient_descent   | ex-gd-spot-the-bug     | 15 | 2 | check_slides_stability_limit    | limit |
gradient_descent   | ex-gd-escape           | 25 | 2 | check_escape_slope              | slope_ex |
gradient_descent   | ex-gd-backprop         | 40 | 3 | check_backprop_gradient         | \
    *(g_ce, theta_ce, widths_ce, X, labels) |
gradient_descent   | ex-gd-spurious         | 30 | 2 | check_spurious_minimum          | W_spur |
linear_networks    | ex-lin-stuck           | 15 | 1 | check_stuck_weight              | w1 |
linear_networks    | ex-lin-hessian         | 20 | 2 | check_origin_hessian            | \
    eigenvalues |
linear_networks    | ex-lin-max-step        | 20 | 2 | check_max_step                  | a |
linear_networks    | ex-lin-hardt-ma-limit  | 20 | 2 | check_hardt_ma_limit            | value |
linear_networks    | ex-lin-plateau         | 25 | 2 | check_plateau_time              | value |
linear_networks    | ex-lin-arc-mean        | 15 | 1 | check_arc_midpoint              | \
    *(math.sqrt(2), 1.0) |
linear_networks    | ex-lin-lemma           | 30 | 3 | -                               |  |
signal_propagation | ex-sp-relu-maps        | 30 | 1 | check_relu_q_map                | relu_q |
signal_propagation | ex-sp-relu-maps        |    | 2 | check_relu_c_map                | relu_c |
signal_propagation | ex-sp-chi1             | 20 | 2 | check_chi1_by_finite_difference | chi1_erf |
signal_propagation | ex-sp-critical         | 25 | 2 | check_critical_sigma_w2         | sw2_crit |
signal_propagation | ex-sp-depth-scales     | 25 | 2 | check_depth_scales              | \
    *(xi_q, xi_c) |
signal_propagation | ex-sp-gradients        | 30 | 2 | check_gradient_ratio            | \
    rate | 4.0, 0.3
signal_propagation | ex-sp-relu-power       | 25 | 2 | check_relu_power_law            | limit |
signal_propagation | ex-sp-zero             | 20 | 2 | check_zero_stability            | threshold |
square_loss        | ex-sq-mse-wd           | 15 | 1 | check_weight_decay_for_mse_loss | \
    2 * 1.0 / (600 * 10) |
square_loss        | ex-sq-escape           | 25 | 2 | check_escape_time               | T5 |
square_loss        | ex-sq-rho-rate         | 25 | 2 | check_rho_rate                  | \
    np.prod(norms) * r / 2 * np.sum(norms**-2.0) |
square_loss        | ex-sq-projection       | 20 | 2 | check_projection_residual       | \
    math.sqrt(1 - (u @ x6) ** 2) |
square_loss        | ex-sq-nc1              | 25 | 2 | check_nc1_limit                 | limit |
teacher_student    | ex-ts-bn-leak          | 20 | 2 | check_bn_leak                   | leak8 |
teacher_student    | ex-ts-linear           | 20 | 2 | check_linear_min_loss           | \
    2**6 - np.linalg.matrix_rank(Q63) |
teacher_student    | ex-ts-relu-identity    | 20 | 2 | check_relu_identity             | \
    2 * Q62.T - 5 / 3 |
teacher_student    | ex-ts-vertices         | 25 | 2 | check_projected_vertices        | *(v2, v1) |
teacher_student    | ex-ts-off-block        | 25 | 2 | check_off_block_update          | \
    dW_ob[2, 0] |
teacher_student    | ex-ts-spurious         | 30 | 2 | check_spurious_sample_size      | n_star |
"""

_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
_LABEL = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]*$")

_GATE_START = re.compile(r"^\s*(`{3,}|:{3,})\{solution-start\}\s*(\S+)", re.MULTILINE)
_GATE_END = re.compile(r"^\s*(`{3,}|:{3,})\{solution-end\}", re.MULTILINE)
_INLINE = re.compile(r"^(?P<fence>`{3,}|:{3,})\{solution\}\s*(?P<label>\S+)[^\n]*\n"
                     r"(?P<body>.*?)^(?P=fence)\s*$\n?", re.MULTILINE | re.DOTALL)
_EXERCISE = re.compile(r"^\s*(`{3,}|:{3,})\{exercise\}[^\n]*\n(?:\s*:[^\n]*\n)*?"
                       r"\s*:label:\s*(\S+)", re.MULTILINE)
_OPTION = re.compile(r"^\s*:[\w-]+:.*$")

BEGIN, END = "### BEGIN SOLUTION", "### END SOLUTION"


@dataclass(frozen=True)
class Part:
    """One autograded part of an exercise: ``check(answer, *args)`` is worth ``points``."""

    check: str
    answer: str
    args: str
    points: int
    variable: str


@dataclass(frozen=True)
class Exercise:
    """An exercise of a chapter: its graded parts (none: graded by hand) and its points."""

    chapter: str
    label: str
    minutes: int
    parts: tuple
    manual_points: int = 0

    @property
    def points(self) -> int:
        return self.manual_points + sum(p.points for p in self.parts)

    @property
    def manual(self) -> bool:
        return not self.parts


def _variable(label, k):
    stem = label[3:] if label.startswith("ex-") else label
    name = "answer_" + stem.replace("-", "_")
    return name if k == 1 else f"{name}_{k}"


def _parse_table(text):
    rows = {}
    for n, line in enumerate(text.strip().splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        cols = [c.strip() for c in line.split("|")]
        if len(cols) != 7:
            raise ValueError(f"TABLE line {n}: expected 7 columns separated by '|', got "
                             f"{len(cols)}: {line!r}")
        chapter, label, minutes, points, check, answer, args = cols
        if not _NAME.match(chapter) or not _LABEL.match(label):
            raise ValueError(f"TABLE line {n}: bad chapter or label: {line!r}")
        if not points.isdigit() or (minutes and not minutes.isdigit()):
            raise ValueError(f"TABLE line {n}: minutes and points must be whole numbers")
        key = (chapter, label)
        if key not in rows:
            if not minutes:
                raise ValueError(f"TABLE line {n}: the first row of {label} needs minutes")
            rows[key] = {"minutes": int(minutes), "parts": [], "manual": 0}
        elif minutes:
            raise ValueError(f"TABLE line {n}: minutes go on the first row of {label} only")
        entry = rows[key]
        if check == "-":
            if answer or args or entry["parts"]:
                raise ValueError(f"TABLE line {n}: a hand-graded exercise has no answer, "
                                 f"arguments or other parts")
            entry["manual"] = int(points)
            continue
        if not check.startswith("check_") or not _NAME.match(check) or not answer:
            raise ValueError(f"TABLE line {n}: need a check_... name and an answer")
        if entry["manual"]:
            raise ValueError(f"TABLE line {n}: {label} is already graded by hand")
        k = len(entry["parts"]) + 1
        entry["parts"].append(Part(check, answer, args, int(points), _variable(label, k)))
    return [Exercise(ch, lab, e["minutes"], tuple(e["parts"]), e["manual"])
            for (ch, lab), e in rows.items()]


def exercise_table(chapter=None) -> list:
    """The graded exercises (:class:`Exercise`) of :data:`TABLE`, of one chapter or of all.

    ``chapter``: None (all chapters) or a chapter's name as in the table
    (e.g. ``'signal_propagation'``); ValueError for anything else.
    """
    table = _parse_table(TABLE)
    if chapter is None:
        return table
    chapters = sorted({e.chapter for e in table})
    if not isinstance(chapter, str) or chapter not in chapters:
        raise ValueError(f"`chapter` must be None or one of {chapters}, got {chapter!r}")
    return [e for e in table if e.chapter == chapter]


# ---------------------------------------------------------------------------------------------
# Reading a chapter: its text split into pieces outside and inside solutions


def _text(cell):
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else str(src)


def _after_fence(text, start, fence):
    """Index just after the line that closes the directive opened at ``start``."""
    closing = re.compile(rf"^\s*{re.escape(fence)}\s*$", re.MULTILINE)
    line_end = text.find("\n", start)
    if line_end < 0:
        return len(text)
    m = closing.search(text, line_end + 1)
    return len(text) if m is None else m.end()


def _drop_options(text):
    lines = text.strip("\n").split("\n")
    while lines and _OPTION.match(lines[0]):
        lines.pop(0)
    return "\n".join(lines).strip("\n")


def _pieces(nb):
    """``(label, cell_type, text, cell)`` in order; ``label`` None outside solutions."""
    out, inside = [], None

    def outside_markdown(cell, text):
        pos = 0
        for m in _INLINE.finditer(text):
            out.append((None, "markdown", text[pos:m.start()], cell))
            out.append((m.group("label"), "markdown", _drop_options(m.group("body")), cell))
            pos = m.end()
        out.append((None, "markdown", text[pos:], cell))

    for cell in nb["cells"]:
        text = _text(cell)
        if cell.get("cell_type") != "markdown":
            out.append((inside, cell.get("cell_type"), text, cell))
            continue
        while True:
            if inside is None:
                m = _GATE_START.search(text)
                if m is None:
                    outside_markdown(cell, text)
                    break
                outside_markdown(cell, text[:m.start()])
                inside = m.group(2)
                text = text[_after_fence(text, m.start(), m.group(1)):]
            else:
                m = _GATE_END.search(text)
                if m is None:
                    out.append((inside, "markdown", text, cell))
                    break
                out.append((inside, "markdown", text[:m.start()], cell))
                out.append((inside, "end", "", cell))
                inside = None
                text = text[_after_fence(text, m.start(), m.group(1)):]
    if inside is not None:
        raise ValueError(f"solution-start {inside!r} has no matching solution-end")
    return out


def chapter_exercises(nb) -> list:
    """Labels of the ``{exercise}`` directives of a notebook, in order (not public API)."""
    return [m.group(2) for c in nb["cells"] if c.get("cell_type") == "markdown"
            for m in _EXERCISE.finditer(_text(c))]


def chapter_solutions(nb) -> set:
    """Labels of the exercises that have a solution (gated or inline) in a notebook."""
    return {label for label, *_ in _pieces(nb) if label is not None}


# ---------------------------------------------------------------------------------------------
# Writing the nbgrader source notebook


def _meta(kind, grade_id, points=0):
    grade, solution, locked = {"solution": (False, True, False), "test": (True, False, True),
                               "manual": (True, True, False)}[kind]
    meta = {"grade": grade, "solution": solution, "locked": locked, "grade_id": grade_id,
            "schema_version": 3}
    if grade:
        meta["points"] = points
    return {"nbgrader": meta}


def _code_cell(source, metadata=None):
    return {"cell_type": "code", "execution_count": None, "metadata": metadata or {},
            "outputs": [], "source": source}


def _md_cell(source, metadata=None):
    return {"cell_type": "markdown", "metadata": metadata or {}, "source": source}


def _comment(text):
    lines = [ln.rstrip() for ln in text.strip("\n").split("\n")]
    return "\n".join(("# " + ln) if ln else "#" for ln in lines)


#: The body of every test cell; ``{chapter}``, ``{call}``, ``{label}`` filled in. It imports the
#: check from a fresh copy of mftheory (the student's cells ran in this kernel and may have
#: replaced the check, Feedback or helpers) and accepts only that copy's Feedback.
_TEST = '''\
# Autograded: {label}, {points} point(s). Locked: do not edit.
def _grade():
    import importlib
    import sys

    mine = {{k: sys.modules.pop(k) for k in list(sys.modules)
            if k == "mftheory" or k.startswith("mftheory.")}}
    try:
        checks = importlib.import_module("mftheory.exercises.{chapter}")
        feedback_type = sys.modules["mftheory.exercises._feedback"].Feedback
{given}        fb = checks.{check}({call})
        ok = type(fb) is feedback_type and fb.correct is True
        return ok, str(fb) if type(fb) is feedback_type else "not a Feedback"
    finally:
        for k in [k for k in sys.modules
                  if k == "mftheory" or k.startswith("mftheory.")]:
            del sys.modules[k]
        sys.modules.update(mine)


_ok, _message = _grade()
print(_message)
assert _ok, _message'''


def _n_answers(expression):
    """How many answers the tuple ``expression`` (from the table, without its ``*``) holds."""
    import ast

    try:
        node = ast.parse(expression.strip(), mode="eval").body
    except SyntaxError:
        raise ValueError(f"TABLE: answer {expression!r} is not a Python expression") from None
    if not isinstance(node, ast.Tuple):
        raise ValueError(f"TABLE: answer *{expression!r} must be a tuple expression")
    return len(node.elts)


def _test_source(chapter, ex, part):
    given = ""
    if part.answer.startswith("*"):
        n = _n_answers(part.answer[1:])
        given = (f"        given = {part.variable}\n"
                 f"        if not isinstance(given, (tuple, list)) or len(given) != {n}:\n"
                 f"            return False, ('{part.variable}: expected a tuple of {n} answers "
                 f"(in the order of {part.check}), got ' + type(given).__name__)\n")
        call = "*given"
    else:
        call = part.variable
    if part.args:
        call += ", " + part.args
    return _TEST.format(label=ex.label, points=part.points, chapter=chapter,
                        check=part.check, call=call, given=given)


def _answer_lines(ex):
    return "\n".join(f"{p.variable} = {p.answer.lstrip('*').strip()}" for p in ex.parts)


def _instructions(chapter, ex):
    items = []
    for p in ex.parts:
        what = "a tuple of the answers" if p.answer.startswith("*") else "your answer"
        items.append(f"`{p.variable}` ({what}; graded by `{p.check}` of "
                     f"`mftheory.exercises.{chapter}`, {p.points} point(s))")
    return ("**Graded automatically.** Put " + "; ".join(items)
            + ". The locked cell below runs the check and prints its feedback.")


def _emit_solution(chapter, ex, pieces):
    """The cells that replace one exercise's solution."""
    cells, comments, codes = [], [], []
    for kind, text in pieces:
        if kind == "markdown" and text.strip():
            comments.append(_comment(text))
        elif kind == "code":
            codes.append([*comments, text.strip("\n")])
            comments = []
    if ex.manual:
        for k, body in enumerate(codes, 1):
            cells.append(_code_cell(f"{BEGIN}\n" + "\n".join(body) + f"\n{END}",
                                    _meta("solution", f"{ex.label}-code-{k}")))
        model = "\n\n".join(t.strip("\n") for kind, t in pieces
                            if kind == "markdown" and t.strip()) or "(No model answer.)"
        cells.append(_md_cell(model, _meta("manual", f"{ex.label}-answer", ex.manual_points)))
        return cells
    if not codes:
        codes = [[]]
    codes[-1] = codes[-1] + comments + [_answer_lines(ex)]
    cells.append(_md_cell(_instructions(chapter, ex)))
    for k, body in enumerate(codes, 1):
        cells.append(_code_cell(f"{BEGIN}\n" + "\n".join(body) + f"\n{END}",
                                _meta("solution", f"{ex.label}-code-{k}")))
    for k, part in enumerate(ex.parts, 1):
        gid = f"test-{ex.label}" + ("" if k == 1 else f"-{k}")
        cells.append(_code_cell(_test_source(chapter, ex, part),
                                _meta("test", gid, part.points)))
    return cells


def source_notebook(nb, chapter) -> dict:
    """The nbgrader source version of chapter notebook ``nb`` (a dict), named ``chapter``.

    Every exercise of ``chapter`` in :data:`TABLE` must have a solution in ``nb``; an exercise
    with a solution but no row in the table is an error too (ValueError), so that the table and
    the chapters cannot drift apart. Outputs and widget state are dropped.
    """
    if not isinstance(nb, dict) or not isinstance(nb.get("cells"), list):
        raise ValueError("`nb` must be a notebook (a dict with a 'cells' list)")
    if not isinstance(chapter, str):
        raise ValueError(f"`chapter` must be a chapter's name (a str), got "
                         f"{type(chapter).__name__}")
    table = {e.label: e for e in exercise_table(chapter)}
    pieces = _pieces(nb)
    solved = {label for label, *_ in pieces if label is not None}
    if set(table) != solved:
        raise ValueError(f"`nb`: the exercises with solutions {sorted(solved)} differ from "
                         f"TABLE's rows for {chapter!r}: {sorted(table)}")
    cells, current, buffer = [], None, []

    def flush():
        nonlocal current, buffer
        if current is not None:
            cells.extend(_emit_solution(chapter, table[current], buffer))
        current, buffer = None, []

    last_outside = None
    for label, kind, text, cell in pieces:
        if label is None:
            flush()
            if kind == "markdown":
                if not text.strip():
                    continue
                if last_outside is cell and cells and cells[-1]["cell_type"] == "markdown" \
                        and "nbgrader" not in cells[-1]["metadata"]:
                    cells[-1]["source"] += "\n\n" + text.strip("\n")
                else:
                    meta = {k: v for k, v in cell.get("metadata", {}).items()}
                    cells.append(_md_cell(text.strip("\n"), meta))
                last_outside = cell
            else:
                new = json.loads(json.dumps(cell))
                if new.get("cell_type") == "code":
                    new["outputs"], new["execution_count"] = [], None
                new["source"] = text
                cells.append(new)
                last_outside = None
            continue
        if current is not None and label != current:
            flush()
        current = label
        if kind == "end":
            flush()
            last_outside = None
        elif kind == "code" or text.strip():
            buffer.append((kind, text))
    flush()
    for c in cells:
        c.pop("id", None)
        c.pop("attachments", None)
    meta = {k: v for k, v in nb.get("metadata", {}).items() if k not in ("widgets", "jupytext")}
    meta.setdefault("kernelspec", {"display_name": "Python 3", "language": "python",
                                   "name": "python3"})
    return {"nbformat": 4, "nbformat_minor": 4, "metadata": meta, "cells": cells}


_CONFIG = '''\
# nbgrader configuration of the course generated by `python -m mftheory.course assignments`.
c = get_config()  # noqa: F821
c.CourseDirectory.root = __file__.rsplit("/", 1)[0] if "/" in __file__ else "."
c.CourseDirectory.course_id = "mftheory"
# Assignments: {assignments}
# A time limit per cell: a cell that runs longer (an infinite loop) is interrupted, and grading
# goes on with the next cell.
c.Execute.timeout = {timeout}
c.Execute.interrupt_on_timeout = True
'''


def write_course(book_dir, course_dir, chapters=None, *, timeout=120) -> dict:
    """Write an nbgrader course folder: ``source/<chapter>/<chapter>.ipynb`` and config.

    ``book_dir``: folder of the chapter notebooks; ``course_dir``: where the course goes
    (created; existing source notebooks are overwritten); ``chapters``: None (every chapter of
    the table found in ``book_dir``) or a list of chapter names; ``timeout``: seconds per cell
    when autograding. Returns ``{chapter: points}``.
    """
    if not isinstance(book_dir, (str, Path)) or not Path(book_dir).is_dir():
        raise ValueError(f"`book_dir` must be the folder of the chapters, got {book_dir!r}")
    if not isinstance(course_dir, (str, Path)) or not str(course_dir).strip():
        raise ValueError(f"`course_dir` must be a folder path, got {course_dir!r}")
    if isinstance(timeout, bool) or not isinstance(timeout, int) or not 1 <= timeout <= 86400:
        raise ValueError(f"`timeout` must be a whole number of seconds in 1..86400, "
                         f"got {timeout!r}")
    book_dir, course_dir = Path(book_dir), Path(course_dir)
    known = sorted({e.chapter for e in exercise_table()})
    if chapters is None:
        chapters = [c for c in known if (book_dir / f"{c}.ipynb").is_file()]
    if (not isinstance(chapters, (list, tuple)) or not chapters
            or not all(isinstance(c, str) and c in known for c in chapters)):
        raise ValueError(f"`chapters` must be None or a non-empty list of chapters among "
                         f"{known}, got {chapters!r}")
    points = {}
    for chapter in chapters:
        path = book_dir / f"{chapter}.ipynb"
        if not path.is_file():
            raise ValueError(f"`chapters`: {chapter!r} has no notebook {str(path)!r}")
        nb = source_notebook(json.loads(path.read_text()), chapter)
        target = course_dir / "source" / chapter / f"{chapter}.ipynb"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n")
        points[chapter] = sum(e.points for e in exercise_table(chapter))
    assignments = [{"name": c} for c in chapters]
    (course_dir / "nbgrader_config.py").write_text(
        _CONFIG.format(assignments=repr(assignments), timeout=timeout))
    return points


# ---------------------------------------------------------------------------------------------
# Grades


def _cell_exercise(grade_cell):
    m = re.match(r"^(?:test-)?(.+?)(?:-(\d+)|-answer)?$", grade_cell)
    return m.group(1) if m else grade_cell


def grades_summary(course_dir, out_dir=None) -> str:
    """A readable summary of the gradebook of ``course_dir``: per student, per exercise.

    Reads nbgrader's ``gradebook.db`` (after ``nbgrader autograde``); writes, when ``out_dir``
    is given, ``exercises.csv`` (one row per student, assignment and exercise: score, max) and
    ``summary.txt``. Returns the summary text. Needs nbgrader (``make course``).
    """
    if not isinstance(course_dir, (str, Path)) or not (Path(course_dir) / "gradebook.db").is_file():
        raise ValueError(f"`course_dir` must be an nbgrader course folder with a gradebook.db "
                         f"(run nbgrader autograde first), got {course_dir!r}")
    if out_dir is not None and not isinstance(out_dir, (str, Path)):
        raise ValueError(f"`out_dir` must be None or a folder path, got {out_dir!r}")
    from nbgrader.api import Gradebook

    db = "sqlite:///" + str((Path(course_dir) / "gradebook.db").resolve())
    rows = []
    with Gradebook(db) as gb:
        for assignment in gb.assignments:
            for sub in assignment.submissions:
                for nb in sub.notebooks:
                    per = {}
                    for g in nb.grades:
                        ex = _cell_exercise(g.cell.name)
                        score = g.score if g.score is not None else 0.0
                        s, m, pending = per.get(ex, (0.0, 0.0, False))
                        per[ex] = (s + score, m + g.max_score,
                                   pending or g.needs_manual_grade)
                    for ex, (s, m, pending) in per.items():
                        rows.append((sub.student.id, assignment.name, ex, s, m, pending))
    rows.sort()
    lines = ["Scores per student (assignment: score / max)"]
    students = sorted({r[0] for r in rows})
    for st in students:
        mine = [r for r in rows if r[0] == st]
        for a in sorted({r[1] for r in mine}):
            got = sum(r[3] for r in mine if r[1] == a)
            top = sum(r[4] for r in mine if r[1] == a)
            missed = [r[2] for r in mine if r[1] == a and r[3] < r[4] and not r[5]]
            pend = [r[2] for r in mine if r[1] == a and r[5]]
            line = f"  {st:<14} {a:<20} {got:5.1f} / {top:.1f}"
            if missed:
                line += "   missed: " + ", ".join(missed)
            if pend:
                line += "   to grade by hand: " + ", ".join(pend)
            lines.append(line)
    lines.append("")
    lines.append("Per exercise (mean score / max, students with full marks)")
    for a, ex in sorted({(r[1], r[2]) for r in rows}):
        mine = [r for r in rows if r[1] == a and r[2] == ex]
        mean = sum(r[3] for r in mine) / len(mine)
        full = sum(r[3] >= r[4] for r in mine)
        lines.append(f"  {a:<20} {ex:<26} {mean:5.2f} / {mine[0][4]:.1f}   "
                     f"{full}/{len(mine)} full marks")
    text = "\n".join(lines) + "\n"
    if out_dir is not None:
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        with open(out / "exercises.csv", "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["student_id", "assignment", "exercise", "score", "max_score",
                        "needs_manual_grade"])
            w.writerows(rows)
        (out / "summary.txt").write_text(text)
    return text


def instructors_table(chapters=None) -> str:
    """The exercises per chapter with points and minutes, as a MyST markdown table."""
    table = exercise_table()
    known = sorted({e.chapter for e in table})
    if chapters is None:
        chapters = known
    if (not isinstance(chapters, (list, tuple)) or not chapters
            or not all(isinstance(c, str) and c in known for c in chapters)):
        raise ValueError(f"`chapters` must be None or a list of chapters among {known}, "
                         f"got {chapters!r}")
    lines = ["| Chapter | Exercise | Graded by | Answer variable(s) | Points | Minutes |",
             "|---|---|---|---|---|---|"]
    for c in chapters:
        mine = [e for e in table if e.chapter == c]
        for k, e in enumerate(mine):
            how = "by hand" if e.manual else ", ".join(f"`{p.check}`" for p in e.parts)
            names = "—" if e.manual else ", ".join(f"`{p.variable}`" for p in e.parts)
            where = f"{{ref}}`ch-{c.replace('_', '-')}`" if k == 0 else ""
            lines.append(f"| {where} | `{e.label}` | {how} | {names} | {e.points} | "
                         f"{e.minutes} |")
        lines.append(f"| | **{len(mine)} exercises** | | | **{sum(e.points for e in mine)}** "
                     f"| **{sum(e.minutes for e in mine)}** |")
    return "\n".join(lines)


def main(argv=None) -> int:
    """Command line; see the module docstring."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if not all(isinstance(a, str) for a in argv):
        raise ValueError("`argv` must be a list of strings")
    if len(argv) >= 3 and argv[0] == "assignments":
        timeout = 120
        rest = argv[3:]
        if rest[:1] == ["--timeout"] and len(rest) >= 2 and rest[1].isdigit():
            timeout, rest = int(rest[1]), rest[2:]
        points = write_course(argv[1], argv[2], rest or None, timeout=timeout)
        for chapter, p in points.items():
            print(f"{argv[2]}/source/{chapter}/{chapter}.ipynb: {p} points")
        return 0
    if len(argv) in (2, 3) and argv[0] == "grades":
        print(grades_summary(argv[1], argv[2] if len(argv) == 3 else None), end="")
        return 0
    if argv == ["table"]:
        print(instructors_table())
        return 0
    print(__doc__.split("Command line")[1], file=sys.stderr)
    return 2


if __name__ == "__main__":
    raise SystemExit(main())

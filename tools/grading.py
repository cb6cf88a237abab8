"""Graded homework: every exercise of chapter 10 as an nbgrader assignment, autograded offline.

    python tools/grading.py assignments [--out build/nbgrader] [--sections 10.1 10.3]
    python tools/grading.py grade-check [--sections 10.1 10.3] [--keep DIR] [--timeout S]
                                        [--reference run|stored]

`assignments` builds an nbgrader course folder: `nbgrader_config.py`, `source/<section>/` (the
section's notebook and `figures/`) and, made by nbgrader's own `generate_assignment`,
`release/<section>/` (solutions replaced by stubs, hidden tests removed). One assignment per
section of chapters.yml with `status: written`; the exercises carry nbgrader cell metadata (see the
"Exercises" format: solution cells, read-only test cells with points, markdown answer cells).

`grade-check` proves the grading works, offline, in a temporary course with its own gradebook
(never build/ nor ~/.jupyter): it autogrades the source notebooks as student "reference" (every
test earns full points), the untouched release notebooks as student "blank" (0 points on every
test) and one release notebook with exactly one exercise solved as student "one" (exactly that
exercise's points), reading every score per cell from nbgrader's gradebook. With
`--reference stored` the reference is graded on the outputs stored in the notebooks, not run
again: CI does this, because its `nbval` runs re-execute the same notebooks and fail unless every
stored output (errors included) is what a fresh run prints.

Standard library, nbformat and nbgrader, plus tools/common.py for chapters.yml and paths. Run it
with the project's environment: `.venv/bin/python tools/grading.py ...`.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import io
import json
import logging
import os
import shutil
import sys
import sysconfig
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import cells as cellkind  # the same folder: the one judge of cell kinds
from common import ROOT, load_sections, posix  # chapters.yml and paths read one way

TOC = ROOT / "chapters.yml"
FIGURES = ROOT / "notebooks" / "figures"
DEFAULT_OUT = ROOT / "build" / "nbgrader"
COURSE_ID = "d2l-attention-ch10"
# Seconds one cell may run under autograde (nbgrader's own default, 30 s, is too short for the
# sections that train a model).
CELL_TIMEOUT = 1800
# What a student finds in place of a solution (the project's student edition says `# 你的代码`).
CODE_STUB = "# 你的代码\nraise NotImplementedError()"
TEXT_STUB = "在此写下你的答案。"
STUDENTS = ("reference", "blank", "one")
# How grade-check gets the reference's outputs: nbgrader runs it, or grades the stored outputs.
REFERENCES = ("run", "stored")

Log = Callable[[str], None]


class GradingError(Exception):
    """A failure with a message that says what is wrong and how to fix it."""


def _fmt(points: float) -> str:
    return f"{points:g}"


# ------------------------------------------------------------------------------ sections


@dataclass(frozen=True)
class Section:
    """A written section of chapters.yml: its number (the assignment's name) and notebook."""

    number: str
    notebook: Path


def written_sections(toc: Path = TOC, only: Sequence[str] | None = None) -> list[Section]:
    """The `status: written` sections of `toc` in chapter order (only those in `only`, if given).

    Notebook paths in `toc` are relative to the folder holding it.
    """
    sections = [Section(str(entry["number"]), Path(toc).parent / entry["notebook"])
                for entry in load_sections(toc=Path(toc))]
    if only:
        known = {s.number for s in sections}
        unknown = [n for n in only if n not in known]
        if unknown:
            raise GradingError(
                f"unknown section(s) {', '.join(unknown)}; written sections in {posix(toc)}: "
                f"{', '.join(sorted(known))}")
        sections = [s for s in sections if s.number in only]
    return sections


# ------------------------------------------------------------------------- exercise plans


@dataclass(frozen=True)
class GradedCell:
    """A cell with points: an autograded test (`kind="test"`) or an answer graded by hand."""

    grade_id: str
    points: float
    kind: str  # "test" (code, read-only, autograded) or "manual" (an answer cell)


@dataclass(frozen=True)
class Exercise:
    """A code exercise: its solution cell and the autograded test cells right after it."""

    solution_id: str
    test_ids: tuple[str, ...]
    points: float


@dataclass
class Plan:
    """What nbgrader will grade in one section's notebook."""

    section: Section
    cells: list[GradedCell]
    exercises: list[Exercise]

    @property
    def assignment(self) -> str:
        return self.section.number

    @property
    def notebook_id(self) -> str:
        return self.section.notebook.stem

    @property
    def tests(self) -> list[GradedCell]:
        return [c for c in self.cells if c.kind == "test"]

    @property
    def auto_points(self) -> float:
        return sum(c.points for c in self.tests)

    @property
    def manual_points(self) -> float:
        return sum(c.points for c in self.cells if c.kind == "manual")


def _nbgrader_meta(cell) -> dict:
    return cell.get("metadata", {}).get("nbgrader", {})


def read_plan(section: Section) -> Plan:
    """Parse a section's nbgrader cells; fail on duplicate grade_ids or when nothing is graded."""
    import nbformat

    path = section.notebook
    if not path.is_file():
        raise GradingError(f"{posix(path)} (section {section.number}) does not exist")
    nb = nbformat.read(path, as_version=4)
    seen: dict[str, int] = {}
    graded: list[GradedCell] = []
    exercises: list[Exercise] = []
    current: tuple[str, list[str], float] | None = None  # the open code exercise

    def close() -> None:
        if current is not None and current[1]:
            exercises.append(Exercise(current[0], tuple(current[1]), current[2]))

    for index, cell in enumerate(nb.cells):
        meta = _nbgrader_meta(cell)
        grade_id = meta.get("grade_id")
        if not meta or grade_id is None:
            continue
        if grade_id in seen:
            raise GradingError(
                f"{posix(path)}: grade_id {grade_id!r} is used by cell {seen[grade_id]} and cell "
                f"{index} (0-based); every nbgrader cell needs its own grade_id")
        seen[grade_id] = index
        points = float(meta.get("points", 0))
        if cellkind.is_test(cell):
            graded.append(GradedCell(grade_id, points, "test"))
            if current is not None:
                current = (current[0], [*current[1], grade_id], current[2] + points)
        elif cellkind.is_solution(cell) and cell.cell_type == "code" and not meta.get("grade"):
            close()
            current = (grade_id, [], 0.0)
        elif meta.get("grade"):  # an answer graded by hand (a markdown answer cell)
            graded.append(GradedCell(grade_id, points, "manual"))
            close()
            current = None
    close()
    if not graded:
        raise GradingError(
            f"{posix(path)} (section {section.number}) has no graded cells: give each exercise "
            "a read-only test cell with nbgrader metadata {\"grade\": true, \"points\": N} (or a "
            "markdown answer cell with \"grade\": true, \"solution\": true)")
    return Plan(section, graded, exercises)


def read_plans(sections: Sequence[Section]) -> list[Plan]:
    """Plans of all `sections`; reports every notebook's problem at once."""
    plans, problems = [], []
    for section in sections:
        try:
            plans.append(read_plan(section))
        except GradingError as err:
            problems.append(str(err))
    if problems:
        raise GradingError("\n".join(problems))
    return plans


# ----------------------------------------------------------------------- the course folder


def course_settings(root: Path, timeout: int = CELL_TIMEOUT) -> dict[str, dict[str, object]]:
    """nbgrader's configuration of the course (also written to `nbgrader_config.py`)."""
    return {
        "CourseDirectory": {"course_id": COURSE_ID, "root": str(Path(root).resolve())},
        "ClearSolutions": {"code_stub": {"python": CODE_STUB}, "text_stub": TEXT_STUB},
        "Execute": {"timeout": timeout},
    }


def config_file_text(timeout: int = CELL_TIMEOUT) -> str:
    """`nbgrader_config.py`: the same settings, with the course root being the file's folder."""
    lines = [
        "# nbgrader configuration of the course; written by `python tools/grading.py "
        "assignments` (regenerated each time).",
        "# The course root is this file's folder, wherever the folder is moved.",
        "import os",
        "",
        "c = get_config()  # noqa: F821",
        "c.CourseDirectory.root = os.path.dirname(os.path.abspath(__file__))",
    ]
    for section, values in course_settings(Path("."), timeout).items():
        for key, value in values.items():
            if (section, key) != ("CourseDirectory", "root"):
                lines.append(f"c.{section}.{key} = {value!r}")
    lines += [
        "# On JupyterHub, also set the exchange folder shared with the students, e.g.",
        '# c.Exchange.root = "/srv/nbgrader/exchange"',
    ]
    return "\n".join(lines) + "\n"


def _nbgrader_config(root: Path, timeout: int):
    from traitlets.config import Config

    return Config(course_settings(root, timeout))


@contextlib.contextmanager
def _quiet_logger(name: str) -> Iterator[tuple[logging.Logger, io.StringIO]]:
    """A logger that writes into a buffer (nbgrader is chatty; we show its log on failure)."""
    logger = logging.getLogger(f"grading.{name}")
    logger.propagate = False
    logger.setLevel(logging.INFO)
    buffer = io.StringIO()
    handler = logging.StreamHandler(buffer)
    handler.setFormatter(logging.Formatter("[%(levelname)s] %(message)s"))
    logger.addHandler(handler)
    try:
        yield logger, buffer
    finally:
        logger.removeHandler(handler)


@functools.cache
def _alembic_head() -> str:
    """The revision of nbgrader's gradebook schema, read in-process from nbgrader's migrations."""
    import nbgrader
    from alembic.script import ScriptDirectory

    return ScriptDirectory(str(Path(nbgrader.__file__).parent / "alembic")).get_current_head()


@contextlib.contextmanager
def _nbgrader_runtime() -> Iterator[None]:
    """Let nbgrader create gradebooks without the `alembic` command on PATH.

    nbgrader 0.9.6 stamps a new gradebook with `alembic heads`, run as a command found on PATH
    (absent when the virtual environment is not activated; a second Python start-up otherwise).
    We answer the same question in-process, and also put this environment's scripts folder
    first on PATH in case a later nbgrader runs the command elsewhere.
    """
    import nbgrader.api

    saved_path = os.environ.get("PATH")
    saved_head = nbgrader.api.get_alembic_version
    os.environ["PATH"] = os.pathsep.join(
        p for p in (sysconfig.get_path("scripts"), saved_path) if p)
    nbgrader.api.get_alembic_version = _alembic_head
    try:
        yield
    finally:
        nbgrader.api.get_alembic_version = saved_head
        if saved_path is None:
            os.environ.pop("PATH", None)
        else:
            os.environ["PATH"] = saved_path


def _run_converter(kind: str, root: Path, assignment: str, timeout: int,
                   student: str | None = None, execute: bool = True) -> None:
    """Run nbgrader's GenerateAssignment or Autograde converter in-process (its Python API).

    With `execute=False`, autograde grades the submission's stored outputs: nbgrader's own
    ClearOutput and Execute steps are switched off."""
    from nbgrader.converters import Autograde, GenerateAssignment
    from nbgrader.coursedir import CourseDirectory
    from sqlalchemy.exc import SAWarning  # nbgrader's database layer

    config = _nbgrader_config(root, timeout)
    if not execute:
        config.ClearOutput.enabled = False
        config.Execute.enabled = False
    with _quiet_logger(kind) as (logger, buffer), _nbgrader_runtime():
        coursedir = CourseDirectory(config=config, log=logger)
        coursedir.assignment_id = assignment
        if kind == "generate_assignment":
            app = GenerateAssignment(coursedir=coursedir, config=config, log=logger)
            app.force = True
            app.create_assignment = True
        else:
            coursedir.student_id = student
            app = Autograde(coursedir=coursedir, config=config, log=logger)
            app.force = True
            app.create_student = True
        try:
            with warnings.catch_warnings():
                # nbgrader 0.9.6 autograde: "Object of type <SubmittedAssignment> not in
                # session" from SQLAlchemy's autoflush; harmless, the scores are saved.
                warnings.simplefilter("ignore", SAWarning)
                app.start()
        except Exception as err:  # nbgrader raises NbGraderException and others
            tail = "\n".join(buffer.getvalue().splitlines()[-25:])
            who = f" for student {student!r}" if student else ""
            raise GradingError(
                f"nbgrader {kind} of assignment {assignment}{who} failed: "
                f"{type(err).__name__}: {err}\n{tail}") from err


def write_source(notebook: Path, dest: Path) -> None:
    """The section as the course's source (`cells.for_nbgrader`): nbgrader's markers around
    solutions and hidden tests, without its `check` cells (nbval runs them), all cells expanded."""
    import nbformat

    nbformat.write(cellkind.for_nbgrader(nbformat.read(notebook, as_version=4)), dest)


def build_course(out: Path, plans: Sequence[Plan], figures: Path | None = FIGURES,
                 timeout: int = CELL_TIMEOUT, log: Log = print) -> None:
    """Write the course folder `out` and run nbgrader's generate_assignment for every plan.

    Replaces `source/<a>/` and `release/<a>/` of the given assignments; keeps the gradebook and
    any submissions already there (nbgrader updates the assignment's cells in the gradebook).
    """
    out = Path(out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    (out / "nbgrader_config.py").write_text(config_file_text(timeout), encoding="utf-8",
                                            newline="\n")
    for plan in plans:
        source = out / "source" / plan.assignment
        shutil.rmtree(source, ignore_errors=True)
        shutil.rmtree(out / "release" / plan.assignment, ignore_errors=True)
        source.mkdir(parents=True)
        write_source(plan.section.notebook, source / plan.section.notebook.name)
        if figures is not None and Path(figures).is_dir():
            shutil.copytree(figures, source / "figures")
    for plan in plans:
        start = time.perf_counter()
        _run_converter("generate_assignment", out, plan.assignment, timeout)
        released = out / "release" / plan.assignment / plan.section.notebook.name
        if not released.is_file():
            raise GradingError(f"nbgrader did not write {released}")
        log(f"{plan.assignment}: {len(plan.tests)} autograded test cells, "
            f"{_fmt(plan.auto_points)} points (+{_fmt(plan.manual_points)} graded by hand) "
            f"[{time.perf_counter() - start:.1f} s]")


def assignments(out: Path = DEFAULT_OUT, toc: Path = TOC, figures: Path | None = FIGURES,
                only: Sequence[str] | None = None, log: Log = print) -> list[Plan]:
    """`assignments`: the course folder for the written sections of `toc`."""
    plans = read_plans(written_sections(toc, only))
    build_course(out, plans, figures, log=log)
    log(f"course {COURSE_ID}: {len(plans)} assignments in {posix(Path(out))} "
        f"({_fmt(sum(p.auto_points for p in plans))} autograded points, "
        f"{_fmt(sum(p.manual_points for p in plans))} graded by hand)")
    return plans


# ----------------------------------------------------------------------------- grade-check


@contextlib.contextmanager
def isolated_jupyter(home: Path) -> Iterator[None]:
    """Jupyter paths inside `home`, and a `python3` kernel that is this very interpreter.

    nbgrader executes with the notebook's kernelspec (`python3`); a `python3` kernelspec first on
    JUPYTER_PATH makes that the current environment's Python (which imports `d2l_attention`),
    whatever kernels the user has installed. The kernel inherits the rest of the environment
    (e.g. D2L_DATA_DIR). Config and IPython profiles of the user are not read.
    """
    kernel = home / "jupyter" / "kernels" / "python3"
    kernel.mkdir(parents=True, exist_ok=True)
    spec = {
        # log_level: no "running over TCP without encryption" warning per notebook
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}",
                 "--IPKernelApp.log_level=ERROR"],
        "display_name": "Python 3 (ipykernel)",
        "language": "python",
    }
    (kernel / "kernel.json").write_text(json.dumps(spec, indent=1), encoding="utf-8")
    values = {
        "JUPYTER_PATH": str(home / "jupyter"),
        "JUPYTER_CONFIG_DIR": str(home / "jupyter-config"),
        "IPYTHONDIR": str(home / "ipython"),
    }
    saved = {key: os.environ.get(key) for key in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def submit(course: Path, plan: Plan, student: str, notebook: Path) -> None:
    """Place `notebook` as `student`'s submission of the plan's assignment."""
    folder = course / "submitted" / student / plan.assignment
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    shutil.copy2(notebook, folder / f"{plan.notebook_id}.ipynb")


def require_outputs(notebook: Path) -> None:
    """Fail unless every code cell of `notebook` has been run (its outputs are stored)."""
    import nbformat

    cells = nbformat.read(notebook, as_version=4).cells
    unrun = [i for i, c in enumerate(cells) if c.cell_type == "code" and c.execution_count is None]
    if unrun:
        raise GradingError(
            f"{posix(notebook)}: code cell(s) {', '.join(map(str, unrun[:5]))} (0-based) were "
            "never run, so there are no stored outputs to grade; run `make execute`, or "
            "grade-check with `--reference run`")


def solve_one(release: Path, source: Path, solution_id: str, dest: Path) -> None:
    """Copy `release` to `dest` with the solution cell `solution_id` taken from `source`."""
    import nbformat

    src = {_nbgrader_meta(c).get("grade_id"): c for c in nbformat.read(source, as_version=4).cells}
    nb = nbformat.read(release, as_version=4)
    for cell in nb.cells:
        if _nbgrader_meta(cell).get("grade_id") == solution_id:
            cell.source = src[solution_id].source
            break
    else:
        raise GradingError(f"{posix(release)}: no cell with grade_id {solution_id!r}")
    nbformat.write(nb, dest)


def read_scores(course: Path, plan: Plan, student: str) -> dict[str, tuple[float | None, float]]:
    """Per grade cell of a submission: (auto_score, max_score), from nbgrader's gradebook."""
    from nbgrader.api import Gradebook
    from nbgrader.coursedir import CourseDirectory

    # The converters' own rule for the database URL (sqlite:///<root>/gradebook.db by default).
    url = CourseDirectory(config=_nbgrader_config(course, CELL_TIMEOUT)).db_url
    with Gradebook(url, COURSE_ID) as gb:
        notebook = gb.find_submission_notebook(plan.notebook_id, plan.assignment, student)
        return {g.name: (g.auto_score, g.max_score) for g in notebook.grades}


def cell_errors(course: Path, plan: Plan, student: str) -> dict[str, str]:
    """Why each test cell of an autograded submission lost points: its error or stderr line."""
    import nbformat

    path = course / "autograded" / student / plan.assignment / f"{plan.notebook_id}.ipynb"
    if not path.is_file():
        return {}
    reasons = {}
    for cell in nbformat.read(path, as_version=4).cells:
        grade_id = _nbgrader_meta(cell).get("grade_id")
        for output in cell.get("outputs", []):
            if output.get("output_type") == "error":
                reasons[grade_id] = f"{output.get('ename')}: {output.get('evalue')}"[:200]
                break
            if output.get("output_type") == "stream" and output.get("name") == "stderr":
                first = (output.get("text") or "").strip().splitlines()[:1]
                reasons[grade_id] = f"wrote to stderr (nbgrader gives 0): {''.join(first)}"[:200]
                break
    return reasons


@dataclass
class CheckReport:
    """Autograded points per student, and every broken expectation."""

    total: float = 0.0  # N: autograded points over all sections
    manual: float = 0.0  # points of answers graded by hand (not autograded)
    earned: dict[str, float] = field(default_factory=lambda: dict.fromkeys(STUDENTS, 0.0))
    one: tuple[str, str, float] | None = None  # (assignment, solution grade_id, K)
    scores: dict[tuple[str, str], dict[str, tuple[float | None, float]]] = field(
        default_factory=dict)  # (student, assignment) -> per-cell scores
    failures: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failures

    def summary(self) -> str:
        """The one-line result: points earned per student out of N (the one-solved check
        expects K, the chosen exercise's points, in `self.one`)."""
        n = _fmt(self.total)
        return (f"autograde: reference {_fmt(self.earned['reference'])}/{n} points; "
                f"blank release {_fmt(self.earned['blank'])}/{n}; "
                f"one solved {_fmt(self.earned['one'])}/{n}")


def _expect(report: CheckReport, course: Path, plan: Plan, student: str,
            expected: dict[str, float], why: str) -> None:
    """Compare a submission's autograded test scores with `expected` (grade_id -> points)."""
    scores = read_scores(course, plan, student)
    report.scores[(student, plan.assignment)] = scores
    errors = None
    for cell in plan.tests:
        auto, _ = scores.get(cell.grade_id, (None, cell.points))
        got = auto or 0.0
        report.earned[student] += got
        if auto is None or abs(got - expected[cell.grade_id]) > 1e-9:
            if errors is None:
                errors = cell_errors(course, plan, student)
            reason = errors.get(cell.grade_id, "no error output")
            report.failures.append(
                f"{student} {plan.assignment} {cell.grade_id}: {_fmt(got)}/{_fmt(cell.points)} "
                f"points, expected {_fmt(expected[cell.grade_id])} ({why}; {reason})")


def choose_one(plans: Sequence[Plan]) -> tuple[Plan, Exercise]:
    """The first section's first code exercise that has autograded tests."""
    for plan in plans:
        for exercise in plan.exercises:
            return plan, exercise
    raise GradingError("no section has a code exercise (a solution cell followed by an "
                       "autograded test cell), so the 'one solved' check cannot run")


def grade_check(toc: Path = TOC, figures: Path | None = FIGURES,
                only: Sequence[str] | None = None, keep: Path | None = None,
                timeout: int = CELL_TIMEOUT, reference: str = "run",
                log: Log = print) -> CheckReport:
    """`grade-check`: autograde reference, blank and one-solved submissions in a fresh course.

    Works in a temporary folder (or `keep`, left in place for inspection) with its own gradebook.
    `reference="stored"` grades the reference on its stored outputs instead of running it.
    """
    if reference not in REFERENCES:
        raise GradingError(f"reference {reference!r}: choose from {', '.join(REFERENCES)}")
    plans = read_plans(written_sections(toc, only))
    if reference == "stored":
        for plan in plans:
            require_outputs(plan.section.notebook)
    one_plan, exercise = choose_one(plans)
    if keep is not None:
        work = Path(keep).resolve()
        if work.exists() and any(work.iterdir()):
            raise GradingError(f"--keep {work}: the folder must be new or empty")
        work.mkdir(parents=True, exist_ok=True)
        context: contextlib.AbstractContextManager = contextlib.nullcontext(str(work))
    else:
        context = tempfile.TemporaryDirectory(prefix="d2l-grade-check-")
    report = CheckReport(total=sum(p.auto_points for p in plans),
                         manual=sum(p.manual_points for p in plans),
                         one=(one_plan.assignment, exercise.solution_id, exercise.points))
    with context as tmp:
        work = Path(tmp)
        course = work / "course"
        with isolated_jupyter(work / "home"):
            log(f"[grade-check] course in {work}")
            log("[grade-check] generate_assignment")
            build_course(course, plans, figures, timeout,
                         log=lambda line: log(f"[grade-check]   {line}"))

            def autograde(plan: Plan, student: str, notebook: Path, execute: bool = True) -> None:
                start = time.perf_counter()
                how = "" if execute else " (its stored outputs)"
                log(f"[grade-check] autograde {plan.assignment} as {student!r}{how} ...")
                submit(course, plan, student, notebook)
                _run_converter("autograde", course, plan.assignment, timeout, student, execute)
                log(f"[grade-check]   done in {time.perf_counter() - start:.1f} s")

            for plan in plans:  # (a) the source notebooks earn every point
                autograde(plan, "reference", plan.section.notebook, reference == "run")
                _expect(report, course, plan, "reference",
                        {c.grade_id: c.points for c in plan.tests}, "reference solution")
            for plan in plans:  # (b) the untouched release earns nothing, and does not crash
                release = course / "release" / plan.assignment / plan.section.notebook.name
                autograde(plan, "blank", release)
                _expect(report, course, plan, "blank",
                        {c.grade_id: 0.0 for c in plan.tests}, "untouched release")
            # (c) one exercise solved in the release: exactly that exercise's points
            release = course / "release" / one_plan.assignment / one_plan.section.notebook.name
            solved = work / f"{one_plan.notebook_id}.ipynb"
            solve_one(release, one_plan.section.notebook, exercise.solution_id, solved)
            autograde(one_plan, "one", solved)
            _expect(report, course, one_plan, "one",
                    {c.grade_id: (c.points if c.grade_id in exercise.test_ids else 0.0)
                     for c in one_plan.tests},
                    f"only {exercise.solution_id} solved")
    return report


# -------------------------------------------------------------------------------- the CLI


COMMANDS = {
    "assignments": "build the nbgrader course folder (source + release)",
    "grade-check": "autograde reference/blank/one-solved submissions in a temporary course and "
                   "check the points",
}


def add_arguments(command: str, p: argparse.ArgumentParser) -> None:
    if command == "assignments":
        p.add_argument("--out", type=Path, default=DEFAULT_OUT, help="course folder "
                       "(default: build/nbgrader)")
    p.add_argument("--sections", nargs="+", metavar="N", help="only these sections (e.g. 10.1)")
    if command == "grade-check":
        p.add_argument("--keep", type=Path, metavar="DIR", help="work in DIR (new or empty) and "
                       "leave it there for inspection")
        p.add_argument("--timeout", type=int, default=CELL_TIMEOUT, metavar="S",
                       help=f"seconds a cell may run under autograde (default {CELL_TIMEOUT})")
        p.add_argument("--reference", choices=REFERENCES, default="run",
                       help="run: nbgrader runs the source notebooks (default); stored: grade "
                            "their stored outputs without running them (CI, where nbval re-runs "
                            "the same notebooks against those outputs)")


def register(sub) -> None:
    """The `assignments` and `grade-check` commands of tools/book.py."""
    for command, text in COMMANDS.items():
        p = sub.add_parser(command, help=text, description=text)
        add_arguments(command, p)
        p.set_defaults(run=run, command=command)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python tools/grading.py", description=__doc__.split(
        "\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    for command, text in COMMANDS.items():
        add_arguments(command, sub.add_parser(command, help=text))
    return run(parser.parse_args(argv))


def run(args: argparse.Namespace) -> int:
    """`assignments` or `grade-check`, as `args.command` says."""
    try:
        import nbgrader  # noqa: F401
    except ImportError:
        print("error: nbgrader is not installed here; run with the project's environment "
              "(`python tools/book.py grade-check ...` sets it up)", file=sys.stderr)
        return 1
    try:
        if args.command == "assignments":
            assignments(args.out, TOC, FIGURES, only=args.sections)
            return 0
        start = time.perf_counter()
        report = grade_check(TOC, FIGURES, only=args.sections, keep=args.keep,
                             timeout=args.timeout, reference=args.reference)
    except GradingError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    if report.manual:
        print(f"(answers graded by hand, not autograded: {_fmt(report.manual)} points)")
    print(f"[grade-check] {time.perf_counter() - start:.1f} s")
    print(report.summary())
    if not report.ok:
        print(f"error: {len(report.failures)} autograded cell(s) broke the check:",
              file=sys.stderr)
        for line in report.failures:
            print(f"  {line}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""tools/grading.py: the nbgrader course and its grade-check, on two tiny synthetic notebooks.

The fixtures (tests/fixtures/grading/) carry the exercises' nbgrader metadata exactly as the
chapter's notebooks do: solution cells, read-only test cells with points (one with hidden tests)
and markdown answer cells graded by hand.
"""

import contextlib
import io
import shutil

import grading
import nbformat
import pytest
from chapters import ROOT

FIXTURES = ROOT / "tests" / "fixtures" / "grading"
FIGURES = FIXTURES / "notebooks" / "figures"
# Points of the fixtures, counted by hand from their cell metadata.
SUMS_TESTS = {"ex1-test": 2.0, "ex2-test": 3.0}  # 1.1: ex1-test has hidden tests
WORDS_TESTS = {"ex1-test": 1.0}  # 1.2: hidden tests too
TOTAL = sum(SUMS_TESTS.values()) + sum(WORDS_TESTS.values())  # N = 6


def quiet(_line):
    pass


@pytest.fixture
def toc(tmp_path):
    """A writable copy of the fixtures' table of contents and notebooks."""
    folder = tmp_path / "book"
    shutil.copytree(FIXTURES, folder)
    return folder / "chapters.yml"


def cells_by_id(path):
    nb = nbformat.read(path, as_version=4)
    return {c.metadata.get("nbgrader", {}).get("grade_id"): c for c in nb.cells}


def edit_cell(path, grade_id, source):
    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        if cell.metadata.get("nbgrader", {}).get("grade_id") == grade_id:
            cell.source = source
    nbformat.write(nb, path)


def test_written_sections_reads_the_toc_in_order():
    sections = grading.written_sections(FIXTURES / "chapters.yml")
    assert [s.number for s in sections] == ["1.1", "1.2"]  # 1.3 is planned
    assert sections[0].notebook == FIXTURES / "notebooks" / "1.1-sums.ipynb"
    assert grading.written_sections(FIXTURES / "chapters.yml", ["1.2"])[0].number == "1.2"
    with pytest.raises(grading.GradingError, match="unknown section.*1.3"):
        grading.written_sections(FIXTURES / "chapters.yml", ["1.3"])


def test_plan_counts_tests_exercises_and_manual_points():
    sums, words = grading.read_plans(grading.written_sections(FIXTURES / "chapters.yml"))
    assert {c.grade_id: c.points for c in sums.tests} == SUMS_TESTS
    assert [(e.solution_id, e.test_ids, e.points) for e in sums.exercises] == [
        ("ex1-solution", ("ex1-test",), 2.0), ("ex2-solution", ("ex2-test",), 3.0)]
    assert (sums.auto_points, sums.manual_points) == (5.0, 1.0)
    assert (words.auto_points, words.manual_points) == (1.0, 2.0)
    assert grading.choose_one([sums, words])[1].solution_id == "ex1-solution"


@pytest.fixture(scope="module")
def checked(tmp_path_factory):
    """`python tools/grading.py grade-check --keep DIR` on the fixtures: (status, stdout, DIR)."""
    folder = tmp_path_factory.mktemp("grading")
    shutil.copytree(FIXTURES, folder / "book")
    keep = folder / "work"
    stdout = io.StringIO()
    with pytest.MonkeyPatch.context() as mp, contextlib.redirect_stdout(stdout):
        mp.setattr(grading, "TOC", folder / "book" / "chapters.yml")
        mp.setattr(grading, "FIGURES", FIGURES)
        status = grading.main(["grade-check", "--keep", str(keep)])
    return status, stdout.getvalue().splitlines(), keep


def test_generate_builds_the_course_with_stubs_and_without_hidden_tests(checked):
    _, out, keep = checked
    course = keep / "course"
    assert any(line.endswith("1.1: 2 autograded test cells, 5 points (+1 graded by hand)")
               for line in (x.split(" [")[0] for x in out))
    config = (course / "nbgrader_config.py").read_text(encoding="utf-8")
    assert "c.CourseDirectory.course_id = 'd2l-attention-ch10'" in config
    compile(config, "nbgrader_config.py", "exec")
    for number, name in [("1.1", "1.1-sums"), ("1.2", "1.2-words")]:
        assert (course / "source" / number / f"{name}.ipynb").is_file()
        assert (course / "release" / number / "figures" / "tiny.svg").is_file()

    source = cells_by_id(course / "source" / "1.1" / "1.1-sums.ipynb")
    release = cells_by_id(course / "release" / "1.1" / "1.1-sums.ipynb")
    assert "sum(values)" in source["ex1-solution"].source
    assert release["ex1-solution"].source == grading.CODE_STUB
    assert "参考答案" not in release["ex3-answer"].source
    assert release["ex3-answer"].source == grading.TEXT_STUB
    assert "BEGIN HIDDEN TESTS" in source["ex1-test"].source
    assert "ex1_total == 14" not in release["ex1-test"].source  # the hidden check is gone
    assert "ex1_total % 2 == 0" in release["ex1-test"].source  # the visible one stays
    assert release["ex1-test"].metadata["nbgrader"]["locked"] is True


def test_grade_check_on_the_fixtures(checked):
    status, out, keep = checked
    assert status == 0, "\n".join(out)
    assert [line for line in out if line.startswith("autograde:")] == [
        "autograde: reference 6/6 points; blank release 0/6; one solved 2/6"]
    assert "(answers graded by hand, not autograded: 3 points)" in out
    # per cell, straight from the kept gradebook
    course = keep / "course"
    sums, words = grading.read_plans(grading.written_sections(FIXTURES / "chapters.yml"))
    assert grading.read_scores(course, sums, "reference") == {
        "ex1-test": (2.0, 2.0), "ex2-test": (3.0, 3.0), "ex3-answer": (None, 1.0)}
    assert grading.read_scores(course, words, "reference")["ex1-test"] == (1.0, 1.0)
    assert grading.read_scores(course, sums, "blank") == {
        "ex1-test": (0.0, 2.0), "ex2-test": (0.0, 3.0), "ex3-answer": (0.0, 1.0)}
    assert grading.read_scores(course, words, "blank")["ex1-test"] == (0.0, 1.0)
    assert grading.read_scores(course, sums, "one") == {
        "ex1-test": (2.0, 2.0), "ex2-test": (0.0, 3.0), "ex3-answer": (0.0, 1.0)}
    # the blank release failed on the stub, not on a missing import or figure
    errors = grading.cell_errors(course, sums, "blank")
    assert errors["ex1-solution"] == "NotImplementedError: "
    assert errors["ex1-test"] == "NameError: name 'ex1_total' is not defined"


@pytest.mark.build
def test_a_wrong_solution_earns_nothing_and_fails_the_check(toc):
    # even, an int: passes the visible asserts, only the hidden test (run by autograde) fails
    notebook = toc.parent / "notebooks" / "1.1-sums.ipynb"
    edit_cell(notebook, "ex1-solution", "ex1_total = 16")
    report = grading.grade_check(toc, FIGURES, only=["1.1"], log=quiet)
    assert not report.ok
    assert report.scores[("reference", "1.1")]["ex1-test"] == (0.0, 2.0)
    assert report.scores[("reference", "1.1")]["ex2-test"] == (3.0, 3.0)
    assert report.earned["reference"] == 3.0
    failing = "\n".join(report.failures)
    assert "reference 1.1 ex1-test: 0/2 points, expected 2" in failing
    assert "AssertionError: ex1_total should equal sum(values)" in failing
    assert "one 1.1 ex1-test" in failing  # the one-solved copy used the same wrong solution
    assert "ex2-test" not in failing


@pytest.mark.build
def test_stored_reference_is_graded_on_its_outputs_without_running(toc):
    notebook = toc.parent / "notebooks" / "1.1-sums.ipynb"
    with pytest.raises(grading.GradingError, match=r"1\.1-sums\.ipynb: code cell\(s\) 1, 4, .* "
                       "never run"):
        grading.grade_check(toc, FIGURES, only=["1.1"], reference="stored", log=quiet)
    # As if it had been run: ex2's test stored an error, and ex1's solution is now wrong, which
    # a run would catch (its hidden test) but the stored, unchanged outputs cannot show.
    nb = nbformat.read(notebook, as_version=4)
    for count, cell in enumerate(c for c in nb.cells if c.cell_type == "code"):
        cell.execution_count = count + 1
        if cell.metadata.get("nbgrader", {}).get("grade_id") == "ex2-test":
            cell.outputs = [nbformat.v4.new_output(
                "error", ename="AssertionError", evalue="the mean of 1, 2, 3 is 2", traceback=[])]
        if cell.metadata.get("nbgrader", {}).get("grade_id") == "ex1-solution":
            cell.source = "ex1_total = 16"
    nbformat.write(nb, notebook)
    report = grading.grade_check(toc, FIGURES, only=["1.1"], reference="stored", log=quiet)
    assert report.scores[("reference", "1.1")]["ex1-test"] == (2.0, 2.0)
    assert report.scores[("reference", "1.1")]["ex2-test"] == (0.0, 3.0)
    assert report.failures[0] == ("reference 1.1 ex2-test: 0/3 points, expected 3 (reference "
                                  "solution; AssertionError: the mean of 1, 2, 3 is 2)")
    assert report.earned["blank"] == 0.0  # the release is still run


def test_duplicate_grade_id_is_reported(toc, tmp_path):
    notebook = toc.parent / "notebooks" / "1.2-words.ipynb"
    nb = nbformat.read(notebook, as_version=4)
    answer = next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id")
                  == "ex2-answer")
    answer.metadata["nbgrader"]["grade_id"] = "ex1-test"
    nbformat.write(nb, notebook)
    with pytest.raises(grading.GradingError, match=r"1\.2-words\.ipynb: grade_id 'ex1-test' is "
                       r"used by cell \d+ and cell \d+"):
        grading.assignments(tmp_path / "course", toc=toc, figures=FIGURES, log=quiet)
    assert not (tmp_path / "course").exists()  # checked before anything is written


def test_notebook_without_graded_cells_is_reported(toc, tmp_path):
    notebook = toc.parent / "notebooks" / "1.1-sums.ipynb"
    nb = nbformat.read(notebook, as_version=4)
    for cell in nb.cells:
        cell.metadata.pop("nbgrader", None)
    nbformat.write(nb, notebook)
    with pytest.raises(grading.GradingError, match=r"1\.1-sums\.ipynb \(section 1\.1\) has no "
                       "graded cells"):
        grading.assignments(tmp_path / "course", toc=toc, figures=FIGURES, log=quiet)

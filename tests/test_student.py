"""`make student` (nbgrader's release): solutions become stubs, hidden tests go, nothing leaks."""

import copy
from pathlib import Path

import cells
import nbformat
import pytest
from chapters import ROOT, written_sections
from grading import CODE_STUB
from grading import TEXT_STUB as ANSWER_STUB


def is_solution(cell):
    return bool(cell.get("metadata", {}).get("nbgrader", {}).get("solution"))


def is_test(cell):
    grading = cell.get("metadata", {}).get("nbgrader", {})
    return bool(grading.get("grade")) and not grading.get("solution")


def meaningful_lines(source):
    """Stripped non-blank lines; a lone `#` or bracket says nothing about the answer."""
    return {ln.strip() for ln in source.splitlines() if len(ln.strip()) > 2}


def notebook_text(nb):
    """Every line a reader of `nb` can see: cell sources and text outputs."""
    lines = set()
    for cell in nb.cells:
        lines |= meaningful_lines(cell.source)
        for out in cell.get("outputs", []):
            text = out.get("text", "")
            text += "".join(v if isinstance(v, str) else "\n".join(v)
                            for k, v in out.get("data", {}).items() if k.startswith("text/"))
            lines |= meaningful_lines(text if isinstance(text, str) else "".join(text))
    return lines


def leaked_lines(original, student):
    """Lines written only in solution cells (source or outputs) that the student edition shows."""
    public = notebook_text(nbformat.v4.new_notebook(
        cells=[c for c in original.cells if not is_solution(c)]))
    secret = notebook_text(nbformat.v4.new_notebook(
        cells=[c for c in original.cells if is_solution(c)])) - public
    return sorted(secret & notebook_text(student))


@pytest.fixture(scope="module")
def student_dir(book_build):
    return book_build("student", timeout=300)


@pytest.fixture(scope="module", params=[s["notebook"] for s in written_sections()])
def pair(request, student_dir):
    original = nbformat.read(ROOT / request.param, as_version=4)
    student = nbformat.read(student_dir / Path(request.param).name, as_version=4)
    return original, student


def test_every_written_section_has_a_student_notebook(student_dir):
    names = {Path(s["notebook"]).name for s in written_sections()}
    assert names == {p.name for p in student_dir.glob("*.ipynb")}


def test_student_notebook_is_valid_nbformat(pair):
    _, student = pair
    nbformat.validate(student)


def test_at_least_two_exercises_per_section_each_graded(pair):
    original, _ = pair
    code = [c for c in original.cells if is_solution(c) and c.cell_type == "code"]
    assert sum(is_solution(c) for c in original.cells) >= 2, \
        "each section needs >= 2 exercises with an nbgrader solution cell"
    assert code and sum(is_test(c) for c in original.cells) >= 1, "no autograded exercise"
    for cell in original.cells:  # the reading notebook shows no nbgrader markers; grading adds them
        assert "BEGIN SOLUTION" not in cell.source and "HIDDEN TESTS" not in cell.source, \
            cell.source[:80]


def test_stubs_replace_solutions_one_for_one(pair):
    original, student = pair
    # check cells stay with nbval; hidden tests stay with the teacher
    original = cells.without_checks(copy.deepcopy(original))
    assert len(student.cells) == len(original.cells)
    stubs = 0
    for old, new in zip(original.cells, student.cells):
        assert new.cell_type == old.cell_type
        assert new.get("id") == old.get("id")  # ids stay stable across editions
        if new.cell_type == "code":
            assert new.outputs == [] and new.execution_count is None  # outputs cleared
        if is_solution(old):
            stubs += 1
            assert CODE_STUB in new.source or ANSWER_STUB in new.source
            assert "BEGIN SOLUTION" not in new.source
        elif is_test(old):
            assert "HIDDEN TESTS" not in new.source  # hidden checks stay with the teacher
            assert new.source.strip().startswith(old.source.strip()[:200])
        else:  # everything else intact, and expanded
            assert new.source == old.source
        assert not new.metadata.get("jupyter", {}).get("source_hidden"), new.source[:80]
    assert stubs == sum(CODE_STUB in c.source or ANSWER_STUB in c.source for c in student.cells)


def test_no_solution_source_or_output_leaks(pair):
    original, student = pair
    for cell in original.cells:
        if is_solution(cell):
            # Otherwise the leak check below would have nothing to look for in this cell.
            assert meaningful_lines(cell.source) - notebook_text(nbformat.v4.new_notebook(
                cells=[c for c in original.cells if not is_solution(c)])), \
                f"solution cell repeats earlier cells verbatim: {cell.source[:80]!r}"
    assert leaked_lines(original, student) == []


def test_leak_check_catches_a_leak(pair):
    original, _ = pair
    # The teacher's notebook itself "leaks" every solution: the check must notice.
    assert leaked_lines(original, original)


def test_diagrams_travel_with_the_student_edition(student_dir):
    for svg in (ROOT / "notebooks" / "figures").glob("*.svg"):
        assert (student_dir / "figures" / svg.name).read_bytes() == svg.read_bytes()

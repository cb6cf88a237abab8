"""Lesson first, proof beside it: check cells and solutions are collapsed, checks stay out of the
reader's way, and the lesson does not depend on its proofs."""

import ast

import cells
import jupytext
import pytest
import stats
from chapters import twin_of, written_sections

SECTIONS = written_sections()


def read(sec):
    return jupytext.read(twin_of(sec))


def test_collapse_marks_check_and_solution_cells_only():
    check = {"cell_type": "code", "metadata": {"tags": ["check"]}, "source": "assert 1"}
    solution = {"cell_type": "code", "metadata": {"nbgrader": {"solution": True}}, "source": ""}
    lesson = {"cell_type": "code", "metadata": {}, "source": "x = 1"}
    assert [cells.collapse(c) for c in (check, solution, lesson)] == [True, True, False]
    assert cells.is_collapsed(check) and cells.is_collapsed(solution)
    assert not cells.is_collapsed(lesson) and lesson["metadata"] == {}
    assert cells.collapse(check) is False  # already collapsed: nothing to change


def test_collapse_also_hides_an_exercises_tests():
    test = {"cell_type": "code", "metadata": {"nbgrader": {"grade": True, "solution": False}},
            "source": "assert x == 1"}
    hidden = {"cell_type": "code", "metadata": {"tags": ["hidden-tests"]}, "source": "assert x"}
    assert [cells.collapse(c) for c in (test, hidden)] == [True, True]


def test_nbgrader_gets_its_markers_and_the_hidden_tests_inside_the_test_cell():
    import nbformat

    solution = nbformat.v4.new_code_cell("x = 1", metadata={"nbgrader": {"solution": True}})
    test = nbformat.v4.new_code_cell("assert x > 0", metadata={
        "nbgrader": {"grade": True, "solution": False}})
    hidden = nbformat.v4.new_code_cell("assert x == 1", metadata={"tags": ["hidden-tests"]})
    check = nbformat.v4.new_code_cell("assert True", metadata={"tags": ["check"]})
    nb = cells.for_nbgrader(nbformat.v4.new_notebook(cells=[solution, test, hidden, check]))
    assert [c.source for c in nb.cells] == [
        "### BEGIN SOLUTION\nx = 1\n### END SOLUTION",
        "assert x > 0\n### BEGIN HIDDEN TESTS\nassert x == 1\n### END HIDDEN TESTS"]
    orphan = nbformat.v4.new_notebook(cells=[check, hidden])
    with pytest.raises(ValueError, match="must follow an exercise's test cell"):
        cells.for_nbgrader(orphan)


def test_check_lines_counts_asserts_raises_and_check_calls():
    src = "\n".join([
        "x = f(1)",                       # 1 lesson
        "assert x > 0, 'positive'",       # 2 check
        "if x > 9:",                      # 3 check: its body only raises
        "    raise ValueError('big')",    # 4 check
        "d2l.check_qkv(q, k, v)",         # 5 check call
        "testing.mha_difference(m, q)",   # 6 check call through `testing`
        "if x:",                          # 7 lesson: the body does more than raise
        "    print(x)",                   # 8
        "print(checked)",                 # 9 lesson: a name, not a check helper
    ])
    assert stats.check_lines(src) == {2, 3, 4, 5, 6}


def test_split_main_text_keeps_the_summary_as_prose():
    nb = jupytext.reads("# %% [markdown]\n# intro\n\n# %%\nx = 1\n\n# %% [markdown]\n"
                        "# ## 小结\n# sum\n#\n# ## 练习\n# q1\n\n# %%\ny = 2\n", fmt="py:percent")
    main, exercises, prose = cells.split_main_text(nb.cells)
    assert [c.source for c in main] == ["intro", "x = 1"]
    assert len(exercises) == 2 and "小结" in prose and "练习" not in prose


@pytest.mark.parametrize("sec", SECTIONS, ids=[s["number"] for s in SECTIONS])
def test_checks_and_solutions_are_collapsed_and_markers_gone(sec):
    row = stats.section_stats(sec["number"], read(sec))
    assert row.solutions_expanded == 0, "run `python tools/book.py sync`"
    assert row.markers == 0, stats.failures([row])
    for cell in read(sec).cells:
        if cells.should_collapse(cell):  # checks, solutions, an exercise's tests
            assert cells.is_collapsed(cell), cell.source[:80]


@pytest.mark.parametrize("sec", SECTIONS, ids=[s["number"] for s in SECTIONS])
def test_checks_are_at_most_five_percent_of_the_visible_code(sec):
    row = stats.section_stats(sec["number"], read(sec))
    assert row.percent <= stats.TARGET_PERCENT, stats.failures([row])


def names(tree, ctx):
    """Names the cell reads (`ast.Load`) or binds (`ast.Store`: assignments, definitions and the
    parameters of its functions and lambdas)."""
    bound = {n.name for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.ClassDef))} \
        | {n.arg for n in ast.walk(tree) if isinstance(n, ast.arg)}
    return {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ctx)} \
        | (bound if ctx is ast.Store else set())


@pytest.mark.parametrize("sec", SECTIONS, ids=[s["number"] for s in SECTIONS])
def test_the_lesson_runs_without_its_check_cells(sec):
    """No cell after a `check` cell uses a name that only the check cell defines: the HTML book
    and the student edition leave check cells out."""
    defined, only_in_checks = set(), set()
    for cell in read(sec).cells:
        if cell.cell_type != "code":
            continue
        tree = ast.parse(stats._python(cell.source))
        if cells.is_check(cell):
            only_in_checks |= names(tree, ast.Store) - defined
            continue
        used = names(tree, ast.Load) - names(tree, ast.Store)
        assert not used & only_in_checks, (
            f"{sec['number']}: a lesson cell uses {sorted(used & only_in_checks)}, defined only "
            f"in a check cell:\n{cell.source[:200]}")
        defined |= names(tree, ast.Store)
        only_in_checks -= names(tree, ast.Store)

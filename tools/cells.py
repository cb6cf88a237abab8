"""What kind of cell is this? The one place that answers it for the tools.

The conventions (CONTRIBUTING.md):

* a cell tagged `check` only checks a claim of the lesson (asserts, cross-checks, invariances): it
  is collapsed in JupyterLab, left out of the HTML book and the student edition, run by nbval;
* a cell tagged `solution` (or carrying nbgrader's `"solution": true`) is an exercise's reference
  answer: collapsed in JupyterLab, behind a "参考答案" toggle in the HTML book, a stub in the
  student edition;
* an exercise's test cell (nbgrader's `"grade": true` on a code cell that is no solution) is
  collapsed like a solution; its hidden tests, which only the teacher's autograder runs, sit in the
  next cell, tagged `hidden-tests` (collapsed, left out of the HTML book and the student edition);
* the reading notebook carries no nbgrader markers: `for_nbgrader` wraps each code solution in
  `### BEGIN SOLUTION` / `### END SOLUTION` and folds each `hidden-tests` cell into the test cell
  before it between `### BEGIN HIDDEN TESTS` / `### END HIDDEN TESTS`;
* the exercises start at the markdown heading `## 练习`.

Standard library only: nbformat and jupytext cells are dicts with `metadata` and `source`.
"""

from __future__ import annotations

import re

CHECK_TAG = "check"
SOLUTION_TAG = "solution"
HIDDEN_TESTS_TAG = "hidden-tests"
SOLUTION_MARKERS = ("### BEGIN SOLUTION", "### END SOLUTION")
HIDDEN_TESTS_MARKERS = ("### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS")
EXERCISES_HEADING = re.compile(r"^##\s+练习\s*$", re.MULTILINE)
# The JupyterLab metadata that shows a cell collapsed: one click on the bar opens it.
COLLAPSED = {"source_hidden": True, "outputs_hidden": True}


def tags(cell) -> list[str]:
    return list(cell.get("metadata", {}).get("tags", []))


def is_check(cell) -> bool:
    return CHECK_TAG in tags(cell)


def is_solution(cell) -> bool:
    """An exercise's reference answer (code or markdown); nbgrader's test cells are not."""
    meta = cell.get("metadata", {})
    return SOLUTION_TAG in tags(cell) or bool(meta.get("nbgrader", {}).get("solution"))


def is_test(cell) -> bool:
    """An exercise's autograded test cell (nbgrader's `"grade": true`, not a solution)."""
    meta = cell.get("metadata", {}).get("nbgrader", {})
    return cell.get("cell_type") == "code" and bool(meta.get("grade")) and not meta.get("solution")


def is_hidden_tests(cell) -> bool:
    return HIDDEN_TESTS_TAG in tags(cell)


def should_collapse(cell) -> bool:
    return is_check(cell) or is_solution(cell) or is_test(cell) or is_hidden_tests(cell)


def is_collapsed(cell) -> bool:
    jupyter = cell.get("metadata", {}).get("jupyter", {})
    return all(jupyter.get(key) for key in COLLAPSED)


def collapse(cell) -> bool:
    """Give a check or solution cell JupyterLab's collapsed state; True if it changed."""
    if not should_collapse(cell) or is_collapsed(cell):
        return False
    meta = cell.setdefault("metadata", {})
    meta["jupyter"] = dict(sorted({**meta.get("jupyter", {}), **COLLAPSED}.items()))
    # Keys in sorted order, as the .ipynb stores them: the .py twin then reads the same after sync.
    ordered = dict(sorted(meta.items()))
    meta.clear()
    meta.update(ordered)
    return True


def source(cell) -> str:
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else src


def split_main_text(cells) -> tuple[list, list, str]:
    """(main-text cells, exercise cells, the prose of the heading cell before `## 练习`).

    The cell holding the heading belongs to the exercises; its text above the heading (often the
    summary) is returned as the third item so it still counts as main-text prose.
    """
    for i, cell in enumerate(cells):
        if cell.get("cell_type") == "markdown":
            match = EXERCISES_HEADING.search(source(cell))
            if match:
                return list(cells[:i]), list(cells[i:]), source(cell)[:match.start()]
    return list(cells), [], ""


def without_checks(nb):
    """`nb` as a reader outside JupyterLab gets it (the HTML book, the nbgrader course): its
    `check` and `hidden-tests` cells removed, and no cell collapsed (the HTML book hides solutions
    behind a toggle of its own; a student's stub must not open collapsed). Changes and returns
    `nb`."""
    nb.cells = [c for c in nb.cells if not (is_check(c) or is_hidden_tests(c))]
    for cell in nb.cells:
        cell.get("metadata", {}).pop("jupyter", None)
    return nb


def for_nbgrader(nb):
    """`nb` as nbgrader's source notebook: code solutions between nbgrader's solution markers,
    each `hidden-tests` cell folded into the test cell before it, then `without_checks`.
    Changes and returns `nb`; a `hidden-tests` cell that follows no test cell is an error."""
    kept = []
    for cell in nb.cells:
        if is_hidden_tests(cell):
            if not kept or not is_test(kept[-1]):
                after = repr(source(kept[-1])[:60]) if kept else "the notebook's start"
                raise ValueError(f"a cell tagged {HIDDEN_TESTS_TAG!r} must follow an exercise's "
                                 f"test cell; it follows {after}")
            begin, end = HIDDEN_TESTS_MARKERS
            tests = source(kept[-1]).rstrip()
            kept[-1]["source"] = f"{tests}\n{begin}\n{source(cell).strip()}\n{end}"
            continue
        if is_solution(cell) and cell.get("cell_type") == "code":
            begin, end = SOLUTION_MARKERS
            cell["source"] = f"{begin}\n{source(cell).strip()}\n{end}"
        kept.append(cell)
    nb.cells = kept
    return without_checks(nb)

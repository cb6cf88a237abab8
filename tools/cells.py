"""What kind of cell is this? The one place that answers it for the tools.

The conventions (README, "Notebook conventions"):

* a cell tagged `check` only checks a claim of the lesson (asserts, cross-checks, invariances): it
  is collapsed in JupyterLab, left out of the HTML book and the student edition, run by nbval;
* a cell tagged `solution` (or carrying nbgrader's `"solution": true`) is an exercise's reference
  answer: collapsed in JupyterLab, behind a "参考答案" toggle in the HTML book, a stub in the
  student edition;
* the exercises start at the markdown heading `## 练习`.

Standard library only: nbformat and jupytext cells are dicts with `metadata` and `source`.
"""

from __future__ import annotations

import re

CHECK_TAG = "check"
SOLUTION_TAG = "solution"
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


def should_collapse(cell) -> bool:
    return is_check(cell) or is_solution(cell)


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
    `check` cells removed, and no cell collapsed (the HTML book hides solutions behind a toggle of
    its own; a student's stub must not open collapsed). Changes and returns `nb`."""
    nb.cells = [c for c in nb.cells if not is_check(c)]
    for cell in nb.cells:
        cell.get("metadata", {}).pop("jupyter", None)
    return nb

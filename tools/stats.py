"""`python tools/book.py stats`: how much of each section a reader sees is lesson, how much proof.

Per section (chapters.yml order) it prints:

* `code`: reader-visible code lines of the main text: non-blank, non-comment lines of code cells
  that are neither tagged `check` nor collapsed, before the `## 练习` heading;
* `checks`: how many of those lines only check: lines of `assert` and `raise` statements, `if`
  lines whose body only raises, and calls of helpers named `*check*` or reached through `testing`;
* `check %`: checks / code (the target is at most 5 %);
* `in check cells`: code lines in cells tagged `check` (collapsed; nbval runs them);
* `prose`: characters of markdown in the main text;
* `solutions expanded`: solution cells (code or markdown) not collapsed;
* `markers`: cells whose text shows the reader a tool's marker: nbgrader's `BEGIN SOLUTION` or
  `HIDDEN TESTS` (grading adds them, `cells.for_nbgrader`) or an `NBVAL_` comment (nbval reads
  cell tags instead).

Standard library plus jupytext (to read the `.py` twins).
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from pathlib import Path

import cells as cellkind

TARGET_PERCENT = 5.0
MARKER = re.compile(r"BEGIN SOLUTION|END SOLUTION|HIDDEN TESTS|NBVAL_")


@dataclass
class SectionStats:
    number: str
    code: int
    checks: int
    check_cell_lines: int
    prose: int
    solutions_expanded: int
    markers: int

    @property
    def percent(self) -> float:
        return 100.0 * self.checks / self.code if self.code else 0.0


def code_lines(src: str) -> list[int]:
    """1-based numbers of the non-blank, non-comment lines of `src`."""
    return [i for i, line in enumerate(src.splitlines(), 1)
            if line.strip() and not line.strip().startswith("#")]


def _python(src: str) -> str:
    # IPython magics and shell escapes are not Python; blank them, keeping line numbers.
    return "\n".join("" if line.lstrip().startswith(("%", "!")) else line
                     for line in src.splitlines())


def _is_check_call(node: ast.AST) -> bool:
    if not isinstance(node, ast.Call):
        return False
    func, parts = node.func, []
    while isinstance(func, ast.Attribute):
        parts.append(func.attr)
        func = func.value
    if isinstance(func, ast.Name):
        parts.append(func.id)
    return bool(parts) and ("check" in parts[0].lower() or "testing" in parts[1:])


def check_lines(src: str) -> set[int]:
    """Line numbers of `src` that only check (see the module docstring)."""
    try:
        tree = ast.parse(_python(src))
    except SyntaxError:
        return set()
    lines: set[int] = set()

    def span(node):
        return range(node.lineno, (node.end_lineno or node.lineno) + 1)

    for node in ast.walk(tree):
        if isinstance(node, (ast.Assert, ast.Raise)):
            lines.update(span(node))
        elif isinstance(node, ast.If) and all(isinstance(s, ast.Raise) for s in node.body) \
                and not node.orelse:
            lines.update(range(node.lineno, node.body[0].lineno))
        elif isinstance(node, ast.Expr) and _is_check_call(node.value):
            lines.update(span(node))
    return lines


def section_stats(number: str, nb) -> SectionStats:
    main, exercises, heading_prose = cellkind.split_main_text(nb.cells)
    code = checks = check_cell_lines = 0
    prose = len(heading_prose.strip())
    for cell in main:
        src = cellkind.source(cell)
        if cell.cell_type == "markdown":
            prose += len(src.strip())
        elif cell.cell_type == "code":
            visible = code_lines(src)
            if cellkind.is_check(cell):
                check_cell_lines += len(visible)
            elif not cellkind.is_collapsed(cell):
                code += len(visible)
                checks += len(check_lines(src) & set(visible))
    solutions = [c for c in nb.cells if cellkind.is_solution(c)]
    expanded = sum(not cellkind.is_collapsed(c) for c in solutions)
    markers = sum(bool(MARKER.search(cellkind.source(c))) for c in nb.cells)
    return SectionStats(number, code, checks, check_cell_lines, prose, expanded, markers)


def collect(sections: list[dict], root: Path) -> list[SectionStats]:
    import jupytext

    return [section_stats(sec["number"], jupytext.read(root / sec["notebook"]))
            for sec in sections]


def table(rows: list[SectionStats]) -> str:
    head = ("section", "code", "checks", "check %", "in check cells", "prose",
            "solutions expanded", "markers")
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        lines.append(f"| {r.number} | {r.code} | {r.checks} | {r.percent:.1f} | "
                     f"{r.check_cell_lines} | {r.prose} | {r.solutions_expanded} | {r.markers} |")
    return "\n".join(lines)


def failures(rows: list[SectionStats]) -> list[str]:
    """What keeps a section from the lesson-first targets, one line each."""
    out = []
    for r in rows:
        if r.percent > TARGET_PERCENT:
            out.append(f"{r.number}: checks are {r.percent:.1f} % of the visible code "
                       f"(target <= {TARGET_PERCENT:g} %); move them into a cell tagged `check`")
        if r.solutions_expanded:
            out.append(f"{r.number}: {r.solutions_expanded} solution cells are not collapsed; "
                       "run `python tools/book.py sync`")
        if r.markers:
            out.append(f"{r.number}: {r.markers} cells carry a tool's marker (BEGIN/END "
                       "SOLUTION, HIDDEN TESTS, NBVAL_); grading adds nbgrader's (put hidden "
                       "tests in a cell tagged `hidden-tests`), nbval reads cell tags")
    return out

"""`make lib`: the `#@save` cells of the notebooks become d2l_attention/sections/.

Each generated module names where every definition lives in the notebook's `.py` twin
(`# %% notebooks/py/10.x-....py:LINE`, as nbdev writes its source cell), so a maintainer finds the
lesson in one hop, and imports what it uses: every `d2l.NAME` of a saved cell is written `NAME`,
imported from the hand-written module or the earlier section that defines it (nbdev rewrites
imports the same way), so an editor's go-to-definition lands on the definition.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import common

SECTIONS_DIR = common.ROOT / "d2l_attention" / "sections"
PACKAGE_INIT = common.ROOT / "d2l_attention" / "__init__.py"


SAVE_MARK = "#@save"
CELL_MARK = "# %%"
# The imports a saved cell may take for granted, written into a module only where it uses them.
STANDARD_IMPORTS = {
    "dataclasses": "import dataclasses",
    "math": "import math",
    "torch": "import torch",
    "nn": "from torch import nn",
    "F": "from torch.nn import functional as F",
}


def saved_cells(sec: dict) -> list[tuple[int, str]]:
    """(line in the `.py` twin, source) of the code cells whose first line is `#@save`, every
    marker line removed (a cell may mark each of its definitions, as the book does). The line is
    the cell's first source line, where a maintainer edits it."""
    import jupytext

    py = common.twin_path(sec["notebook"])
    if not py.exists():
        raise SystemExit(f"{common.posix(py)} is missing (section {sec['number']})")
    text = py.read_text(encoding="utf-8")
    nb = jupytext.reads(text, fmt="py:percent")
    # jupytext's cells are the twin's `# %%` blocks in order: cell i starts after marker i.
    starts = [n + 2 for n, line in enumerate(text.splitlines()) if line.startswith(CELL_MARK)]
    if len(starts) != len(nb.cells):
        raise SystemExit(f"{common.posix(py)}: {len(nb.cells)} cells but {len(starts)} "
                         f"`{CELL_MARK}` lines; start every cell with `{CELL_MARK}`")
    cells = []
    for start, cell in zip(starts, nb.cells):
        if cell.cell_type != "code":
            continue
        lines = cell.source.strip("\n").splitlines()
        if lines and lines[0].strip().startswith(SAVE_MARK):
            kept = [line for line in lines[1:] if line.strip() != SAVE_MARK]
            cells.append((start + 1, "\n".join(kept).strip("\n")))
    return cells


def notebook_imports(sec: dict) -> dict[str, str]:
    """{name: module} for `from d2l_attention.MODULE import NAME, ...` lines of the notebook's
    twin (e.g. the argument checks, `from d2l_attention.checks import check_shape`): a saved cell
    may use such a NAME bare, and its generated module imports it from the same module."""
    text = common.twin_path(sec["notebook"]).read_text(encoding="utf-8")
    found = {}
    for line in text.splitlines():
        words = line.replace(",", " ").split()
        if (len(words) >= 4 and words[0] == "from" and words[2] == "import"
                and words[1].startswith("d2l_attention.") and words[1].count(".") == 1
                and words[1] != "d2l_attention.explore"):  # explorers build on sections
            for name in words[3:]:
                if name.isidentifier():
                    found[name] = ".." + words[1].split(".", 1)[1]
    return found


def public_names(source: str, where: str) -> list[str]:
    names = []
    for node in ast.parse(source, filename=where).body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef, ast.AsyncFunctionDef)):
            names.append(node.name)
        elif isinstance(node, ast.Assign):
            names += [t.id for t in node.targets if isinstance(t, ast.Name)]
    return [n for n in names if not n.startswith("_")]


def library_names(init: Path = PACKAGE_INIT) -> dict[str, str]:
    """{name: module} for the hand-written modules that `d2l_attention/__init__.py` star-imports,
    read from each module's `__all__` without importing anything."""
    found = {}
    for node in ast.parse(init.read_text(encoding="utf-8")).body:
        if (isinstance(node, ast.ImportFrom) and node.level == 1 and node.module
                and node.module != "sections" and any(a.name == "*" for a in node.names)):
            module = init.parent / f"{node.module}.py"
            for stmt in ast.parse(module.read_text(encoding="utf-8")).body:
                if (isinstance(stmt, ast.Assign)
                        and any(getattr(t, "id", None) == "__all__" for t in stmt.targets)):
                    for name in ast.literal_eval(stmt.value):
                        found.setdefault(name, f"..{node.module}")
    return found


def qualify(body: str, where: str, known: dict[str, str], own: set[str]) -> tuple[str, dict]:
    """`body` with every `d2l.NAME` written as `NAME`, and {module: names} to import for it.

    `known` maps a name to the module that defines it (`..checks`, `.s10_3_attention_scoring`);
    names in `own` are defined in this module. So an editor's go-to-definition on each name lands
    on its definition, and the module says what it depends on."""
    tree = ast.parse(body, filename=where)
    assigned = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)
                and isinstance(n.ctx, ast.Store)} | {
        a.arg for n in ast.walk(tree) if isinstance(n, ast.arguments)
        for a in n.args + n.kwonlyargs + n.posonlyargs}
    uses = [n for n in ast.walk(tree) if isinstance(n, ast.Attribute)
            and isinstance(n.value, ast.Name) and n.value.id == "d2l"]
    imports: dict[str, set[str]] = {}
    lines = body.split("\n")
    for node in sorted(uses, key=lambda n: (n.lineno, n.col_offset), reverse=True):
        name = node.attr
        if name in assigned and name not in own:
            raise SystemExit(f"{where}, line {node.lineno}: `d2l.{name}` would clash with a local "
                             f"name `{name}`; rename the local")
        if name not in own:
            if name not in known:
                raise SystemExit(f"{where}, line {node.lineno}: `d2l.{name}` is neither in the "
                                 "hand-written library nor saved by this or an earlier section")
            imports.setdefault(known[name], set()).add(name)
        row = node.lineno - 1
        line = lines[row]
        lines[row] = line[:node.col_offset] + name + line[node.end_col_offset:]
    return "\n".join(lines), imports


def render_module(sec: dict, known: dict[str, str] | None = None) -> str:
    """The generated module of `sec`; `known` maps names of the library and of earlier sections
    to their modules (default: the hand-written library only)."""
    known = library_names() if known is None else known
    twin = common.posix(common.twin_path(sec["notebook"]).relative_to(common.ROOT))
    # Above each definition, where it lives in the .py twin (as nbdev writes it): one hop from
    # the library to the lesson a maintainer edits.
    body = "\n\n\n".join(f"{CELL_MARK} {twin}:{line}\n{source}"
                          for line, source in saved_cells(sec))
    where = f"{twin} (#@save cells)"
    names = public_names(body, where)
    body, imports = qualify(body, where, known, set(names))
    used = {n.id for n in ast.walk(ast.parse(body)) if isinstance(n, ast.Name)}
    for name, module in notebook_imports(sec).items():
        if name in used and name not in names:
            imports.setdefault(module, set()).add(name)
    standard = [line for name, line in STANDARD_IMPORTS.items() if name in used]
    stdlib = [line for line in standard if "torch" not in line]
    third_party = [line for line in standard if "torch" in line]
    ours = [f"from {module} import {', '.join(sorted(imported))}"
            for module, imported in sorted(imports.items(), key=lambda kv: (kv[0][:2] != "..",
                                                                            kv[0]))]
    header = f'''# Generated from {twin} by `make lib`: DO NOT EDIT.
# Edit {twin} instead, then run `make sync execute`
# (without make: `python tools/book.py sync`, then `python tools/book.py execute`).
"""Section {sec["number"]} {sec["zh"]} ({sec["en"]}): the components saved with `#@save`."""
'''
    blocks = [block for block in map("\n".join, (stdlib, third_party, ours)) if block]
    header += "".join(f"\n{block}\n" for block in blocks)
    header += f"\n__all__ = {names!r}\n"
    return header + ("\n\n" + body + "\n" if body else "")


def render_index(sections: list[dict]) -> str:
    lines = [
        "# Generated from chapters.yml by `make lib`: DO NOT EDIT.",
        '"""Components of the written sections, in chapter order (each module imports what it',
        'uses from the hand-written library and from earlier sections)."""',
        "",
    ]
    lines += [f"from .{common.module_name(s)} import *  # noqa: F403" for s in sections]
    return "\n".join(lines) + "\n"


def expected_files() -> dict[Path, str]:
    sections = common.load_sections()
    files = {SECTIONS_DIR / "__init__.py": render_index(sections)}
    known = library_names()
    for sec in sections:
        name = common.module_name(sec)
        text = render_module(sec, known)
        files[SECTIONS_DIR / f"{name}.py"] = text
        where = f"{name} (generated)"
        known = {**known, **{n: f".{name}" for n in public_names(text, where)}}
    return files


def cmd_lib(check: bool) -> int:
    files = expected_files()
    present = set(SECTIONS_DIR.glob("*.py")) if SECTIONS_DIR.exists() else set()
    stale = sorted(present - set(files))
    changed = sorted(
        p for p, text in files.items() if not p.exists() or p.read_text(encoding="utf-8") != text
    )
    if check:
        for p in changed:
            print(f"out of date: {common.posix(p)}")
        for p in stale:
            print(f"not generated by any written section: {common.posix(p)}")
        if changed or stale:
            print("library drift: run `make lib` (or `python tools/book.py lib`) and commit "
                  "the result", file=sys.stderr)
            return 1
        print(f"library up to date ({len(files)} generated files)")
        return 0
    SECTIONS_DIR.mkdir(parents=True, exist_ok=True)
    for p in stale:
        p.unlink()
        print(f"removed {common.posix(p)}")
    for p in changed:
        common.write_text(p, files[p])
        print(f"wrote {common.posix(p)}")
    if not changed and not stale:
        print("library already up to date")
    return 0


def register(sub) -> None:
    """The `lib` command of tools/book.py."""
    p = sub.add_parser("lib", help="generate d2l_attention/sections from #@save cells")
    p.add_argument("--check", action="store_true", help="fail instead of writing")
    p.set_defaults(run=lambda args: cmd_lib(args.check))


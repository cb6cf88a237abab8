"""Project tooling driven by chapters.yml: list notebooks, generate the library, execute, check.

Usage (the Makefile wraps these; run from the repository root):

    python .ci/book.py notebooks          # paths of the written notebooks, in chapter order
    python .ci/book.py lib [--check]      # extract `#@save` cells into d2l_attention/sections/
    python .ci/book.py execute [NB ...]   # run notebooks in place, print the time of each
    python .ci/book.py check-pairs        # fail if any .ipynb differs from its py:percent twin
    python .ci/book.py student [--out D]  # student edition: solution cells -> `# 你的代码`
    python .ci/book.py html [--out D]     # static offline HTML book with stored outputs

This file deliberately does not import `d2l_attention`: it must work while the generated
library is missing or broken.
"""

from __future__ import annotations

import argparse
import ast
import sys
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
SECTIONS_DIR = ROOT / "d2l_attention" / "sections"
SAVE_MARK = "#@save"
SOLUTION_TAG = "solution"
PLACEHOLDER = "# 你的代码"


def load_toc() -> dict:
    """chapters.yml as a dict: chapter number, title and sections."""
    with open(ROOT / "chapters.yml", encoding="utf-8") as f:
        return yaml.safe_load(f)


def load_sections(include_planned: bool = False) -> list[dict]:
    """Sections of chapters.yml, in chapter order; planned ones only when asked."""
    sections = load_toc()["sections"]
    for sec in sections:
        for key in ("number", "zh", "en", "notebook", "module", "status"):
            if key not in sec:
                raise SystemExit(f"chapters.yml: section {sec!r} lacks the key {key!r}")
        if sec["status"] not in ("written", "planned"):
            raise SystemExit(
                f"chapters.yml: section {sec['number']} has status {sec['status']!r};"
                " use 'written' or 'planned'"
            )
    if include_planned:
        return sections
    return [s for s in sections if s["status"] == "written"]


def twin_path(notebook: str | Path) -> Path:
    return (ROOT / notebook).with_suffix(".py")


def module_name(sec: dict) -> str:
    return "s" + sec["number"].replace(".", "_") + "_" + sec["module"]


# ---------------------------------------------------------------------------- lib


def saved_cells(sec: dict) -> list[str]:
    """Sources of the code cells whose first line is `#@save`, marker line removed."""
    import jupytext

    py = twin_path(sec["notebook"])
    if not py.exists():
        raise SystemExit(f"{py.relative_to(ROOT)} is missing (section {sec['number']})")
    nb = jupytext.read(py)
    cells = []
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        lines = cell.source.strip("\n").splitlines()
        if lines and lines[0].strip().startswith(SAVE_MARK):
            cells.append("\n".join(lines[1:]).strip("\n"))
    return cells


def public_names(source: str, where: str) -> list[str]:
    names = []
    for node in ast.parse(source, filename=where).body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef, ast.AsyncFunctionDef)):
            names.append(node.name)
        elif isinstance(node, ast.Assign):
            names += [t.id for t in node.targets if isinstance(t, ast.Name)]
    return [n for n in names if not n.startswith("_")]


def render_module(sec: dict) -> str:
    cells = saved_cells(sec)
    body = "\n\n\n".join(cells)
    where = f"{sec['notebook']} (#@save cells)"
    names = public_names(body, where)
    header = f'''# Generated from {sec["notebook"]} by `make lib`: DO NOT EDIT.
# Edit {twin_path(sec["notebook"]).relative_to(ROOT)} instead, then run `make sync execute lib`.
"""Section {sec["number"]} {sec["zh"]} ({sec["en"]}): the components saved with `#@save`."""

import math

import torch
from torch import nn
from torch.nn import functional as F

import d2l_attention as d2l

__all__ = {names!r}
'''
    return header + ("\n\n" + body + "\n" if body else "")


def render_index(sections: list[dict]) -> str:
    # A section may subclass an earlier section's component at import time
    # (`class TransformerDecoder(d2l.AttentionDecoder)`), while `d2l_attention` itself is still
    # being imported: so each section's names are set on the package right after its import.
    lines = [
        "# Generated from chapters.yml by `make lib`: DO NOT EDIT.",
        '"""Components of the written sections, imported in chapter order.',
        "",
        "Each section's names are set on d2l_attention as soon as the section is imported, so a",
        "later section can use them (`d2l.Name`) while the package is still being imported.",
        '"""',
        "",
        "import sys as _sys",
        "",
        "",
        "def _publish(module):",
        "    package = _sys.modules[__name__.rpartition('.')[0]]",
        "    for name in module.__all__:",
        "        setattr(package, name, getattr(module, name))",
        "",
    ]
    for s in sections:
        name = module_name(s)
        lines += ["", f"from . import {name}  # noqa: E402",
                  f"from .{name} import *  # noqa: E402, F403",
                  f"_publish({name})"]
    return "\n".join(lines) + "\n"


def expected_files() -> dict[Path, str]:
    sections = load_sections()
    files = {SECTIONS_DIR / "__init__.py": render_index(sections)}
    for sec in sections:
        files[SECTIONS_DIR / f"{module_name(sec)}.py"] = render_module(sec)
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
            print(f"out of date: {p.relative_to(ROOT)}")
        for p in stale:
            print(f"not generated by any written section: {p.relative_to(ROOT)}")
        if changed or stale:
            print("library drift: run `make lib` and commit the result", file=sys.stderr)
            return 1
        print(f"library up to date ({len(files)} generated files)")
        return 0
    SECTIONS_DIR.mkdir(parents=True, exist_ok=True)
    for p in stale:
        p.unlink()
        print(f"removed {p.relative_to(ROOT)}")
    for p in changed:
        p.write_text(files[p], encoding="utf-8")
        print(f"wrote {p.relative_to(ROOT)}")
    if not changed and not stale:
        print("library already up to date")
    return 0


# ---------------------------------------------------------------------- execute


def cmd_execute(paths: list[str], timeout: int) -> int:
    import nbformat
    from nbclient import NotebookClient

    targets = paths or [s["notebook"] for s in load_sections()]
    total = 0.0
    for nb_path in targets:
        path = ROOT / nb_path
        nb = nbformat.read(path, as_version=4)
        print(f"executing {nb_path} ...", flush=True)
        start = time.perf_counter()
        client = NotebookClient(
            nb, timeout=timeout, kernel_name="python3",
            resources={"metadata": {"path": path.parent}},
        )
        client.execute()
        elapsed = time.perf_counter() - start
        total += elapsed
        nbformat.write(nb, path)
        print(f"  {elapsed:6.1f} s  {nb_path}", flush=True)
    print(f"  {total:6.1f} s  total")
    return 0


# ------------------------------------------------------------------ check pairs


def cmd_check_pairs() -> int:
    import jupytext

    bad = 0
    pairs = 0
    for nb_path in sorted((ROOT / "notebooks").glob("*.ipynb")):
        py = nb_path.with_suffix(".py")
        rel = nb_path.relative_to(ROOT)
        if not py.exists():
            print(f"{rel}: no py:percent twin; run `make sync`")
            bad += 1
            continue
        pairs += 1
        config = jupytext.config.load_jupytext_configuration_file(str(ROOT / "jupytext.toml"))
        from_ipynb = jupytext.writes(jupytext.read(nb_path), fmt="py:percent", config=config)
        if from_ipynb != py.read_text(encoding="utf-8"):
            print(f"{rel} and {py.name} differ; edit the .py, then run `make sync execute`")
            bad += 1
    for py in sorted((ROOT / "notebooks").glob("[0-9]*.py")):
        if not py.with_suffix(".ipynb").exists():
            print(f"{py.relative_to(ROOT)}: no .ipynb twin; run `make sync execute`")
            bad += 1
    if bad:
        return 1
    print(f"{pairs} notebook pairs in sync")
    return 0


# ---------------------------------------------------------------------- student


def is_solution(cell) -> bool:
    return SOLUTION_TAG in cell.get("metadata", {}).get("tags", [])


def student_notebook(nb):
    """A copy of `nb` with every solution cell replaced by an empty `# 你的代码` code cell."""
    import copy

    import nbformat

    out = copy.deepcopy(nb)
    for i, cell in enumerate(out.cells):
        if is_solution(cell):
            placeholder = nbformat.v4.new_code_cell(PLACEHOLDER)
            if "id" in cell:
                placeholder["id"] = cell["id"]  # keep ids stable (and unique) across editions
            out.cells[i] = placeholder
    return out


def cmd_student(out_dir: Path) -> int:
    import nbformat

    out_dir.mkdir(parents=True, exist_ok=True)
    for sec in load_sections():
        src = ROOT / sec["notebook"]
        nb = nbformat.read(src, as_version=4)
        student = student_notebook(nb)
        nbformat.validate(student)
        dest = out_dir / src.name
        nbformat.write(student, dest)
        count = sum(is_solution(c) for c in nb.cells)
        print(f"  {count} solution cells replaced  {dest}")
    return 0


# ------------------------------------------------------------------------- html

MATHJAX_CONFIG = "TeX-AMS-MML_HTMLorMML-full,Safe"

# The lab template, minus everything fetched from a CDN: require.js and mermaid are not used by
# these notebooks, and MathJax 2 comes from the local copy (STIX-Web fonts are the ones shipped).
PAGE_TEMPLATE = """{%- extends 'index.html.j2' -%}
{%- block html_head_js_requirejs -%}{%- endblock html_head_js_requirejs -%}
{%- block html_head_js_mermaidjs -%}{%- endblock html_head_js_mermaidjs -%}
{%- block html_head_js_mathjax -%}
<script>window.MathJax = {"HTML-CSS": {availableFonts: [], webFont: "STIX-Web",
  imageFont: null, preferredFont: null}};</script>
{{ super() }}
{%- endblock html_head_js_mathjax -%}
{% block extra_css %}<style>{{ resources.book_css }}</style>{% endblock extra_css %}
{%- block body_header -%}{{ super() }}{{ resources.book_nav }}{%- endblock body_header -%}
{% block body_footer %}{{ resources.book_nav }}{{ super() }}{% endblock body_footer %}
"""

BOOK_CSS = """
nav.book-nav { display: flex; justify-content: space-between; gap: 1em; padding: 0.6em 0;
  margin: 0 0 1em; border-bottom: 1px solid #ddd; font-family: sans-serif; }
nav.book-nav:last-child { border-top: 1px solid #ddd; border-bottom: 0; margin: 1em 0 0; }
nav.book-nav a { text-decoration: none; }
.celltag_solution { border-left: 4px solid #4caf50; }
.celltag_solution::before { content: "参考答案 (solution)"; color: #4caf50; font-size: 0.8em;
  padding-left: 0.5em; font-family: sans-serif; }
"""

INDEX_TEMPLATE = """<!DOCTYPE html>
<html lang="zh-CN">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1.0">
<title>第 {chapter} 章 {zh} ({en})</title>
<style>
body {{ font-family: sans-serif; max-width: 48em; margin: 2em auto; padding: 0 1em;
  line-height: 1.6; }}
li.planned {{ color: #888; }}
.en {{ color: #555; }}
</style>
</head>
<body>
<h1>第 {chapter} 章 {zh}<br><span class="en">Chapter {chapter} {en}</span></h1>
<p>目录 / Contents</p>
<ol class="toc">
{items}
</ol>
<p class="en">Generated from chapters.yml by <code>make html</code>; reads offline.</p>
</body>
</html>
"""


def page_name(sec: dict) -> str:
    return Path(sec["notebook"]).stem + ".html"


def nav_html(prev: dict | None, nxt: dict | None) -> str:
    from html import escape

    def link(sec, rel, arrow_left):
        if sec is None:
            return "<span></span>"
        text = escape(f"{sec['number']} {sec['zh']}")
        return (f'<a rel="{rel}" href="{page_name(sec)}">'
                + (f"← {text}" if arrow_left else f"{text} →") + "</a>")

    return ('<nav class="book-nav">' + link(prev, "prev", True)
            + '<a rel="index" href="index.html">目录 / Contents</a>'
            + link(nxt, "next", False) + "</nav>")


def copy_mathjax(out_dir: Path) -> Path:
    import shutil

    import jupyter_server_mathjax

    static = Path(jupyter_server_mathjax.__file__).parent / "static"
    dest = out_dir / "mathjax"
    if dest.exists():
        shutil.rmtree(dest)
    shutil.copytree(static, dest, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    return dest


def cmd_html(out_dir: Path) -> int:
    from html import escape

    import nbformat
    from jinja2 import DictLoader
    from nbconvert import HTMLExporter

    toc = load_toc()
    everything = load_sections(include_planned=True)
    written = [s for s in everything if s["status"] == "written"]
    out_dir.mkdir(parents=True, exist_ok=True)
    copy_mathjax(out_dir)

    exporter = HTMLExporter(
        extra_loaders=[DictLoader({"book_page.html.j2": PAGE_TEMPLATE})],
        template_file="book_page.html.j2",
        mathjax_url=f"mathjax/MathJax.js?config={MATHJAX_CONFIG}",
        embed_images=True,
    )
    for i, sec in enumerate(written):
        nb = nbformat.read(ROOT / sec["notebook"], as_version=4)
        resources = {
            "metadata": {"name": f"{sec['number']} {sec['zh']}",
                         "path": str((ROOT / sec["notebook"]).parent)},
            "book_nav": nav_html(written[i - 1] if i > 0 else None,
                                 written[i + 1] if i + 1 < len(written) else None),
            "book_css": BOOK_CSS,
        }
        body, _ = exporter.from_notebook_node(nb, resources=resources)
        (out_dir / page_name(sec)).write_text(body, encoding="utf-8")
        print(f"  wrote {out_dir / page_name(sec)}")

    items = []
    for sec in everything:
        label = f"{escape(sec['number'])} {escape(sec['zh'])} <span class=\"en\">" \
                f"({escape(sec['en'])})</span>"
        if sec["status"] == "written":
            items.append(f'<li><a href="{page_name(sec)}">{label}</a></li>')
        else:
            items.append(f'<li class="planned">{label} — 待写 / planned</li>')
    index = INDEX_TEMPLATE.format(chapter=toc["chapter"], zh=escape(toc["title"]["zh"]),
                                  en=escape(toc["title"]["en"]), items="\n".join(items))
    (out_dir / "index.html").write_text(index, encoding="utf-8")
    print(f"  wrote {out_dir / 'index.html'} ({len(written)} sections)")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    sub.add_parser("notebooks", help="print the written notebooks, in chapter order")
    p_lib = sub.add_parser("lib", help="generate d2l_attention/sections from #@save cells")
    p_lib.add_argument("--check", action="store_true", help="fail instead of writing")
    p_exe = sub.add_parser("execute", help="execute notebooks in place")
    p_exe.add_argument("paths", nargs="*")
    p_exe.add_argument("--timeout", type=int, default=1200, help="seconds per cell")
    sub.add_parser("check-pairs", help="fail if a notebook and its .py twin differ")
    p_stu = sub.add_parser("student", help="write the student edition (solutions removed)")
    p_stu.add_argument("--out", type=Path, default=ROOT / "build" / "student")
    p_html = sub.add_parser("html", help="build the static offline HTML book")
    p_html.add_argument("--out", type=Path, default=ROOT / "build" / "html")
    args = parser.parse_args(argv)
    if args.cmd == "notebooks":
        print(" ".join(s["notebook"] for s in load_sections()))
        return 0
    if args.cmd == "lib":
        return cmd_lib(args.check)
    if args.cmd == "execute":
        return cmd_execute(args.paths, args.timeout)
    if args.cmd == "student":
        return cmd_student(args.out)
    if args.cmd == "html":
        return cmd_html(args.out)
    return cmd_check_pairs()


if __name__ == "__main__":
    sys.exit(main())

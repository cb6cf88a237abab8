"""The project's command line: `python tools/book.py COMMAND` (the Makefile wraps each in one line).

Works the same on Linux, macOS and Windows, with or without make. Run from anywhere:

    python tools/book.py setup [--torch cpu]   # create/refresh .venv (requirements.txt + library)
    python tools/book.py lab [--port N]        # JupyterLab on notebooks/, loopback, with a token
    python tools/book.py test                  # all CI checks: lint, drift, data, tests, nbval
    python tools/book.py data                  # download and verify fra-eng once (offline later)
    python tools/book.py sync                  # pair notebooks/10.*.py with their .ipynb
    python tools/book.py execute [NB ...]      # rebuild the library, then run notebooks in place
    python tools/book.py execute --times       # only time them: results/execute-times.json
    python tools/book.py lib [--check]         # extract `#@save` cells into d2l_attention/sections/
    python tools/book.py check-pairs           # fail if any .ipynb differs from its py:percent twin
    python tools/book.py nbval [NB ...]        # re-run notebooks, compare with stored outputs
    python tools/book.py figures [--check]     # draw the chapter's diagrams (notebooks/figures/)
    python tools/book.py student [--out D]     # student edition (nbgrader's release)
    python tools/book.py html [--out D]        # static offline HTML book with stored outputs
    python tools/book.py bench [ARGS ...]      # train the 10.4/10.7 translators: speed and BLEU
    python tools/book.py assignments           # nbgrader course: source + release of every section
    python tools/book.py grade-check           # autograde reference / blank / one-solved, offline
    python tools/book.py e2e                   # browser tests (Debian's chromium)
    python tools/book.py stats [--check]       # per section: visible code, checks, prose
    python tools/book.py notebooks | lint | install-check | clean

Every command but `setup` and `clean` needs the project's packages. Started with a Python outside
any virtual environment, the tool first creates or refreshes `.venv` (or `--venv DIR`) with that
Python and runs itself again inside it; started inside a virtual or conda environment, it uses that
environment as it is. Environment: D2L_VENV (venv folder), D2L_TORCH=cpu (CPU-only torch).

The module imports only the standard library at the top (it must run before anything is
installed) and never imports `d2l_attention` (it must work while the generated library is broken).
"""

from __future__ import annotations

import argparse
import ast
import hashlib
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SECTIONS_DIR = ROOT / "d2l_attention" / "sections"
FIGURES_SCRIPT = ROOT / "tools" / "figures.py"
GRADING_SCRIPT = ROOT / "tools" / "grading.py"
SANITIZE_CFG = ROOT / "tools" / "nbval_sanitize.cfg"
SAVE_MARK = "#@save"

# Python versions that install from requirements.txt and pass the tests.
SUPPORTED_PYTHONS = ((3, 11), (3, 12), (3, 13))
# PyTorch's own index of CPU-only wheels (Linux and Windows). PyPI's Linux wheels bundle CUDA.
TORCH_CPU_INDEX = "https://download.pytorch.org/whl/cpu"
TORCH_FLAVOURS = ("default", "cpu")
STAMP = ".installed"
LINT_PATHS = ["d2l_attention", "tests", "tools", "notebooks", "conftest.py"]
# Python packages every command but setup/clean imports; their absence means "not installed yet".
NEEDED_MODULES = ("yaml", "jupytext", "torch", "pytest")


class ToolError(SystemExit):
    """A failure with a message that says what to do; exits with status 1."""

    def __init__(self, message: str):
        super().__init__(f"error: {message}")


def posix(path: Path) -> str:
    """`path` relative to the repository, with forward slashes on every OS (for messages)."""
    try:
        return Path(path).resolve().relative_to(ROOT).as_posix()
    except ValueError:
        return Path(path).as_posix()


def write_text(path: Path, text: str) -> None:
    """Write UTF-8 with LF line ends on every OS (generated and paired files are compared)."""
    path.write_text(text, encoding="utf-8", newline="\n")


# --------------------------------------------------------------- the environment


def venv_python(venv: Path) -> Path:
    """The interpreter of a virtual environment: bin/python, or Scripts\\python.exe on Windows."""
    if os.name == "nt":
        return venv / "Scripts" / "python.exe"
    return venv / "bin" / "python"


def python_version(python: str | Path) -> tuple[int, int] | None:
    """(major, minor) of an interpreter, or None when it does not run."""
    try:
        out = subprocess.run([str(python), "-c", "import sys; print(*sys.version_info[:2])"],
                             capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if out.returncode:
        return None
    major, minor = out.stdout.split()
    return int(major), int(minor)


def check_supported(version: tuple[int, int], python: str) -> None:
    names = ", ".join(f"{a}.{b}" for a, b in SUPPORTED_PYTHONS)
    if version < SUPPORTED_PYTHONS[0]:
        raise ToolError(
            f"{python} is Python {version[0]}.{version[1]}; this project needs one of {names} "
            "(numpy 2.4 and matplotlib 3.11 have no wheels for older versions). Run this tool "
            "with a newer Python, e.g. `py -3.11 tools\\book.py setup` (Windows) or "
            "`PYTHON=python3.11 make setup`.")
    if version > SUPPORTED_PYTHONS[-1]:
        print(f"note: Python {version[0]}.{version[1]} is newer than the tested ones ({names}); "
              "installing anyway", flush=True)


def requirements_digest(flavour: str) -> str:
    """Changes whenever what `setup` installs changes: requirements, pyproject, torch flavour."""
    h = hashlib.sha1()
    for name in ("requirements.txt", "pyproject.toml"):
        # Normalise line ends so a Windows checkout does not force a reinstall.
        h.update((ROOT / name).read_bytes().replace(b"\r\n", b"\n"))
    h.update(flavour.encode())
    return h.hexdigest()


def pinned_torch() -> str:
    """The `torch==X` line of requirements.txt."""
    for line in (ROOT / "requirements.txt").read_text(encoding="utf-8").splitlines():
        if line.replace(" ", "").startswith("torch=="):
            return line.strip()
    raise ToolError("requirements.txt has no `torch==VERSION` line")


def install_commands(python: Path, flavour: str) -> list[list[str]]:
    """The pip commands that install the project into the environment of `python`."""
    pip = [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check"]
    commands = []
    if flavour == "cpu":
        # Installed first, so requirements.txt finds torch already satisfied (2.x.y+cpu == 2.x.y).
        commands.append(pip + ["--force-reinstall", "--no-deps", "--index-url", TORCH_CPU_INDEX,
                               pinned_torch()])
    commands.append(pip + ["-r", str(ROOT / "requirements.txt")])
    commands.append(pip + ["--no-deps", "-e", str(ROOT)])
    return commands


def run(cmd: list[str], what: str, **kwargs) -> None:
    """Run a command in the repository root; fail with `what` in the message."""
    proc = subprocess.run(cmd, cwd=ROOT, **kwargs)
    if proc.returncode:
        raise ToolError(f"{what} failed (exit status {proc.returncode}); see the output above")


def ensure_venv(venv: Path, flavour: str, base_python: str | None = None) -> Path:
    """Create `venv` with `base_python` (this interpreter by default) or refresh it; return its
    interpreter. Recreated when its Python major.minor differs; reinstalled when requirements.txt,
    pyproject.toml or the torch flavour changed since the last install."""
    base_python = base_python or sys.executable
    want = python_version(base_python)
    if want is None:
        raise ToolError(f"cannot run {base_python}")
    check_supported(want, base_python)
    py = venv_python(venv)
    if py.exists():
        have = python_version(py)
        if have != want:
            label = "broken" if have is None else f"Python {have[0]}.{have[1]}"
            print(f"==> {posix(venv)} has {label}, {base_python} is {want[0]}.{want[1]}: "
                  f"recreating {posix(venv)}", flush=True)
            shutil.rmtree(venv)
    if not py.exists():
        print(f"==> creating {posix(venv)} with {base_python} ({want[0]}.{want[1]})", flush=True)
        run([str(base_python), "-m", "venv", str(venv)], "creating the virtual environment")
    refresh_install(py, venv, flavour)
    return py


def refresh_install(py: Path, venv: Path, flavour: str) -> None:
    stamp = venv / STAMP
    digest = requirements_digest(flavour)
    if stamp.is_file() and stamp.read_text(encoding="utf-8").strip() == digest:
        return
    extra = " (CPU-only torch)" if flavour == "cpu" else ""
    print(f"==> installing requirements.txt into {posix(venv)}{extra} (first time: a few minutes)",
          flush=True)
    for cmd in install_commands(py, flavour):
        hint = ""
        if flavour == "cpu" and TORCH_CPU_INDEX in cmd:
            hint = f" (the CPU-only torch comes from {TORCH_CPU_INDEX}; without that site, " \
                   "leave out --torch cpu / D2L_TORCH)"
        run(cmd, "pip install" + hint)
    write_text(stamp, digest + "\n")


def in_virtual_env() -> bool:
    """True inside a venv/virtualenv or an activated conda environment."""
    conda = os.environ.get("CONDA_PREFIX")
    return sys.prefix != sys.base_prefix or bool(
        conda and Path(conda).resolve() == Path(sys.prefix).resolve())


def missing_modules() -> list[str]:
    import importlib.util

    return [m for m in NEEDED_MODULES if importlib.util.find_spec(m) is None]


def enter_environment(args: argparse.Namespace, argv: list[str]) -> int | None:
    """Make sure the command runs with the project's packages.

    Returns None to go on in this interpreter, or the exit status of the same command run again
    inside the project's virtual environment.
    """
    venv = args.venv
    if in_virtual_env():
        if Path(sys.prefix).resolve() == venv.resolve():
            refresh_install(Path(sys.executable), venv, args.torch)  # our .venv: keep it current
        missing = missing_modules()
        if missing:
            raise ToolError(
                f"this environment ({sys.prefix}) lacks {', '.join(missing)}. Install the project "
                "into it: `python -m pip install -r requirements.txt` then "
                "`python -m pip install --no-deps -e .`, or run this tool with a Python outside "
                "any virtual environment so it manages .venv itself.")
        return None
    if os.environ.get("D2L_BOOK_REENTERED"):
        raise ToolError(f"{venv_python(venv)} does not run inside {posix(venv)}; delete "
                        f"{posix(venv)} and try again")
    py = ensure_venv(venv, args.torch)
    env = dict(os.environ, D2L_BOOK_REENTERED="1")
    return subprocess.call([str(py), str(Path(__file__).resolve()), *argv], env=env)


# ---------------------------------------------------------------------- chapters


def load_toc(toc: Path | None = None) -> dict:
    """chapters.yml (or another table of contents) as a dict: chapter, title and sections."""
    import yaml

    with open(toc or ROOT / "chapters.yml", encoding="utf-8") as f:
        return yaml.safe_load(f)


def load_sections(include_planned: bool = False, toc: Path | None = None) -> list[dict]:
    """Sections of chapters.yml, in chapter order; planned ones only when asked."""
    sections = load_toc(toc)["sections"]
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


def saved_cells(sec: dict) -> list[tuple[int, str]]:
    """(cell index, source) of the code cells whose first line is `#@save`, every marker line
    removed (a cell may mark each of its definitions, as the book does)."""
    import jupytext

    py = twin_path(sec["notebook"])
    if not py.exists():
        raise SystemExit(f"{posix(py)} is missing (section {sec['number']})")
    nb = jupytext.read(py)
    cells = []
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        lines = cell.source.strip("\n").splitlines()
        if lines and lines[0].strip().startswith(SAVE_MARK):
            kept = [line for line in lines[1:] if line.strip() != SAVE_MARK]
            cells.append((index, "\n".join(kept).strip("\n")))
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
    # Above each definition, the notebook cell it came from (as nbdev writes it): one hop from
    # the library to the lesson. Cell numbers count from 0, as in the .ipynb's "cells" list.
    body = "\n\n\n".join(f"# %% {sec['notebook']} {index}\n{source}"
                          for index, source in saved_cells(sec))
    where = f"{sec['notebook']} (#@save cells)"
    names = public_names(body, where)
    header = f'''# Generated from {sec["notebook"]} by `make lib`: DO NOT EDIT.
# Edit {posix(twin_path(sec["notebook"]))} instead, then run `make sync execute`
# (without make: `python tools/book.py sync`, then `python tools/book.py execute`).
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
            print(f"out of date: {posix(p)}")
        for p in stale:
            print(f"not generated by any written section: {posix(p)}")
        if changed or stale:
            print("library drift: run `make lib` (or `python tools/book.py lib`) and commit "
                  "the result", file=sys.stderr)
            return 1
        print(f"library up to date ({len(files)} generated files)")
        return 0
    SECTIONS_DIR.mkdir(parents=True, exist_ok=True)
    for p in stale:
        p.unlink()
        print(f"removed {posix(p)}")
    for p in changed:
        write_text(p, files[p])
        print(f"wrote {posix(p)}")
    if not changed and not stale:
        print("library already up to date")
    return 0


# ---------------------------------------------------------------------- execute


def write_notebook(nb, path: Path) -> None:
    """nbformat.write, but with LF line ends on every OS."""
    import nbformat

    text = nbformat.writes(nb)
    write_text(path, text if text.endswith("\n") else text + "\n")


def cmd_execute(paths: list[str], timeout: int, times: bool = False) -> int:
    """Regenerate the library from the `#@save` cells, then execute the notebooks in place.

    The library comes first: a notebook that calls a component saved by an earlier section must
    see the current version of it, not the one from before the last edit. With `times`, the
    notebooks are only run and timed (stored outputs stay as they are), and the seconds are
    written to results/execute-times.json for the appendix.
    """
    import nbformat
    from nbclient import NotebookClient

    if cmd_lib(check=False):
        return 1
    targets = paths or [s["notebook"] for s in load_sections()]
    seconds = {}
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
        seconds[posix(path)] = round(time.perf_counter() - start, 1)
        if not times:
            write_notebook(nb, path)
        print(f"  {seconds[posix(path)]:6.1f} s  {nb_path}", flush=True)
    print(f"  {sum(seconds.values()):6.1f} s  total")
    if times:
        import results

        command = " ".join(["python tools/book.py execute --times", *paths])
        where = results.write("execute-times", command, {"seconds": seconds})
        print(f"wrote {posix(where)}")
    return 0


# ------------------------------------------------------------------ check pairs


def cmd_check_pairs() -> int:
    import jupytext

    bad = 0
    pairs = 0
    for nb_path in sorted((ROOT / "notebooks").glob("*.ipynb")):
        py = nb_path.with_suffix(".py")
        rel = posix(nb_path)
        if not py.exists():
            print(f"{rel}: no py:percent twin; run `make sync`")
            bad += 1
            continue
        pairs += 1
        config = jupytext.config.load_jupytext_configuration_file(str(ROOT / "jupytext.toml"))
        from_ipynb = jupytext.writes(jupytext.read(nb_path), fmt="py:percent", config=config)
        if from_ipynb != py.read_text(encoding="utf-8"):
            print(f"{rel} and {py.name} differ; edit the .py, then run `make sync execute` "
                  "(or `python tools/book.py sync`)")
            bad += 1
    for py in sorted((ROOT / "notebooks").glob("[0-9]*.py")):
        if not py.with_suffix(".ipynb").exists():
            print(f"{posix(py)}: no .ipynb twin; run `make sync execute`")
            bad += 1
    if bad:
        return 1
    print(f"{pairs} notebook pairs in sync")
    return 0


# ---------------------------------------------------------------------- student


def cmd_student(out_dir: Path) -> int:
    """The student edition is nbgrader's release: every section as `generate_assignment` writes
    it (solutions replaced by stubs, hidden tests removed, outputs cleared), one folder."""
    import tempfile

    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="d2l-student-") as course:
        status = cmd_grading("assignments", ["--out", course])
        if status:
            return status
        releases = sorted(Path(course, "release").glob("*/*.ipynb"))
        for nb in releases:
            shutil.copy2(nb, out_dir / nb.name)
            print(f"  {out_dir / nb.name}")
    figures = ROOT / "notebooks" / "figures"
    if figures.is_dir():  # the diagrams the notebooks' markdown cells refer to
        shutil.copytree(figures, out_dir / "figures", dirs_exist_ok=True)
    print(f"student edition: {len(releases)} notebooks in {out_dir}")
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
{% block any_cell scoped %}
{%- if cell.metadata.get("tags") and "solution" in cell.metadata.tags
      or cell.metadata.get("nbgrader", {}).get("solution") -%}
<details class="solution"><summary>参考答案 (solution)</summary>
{{ super() }}
</details>
{%- else -%}
{{ super() }}
{%- endif -%}
{% endblock any_cell %}
{% block extra_css %}<style>{{ resources.book_css }}</style>{% endblock extra_css %}
{%- block body_header -%}{{ super() }}{{ resources.book_nav }}{%- endblock body_header -%}
{% block body_footer %}{{ resources.book_nav }}{{ super() }}{% endblock body_footer %}
"""

BOOK_CSS = """
nav.book-nav { display: flex; justify-content: space-between; gap: 1em; padding: 0.6em 0;
  margin: 0 0 1em; border-bottom: 1px solid #ddd; font-family: sans-serif; }
nav.book-nav:last-child { border-top: 1px solid #ddd; border-bottom: 0; margin: 1em 0 0; }
nav.book-nav a { text-decoration: none; }
details.solution { border-left: 4px solid #4caf50; margin: 0.5em 0; padding-left: 0.5em; }
details.solution > summary { color: #2e7d32; cursor: pointer; font-family: sans-serif;
  font-size: 0.9em; }
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
    import jupyter_server_mathjax

    static = Path(jupyter_server_mathjax.__file__).parent / "static"
    dest = out_dir / "mathjax"
    if dest.exists():
        shutil.rmtree(dest)
    shutil.copytree(static, dest, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    return dest


def cmd_html(out_dir: Path) -> int:
    from html import escape

    import cells
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
        nb = cells.without_checks(nbformat.read(ROOT / sec["notebook"], as_version=4))
        resources = {
            "metadata": {"name": f"{sec['number']} {sec['zh']}",
                         "path": str((ROOT / sec["notebook"]).parent)},
            "book_nav": nav_html(written[i - 1] if i > 0 else None,
                                 written[i + 1] if i + 1 < len(written) else None),
            "book_css": BOOK_CSS,
        }
        body, _ = exporter.from_notebook_node(nb, resources=resources)
        write_text(out_dir / page_name(sec), body)
        print(f"  wrote {out_dir / page_name(sec)}")

    import appendix

    extra = toc.get("appendix")
    if extra:
        page = appendix.page_html(extra, nav_html(written[-1] if written else None, None),
                                  BOOK_CSS)
        write_text(out_dir / extra["page"], page)
        print(f"  wrote {out_dir / extra['page']}")

    items = []
    for sec in everything:
        label = f"{escape(sec['number'])} {escape(sec['zh'])} <span class=\"en\">" \
                f"({escape(sec['en'])})</span>"
        if sec["status"] == "written":
            items.append(f'<li><a href="{page_name(sec)}">{label}</a></li>')
        else:
            items.append(f'<li class="planned">{label} — 待写 / planned</li>')
    if extra:
        items.append(f'<li><a href="{escape(extra["page"])}">附录：{escape(extra["zh"])} '
                     f'<span class="en">(Appendix: {escape(extra["en"])})</span></a></li>')
    index = INDEX_TEMPLATE.format(chapter=toc["chapter"], zh=escape(toc["title"]["zh"]),
                                  en=escape(toc["title"]["en"]), items="\n".join(items))
    write_text(out_dir / "index.html", index)
    print(f"  wrote {out_dir / 'index.html'} ({len(written)} sections)")
    return 0


# ------------------------------------------------------------------------ stats


def cmd_stats(check: bool) -> int:
    """Print the lesson-first figures of every section; with `check`, fail on a missed target."""
    import stats

    rows = stats.collect(load_sections(), ROOT)
    print(stats.table(rows))
    problems = stats.failures(rows)
    for line in problems:
        print(line, file=sys.stderr if check else sys.stdout)
    return 1 if check and problems else 0


# ------------------------------------------------------------ commands with tools


def python_module(module: str, *args: str, what: str | None = None, env=None) -> int:
    """`python -m module args...` with this interpreter, from the repository root."""
    proc = subprocess.run([sys.executable, "-m", module, *args], cwd=ROOT, env=env)
    if proc.returncode and what:
        print(f"error: {what} failed (exit status {proc.returncode})", file=sys.stderr)
    return proc.returncode


# The cell metadata a `.py` twin keeps: nbgrader's, the tags, and JupyterLab's collapsed state.
CELL_METADATA_FILTER = "nbgrader,tags,jupyter,-all"


def collapse_twin(py: Path) -> bool:
    """Collapse the `check` and solution cells of a `.py` twin (JupyterLab's `jupyter` metadata)
    and keep that metadata in its jupytext filter; True if the file changed."""
    import cells
    import jupytext

    nb = jupytext.read(py)
    jt = nb.metadata.setdefault("jupytext", {})
    changed = jt.get("cell_metadata_filter") != CELL_METADATA_FILTER
    jt["cell_metadata_filter"] = CELL_METADATA_FILTER
    changed = any([cells.collapse(c) for c in nb.cells]) or changed
    if changed:
        write_text(py, jupytext.writes(nb, fmt="py:percent"))
    return changed


def cmd_sync() -> int:
    """Collapse check and solution cells in every notebooks/10.*.py, then pair each with its
    .ipynb (jupytext: the newer file wins)."""
    twins = sorted((ROOT / "notebooks").glob("[0-9]*.py"))
    for py in twins:
        if collapse_twin(py):
            print(f"collapsed the check/solution cells of {posix(py)}")
    return python_module("jupytext", "--sync", *map(str, twins), what="jupytext --sync")


def cmd_lint() -> int:
    print("==> ruff", flush=True)
    return python_module("ruff", "check", *LINT_PATHS, what="ruff")


def cmd_figures(check: bool) -> int:
    args = [sys.executable, str(FIGURES_SCRIPT)] + (["--check"] if check else [])
    return subprocess.run(args, cwd=ROOT).returncode


def cmd_grading(command: str, args: list[str]) -> int:
    """nbgrader course tooling (tools/grading.py): `assignments`, `grade-check`."""
    if args[:1] == ["--"]:
        args = args[1:]
    cmd = [sys.executable, str(GRADING_SCRIPT), command, *args]
    return subprocess.run(cmd, cwd=ROOT).returncode


def cmd_data(check_only: bool) -> int:
    """Download and verify fra-eng (or verify D2L_DATA_DIR); with `check_only`, fail fast."""
    args = ["--check"] if check_only else []
    # Not `-m d2l_attention.data`: the package imports that module first, and runpy warns.
    code = "import sys; from d2l_attention.data import cli; sys.exit(cli(sys.argv[1:]))"
    return subprocess.run([sys.executable, "-c", code, *args], cwd=ROOT).returncode


def nbval_args(notebooks: list[str]) -> list[str]:
    return ["pytest", "-q", "--nbval", "--nbval-current-env",
            "--nbval-sanitize-with", str(SANITIZE_CFG), "--nbval-cell-timeout=900", *notebooks]


def cmd_test(pytest_args: list[str]) -> int:
    """Everything CI checks, in order of cost; stops at the first failing step."""
    notebooks = [s["notebook"] for s in load_sections()]
    steps = [
        ("lint", cmd_lint),
        ("notebook pairs (.ipynb vs .py)", cmd_check_pairs),
        ("generated library vs #@save cells", lambda: cmd_lib(check=True)),
        ("figures vs tools/figures.py", lambda: cmd_figures(check=True)),
        # Before the slow steps: without data the notebooks of 10.4/10.7 cannot run.
        ("data (fra-eng)", lambda: cmd_data(check_only=True)),
        ("unit tests", lambda: python_module(
            "pytest", "-q", "tests", "--ignore=tests/e2e", "-m", "not install", *pytest_args)),
        (f"nbval: {' '.join(notebooks)}", lambda: cmd_nbval(notebooks)),
    ]
    if not FIGURES_SCRIPT.exists():
        steps = [s for s in steps if not s[0].startswith("figures")]
    start = time.perf_counter()
    for name, step in steps:
        print(f"==> {name}", flush=True)
        status = step()
        if status:
            print(f"FAILED: {name} (exit status {status})", file=sys.stderr)
            return status
    print(f"==> all checks passed in {time.perf_counter() - start:.0f} s")
    return 0


def cmd_nbval(notebooks: list[str]) -> int:
    """Validate stored outputs against a fresh run (all written notebooks by default)."""
    notebooks = notebooks or [s["notebook"] for s in load_sections()]
    return python_module(*nbval_args(notebooks), what="nbval")


def cmd_install_check() -> int:
    """Run the README's commands for working without make (slow: builds a fresh venv)."""
    return python_module("pytest", "-q", "-m", "install", "tests/test_install.py")


def lab_command(port: int, ip: str, notebook_dir: Path) -> list[str]:
    """JupyterLab as `make lab` starts it: its own random token, on `ip` (loopback by default)."""
    cmd = [sys.executable, "-m", "jupyterlab", f"--notebook-dir={notebook_dir}",
           f"--ServerApp.ip={ip}", f"--ServerApp.port={port}"]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        cmd.append("--allow-root")  # containers and CI often run as root
    return cmd


def cmd_lab(port: int, ip: str, dry_run: bool) -> int:
    cmd = lab_command(port, ip, ROOT / "notebooks")
    if ip not in ("127.0.0.1", "localhost", "::1"):
        print(f"warning: JupyterLab will listen on {ip}: anyone who can reach this machine and "
              "obtains the token can run code as you. Keep the token secret.", flush=True)
    if dry_run:
        print(" ".join(cmd))
        return 0
    print("==> JupyterLab prints its address with a token below and opens it in your browser; "
          "stop it with Ctrl+C", flush=True)
    try:
        return subprocess.call(cmd, cwd=ROOT)
    except KeyboardInterrupt:
        return 0


def cmd_bench(args: list[str]) -> int:
    if args[:1] == ["--"]:
        args = args[1:]
    return subprocess.run([sys.executable, str(ROOT / "tools" / "bench.py"), *args],
                          cwd=ROOT).returncode


def browser_missing() -> list[str]:
    """Debian packages `e2e` needs and lacks: chromium, and a CJK font for legible screenshots."""
    need = []
    if not (os.environ.get("CHROMIUM") or shutil.which("chromium")):
        need.append("chromium")
    fc_list = shutil.which("fc-list")
    if fc_list:
        fonts = subprocess.run([fc_list, ":lang=zh"], capture_output=True, text=True).stdout
        if not fonts.strip():
            need.append("fonts-wqy-microhei")
    return need


def ensure_browser() -> None:
    need = browser_missing()
    if not need:
        return
    root = hasattr(os, "geteuid") and os.geteuid() == 0
    if root and shutil.which("apt-get"):
        print(f"==> installing {' '.join(need)} with apt-get (once)", flush=True)
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        run(["apt-get", "update", "-q"], "apt-get update", env=env)
        run(["apt-get", "install", "-y", "-q", *need], "apt-get install", env=env)
    elif "chromium" not in need:
        print("note: no CJK font; screenshots show boxes. "
              "sudo apt-get install -y fonts-wqy-microhei", flush=True)
    else:
        raise ToolError(
            "the browser tests need Chromium. On Debian/Ubuntu: `sudo apt-get update && sudo "
            f"apt-get install -y {' '.join(need)}`; elsewhere set CHROMIUM=/path/to/chromium "
            "(or Chrome).")


def cmd_e2e() -> int:
    ensure_browser()
    return python_module("pytest", "-q", "-m", "e2e", "tests/e2e")


def cmd_clean() -> int:
    """Remove the venv, caches and build outputs (keeps the data cache)."""
    for name in (".venv", "build", ".pytest_cache", ".ruff_cache", ".hypothesis"):
        shutil.rmtree(ROOT / name, ignore_errors=True)
    for pattern in ("*.egg-info", "**/__pycache__"):
        for p in ROOT.glob(pattern):
            if ".venv" not in p.parts:
                shutil.rmtree(p, ignore_errors=True)
    print("removed .venv, build/ and caches (the data cache is kept)")
    return 0


# -------------------------------------------------------------------------- main

NO_ENVIRONMENT = {"setup", "clean"}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python tools/book.py", description=__doc__.splitlines()[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Each command has --help. Commands run from the repository root.")
    parser.add_argument("--venv", type=Path,
                        default=Path(os.environ.get("D2L_VENV") or ROOT / ".venv"),
                        help="virtual environment to create and use (default .venv, or $D2L_VENV)")
    parser.add_argument("--torch", choices=TORCH_FLAVOURS,
                        default=os.environ.get("D2L_TORCH") or "default",
                        help="torch build for a new install: 'cpu' takes PyTorch's CPU-only "
                             "wheels (small; Linux/Windows), 'default' the registry's (on Linux "
                             "it bundles CUDA, several GB). Also $D2L_TORCH")
    sub = parser.add_subparsers(dest="cmd", required=True, metavar="COMMAND")
    sub.add_parser("setup", help="create or refresh the virtual environment")
    p_lab = sub.add_parser("lab", help="open JupyterLab on notebooks/ (token, loopback)")
    p_lab.add_argument("--port", type=int, default=int(os.environ.get("LAB_PORT") or 8888))
    p_lab.add_argument("--ip", default="127.0.0.1",
                       help="address to listen on (default loopback only)")
    p_lab.add_argument("--dry-run", action="store_true", help="print the command, start nothing")
    p_test = sub.add_parser("test", help="run everything CI checks")
    p_test.add_argument("pytest_args", nargs="*", help="extra arguments for the unit tests")
    sub.add_parser("lint", help="ruff over the library, tests, tools and notebook twins")
    p_data = sub.add_parser("data", help="download and verify the fra-eng data set")
    p_data.add_argument("--check", action="store_true",
                        help="only check that the data can be had; fail fast otherwise")
    sub.add_parser("notebooks", help="print the written notebooks, in chapter order")
    p_stats = sub.add_parser("stats", help="per section: visible code lines, checks, prose")
    p_stats.add_argument("--check", action="store_true",
                         help="fail when a section misses a lesson-first target")
    sub.add_parser("sync", help="pair notebooks/10.*.py with their .ipynb (newer wins)")
    p_lib = sub.add_parser("lib", help="generate d2l_attention/sections from #@save cells")
    p_lib.add_argument("--check", action="store_true", help="fail instead of writing")
    p_exe = sub.add_parser("execute", help="rebuild the library, then execute notebooks in place")
    p_exe.add_argument("paths", nargs="*")
    p_exe.add_argument("--timeout", type=int, default=1200, help="seconds per cell")
    p_exe.add_argument("--times", action="store_true",
                       help="only run and time the notebooks (stored outputs unchanged); write "
                            "results/execute-times.json")
    sub.add_parser("check-pairs", help="fail if a notebook and its .py twin differ")
    p_nbval = sub.add_parser("nbval", help="re-run notebooks and compare with their stored outputs")
    p_nbval.add_argument("paths", nargs="*", help="notebooks (default: all written ones)")
    p_fig = sub.add_parser("figures", help="draw the diagrams into notebooks/figures/")
    p_fig.add_argument("--check", action="store_true", help="fail if a committed figure is stale")
    p_stu = sub.add_parser("student", help="write the student edition (nbgrader's release)")
    p_stu.add_argument("--out", type=Path, default=ROOT / "build" / "student")
    p_html = sub.add_parser("html", help="build the static offline HTML book")
    p_html.add_argument("--out", type=Path, default=ROOT / "build" / "html")
    p_bench = sub.add_parser("bench", help="train the translators: speed, loss, BLEU",
                             add_help=False)
    p_bench.add_argument("args", nargs=argparse.REMAINDER,
                         help="arguments for tools/bench.py (try `bench --help`)")
    for name, text in (("assignments", "build the nbgrader course (source + release) in build/"),
                       ("grade-check", "prove autograding works, offline, in a temporary course")):
        p_grade = sub.add_parser(name, help=text, add_help=False)
        p_grade.add_argument("args", nargs=argparse.REMAINDER,
                             help=f"arguments for tools/grading.py {name} (try `{name} --help`)")
    sub.add_parser("e2e", help="browser tests in Debian's chromium (build/e2e/)")
    sub.add_parser("install-check", help="run the README's without-make commands in a new venv")
    sub.add_parser("clean", help="remove .venv, caches and build outputs")
    return parser


PASS_THROUGH = {"bench", "assignments", "grade-check"}


def parse(argv: list[str]) -> argparse.Namespace:
    """Parse the command line; everything after a pass-through command goes to it unparsed
    (argparse would take `bench --quick` as an unknown option of this tool)."""
    parser = build_parser()
    for i, word in enumerate(argv):
        if word in PASS_THROUGH:
            args = parser.parse_args(argv[:i + 1])
            args.args = argv[i + 1:]
            return args
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = parse(argv)
    if args.cmd == "clean":
        return cmd_clean()
    if args.cmd == "setup":
        py = ensure_venv(args.venv, args.torch)
        print(f"ready: {py}")
        return 0
    status = enter_environment(args, argv)
    if status is not None:
        return status
    commands = {
        "lab": lambda: cmd_lab(args.port, args.ip, args.dry_run),
        "test": lambda: cmd_test(args.pytest_args),
        "lint": cmd_lint,
        "data": lambda: cmd_data(args.check),
        "notebooks": lambda: print(" ".join(s["notebook"] for s in load_sections())) or 0,
        "stats": lambda: cmd_stats(args.check),
        "sync": cmd_sync,
        "lib": lambda: cmd_lib(args.check),
        "execute": lambda: cmd_execute(args.paths, args.timeout, args.times),
        "check-pairs": cmd_check_pairs,
        "nbval": lambda: cmd_nbval(args.paths),
        "figures": lambda: cmd_figures(args.check),
        "student": lambda: cmd_student(args.out),
        "html": lambda: cmd_html(args.out),
        "bench": lambda: cmd_bench(args.args),
        "assignments": lambda: cmd_grading("assignments", args.args),
        "grade-check": lambda: cmd_grading("grade-check", args.args),
        "e2e": cmd_e2e,
        "install-check": cmd_install_check,
    }
    return commands[args.cmd]()


if __name__ == "__main__":
    sys.exit(main())

"""The notebooks and their `.py` twins: sync (with the check/solution cells collapsed), pair
checks, execution in place (or timed), nbval, and the lesson-first statistics.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import cells
import common
import export
import stats

SANITIZE_CFG = common.ROOT / "tools" / "nbval_sanitize.cfg"


def write_notebook(nb, path: Path) -> None:
    """nbformat.write, but with LF line ends on every OS."""
    import nbformat

    text = nbformat.writes(nb)
    common.write_text(path, text if text.endswith("\n") else text + "\n")


def cmd_execute(paths: list[str], timeout: int, times: bool = False) -> int:
    """Regenerate the library from the `#@save` cells, then execute the notebooks in place.

    The library comes first: a notebook that calls a component saved by an earlier section must
    see the current version of it, not the one from before the last edit. With `times`, the
    notebooks are only run and timed (stored outputs stay as they are), and the seconds are
    written to results/execute-times.json for the appendix.
    """
    import nbformat
    from nbclient import NotebookClient

    if export.cmd_lib(check=False):
        return 1
    targets = paths or [s["notebook"] for s in common.load_sections()]
    seconds = {}
    for nb_path in targets:
        path = common.ROOT / nb_path
        nb = nbformat.read(path, as_version=4)
        print(f"executing {nb_path} ...", flush=True)
        start = time.perf_counter()
        client = NotebookClient(
            nb, timeout=timeout, kernel_name="python3",
            resources={"metadata": {"path": path.parent}},
        )
        client.execute()
        seconds[common.posix(path)] = round(time.perf_counter() - start, 1)
        if not times:
            write_notebook(nb, path)
        print(f"  {seconds[common.posix(path)]:6.1f} s  {nb_path}", flush=True)
    print(f"  {sum(seconds.values()):6.1f} s  total")
    if times:
        import results

        command = " ".join(["python tools/book.py execute --times", *paths])
        where = results.write("execute-times", command, {"seconds": seconds})
        print(f"wrote {common.posix(where)}")
    return 0


def cmd_check_pairs() -> int:
    import jupytext

    bad = 0
    pairs = 0
    for nb_path in sorted((common.ROOT / "notebooks").glob("*.ipynb")):
        py = common.twin_path(nb_path)
        rel = common.posix(nb_path)
        if not py.exists():
            print(f"{rel}: no py:percent twin; run `make sync`")
            bad += 1
            continue
        pairs += 1
        config = jupytext.config.load_jupytext_configuration_file(
            str(common.ROOT / "jupytext.toml"))
        from_ipynb = jupytext.writes(jupytext.read(nb_path), fmt="py:percent", config=config)
        if from_ipynb != py.read_text(encoding="utf-8"):
            print(f"{rel} and {py.name} differ; edit the .py, then run `make sync execute` "
                  "(or `python tools/book.py sync`)")
            bad += 1
    for py in common.twins():
        if not common.notebook_of_twin(py).exists():
            print(f"{common.posix(py)}: no .ipynb twin; run `make sync execute`")
            bad += 1
    if bad:
        return 1
    print(f"{pairs} notebook pairs in sync")
    return 0


# The cell metadata a `.py` twin keeps: nbgrader's, the tags, and JupyterLab's collapsed state.
CELL_METADATA_FILTER = "nbgrader,tags,jupyter,-all"


def collapse_twin(py: Path) -> bool:
    """Collapse the `check` and solution cells of a `.py` twin (JupyterLab's `jupyter` metadata)
    and keep that metadata in its jupytext filter; True if the file changed."""
    import jupytext

    nb = jupytext.read(py)
    jt = nb.metadata.setdefault("jupytext", {})
    changed = jt.get("cell_metadata_filter") != CELL_METADATA_FILTER
    jt["cell_metadata_filter"] = CELL_METADATA_FILTER
    changed = any([cells.collapse(c) for c in nb.cells]) or changed
    if changed:
        common.write_text(py, jupytext.writes(nb, fmt="py:percent"))
    return changed


def cmd_sync() -> int:
    """Collapse check and solution cells in every notebooks/py/10.*.py, then pair each with its
    .ipynb (jupytext: the newer file wins)."""
    twins = common.twins()
    for py in twins:
        if collapse_twin(py):
            print(f"collapsed the check/solution cells of {common.posix(py)}")
    return common.python_module("jupytext", "--sync", *map(str, twins), what="jupytext --sync")


def nbval_args(notebooks: list[str]) -> list[str]:
    return ["pytest", "-q", "--nbval", "--nbval-current-env",
            "--nbval-sanitize-with", str(SANITIZE_CFG), "--nbval-cell-timeout=900", *notebooks]


def cmd_nbval(notebooks: list[str]) -> int:
    """Validate stored outputs against a fresh run (all written notebooks by default). For all
    of them, first check that fra-eng can be had: without it 10.4's notebook and later stop
    minutes in with a traceback, where this says in seconds what to do."""
    if not notebooks:
        from d2l_attention.data import cli  # not at the top: the tool works while it is broken

        status = cli(["--check"])
        if status:
            return status
    notebooks = notebooks or [s["notebook"] for s in common.load_sections()]
    return common.python_module(*nbval_args(notebooks), what="nbval")


def cmd_stats(check: bool) -> int:
    """Print the lesson-first figures of every section; with `check`, fail on a missed target."""

    rows = stats.collect(common.load_sections(), common.ROOT)
    print(stats.table(rows))
    problems = stats.failures(rows)
    for line in problems:
        print(line, file=sys.stderr if check else sys.stdout)
    return 1 if check and problems else 0


def register(sub) -> None:
    """The notebook commands of tools/book.py: sync, check-pairs, execute, nbval, stats."""
    sub.add_parser("sync", help="pair notebooks/py/10.*.py with their .ipynb (newer wins)"
                   ).set_defaults(run=lambda args: cmd_sync())
    sub.add_parser("check-pairs", help="fail if a notebook and its .py twin differ"
                   ).set_defaults(run=lambda args: cmd_check_pairs())
    p = sub.add_parser("execute", help="rebuild the library, then execute notebooks in place")
    p.add_argument("paths", nargs="*")
    p.add_argument("--timeout", type=int, default=1200, help="seconds per cell")
    p.add_argument("--times", action="store_true",
                   help="only run and time the notebooks (stored outputs unchanged); write "
                        "results/execute-times.json")
    p.set_defaults(run=lambda args: cmd_execute(args.paths, args.timeout, args.times))
    p = sub.add_parser("nbval", help="re-run notebooks and compare with their stored outputs")
    p.add_argument("paths", nargs="*", help="notebooks (default: all written ones)")
    p.set_defaults(run=lambda args: cmd_nbval(args.paths))
    p = sub.add_parser("stats", help="per section: visible code lines, checks, prose")
    p.add_argument("--check", action="store_true",
                   help="fail when a section misses a lesson-first target")
    p.set_defaults(run=lambda args: cmd_stats(args.check))


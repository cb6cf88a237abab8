"""The project's command line: `python tools/book.py COMMAND` (the Makefile wraps each in one line).

Works the same on Linux, macOS and Windows, with or without make. Run from anywhere:

    python tools/book.py setup [--torch cpu]   # create/refresh .venv (requirements.txt + library)
    python tools/book.py lab [--port N]        # JupyterLab on notebooks/, loopback, with a token
    python tools/book.py test                  # all CI checks: lint, drift, data, tests, nbval
    python tools/book.py test --quick          # only the fast unit tests (under a minute)
    python tools/book.py data                  # download and verify fra-eng once (offline later)
    python tools/book.py sync                  # pair notebooks/py/10.*.py with their .ipynb
    python tools/book.py execute [NB ...]      # rebuild the library, then run notebooks in place
    python tools/book.py execute --times       # only time them: results/execute-times.json
    python tools/book.py lib [--check]         # extract `#@save` cells into d2l_attention/sections/
    python tools/book.py check-pairs           # fail if any .ipynb differs from its py:percent twin
    python tools/book.py nbval [NB ...]        # re-run notebooks, compare with stored outputs
    python tools/book.py figures [--check]     # draw the chapter's diagrams (notebooks/figures/)
    python tools/book.py student [--out D]     # student edition (nbgrader's release)
    python tools/book.py html [--out D]        # static offline HTML book with stored outputs
    python tools/book.py bench MODE [ARGS ...] # train the 10.4/10.7 translators: speed and BLEU
    python tools/book.py sweep NAME [ARGS ...] # seeds x CPU kernels behind a notebook's claims
    python tools/book.py assignments           # nbgrader course: source + release of every section
    python tools/book.py grade-check           # autograde reference / blank / one-solved, offline
    python tools/book.py e2e                   # browser tests (Debian's chromium)
    python tools/book.py stats [--check]       # per section: visible code, checks, prose
    python tools/book.py notebooks | lint | install-check | clean

Every command but `setup` and `clean` needs the project's packages. Started with a Python outside
any virtual environment, the tool first creates or refreshes `.venv` (or `--venv DIR`) with that
Python and runs itself again inside it; started inside a virtual or conda environment, it uses that
environment as it is. Environment: D2L_VENV (venv folder), D2L_TORCH=cpu|cuda (which torch build;
unset, Linux without an NVIDIA GPU gets the CPU-only one).

The tools are small modules beside this file, one responsibility each: common (paths,
chapters.yml), environment (the venv), export (`lib`), nbtools (sync, pairs, execute, nbval,
stats), htmlbook (`html` and the appendix page with appendix.py), grading (nbgrader), figures,
browser (`e2e`), bench, sweeps, results. Each adds its commands to this command line (`register`:
its parser and the function that runs it), and every command runs in this process; only bench and
sweep start fresh processes (a run under another CPU kernel). Every module imports only the
standard library (and its siblings) at the top, figures aside (matplotlib; outside the environment
its command is parsed after the tool re-runs itself inside it): the tool must run before anything
is installed, and while the generated library is broken (bench imports torch and `d2l_attention`
when it runs).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import bench
import browser
import common
import environment
import export
import grading
import htmlbook
import nbtools
import sweeps

try:
    import figures
except ImportError:  # matplotlib: only inside the project's environment, where commands run
    figures = None

# Each tool module adds its commands to the command line (`register`) with the function that
# runs them; this file adds its own below. Every command runs in this process.
TOOLS = [nbtools, export, figures, htmlbook, grading, bench, sweeps, browser]

LINT_PATHS = ["d2l_attention", "tests", "tools", "notebooks", "conftest.py"]


def cmd_student(out_dir: Path) -> int:
    """The student edition is nbgrader's release: every section as `generate_assignment` writes
    it (solutions replaced by stubs, hidden tests removed, outputs cleared), one folder."""
    import tempfile

    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="d2l-student-") as course:
        grading.assignments(Path(course))
        releases = sorted(Path(course, "release").glob("*/*.ipynb"))
        for nb in releases:
            shutil.copy2(nb, out_dir / nb.name)
            print(f"  {out_dir / nb.name}")
    figures = common.ROOT / "notebooks" / "figures"
    if figures.is_dir():  # the diagrams the notebooks' markdown cells refer to
        shutil.copytree(figures, out_dir / "figures", dirs_exist_ok=True)
    page = htmlbook.notebook_appendix()
    if page and page[0].is_file():  # the page the notebooks' appendix links lead to
        shutil.copy2(page[0], out_dir / page[0].name)
    print(f"student edition: {len(releases)} notebooks in {out_dir}")
    return 0


def cmd_lint() -> int:
    print("==> ruff", flush=True)
    return common.python_module("ruff", "check", *LINT_PATHS, what="ruff")


def cmd_data(check_only: bool) -> int:
    """Download and verify fra-eng (or verify D2L_DATA_DIR); with `check_only`, fail fast."""
    from d2l_attention.data import cli  # not at the top: the tool works while it is broken

    return cli(["--check"] if check_only else [])


QUICK_MARKERS = "not (data or build or subprocess or install or e2e)"


def cmd_test(pytest_args: list[str], quick: bool = False) -> int:
    """Lint, drift checks, data and every unit test, in order of cost; stops at the first failing
    step. The notebooks' stored outputs are `nbval`'s (CI runs both). With `quick`, only the
    fast unit tests: no data set, no build, no other Python started."""
    if quick:
        return common.python_module("pytest", "-q", "tests", "--ignore=tests/e2e", "-m",
                                    QUICK_MARKERS, *pytest_args)
    steps = [
        ("lint", cmd_lint),
        ("notebook pairs (.ipynb vs .py)", nbtools.cmd_check_pairs),
        ("generated library vs #@save cells", lambda: export.cmd_lib(check=True)),
        ("figures vs tools/figures.py", lambda: figures.main(["--check"])),
        # Before the slow steps: without data the data tests cannot run.
        ("data (fra-eng)", lambda: cmd_data(check_only=True)),
        ("unit tests", lambda: common.python_module(
            "pytest", "-q", "tests", "--ignore=tests/e2e", "-m", "not install", *pytest_args)),
    ]
    start = time.perf_counter()
    for name, step in steps:
        print(f"==> {name}", flush=True)
        status = step()
        if status:
            print(f"FAILED: {name} (exit status {status})", file=sys.stderr)
            return status
    print(f"==> all checks passed in {time.perf_counter() - start:.0f} s")
    return 0


def cmd_install_check() -> int:
    """Run the README's commands for working without make (slow: builds a fresh venv)."""
    return common.python_module("pytest", "-q", "-m", "install", "tests/test_install.py")


def lab_command(port: int, ip: str, notebook_dir: Path) -> list[str]:
    """JupyterLab as `make lab` starts it: its own random token, on `ip` (loopback by default)."""
    cmd = [sys.executable, "-m", "jupyterlab", f"--notebook-dir={notebook_dir}",
           f"--ServerApp.ip={ip}", f"--ServerApp.port={port}"]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        cmd.append("--allow-root")  # containers and CI often run as root
    return cmd


def cmd_lab(port: int, ip: str, dry_run: bool, teacher: bool = False) -> int:
    cmd = lab_command(port, ip, common.ROOT / "notebooks")
    environment.write_lab_overrides(Path(sys.prefix))  # explorers' sliders take the arrow keys
    environment.write_page_config(Path(sys.prefix), teacher)  # nbgrader's menus: teachers only
    if ip not in ("127.0.0.1", "localhost", "::1"):
        print(f"warning: JupyterLab will listen on {ip}: anyone who can reach this machine and "
              "obtains the token can run code as you. Keep the token secret.", flush=True)
    if dry_run:
        print(" ".join(cmd))
        return 0
    print("==> JupyterLab prints its address with a token below and opens it in your browser; "
          "stop it with Ctrl+C", flush=True)
    try:
        return subprocess.call(cmd, cwd=common.ROOT)
    except KeyboardInterrupt:
        return 0


def cmd_clean() -> int:
    """Remove the venv, caches and build outputs (keeps the data cache)."""
    for name in (".venv", "build", ".pytest_cache", ".ruff_cache", ".hypothesis"):
        shutil.rmtree(common.ROOT / name, ignore_errors=True)
    for pattern in ("*.egg-info", "**/__pycache__"):
        for p in common.ROOT.glob(pattern):
            if ".venv" not in p.parts:
                shutil.rmtree(p, ignore_errors=True)
    print("removed .venv, build/ and caches (the data cache is kept)")
    return 0


NO_ENVIRONMENT = {"setup", "clean"}


def register(sub) -> None:
    """This file's own commands."""
    sub.add_parser("setup", help="create or refresh the virtual environment")
    p = sub.add_parser("lab", help="open JupyterLab on notebooks/ (token, loopback)")
    p.add_argument("--port", type=int, default=int(os.environ.get("LAB_PORT") or 8888))
    p.add_argument("--ip", default="127.0.0.1", help="address to listen on (default loopback only)")
    p.add_argument("--dry-run", action="store_true", help="print the command, start nothing")
    p.add_argument("--teacher", action="store_true",
                   help="show nbgrader's menus and panels (hidden for readers)")
    p.set_defaults(run=lambda a: cmd_lab(a.port, a.ip, a.dry_run, a.teacher))
    p = sub.add_parser("test", help="lint, drift checks, data, unit tests (nbval: the notebooks)")
    p.add_argument("--quick", action="store_true",
                   help="only the fast unit tests (no data, builds, subprocesses, notebooks)")
    p.add_argument("pytest_args", nargs="*", help="extra arguments for the unit tests")
    p.set_defaults(run=lambda a: cmd_test(a.pytest_args, a.quick))
    sub.add_parser("lint", help="ruff over the library, tests, tools and notebook twins"
                   ).set_defaults(run=lambda a: cmd_lint())
    p = sub.add_parser("data", help="download and verify the fra-eng data set")
    p.add_argument("--check", action="store_true",
                   help="only check that the data can be had; fail fast otherwise")
    p.set_defaults(run=lambda a: cmd_data(a.check))
    sub.add_parser("notebooks", help="print the written notebooks, in chapter order"
                   ).set_defaults(run=lambda a: print(" ".join(
                       s["notebook"] for s in common.load_sections())) or 0)
    p = sub.add_parser("student", help="write the student edition (nbgrader's release)")
    p.add_argument("--out", type=Path, default=common.ROOT / "build" / "student")
    p.set_defaults(run=lambda a: cmd_student(a.out))
    sub.add_parser("install-check", help="run the README's without-make commands in a new venv"
                   ).set_defaults(run=lambda a: cmd_install_check())
    sub.add_parser("clean", help="remove .venv, caches and build outputs")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python tools/book.py", description=__doc__.splitlines()[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Each command has --help. Commands run from the repository root.")
    parser.add_argument("--venv", type=Path,
                        default=Path(os.environ.get("D2L_VENV") or common.ROOT / ".venv"),
                        help="virtual environment to create and use (default .venv, or $D2L_VENV)")
    parser.add_argument("--torch", choices=environment.TORCH_FLAVOURS,
                        default=os.environ.get("D2L_TORCH") or "auto",
                        help="torch build to install: 'cpu' takes PyTorch's CPU-only wheels "
                             "(small; Linux/Windows), 'cuda' (or 'default') the registry's (on "
                             "Linux it bundles CUDA, several GB); 'auto' (the default) takes the "
                             "CPU-only build on Linux without an NVIDIA GPU. Also $D2L_TORCH")
    sub = parser.add_subparsers(dest="cmd", required=True, metavar="COMMAND")
    register(sub)
    for tool in TOOLS:
        if tool is not None:
            tool.register(sub)
    if figures is None:  # outside the environment: the command re-runs inside it, parsed there
        sub.add_parser("figures", help="draw the diagrams into notebooks/figures/")
    return parser


def parse(argv: list[str]) -> argparse.Namespace:
    parser = build_parser()
    args, unknown = parser.parse_known_args(argv)
    if unknown and not (args.cmd == "figures" and figures is None):
        parser.error(f"unrecognized arguments: {' '.join(unknown)}")
    args.argv = argv[argv.index(args.cmd) + 1:]  # the command's own words, as typed
    return args


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = parse(argv)
    if args.cmd == "clean":
        return cmd_clean()
    if args.cmd == "setup":
        py = environment.ensure_venv(args.venv, args.torch)
        print(f"ready: {py}")
        return 0
    status = environment.enter_environment(args, argv, Path(__file__))
    if status is not None:
        return status
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())

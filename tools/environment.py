"""The project's virtual environment: create it, keep it in step with requirements.txt, and run
the command again inside it (`python tools/book.py setup`; every command but `clean` does this).

Standard library only: it runs before anything is installed.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import common

# Python versions that install from requirements.txt and pass the tests.
SUPPORTED_PYTHONS = ((3, 11), (3, 12), (3, 13))


# PyTorch's own index of CPU-only wheels (Linux and Windows). PyPI's Linux wheels bundle CUDA.
TORCH_CPU_INDEX = "https://download.pytorch.org/whl/cpu"


# What --torch / $D2L_TORCH may ask for: "auto" (unset) decides by platform and GPU, "cpu" always
# takes PyTorch's CPU-only wheels, "cuda" (or "default") always the registry's own wheels.
TORCH_FLAVOURS = ("auto", "cpu", "cuda", "default")


def torch_flavour(platform: str, nvidia_gpu: bool, requested: str = "auto") -> str:
    """The torch build that setup installs: "cpu" (PyTorch's CPU-only wheels) or "default" (the
    registry's). `platform` is sys.platform, `nvidia_gpu` whether an NVIDIA driver was found.

    Only Linux changes with the GPU: PyPI's Linux wheels bundle CUDA (several GB), useless without
    an NVIDIA GPU, so "auto" takes the CPU-only build there. macOS and Windows keep the registry's
    wheels (CPU-only on Windows, MPS on macOS) unless "cpu" is asked for."""
    if requested not in TORCH_FLAVOURS:
        raise common.ToolError(f"unknown torch build {requested!r}: use one of "
                               f"{', '.join(TORCH_FLAVOURS)} (--torch or $D2L_TORCH)")
    if requested == "cpu":
        return "cpu"
    if requested in ("cuda", "default"):
        return "default"
    return "cpu" if platform.startswith("linux") and not nvidia_gpu else "default"


def nvidia_gpu_present() -> bool:
    """An NVIDIA driver on this machine: `nvidia-smi` on PATH, or the kernel driver's folder."""
    return bool(shutil.which("nvidia-smi")) or Path("/proc/driver/nvidia").is_dir()


def chosen_torch(requested: str) -> str:
    """`torch_flavour` for this machine."""
    return torch_flavour(sys.platform, nvidia_gpu_present(), requested)


STAMP = ".installed"


# Python packages every command but setup/clean imports; their absence means "not installed yet".
NEEDED_MODULES = ("yaml", "jupytext", "torch", "pytest")


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
        raise common.ToolError(
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
        h.update((common.ROOT / name).read_bytes().replace(b"\r\n", b"\n"))
    h.update(flavour.encode())
    return h.hexdigest()


def pinned_torch() -> str:
    """The `torch==X` line of requirements.txt."""
    for line in (common.ROOT / "requirements.txt").read_text(encoding="utf-8").splitlines():
        if line.replace(" ", "").startswith("torch=="):
            return line.strip()
    raise common.ToolError("requirements.txt has no `torch==VERSION` line")


def install_commands(python: Path, flavour: str) -> list[list[str]]:
    """The pip commands that install the project into the environment of `python`."""
    pip = [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check"]
    commands = []
    if flavour == "cpu":
        # Installed first, so requirements.txt finds torch already satisfied (2.x.y+cpu == 2.x.y).
        commands.append(pip + ["--force-reinstall", "--no-deps", "--index-url", TORCH_CPU_INDEX,
                               pinned_torch()])
    commands.append(pip + ["-r", str(common.ROOT / "requirements.txt")])
    commands.append(pip + ["--no-deps", "-e", str(common.ROOT)])
    return commands


def ensure_venv(venv: Path, flavour: str, base_python: str | None = None) -> Path:
    """Create `venv` with `base_python` (this interpreter by default) or refresh it; return its
    interpreter. Recreated when its Python major.minor differs; reinstalled when requirements.txt,
    pyproject.toml or the torch flavour changed since the last install."""
    base_python = base_python or sys.executable
    want = python_version(base_python)
    if want is None:
        raise common.ToolError(f"cannot run {base_python}")
    check_supported(want, base_python)
    py = venv_python(venv)
    if py.exists():
        have = python_version(py)
        if have != want:
            label = "broken" if have is None else f"Python {have[0]}.{have[1]}"
            print(f"==> {common.posix(venv)} has {label}, {base_python} is {want[0]}.{want[1]}: "
                  f"recreating {common.posix(venv)}", flush=True)
            shutil.rmtree(venv)
    if not py.exists():
        print(f"==> creating {common.posix(venv)} with {base_python} ({want[0]}.{want[1]})",
              flush=True)
        common.run([str(base_python), "-m", "venv", str(venv)], "creating the virtual environment")
    refresh_install(py, venv, flavour)
    return py


# JupyterLab 4 binds the arrow keys, in command mode, to cell and heading navigation for whatever
# element has the focus, so an explorer's slider (a range input in an output) could not be moved
# from the keyboard. The environment's overrides.json (JupyterLab's defaults for a distribution)
# keeps those bindings everywhere except on form controls.
LAB_ARROW_COMMANDS = {"ArrowUp": "notebook:move-cursor-up",
                      "ArrowDown": "notebook:move-cursor-down",
                      "ArrowLeft": "notebook:move-cursor-heading-above-or-collapse",
                      "ArrowRight": "notebook:move-cursor-heading-below-or-expand"}
LAB_ARROW_SELECTOR = ".jp-Notebook.jp-mod-commandMode:not(.jp-mod-readWrite) :focus"
LAB_SHORTCUTS = "@jupyterlab/shortcuts-extension:shortcuts"
# A reader's JupyterLab: no news prompt, no update check (both would ask a website).
LAB_NOTIFICATIONS = ("@jupyterlab/apputils-extension:notification",
                     {"fetchNews": "false", "checkForUpdates": False})
# nbgrader's menus and panels are for teachers: off unless `lab --teacher`.
NBGRADER_LAB_EXTENSION = "@jupyter/nbgrader"


def write_lab_overrides(prefix: Path) -> Path:
    """Write (or update) `prefix`/share/jupyter/lab/settings/overrides.json so that the arrow
    keys move a focused slider or menu instead of the notebook's cursor, and JupyterLab neither
    asks about nor fetches news. Other settings stay."""
    path = prefix / "share" / "jupyter" / "lab" / "settings" / "overrides.json"
    shortcuts = []
    for key, command in LAB_ARROW_COMMANDS.items():
        shortcuts.append({"command": command, "keys": [key], "selector": LAB_ARROW_SELECTOR,
                          "disabled": True})
        shortcuts.append({"command": command, "keys": [key],
                          "selector": LAB_ARROW_SELECTOR + ":not(input):not(select)"})
    wanted = {LAB_SHORTCUTS: {"shortcuts": shortcuts}, LAB_NOTIFICATIONS[0]: LAB_NOTIFICATIONS[1]}
    return _update_json(path, wanted)


def write_page_config(prefix: Path, teacher: bool) -> Path:
    """Write (or update) `prefix`/etc/jupyter/labconfig/page_config.json: nbgrader's lab extension
    is disabled for readers and enabled for teachers (`lab --teacher`). Other settings stay."""
    path = prefix / "etc" / "jupyter" / "labconfig" / "page_config.json"
    return _update_json(path, {"disabledExtensions": {NBGRADER_LAB_EXTENSION: not teacher}})


def _update_json(path: Path, wanted: dict[str, dict]) -> Path:
    """Set `wanted` ({section: {key: value}}) in the JSON file `path`, keeping everything else;
    the file is written only when something changes (or is missing, or is not JSON)."""
    import json

    try:
        settings = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
    except ValueError:
        settings = {}
    if not path.is_file() or any(settings.get(section, {}).get(k) != v
                                 for section, values in wanted.items() for k, v in values.items()):
        for section, values in wanted.items():
            settings.setdefault(section, {}).update(values)
        path.parent.mkdir(parents=True, exist_ok=True)
        common.write_text(path, json.dumps(settings, indent=2) + "\n")
    return path


def refresh_install(py: Path, venv: Path, requested: str) -> None:
    write_lab_overrides(venv)
    flavour = chosen_torch(requested)
    stamp = venv / STAMP
    digest = requirements_digest(flavour)
    if stamp.is_file() and stamp.read_text(encoding="utf-8").strip() == digest:
        return
    extra = ""
    if flavour == "cpu":
        extra = " (CPU-only torch" + ("; no NVIDIA GPU found, D2L_TORCH=cuda for the CUDA build)"
                                      if requested == "auto" else ")")
    print(f"==> installing requirements.txt into {common.posix(venv)}{extra} "
          "(first time: a few minutes)", flush=True)
    for cmd in install_commands(py, flavour):
        hint = ""
        if flavour == "cpu" and TORCH_CPU_INDEX in cmd:
            hint = f" (the CPU-only torch comes from {TORCH_CPU_INDEX}; without that site, " \
                   "set D2L_TORCH=default to take the registry's torch)"
        common.run(cmd, "pip install" + hint)
    common.write_text(stamp, digest + "\n")


def in_virtual_env() -> bool:
    """True inside a venv/virtualenv or an activated conda environment."""
    conda = os.environ.get("CONDA_PREFIX")
    return sys.prefix != sys.base_prefix or bool(
        conda and Path(conda).resolve() == Path(sys.prefix).resolve())


def missing_modules() -> list[str]:
    import importlib.util

    return [m for m in NEEDED_MODULES if importlib.util.find_spec(m) is None]


def enter_environment(args: argparse.Namespace, argv: list[str], script: Path) -> int | None:
    """Make sure the command runs with the project's packages.

    Returns None to go on in this interpreter, or the exit status of the same command (`script`
    with `argv`) run again inside the project's virtual environment.
    """
    venv = args.venv
    if in_virtual_env():
        if Path(sys.prefix).resolve() == venv.resolve():
            refresh_install(Path(sys.executable), venv, args.torch)  # our .venv: keep it current
        missing = missing_modules()
        if missing:
            raise common.ToolError(
                f"this environment ({sys.prefix}) lacks {', '.join(missing)}. Install the project "
                "into it: `python -m pip install -r requirements.txt` then "
                "`python -m pip install --no-deps -e .`, or run this tool with a Python outside "
                "any virtual environment so it manages .venv itself.")
        return None
    if os.environ.get("D2L_BOOK_REENTERED"):
        raise common.ToolError(f"{venv_python(venv)} does not run inside {common.posix(venv)}; "
                               f"delete {common.posix(venv)} and try again")
    py = ensure_venv(venv, args.torch)
    env = dict(os.environ, D2L_BOOK_REENTERED="1")
    return subprocess.call([str(py), str(Path(script).resolve()), *argv], env=env)

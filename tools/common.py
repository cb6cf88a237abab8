"""What every tool module shares: the repository root, chapters.yml, paths and messages.

Standard library only (PyYAML is imported when chapters.yml is read): the tools must start before
anything is installed.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


class ToolError(SystemExit):
    """A failure with a message that says what to do; exits with status 1."""

    def __init__(self, message: str):
        super().__init__(f"error: {message}")


KERNEL_ENV = "ATEN_CPU_CAPABILITY"  # PyTorch's switch for the CPU kernel family it runs


def kernel_list(text: str) -> list[str]:
    """"default, AVX2" -> ["default", "avx2"]: the kernels a --kernels option names."""
    return [k.strip().lower() for k in text.split(",") if k.strip()]


def kernel_env(kernel: str) -> dict[str, str]:
    """This process's environment for a fresh process under CPU kernel `kernel`
    ("native": PyTorch's own choice for this CPU)."""
    env = dict(os.environ)
    env.pop(KERNEL_ENV, None)
    if kernel != "native":
        env[KERNEL_ENV] = kernel
    return env


def posix(path: Path) -> str:
    """`path` relative to the repository, with forward slashes on every OS (for messages)."""
    try:
        return Path(path).resolve().relative_to(ROOT).as_posix()
    except ValueError:
        return Path(path).as_posix()


def write_text(path: Path, text: str) -> None:
    """Write UTF-8 with LF line ends on every OS (generated and paired files are compared)."""
    path.write_text(text, encoding="utf-8", newline="\n")


def run(cmd: list[str], what: str, **kwargs) -> None:
    """Run a command in the repository root; fail with `what` in the message."""
    proc = subprocess.run(cmd, cwd=ROOT, **kwargs)
    if proc.returncode:
        raise ToolError(f"{what} failed (exit status {proc.returncode}); see the output above")


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


# The notebooks' py:percent twins sit in a folder of their own (jupytext.toml: `py//py:percent`),
# so JupyterLab's file browser shows one entry per section.
TWINS_DIR = "py"


def twin_path(notebook: str | Path) -> Path:
    """notebooks/10.1-x.ipynb -> notebooks/py/10.1-x.py (ROOT-relative paths, or absolute)."""
    nb = ROOT / notebook
    return nb.parent / TWINS_DIR / (nb.stem + ".py")


def notebook_of_twin(py: Path) -> Path:
    """The inverse of `twin_path`."""
    return py.parent.parent / (py.stem + ".ipynb")


def twins() -> list[Path]:
    """Every section twin present: notebooks/py/10.*.py."""
    return sorted((ROOT / "notebooks" / TWINS_DIR).glob("[0-9]*.py"))


def module_name(sec: dict) -> str:
    return "s" + sec["number"].replace(".", "_") + "_" + sec["module"]


def python_module(module: str, *args: str, what: str | None = None, env=None) -> int:
    """`python -m module args...` with this interpreter, from the repository root."""
    proc = subprocess.run([sys.executable, "-m", module, *args], cwd=ROOT, env=env)
    if proc.returncode and what:
        print(f"error: {what} failed (exit status {proc.returncode})", file=sys.stderr)
    return proc.returncode

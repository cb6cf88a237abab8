"""Result files: measured figures with how and where they were measured, committed in results/.

The appendix "可复现性与速度 (Reproducibility and speed)" renders its tables from these files,
never from numbers typed by hand. Each file is JSON:

    {"command": "...", "date": "...", "torch": "2.13.0", "cpu_kernel": "AVX512",
     "threads": 2, "platform": "...", "python": "3.11.7", "figures": {...}}
"""

from __future__ import annotations

import datetime
import json
import os
import platform
import sys
from pathlib import Path

from common import ROOT  # the same folder: one definition of the repository root

RESULTS = ROOT / "results"


def environment() -> dict:
    """Where a measurement runs: torch version, CPU kernel (as ATen picks it), threads, OS."""
    import torch

    return {
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "torch": torch.__version__.split("+")[0],
        "cpu_kernel": torch.backends.cpu.get_cpu_capability(),
        "aten_cpu_capability": os.environ.get("ATEN_CPU_CAPABILITY", ""),
        "threads": torch.get_num_threads(),
        "cores": os.cpu_count(),
        "platform": platform.platform(terse=True),
        "python": platform.python_version(),
    }


def write(name: str, command: str, figures: dict) -> Path:
    """Write results/NAME.json: the command that measured, its environment and its figures."""
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"{name}.json"
    record = {"command": command, **environment(), "figures": figures}
    path.write_text(json.dumps(record, indent=1, ensure_ascii=False) + "\n", encoding="utf-8",
                    newline="\n")
    return path


def read(name: str) -> dict:
    path = RESULTS / f"{name}.json"
    if not path.is_file():
        sys.exit(f"error: {path.relative_to(ROOT)} is missing; the appendix renders it. "
                 "Produce it with the command its table names.")
    return json.loads(path.read_text(encoding="utf-8"))


def kernel_name() -> str:
    """The CPU kernel family a sweep runs under, as asked for (ATEN_CPU_CAPABILITY)."""
    return os.environ.get("ATEN_CPU_CAPABILITY", "unset")


def add_kernel_run(path: Path, about: str, summary: dict, runs: list) -> None:
    """Add this CPU kernel's sweep to the JSON file `path` (one key per `kernel_name()`, the
    sweeps of other kernels kept), with what the file is `about`."""
    import torch

    kernel = kernel_name()
    data = json.loads(path.read_text()) if path.exists() else {}
    data["about"] = about
    data[kernel] = {"torch": torch.__version__, "threads": torch.get_num_threads(),
                    "summary": summary, "runs": runs}
    path.write_text(json.dumps(data, indent=1) + "\n")

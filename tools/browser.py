"""`make e2e`: the browser tests in Debian's chromium (installed with apt-get when run as root)."""

from __future__ import annotations

import os
import shutil
import subprocess

import common


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
        common.run(["apt-get", "update", "-q"], "apt-get update", env=env)
        common.run(["apt-get", "install", "-y", "-q", *need], "apt-get install", env=env)
    elif "chromium" not in need:
        print("note: no CJK font; screenshots show boxes. "
              "sudo apt-get install -y fonts-wqy-microhei", flush=True)
    else:
        raise common.ToolError(
            "the browser tests need Chromium. On Debian/Ubuntu: `sudo apt-get update && sudo "
            f"apt-get install -y {' '.join(need)}`; elsewhere set CHROMIUM=/path/to/chromium "
            "(or Chrome).")


def cmd_e2e() -> int:
    ensure_browser()
    return common.python_module("pytest", "-q", "-m", "e2e", "tests/e2e")


def register(sub) -> None:
    """The `e2e` command of tools/book.py."""
    sub.add_parser("e2e", help="browser tests in Debian's chromium (build/e2e/)"
                   ).set_defaults(run=lambda args: cmd_e2e())


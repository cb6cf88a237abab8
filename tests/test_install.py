"""The README's commands for working without make.

`test_windows_commands_mirror_posix` is an ordinary unit test. `test_posix_commands_work` is marked
`install` (run by `make install-check` / CI): it follows the Linux/macOS block literally in a copy
of the repository, with a brand-new virtual environment, then starts JupyterLab with the documented
line and checks it demands its token. The last line (`tools/book.py test`, the whole suite) is
replaced by the suite's fast checks, so the test does not run itself.
"""

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest
from chapters import ROOT

README = ROOT / "README.md"
INSTALL_TIMEOUT_S = 1800
LAB_START_S = 90


def readme_block(kind):
    """The fenced block right after `<!-- install-check: KIND -->`, as a list of command lines."""
    text = README.read_text(encoding="utf-8")
    match = re.search(rf"<!-- install-check: {kind} -->\s*```\w*\n(.*?)```", text, re.S)
    assert match, f"README.md has no block marked <!-- install-check: {kind} -->"
    return [line.strip() for line in match.group(1).splitlines() if line.strip()]


def test_windows_commands_mirror_posix():
    posix = readme_block("posix")
    windows = readme_block("windows")
    assert len(posix) == len(windows) == 5
    translated = [line.replace(".venv\\Scripts\\python", ".venv/bin/python")
                  .replace("tools\\book.py", "tools/book.py")
                  .replace("py -3.11 -m venv", "python3 -m venv") for line in windows]
    assert translated == posix


def test_documented_commands_exist():
    """Every `tools/book.py COMMAND` the README names is a command of the CLI."""
    help_text = subprocess.run([sys.executable, str(ROOT / "tools" / "book.py"), "--help"],
                               capture_output=True, text=True, timeout=60).stdout
    named = set(re.findall(r"tools[/\\]book\.py (?:--torch cpu )?([a-z][a-z-]+)",
                           README.read_text(encoding="utf-8")))
    assert {"setup", "lab", "test"} <= named
    for command in named:
        assert re.search(rf"^\s+{command}\s", help_text, re.M), command


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def status_of(url):
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(url, timeout=5) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code


def run_line(line, cwd, env):
    args = line.split()
    if args[0] == "python3":
        args[0] = sys._base_executable  # the interpreter this venv was made from
    proc = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=INSTALL_TIMEOUT_S)
    assert proc.returncode == 0, f"`{line}` failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc


def start_lab(line, cwd, env, log_path):
    port = free_port()
    args = line.split() + ["--port", str(port)]
    log = open(log_path, "w")
    proc = subprocess.Popen(args, cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)
    return proc, port, log


@pytest.mark.install
def test_posix_commands_work(tmp_path):
    lines = readme_block("posix")
    assert lines[0].startswith("python3 -m venv .venv")
    repo = tmp_path / "repo"
    shutil.copytree(ROOT, repo, ignore=shutil.ignore_patterns(
        ".venv*", "build", ".git", "__pycache__", ".pytest_cache", ".ruff_cache", ".hypothesis",
        "*.egg-info"))
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH")}
    env["JUPYTER_RUNTIME_DIR"] = str(tmp_path / "runtime")
    env["JUPYTERLAB_WORKSPACES_DIR"] = str(tmp_path / "workspaces")
    env["BROWSER"] = "true"  # `lab` may try to open a browser: make that a no-op
    for line in lines[:3]:  # create the venv, install the pins, install the library
        run_line(line, repo, env)

    lab_line, test_line = lines[3], lines[4]
    assert lab_line.endswith("tools/book.py lab") and test_line.endswith("tools/book.py test")
    proc, port, log = start_lab(lab_line, repo, env, tmp_path / "lab.log")
    try:
        deadline = time.monotonic() + LAB_START_S
        text = ""
        while time.monotonic() < deadline:
            text = (tmp_path / "lab.log").read_text(errors="replace")
            if f"127.0.0.1:{port}/lab?token=" in text or proc.poll() is not None:
                break
            time.sleep(1)
        assert f"127.0.0.1:{port}/lab?token=" in text, f"no URL with a token:\n{text[-3000:]}"
        token = re.search(rf"127\.0\.0\.1:{port}/lab\?token=(\w+)", text).group(1)
        base = f"http://127.0.0.1:{port}"
        assert status_of(f"{base}/api/contents") == 403  # no token, no access
        assert status_of(f"{base}/api/contents?token={token}") == 200
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
        log.close()

    # The documented `test` line runs the whole suite (CI does that through `make test`); here its
    # fast steps show the new environment is complete: the same interpreter, the same CLI.
    prefix = test_line.rsplit(" ", 1)[0]
    for command in ("lint", "check-pairs", "lib --check", "figures --check", "notebooks"):
        run_line(f"{prefix} {command}", repo, env)

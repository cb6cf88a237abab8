"""Tests of the chapters.yml tooling in tools/book.py (library extraction, pair checks)."""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def book():
    import book

    return book


NOTEBOOK_PY = '''# %% [markdown]
# # 10.9 Test section

# %%
import torch

# %%
#@save
def twice(x):
    """Return 2x."""
    return 2 * x

# %%
print(twice(3))

# %%
#@save
class Box:
    SIZE = 3

#@save

_hidden = 1
LIMIT = 5
'''


@pytest.fixture
def fake_section(book, tmp_path, monkeypatch):
    (tmp_path / "notebooks").mkdir()
    (tmp_path / "notebooks" / "10.9-test.py").write_text(NOTEBOOK_PY, encoding="utf-8")
    monkeypatch.setattr(book, "ROOT", tmp_path)
    return {"number": "10.9", "zh": "测试", "en": "Test", "notebook": "notebooks/10.9-test.ipynb",
            "module": "test_section", "status": "written"}


def test_only_save_cells_are_extracted(book, fake_section):
    cells = book.saved_cells(fake_section)
    assert [index for index, _ in cells] == [2, 4]  # the notebook's cell numbers, from 0
    sources = "".join(source for _, source in cells)
    assert cells[0][1].startswith("def twice(x):")
    assert "#@save" not in sources  # the first-line marker and the stray one inside a cell
    assert "print(twice(3))" not in sources


def test_each_definition_names_its_notebook_cell(book, fake_section):
    text = book.render_module(fake_section)
    assert "# %% notebooks/10.9-test.ipynb 2\ndef twice(x):" in text
    assert "# %% notebooks/10.9-test.ipynb 4\nclass Box:" in text


def test_rendered_module_is_importable_python_with_header(book, fake_section):
    text = book.render_module(fake_section)
    assert text.startswith("# Generated from notebooks/10.9-test.ipynb")
    assert "DO NOT EDIT" in text.splitlines()[0]
    namespace = {}
    exec(compile(text.replace("import d2l_attention as d2l", ""), "gen", "exec"), namespace)
    assert namespace["twice"](4) == 8
    assert namespace["__all__"] == ["twice", "Box", "LIMIT"]  # private names stay private


def test_module_names_follow_chapter_numbers(book):
    sec = {"number": "10.3", "module": "attention_scoring"}
    assert book.module_name(sec) == "s10_3_attention_scoring"


def test_index_imports_sections_in_order(book):
    secs = [{"number": "10.2", "module": "b"}, {"number": "10.1", "module": "a"}]
    index = book.render_index(secs)
    assert index.index("s10_2_b") < index.index("s10_1_a")  # order of chapters.yml, not sorted


def test_written_sections_exist_and_planned_are_skipped(book):
    all_secs = book.load_sections(include_planned=True)
    written = book.load_sections()
    assert [s["number"] for s in all_secs] == [f"10.{i}" for i in range(1, 8)]
    assert written and all(s["status"] == "written" for s in written)
    for sec in written:
        assert (ROOT / sec["notebook"]).exists(), sec["notebook"]
        assert book.twin_path(sec["notebook"]).exists()


def test_library_matches_notebooks(book):
    assert book.cmd_lib(check=True) == 0


def test_check_pairs_detects_drift(book, tmp_path, monkeypatch):
    nb_dir = tmp_path / "notebooks"
    nb_dir.mkdir()
    (tmp_path / "jupytext.toml").write_text((ROOT / "jupytext.toml").read_text())
    src = ROOT / "notebooks"
    ipynb_text = (src / "10.1-attention-cues.ipynb").read_text(encoding="utf-8")
    (nb_dir / "10.1-x.ipynb").write_text(ipynb_text, encoding="utf-8")
    py_text = (src / "10.1-attention-cues.py").read_text(encoding="utf-8")
    (nb_dir / "10.1-x.py").write_text(py_text, encoding="utf-8")
    monkeypatch.setattr(book, "ROOT", tmp_path)
    assert book.cmd_check_pairs() == 0
    (nb_dir / "10.1-x.py").write_text(py_text + "\n# %%\nprint('new cell')\n", encoding="utf-8")
    assert book.cmd_check_pairs() == 1
    (nb_dir / "10.1-x.py").unlink()
    assert book.cmd_check_pairs() == 1  # an unpaired notebook is drift too


def test_stored_notebooks_were_executed(book):
    """Every written notebook has outputs from a real run: all code cells executed in order."""
    for sec in book.load_sections():
        nb = json.loads((ROOT / sec["notebook"]).read_text(encoding="utf-8"))
        counts = [c.get("execution_count") for c in nb["cells"] if c["cell_type"] == "code"]
        assert all(isinstance(n, int) for n in counts), f"{sec['notebook']} has unexecuted cells"
        assert counts == sorted(counts), f"{sec['notebook']} was not executed top to bottom"


# ------------------------------------------------------------ environment management


def test_execute_builds_the_library_first(book, monkeypatch):
    """`execute` must not run notebooks against the previous library."""
    calls = []
    monkeypatch.setattr(book, "cmd_lib", lambda check: calls.append(check) or 1)
    assert book.cmd_execute(["notebooks/does-not-matter.ipynb"], timeout=1) == 1
    assert calls == [False]


def test_venv_interpreter_path_per_os(book, monkeypatch):
    venv = Path("some") / ".venv"
    monkeypatch.setattr(book.os, "name", "posix")
    assert book.venv_python(venv).parts[-2:] == ("bin", "python")
    monkeypatch.setattr(book.os, "name", "nt")
    assert book.venv_python(venv).parts[-2:] == ("Scripts", "python.exe")


def test_unsupported_python_is_refused_with_the_fix(book):
    with pytest.raises(SystemExit) as info:
        book.check_supported((3, 10), "python3.10")
    message = str(info.value)
    assert "3.10" in message and "3.11, 3.12, 3.13" in message and "setup" in message
    book.check_supported((3, 12), "python3.12")  # supported: no error


def test_install_digest_tracks_flavour_and_ignores_line_ends(book, tmp_path, monkeypatch):
    for name in ("requirements.txt", "pyproject.toml"):
        (tmp_path / name).write_bytes(b"torch==2.13.0\nnumpy==2.4.6\n")
    monkeypatch.setattr(book, "ROOT", tmp_path)
    lf = book.requirements_digest("default")
    assert book.requirements_digest("cpu") != lf
    for name in ("requirements.txt", "pyproject.toml"):
        (tmp_path / name).write_bytes(b"torch==2.13.0\r\nnumpy==2.4.6\r\n")
    assert book.requirements_digest("default") == lf
    (tmp_path / "requirements.txt").write_bytes(b"torch==2.13.0\nnumpy==2.4.7\n")
    assert book.requirements_digest("default") != lf


def test_cpu_torch_comes_from_pytorchs_index_before_the_requirements(book):
    default = book.install_commands(Path("py"), "default")
    assert not any(book.TORCH_CPU_INDEX in cmd for cmd in default)
    cpu = book.install_commands(Path("py"), "cpu")
    assert book.TORCH_CPU_INDEX in cpu[0] and book.pinned_torch() in cpu[0]
    assert "-r" in cpu[1] and cpu[2][-2:] == ["-e", str(ROOT)]
    assert book.pinned_torch().startswith("torch==")


@pytest.fixture
def no_install(book, monkeypatch):
    installs = []
    monkeypatch.setattr(book, "refresh_install", lambda py, venv, flavour: installs.append(venv))
    return installs


def other_python(book):
    """An installed interpreter whose major.minor differs from this one, or skip."""
    import glob

    root = os.environ.get("PYENV_ROOT") or str(Path.home() / ".pyenv")
    for minor in (12, 13, 11):
        if minor == sys.version_info.minor:
            continue
        for path in sorted(glob.glob(f"{root}/versions/3.{minor}.*/bin/python3.{minor}")):
            return path
    pytest.skip("no second Python 3.11-3.13 installed")


def test_venv_is_recreated_only_when_major_minor_changes(book, tmp_path, no_install):
    venv = tmp_path / "venv"
    other = other_python(book)
    book.ensure_venv(venv, "default", base_python=other)
    assert book.python_version(book.venv_python(venv)) == book.python_version(other)
    (venv / "keep-me").write_text("x")
    book.ensure_venv(venv, "default", base_python=other)  # same version: kept as it is
    assert (venv / "keep-me").exists()
    book.ensure_venv(venv, "default", base_python=sys.executable)  # another version: rebuilt
    assert not (venv / "keep-me").exists()
    assert book.python_version(book.venv_python(venv)) == sys.version_info[:2]
    assert len(no_install) == 3


def test_lab_keeps_its_token_and_listens_on_loopback(book, capsys):
    cmd = book.lab_command(8890, "127.0.0.1", ROOT / "notebooks")
    joined = " ".join(cmd)
    assert "--ServerApp.ip=127.0.0.1" in joined and "--ServerApp.port=8890" in joined
    assert "token" not in joined and "password" not in joined  # JupyterLab's own random token
    assert book.cmd_lab(8890, "0.0.0.0", dry_run=True) == 0
    out = capsys.readouterr().out
    assert "warning" in out and "token" in out


def test_data_check_fails_fast_with_one_message(tmp_path):
    """Without data (empty D2L_DATA_DIR) the check stops at once with what to do, no traceback."""
    env = dict(os.environ, D2L_DATA_DIR=str(tmp_path))
    start = time.monotonic()
    proc = subprocess.run([sys.executable, str(ROOT / "tools" / "book.py"), "data", "--check"],
                          env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode != 0
    assert "make data" in proc.stderr and "D2L_DATA_DIR" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert time.monotonic() - start < 60


def test_generated_headers_use_posix_paths(book):
    sec = book.load_sections()[0]
    text = book.render_module(sec)
    assert "\\" not in text.splitlines()[1]
    assert "make sync execute" in text and "tools/book.py execute" in text


def test_pass_through_commands_keep_their_options(book):
    args = book.parse(["bench", "--quick", "--seeds", "2"])
    assert args.cmd == "bench" and args.args == ["--quick", "--seeds", "2"]
    args = book.parse(["--torch", "cpu", "grade-check", "--sections", "10.1"])
    assert args.torch == "cpu" and args.args == ["--sections", "10.1"]
    assert book.parse(["lib", "--check"]).check

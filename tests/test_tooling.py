"""Tests of the chapters.yml tooling in tools/book.py (library extraction, pair checks)."""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import book
import common
import environment
import export
import nbtools
import pytest
from chapters import ROOT

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
def fake_section(tmp_path, monkeypatch):
    (tmp_path / "notebooks" / "py").mkdir(parents=True)
    (tmp_path / "notebooks" / "py" / "10.9-test.py").write_text(NOTEBOOK_PY, encoding="utf-8")
    monkeypatch.setattr(common, "ROOT", tmp_path)
    return {"number": "10.9", "zh": "测试", "en": "Test", "notebook": "notebooks/10.9-test.ipynb",
            "module": "test_section", "status": "written"}


def test_only_save_cells_are_extracted(fake_section):
    cells = export.saved_cells(fake_section)
    assert [line for line, _ in cells] == [9, 18]  # where each definition starts in the .py twin
    sources = "".join(source for _, source in cells)
    assert cells[0][1].startswith("def twice(x):")
    assert "#@save" not in sources  # the first-line marker and the stray one inside a cell
    assert "print(twice(3))" not in sources


def test_each_definition_names_its_line_in_the_py_twin(fake_section):
    text = export.render_module(fake_section)
    assert "# %% notebooks/py/10.9-test.py:9\ndef twice(x):" in text
    assert "# %% notebooks/py/10.9-test.py:18\nclass Box:" in text
    twin = NOTEBOOK_PY.splitlines()
    assert twin[9 - 1].startswith("def twice") and twin[18 - 1].startswith("class Box")


def test_rendered_module_is_importable_python_with_header(fake_section):
    text = export.render_module(fake_section)
    assert text.startswith("# Generated from notebooks/py/10.9-test.py")
    assert "DO NOT EDIT" in text.splitlines()[0]
    assert "import torch" not in text  # only what the saved cells use is imported
    namespace = {}
    exec(compile(text, "gen", "exec"), namespace)
    assert namespace["twice"](4) == 8
    assert namespace["__all__"] == ["twice", "Box", "LIMIT"]  # private names stay private


def test_d2l_names_become_imports_from_their_defining_module():
    body = ("def f(x):\n    d2l.check_shape(x)\n    return d2l.helper(x) + d2l.own(x)\n\n\n"
            "def own(x):\n    return x")
    known = {"check_shape": "..checks", "helper": ".s10_1_a"}
    text, imports = export.qualify(body, "test", known, {"f", "own"})
    assert "d2l." not in text and "check_shape(x)" in text and "helper(x) + own(x)" in text
    assert imports == {"..checks": {"check_shape"}, ".s10_1_a": {"helper"}}
    with pytest.raises(SystemExit, match="d2l.missing"):
        export.qualify("y = d2l.missing(1)", "test", known, set())
    with pytest.raises(SystemExit, match="clash"):
        export.qualify("def g(helper):\n    return d2l.helper(helper)", "test", known, {"g"})


def test_a_name_the_notebook_imports_from_the_library_is_imported_by_its_module(fake_section):
    twin = common.ROOT / "notebooks" / "py" / "10.9-test.py"
    twin.write_text(NOTEBOOK_PY.replace("import torch\n", "import torch\n"
                                        "from d2l_attention.checks import check_shape, other\n")
                    + "\n# %%\n#@save\ndef checked(x):\n    check_shape(x, 'x', 'n')\n"
                      "    return x\n", encoding="utf-8")
    text = export.render_module(fake_section)
    assert "from ..checks import check_shape\n" in text  # what the saved cells use, only


def test_go_to_definition_lands_on_the_definition_of_every_imported_name():
    """What an editor does (jedi ships with IPython): every name a generated section imports,
    followed from its first use in the code, lands on the `def`/`class`/assignment that defines
    it in the library or an earlier section."""
    import ast

    import jedi

    checked = 0
    for path in sorted((ROOT / "d2l_attention" / "sections").glob("s10_*.py")):
        text = path.read_text(encoding="utf-8")
        tree = ast.parse(text)
        imported = {a.name for node in tree.body if isinstance(node, ast.ImportFrom) and node.level
                    for a in node.names}
        uses = {}
        for node in ast.walk(tree):
            if isinstance(node, ast.Name) and node.id in imported:
                uses.setdefault(node.id, (node.lineno, node.col_offset))
        assert set(uses) == imported, f"{path.name} imports names it never uses"
        script = jedi.Script(text, path=str(path), project=jedi.Project(str(ROOT)))
        for name, (line, col) in uses.items():
            found = script.goto(line, col, follow_imports=True)
            assert found, f"{path.name}:{line}: go-to-definition of {name} found nothing"
            target = found[0]
            checked += 1
            if target.type == "module":  # a module the library re-exports (`plt`)
                continue
            assert target.name == name and target.module_path.parent.parts[-1] in (
                "d2l_attention", "sections"), (path.name, name, target.module_path)
            source = Path(target.module_path).read_text(encoding="utf-8").splitlines()
            defining = source[target.line - 1].lstrip()
            assert defining.startswith((f"def {name}", f"class {name}", f"{name} =", f"{name}:")), \
                (path.name, name, defining)
    assert checked > 20


def test_module_names_follow_chapter_numbers():
    sec = {"number": "10.3", "module": "attention_scoring"}
    assert common.module_name(sec) == "s10_3_attention_scoring"


def test_index_imports_sections_in_order():
    secs = [{"number": "10.2", "module": "b"}, {"number": "10.1", "module": "a"}]
    index = export.render_index(secs)
    assert index.index("s10_2_b") < index.index("s10_1_a")  # order of chapters.yml, not sorted
    assert "_publish" not in index and "setattr" not in index


def test_written_sections_exist_and_planned_are_skipped():
    all_secs = common.load_sections(include_planned=True)
    written = common.load_sections()
    assert [s["number"] for s in all_secs] == [f"10.{i}" for i in range(1, 9)]
    assert written and all(s["status"] == "written" for s in written)
    for sec in written:
        assert (ROOT / sec["notebook"]).exists(), sec["notebook"]
        assert common.twin_path(sec["notebook"]).exists()


def test_check_pairs_detects_drift(tmp_path, monkeypatch):
    nb_dir = tmp_path / "notebooks"
    (nb_dir / "py").mkdir(parents=True)
    (tmp_path / "jupytext.toml").write_text((ROOT / "jupytext.toml").read_text())
    src = ROOT / "notebooks"
    ipynb_text = (src / "10.1-attention-cues.ipynb").read_text(encoding="utf-8")
    (nb_dir / "10.1-x.ipynb").write_text(ipynb_text, encoding="utf-8")
    py_text = (src / "py" / "10.1-attention-cues.py").read_text(encoding="utf-8")
    (nb_dir / "py" / "10.1-x.py").write_text(py_text, encoding="utf-8")
    monkeypatch.setattr(common, "ROOT", tmp_path)
    assert nbtools.cmd_check_pairs() == 0
    twin = nb_dir / "py" / "10.1-x.py"
    twin.write_text(py_text + "\n# %%\nprint('new cell')\n", encoding="utf-8")
    assert nbtools.cmd_check_pairs() == 1
    twin.unlink()
    assert nbtools.cmd_check_pairs() == 1  # an unpaired notebook is drift too


def test_stored_notebooks_were_executed():
    """Every written notebook has outputs from a real run: all code cells executed in order."""
    for sec in common.load_sections():
        nb = json.loads((ROOT / sec["notebook"]).read_text(encoding="utf-8"))
        counts = [c.get("execution_count") for c in nb["cells"] if c["cell_type"] == "code"]
        assert all(isinstance(n, int) for n in counts), f"{sec['notebook']} has unexecuted cells"
        assert counts == sorted(counts), f"{sec['notebook']} was not executed top to bottom"


# ------------------------------------------------------------ environment management


def test_venv_interpreter_path_per_os(monkeypatch):
    venv = Path("some") / ".venv"
    monkeypatch.setattr(environment.os, "name", "posix")
    assert environment.venv_python(venv).parts[-2:] == ("bin", "python")
    monkeypatch.setattr(environment.os, "name", "nt")
    assert environment.venv_python(venv).parts[-2:] == ("Scripts", "python.exe")


def test_unsupported_python_is_refused_with_the_fix():
    with pytest.raises(SystemExit) as info:
        environment.check_supported((3, 10), "python3.10")
    message = str(info.value)
    assert "3.10" in message and "3.11, 3.12, 3.13" in message and "setup" in message
    environment.check_supported((3, 12), "python3.12")  # supported: no error


def test_install_digest_tracks_flavour_and_ignores_line_ends(tmp_path, monkeypatch):
    for name in ("requirements.txt", "pyproject.toml"):
        (tmp_path / name).write_bytes(b"torch==2.13.0\nnumpy==2.4.6\n")
    monkeypatch.setattr(common, "ROOT", tmp_path)
    lf = environment.requirements_digest("default")
    assert environment.requirements_digest("cpu") != lf
    for name in ("requirements.txt", "pyproject.toml"):
        (tmp_path / name).write_bytes(b"torch==2.13.0\r\nnumpy==2.4.6\r\n")
    assert environment.requirements_digest("default") == lf
    (tmp_path / "requirements.txt").write_bytes(b"torch==2.13.0\nnumpy==2.4.7\n")
    assert environment.requirements_digest("default") != lf


def test_cpu_torch_comes_from_pytorchs_index_before_the_requirements():
    default = environment.install_commands(Path("py"), "default")
    assert not any(environment.TORCH_CPU_INDEX in cmd for cmd in default)
    cpu = environment.install_commands(Path("py"), "cpu")
    assert environment.TORCH_CPU_INDEX in cpu[0] and environment.pinned_torch() in cpu[0]
    assert "-r" in cpu[1] and cpu[2][-2:] == ["-e", str(ROOT)]
    assert environment.pinned_torch().startswith("torch==")


@pytest.mark.parametrize("platform, gpu, requested, want", [
    ("linux", False, "auto", "cpu"),        # no NVIDIA GPU: the small CPU-only build
    ("linux", True, "auto", "default"),     # a GPU: the registry's CUDA build
    ("linux", False, "cuda", "default"),    # asked for CUDA anyway
    ("linux", False, "default", "default"),
    ("linux", True, "cpu", "cpu"),          # asked for CPU despite the GPU
    ("darwin", False, "auto", "default"),   # macOS and Windows: unchanged
    ("win32", False, "auto", "default"),
    ("win32", True, "auto", "default"),
    ("win32", False, "cpu", "cpu"),
])
def test_torch_build_by_platform_gpu_and_override(platform, gpu, requested, want):
    assert environment.torch_flavour(platform, gpu, requested) == want


def test_an_unknown_torch_build_says_which_ones_exist():
    with pytest.raises(SystemExit) as info:
        environment.torch_flavour("linux", False, "rocm")
    assert "rocm" in str(info.value) and "cpu" in str(info.value) and "cuda" in str(info.value)


def test_the_gpu_is_detected_from_nvidia_smi_or_the_driver(monkeypatch):
    monkeypatch.setattr(environment.shutil, "which", lambda name: None)
    monkeypatch.setattr(environment.Path, "is_dir", lambda self: False)
    assert not environment.nvidia_gpu_present()
    monkeypatch.setattr(environment.shutil, "which",
                        lambda name: "/usr/bin/nvidia-smi" if name == "nvidia-smi" else None)
    assert environment.nvidia_gpu_present()
    monkeypatch.setattr(environment.shutil, "which", lambda name: None)
    monkeypatch.setattr(environment.Path, "is_dir",
                        lambda self: self.as_posix() == "/proc/driver/nvidia")
    assert environment.nvidia_gpu_present()


def test_setup_defaults_to_auto_and_reads_d2l_torch(monkeypatch):
    monkeypatch.delenv("D2L_TORCH", raising=False)
    assert book.parse(["setup"]).torch == "auto"
    monkeypatch.setenv("D2L_TORCH", "cuda")
    assert book.parse(["setup"]).torch == "cuda"


@pytest.fixture
def no_install(monkeypatch):
    installs = []
    monkeypatch.setattr(environment, "refresh_install",
                        lambda py, venv, flavour: installs.append(venv))
    return installs


def other_python():
    """An installed interpreter whose major.minor differs from this one, or skip."""
    import glob

    root = os.environ.get("PYENV_ROOT") or str(Path.home() / ".pyenv")
    for minor in (12, 13, 11):
        if minor == sys.version_info.minor:
            continue
        for path in sorted(glob.glob(f"{root}/versions/3.{minor}.*/bin/python3.{minor}")):
            return path
    pytest.skip("no second Python 3.11-3.13 installed")


@pytest.mark.subprocess
def test_venv_is_recreated_only_when_major_minor_changes(tmp_path, no_install):
    venv = tmp_path / "venv"
    other = other_python()
    environment.ensure_venv(venv, "default", base_python=other)
    version = environment.python_version
    assert version(environment.venv_python(venv)) == version(other)
    (venv / "keep-me").write_text("x")
    environment.ensure_venv(venv, "default", base_python=other)  # same version: kept as it is
    assert (venv / "keep-me").exists()
    environment.ensure_venv(venv, "default", base_python=sys.executable)  # another version: rebuilt
    assert not (venv / "keep-me").exists()
    assert environment.python_version(environment.venv_python(venv)) == sys.version_info[:2]
    assert len(no_install) == 3


def test_lab_keeps_its_token_and_listens_on_loopback(capsys):
    cmd = book.lab_command(8890, "127.0.0.1", ROOT / "notebooks")
    joined = " ".join(cmd)
    assert "--ServerApp.ip=127.0.0.1" in joined and "--ServerApp.port=8890" in joined
    assert "token" not in joined and "password" not in joined  # JupyterLab's own random token
    assert book.cmd_lab(8890, "0.0.0.0", dry_run=True) == 0
    out = capsys.readouterr().out
    assert "warning" in out and "token" in out


@pytest.mark.subprocess
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


def test_generated_headers_use_posix_paths():
    sec = common.load_sections()[0]
    text = export.render_module(sec)
    assert "\\" not in text.splitlines()[1]
    assert "make sync execute" in text and "tools/book.py execute" in text


def test_commands_parse_their_own_options():
    """Each tool module's parser takes its options; the command's words are kept as typed."""
    args = book.parse(["bench", "sweep", "--kernels", "avx2", "--seeds", "2"])
    assert (args.cmd, args.mode, args.kernels, args.seeds) == ("bench", "sweep", "avx2", 2)
    assert args.argv == ["sweep", "--kernels", "avx2", "--seeds", "2"]
    args = book.parse(["--torch", "cpu", "grade-check", "--sections", "10.1"])
    assert args.torch == "cpu" and args.command == "grade-check" and args.sections == ["10.1"]
    assert book.parse(["lib", "--check"]).check
    with pytest.raises(SystemExit):
        book.parse(["bench", "train", "--no-such-option"])


def test_every_sweep_runs_from_the_command_line(monkeypatch):
    """`book.py sweep NAME ARGS` hands ARGS to that sweep; a sweep that measures one CPU kernel
    per process gets one fresh process per kernel of --kernels, under ATEN_CPU_CAPABILITY."""
    import sweeps

    seen, started = [], []
    monkeypatch.setattr(sweeps, "module_main",
                        lambda name: lambda argv: seen.append((name, argv)) or 0)
    monkeypatch.setattr(sweeps.subprocess, "run", lambda cmd, env, check: started.append(
        (cmd[cmd.index("sweep") + 1:], env.get("ATEN_CPU_CAPABILITY"))))
    for name in sweeps.SWEEPS:
        args = book.parse(["sweep", name, "--seeds", "2"])
        assert args.run(args) == 0
    assert seen == [(name, ["--seeds", "2"]) for name in sweeps.SWEEPS]
    args = book.parse(["sweep", "cloze", "--kernels", "default,native", "--seeds", "2"])
    assert args.run(args) == 0 and len(seen) == len(sweeps.SWEEPS)  # not in this process
    assert started == [(["cloze", "--seeds", "2"], "default"), (["cloze", "--seeds", "2"], None)]
    args = book.parse(["sweep", "alignment", "--kernels", "avx2"])  # alignment's own option
    assert args.run(args) == 0 and seen[-1] == ("alignment", ["--kernels", "avx2"])
    with pytest.raises(SystemExit):
        book.parse(["sweep", "no-such-sweep"])


def test_every_result_file_names_a_command_of_the_tool():
    """The appendix prints each result file's command as the way to reproduce it: each is a
    `python tools/book.py` command (or several joined by &&) that the tool parses."""
    import shlex

    import results

    for path in sorted(results.RESULTS.glob("*.json")):
        command = json.loads(path.read_text(encoding="utf-8")).get("command")
        if command is None:  # per-kernel files (`sweep heads`, `sweep cloze`) say so in "about"
            assert "python tools/book.py sweep" in json.loads(path.read_text())["about"], path
            continue
        words = shlex.split(command)
        while words:
            part = words[:words.index("&&")] if "&&" in words else words
            words = words[len(part) + 1:]
            assert part[:2] == ["python", "tools/book.py"], (path.name, part)
            book.parse(part[2:])


@pytest.mark.subprocess
def test_a_python_outside_the_venv_reruns_the_command_inside_it():
    """The entry point with the interpreter the venv was made from: it re-runs itself in .venv
    (already installed, so nothing is installed) and the command's own output comes back."""
    base = Path(sys.base_prefix) / ("python.exe" if os.name == "nt" else "bin/python3")
    if sys.prefix == sys.base_prefix or not base.exists():
        pytest.skip("needs the tests to run inside a virtual environment made from a Python")
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "D2L_BOOK_REENTERED")}
    env["D2L_VENV"] = sys.prefix
    proc = subprocess.run([str(base), str(ROOT / "tools" / "book.py"), "notebooks"], cwd=ROOT,
                          capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == [s["notebook"] for s in common.load_sections()]


def test_lab_overrides_free_the_arrow_keys_for_sliders_and_keep_other_settings(tmp_path):
    path = tmp_path / "share" / "jupyter" / "lab" / "settings" / "overrides.json"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({"@jupyterlab/apputils-extension:themes": {"theme": "dark"}}))
    assert environment.write_lab_overrides(tmp_path) == path
    settings = json.loads(path.read_text())
    assert settings["@jupyterlab/apputils-extension:themes"] == {"theme": "dark"}
    shortcuts = settings["@jupyterlab/shortcuts-extension:shortcuts"]["shortcuts"]
    for key in ("ArrowUp", "ArrowDown", "ArrowLeft", "ArrowRight"):
        bound = [s for s in shortcuts if s["keys"] == [key]]
        assert [s.get("disabled", False) for s in bound] == [True, False]
        assert bound[1]["selector"].endswith(":focus:not(input):not(select)")
    notifications = settings["@jupyterlab/apputils-extension:notification"]
    assert notifications == {"fetchNews": "false", "checkForUpdates": False}  # no news prompt
    before = path.stat().st_mtime_ns
    environment.write_lab_overrides(tmp_path)
    assert path.stat().st_mtime_ns == before  # unchanged settings are not rewritten


def test_nbgrader_lab_extension_is_off_for_readers_and_on_for_teachers(tmp_path):
    path = environment.write_page_config(tmp_path, teacher=False)
    assert json.loads(path.read_text())["disabledExtensions"] == {"@jupyter/nbgrader": True}
    path.write_text(json.dumps({"disabledExtensions": {"other": True}, "x": 1}))
    environment.write_page_config(tmp_path, teacher=True)
    assert json.loads(path.read_text()) == {
        "disabledExtensions": {"other": True, "@jupyter/nbgrader": False}, "x": 1}


def test_lab_file_browser_shows_one_entry_per_section():
    """`make lab` opens on notebooks/: each section is one .ipynb there; the .py twins, the diagrams
    and the appendix page are not more entries per section (the twins sit in notebooks/py/)."""
    entries = {p.name for p in (ROOT / "notebooks").iterdir()
               if not p.name.startswith(".") and p.name != "__pycache__"}
    sections = {Path(s["notebook"]).name for s in common.load_sections()}
    assert sections <= entries
    assert sorted(entries - sections) == ["appendix-reproducibility.html", "figures", "py"]
    assert sorted(p.name for p in common.twins()) == sorted(
        Path(n).stem + ".py" for n in sections)

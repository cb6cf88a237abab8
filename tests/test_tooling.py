"""Tests of the chapters.yml tooling in tools/book.py (library extraction, pair checks)."""

import importlib.util
import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def book():
    spec = importlib.util.spec_from_file_location("book", ROOT / "tools" / "book.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


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
    assert len(cells) == 2
    assert cells[0].startswith("def twice(x):")
    assert "#@save" not in "".join(cells)
    assert "print(twice(3))" not in "".join(cells)


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

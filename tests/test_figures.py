"""Tests of tools/figures.py: the committed chapter diagrams exist, are valid and up to date."""

import shutil
import xml.etree.ElementTree as ET

import pytest
from chapters import ROOT

SCRIPT = ROOT / "tools" / "figures.py"
COMMITTED = ROOT / "notebooks" / "figures"
SVG_NS = "{http://www.w3.org/2000/svg}"
MAX_BYTES = 150_000


@pytest.fixture(scope="module")
def figures():
    import figures

    return figures


@pytest.fixture(scope="module")
def same_matplotlib(figures):
    """Byte comparisons only hold for the matplotlib that drew the committed files."""
    import matplotlib

    if matplotlib.__version__ != figures.PINNED_MATPLOTLIB:
        pytest.skip(f"figures are drawn with matplotlib {figures.PINNED_MATPLOTLIB}, "
                    f"this is {matplotlib.__version__}")


def test_registry_covers_eight_sections(figures):
    sections = sorted(name.split("-")[0] for name in figures.FIGURES)
    assert sections == [f"10.{i}" for i in range(1, 9)]
    assert all(callable(draw) for draw in figures.FIGURES.values())


def test_every_figure_is_committed_and_nothing_else(figures):
    committed = {path.stem for path in COMMITTED.glob("*.svg")}
    assert sorted(set(figures.FIGURES) - committed) == [], "run python tools/figures.py"
    assert sorted(committed - set(figures.FIGURES)) == [], "stale SVG not in FIGURES"


@pytest.mark.parametrize("name", sorted(p.stem for p in COMMITTED.glob("*.svg")))
def test_committed_file_is_valid_svg(name):
    path = COMMITTED / f"{name}.svg"
    data = path.read_bytes()
    assert 0 < len(data) < MAX_BYTES
    root = ET.fromstring(data)  # raises on malformed XML
    assert root.tag == f"{SVG_NS}svg"
    width = float(root.get("width").removesuffix("pt"))
    assert 500 <= width <= 700, "about 9 inches wide"  # 72 pt per inch
    # Text is stored as glyph paths, so the figure needs no fonts where it is shown.
    assert root.find(f".//{SVG_NS}text") is None
    assert b"<dc:date>" not in data and b"\r" not in data  # no date; LF line ends
    assert not any("\u4e00" <= ch <= "\u9fff" for ch in data.decode("utf-8")), "English only"


def test_check_detects_modified_and_missing_files(figures, same_matplotlib, tmp_path, capsys):
    names = ["10.1-qkv-pooling", "10.5-multihead", "10.6-cnn-rnn-self-attention"]
    for name in names:
        shutil.copy(COMMITTED / f"{name}.svg", tmp_path)
    changed = tmp_path / f"{names[1]}.svg"
    changed.write_bytes(changed.read_bytes().replace(b"#7e57c2", b"#7e57c3", 1))
    (tmp_path / f"{names[2]}.svg").unlink()

    assert figures.check_figures(tmp_path, names) == [f"{names[1]}.svg (differs)",
                                                      f"{names[2]}.svg (missing)"]
    assert figures.main(["--check", "--out", str(tmp_path), "--only", names[1]]) == 1
    out = capsys.readouterr().out
    assert f"{names[1]}.svg (differs)" in out and names[0] not in out
    assert figures.main(["--check", "--out", str(tmp_path), "--only", names[0]]) == 0


def test_only_writes_one_reproducible_file(figures, tmp_path, capsys):
    name = "10.3-scoring"
    assert figures.main(["--out", str(tmp_path), "--only", name]) == 0
    assert [p.name for p in tmp_path.iterdir()] == [f"{name}.svg"]
    assert capsys.readouterr().out.strip() == f"wrote {tmp_path / (name + '.svg')}"
    first = (tmp_path / f"{name}.svg").read_bytes()
    figures.main(["--out", str(tmp_path), "--only", name])
    assert (tmp_path / f"{name}.svg").read_bytes() == first


def test_unknown_figure_is_refused(figures):
    with pytest.raises(SystemExit):
        figures.main(["--only", "10.9-nothing"])

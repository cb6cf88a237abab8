"""chapters.yml as the tests read it: directly, not through the tooling under test."""

from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent


def toc():
    return yaml.safe_load((ROOT / "chapters.yml").read_text(encoding="utf-8"))


def written_sections():
    return [s for s in toc()["sections"] if s["status"] == "written"]


def page_of(sec):
    """The HTML page `make html` writes for a section."""
    return Path(sec["notebook"]).stem + ".html"


def twin_of(sec):
    """A section's py:percent twin, notebooks/py/<name>.py (jupytext.toml: `py//py:percent`)."""
    nb = ROOT / sec["notebook"]
    return nb.parent / "py" / (nb.stem + ".py")

"""`make html`: every written section has a page, links and images resolve, nothing is fetched."""

import base64
import re
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest
from chapters import page_of, toc, written_sections

ROOT = Path(__file__).resolve().parent.parent


class Page(HTMLParser):
    """Collects the tags the checks need; text is kept for title lookups."""

    def __init__(self, path):
        super().__init__(convert_charrefs=True)
        self.links, self.imgs, self.scripts, self.rel, self.text = [], [], [], {}, []
        self.img_alts = []
        self.feed(path.read_text(encoding="utf-8"))

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "a" and a.get("href"):
            self.links.append(a["href"])
            if a.get("rel"):
                self.rel.setdefault(a["rel"], set()).add(a["href"])
        elif tag == "link" and a.get("href"):
            self.links.append(a["href"])
        elif tag == "img":
            self.imgs.append(a.get("src") or "")
            self.img_alts.append(a.get("alt") or "")
        elif tag == "script":
            self.scripts.append(a.get("src"))

    def handle_data(self, data):
        self.text.append(data)


def local_target(page: Path, href: str):
    """The file a relative link points to, or None for anchors and remote links."""
    parts = urlsplit(href)
    if parts.scheme or parts.netloc or not parts.path:
        return None
    return (page.parent / unquote(parts.path)).resolve()


@pytest.fixture(scope="module")
def site(book_build):
    return book_build("html", timeout=300)


def test_index_lists_every_section_in_both_languages(site):
    index = Page(site / "index.html")
    text = " ".join(index.text)
    meta = toc()
    assert meta["title"]["zh"] in text and meta["title"]["en"] in text
    for sec in meta["sections"]:
        assert sec["zh"] in text and sec["en"] in text, sec["number"]
    for sec in written_sections():
        assert page_of(sec) in index.links
        assert (site / page_of(sec)).is_file()


@pytest.mark.parametrize("i", range(len(written_sections())))
def test_section_page(site, i):
    sections = written_sections()
    sec = sections[i]
    path = site / page_of(sec)
    page = Page(path)
    assert f"{sec['number']} {sec['zh']}" in " ".join(page.text)
    # prev/next follow chapters.yml and exist; index is always reachable
    want_prev = {page_of(sections[i - 1])} if i > 0 else set()
    want_next = {page_of(sections[i + 1])} if i + 1 < len(sections) else set()
    assert page.rel.get("prev", set()) == want_prev
    assert page.rel.get("next", set()) == want_next
    assert page.rel.get("index") == {"index.html"}
    for href in page.links:
        target = local_target(path, href)
        if target is not None:
            assert target.is_file(), f"{page_of(sec)}: broken link {href}"
    for src in page.imgs:
        if src.startswith("data:"):
            header, _, payload = src.partition(",")
            assert header.startswith("data:image/") and ";base64" in header, src[:60]
            assert base64.b64decode(payload, validate=True), f"empty image in {page_of(sec)}"
        else:
            target = local_target(path, src)
            assert target is not None and target.is_file(), f"{page_of(sec)}: image {src!r}"
    # No script comes from the network; the one MathJax is the local copy and it exists.
    for src in page.scripts:
        if src is not None:
            assert not re.match(r"(?i)^(https?:)?//", src), src
            assert local_target(path, src).is_file(), src
    assert "mathjax/MathJax.js" in " ".join(s for s in page.scripts if s)


def test_stored_outputs_are_rendered(site):
    # 10.1 plots heatmaps: its stored images must reach the page.
    first = next(s for s in written_sections() if s["number"] == "10.1")
    assert Page(site / page_of(first)).imgs, "10.1 page shows no image"


def test_mathjax_is_complete_locally(site):
    mj = site / "mathjax"
    assert (mj / "MathJax.js").is_file()
    assert (mj / "config" / "TeX-AMS-MML_HTMLorMML-full.js").is_file()
    assert list((mj / "fonts" / "HTML-CSS" / "STIX-Web").rglob("*.woff"))


FIGURE_REF = re.compile(r"!\[([^\]]+)\]\((figures/[^)]+\.svg)\)")


@pytest.mark.parametrize("sec", written_sections(), ids=lambda s: s["number"])
def test_every_diagram_is_on_its_page(site, sec):
    """Each section shows at least one of our diagrams; every one its notebook references is on
    the page, embedded as the very SVG file from notebooks/figures/."""
    notebook = ROOT / sec["notebook"]
    refs = FIGURE_REF.findall(notebook.read_text(encoding="utf-8"))
    assert refs, f"{sec['notebook']} shows no diagram from notebooks/figures/"
    page = Page(site / page_of(sec))
    embedded = dict(zip(page.img_alts, page.imgs))
    for alt, rel in refs:
        assert alt in embedded, f"{page_of(sec)}: diagram {rel} ({alt!r}) is missing"
        header, _, payload = embedded[alt].partition(",")
        assert header == "data:image/svg+xml;base64", header
        svg = (notebook.parent / rel).read_bytes()
        assert base64.b64decode(payload) == svg, f"{page_of(sec)}: {rel} differs from the file"


@pytest.mark.parametrize("sec", written_sections(), ids=lambda s: s["number"])
def test_checks_left_out_and_solutions_behind_a_toggle(site, sec):
    """The HTML book leaves the `check` cells out and shows each solution inside a closed
    `<details>` "参考答案" toggle."""
    import cells
    import jupytext

    nb = jupytext.read(ROOT / sec["notebook"].replace(".ipynb", ".py"))
    html = (site / page_of(sec)).read_text(encoding="utf-8")
    solutions = sum(cells.is_solution(c) for c in nb.cells)
    assert html.count('<details class="solution">') == solutions
    assert html.count("<summary>参考答案") == solutions
    shown = "".join(Page(site / page_of(sec)).text)  # highlighted code, spans joined again
    for cell in nb.cells:
        line = max(cell.source.splitlines() or [""], key=len).strip()
        if cell.cell_type == "code" and line and not cells.is_solution(cell):
            left_out = cells.is_check(cell) or cells.is_hidden_tests(cell)
            what = "a left-out cell is shown" if left_out else "a lesson cell is missing"
            assert (line in shown) != left_out, f"{page_of(sec)}: {what}: {line!r}"


def test_the_appendix_is_linked_from_the_index_and_rendered_from_results(site):
    extra = toc()["appendix"]
    assert extra["page"] in Page(site / "index.html").links
    page = Page(site / extra["page"])
    text = " ".join(page.text)
    assert extra["zh"] in text and extra["en"] in text
    assert "results/" in text and "python tools/book.py" in text  # provenance of each table
    assert page.rel.get("index") == {"index.html"}
    assert not [s for s in page.scripts if s]  # a static page: nothing to fetch

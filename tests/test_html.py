"""`make html`: the book built by Sphinx from chapters.yml: every written section and the appendix
has a page, links and images resolve, nothing is fetched from the network, the notebooks are
shown as a reader gets them. The renderer's own Markdown fixes are tested without a build."""

import re
from html import unescape
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

import htmlbook
import pytest
from chapters import page_of, toc, twin_of, written_sections

ROOT = Path(__file__).resolve().parent.parent


class Page(HTMLParser):
    """Collects the tags the checks need; the article's text is kept apart from the page's."""

    def __init__(self, path):
        super().__init__(convert_charrefs=True)
        self.links, self.imgs, self.scripts, self.rel, self.text = [], [], [], {}, []
        self.img_alts, self.classes, self.article, self._in_article = [], {}, [], 0
        self.feed(path.read_text(encoding="utf-8"))

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "article":
            self._in_article += 1
        if tag == "a" and a.get("href"):
            self.links.append(a["href"])
            for cls in (a.get("class") or "").split():
                self.classes.setdefault(cls, []).append(a["href"])
        elif tag == "link" and a.get("href"):
            self.links.append(a["href"])
            if a.get("rel"):
                self.rel.setdefault(a["rel"], set()).add(a["href"])
        elif tag == "img":
            self.imgs.append(a.get("src") or "")
            self.img_alts.append(a.get("alt") or "")
        elif tag == "script":
            self.scripts.append(a.get("src"))

    def handle_endtag(self, tag):
        if tag == "article":
            self._in_article -= 1

    def handle_data(self, data):
        self.text.append(data)
        if self._in_article:
            self.article.append(data)


def local_target(page: Path, href: str):
    """The file a relative link points to, or None for anchors and remote links."""
    parts = urlsplit(href)
    if parts.scheme or parts.netloc or not parts.path:
        return None
    return (page.parent / unquote(parts.path)).resolve()


# ---------------------------------------------------------------- the renderer, without a build

def test_a_pipe_inside_math_on_a_table_row_becomes_vert():
    table = ("| 张量 | 形状 |\n|---|---|\n| 输出 | $(b, T, |\\mathcal{V}|)$ |\n"
             "| 范数 | $\\|x\\|$ |\n")
    fixed = htmlbook.table_safe(table + "正文 $|x|$ 不在表格里\n")
    assert "$(b, T, \\vert \\mathcal{V}\\vert )$" in fixed
    assert "$\\Vert x\\Vert $" in fixed
    assert fixed.endswith("正文 $|x|$ 不在表格里\n")  # prose keeps its math as written
    # Each row now has as many cells as its header: the table parser splits at the pipes.
    rows = [line for line in fixed.splitlines() if line.startswith("|")]
    assert {line.count("|") for line in rows} == {3}


def test_the_fixed_table_renders_as_a_table_with_its_math():
    from markdown_it import MarkdownIt
    from mdit_py_plugins.dollarmath import dollarmath_plugin

    md = MarkdownIt("commonmark").enable("table").use(dollarmath_plugin)
    source = "| 张量 | 形状 |\n|---|---|\n| 解码器输出 | $(b, T, |\\mathcal{V}|)$ |\n"
    broken = md.render(source)
    fixed = md.render(htmlbook.table_safe(source))
    assert "\\mathcal{V}" not in broken  # as written, the pipes cut the math off the row
    assert "<table>" in fixed and fixed.count("<td>") == 2
    assert "(b, T, \\vert \\mathcal{V}\\vert )" in fixed


def test_links_to_book_pages_point_at_their_sources_and_result_markers_go():
    pages = {"appendix-reproducibility.html": "appendix-reproducibility.md"}
    text = ("见[附录](appendix-reproducibility.html)和[表](appendix-reproducibility.html#speed)，"
            "BLEU 0.518<!-- result: heldout | summary.x | .3f -->。[外](https://d2l.ai/a.html)")
    out = htmlbook.reader_markdown(text, pages)
    assert "(appendix-reproducibility.md)" in out and "(appendix-reproducibility.md#speed)" in out
    assert "<!--" not in out and "BLEU 0.518。" in out
    assert "(https://d2l.ai/a.html)" in out


def test_chinese_lines_join_without_a_space_but_code_keeps_its_lines():
    text = ("模型把整个源句子压进隐状态，\n解码器只能看它。\nBahdanau 等人\n提出：\n\n"
            "```python\n# 第一行\n# 第二行\n```\n")
    out = htmlbook.join_cjk_lines(text)
    assert out.startswith("模型把整个源句子压进隐状态，解码器只能看它。\nBahdanau 等人提出：")
    assert "# 第一行\n# 第二行" in out


def test_solutions_sit_between_the_toggles_cells_and_checks_are_left_out(tmp_path):
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("# 10.0 示例"),
                nbformat.v4.new_code_cell("x = 1", metadata={"tags": ["check"]}),
                nbformat.v4.new_code_cell("y = 2", metadata={"tags": ["solution"]}),
                nbformat.v4.new_code_cell("assert y == 2", metadata={"tags": ["hidden-tests"]})]
    path = tmp_path / "10.0.ipynb"
    nbformat.write(nb, path)
    shown = htmlbook.book_notebook(path, {})
    sources = [c.source for c in shown.cells]
    assert sources == ["# 10.0 示例",
                       '<details class="solution"><summary>参考答案</summary>', "y = 2",
                       "</details>"]
    assert not any(c.metadata.get("tags") for c in shown.cells)


def test_a_lesson_cell_collapsed_in_jupyterlab_is_folded_in_the_book(tmp_path):
    """An answer table its author collapsed (under a guess-first question) stays closed here."""
    import nbformat

    folded = {"jupyter": {"source_hidden": True, "outputs_hidden": True}}
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("table()", metadata=folded),
                nbformat.v4.new_code_cell("shown()")]
    path = tmp_path / "10.0.ipynb"
    nbformat.write(nb, path)
    sources = [c.source for c in htmlbook.book_notebook(path, {}).cells]
    assert sources == [f'<details class="folded"><summary>{htmlbook.FOLDED_SUMMARY}</summary>',
                       "table()", "</details>", "shown()"]


def test_the_appendix_page_beside_the_notebooks_is_current():
    """The notebooks link to appendix-reproducibility.html: in JupyterLab that is the page
    beside them, generated from results/ like the book's appendix."""
    path, html = htmlbook.notebook_appendix()
    assert path.is_file(), f"{path.name} is missing beside the notebooks: run `make html`"
    assert path.read_text(encoding="utf-8") == html, \
        f"notebooks/{path.name} is stale: run `make html` (results/ changed)"
    linked = [nb for nb in (ROOT / "notebooks").glob("*.ipynb")
              if path.name in nb.read_text(encoding="utf-8")]
    assert linked, f"no notebook links to {path.name}"


# ---------------------------------------------------------------- the built book

@pytest.fixture(scope="module")
def site(book_build):
    return book_build("html", timeout=300)


def test_the_sources_are_generated_beside_the_output_not_in_the_repository(site):
    sources = htmlbook.sources_dir(site)
    assert (sources / "conf.py").is_file() and (sources / "index.md").is_file()
    assert not sources.is_relative_to(ROOT)
    conf = (sources / "conf.py").read_text(encoding="utf-8")
    assert 'nb_execution_mode = "off"' in conf


def test_landing_page_says_what_the_book_is_links_each_notebook_and_how_to_run_it(site):
    index = Page(site / "index.html")
    text = " ".join(index.text)
    meta = toc()
    assert meta["title"]["zh"] in text and meta["title"]["en"] in text
    for sec in meta["sections"]:
        assert sec["zh"] in text and sec["en"] in text, sec["number"]
    for sec in written_sections():
        assert page_of(sec) in index.links
        assert (site / page_of(sec)).is_file()
        download = f"notebooks/{Path(sec['notebook']).name}"
        assert download in index.links, f"no download link for {sec['number']}"
        assert (site / download).read_bytes() == (ROOT / sec["notebook"]).read_bytes()
    code = "".join(index.text)  # highlighted commands, spans joined again
    assert "make lab" in code and "make test" in code and "tools/book.py lab" in code


@pytest.mark.parametrize("i", range(len(written_sections())))
def test_section_page(site, i):
    sections = written_sections()
    pages = ["index.html", *[page_of(s) for s in sections], toc()["appendix"]["page"]]
    sec = sections[i]
    path = site / page_of(sec)
    page = Page(path)
    assert f"{sec['number']} {sec['zh']}" in " ".join(page.text)
    # previous/next follow chapters.yml: the landing page first, the appendix last
    assert page.rel.get("prev") == {pages[i]}
    assert page.rel.get("next") == {pages[i + 2]}
    assert page.classes.get("left-prev") == [pages[i]]
    assert page.classes.get("right-next") == [pages[i + 2]]
    for href in page.links:
        target = local_target(path, href)
        if target is not None:
            assert target.is_file(), f"{page_of(sec)}: broken link {href}"
    for src in page.imgs:
        target = local_target(path, src)
        assert target is not None and target.is_file(), f"{page_of(sec)}: image {src!r}"
    # No script comes from the network; MathJax is the local copy, vega.js the local bundle.
    for src in page.scripts:
        if src is not None:
            assert not re.match(r"(?i)^(https?:)?//", src), src
            assert local_target(path, src).is_file(), src
    scripts = " ".join(s for s in page.scripts if s)
    assert "_static/mathjax/MathJax.js" in scripts and "_static/vega.js" in scripts
    # The reader's text holds no prompt and no tooling marker.
    article = "".join(page.article)
    for marker in ("In [", "NBVAL", "BEGIN SOLUTION", "HIDDEN TESTS", "result:"):
        assert marker not in article, f"{page_of(sec)}: {marker!r} on the page"


def test_vega_only_where_there_is_an_explorer(site):
    for name in ("index.html", toc()["appendix"]["page"], "search.html"):
        assert "vega.js" not in (site / name).read_text(encoding="utf-8"), name


def test_stored_outputs_are_rendered(site):
    # 10.1 plots heatmaps: its stored images must reach the page.
    first = next(s for s in written_sections() if s["number"] == "10.1")
    assert any(src.endswith(".png") for src in Page(site / page_of(first)).imgs)


def test_mathjax_is_complete_locally(site):
    mj = site / "_static" / "mathjax"
    assert (mj / "MathJax.js").is_file()
    assert (mj / "config" / "TeX-AMS-MML_HTMLorMML-full.js").is_file()
    assert list((mj / "fonts" / "HTML-CSS" / "STIX-Web").rglob("*.woff"))


FIGURE_REF = re.compile(r"!\[([^\]]+)\]\((figures/[^)]+\.svg)\)")
TABLE_RULE = re.compile(r"^\|\s*:?-+:?\s*\|", re.MULTILINE)


@pytest.mark.parametrize("sec", written_sections(), ids=lambda s: s["number"])
def test_every_diagram_and_table_is_on_its_page(site, sec):
    """Each section shows at least one of our diagrams; every one its notebook references is on
    the page as the very SVG file from notebooks/figures/. Every Markdown table of the notebook
    is an HTML table on the page, none left as text."""
    notebook = ROOT / sec["notebook"]
    source = notebook.read_text(encoding="utf-8")
    refs = FIGURE_REF.findall(source)
    assert refs, f"{sec['notebook']} shows no diagram from notebooks/figures/"
    page = Page(site / page_of(sec))
    shown = dict(zip(page.img_alts, page.imgs))
    for alt, rel in refs:
        assert alt in shown, f"{page_of(sec)}: diagram {rel} ({alt!r}) is missing"
        assert (site / shown[alt]).read_bytes() == (notebook.parent / rel).read_bytes(), rel
    import jupytext

    tables = sum(len(TABLE_RULE.findall(c.source)) for c in
                 jupytext.read(twin_of(sec)).cells if c.cell_type == "markdown")
    html = (site / page_of(sec)).read_text(encoding="utf-8")
    article = html[html.index("<article"):html.index("</article>")]
    assert article.count("<table") == tables, f"{page_of(sec)}: {tables} Markdown tables"
    assert not TABLE_RULE.search("".join(page.article)), f"{page_of(sec)}: table text left"


@pytest.mark.parametrize("sec", written_sections(), ids=lambda s: s["number"])
def test_checks_left_out_and_solutions_behind_a_toggle(site, sec):
    """The HTML book leaves the `check` cells out and shows each solution inside a closed
    `<details>` "参考答案" toggle."""
    import cells
    import jupytext

    nb = jupytext.read(twin_of(sec))
    html = (site / page_of(sec)).read_text(encoding="utf-8")
    solutions = sum(cells.is_solution(c) for c in nb.cells)
    assert html.count('<details class="solution">') == solutions
    assert html.count("<summary>参考答案</summary>") == solutions
    assert "<details class=\"solution\" open" not in html
    shown = "".join(Page(site / page_of(sec)).text)  # highlighted code, spans joined again
    hidden = unescape(re.sub(r"<[^>]+>", "", "".join(
        re.findall(r'<details class="solution">(.*?)</details>', html, re.S))))
    for cell in nb.cells:
        line = max(cell.source.splitlines() or [""], key=len).strip()
        if cells.is_solution(cell) and cell.cell_type == "code" and line:
            assert line in hidden, f"{page_of(sec)}: a solution is outside its toggle: {line!r}"
    for cell in nb.cells:
        line = max(cell.source.splitlines() or [""], key=len).strip()
        if cell.cell_type == "code" and line and not cells.is_solution(cell):
            hidden = cells.is_check(cell) or cells.is_hidden_tests(cell)
            what = "a check cell is shown" if hidden else "a lesson cell is missing"
            assert (line in shown) != hidden, f"{page_of(sec)}: {what}: {line!r}"


def test_the_appendix_is_in_the_book_and_rendered_from_results(site):
    import appendix

    extra = toc()["appendix"]
    assert extra["page"] in Page(site / "index.html").links
    page = Page(site / extra["page"])
    text = " ".join(page.text)
    assert extra["zh"] in text and extra["en"] in text
    assert "results/" in text and "python tools/book.py" in text  # provenance of each table
    html = (site / extra["page"]).read_text(encoding="utf-8")
    for name, _title, table in appendix.parts():
        assert f'id="{name}"' in html, f"no anchor #{name}"
        assert table.split("<table>")[1].split("</table>")[0] in html, name
    assert page.rel.get("prev") == {page_of(written_sections()[-1])}
    assert not any(s for s in page.scripts if s and "vega" in s)


def test_search_index_holds_chinese_words(site):
    """Sphinx's Chinese search (jieba) indexed the sections' words: 注意力 is in every section."""
    index = (site / "searchindex.js").read_text(encoding="utf-8")
    for word in ("注意力", "掩码"):
        assert f'"{word}"' in index or f"\\u{ord(word[0]):04x}" in index, word

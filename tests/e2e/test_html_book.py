"""The HTML book (`make html`) in Debian's chromium with the network cut off.

On every page (the landing page, each section, the appendix), at desktop width: the sidebar lists
the sections and the appendix and its links open real pages, previous/next follow chapters.yml,
all LaTeX is typeset by the local MathJax without a TeX error, no raw Markdown table text and no
tooling marker is left, solutions are closed, each explorer's first control moves its chart; no
request leaves the page and the console shows no error. At 390 px the page does not scroll
sideways. Search for a Chinese word lists every section that uses it. Screenshots of every page
at both widths land in build/e2e/ (html-desktop-<page>.png, html-390-<page>.png), and one of each
section's first explorer in build/e2e/explorer-<section>.png.
"""

import re
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import quote, unquote, urlsplit

import pytest
from chapters import page_of, toc, written_sections
from explorer_controls import change_first_control

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
SHOTS = ROOT / "build" / "e2e"
TYPESET_S = 60
SECTIONS = [page_of(s) for s in written_sections()]
APPENDIX = toc()["appendix"]["page"]
PAGES = ["index.html", *SECTIONS, APPENDIX]
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}

# MathJax 2 turns each \(...\) into a <script type="math/tex"> and renders it as a span.MathJax.
TYPESET_DONE = """() => !document.querySelector('script[src*="MathJax.js"]') || (window.MathJax
    && MathJax.Hub && MathJax.Hub.queue && MathJax.Hub.queue.pending === 0
    && !MathJax.Hub.queue.running && document.readyState === 'complete')"""
MATH_STATE = """() => ({
    scripts: document.querySelectorAll('script[type^="math/tex"]').length,
    rendered: document.querySelectorAll('span.MathJax, div.MathJax_Display').length,
    errors: document.querySelectorAll('.MathJax_Error, .merror').length,
    // an undefined macro is drawn as its own name (MathJax's noUndefined): a backslash in the math
    undefined: Array.from(document.querySelectorAll('span.MathJax'))
        .map(e => e.textContent).filter(t => t.includes(String.fromCharCode(92))),
    text: document.querySelector('article').innerText,
    // the Markdown text only: without the typeset math, whose |x| reads like a table's pipes,
    // and without code and its outputs (a printed "max | |a| - |b| |" is not a table)
    prose: (() => {
        const hide = document.createElement('style');
        hide.textContent = '.MathJax, .MathJax_Display, .MathJax_Preview, pre, .cell_input, '
            + '.cell_output {display: none !important}';
        document.head.appendChild(hide);
        const text = document.querySelector('article').innerText;
        hide.remove();
        return text; })()})"""
EXPLORERS_DRAWN = """() => [...document.querySelectorAll('div.explorer')]
    .every(e => e.querySelector('svg.marks'))"""
# A Markdown table that was not parsed leaves its pipes in the text: `| a | b |` or `|---|`.
RAW_TABLE = re.compile(r"^\s*\|[^|\n]*\|[^|\n]*\|.*$|\|\s*:?-+:?\s*\|", re.MULTILINE)
MARKERS = ("NBVAL", "BEGIN SOLUTION", "END SOLUTION", "HIDDEN TESTS", "result:",
           "In [", "Out[")


@pytest.fixture(scope="module")
def site(book_build):
    return book_build("html")


def open_offline(browser, viewport):
    """A page whose requests other than file: and data: URLs are refused and recorded, and whose
    console errors are collected."""
    context = browser.new_context(viewport=viewport)
    refused = []

    def only_local(route):
        url = route.request.url
        if url.startswith(("file:", "data:")):
            route.continue_()
        else:
            refused.append(url)
            route.abort()

    context.route("**/*", only_local)
    page = context.new_page()
    page.set_default_timeout(TYPESET_S * 1000)
    problems = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(f"uncaught: {e}"))
    page.console_errors = problems
    page.refused = refused
    return context, page


@pytest.fixture
def desktop(browser):
    context, page = open_offline(browser, DESKTOP)
    yield page
    context.close()


@pytest.fixture
def phone(browser):
    context, page = open_offline(browser, PHONE)
    yield page
    context.close()


def load(page, path):
    page.goto(path.as_uri())
    page.wait_for_function(TYPESET_DONE, timeout=TYPESET_S * 1000)
    if page.locator("div.explorer").count():
        page.wait_for_function(EXPLORERS_DRAWN, timeout=TYPESET_S * 1000)


def shot(page, kind, name):
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"html-{kind}-{Path(name).stem}.png"))


@pytest.mark.parametrize("name", PAGES)
def test_page_at_desktop_width(site, desktop, name):
    page = desktop
    load(page, site / name)

    # The sidebar: every section and the appendix, each link opening a page of the book.
    sidebar = page.locator("nav.bd-docs-nav a.reference")
    hrefs = sidebar.evaluate_all("links => links.map(a => a.href)")  # resolved by the browser
    targets = {Path(unquote(urlsplit(h).path)) for h in hrefs}
    listed = {t.name for t in targets}
    assert set(SECTIONS) | {APPENDIX} <= listed, f"{name}: sidebar lists {sorted(listed)}"
    for href, target in zip(hrefs, targets):
        assert href.startswith("file:") and target.is_file(), f"{name}: sidebar link {href} is dead"
    # Previous and next follow chapters.yml, from the landing page to the appendix.
    i = PAGES.index(name)
    for selector, want in (("a.left-prev", PAGES[i - 1] if i > 0 else None),
                           ("a.right-next", PAGES[i + 1] if i + 1 < len(PAGES) else None)):
        got = page.locator(selector).evaluate_all("a => a.map(x => x.getAttribute('href'))")
        assert [urlsplit(h).path for h in got] == ([want] if want else []), (name, selector)

    state = page.evaluate(MATH_STATE)
    if name in SECTIONS:
        counts = {k: state[k] for k in ("scripts", "rendered")}
        assert state["rendered"] >= state["scripts"] > 0, f"{name}: math left untypeset: {counts}"
        assert state["errors"] == 0, f"{name}: MathJax reported {state['errors']} error(s)"
        assert not state["undefined"], f"{name}: undefined TeX macros in {state['undefined']}"
    for message in ("Math Processing Error", "Undefined control sequence"):
        assert message not in state["text"], f"{name}: {message}"
    raw = RAW_TABLE.findall(state["prose"])
    assert not raw, f"{name}: Markdown table left as text: {raw[:3]}"
    markers = [m for m in MARKERS if m in state["text"]]
    assert not markers, f"{name}: tooling markers on the page: {markers}"
    assert page.locator("details.solution[open]").count() == 0, f"{name}: a solution is open"
    # checkVisibility() is false for what a closed <details> hides; opening one shows it.
    parts = "details.solution > :not(summary)"
    shown = page.locator(parts).evaluate_all("els => els.filter(e => e.checkVisibility()).length")
    assert shown == 0, f"{name}: {shown} solution parts show while their toggles are closed"
    if page.locator("details.solution").count():
        toggle = page.locator("details.solution").first
        toggle.locator("summary").click()
        opened = toggle.locator(":scope > :not(summary)").evaluate_all(
            "els => els.filter(e => e.checkVisibility()).length")
        assert opened >= 1, f"{name}: the first 参考答案 toggle shows nothing when opened"
        toggle.locator("summary").click()

    if name in SECTIONS:
        # The section's diagrams (SVG files) are decoded and drawn by the browser.
        diagrams = page.locator('article img[src$=".svg"]')
        assert diagrams.count() >= 1, f"{name}: no diagram"
        widths = diagrams.evaluate_all("imgs => imgs.map(i => i.complete ? i.naturalWidth : 0)")
        assert all(w > 0 for w in widths), f"{name}: a diagram did not render: {widths}"
        # Every explorer answers its first control.
        explorers = page.locator("div.explorer")
        assert explorers.count() >= 1, f"{name}: no explorer on the page"
        moves = []
        for k in range(explorers.count()):
            explorers.nth(k).scroll_into_view_if_needed()
            moves.append(change_first_control(page, explorers.nth(k)))
        print(f"{name}: {moves}")
        explorers.first.scroll_into_view_if_needed()
        SHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SHOTS / f"explorer-{name.split('-')[0]}.png"))
        page.evaluate("window.scrollTo(0, 0)")
    assert not page.console_errors, f"{name}: console errors {page.console_errors}"
    assert not page.refused, f"{name} tried the network: {page.refused}"
    shot(page, "desktop", name)


@pytest.mark.parametrize("name", PAGES)
def test_page_at_390px_does_not_scroll_sideways(site, phone, name):
    page = phone
    load(page, site / name)
    width = page.evaluate("() => [document.documentElement.scrollWidth, window.innerWidth]")
    if width[0] > width[1]:
        wide = page.evaluate("""() => [...document.querySelectorAll('body *')]
            .filter(e => e.getBoundingClientRect().right > window.innerWidth + 1
                         && getComputedStyle(e).position !== 'fixed'
                         && e.offsetParent !== null)
            .slice(0, 5).map(e => e.tagName + '.' + e.className + ' ' +
                             Math.round(e.getBoundingClientRect().right))""")
        pytest.fail(f"{name}: the page is {width[0]} px wide at {width[1]} px: {wide}")
    assert not page.console_errors, f"{name}: console errors {page.console_errors}"
    assert not page.refused, f"{name} tried the network: {page.refused}"
    shot(page, "390", name)


class ArticleText(HTMLParser):
    """The prose of a built page (its <article>), without code, outputs or scripts."""

    SKIP = {"script", "style", "pre", "code"}

    def __init__(self, path):
        super().__init__(convert_charrefs=True)
        self.depth, self.skip, self.text = 0, 0, []
        self.feed(path.read_text(encoding="utf-8"))

    def handle_starttag(self, tag, attrs):
        if tag == "article":
            self.depth += 1
        elif tag in self.SKIP:
            self.skip += 1

    def handle_endtag(self, tag):
        if tag == "article":
            self.depth -= 1
        elif tag in self.SKIP:
            self.skip -= 1

    def handle_data(self, data):
        if self.depth and not self.skip:
            self.text.append(data)


@pytest.mark.parametrize("word", ["注意力", "掩码"])
def test_search_for_a_chinese_word_lists_every_section_using_it(site, desktop, word):
    page = desktop
    using = [n for n in SECTIONS if word in "".join(ArticleText(site / n).text)]
    assert using, f"no section uses {word!r}: pick another word"
    page.goto((site / "search.html").as_uri() + "?q=" + quote(word))
    page.wait_for_function("""() => {
        const s = document.querySelector('#search-results .search-summary');
        return s && /\\d/.test(s.innerText); }""", timeout=TYPESET_S * 1000)
    found = page.locator("#search-results ul.search li a").evaluate_all(
        "links => links.map(a => a.getAttribute('href'))")
    found = {urlsplit(h).path for h in found}
    missing = [n for n in using if n not in found]
    assert not missing, f"search for {word!r} misses {missing}; it found {sorted(found)}"
    assert not page.console_errors, f"search: console errors {page.console_errors}"
    assert not page.refused, f"search tried the network: {page.refused}"
    SHOTS.mkdir(parents=True, exist_ok=True)
    label = {"注意力": "attention", "掩码": "mask"}[word]
    page.screenshot(path=str(SHOTS / f"html-search-{label}.png"))

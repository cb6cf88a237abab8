"""The HTML book (`make html`) in Debian's chromium with the network cut off.

Every section page must typeset all its LaTeX with the local MathJax copy, without a TeX error,
and request nothing but local files; every diagram renders. Every section holds an explorer, and
each explorer's first control, moved from the keyboard, changes its chart, with no console error.
The screenshot of 10.3 with its diagram in view lands in build/e2e/html-10.3.png, and one of each
section's first explorer in build/e2e/explorer-<section>.png.
"""

from pathlib import Path

import pytest
from chapters import page_of, written_sections
from explorer_controls import change_first_control

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOT = ROOT / "build" / "e2e" / "html-10.3.png"
TYPESET_S = 60

# MathJax 2 turns each $...$ into a <script type="math/tex"> and renders it as a span.MathJax.
TYPESET_DONE = """() => window.MathJax && MathJax.Hub && MathJax.Hub.queue
    && MathJax.Hub.queue.pending === 0 && !MathJax.Hub.queue.running
    && document.querySelectorAll('script[type^="math/tex"]').length > 0"""
MATH_STATE = """() => ({
    scripts: document.querySelectorAll('script[type^="math/tex"]').length,
    rendered: document.querySelectorAll('span.MathJax').length,
    errors: document.querySelectorAll('.MathJax_Error, .merror').length,
    // an undefined macro is drawn as its own name (MathJax's noUndefined): a backslash in the math
    undefined: Array.from(document.querySelectorAll('span.MathJax'))
        .map(e => e.textContent).filter(t => t.includes(String.fromCharCode(92))),
    text: document.body.innerText})"""


@pytest.fixture(scope="module")
def site(book_build):
    return book_build("html")


@pytest.fixture
def offline_page(browser):
    """A page whose requests other than file: and data: URLs are refused and recorded."""
    context = browser.new_context(viewport={"width": 1200, "height": 900})
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
    yield page, refused
    context.close()


@pytest.mark.parametrize("name", [page_of(s) for s in written_sections()])
def test_math_is_typeset_offline(site, offline_page, name):
    page, refused = offline_page
    page.goto((site / name).as_uri())
    page.wait_for_function(TYPESET_DONE, timeout=TYPESET_S * 1000)
    state = page.evaluate(MATH_STATE)
    counts = {k: state[k] for k in ("scripts", "rendered")}
    assert state["rendered"] >= state["scripts"] > 0, f"{name}: math left untypeset: {counts}"
    assert state["errors"] == 0, f"{name}: MathJax reported {state['errors']} error(s)"
    assert not state["undefined"], f"{name}: undefined TeX macros in {state['undefined']}"
    tex_errors = ("Math Processing Error", "Undefined control sequence", "Missing or unrecognized")
    for message in tex_errors:
        assert message not in state["text"], f"{name}: {message}"
    assert not refused, f"{name} tried the network: {refused}"
    # The section's diagrams (embedded SVG) are decoded and drawn by the browser.
    diagrams = page.locator('img[src^="data:image/svg+xml"]')
    assert diagrams.count() >= 1, f"{name}: no diagram"
    widths = diagrams.evaluate_all("imgs => imgs.map(i => i.complete ? i.naturalWidth : 0)")
    assert all(w > 0 for w in widths), f"{name}: a diagram did not render: {widths}"
    if name.startswith("10.3-"):
        SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
        diagrams.first.scroll_into_view_if_needed()  # the page with its diagram in view
        page.screenshot(path=str(SCREENSHOT))


@pytest.mark.parametrize("name", [page_of(s) for s in written_sections()])
def test_every_explorer_answers_its_first_control_offline(site, offline_page, name):
    page, refused = offline_page
    page.goto((site / name).as_uri())
    page.wait_for_function(TYPESET_DONE, timeout=TYPESET_S * 1000)
    explorers = page.locator("div.explorer")
    assert explorers.count() >= 1, f"{name}: no explorer on the page"
    moves = []
    for i in range(explorers.count()):
        embed = explorers.nth(i)
        embed.scroll_into_view_if_needed()
        moves.append(change_first_control(page, embed))
    print(f"{name}: {moves}")
    assert not page.console_errors, f"{name}: console errors {page.console_errors}"
    assert not refused, f"{name} tried the network: {refused}"
    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    explorers.first.scroll_into_view_if_needed()
    page.screenshot(path=str(SCREENSHOT.parent / f"explorer-{name.split('-')[0]}.png"))

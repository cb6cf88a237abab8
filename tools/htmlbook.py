"""`make html`: the offline HTML book, one page per section of chapters.yml plus the appendix.

Stored outputs, local MathJax, no CDN; `check` cells left out, solutions behind a "参考答案" toggle.
Explorers (Vega-Lite outputs, see d2l_attention/explorers.py) are drawn by vega-embed from one
local bundle, vega.js, that vl-convert-python builds; their controls move between the stored states.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import common

MATHJAX_CONFIG = "TeX-AMS-MML_HTMLorMML-full,Safe"


# The lab template, minus everything fetched from a CDN: require.js and mermaid are not used by
# these notebooks, and MathJax 2 comes from the local copy (STIX-Web fonts are the ones shipped).
# Its font-detection face points at about:blank, which a file: page refuses with a console error:
# it is pointed at a local() name instead (the same fallback, no request).
PAGE_TEMPLATE = """{%- extends 'index.html.j2' -%}
{%- block html_head_js_requirejs -%}
<script src="vega.js"></script>
{%- endblock html_head_js_requirejs -%}
{%- block html_head_js_mermaidjs -%}{%- endblock html_head_js_mermaidjs -%}
{%- block html_head_js_mathjax -%}
<script>window.MathJax = {"HTML-CSS": {availableFonts: [], webFont: "STIX-Web",
  imageFont: null, preferredFont: null, styles: {"@font-face": {"font-family": "MathJax_Blank",
  src: "local('MathJax_Blank')"}}}};</script>
{{ super() }}
{%- endblock html_head_js_mathjax -%}
{% block any_cell scoped %}
{%- if cell.metadata.get("tags") and "solution" in cell.metadata.tags
      or cell.metadata.get("nbgrader", {}).get("solution") -%}
<details class="solution"><summary>参考答案 (solution)</summary>
{{ super() }}
</details>
{%- else -%}
{{ super() }}
{%- endif -%}
{% endblock any_cell %}
{% block extra_css %}<style>{{ resources.book_css }}</style>{% endblock extra_css %}
{%- block body_header -%}{{ super() }}{{ resources.book_nav }}{%- endblock body_header -%}
{% block body_footer %}{{ resources.book_nav }}{{ super() }}{% endblock body_footer %}
"""


BOOK_CSS = """
nav.book-nav { display: flex; justify-content: space-between; gap: 1em; padding: 0.6em 0;
  margin: 0 0 1em; border-bottom: 1px solid #ddd; font-family: sans-serif; }
nav.book-nav:last-child { border-top: 1px solid #ddd; border-bottom: 0; margin: 1em 0 0; }
nav.book-nav a { text-decoration: none; }
details.solution { border-left: 4px solid #4caf50; margin: 0.5em 0; padding-left: 0.5em; }
/* MathJax's hidden MathML for screen readers asks for TeX fonts the local copy lacks. */
.MJX_Assistive_MathML, .MJX_Assistive_MathML * { font-family: inherit !important; }
div.explorer { margin: 0.5em 0; }
div.explorer .vega-bind { margin: 0.2em 0; font-family: sans-serif; }
div.explorer .vega-bind-name { display: inline-block; min-width: 10em; }
details.solution > summary { color: #2e7d32; cursor: pointer; font-family: sans-serif;
  font-size: 0.9em; }
"""


INDEX_TEMPLATE = """<!DOCTYPE html>
<html lang="zh-CN">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1.0">
<title>第 {chapter} 章 {zh} ({en})</title>
<style>
body {{ font-family: sans-serif; max-width: 48em; margin: 2em auto; padding: 0 1em;
  line-height: 1.6; }}
li.planned {{ color: #888; }}
.en {{ color: #555; }}
</style>
</head>
<body>
<h1>第 {chapter} 章 {zh}<br><span class="en">Chapter {chapter} {en}</span></h1>
<p>目录 / Contents</p>
<ol class="toc">
{items}
</ol>
<p class="en">Generated from chapters.yml by <code>make html</code>; reads offline.</p>
</body>
</html>
"""


def page_name(sec: dict) -> str:
    return Path(sec["notebook"]).stem + ".html"


def nav_html(prev: dict | None, nxt: dict | None) -> str:
    from html import escape

    def link(sec, rel, arrow_left):
        if sec is None:
            return "<span></span>"
        text = escape(f"{sec['number']} {sec['zh']}")
        return (f'<a rel="{rel}" href="{page_name(sec)}">'
                + (f"← {text}" if arrow_left else f"{text} →") + "</a>")

    return ('<nav class="book-nav">' + link(prev, "prev", True)
            + '<a rel="index" href="index.html">目录 / Contents</a>'
            + link(nxt, "next", False) + "</nav>")


def copy_mathjax(out_dir: Path) -> Path:
    import jupyter_server_mathjax

    static = Path(jupyter_server_mathjax.__file__).parent / "static"
    dest = out_dir / "mathjax"
    if dest.exists():
        shutil.rmtree(dest)
    shutil.copytree(static, dest, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    return dest


VEGALITE_MIME = "application/vnd.vegalite.v5+json"

# One explorer on the page: its spec as JSON data (not code), drawn by the local vega-embed.
EXPLORER_HTML = """<div class="explorer" id="{id}" role="figure" aria-label="{label}"></div>
<script type="application/json" id="{id}-spec">{spec}</script>
<script>vegaEmbed("#{id}", JSON.parse(document.getElementById("{id}-spec").textContent),
  {{actions: false, renderer: "svg"}}).catch(e => console.error("explorer {id}:", e));</script>"""


def embed_explorers(nb) -> int:
    """Turn each Vega-Lite output into HTML that vega-embed draws (the PNG fallback is dropped:
    the book always has the JavaScript). Returns how many explorers the page holds."""
    import json
    from html import escape

    count = 0
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            spec = output.get("data", {}).get(VEGALITE_MIME)
            if spec is None:
                continue
            count += 1
            title = spec.get("title", "explorer")
            text = json.dumps(spec, ensure_ascii=False).replace("</", "<\\/")
            output["data"] = {"text/html": EXPLORER_HTML.format(
                id=f"explorer-{count}", label=escape(f"explorer: {title}"), spec=text)}
    return count


def write_vega_bundle(out_dir: Path) -> Path:
    """vega, vega-lite and vega-embed in one file, from vl-convert-python (no network)."""
    import vl_convert

    dest = out_dir / "vega.js"
    common.write_text(dest, vl_convert.javascript_bundle(vl_version="5.20"))
    return dest


def cmd_html(out_dir: Path) -> int:
    from html import escape

    import cells
    import nbformat
    from jinja2 import DictLoader
    from nbconvert import HTMLExporter

    toc = common.load_toc()
    everything = common.load_sections(include_planned=True)
    written = [s for s in everything if s["status"] == "written"]
    out_dir.mkdir(parents=True, exist_ok=True)
    copy_mathjax(out_dir)
    write_vega_bundle(out_dir)

    exporter = HTMLExporter(
        extra_loaders=[DictLoader({"book_page.html.j2": PAGE_TEMPLATE})],
        template_file="book_page.html.j2",
        mathjax_url=f"mathjax/MathJax.js?config={MATHJAX_CONFIG}",
        embed_images=True,
    )
    for i, sec in enumerate(written):
        nb = cells.without_checks(nbformat.read(common.ROOT / sec["notebook"], as_version=4))
        explorers = embed_explorers(nb)
        resources = {
            "metadata": {"name": f"{sec['number']} {sec['zh']}",
                         "path": str((common.ROOT / sec["notebook"]).parent)},
            "book_nav": nav_html(written[i - 1] if i > 0 else None,
                                 written[i + 1] if i + 1 < len(written) else None),
            "book_css": BOOK_CSS,
        }
        body, _ = exporter.from_notebook_node(nb, resources=resources)
        common.write_text(out_dir / page_name(sec), body)
        print(f"  wrote {out_dir / page_name(sec)} ({explorers} explorer"
              f"{'' if explorers == 1 else 's'})")

    import appendix

    extra = toc.get("appendix")
    if extra:
        page = appendix.page_html(extra, nav_html(written[-1] if written else None, None),
                                  BOOK_CSS)
        common.write_text(out_dir / extra["page"], page)
        print(f"  wrote {out_dir / extra['page']}")

    items = []
    for sec in everything:
        label = f"{escape(sec['number'])} {escape(sec['zh'])} <span class=\"en\">" \
                f"({escape(sec['en'])})</span>"
        if sec["status"] == "written":
            items.append(f'<li><a href="{page_name(sec)}">{label}</a></li>')
        else:
            items.append(f'<li class="planned">{label} — 待写 / planned</li>')
    if extra:
        items.append(f'<li><a href="{escape(extra["page"])}">附录：{escape(extra["zh"])} '
                     f'<span class="en">(Appendix: {escape(extra["en"])})</span></a></li>')
    index = INDEX_TEMPLATE.format(chapter=toc["chapter"], zh=escape(toc["title"]["zh"]),
                                  en=escape(toc["title"]["en"]), items="\n".join(items))
    common.write_text(out_dir / "index.html", index)
    print(f"  wrote {out_dir / 'index.html'} ({len(written)} sections)")
    return 0

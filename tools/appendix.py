"""The appendix page "可复现性与速度 (Reproducibility and speed)", rendered from results/*.json.

Nothing on the page is typed by hand: every table comes from a result file that a command wrote
(its command, date, torch version, CPU kernel and thread count are printed above the table).

A section quotes a result in its prose with a marker right after the number:

    在 500 个没见过的句对上 BLEU 为 0.518<!-- result: heldout models.transformer.mean .3f -->

(an HTML comment: invisible in JupyterLab and in the HTML book). `quotes()` finds every marker
and `tests/test_results.py` fails when the quoted number differs from the file.
"""

from __future__ import annotations

import re
from html import escape

import results

QUOTE = re.compile(r"(-?\d[\d,]*(?:\.\d+)?)\s*(?:[×x%])?\s*"
                   r"<!--\s*result:\s*(\S+)\s+(\S+)\s+(\S+)\s*-->")

# Titles and explanations of the result files the appendix shows, in page order.
TABLES = {
    "execute-times": (
        "每节笔记本从头到尾执行一遍的时间 (seconds to execute each notebook)",
        "目标：每节不超过 60 秒，10.4 和 10.7 不超过 150 秒（2 核 CPU）。"),
}


def lookup(record: dict, key: str):
    """record["figures"] followed along a dotted key; a part may itself contain dots only when
    it is a key of the dict at that level (notebook paths, for example)."""
    value = record["figures"]
    rest = key
    while rest:
        for k in sorted(value, key=len, reverse=True):
            if rest == k or rest.startswith(k + "."):
                value, rest = value[k], rest[len(k) + 1:]
                break
        else:
            raise KeyError(f"{key!r}: no {rest!r} in a result with keys {sorted(value)}")
    return value


def quotes(markdown: str) -> list[tuple[str, str, str, str]]:
    """(quoted number, result name, key, format) for every result marker in `markdown`."""
    return [m.groups() for m in QUOTE.finditer(markdown)]


def _cell(value) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    return escape(str(value))


def _table(figures: dict) -> str:
    """A dict of scalars -> two columns; a dict of dicts -> one row per key, one column per
    inner key."""
    rows = list(figures.items())
    if rows and all(isinstance(v, dict) for _, v in rows):
        columns = list(dict.fromkeys(c for _, v in rows for c in v))
        head = "".join(f"<th>{escape(c)}</th>" for c in columns)
        body = "".join(
            f"<tr><th>{escape(k)}</th>" + "".join(f"<td>{_cell(v.get(c, ''))}</td>"
                                                   for c in columns) + "</tr>" for k, v in rows)
        return f"<table><tr><th></th>{head}</tr>{body}</table>"
    body = "".join(f"<tr><th>{escape(k)}</th><td>{_cell(v)}</td></tr>" for k, v in rows)
    return f"<table>{body}</table>"


def provenance(record: dict) -> str:
    keys = ("date", "torch", "cpu_kernel", "threads", "cores", "platform", "python")
    parts = [f"{k} {escape(str(record[k]))}" for k in keys if record.get(k) not in (None, "")]
    if record.get("aten_cpu_capability"):
        parts.append(f"ATEN_CPU_CAPABILITY={escape(record['aten_cpu_capability'])}")
    return (f"<p class=\"provenance\"><code>{escape(record['command'])}</code><br>"
            + ", ".join(parts) + "</p>")


def body_html() -> str:
    """The appendix's content: one titled table per result file, with its provenance."""
    parts = ["<p>本页的每个数字都来自 <code>results/</code> 里提交到仓库的结果文件，"
             "由表格上方写明的命令生成；正文各节只用一句话引用它们。"
             "<span class=\"en\">Every figure on this page is read from a result file in "
             "results/, written by the command shown above its table.</span></p>"]
    for name, (title, note) in TABLES.items():
        record = results.read(name)
        parts.append(f"<h2 id=\"{escape(name)}\">{escape(title)}</h2>")
        parts.append(provenance(record))
        figures = record["figures"]
        inner = next(iter(figures.values())) if len(figures) == 1 else figures
        parts.append(_table(inner if isinstance(inner, dict) else figures))
        if note:
            parts.append(f"<p>{escape(note)}</p>")
    return "\n".join(parts)


PAGE = """<!DOCTYPE html>
<html lang="zh-CN">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1.0">
<title>附录：{zh} ({en})</title>
<style>
body {{ font-family: sans-serif; max-width: 52em; margin: 2em auto; padding: 0 1em;
  line-height: 1.6; }}
table {{ border-collapse: collapse; margin: 0.5em 0 1em; }}
th, td {{ border: 1px solid #ccc; padding: 0.2em 0.6em; text-align: left; }}
.provenance {{ color: #555; font-size: 0.9em; }}
.en {{ color: #555; }}
{nav_css}
</style>
</head>
<body>
{nav}
<h1>附录：{zh}<br><span class="en">Appendix: {en}</span></h1>
{body}
{nav}
</body>
</html>
"""


def page_html(meta: dict, nav: str, nav_css: str) -> str:
    return PAGE.format(zh=escape(meta["zh"]), en=escape(meta["en"]), nav=nav, nav_css=nav_css,
                       body=body_html())

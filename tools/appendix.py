"""The appendix page "可复现性与速度 (Reproducibility and speed)", rendered from results/*.json.

Nothing on the page is typed by hand: every table comes from a result file that a command wrote
(its command, date, torch version, CPU kernel and thread count are printed above the table).

A section quotes a result in its prose with a marker right after the number:

    在没见过的句对上 BLEU 为 0.518<!-- result: heldout | summary.transformer.held-out BLEU | .3f -->

that is: result file, key (dotted path into its figures; a part may contain spaces and dots
when it is a key of the file, e.g. "bahdanau all") and format (Python's, `s` for text such as
"0/15"), separated by `|`. The marker is an HTML comment: invisible in JupyterLab and in the HTML
book. `quotes()` finds every marker and `tests/test_results.py` fails when the quoted number or
fraction differs from the file.
"""

from __future__ import annotations

import re
from html import escape

import results

QUOTE = re.compile(r"(-?\d[\d,]*(?:\.\d+)?(?:/\d+)?)\s*(?:[×x%])?\s*"
                   r"<!--\s*result:\s*([^|]+?)\s*\|\s*([^|]+?)\s*\|\s*(\S+)\s*-->")

# The tables of the appendix, in page order: result file -> (title, the figures key whose table
# is shown, a note). Scalar figures of the file (device, threads, epochs, ...) are listed above.
TABLES = {
    "sweep": (
        "翻译模型在多个随机种子和 CPU 计算内核下的结果 (the translators over seeds x CPU kernels)",
        "summary",
        "每个随机种子在每种 CPU 计算内核（ATen 的 default、AVX2 和本机的 AVX-512）下各训练一次，"
        "各用一个新进程。training sentences exact：训练集里的三个测试句被逐字译对的次数；"
        "he's calm . 不在训练集里。10.4 和 10.7 节的检查只断言在这里全部成立的结论。"),
    "sweep-transformer-200": (
        "Transformer 按书中的 200 轮训练时 (the Transformer with the book's 200 epochs)",
        "summary",
        "与上表中训练 250 轮的 transformer 各行对照：10.7 节按这两张表选择训练轮数。"),
    "heldout": (
        "没见过的句子上的语料级 BLEU (corpus BLEU on held-out pairs)",
        "summary",
        "在前 train_pairs 个句对上训练，翻译其后 test_pairs 个英语句子不在训练集里的句对；"
        "parameters：模型的参数个数（词表来自这些训练句对）。"),
    "speedups": (
        "训练循环里的每处提速省下多少时间 (what each speed-up of train_seq2seq saves)",
        "summary",
        "每个随机种子先运行一次带全部提速的训练，再依次运行各去掉一处提速的训练，交替进行，"
        "每次一个新进程。training time saved %：1 − 去掉这一处后的 tokens/s ÷ 全部提速时的 "
        "tokens/s，即这一处提速省下的训练时间所占的比例。这些提速不改变模型所算的函数"
        "（tests/test_bench.py 在不用暂退法时检查去掉每一处之后损失不变；用暂退法时，"
        "截掉填充后张量的形状不同，暂退法抽取的随机数随之不同，损失因此略有差别）。"),
    "speed": (
        "与书中原版代码比较训练速度 (training speed against the book's own code)",
        "summary",
        "同一时段内交替运行：每个种子先运行书中的代码（d2l 0.17.6 的 PyTorch 实现），"
        "再在新进程中运行本库的同一模型、同样的轮数和种子；两边的线程数相同。"
        "tokens/s：整个训练调用期间每秒处理的目标词元数（不含填充）；ratio：本库与书中代码之比。"),
    "execute-times": (
        "每节笔记本从头到尾执行一遍的时间 (seconds to execute each notebook)",
        "seconds",
        "目标：每节不超过 60 秒，10.4 和 10.7 不超过 150 秒（2 核 CPU）。"),
}
OPTIONAL = {"sweep-transformer-200"}  # rendered when its file exists


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


def settings_html(figures: dict) -> str:
    scalars = {k: v for k, v in figures.items() if not isinstance(v, (dict, list))}
    if not scalars:
        return ""
    return "<p class=\"provenance\">" + ", ".join(
        f"{escape(k)} {_cell(v)}" for k, v in scalars.items()) + "</p>"


def shown_tables() -> list[str]:
    """The result files the page shows: every table's, optional ones where they exist."""
    return [name for name in TABLES
            if name not in OPTIONAL or (results.RESULTS / f"{name}.json").is_file()]


INTRO_HTML = ("本页的每个数字都来自 <code>results/</code> 里提交到仓库的结果文件，"
              "由表格上方写明的命令生成；正文各节只用一句话引用它们。"
              "<span class=\"en\">Every figure on this page is read from a result file in "
              "results/, written by the command shown above its table.</span>")


def parts() -> list[tuple[str, str, str]]:
    """(result name, title, HTML) of each table the appendix shows, in page order: the HTML
    holds the provenance, the settings, the table and its note."""
    shown = []
    for name in shown_tables():
        title, key, note = TABLES[name]
        record = results.read(name)
        html = [provenance(record), settings_html(record["figures"]),
                _table(record["figures"][key])]
        if note:
            html.append(f"<p>{escape(note)}</p>")
        shown.append((name, title, "\n".join(h for h in html if h)))
    return shown


def body_html() -> str:
    """The appendix's content as one HTML fragment: one titled table per result file, with its
    provenance (the standalone page, `page_html`)."""
    body = [f"<p>{INTRO_HTML}</p>"]
    for name, title, html in parts():
        body += [f"<h2 id=\"{escape(name)}\">{escape(title)}</h2>", html]
    return "\n".join(body)


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

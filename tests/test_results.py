"""The appendix renders committed result files, and every number a section quotes from one of them
is the number in the file."""

import html
import json
import re

import appendix
import jupytext
import pytest
from chapters import ROOT, twin_of, written_sections

import results

PROVENANCE = ("command", "date", "torch", "cpu_kernel", "threads", "figures")


def leaves(figures, prefix=""):
    for key, value in figures.items():
        if isinstance(value, dict):
            yield from leaves(value, f"{prefix}{key}.")
        else:
            yield f"{prefix}{key}", value


@pytest.mark.parametrize("name", appendix.shown_tables())
def test_each_appendix_table_has_a_result_file_with_its_provenance(name):
    record = json.loads((results.RESULTS / f"{name}.json").read_text(encoding="utf-8"))
    missing = set(PROVENANCE) - set(record)
    assert not missing, f"results/{name}.json lacks {sorted(missing)}"
    assert record["figures"][appendix.TABLES[name][1]], f"results/{name}.json holds no table"


def test_the_appendix_shows_every_figure_of_every_table():
    page = appendix.body_html()
    for name in appendix.shown_tables():
        record = results.read(name)
        assert html.escape(record["command"]) in page
        for _, value in leaves(record["figures"][appendix.TABLES[name][1]]):
            assert f"<td>{appendix._cell(value)}</td>" in page, (name, value)


def test_quote_markers_are_found_and_compared():
    text = ("BLEU 0.518<!-- result: heldout | models.transformer.mean | .3f --> and 1.5×<!-- "
            "result: speed | ratio | .1f -->, 0/15<!-- result: sweep | summary.bahdanau all."
            "he's calm . exact | s -->")
    assert appendix.quotes(text) == [
        ("0.518", "heldout", "models.transformer.mean", ".3f"), ("1.5", "speed", "ratio", ".1f"),
        ("0/15", "sweep", "summary.bahdanau all.he's calm . exact", "s")]
    record = {"figures": {"models": {"transformer": {"mean": 0.5183}}, "a.b": {"c": 2},
                          "summary": {"bahdanau all": {"he's calm . exact": "0/15"}}}}
    assert format(appendix.lookup(record, "models.transformer.mean"), ".3f") == "0.518"
    assert appendix.lookup(record, "a.b.c") == 2  # keys that contain dots (file paths)
    assert appendix.lookup(record, "summary.bahdanau all.he's calm . exact") == "0/15"
    with pytest.raises(KeyError, match="no 'bleu'"):
        appendix.lookup(record, "models.bleu")


@pytest.mark.parametrize("sec", written_sections(), ids=lambda s: s["number"])
def test_every_quoted_result_matches_its_file(sec):
    nb = jupytext.read(twin_of(sec))
    markdown = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    for number, name, key, fmt in appendix.quotes(markdown):
        want = format(appendix.lookup(results.read(name), key), fmt)
        assert number.replace(",", "") == want.replace(",", ""), (
            f"{sec['number']} quotes {number} for results/{name}.json {key}, which is {want}; "
            "update the sentence (the file is the measurement)")
    # A number next to a marker that the pattern does not match would escape the check.
    assert len(appendix.quotes(markdown)) == len(re.findall(r"<!--\s*result:", markdown))


def test_the_speedups_file_measures_every_switch_of_train_seq2seq():
    """The appendix shows what each speed-up saves; the library names them (`speedups=`)."""
    from d2l_attention import seq2seq

    table = results.read("speedups")["figures"]["summary"]
    measured = {key.rsplit(" ", 1)[-1] for key in table}
    assert measured == set(seq2seq.SPEEDUPS), \
        "run `python tools/book.py bench speedups --save speedups`"


def test_library_docstrings_quote_no_measured_numbers():
    """Measurements live in results/ and the appendix; a docstring would go stale."""
    import ast

    for path in sorted((ROOT / "d2l_attention").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, (ast.FunctionDef, ast.ClassDef, ast.AsyncFunctionDef, ast.Module)):
                doc = ast.get_docstring(node) or ""
                # a measured share ("saves 5.9-6.2 %") or speed; "90% of the weight" is a rule
                assert not re.search(r"\d+\.\d+\s*%|tokens/s", doc), (path.name, doc[:120])



"""The sections' explorers, one module per section (named as in chapters.yml's `module`).

A notebook shows an explorer with one call, e.g.::

    from d2l_attention.explore import attention_cues
    attention_cues.turning_query(keys, values)

Each module builds its states with the section's taught components (`d2l.attention_pooling`,
`d2l.NWKernelRegression`, ...) and assembles the views from `d2l_attention.explorers`; its tests
(in the section's test file) check the states against those components. Nothing here is part of
the book's API, so none of it is in `dir(d2l)`.
"""


def committed_results(name):
    """The committed record results/NAME.json (a sweep or a benchmark the notebooks read), as
    a dict; the command that wrote it is in its "command" or "about" entry."""
    import json
    from pathlib import Path

    path = Path(__file__).resolve().parents[2] / "results" / f"{name}.json"
    return json.loads(path.read_text(encoding="utf-8"))


def read_results(name):
    """(command, figures) of a committed results/NAME.json written by `tools/book.py bench`
    or `sweep` (the sections' modules re-export it)."""
    record = committed_results(name)
    return record["command"], record["figures"]

"""Smoke test of `make bench` (python -m d2l_attention.bench): a --quick run, its output format."""

import re

import pytest
import torch

import d2l_attention as d2l
from d2l_attention import bench

NUM = r"\d+(\.\d+)?"
RUN_LINE = re.compile(
    rf"^(bahdanau|transformer) +seed (\d+) epochs 3 wall {NUM} s {NUM} tokens/s "
    rf"loss {NUM} bleu( [01]\.\d{{3}}){{4}} mean [01]\.\d{{3}}$")
MEAN_LINE = re.compile(
    rf"^(bahdanau|transformer) +mean of 2 seeds epochs 3 wall {NUM} s {NUM} tokens/s "
    rf"bleu( [01]\.\d{{3}}){{4}} mean [01]\.\d{{3}}$")


def test_quick_bench_output_format(fra_data_dir, monkeypatch, capsys):
    monkeypatch.setenv("D2L_DATA_DIR", str(fra_data_dir))
    old_threads = torch.get_num_threads()
    try:
        assert bench.main(["--quick", "--seeds", "2", "--device", "cpu"]) == 0
    finally:
        torch.set_num_threads(old_threads)  # main() sets one thread, as the notebooks do
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0].startswith("# torch ") and "quick mode" in lines[0]
    runs = [m for m in map(RUN_LINE.match, lines) if m]
    means = [m for m in map(MEAN_LINE.match, lines) if m]
    assert [(m.group(1), m.group(2)) for m in runs] == [
        ("bahdanau", "0"), ("bahdanau", "1"), ("transformer", "0"), ("transformer", "1")]
    assert [m.group(1) for m in means] == ["bahdanau", "transformer"]
    assert len(lines) == 1 + len(runs) + len(means), lines


def test_mean_line_averages_each_sentence():
    runs = [{"model": "bahdanau", "epochs": 3, "wall": 1.0, "tokens_per_sec": 100.0,
             "bleu": [1.0, 0.0, 0.5, 1.0]},
            {"model": "bahdanau", "epochs": 3, "wall": 3.0, "tokens_per_sec": 300.0,
             "bleu": [1.0, 1.0, 0.0, 0.0]}]
    line = bench.format_mean(runs)
    assert "bleu 1.000 0.500 0.250 0.500 mean 0.562" in line
    assert "wall 2.0 s 200 tokens/s" in line


@pytest.mark.parametrize("argv", [["--models", "rnn"], ["--seeds", "0"], ["--threads", "0"]])
def test_bad_arguments_are_rejected(argv, capsys):
    with pytest.raises(SystemExit):
        bench.parse_args(argv)
    assert "error" in capsys.readouterr().err


def test_bench_trains_the_taught_classes():
    """The benchmarked models are built from the classes the notebooks teach, not faster twins."""
    vocab = type("V", (), {"__len__": lambda self: 30})()
    bahdanau = bench.build_bahdanau(vocab, vocab)
    assert type(bahdanau.decoder) is d2l.Seq2SeqAttentionDecoder
    transformer = bench.build_transformer(vocab, vocab)
    assert type(transformer.encoder) is d2l.TransformerEncoder
    assert type(transformer.decoder) is d2l.TransformerDecoder
    attentions = [m for m in transformer.modules() if isinstance(m, d2l.MultiHeadAttention)]
    assert len(attentions) == 2 * 3 and all(type(m) is d2l.MultiHeadAttention for m in attentions)

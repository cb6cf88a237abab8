"""Smoke test of `make bench` (tools/bench.py): a --quick run, its output format."""

import dataclasses
import json
import re
import shlex

import bench
import pytest
import torch

import d2l_attention as d2l

bench.load_library()  # the tool imports torch and the library only when a benchmark runs

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
        assert bench.main(["train", "--quick", "--seeds", "2", "--device", "cpu"]) == 0
    finally:
        torch.set_num_threads(old_threads)  # main() sets one thread, as the notebooks do
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0].startswith("# torch ") and "quick mode" in lines[0]
    runs = [m for m in map(RUN_LINE.match, lines) if m]
    means = [m for m in map(MEAN_LINE.match, lines) if m]
    assert [(m.group(1), m.group(2)) for m in runs] == [
        ("bahdanau", "0"), ("bahdanau", "1"), ("transformer", "0"), ("transformer", "1")]
    assert [m.group(1) for m in means] == ["bahdanau", "transformer"]
    summary = lines[1 + len(runs) + len(means):]
    assert summary[0].startswith("# seeds 0-1") and summary[1].startswith("model")
    kernel = bench.cpu_kernel()
    assert [line.split()[:3] for line in summary[2:]] == [
        ["bahdanau", kernel, "2"], ["transformer", kernel, "2"]]


def test_mean_line_averages_each_sentence():
    runs = [{"model": "bahdanau", "epochs": 3, "wall": 1.0, "tokens_per_sec": 100.0,
             "bleu": [1.0, 0.0, 0.5, 1.0]},
            {"model": "bahdanau", "epochs": 3, "wall": 3.0, "tokens_per_sec": 300.0,
             "bleu": [1.0, 1.0, 0.0, 0.0]}]
    line = bench.format_mean(runs)
    assert "bleu 1.000 0.500 0.250 0.500 mean 0.562" in line
    assert "wall 2.0 s 200 tokens/s" in line


def fake_run(model, kernel, translations, bleu=(1.0, 1.0, 0.0, 1.0)):
    return {"model": model, "kernel": kernel, "translations": list(translations),
            "bleu": list(bleu)}


def test_summary_counts_exact_sentences_per_kernel():
    right = list(d2l.TEST_FRAS)
    wrong_training = [right[0], "je vous en <unk> .", "il est riche .", right[3]]
    unseen_right = right  # all four exact
    unseen_wrong = right[:2] + ["il court ."] + right[3:]
    runs = [fake_run("transformer", "AVX2", unseen_wrong, (1, 1, 0, 1)),
            fake_run("transformer", "AVX2", wrong_training, (1, 0.2, 0.658, 1)),
            fake_run("transformer", "DEFAULT", unseen_right, (1, 1, 1, 1))]
    lines, table = bench.summarize(runs)
    counts = ("runs", "runs with all training sentences exact", f"{d2l.UNSEEN_ENG} exact",
              "training sentences exact")
    assert [table["transformer AVX2"][k] for k in counts] == [2, "1/2", "0/2", "5/6"]
    assert [table["transformer DEFAULT"][k] for k in counts] == [1, "1/1", "1/1", "3/3"]
    assert [table["transformer all"][k] for k in counts] == [3, "2/3", "1/3", "8/9"]
    assert table["transformer all"]["min BLEU"] == 0.715  # (1 + 0.2 + 0.658 + 1) / 4
    all_line = [line for line in lines if line.split()[:2] == ["transformer", "all"]][0]
    assert "8/9 (2/3 runs)" in all_line and " 1/3 " in all_line
    means = [0.75, (1 + 0.2 + 0.658 + 1) / 4, 1.0]
    assert f"{sum(means) / 3:.3f} ({min(means):.3f}-{max(means):.3f})" in all_line


def test_corpus_bleu_pools_counts():
    assert d2l.corpus_bleu(["il est riche ."], ["il est calme ."], k=2) == pytest.approx(
        d2l.bleu("il est riche .", "il est calme .", k=2))
    # pooled: 1-grams 5/6 matched (3/3 and 2/3), 2-grams 3/4 (2/2 and 1/2); equal lengths
    pooled = d2l.corpus_bleu(["x y z", "p q r"], ["x y z", "p q s"], k=2)
    assert pooled == pytest.approx((5 / 6) ** 0.5 * (3 / 4) ** 0.25)
    assert d2l.corpus_bleu([""], ["a b"], k=2) == 0.0
    with pytest.raises(ValueError, match="one reference per prediction"):
        d2l.corpus_bleu(["a"], ["a", "b"], k=2)


def test_heldout_pairs_are_unseen_and_fit(fra_data_dir, monkeypatch):
    monkeypatch.setenv("D2L_DATA_DIR", str(fra_data_dir))
    source, target, tests = bench.heldout_split(600, 50, 10)
    assert len(source) == len(target) == 600 and len(tests) == 50
    seen = {" ".join(s) for s in source}
    assert all(eng not in seen for eng, _ in tests)
    assert len({eng for eng, _ in tests}) == len(tests)  # each English sentence once
    assert all(len(e.split()) < 10 and len(f.split()) < 10 for e, f in tests)
    assert "\u2019" not in "".join(f for _, f in tests)  # cleaned like the training data


@pytest.mark.parametrize("argv", [[], ["--quick"], ["train", "--models", "rnn"],
                                  ["train", "--seeds", "0"], ["train", "--threads", "0"],
                                  ["train", "--jobs", "0"], ["heldout", "--models", "rnn"],
                                  ["train", "--models", "seq2seq"], ["sweep"],
                                  ["against", "cmd", "--jobs", "2"], ["speedups", "--jobs", "2"],
                                  ["train", "--kernels", "avx2"]])
def test_bad_arguments_are_rejected(argv, capsys):
    with pytest.raises(SystemExit):
        bench.parse_args(argv)
    assert "error" in capsys.readouterr().err


def test_a_worker_gets_the_whole_command_with_its_one_run_filled_in():
    args = bench.parse_args(["heldout", "--models", "bahdanau", "--threads", "2",
                             "--train-pairs", "300"])
    cmd = bench.worker_command(args, "bahdanau", 3, 7, ("cut_padding",))
    assert cmd[-2] == "--worker"
    job = json.loads(cmd[-1])
    assert (job["models"], job["seeds"], job["epochs"], job["without"]) == (
        ["bahdanau"], 3, 7, ["cut_padding"])
    assert (job["threads"], job["mode"], job["train_pairs"]) == (2, "heldout", 300)


def test_a_worker_started_from_the_command_line_gets_its_job():
    """`python tools/book.py bench sweep` carries book.py's own options (--venv, a path) too."""
    import book

    args = book.parse(["bench", "sweep", "--models", "transformer", "--kernels", "avx2"])
    job = json.loads(bench.worker_command(args, "transformer", 1, 5)[-1])
    assert (job["models"], job["seeds"], job["epochs"], job["mode"]) == (
        ["transformer"], 1, 5, "sweep")


def test_bench_trains_the_taught_classes():
    """The benchmarked models are built from the classes the notebooks teach, not faster twins."""
    vocab = type("V", (), {"__len__": lambda self: 30})()
    bahdanau = bench.settings("bahdanau").net(vocab, vocab)  # what `bench.run` trains
    assert type(bahdanau.decoder) is d2l.Seq2SeqAttentionDecoder
    transformer = bench.settings("transformer").net(vocab, vocab)
    assert type(transformer.encoder) is d2l.TransformerEncoder
    assert type(transformer.decoder) is d2l.TransformerDecoder
    attentions = [m for m in transformer.modules() if isinstance(m, d2l.MultiHeadAttention)]
    assert len(attentions) == 2 * 3 and all(type(m) is d2l.MultiHeadAttention for m in attentions)
    seq2seq = bench.settings("seq2seq").net(vocab, vocab)  # `--heldout` compares it too
    assert type(seq2seq.decoder) is d2l.Seq2SeqDecoder and not seq2seq.encoder.ignores_padding
    assert transformer.encoder.ignores_padding and not bahdanau.encoder.ignores_padding


def test_against_alternates_runs_and_prints_the_ratio(monkeypatch, capsys):
    # The other implementation is a shell command printing a JSON line; ours runs in a fresh
    # process, replaced here by a fake that records the order of the runs.
    order = []
    script = ("import json, sys; print('log line'); "
              "print(json.dumps({'tokens_per_s': 100.0 * (1 + int(sys.argv[3])), 'threads': 2}))")
    command = f'"{bench.sys.executable}" -c "{script}" {{model}} {{epochs}} {{seed}}'

    def fake_worker(args, kernel, model, seed, epochs):
        order.append(("ours", model, seed, epochs))
        return {"model": model, "seed": seed, "epochs": epochs, "wall": 1.0,
                "tokens_per_sec": 300.0, "loss": 0.1, "bleu": [1.0] * 4, "kernel": "X"}

    real_against = bench.run_against

    def recording_against(cmd, model, epochs, seed):
        order.append(("theirs", model, seed, epochs))
        return real_against(cmd, model, epochs, seed)

    monkeypatch.setattr(bench, "run_in_subprocess", fake_worker)
    monkeypatch.setattr(bench, "run_against", recording_against)
    assert bench.main(["against", command, "--models", "transformer", "--seeds", "2",
                       "--epochs", "7"]) == 0
    assert order == [("theirs", "transformer", 0, 7), ("ours", "transformer", 0, 7),
                     ("theirs", "transformer", 1, 7), ("ours", "transformer", 1, 7)]
    out = capsys.readouterr().out
    assert "theirs 100 tokens/s (2 thread(s))" in out and "theirs 200 tokens/s" in out
    # mean 300 vs mean 150
    assert out.strip().splitlines()[-1] == (
        "transformer ours 300 tokens/s (300, 300), theirs 150 tokens/s (100, 200): 2.00x")


def test_against_explains_a_command_without_a_json_line():
    with pytest.raises(RuntimeError, match="no JSON line with 'tokens_per_s'"):
        bench.run_against(f'"{bench.sys.executable}" -c "print(42)"', "bahdanau", 1, 0)
    with pytest.raises(RuntimeError, match="failed"):
        bench.run_against(f'"{bench.sys.executable}" -c "raise SystemExit(3)"', "bahdanau", 1, 0)


def test_save_writes_every_printed_figure_with_its_provenance(fra_data_dir, monkeypatch, tmp_path,
                                                             capsys):
    import json

    import results

    monkeypatch.setenv("D2L_DATA_DIR", str(fra_data_dir))
    monkeypatch.setattr(results, "RESULTS", tmp_path)
    old_threads = torch.get_num_threads()
    try:
        argv = ["train", "--quick", "--models", "bahdanau", "--device", "cpu", "--save", "smoke"]
        assert bench.main(argv) == 0
    finally:
        torch.set_num_threads(old_threads)
    record = json.loads((tmp_path / "smoke.json").read_text(encoding="utf-8"))
    assert shlex.split(record["command"]) == ["python", "tools/book.py", "bench", *argv]
    assert record["torch"] == torch.__version__.split("+")[0] and record["threads"] == 1
    assert record["cpu_kernel"] == bench.cpu_kernel()
    (run,) = record["figures"]["runs"]
    assert run["epochs"] == bench.QUICK_EPOCHS and run["tokens_per_sec"] > 0
    row = record["figures"]["summary"][f"bahdanau {bench.cpu_kernel()}"]
    assert row["runs"] == 1 and row["mean BLEU"] == round(sum(run["bleu"]) / 4, 3)
    assert f"mean {sum(run['bleu']) / 4:.3f}" in capsys.readouterr().out  # the printed figure


def test_speedups_report_each_share_of_the_training_time(monkeypatch):
    speed = {(): 1000.0, ("fused_adam",): 950.0,
             ("cut_padding",): 500.0, ("foreach_clipping",): 1000.0}
    calls = []

    def fake_worker(args, kernel, model, seed, epochs, without=()):
        calls.append(tuple(without))
        return {"tokens_per_sec": speed[tuple(without)], "loss": 0.1}

    monkeypatch.setattr(bench, "run_in_subprocess", fake_worker)
    figures = bench.measure_speedups(bench.parse_args(["speedups", "--models", "bahdanau",
                                                       "--seeds", "2", "--epochs", "5"]))
    assert calls == [(), *[(name,) for name in bench.SPEEDUPS]] * 2  # alternating, per seed
    saved = {k: v["training time saved %"] for k, v in figures["summary"].items()}
    assert saved == {"bahdanau fused_adam": 5.0,
                     "bahdanau cut_padding": 50.0, "bahdanau foreach_clipping": 0.0}


def test_each_configuration_builds_the_model_it_describes():
    """One configuration object per model holds its sizes: a changed field changes the model."""
    vocab = type("V", (), {"__len__": lambda self: 30})()
    transformer = dataclasses.replace(d2l.TRANSFORMER_CONFIG, num_layers=3, num_hiddens=16,
                                      num_heads=2).net(vocab, vocab)
    assert len(transformer.encoder.blks) == 3 and len(transformer.decoder.blks) == 3
    assert transformer.encoder.embedding.embedding_dim == 16
    for name in ("seq2seq", "bahdanau"):
        net = dataclasses.replace(bench.settings(name), num_hiddens=8, num_layers=3,
                                  embed_size=4).net(vocab, vocab)
        assert (net.encoder.rnn.hidden_size, net.encoder.rnn.num_layers) == (8, 3)
        assert net.encoder.embedding.embedding_dim == 4
    for name in ("bahdanau", "transformer"):  # the training settings travel with each model
        cfg = bench.settings(name)
        assert bench.epochs_for(bench.parse_args(["train", "--models", name]), name) \
            == cfg.num_epochs
    assert bench.epochs_for(bench.parse_args(["heldout"]), "seq2seq") == bench.HELDOUT_EPOCHS


def test_every_saved_benchmark_names_a_command_that_still_runs():
    """The appendix prints each result file's command as the way to reproduce it."""
    import results

    commands = [json.loads(p.read_text(encoding="utf-8")).get("command", "")
                for p in sorted(results.RESULTS.glob("*.json"))]
    bench_commands = [shlex.split(c)[3:] for c in commands
                      if shlex.split(c)[:3] == ["python", "tools/book.py", "bench"]]
    assert len(bench_commands) >= 4
    for argv in bench_commands:
        assert bench.parse_args(argv).save  # parses, and names the file it writes

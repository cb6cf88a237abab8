"""Tests for d2l_attention.utils (Timer, Accumulator, Animator, try_gpu, grad_clipping) and
d2l_attention.plotting (plot), headless: Agg backend, no IPython kernel."""

import math
from types import SimpleNamespace

import matplotlib
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from matplotlib import pyplot as plt
from torch import nn

from d2l_attention import utils
from d2l_attention.plotting import plot, set_axes
from d2l_attention.utils import Accumulator, Animator, Timer, grad_clipping, try_gpu

matplotlib.use("Agg")


class FakeClock:
    """A `time` module stand-in whose perf_counter returns the given instants in turn."""

    def __init__(self, *instants):
        self.instants = list(instants)

    def perf_counter(self):
        return self.instants.pop(0)


# --- Timer / Accumulator -----------------------------------------------------------------------

def test_timer(monkeypatch):
    monkeypatch.setattr(utils, "time", FakeClock(10.0, 12.5, 13.0, 16.0))
    timer = Timer()                 # starts at 10.0
    assert timer.stop() == 2.5      # 12.5 - 10.0
    timer.start()                   # 13.0
    assert timer.stop() == 3.0      # 16.0 - 13.0
    assert timer.times == [2.5, 3.0]
    assert timer.sum() == 5.5 and timer.avg() == 2.75
    assert timer.cumsum() == [2.5, 5.5]


def test_timer_real_clock():
    timer = Timer()
    assert timer.stop() >= 0.0 and len(timer.times) == 1


def test_accumulator():
    acc = Accumulator(2)
    acc.add(1, 2.5)
    acc.add(torch.tensor(3.0), 1)
    assert acc.data == [4.0, 3.5] and acc[0] == 4.0 and acc[1] == 3.5
    assert all(isinstance(v, float) for v in acc.data)
    with pytest.raises(ValueError, match="2"):
        acc.add(1)
    with pytest.raises(ValueError):
        acc.add(1, 2, 3)
    assert acc.data == [4.0, 3.5]  # a failed add changes nothing
    acc.reset()
    assert acc.data == [0.0, 0.0]


# --- Animator (headless) -----------------------------------------------------------------------

def test_animator_headless_records_and_reports(capsys):
    anim = Animator(xlabel="epoch", legend=["train", "test"], print_every=0)
    assert anim.live is False
    anim.add(1, [0.5, 0.25])
    anim.add(2, [0.4, None])       # a missing value is skipped for that curve only
    assert anim.X == [[1.0, 2.0], [1.0]]
    assert anim.Y == [[0.5, 0.4], [0.25]]
    err = capsys.readouterr().err.splitlines()
    assert err == ["epoch 1: train 0.5, test 0.25", "epoch 2: train 0.4"]


def test_animator_scalar_and_default_names(capsys):
    anim = Animator(print_every=0)
    anim.add(3, 0.125)
    anim.add(4, 1.0)
    assert anim.X == [[3.0, 4.0]] and anim.Y == [[0.125, 1.0]]
    two = Animator(print_every=0)
    two.add([1, 2], [1.0, 2.0])  # one x per curve
    assert two.X == [[1.0], [2.0]] and two.Y == [[1.0], [2.0]]
    assert capsys.readouterr().err.splitlines() == ["x 3: y0 0.125", "x 4: y0 1",
                                                    "x 1: y0 1, y1 2"]


def test_animator_prints_at_most_every_print_every_seconds(monkeypatch, capsys):
    # Created at t=0; adds at t=1 (too soon), t=6 (prints), t=7 (too soon), t=12 (prints).
    monkeypatch.setattr(utils, "time", FakeClock(0.0, 1.0, 6.0, 7.0, 12.0))
    anim = Animator(xlabel="epoch", print_every=5.0)
    for epoch in range(1, 5):
        anim.add(epoch, epoch / 10)
    assert anim.Y == [[0.1, 0.2, 0.3, 0.4]]
    assert capsys.readouterr().err.splitlines() == ["epoch 2: y0 0.2", "epoch 4: y0 0.4"]


# --- try_gpu / grad_clipping -------------------------------------------------------------------

@pytest.mark.parametrize("cuda, mps, want", [
    (2, True, ["cuda:0", "cuda:1", "cpu"]),   # CUDA first, by index; none past the last
    (0, True, ["mps", "cpu", "cpu"]),          # Apple's GPU when there is no CUDA (index 0 only)
    (0, False, ["cpu", "cpu", "cpu"]),
])
def test_try_gpu_prefers_cuda_then_mps_then_cpu(monkeypatch, cuda, mps, want):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: cuda > 0)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: cuda)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: mps)
    assert [try_gpu(i) for i in range(3)] == [torch.device(w) for w in want]


def _global_norm(grads):
    return math.sqrt(sum(float((g.double() ** 2).sum()) for g in grads))


def _net_with_grads(scale):
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(3, 4), nn.Linear(4, 2))
    for p in net.parameters():
        p.grad = torch.randn_like(p) * scale
    return net


def test_grad_clipping_caps_large_gradients():
    net = _net_with_grads(10.0)
    before = [p.grad.clone() for p in net.parameters()]
    assert _global_norm(before) > 5
    grad_clipping(net, 1.0)
    after = [p.grad for p in net.parameters()]
    assert _global_norm(after) == pytest.approx(1.0, rel=1e-5)
    ratio = 1.0 / _global_norm(before)  # every gradient is scaled by the same factor
    for b, a in zip(before, after):
        assert torch.allclose(a, b * ratio, rtol=1e-5, atol=1e-7)


def test_grad_clipping_leaves_small_gradients_untouched():
    net = _net_with_grads(0.01)
    before = [p.grad.clone() for p in net.parameters()]
    assert _global_norm(before) < 1.0
    grad_clipping(net, 1.0)
    for b, p in zip(before, net.parameters()):
        assert torch.equal(p.grad, b)


def test_grad_clipping_params_object_and_missing_grads():
    # The book's from-scratch models expose `.params`; a parameter without a gradient is skipped.
    w = torch.zeros(2, requires_grad=True)
    v = torch.zeros(3, requires_grad=True)
    w.grad = torch.tensor([3.0, 4.0])  # norm 5
    grad_clipping(SimpleNamespace(params=[w, v]), 2.5)
    assert torch.allclose(w.grad, torch.tensor([1.5, 2.0]), rtol=1e-5)
    assert v.grad is None


def test_grad_clipping_parameter_list_matches_module():
    # A list collected once (as train_seq2seq does) clips exactly like the module itself.
    net, twin = _net_with_grads(10.0), _net_with_grads(10.0)
    grad_clipping(net, 1.0)
    grad_clipping(list(twin.parameters()), 1.0)
    for a, b in zip(net.parameters(), twin.parameters()):
        assert torch.equal(a.grad, b.grad)
    assert _global_norm([p.grad for p in twin.parameters()]) == pytest.approx(1.0, rel=1e-5)


@settings(max_examples=50, deadline=None)
@given(st.lists(st.floats(-100, 100, allow_nan=False, width=32), min_size=1, max_size=12),
       st.floats(0.01, 50))
def test_grad_clipping_property(values, theta):
    p = torch.zeros(len(values), requires_grad=True)
    p.grad = torch.tensor(values, dtype=torch.float32)
    before = p.grad.clone()
    norm = _global_norm([before])
    grad_clipping(SimpleNamespace(params=[p]), theta)
    assert _global_norm([p.grad]) <= theta * (1 + 1e-5)
    if norm <= theta * (1 - 1e-4):
        assert torch.equal(p.grad, before)
    elif norm >= theta * (1 + 1e-4):
        assert torch.allclose(p.grad, before * (theta / norm), rtol=1e-4, atol=1e-6)


# --- plotting ----------------------------------------------------------------------------------

@pytest.fixture
def axes():
    with matplotlib.rc_context():  # plot() sets the default figure size; keep that local
        fig, ax = plt.subplots()
        yield ax
        plt.close(fig)


def test_plot_one_curve(axes):
    x, y = [0.0, 1.0, 2.0], [1.0, 4.0, 9.0]
    plot(x, y, xlabel="x", ylabel="y", xlim=[0, 2], axes=axes)
    assert len(axes.get_lines()) == 1
    line = axes.get_lines()[0]
    assert list(line.get_xdata()) == x and list(line.get_ydata()) == y
    assert axes.get_xlabel() == "x" and axes.get_ylabel() == "y"
    assert tuple(axes.get_xlim()) == (0, 2)
    assert axes.get_legend() is None


def test_plot_several_curves_with_legend(axes):
    x = torch.arange(5.0)
    plot(x, [x, x ** 2, 2 * x], legend=["x", "x^2", "2x"], axes=axes)
    lines = axes.get_lines()
    assert len(lines) == 3
    assert list(lines[1].get_ydata()) == [0.0, 1.0, 4.0, 9.0, 16.0]
    assert all(list(line.get_xdata()) == [0.0, 1.0, 2.0, 3.0, 4.0] for line in lines)
    assert [t.get_text() for t in axes.get_legend().get_texts()] == ["x", "x^2", "2x"]
    assert lines[1].get_linestyle() == "--"  # second default format "m--"


def test_plot_y_only_and_redraw_clears(axes):
    plot([[3.0, 1.0], [2.0, 2.0]], axes=axes)  # Y=None: X holds two curves, x = 0, 1
    assert len(axes.get_lines()) == 2
    assert list(axes.get_lines()[0].get_xdata()) == [0, 1]
    plot([5.0, 6.0, 7.0], axes=axes)  # a second plot replaces the first
    assert len(axes.get_lines()) == 1
    assert list(axes.get_lines()[0].get_ydata()) == [5.0, 6.0, 7.0]


def test_plot_on_current_axes_and_figsize():
    with matplotlib.rc_context():
        fig = plt.figure()
        try:
            plot([1.0, 2.0], [3.0, 4.0], figsize=(4.0, 3.0))
            assert len(fig.axes[0].get_lines()) == 1
            assert tuple(matplotlib.rcParams["figure.figsize"]) == (4.0, 3.0)
        finally:
            plt.close(fig)


def test_set_axes_log_scale(axes):
    set_axes(axes, "a", "b", None, None, "log", "log", ["c"])
    assert axes.get_xscale() == "log" and axes.get_yscale() == "log"


@pytest.mark.parametrize("scale", [0.01, 10.0])
def test_grad_clipping_equals_clip_grad_norm(scale):
    # One call over all gradients gives the very numbers of PyTorch's clip_grad_norm_, for mixed
    # dtypes too (which take clip_grad_norm_ itself).
    for dtypes in ((torch.float32, torch.float32), (torch.float32, torch.float64)):
        net, twin = _net_with_grads(scale), _net_with_grads(scale)
        for m in (net, twin):
            m[1].to(dtypes[1])
            for p in m.parameters():
                p.grad = (torch.randn_like(p, generator=torch.Generator().manual_seed(p.numel()))
                          * scale)
        grad_clipping(net, 1.0)
        torch.nn.utils.clip_grad_norm_(twin.parameters(), 1.0)
        for a, b in zip(net.parameters(), twin.parameters()):
            assert torch.equal(a.grad, b.grad)

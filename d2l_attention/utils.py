"""Training utilities from earlier chapters.

Timer, Accumulator, Animator, try_gpu, grad_clipping.
"""

import sys
import time

import torch
from matplotlib.figure import Figure

from .plotting import set_axes, use_svg_display

__all__ = ["Timer", "Accumulator", "Animator", "try_gpu", "grad_clipping"]


class Timer:
    """Record several running times."""

    def __init__(self):
        self.times = []
        self.start()

    def start(self):
        """Start (or restart) the stopwatch."""
        self.tik = time.perf_counter()

    def stop(self):
        """Stop the stopwatch, record the interval and return it in seconds."""
        self.times.append(time.perf_counter() - self.tik)
        return self.times[-1]

    def avg(self):
        return sum(self.times) / len(self.times)

    def sum(self):
        return sum(self.times)

    def cumsum(self):
        out, total = [], 0.0
        for t in self.times:
            total += t
            out.append(total)
        return out


class Accumulator:
    """Accumulate sums over `n` variables."""

    def __init__(self, n):
        self.data = [0.0] * n

    def add(self, *args):
        if len(args) != len(self.data):
            raise ValueError(f"Accumulator holds {len(self.data)} values, got {len(args)}")
        self.data = [a + float(b) for a, b in zip(self.data, args)]

    def reset(self):
        self.data = [0.0] * len(self.data)

    def __getitem__(self, idx):
        return self.data[idx]


def _in_jupyter_kernel():
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and hasattr(shell, "kernel")


class Animator:
    """Plot data incrementally: a live curve in Jupyter, progress lines on stderr elsewhere.

    In a Jupyter kernel the figure is shown once and then updated in place (one output, so
    re-executed notebooks keep a stable output list). Without a kernel (scripts, `make bench`)
    nothing is drawn; a progress line goes to stderr at most every `print_every` seconds.
    """

    def __init__(self, xlabel=None, ylabel=None, legend=None, xlim=None, ylim=None,
                 xscale="linear", yscale="linear", fmts=("-", "m--", "g-.", "r:"),
                 nrows=1, ncols=1, figsize=(3.5, 2.5), print_every=5.0):
        self.legend = list(legend) if legend else []
        self.xlabel = xlabel
        self.fmts = fmts
        self.X, self.Y = None, None
        self.live = _in_jupyter_kernel()
        self.print_every = print_every
        self._last_print = time.perf_counter()
        self._handle = None
        if self.live:
            use_svg_display()
        # A bare Figure (not pyplot) so the inline backend does not show it a second time.
        self.fig = Figure(figsize=figsize)
        self.axes = list(self.fig.subplots(nrows, ncols, squeeze=False).ravel())
        self.config_axes = lambda: set_axes(
            self.axes[0], xlabel, ylabel, xlim, ylim, xscale, yscale, self.legend)

    def add(self, x, y):
        """Add one point per curve: `y` is a number or a list of numbers, `x` likewise."""
        if not hasattr(y, "__len__"):
            y = [y]
        n = len(y)
        if not hasattr(x, "__len__"):
            x = [x] * n
        if self.X is None:
            self.X = [[] for _ in range(n)]
            self.Y = [[] for _ in range(n)]
        for i, (a, b) in enumerate(zip(x, y)):
            if a is not None and b is not None:
                self.X[i].append(float(a))
                self.Y[i].append(float(b))
        if self.live:
            self._draw()
        else:
            self._report(x[0], y)

    def _draw(self):
        from IPython.display import display

        ax = self.axes[0]
        ax.cla()
        for xs, ys, fmt in zip(self.X, self.Y, self.fmts * len(self.X)):
            ax.plot(xs, ys, fmt)
        self.config_axes()
        if self._handle is None:
            self._handle = display(self.fig, display_id=True)
        else:
            self._handle.update(self.fig)

    def _report(self, x, y):
        now = time.perf_counter()
        if now - self._last_print < self.print_every:
            return
        self._last_print = now
        names = self.legend or [f"y{i}" for i in range(len(y))]
        values = ", ".join(f"{name} {float(v):.4g}" for name, v in zip(names, y) if v is not None)
        print(f"{self.xlabel or 'x'} {x}: {values}", file=sys.stderr, flush=True)


def try_gpu(i=0):
    """Return CUDA device i if it exists, else Apple's MPS (for i=0), else the CPU.

    The book's version knows only CUDA; on a Mac with Apple silicon this one trains on its GPU.
    """
    if torch.cuda.is_available() and torch.cuda.device_count() >= i + 1:
        return torch.device(f"cuda:{i}")
    mps = getattr(torch.backends, "mps", None)
    if i == 0 and mps is not None and mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def grad_clipping(net, theta, *, foreach=True):
    """Rescale the gradients of `net` so that their global L2 norm is at most `theta`.

    `net` is an `nn.Module`, an object with `.params` (the book's from-scratch models), or a list
    of parameters: a training loop can collect them once instead of walking the modules at every
    batch. Same rule as the book's version and as `clip_grad_norm_` (whose numbers it
    reproduces), without a host sync for the norm check (it matters on a GPU). The norms and
    the rescaling are one call each over all gradients rather than a Python loop over the
    parameters, which matters for small models with dozens of parameter tensors, and on a GPU it
    never waits for the device. `foreach=False` is the book's loop (a host sync for the norm),
    kept so that `bench speedups` can measure the difference.
    """
    if isinstance(net, torch.nn.Module):
        params = [p for p in net.parameters() if p.requires_grad and p.grad is not None]
    else:
        params = [p for p in getattr(net, "params", net) if p.grad is not None]
    grads = [p.grad for p in params]
    if not grads:
        return
    if not foreach:
        norm = torch.sqrt(sum(torch.sum(g ** 2) for g in grads))
        if norm > theta:
            for g in grads:
                g[:] *= theta / norm
        return
    if len({(g.device, g.dtype) for g in grads}) > 1 or any(g.is_sparse for g in grads):
        torch.nn.utils.clip_grad_norm_(params, theta)  # mixed devices or sparse: the general way
        return
    norm = torch.linalg.vector_norm(torch.stack(torch._foreach_norm(grads)))
    torch._foreach_mul_(grads, (theta / (norm + 1e-6)).clamp(max=1.0))

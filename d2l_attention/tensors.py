"""Framework-neutral tensor names of the book's chapter 2 (`d2l.reshape`, `d2l.tensor`, ...).

The book writes code shared by its MXNet, PyTorch and TensorFlow editions with these names, so its
`#@tab all` cells call `d2l.zeros((2, 3))` or `d2l.reshape(x, (1, -1))`. In the PyTorch edition
each one is the PyTorch operation of the same meaning; they are defined here so the book's code
runs unchanged with `import d2l_attention as d2l`.

Two families:

* constructors and element-wise functions that *are* PyTorch's (`d2l.ones is torch.ones`);
* method-style helpers that take the tensor first: `d2l.reshape(x, shape)` is `x.reshape(shape)`,
  `d2l.reduce_sum(x, dim)` is `x.sum(dim)`, `d2l.numpy(x)` a NumPy array of `x`.
"""

import torch

__all__ = [
    # constructors, element-wise functions and dtypes: PyTorch's own
    "ones", "zeros", "tensor", "arange", "meshgrid", "sin", "sinh", "cos", "cosh", "tanh",
    "linspace", "exp", "log", "normal", "rand", "randn", "matmul", "int32", "float32",
    "concat", "stack", "abs", "eye", "nn_Module",
    # helpers that take the tensor first
    "numpy", "size", "reshape", "to", "reduce_sum", "reduce_mean", "argmax", "astype",
    "transpose",
]

ones = torch.ones
zeros = torch.zeros
tensor = torch.tensor
arange = torch.arange
meshgrid = torch.meshgrid
sin = torch.sin
sinh = torch.sinh
cos = torch.cos
cosh = torch.cosh
tanh = torch.tanh
linspace = torch.linspace
exp = torch.exp
log = torch.log
normal = torch.normal
rand = torch.rand
randn = torch.randn
matmul = torch.matmul
int32 = torch.int32
float32 = torch.float32
concat = torch.cat
stack = torch.stack
abs = torch.abs  # noqa: A001 (the book's name)
eye = torch.eye
nn_Module = torch.nn.Module


def numpy(x, *args, **kwargs):
    """A NumPy array with the values of `x` (detached from autograd, copied to the CPU)."""
    return x.detach().cpu().numpy(*args, **kwargs)


def size(x, *args, **kwargs):
    """The number of elements of `x`."""
    return x.numel(*args, **kwargs)


def reshape(x, *args, **kwargs):
    """`x` with another shape: `reshape(x, (2, -1))` or `reshape(x, 2, -1)`."""
    return x.reshape(*args, **kwargs)


def to(x, *args, **kwargs):
    """`x` on another device or with another dtype."""
    return x.to(*args, **kwargs)


def reduce_sum(x, *args, **kwargs):
    """Sum of `x`, over all elements or along `dim` (`keepdim=True` keeps the axis)."""
    return x.sum(*args, **kwargs)


def reduce_mean(x, *args, **kwargs):
    """Mean of `x`, over all elements or along `dim`."""
    return x.mean(*args, **kwargs)


def argmax(x, *args, **kwargs):
    """Index of the largest element of `x`, overall or along `dim`."""
    return x.argmax(*args, **kwargs)


def astype(x, *args, **kwargs):
    """`x` converted to a dtype: `astype(x, torch.float32)`."""
    return x.type(*args, **kwargs)


def transpose(x, *args, **kwargs):
    """The transpose of a matrix (or vector) `x`."""
    return x.t(*args, **kwargs)


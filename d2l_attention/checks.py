"""Argument checks for the taught components: one line in a lesson, the whole message here.

A taught `forward` calls, say, `d2l.check_qkv(queries, keys, values)`; the helper raises a
`ValueError` that names the expected shape, what it got, and how to fix it. None of them reads a
tensor's values on an accelerator (that would wait for the device on every call) or while
torch.compile traces (a host sync breaks its graph): value checks run on CPU tensors in eager
mode, and otherwise only the shapes are checked.
"""

import torch

__all__ = ["check_shape", "check_qkv", "check_valid_lens", "check_divisible", "check_labels",
           "check_heatmaps", "check_even", "check_at_most", "check_folded_heads",
           "check_last_axis", "check_same_shape", "check_block_sizes", "check_min_lens"]


def _values_readable(lens):
    """True when reading `lens`'s values costs no device sync and no graph break (see above)."""
    return lens.device.type == "cpu" and lens.numel() > 0 and not torch.compiler.is_compiling()


def _axes(pattern):
    return [a.strip() for a in pattern.strip("()").split(",") if a.strip()]


def check_shape(X, name, pattern, hint="", **sizes):
    """Raise ValueError unless X has as many axes as `pattern` names, with the sizes given.

    pattern: the expected shape in words, e.g. "(batch_size, num_steps, num_hiddens)".
    sizes: axis name -> required size, e.g. num_hiddens=32 (other axes may have any size).
    hint: one sentence that says how to fix it, appended to the message.
    """
    axes = _axes(pattern)
    shape = tuple(X.shape)
    ok = len(shape) == len(axes) and all(
        shape[i] == sizes[a] for i, a in enumerate(axes) if a in sizes)
    if not ok:
        want = ", ".join(f"{a}={sizes[a]}" if a in sizes else a for a in axes)
        raise ValueError(f"{name} must have shape ({want}), got {shape}"
                         + (f"; {hint}" if hint else ""))


def check_qkv(queries, keys, values, query_size=None, key_size=None):
    """Raise ValueError unless queries, keys and values fit together.

    queries: (batch_size, num_queries, query_size); keys: (batch_size, num_kv, key_size);
    values: (batch_size, num_kv, value_dim). query_size / key_size, when given, must match.
    """
    sizes = {} if query_size is None else {"query_size": query_size}
    check_shape(queries, "queries", "(batch_size, num_queries, query_size)", **sizes)
    sizes = {} if key_size is None else {"key_size": key_size}
    check_shape(keys, "keys", "(batch_size, num_kv, key_size)", **sizes)
    batch_size, num_kv = keys.shape[:2]
    check_shape(values, "values", "(batch_size, num_kv, value_dim)",
                "values pair one-to-one with keys", batch_size=batch_size, num_kv=num_kv)
    if queries.shape[0] != batch_size:
        raise ValueError(f"queries, keys and values must share batch_size, got shapes "
                         f"{tuple(queries.shape)}, {tuple(keys.shape)} and {tuple(values.shape)}")


def check_valid_lens(valid_lens, batch_size, num_queries, num_keys):
    """Raise ValueError unless valid_lens is (batch_size,) or (batch_size, num_queries) and holds
    whole numbers in [0, num_keys] (values read only on the CPU and not while torch.compile
    traces, as the module says)."""
    lens = torch.as_tensor(valid_lens)
    if tuple(lens.shape) not in ((batch_size,), (batch_size, num_queries)):
        raise ValueError(
            f"valid_lens must have shape (batch_size,) = ({batch_size},) or (batch_size, "
            f"num_queries) = ({batch_size}, {num_queries}), got shape {tuple(lens.shape)}")
    if not _values_readable(lens):
        return
    bad = (lens < 0) | (lens > num_keys)
    if lens.is_floating_point():
        bad |= lens != lens.round()
    if bad.any():
        lo, hi = lens.min().item(), lens.max().item()
        raise ValueError(f"valid_lens must hold whole numbers between 0 and num_keys={num_keys}, "
                         f"got values from {lo} to {hi}")


def check_divisible(num_hiddens, num_heads):
    """Raise ValueError unless num_heads divides num_hiddens (each head gets an equal slice)."""
    if num_heads < 1 or num_hiddens % num_heads:
        divisors = [h for h in range(1, num_hiddens + 1) if num_hiddens % h == 0]
        raise ValueError(f"num_hiddens={num_hiddens} is not divisible by num_heads={num_heads}; "
                         f"choose num_heads among {divisors}")


def check_labels(labels, count, what):
    """Raise ValueError unless `labels` is None or has exactly `count` items.

    what: what they label, e.g. "xticklabels (one per key)".
    """
    if labels is not None and len(labels) != count:
        raise ValueError(f"got {len(labels)} {what}, need {count}; pass exactly {count}, or None")


def check_heatmaps(matrices, titles=None, xticklabels=None, yticklabels=None):
    """Raise ValueError unless `show_heatmaps` can draw these arguments.

    matrices: (num_rows, num_cols, num_queries, num_keys); titles: None or one per grid column;
    xticklabels / yticklabels: None or one per key / per query.
    """
    check_shape(matrices, "matrices", "(num_rows, num_cols, num_queries, num_keys)",
                "add axes with reshape or unsqueeze")
    num_rows, num_cols, num_queries, num_keys = matrices.shape
    check_labels(titles, num_cols, "titles (one per column of heatmaps)")
    check_labels(xticklabels, num_keys, "xticklabels (one per key)")
    check_labels(yticklabels, num_queries, "yticklabels (one per query)")


def check_even(value, name, why):
    """Raise ValueError unless `value` is even. why: the reason, e.g. "columns come in pairs"."""
    if value % 2:
        raise ValueError(f"{name}={value} must be even: {why}; use an even {name}")


def check_at_most(value, limit, what, limit_name, hint=""):
    """Raise ValueError if `value` (described by `what`) exceeds `limit_name`=`limit`."""
    if value > limit:
        raise ValueError(f"{what} {value} exceeds {limit_name}={limit}"
                         + (f"; {hint}" if hint else ""))


def check_folded_heads(X, num_heads):
    """Raise ValueError unless X is (batch_size * num_heads, n, head_dim), the layout that
    `transpose_qkv` returns: 3-D, with a first axis that is a multiple of num_heads."""
    check_shape(X, "X", "(batch_size * num_heads, n, num_hiddens / num_heads)")
    if X.shape[0] % num_heads:
        raise ValueError(f"the first axis of X has size {X.shape[0]}, which is not a multiple of "
                         f"num_heads={num_heads}; pass the output of transpose_qkv with the same "
                         "num_heads")


def check_last_axis(X, size, name, hint=""):
    """Raise ValueError unless the last axis of X has `size` entries (any leading axes)."""
    if X.shape[-1] != size:
        raise ValueError(f"the last axis of X has size {X.shape[-1]}, but {name}={size}"
                         + (f"; {hint}" if hint else ""))


def check_same_shape(X, Y, what):
    """Raise ValueError unless X and Y have the same shape. what: why they must, in words."""
    if X.shape != Y.shape:
        raise ValueError(f"{what}: got shapes {tuple(X.shape)} and {tuple(Y.shape)}")


def check_block_sizes(key_size, query_size, value_size, num_hiddens, norm_shape, ffn_num_input):
    """Raise ValueError unless a Transformer block's sizes fit its residual connections: the
    block's input, its attention output and its FFN input are added together."""
    sizes = {"key_size": key_size, "query_size": query_size, "value_size": value_size,
             "ffn_num_input": ffn_num_input}
    for name, size in sizes.items():
        if size != num_hiddens:
            raise ValueError(f"{name}={size} but num_hiddens={num_hiddens}: a block's input, "
                             "its attention output and its FFN input are added together, so "
                             f"use {name}={num_hiddens}")
    if list(norm_shape)[-1] != num_hiddens:
        raise ValueError(f"norm_shape={list(norm_shape)} must end with num_hiddens={num_hiddens}; "
                         f"use norm_shape=[{num_hiddens}]")


def check_min_lens(valid_lens, name, minimum, hint=""):
    """Raise ValueError if some entry of `valid_lens` is below `minimum` (values read only on
    the CPU and not while torch.compile traces, as the module says).

    name: what the lengths are called, e.g. "enc_valid_lens"; hint: how to fix it.
    """
    lens = torch.as_tensor(valid_lens)
    if _values_readable(lens) and bool((lens < minimum).any()):
        raise ValueError(f"{name} must be >= {minimum} for every sequence, got a length of "
                         f"{lens.min().item()}" + (f"; {hint}" if hint else ""))

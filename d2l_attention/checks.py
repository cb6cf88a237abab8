"""Argument checks for the taught components: one line in a lesson, the whole message here.

A taught `forward` calls, say, `check_qkv(queries, keys, values)` (the notebook imports it from
here); the helper raises a `ValueError` that names the expected shape, what it got, and how to fix
it. Checks used once are inline `if ...: raise ValueError(...)` lines in the notebooks instead.
None of them reads a tensor's values on an accelerator (that would wait for the device on every
call) or while torch.compile traces (a host sync breaks its graph): value checks run on CPU
tensors in eager mode, and otherwise only the shapes are checked.
"""

import torch

__all__ = ["check_shape", "check_qkv", "check_valid_lens", "check_heatmaps"]


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


def _check_labels(labels, count, what):
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
    _check_labels(titles, num_cols, "titles (one per column of heatmaps)")
    _check_labels(xticklabels, num_keys, "xticklabels (one per key)")
    _check_labels(yticklabels, num_queries, "yticklabels (one per query)")

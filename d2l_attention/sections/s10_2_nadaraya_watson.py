# Generated from notebooks/10.2-nadaraya-watson.py by `make lib`: DO NOT EDIT.
# Edit notebooks/10.2-nadaraya-watson.py instead, then run `make sync execute`
# (without make: `python tools/book.py sync`, then `python tools/book.py execute`).
"""Section 10.2 注意力汇聚：Nadaraya-Watson 核回归 (Attention Pooling: Nadaraya-Watson Kernel Regression): the components saved with `#@save`."""

import torch
from torch import nn

from ..checks import check_shape
from ..explorers import rows

__all__ = ['NWKernelRegression', 'kernel_width_states']


# %% notebooks/10.2-nadaraya-watson.py:194
class NWKernelRegression(nn.Module):
    """Nadaraya-Watson kernel regression with a learnable Gaussian kernel width `w`.

    forward(queries, keys, values):
        queries: (num_queries,)
        keys, values: (num_queries, num_keys); row q holds the key-value pairs of query q
        returns: (num_queries,), the attention-weighted average of each row of `values`
    After a call, `attention_weights` holds the softmax weights, (num_queries, num_keys).
    """

    def __init__(self, w=None, **kwargs):
        super().__init__(**kwargs)
        init = torch.rand((1,)) if w is None else torch.tensor([float(w)])
        self.w = nn.Parameter(init)
        self.attention_weights = None

    def forward(self, queries, keys, values):
        check_shape(queries, "queries", "(num_queries,)", "flatten them: queries.reshape(-1)")
        check_shape(keys, "keys", "(num_queries, num_keys)", num_queries=len(queries))
        n_q, n_k = keys.shape
        check_shape(values, "values", "(num_queries, num_keys)", num_queries=n_q, num_keys=n_k)
        self.attention_weights = torch.softmax(self.log_kernel(queries, keys), dim=-1)
        # One weighted average per query: the (1, num_keys) row of weights times the
        # (num_keys, 1) column of values, batched over the queries.
        pooled = torch.bmm(self.attention_weights[:, None, :], values[:, :, None])
        return pooled[:, 0, 0]

    def log_kernel(self, queries, keys):
        """Attention scores -u^2/2 with u = w (x - x_i), the log of an unnormalised Gaussian.

        queries: (num_queries,); keys: (num_queries, num_keys) -> (num_queries, num_keys).
        The factor 1/sqrt(2 pi) of the density would cancel in the softmax, so it is left out.
        """
        u = self.w * (queries[:, None] - keys)  # scaled distance of each query to its own keys
        return -0.5 * u.square()


# %% notebooks/10.2-nadaraya-watson.py:507
def kernel_width_states(x_train, y_train, x_test, y_truth, widths, queries, w_path,
                        curve_widths, decimals=3):
    """Explorer rows for NWKernelRegression at each kernel width in `widths` and query in `queries`.

    x_train, y_train: (n,) training pairs (keys and values); x_test, y_truth: the test grid and
    its noise-free outputs. Returns a dict of row lists (see `d2l.rows`), losses per point:
    "fit": the prediction on `x_test` for each w; "weights": alpha(query, x_i) for each
    (w, query), only the weights that round to more than 0; "marker": (query, prediction) for
    each (w, query); "text": for each w a line (line 0) with the test MSE and the
    leave-one-out loss L(w)/n, for each (w, query) a line (line 1) with the prediction and the
    largest weight; "curve": L(w)/n and the test MSE over `curve_widths`; "loss_at_w": L(w)/n
    at each w; "path": (w, L(w)/n) for each epoch of `w_path` (w before training, then after
    every epoch). Controls: w, query, epoch; the plotted widths are in the column "width".
    """
    n = len(x_train)
    keep = ~torch.eye(n, dtype=torch.bool)  # leave one out: query i never sees key i
    loo_keys, loo_values = (t.repeat(n, 1)[keep].reshape(n, n - 1) for t in (x_train, y_train))

    def losses(w):
        model = NWKernelRegression(w=w)
        with torch.no_grad():
            loo = ((model(x_train, loo_keys, loo_values) - y_train) ** 2).mean().item()
            y_hat = model(x_test, x_train.repeat(len(x_test), 1), y_train.repeat(len(x_test), 1))
        return loo, ((y_hat - y_truth) ** 2).mean().item(), y_hat

    out = {k: [] for k in ("fit", "weights", "marker", "text", "curve", "loss_at_w", "path")}
    for w in curve_widths:
        loo, mse, _ = losses(w)
        for name, value in (("leave-one-out loss L(w)/n", loo), ("test MSE", mse)):
            out["curve"] += rows({"width": w, "curve": name}, loss=[value], decimals=decimals)
    for epoch, w in enumerate(w_path):
        out["path"] += rows({"epoch": epoch, "curve": "training path of w"}, width=[w],
                                loss=[losses(w)[0]], decimals=decimals)
    query_tensor = torch.tensor([float(q) for q in queries])
    for w in widths:
        loo, mse, y_hat = losses(w)
        out["fit"] += rows({"w": w, "curve": "prediction"}, x=x_test, y=y_hat,
                               decimals=decimals)
        out["loss_at_w"] += rows({"w": w, "curve": "current w"}, width=[w], loss=[loo],
                                     decimals=decimals)
        out["text"] += rows({"w": w}, line=[0], text=[
            f"w = {w:g}: test MSE {mse:.3f}, leave-one-out loss L(w)/n {loo:.3f}"])
        model = NWKernelRegression(w=w)
        with torch.no_grad():
            pred = model(query_tensor, x_train.repeat(len(queries), 1),
                         y_train.repeat(len(queries), 1))
        for q, y_q, alpha in zip(queries, pred, model.attention_weights):
            state = {"w": w, "query": q}
            visible = alpha.round(decimals=decimals) > 0
            out["weights"] += rows(state, x=x_train[visible], weight=alpha[visible],
                                       decimals=decimals)
            out["marker"] += rows({**state, "curve": "prediction at the query"},
                                      x=[q], y=[y_q], decimals=decimals)
            out["text"] += rows(state, line=[1], text=[
                f"query x = {q:g}: prediction {y_q:.2f}, largest weight {alpha.max():.2f}"])
    return out

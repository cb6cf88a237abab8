"""The book's interface: code written for the zh book's `d2l` runs on `d2l_attention`.

The book's PyTorch cells call framework-neutral names from its chapter 2 (`d2l.reshape`,
`d2l.normal`, ...), read attributes such as `attention_weights`, and load `state_dict`s whose
keys follow the book's module layout. These tests call the names the way the book's code does
(our own code, not the book's) and check shapes, values and key layouts.
"""

import math

import numpy as np
import pytest
import torch
from torch import nn

import d2l_attention as d2l

# ------------------------------------------------------------------- tensor names


def test_book_style_calls_give_the_expected_shapes_and_values():
    torch.manual_seed(0)
    x_train, _ = torch.sort(d2l.rand(50) * 5)              # 10.2: sorted training inputs
    assert x_train.shape == (50,) and 0 <= x_train.min() and x_train.max() < 5
    noise = d2l.normal(0.0, 0.5, (50,))                    # mean, std, shape
    assert noise.shape == (50,)
    assert abs(float(noise.std()) - 0.5) < 0.2
    x_test = d2l.arange(0, 5, 0.1)
    assert x_test.shape == (50,) and x_test.dtype == torch.float32
    assert d2l.arange(6, 10).tolist() == [6, 7, 8, 9]
    mask = (1 - d2l.eye(4)).type(torch.bool)               # leave-one-out mask of 10.2
    assert mask.sum() == 12 and not mask.diagonal().any()
    w = d2l.ones((50, 50)) / 50
    assert torch.allclose(d2l.matmul(w, x_train), x_train.mean().expand(50))
    assert d2l.zeros((4, 7), dtype=torch.long).dtype == torch.long
    assert d2l.tensor([[1, 3], [2, 4]]).shape == (2, 2)
    parts = [d2l.ones((1, 3)), d2l.zeros((2, 3))]
    assert d2l.concat(parts, 0).shape == (3, 3)             # dim given positionally
    assert torch.equal(d2l.sin(d2l.tensor([0.0])), d2l.tensor([0.0]))
    assert d2l.tensor([1], dtype=d2l.float32).dtype == torch.float32
    assert d2l.astype(d2l.ones(2), d2l.int32).dtype == torch.int32

    class Net(d2l.nn_Module):  # the book subclasses its alias of nn.Module
        def forward(self, x):
            return d2l.exp(x)

    assert torch.equal(Net()(d2l.zeros(2)), d2l.ones(2)) and isinstance(Net(), nn.Module)


def test_method_style_helpers_take_the_tensor_first():
    x = torch.arange(12.0, requires_grad=True)
    assert d2l.reshape(x, (1, 1, 3, 4)).shape == (1, 1, 3, 4)
    assert d2l.reshape(x, 3, 4).shape == (3, 4)
    assert d2l.size(x) == 12
    assert float(d2l.reduce_sum(x.detach())) == 66.0
    assert d2l.reduce_sum(d2l.reshape(x, (3, 4)), 1).tolist() == [6.0, 22.0, 38.0]
    assert float(d2l.reduce_mean(x.detach())) == 5.5
    assert int(d2l.argmax(x)) == 11
    assert d2l.astype(x, torch.int32).dtype == torch.int32
    assert d2l.transpose(d2l.reshape(x, (3, 4))).shape == (4, 3)
    assert d2l.to(x, torch.float64).dtype == torch.float64
    array = d2l.numpy(x)  # works on a tensor that requires grad
    assert isinstance(array, np.ndarray) and array.shape == (12,) and array[-1] == 11.0


def test_plotting_names():
    import matplotlib.pyplot as plt

    d2l.use_svg_display()
    d2l.plot(d2l.arange(10), d2l.reshape(d2l.arange(40.0), (4, 10)), xlabel="Row (position)",
             figsize=(6, 2.5), legend=[f"Col {d}" for d in d2l.arange(6, 10)])
    assert len(plt.gca().get_lines()) == 4
    plt.close("all")


def test_dir_d2l_is_the_books_api_without_checks_or_explorer_machinery():
    from d2l_attention import checks, explorers
    leaked = sorted(set(dir(d2l)) & (set(checks.__all__) | set(explorers.__all__)))
    assert leaked == [], f"import these from d2l_attention.checks / .explorers instead: {leaked}"
    assert not [n for n in dir(d2l) if n.startswith("check_") and n != "check_data"]


def test_pandas_is_installed_for_the_book_code():
    pd = pytest.importorskip("pandas", reason="pandas is in requirements.txt")
    ragged = [[0.5, 0.5], [0.2, 0.3, 0.5]]
    filled = d2l.tensor(pd.DataFrame(ragged).fillna(0.0).values)
    assert filled.shape == (2, 3) and float(filled[0, 2]) == 0.0


# ------------------------------------------------------------- state_dict layout


def book_additive_keys():
    return {"W_k.weight": (8, 3), "W_q.weight": (8, 5), "w_v.weight": (1, 8)}


def book_mha_keys(prefix="", d=8, bias=False):
    keys = {}
    for name in ("W_q", "W_k", "W_v", "W_o"):
        keys[f"{prefix}{name}.weight"] = (d, d)
        if bias:
            keys[f"{prefix}{name}.bias"] = (d,)
    return keys


def book_addnorm_keys(prefix, d=8):
    return {f"{prefix}.ln.weight": (d,), f"{prefix}.ln.bias": (d,)}


def book_ffn_keys(prefix, d=8, hidden=16):
    return {f"{prefix}.dense1.weight": (hidden, d), f"{prefix}.dense1.bias": (hidden,),
            f"{prefix}.dense2.weight": (d, hidden), f"{prefix}.dense2.bias": (d,)}


def book_encoder_keys(vocab=20, layers=2):
    keys = {"embedding.weight": (vocab, 8)}
    for i in range(layers):
        p = f"blks.block{i}."
        keys |= book_mha_keys(p + "attention.") | book_addnorm_keys(p + "addnorm1")
        keys |= book_ffn_keys(p + "ffn") | book_addnorm_keys(p + "addnorm2")
    return keys


def book_decoder_keys(vocab=20, layers=2):
    keys = {"embedding.weight": (vocab, 8)}
    for i in range(layers):
        p = f"blks.block{i}."
        keys |= book_mha_keys(p + "attention1.") | book_addnorm_keys(p + "addnorm1")
        keys |= book_mha_keys(p + "attention2.") | book_addnorm_keys(p + "addnorm2")
        keys |= book_ffn_keys(p + "ffn") | book_addnorm_keys(p + "addnorm3")
    return keys | {"dense.weight": (vocab, 8), "dense.bias": (vocab,)}


def book_gru_decoder_keys(vocab=20, embed=6, hidden=8, layers=2):
    keys = {"attention.W_k.weight": (hidden, hidden), "attention.W_q.weight": (hidden, hidden),
            "attention.w_v.weight": (1, hidden), "embedding.weight": (vocab, embed)}
    for k in range(layers):
        width = embed + hidden if k == 0 else hidden
        keys |= {f"rnn.weight_ih_l{k}": (3 * hidden, width),
                 f"rnn.weight_hh_l{k}": (3 * hidden, hidden),
                 f"rnn.bias_ih_l{k}": (3 * hidden,), f"rnn.bias_hh_l{k}": (3 * hidden,)}
    return keys | {"dense.weight": (vocab, hidden), "dense.bias": (vocab,)}


def transformer_args(vocab=20, layers=2):
    # vocab, key/query/value size, num_hiddens, norm_shape, ffn in/hidden, heads, layers, dropout
    return (vocab, 8, 8, 8, 8, [8], 8, 16, 2, layers, 0.0)


MODELS = {
    "AdditiveAttention": (lambda: d2l.AdditiveAttention(3, 5, 8, 0.0), book_additive_keys),
    "DotProductAttention": (lambda: d2l.DotProductAttention(0.0), dict),
    "MultiHeadAttention": (lambda: d2l.MultiHeadAttention(8, 8, 8, 8, 2, 0.0), book_mha_keys),
    "MultiHeadAttention(bias=True)": (lambda: d2l.MultiHeadAttention(8, 8, 8, 8, 2, 0.0, True),
                                      lambda: book_mha_keys(bias=True)),
    "PositionalEncoding": (lambda: d2l.PositionalEncoding(8, 0.0), dict),  # P is no parameter
    "PositionWiseFFN": (lambda: d2l.PositionWiseFFN(8, 16, 8), lambda: book_ffn_keys("x")),
    "AddNorm": (lambda: d2l.AddNorm([8], 0.0), lambda: book_addnorm_keys("x")),
    "TransformerEncoder": (lambda: d2l.TransformerEncoder(*transformer_args()),
                           book_encoder_keys),
    "TransformerDecoder": (lambda: d2l.TransformerDecoder(*transformer_args()),
                           book_decoder_keys),
    "Seq2SeqAttentionDecoder": (lambda: d2l.Seq2SeqAttentionDecoder(20, 6, 8, 2),
                                book_gru_decoder_keys),
}


@pytest.mark.parametrize("name", list(MODELS))
def test_a_state_dict_in_the_books_layout_loads(name):
    """Keys and shapes as the book's modules name them: a checkpoint of theirs loads into ours."""
    build, book_keys = MODELS[name]
    model = build()
    expected = book_keys()
    if name in ("PositionWiseFFN", "AddNorm"):  # built above under a dummy prefix "x."
        expected = {k.removeprefix("x."): v for k, v in expected.items()}
    ours = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    assert ours == expected
    torch.manual_seed(1)
    checkpoint = {k: torch.randn(shape) for k, shape in expected.items()}
    model.load_state_dict(checkpoint, strict=True)
    for k, v in model.state_dict().items():
        assert torch.equal(v, checkpoint[k]), k


def test_seq2seq_state_dict_prefixes():
    net = d2l.EncoderDecoder(d2l.Seq2SeqEncoder(20, 6, 8, 2),
                             d2l.Seq2SeqAttentionDecoder(20, 6, 8, 2))
    keys = set(net.state_dict())
    assert {"encoder.embedding.weight", "encoder.rnn.weight_ih_l0",
            "decoder.attention.W_q.weight", "decoder.dense.bias"} <= keys
    assert all(k.startswith(("encoder.", "decoder.")) for k in keys)


# --------------------------------------------------------- attributes the book reads


def test_attention_weights_of_the_scoring_modules():
    torch.manual_seed(0)
    queries, keys = d2l.normal(0, 1, (2, 1, 20)), d2l.ones((2, 10, 2))
    values = d2l.reshape(d2l.arange(40, dtype=torch.float32), (1, 10, 4)).repeat(2, 1, 1)
    valid_lens = d2l.tensor([2, 6])
    additive = d2l.AdditiveAttention(key_size=2, query_size=20, num_hiddens=8, dropout=0.1)
    additive.eval()
    assert additive(queries, keys, values, valid_lens).shape == (2, 1, 4)
    assert additive.attention_weights.shape == (2, 1, 10)
    d2l.show_heatmaps(d2l.reshape(additive.attention_weights, (1, 1, 2, 10)),
                      xlabel="Keys", ylabel="Queries")
    dot = d2l.DotProductAttention(dropout=0.5)
    dot.eval()
    assert dot(d2l.normal(0, 1, (2, 1, 2)), keys, values, valid_lens).shape == (2, 1, 4)
    assert torch.allclose(dot.attention_weights.sum(-1), torch.ones(2, 1))
    d2l.plt.close("all")


def test_multihead_attention_weights_and_positional_encoding():
    num_hiddens, num_heads = 100, 5
    attention = d2l.MultiHeadAttention(num_hiddens, num_hiddens, num_hiddens, num_hiddens,
                                       num_heads, 0.5)
    attention.eval()
    X, Y = d2l.ones((2, 4, num_hiddens)), d2l.ones((2, 6, num_hiddens))
    assert attention(X, Y, Y, d2l.tensor([3, 2])).shape == (2, 4, num_hiddens)
    assert attention.attention.attention_weights.shape == (2 * num_heads, 4, 6)
    assert attention.num_heads == num_heads
    pos_encoding = d2l.PositionalEncoding(32, 0)
    X = pos_encoding(d2l.zeros((1, 60, 32)))
    P = pos_encoding.P[:, :X.shape[1], :]
    assert P.shape == (1, 60, 32) and torch.allclose(X, P)
    assert math.isclose(float(P[0, 1, 1]), math.cos(1.0), rel_tol=1e-6)


def test_transformer_attention_weights_as_the_book_reshapes_them():
    torch.manual_seed(0)
    num_layers, num_heads, steps = 2, 2, 5
    encoder = d2l.TransformerEncoder(*transformer_args(layers=num_layers))
    decoder = d2l.TransformerDecoder(*transformer_args(layers=num_layers))
    net = d2l.EncoderDecoder(encoder, decoder)
    net.eval()
    X = torch.randint(0, 20, (1, steps))
    valid = d2l.tensor([3])
    enc_outputs = net.encoder(X, valid)
    enc = d2l.reshape(d2l.concat(net.encoder.attention_weights, 0),
                      (num_layers, num_heads, -1, steps))
    assert enc.shape == (num_layers, num_heads, steps, steps)
    state = net.decoder.init_state(enc_outputs, valid)
    _, state = net.decoder(torch.zeros((1, 1), dtype=torch.long), state)
    self_attn, cross_attn = net.decoder.attention_weights
    assert len(self_attn) == len(cross_attn) == num_layers
    assert self_attn[0].shape == (num_heads, 1, 1) and cross_attn[0].shape == (num_heads, 1, steps)


# ------------------------------------------------------------ a short training run


@pytest.fixture(scope="module")
def nmt_data(fra_data_dir):
    return d2l.load_data_nmt(batch_size=64, num_steps=10)


def test_book_style_bahdanau_run(nmt_data):
    """10.4 as the book drives it: build, train (briefly), translate, reshape the weights."""
    train_iter, src_vocab, tgt_vocab = nmt_data
    torch.manual_seed(0)
    num_steps = 10
    encoder = d2l.Seq2SeqEncoder(len(src_vocab), 32, 32, 2, 0.1)
    decoder = d2l.Seq2SeqAttentionDecoder(len(tgt_vocab), 32, 32, 2, 0.1)
    net = d2l.EncoderDecoder(encoder, decoder)
    d2l.train_seq2seq(net, train_iter, 0.005, 3, tgt_vocab, d2l.try_gpu())
    translation, dec_attention_weight_seq = d2l.predict_seq2seq(
        net, "i'm home .", src_vocab, tgt_vocab, num_steps, d2l.try_gpu(), True)
    tokens = translation.split()
    # one step per emitted token, plus the step that emitted <eos> (unless num_steps ran out)
    assert len(dec_attention_weight_seq) in (len(tokens) + 1, num_steps)
    weights = d2l.reshape(d2l.concat([step[0][0][0] for step in dec_attention_weight_seq], 0),
                          (1, 1, -1, num_steps))
    assert weights.shape == (1, 1, len(dec_attention_weight_seq), num_steps)
    assert torch.allclose(weights.sum(-1), torch.ones(1, 1, len(dec_attention_weight_seq)))
    d2l.show_heatmaps(weights[:, :, :, :4].cpu(), xlabel="Key positions",
                      ylabel="Query positions")
    d2l.plt.close("all")

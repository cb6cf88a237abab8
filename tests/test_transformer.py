"""Tests of section 10.7: the Transformer blocks, masking, the decoding cache and the fast paths.

Where PyTorch has its own version of a block (nn.TransformerEncoderLayer / DecoderLayer, post-norm
with ReLU), the tests copy our weights into it and compare outputs.
"""

import copy

import pytest
import torch
from torch import nn

import d2l_attention as d2l

D, HEADS, FFN, LAYERS, VOCAB = 16, 4, 32, 2, 23


def encoder_block(dropout=0.0, use_bias=False):
    return d2l.EncoderBlock(D, D, D, D, [D], D, FFN, HEADS, dropout, use_bias)


def make_encoder(dropout=0.0):
    return d2l.TransformerEncoder(VOCAB, D, D, D, D, [D], D, FFN, HEADS, LAYERS, dropout)


def make_decoder(dropout=0.0):
    return d2l.TransformerDecoder(VOCAB, D, D, D, D, [D], D, FFN, HEADS, LAYERS, dropout)


def tokens(batch_size, num_steps, seed=0):
    return torch.randint(0, VOCAB, (batch_size, num_steps),
                         generator=torch.Generator().manual_seed(seed))


# --- shapes ------------------------------------------------------------------------------------

def test_positionwise_ffn_shape_and_independence():
    torch.manual_seed(0)
    ffn = d2l.PositionWiseFFN(4, 8, 6)
    X = torch.randn(3, 5, 4)
    out = ffn(X)
    assert out.shape == (3, 5, 6)
    # each position is transformed on its own: permuting positions permutes the outputs
    perm = torch.randperm(5)
    assert torch.allclose(ffn(X[:, perm]), out[:, perm], atol=1e-6)


def test_addnorm_is_layernorm_of_the_residual_sum():
    torch.manual_seed(0)
    add_norm = d2l.AddNorm([D], dropout=0.5)
    add_norm.eval()
    X, Y = torch.randn(2, 3, D), torch.randn(2, 3, D)
    expected = nn.functional.layer_norm(X + Y, (D,))
    assert torch.allclose(add_norm(X, Y), expected, atol=1e-5)
    out = add_norm(X, Y)
    assert torch.allclose(out.mean(-1), torch.zeros(2, 3), atol=1e-5)


def test_block_and_stack_shapes():
    torch.manual_seed(0)
    X, valid = torch.randn(2, 9, D), torch.tensor([9, 4])
    blk = encoder_block()
    assert blk(X, valid).shape == (2, 9, D)
    encoder = make_encoder()
    enc_out = encoder(tokens(2, 9), valid)
    assert enc_out.shape == (2, 9, D)
    assert len(encoder.attention_weights) == LAYERS
    assert all(w.shape == (2 * HEADS, 9, 9) for w in encoder.attention_weights)
    dec_blk = d2l.DecoderBlock(D, D, D, D, [D], D, FFN, HEADS, 0.0, 0)
    out, state = dec_blk(torch.randn(2, 6, D), [enc_out, valid, [None]])
    assert out.shape == (2, 6, D) and state[2][0].shape == (2, 6, D)
    decoder = make_decoder()
    Y_hat, state = decoder(tokens(2, 6, seed=1), decoder.init_state(enc_out, valid))
    assert Y_hat.shape == (2, 6, VOCAB)
    self_w, cross_w = decoder.attention_weights
    assert all(w.shape == (2 * HEADS, 6, 6) for w in self_w)
    assert all(w.shape == (2 * HEADS, 6, 9) for w in cross_w)


def test_encoder_padding_gets_no_attention():
    torch.manual_seed(0)
    encoder = make_encoder()
    encoder.eval()
    valid = torch.tensor([9, 4])
    encoder(tokens(2, 9), valid)
    for w in encoder.attention_weights:
        w = w.reshape(2, HEADS, 9, 9)
        assert w[1, :, :, 4:].abs().max() == 0
        assert torch.allclose(w.sum(-1), torch.ones(2, HEADS, 9), atol=1e-6)


# --- masking and the decoding cache ------------------------------------------------------------

def test_decoder_self_attention_is_causal_in_training():
    torch.manual_seed(0)
    decoder = make_decoder(dropout=0.0)
    decoder.train()
    enc_out, valid = torch.randn(3, 5, D), torch.tensor([5, 2, 3])
    Y = tokens(3, 7)
    Y_hat, _ = decoder(Y, decoder.init_state(enc_out, valid))
    above = torch.triu(torch.ones(7, 7, dtype=torch.bool), diagonal=1)
    for w in decoder.attention_weights[0]:
        assert w[:, above].abs().max() == 0
        assert w[:, ~above].min() > 0
    # changing later target tokens never changes earlier outputs
    Y2 = Y.clone()
    Y2[:, 4:] = (Y2[:, 4:] + 1) % VOCAB
    Y_hat2, _ = decoder(Y2, decoder.init_state(enc_out, valid))
    assert torch.allclose(Y_hat[:, :4], Y_hat2[:, :4], atol=1e-5)
    assert not torch.allclose(Y_hat[:, 4:], Y_hat2[:, 4:], atol=1e-3)


@pytest.mark.parametrize("fast", [False, True])
def test_cache_matches_recomputing_the_full_prefix(fast):
    """Feeding one token at a time (eval mode, cache) equals one causal pass over the prefix."""
    torch.manual_seed(0)
    decoder = make_decoder(dropout=0.0)
    if fast:
        d2l.use_fast_attention(decoder)
    enc_out, valid = torch.randn(2, 5, D), torch.tensor([5, 3])
    Y = tokens(2, 6)
    decoder.train()  # dropout is 0: training mode only switches the causal mask on
    full, _ = decoder(Y, decoder.init_state(enc_out, valid))
    decoder.eval()
    state = decoder.init_state(enc_out, valid)
    steps = []
    for t in range(Y.shape[1]):
        out, state = decoder(Y[:, t:t + 1], state)
        steps.append(out)
        assert all(c.shape == (2, t + 1, D) for c in state[2])  # the cache grows by one
    assert torch.allclose(full, torch.cat(steps, dim=1), atol=1e-5)


def test_predict_stops_at_eos():
    vocab = d2l.Vocab([["a", "b", "c"]], reserved_tokens=["<pad>", "<bos>", "<eos>"])
    torch.manual_seed(0)
    args = (D, D, D, D, [D], D, FFN, HEADS, LAYERS, 0.0)
    net = d2l.EncoderDecoder(d2l.TransformerEncoder(len(vocab), *args),
                             d2l.TransformerDecoder(len(vocab), *args))
    dense = net.decoder.dense
    with torch.no_grad():
        dense.weight.zero_()
        dense.bias.zero_()
        dense.bias[vocab["b"]] = 5.0
    translation, weights = d2l.predict_seq2seq(net, "a c", vocab, vocab, 5, "cpu", True)
    assert translation == "b b b b b" and len(weights) == 5
    with torch.no_grad():
        dense.bias[vocab["<eos>"]] = 10.0
    translation, weights = d2l.predict_seq2seq(net, "a c", vocab, vocab, 5, "cpu", True)
    assert translation == "" and len(weights) == 1


# --- the fast paths ----------------------------------------------------------------------------

@pytest.mark.parametrize("bias", [False, True])
def test_fast_attention_matches_plain_outputs_weights_and_gradients(bias):
    torch.manual_seed(0)
    plain = d2l.MultiHeadAttention(D, D, D, D, HEADS, 0.0, bias=bias)
    fast = d2l.use_fast_attention(copy.deepcopy(plain))
    assert type(fast) is d2l.FastMultiHeadAttention
    A = torch.randn(3, 5, D, requires_grad=True)
    B = torch.randn(3, 7, D)
    cases = [(A, A, A, torch.tensor([5, 3, 1])),
             (A, A, A, torch.arange(1, 6).repeat(3, 1)),
             (A, B, B, torch.tensor([7, 2, 4])),
             (A, B, B, None)]
    for q, k, v, valid in cases:
        out_p = plain(q, k, v, valid)
        out_f = fast(q, k, v, valid)
        assert torch.allclose(out_p, out_f, atol=1e-5)
        assert torch.allclose(plain.attention.attention_weights,
                              fast.attention.attention_weights, atol=1e-6)
        g_p = torch.autograd.grad(out_p.square().sum(), [A, *plain.parameters()])
        g_f = torch.autograd.grad(out_f.square().sum(), [A, *fast.parameters()])
        for a, b in zip(g_p, g_f):
            assert torch.allclose(a, b, atol=1e-4)


def test_fast_attention_keeps_weights_in_eval_mode():
    torch.manual_seed(0)
    plain = d2l.MultiHeadAttention(D, D, D, D, HEADS, 0.2)
    fast = d2l.use_fast_attention(copy.deepcopy(plain))
    plain.eval()
    fast.eval()
    X = torch.randn(2, 4, D)
    assert torch.allclose(plain(X, X, X, torch.tensor([4, 2])), fast(X, X, X, torch.tensor([4, 2])))
    assert torch.equal(plain.attention.attention_weights, fast.attention.attention_weights)


def test_use_fast_attention_swaps_every_attention_and_keeps_weights():
    torch.manual_seed(0)
    net = d2l.EncoderDecoder(make_encoder(), make_decoder())
    before = copy.deepcopy(net.state_dict())
    assert d2l.use_fast_attention(net) is net
    kinds = [type(m) for m in net.modules() if isinstance(m, d2l.MultiHeadAttention)]
    assert len(kinds) == LAYERS * 3 and set(kinds) == {d2l.FastMultiHeadAttention}
    after = net.state_dict()
    assert before.keys() == after.keys()
    assert all(torch.equal(before[k], after[k]) for k in before)


def test_trimming_source_padding_is_exact_for_the_transformer():
    torch.manual_seed(0)
    net = d2l.EncoderDecoder(make_encoder(dropout=0.0), make_decoder(dropout=0.0))
    net.train()  # causal mask on, dropout 0
    X, Y = tokens(3, 10), tokens(3, 6, seed=1)
    X_valid, Y_valid = torch.tensor([4, 5, 2]), torch.tensor([6, 3, 2])
    (X_cut, X_valid_cut, Y_cut, Y_valid_cut), = list(
        d2l.TrimSourcePadding([(X, X_valid, Y, Y_valid)]))
    assert X_cut.shape == (3, 5) and Y_cut is Y and X_valid_cut is X_valid
    full, _ = net(X, Y, X_valid)
    cut, _ = net(X_cut, Y, X_valid)
    assert torch.allclose(full, cut, atol=1e-5)
    assert len(d2l.TrimSourcePadding([1, 2, 3])) == 3


# --- cross-checks against PyTorch's own layers -------------------------------------------------

def _copy_attention(ours, theirs):
    with torch.no_grad():
        theirs.in_proj_weight.copy_(torch.cat([ours.W_q.weight, ours.W_k.weight,
                                               ours.W_v.weight]))
        theirs.in_proj_bias.zero_()
        theirs.out_proj.weight.copy_(ours.W_o.weight)
        theirs.out_proj.bias.zero_()


def _copy_ffn_and_norms(ours_ffn, norms, theirs):
    with torch.no_grad():
        theirs.linear1.load_state_dict(ours_ffn.dense1.state_dict())
        theirs.linear2.load_state_dict(ours_ffn.dense2.state_dict())
        for ours_norm, name in norms:
            getattr(theirs, name).load_state_dict(ours_norm.ln.state_dict())


def test_encoder_block_matches_torch_encoder_layer():
    torch.manual_seed(0)
    ours = encoder_block()
    theirs = nn.TransformerEncoderLayer(D, HEADS, FFN, dropout=0.0, batch_first=True)
    _copy_attention(ours.attention, theirs.self_attn)
    _copy_ffn_and_norms(ours.ffn, [(ours.addnorm1, "norm1"), (ours.addnorm2, "norm2")], theirs)
    ours.eval()
    theirs.eval()
    X, valid = torch.randn(3, 6, D), torch.tensor([6, 4, 1])
    padding = torch.arange(6)[None, :] >= valid[:, None]
    expected = theirs(X, src_key_padding_mask=padding)
    got = ours(X, valid)
    keep = ~padding  # torch may zero out padded rows; compare the valid positions
    assert torch.allclose(got[keep], expected[keep], atol=1e-5)


def test_decoder_block_matches_torch_decoder_layer():
    torch.manual_seed(0)
    ours = d2l.DecoderBlock(D, D, D, D, [D], D, FFN, HEADS, 0.0, 0)
    theirs = nn.TransformerDecoderLayer(D, HEADS, FFN, dropout=0.0, batch_first=True)
    _copy_attention(ours.attention1, theirs.self_attn)
    _copy_attention(ours.attention2, theirs.multihead_attn)
    _copy_ffn_and_norms(ours.ffn, [(ours.addnorm1, "norm1"), (ours.addnorm2, "norm2"),
                                   (ours.addnorm3, "norm3")], theirs)
    ours.train()  # causal mask on (dropout 0)
    theirs.eval()
    X, enc, valid = torch.randn(2, 5, D), torch.randn(2, 7, D), torch.tensor([7, 3])
    causal = nn.Transformer.generate_square_subsequent_mask(5)
    memory_padding = torch.arange(7)[None, :] >= valid[:, None]
    expected = theirs(X, enc, tgt_mask=causal, memory_key_padding_mask=memory_padding)
    got, _ = ours(X, [enc, valid, [None]])
    assert torch.allclose(got, expected, atol=1e-5)

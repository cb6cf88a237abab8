"""Cross-checks of the taught components against PyTorch's own, for the notebooks and the tests.

Not part of the book's API (`import d2l_attention as d2l` does not bring these names): a section
that shows a cross-check as a lesson imports this module and prints one line, e.g.

    from d2l_attention import testing
    print(f"max |ours - nn.MultiheadAttention| = {testing.mha_difference(ours, Q, K, V, lens):.1e}")

and the tests call the same functions. Each `*_difference` returns the largest absolute
difference between our output and PyTorch's on the same inputs, with the model in eval mode.
"""

import torch
from torch import nn
from torch.nn import functional as F

__all__ = ["key_padding_mask", "sdpa_difference", "torch_multihead_attention", "mha_difference",
           "torch_encoder_layer", "torch_decoder_layer", "encoder_layer_difference",
           "decoder_layer_difference"]


def key_padding_mask(valid_lens, num_keys):
    """(batch_size, num_keys) booleans, True at keys to ignore (PyTorch's `key_padding_mask`)."""
    valid_lens = torch.as_tensor(valid_lens)
    return torch.arange(num_keys, device=valid_lens.device) >= valid_lens[:, None]


def _keep_mask(valid_lens, num_queries, num_keys):
    """(batch_size, num_queries, num_keys) booleans, True at keys that take part (SDPA's mask)."""
    lens = torch.as_tensor(valid_lens)
    lens = lens[:, None].expand(-1, num_queries) if lens.dim() == 1 else lens
    return torch.arange(num_keys, device=lens.device) < lens[..., None]


@torch.no_grad()
def sdpa_difference(attention, queries, keys, values, valid_lens=None):
    """Our dot-product attention vs `F.scaled_dot_product_attention` (valid lengths >= 1)."""
    attention.eval()
    ours = attention(queries, keys, values, valid_lens)
    mask = None if valid_lens is None else _keep_mask(valid_lens, queries.shape[1], keys.shape[1])
    theirs = F.scaled_dot_product_attention(queries, keys, values, attn_mask=mask)
    return (ours - theirs).abs().max().item()


def _copy_linear(src, dest_weight, dest_bias=None):
    dest_weight.copy_(src.weight)
    if dest_bias is not None:
        dest_bias.copy_(src.bias if src.bias is not None else torch.zeros_like(dest_bias))


@torch.no_grad()
def torch_multihead_attention(ours):
    """An `nn.MultiheadAttention` (batch_first) holding the weights of a d2l.MultiHeadAttention."""
    num_hiddens, key_size, value_size = (ours.W_q.out_features, ours.W_k.in_features,
                                         ours.W_v.in_features)
    if ours.W_q.in_features != num_hiddens:
        raise ValueError("nn.MultiheadAttention needs query_size == num_hiddens")
    bias = ours.W_q.bias is not None
    theirs = nn.MultiheadAttention(num_hiddens, ours.num_heads, bias=bias, batch_first=True,
                                   kdim=key_size, vdim=value_size)
    if theirs._qkv_same_embed_dim:
        theirs.in_proj_weight.copy_(torch.cat([ours.W_q.weight, ours.W_k.weight,
                                               ours.W_v.weight]))
        if bias:
            theirs.in_proj_bias.copy_(torch.cat([ours.W_q.bias, ours.W_k.bias, ours.W_v.bias]))
    else:
        theirs.q_proj_weight.copy_(ours.W_q.weight)
        theirs.k_proj_weight.copy_(ours.W_k.weight)
        theirs.v_proj_weight.copy_(ours.W_v.weight)
        if bias:
            theirs.in_proj_bias.copy_(torch.cat([ours.W_q.bias, ours.W_k.bias, ours.W_v.bias]))
    _copy_linear(ours.W_o, theirs.out_proj.weight, theirs.out_proj.bias)
    return theirs.eval()


@torch.no_grad()
def mha_difference(ours, queries, keys, values, valid_lens=None, per_head=False):
    """Our multi-head attention vs `nn.MultiheadAttention` with the same weights.

    With per_head=True, compares the per-head attention weights instead of the outputs.
    valid_lens: None or (batch_size,) (PyTorch's key_padding_mask has no per-query lengths).
    """
    ours.eval()
    theirs = torch_multihead_attention(ours)
    padding = None if valid_lens is None else key_padding_mask(valid_lens, keys.shape[1])
    out = ours(queries, keys, values, valid_lens)
    out_theirs, w_theirs = theirs(queries, keys, values, key_padding_mask=padding,
                                  average_attn_weights=False)
    if per_head:
        w_ours = ours.attention.attention_weights.unflatten(0, (queries.shape[0], -1))
        return (w_ours - w_theirs).abs().max().item()
    return (out - out_theirs).abs().max().item()


def _copy_ffn_and_norms(ffn, addnorms, theirs):
    theirs.linear1.load_state_dict(ffn.dense1.state_dict())
    theirs.linear2.load_state_dict(ffn.dense2.state_dict())
    for k, addnorm in enumerate(addnorms, start=1):
        getattr(theirs, f"norm{k}").load_state_dict(addnorm.ln.state_dict())


@torch.no_grad()
def _copy_attention(ours, theirs):
    """Our MultiHeadAttention's weights into a torch layer's nn.MultiheadAttention (same sizes)."""
    theirs.in_proj_weight.copy_(torch.cat([ours.W_q.weight, ours.W_k.weight, ours.W_v.weight]))
    _copy_linear(ours.W_o, theirs.out_proj.weight, theirs.out_proj.bias)
    if ours.W_q.bias is None:
        theirs.in_proj_bias.zero_()
    else:
        theirs.in_proj_bias.copy_(torch.cat([ours.W_q.bias, ours.W_k.bias, ours.W_v.bias]))


def torch_encoder_layer(blk):
    """An nn.TransformerEncoderLayer (post-LN, ReLU, batch_first, dropout 0) with blk's weights."""
    theirs = nn.TransformerEncoderLayer(blk.attention.W_o.out_features, blk.attention.num_heads,
                                        blk.ffn.dense1.out_features, dropout=0.0,
                                        batch_first=True, norm_first=False)
    _copy_attention(blk.attention, theirs.self_attn)
    _copy_ffn_and_norms(blk.ffn, [blk.addnorm1, blk.addnorm2], theirs)
    return theirs.eval()


def torch_decoder_layer(blk):
    """An nn.TransformerDecoderLayer (post-LN, ReLU, batch_first, dropout 0) with blk's weights."""
    theirs = nn.TransformerDecoderLayer(blk.attention1.W_o.out_features, blk.attention1.num_heads,
                                        blk.ffn.dense1.out_features, dropout=0.0,
                                        batch_first=True, norm_first=False)
    _copy_attention(blk.attention1, theirs.self_attn)
    _copy_attention(blk.attention2, theirs.multihead_attn)
    _copy_ffn_and_norms(blk.ffn, [blk.addnorm1, blk.addnorm2, blk.addnorm3], theirs)
    return theirs.eval()


@torch.no_grad()
def encoder_layer_difference(blk, X, valid_lens):
    """An EncoderBlock vs nn.TransformerEncoderLayer, at the valid positions (PyTorch may zero
    the padded ones in eval mode)."""
    blk.eval()
    padding = key_padding_mask(valid_lens, X.shape[1])
    diff = blk(X, valid_lens) - torch_encoder_layer(blk)(X, src_key_padding_mask=padding)
    return diff[~padding].abs().max().item()


@torch.no_grad()
def decoder_layer_difference(blk, X, enc_outputs, enc_valid_lens):
    """A DecoderBlock fed the whole target at once vs nn.TransformerDecoderLayer with a causal
    mask and the source's padding mask."""
    blk.eval()
    ours, _ = blk(X, [enc_outputs, enc_valid_lens, [None] * (blk.i + 1)])
    causal = nn.Transformer.generate_square_subsequent_mask(X.shape[1])
    theirs = torch_decoder_layer(blk)(
        X, enc_outputs, tgt_mask=causal,
        memory_key_padding_mask=key_padding_mask(enc_valid_lens, enc_outputs.shape[1]))
    return (ours - theirs).abs().max().item()

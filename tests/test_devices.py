"""Correct on every device: the helpers that run a model keep every tensor on the model's device.

On PyTorch's `meta` device a tensor has a shape but no values: any operation that mixes it with a
CPU tensor raises ("Tensor on device cpu is not on the expected device meta!"), and reading a value
raises "Tensor.item() cannot be called on meta tensors". A helper that gets as far as reading its
first value has therefore run the whole model on the device it was given: the CPU-left-behind bug
of a CUDA or Apple GPU shows up here without either.
"""

import pytest
import torch

import d2l_attention as d2l

READ_A_VALUE = r"item\(\) cannot be called on meta tensors"
BUILDERS = {"seq2seq": lambda: d2l.SEQ2SEQ_CONFIG.net, "bahdanau": lambda: d2l.BAHDANAU_CONFIG.net,
            "transformer": lambda: d2l.TRANSFORMER_CONFIG.net}


@pytest.fixture(scope="module")
def tiny_data():
    eng = [["go", "."], ["i", "lost", "."], ["he's", "calm", "."], ["i'm", "home", "."]]
    fra = [["va", "!"], ["j'ai", "perdu", "."], ["il", "est", "calme", "."],
           ["je", "suis", "chez", "moi", "."]]
    reserved = ["<pad>", "<bos>", "<eos>"]
    src_vocab, tgt_vocab = d2l.Vocab(eng, reserved_tokens=reserved), \
        d2l.Vocab(fra, reserved_tokens=reserved)
    src, src_len = d2l.build_array_nmt(eng, src_vocab, 6)
    tgt, tgt_len = d2l.build_array_nmt(fra, tgt_vocab, 6)
    return d2l.load_array((src, src_len, tgt, tgt_len), 2), src_vocab, tgt_vocab


@pytest.mark.parametrize("model", list(BUILDERS))
def test_training_runs_on_the_models_device(tiny_data, model):
    data_iter, src_vocab, tgt_vocab = tiny_data
    torch.manual_seed(0)
    net = BUILDERS[model]()(src_vocab, tgt_vocab)
    # The first value read is the epoch's token count: forward, loss, backward, clipping and
    # Adam have all run on the meta device by then.
    with pytest.raises(RuntimeError, match=READ_A_VALUE):
        d2l.train_seq2seq(net, data_iter, 0.005, 1, tgt_vocab, torch.device("meta"))


@pytest.mark.parametrize("model", list(BUILDERS))
def test_prediction_runs_on_the_models_device(tiny_data, model):
    _, src_vocab, tgt_vocab = tiny_data
    torch.manual_seed(0)
    net = BUILDERS[model]()(src_vocab, tgt_vocab).to("meta")
    # The first value read is the first predicted token: the encoder and one decoder step ran.
    with pytest.raises(RuntimeError, match=READ_A_VALUE):
        d2l.predict_seq2seq(net, "i lost .", src_vocab, tgt_vocab, 6, torch.device("meta"))


def test_a_tensor_left_on_the_cpu_is_caught():
    """The premise of the tests above: mixing devices raises on meta, it is not silently fine."""
    layer = torch.nn.Linear(3, 2).to("meta")
    with pytest.raises(RuntimeError, match="device"):
        layer(torch.zeros(1, 3))

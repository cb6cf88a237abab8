"""Text pipeline from the machine-translation chapter: Vocab and the fra-eng loader."""

import collections
import re

import torch

from .data import read_data_nmt

__all__ = ["count_corpus", "Vocab", "truncate_pad", "preprocess_nmt", "tokenize_nmt",
           "build_array_nmt", "TensorBatches", "load_array", "load_data_nmt",
           "nmt_data_from_tokens"]


def count_corpus(tokens):
    """Count token frequencies; `tokens` is a list of tokens or a list of token lists."""
    if len(tokens) and isinstance(tokens[0], list):
        tokens = [tok for line in tokens for tok in line]
    return collections.Counter(tokens)


class Vocab:
    """Map tokens to indices and back. Index 0 is `<unk>`, then `reserved_tokens`, then the
    tokens seen at least `min_freq` times, most frequent first (ties keep first-seen order)."""

    def __init__(self, tokens=None, min_freq=0, reserved_tokens=None):
        tokens = tokens if tokens is not None else []
        reserved_tokens = reserved_tokens if reserved_tokens is not None else []
        counter = count_corpus(tokens)
        self._token_freqs = sorted(counter.items(), key=lambda kv: kv[1], reverse=True)
        self.idx_to_token = ["<unk>"] + list(reserved_tokens)
        self.token_to_idx = {tok: i for i, tok in enumerate(self.idx_to_token)}
        for tok, freq in self._token_freqs:
            if freq < min_freq:
                break
            if tok not in self.token_to_idx:
                self.token_to_idx[tok] = len(self.idx_to_token)
                self.idx_to_token.append(tok)

    def __len__(self):
        return len(self.idx_to_token)

    def __getitem__(self, tokens):
        if isinstance(tokens, (list, tuple)):
            return [self.__getitem__(t) for t in tokens]
        return self.token_to_idx.get(tokens, self.unk)

    def to_tokens(self, indices):
        if isinstance(indices, torch.Tensor):
            indices = indices.tolist()
        if isinstance(indices, (list, tuple)):
            return [self.idx_to_token[int(i)] for i in indices]
        return self.idx_to_token[int(indices)]

    @property
    def unk(self):
        return 0

    @property
    def token_freqs(self):
        return self._token_freqs


def truncate_pad(line, num_steps, padding_token):
    """Cut `line` to `num_steps` tokens or pad it with `padding_token` up to that length."""
    if len(line) > num_steps:
        return line[:num_steps]
    return line + [padding_token] * (num_steps - len(line))


_PUNCT_WITHOUT_SPACE = re.compile(r"(?<=[^ ])([,.!?])")
_SPACES = re.compile(r" {2,}")

# Characters that write the same thing in different ways. Left alone, the vocabulary would hold
# `j'ai` and `j’ai` (typographic apostrophe) as two unrelated tokens, each seen half as often.
NMT_CHAR_MAP = str.maketrans({
    "\u2019": "'",   # right single quotation mark, used as an apostrophe: j’ai -> j'ai
    "\u2018": "'",   # left single quotation mark
    "\xab": '"',     # « guillemets -> straight double quotes
    "\xbb": '"',     # »
    "\u202f": " ",   # narrow no-break space (before ! ? in French typography)
    "\xa0": " ",     # no-break space
    "\u2009": " ",   # thin space
    "\u200b": "",    # zero-width space
})


def preprocess_nmt(text):
    """Clean the raw fra-eng text: one spelling per character, lower case, punctuation split off.

    Does what the book's preprocessing does (no-break spaces become spaces, lower case, a space
    before , . ! ? that follow a non-space) after two cleaning steps of our own: typographic
    apostrophes and quotes become their ASCII forms and every other space variant a space
    (`NMT_CHAR_MAP`), and runs of spaces collapse to one, so that no empty tokens appear.
    """
    text = _SPACES.sub(" ", text.translate(NMT_CHAR_MAP)).lower()
    return _PUNCT_WITHOUT_SPACE.sub(r" \1", text)


def tokenize_nmt(text, num_examples=None):
    """Split preprocessed text into (source, target) lists of word-token lists."""
    source, target = [], []
    for i, line in enumerate(text.split("\n")):
        if num_examples is not None and i >= num_examples:
            break
        parts = line.split("\t")
        if len(parts) == 2:
            source.append(parts[0].split(" "))
            target.append(parts[1].split(" "))
    return source, target


def build_array_nmt(lines, vocab, num_steps):
    """Turn token lists into a padded index tensor (with `<eos>`) and their valid lengths."""
    rows = [truncate_pad(vocab[line] + [vocab["<eos>"]], num_steps, vocab["<pad>"])
            for line in lines]
    array = torch.tensor(rows, dtype=torch.long)
    valid_len = (array != vocab["<pad>"]).type(torch.int32).sum(1)
    return array, valid_len


class TensorBatches:
    """Minibatches `(X[idx], y[idx], ...)` of tensors that share their first dimension.

    Does what `DataLoader(TensorDataset(*arrays), batch_size, shuffle=is_train)` does for
    in-memory tensors, but slices each batch with one indexing op per tensor instead of collating
    `batch_size` single samples (far less Python per batch). The order is reshuffled (from
    torch's global generator) on every pass when `shuffle` is true.
    """

    def __init__(self, arrays, batch_size, shuffle=True):
        arrays = tuple(arrays)
        if not arrays:
            raise ValueError("load_array needs at least one tensor")
        n = arrays[0].shape[0]
        if any(a.shape[0] != n for a in arrays):
            raise ValueError("all tensors passed to load_array must have the same first dimension,"
                             f" got {[tuple(a.shape) for a in arrays]}")
        if batch_size < 1:
            raise ValueError(f"batch_size={batch_size}; use a positive batch size")
        self.arrays, self.batch_size, self.shuffle = arrays, batch_size, shuffle

    def __len__(self):
        # Ceil division: the last batch may be short.
        return -(-self.arrays[0].shape[0] // self.batch_size)

    def __iter__(self):
        n = self.arrays[0].shape[0]
        if self.shuffle:
            order = torch.randperm(n)
            for idx in order.split(self.batch_size):
                yield tuple(a[idx] for a in self.arrays)
        else:
            for start in range(0, n, self.batch_size):
                yield tuple(a[start:start + self.batch_size] for a in self.arrays)


def load_array(data_arrays, batch_size, is_train=True):
    """An iterable of minibatches over tensors of equal first dimension, shuffled if `is_train`.

    Use it like the book's DataLoader: `for X, y in load_array((features, labels), 10): ...`.
    """
    return TensorBatches(data_arrays, batch_size, shuffle=is_train)


def load_data_nmt(batch_size, num_steps, num_examples=600):
    """Return (data_iter, src_vocab, tgt_vocab) for the first `num_examples` fra-eng pairs."""
    raw = read_data_nmt()
    if num_examples is not None:
        # Only the first lines are used; preprocessing is per line, so cut before it (fast).
        raw = "\n".join(raw.split("\n", num_examples)[:num_examples])
    source, target = tokenize_nmt(preprocess_nmt(raw), num_examples)
    return nmt_data_from_tokens(source, target, batch_size, num_steps)


def nmt_data_from_tokens(source, target, batch_size, num_steps):
    """`load_data_nmt` for given (source, target) token lists: vocabularies (min_freq 2, with
    `<pad>`, `<bos>`, `<eos>`), padded arrays and a shuffled minibatch iterator."""
    reserved = ["<pad>", "<bos>", "<eos>"]
    src_vocab = Vocab(source, min_freq=2, reserved_tokens=reserved)
    tgt_vocab = Vocab(target, min_freq=2, reserved_tokens=reserved)
    src_array, src_valid_len = build_array_nmt(source, src_vocab, num_steps)
    tgt_array, tgt_valid_len = build_array_nmt(target, tgt_vocab, num_steps)
    data_iter = load_array((src_array, src_valid_len, tgt_array, tgt_valid_len), batch_size)
    return data_iter, src_vocab, tgt_vocab

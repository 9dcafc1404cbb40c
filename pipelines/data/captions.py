"""Caption text to word indices, the CS231n way.

Tokenising: lowercase, delete ASCII punctuation, split on whitespace. Encoding: ``<START>`` words
``<END>``, padded with ``<NULL>`` to a fixed length (17 in CS231n, so at most 15 words; longer captions
are cut to their first 15 words and counted). Words outside the vocabulary become ``<UNK>``.
"""

from __future__ import annotations

import string
from collections import Counter
from collections.abc import Iterable

import numpy as np

__all__ = ["SPECIAL_TOKENS", "tokenize", "build_vocab", "encode_captions"]

SPECIAL_TOKENS = ("<NULL>", "<START>", "<END>", "<UNK>")
_DROP = str.maketrans("", "", string.punctuation)


def tokenize(caption: str) -> list[str]:
    """``"A man, riding."`` -> ``["a", "man", "riding"]``."""
    return caption.lower().translate(_DROP).split()


def build_vocab(captions: Iterable[str], size: int) -> list[str]:
    """``idx_to_word``: the 4 special tokens, then the ``size`` most frequent words (ties alphabetical)."""
    counts = Counter(w for c in captions for w in tokenize(c))
    words = sorted(counts, key=lambda w: (-counts[w], w))[:size]
    return [*SPECIAL_TOKENS, *words]


def encode_captions(captions: list[str], word_to_idx: dict[str, int], length: int) -> tuple[np.ndarray, int, int]:
    """Encode captions as an int64 array ``(N, length)``.

    Returns ``(codes, n_truncated, n_unknown)``: how many captions were cut to ``length - 2`` words,
    and how many words became ``<UNK>``.
    """
    null, start, end, unk = (word_to_idx[t] for t in SPECIAL_TOKENS)
    codes = np.full((len(captions), length), null, dtype=np.int64)
    truncated = unknown = 0
    for row, caption in enumerate(captions):
        words = tokenize(caption)
        if len(words) > length - 2:
            truncated += 1
            words = words[: length - 2]
        ids = [word_to_idx.get(w, unk) for w in words]
        unknown += ids.count(unk)
        codes[row, : len(ids) + 2] = [start, *ids, end]
    return codes, truncated, unknown

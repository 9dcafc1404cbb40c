"""BLEU for generated captions: the course's one implementation, used by notebooks and graders alike.

BLEU (Papineni et al., 2002) scores a hypothesis by its *modified* n-gram precisions p_n against
one or more references (each n-gram of the hypothesis counts at most as often as it occurs in the
reference that has it most often) times a brevity penalty ``BP = exp(1 - r / c)`` when the hypothesis
(c words) is shorter than the reference closest to it in length (r words; ties go to the shorter),
else 1. BLEU-N is ``BP * exp(mean of log p_1..p_N)`` and is 0 when any p_n is 0 (no smoothing).
``corpus_bleu`` sums the matched and total n-gram counts and the lengths over all hypotheses before
dividing (the paper's definition); ``sentence_bleu`` scores one hypothesis. Both agree with NLTK's
``corpus_bleu``/``sentence_bleu`` without smoothing (their documented examples are the tests).

CS231n reports a *unigram* BLEU: each ground-truth caption is compared alone with the caption sampled
for its image (``sentence_bleu([reference], hypothesis, max_n=1)``), words ``<START>``, ``<END>`` and
``<UNK>`` removed, and the scores are averaged over the captions (``mean_unigram_bleu``).
Captions are compared as word lists; ``caption_words`` turns encoded captions into them.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Sequence

__all__ = ["caption_words", "corpus_bleu", "mean_unigram_bleu", "sentence_bleu"]

# Tokens that are not words of a caption (CS231n's decode_captions drops <NULL>, its BLEU the others).
_NOT_WORDS = frozenset({"<NULL>", "<START>", "<UNK>"})
_END = "<END>"


def caption_words(caption: Iterable[int], idx_to_word: Sequence[str]) -> list[str]:
    """The words of an encoded caption up to its first ``<END>``: ``<NULL>``, ``<START>``, ``<UNK>``
    and ``<END>`` left out, whichever column the caption starts in."""
    words = []
    for index in caption:
        word = idx_to_word[int(index)]
        if word == _END:
            break
        if word not in _NOT_WORDS:
            words.append(word)
    return words


def _ngrams(words: Sequence[str], n: int) -> Counter[tuple[str, ...]]:
    return Counter(tuple(words[i : i + n]) for i in range(len(words) - n + 1))


def _matches(references: Sequence[Sequence[str]], hypothesis: Sequence[str], n: int) -> tuple[int, int]:
    """(clipped n-gram matches, n-grams of the hypothesis)."""
    counts = _ngrams(hypothesis, n)
    most = Counter[tuple[str, ...]]()
    for reference in references:
        most |= _ngrams(reference, n)
    return sum(min(count, most[gram]) for gram, count in counts.items()), sum(counts.values())


def _closest_length(references: Sequence[Sequence[str]], length: int) -> int:
    return min((len(r) for r in references), key=lambda r: (abs(r - length), r))


def _bleu(matched: list[int], total: list[int], hyp_length: int, ref_length: int) -> float:
    if hyp_length == 0 or min(matched) == 0:
        return 0.0
    brevity = 1.0 if hyp_length > ref_length else math.exp(1 - ref_length / hyp_length)
    return brevity * math.exp(math.fsum(math.log(m / t) for m, t in zip(matched, total, strict=True)) / len(matched))


def corpus_bleu(references: Sequence[Sequence[Sequence[str]]], hypotheses: Sequence[Sequence[str]], max_n: int = 4) -> float:
    """BLEU-``max_n`` of a corpus: ``references[i]`` are the reference word lists of ``hypotheses[i]``."""
    if len(references) != len(hypotheses):
        raise ValueError(f"{len(references)} reference lists for {len(hypotheses)} hypotheses")
    matched, total = [0] * max_n, [0] * max_n
    hyp_length = ref_length = 0
    for refs, hypothesis in zip(references, hypotheses, strict=True):
        if not refs:
            raise ValueError("every hypothesis needs at least one reference")
        for n in range(1, max_n + 1):
            m, t = _matches(refs, hypothesis, n)
            matched[n - 1] += m
            total[n - 1] += t
        hyp_length += len(hypothesis)
        ref_length += _closest_length(refs, len(hypothesis))
    return _bleu(matched, total, hyp_length, ref_length)


def sentence_bleu(references: Sequence[Sequence[str]], hypothesis: Sequence[str], max_n: int = 4) -> float:
    """BLEU-``max_n`` of one hypothesis against its references."""
    return corpus_bleu([references], [hypothesis], max_n)


def mean_unigram_bleu(references: Sequence[Sequence[str]], hypotheses: Sequence[Sequence[str]]) -> float:
    """CS231n's figure: the mean over pairs of ``sentence_bleu([references[i]], hypotheses[i], max_n=1)``,
    one reference per pair (each ground-truth caption with the caption sampled for its image)."""
    if len(references) != len(hypotheses) or not hypotheses:
        raise ValueError(f"{len(references)} references for {len(hypotheses)} hypotheses")
    return math.fsum(sentence_bleu([r], h, max_n=1) for r, h in zip(references, hypotheses, strict=True)) / len(hypotheses)

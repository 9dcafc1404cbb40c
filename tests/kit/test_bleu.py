"""The course's BLEU (pipelines.kit.bleu) against the values NLTK documents for its own BLEU (Papineni
et al.'s definition, no smoothing), and CS231n's unigram figure and caption decoding."""

from __future__ import annotations

import math

import pytest

from pipelines.kit.bleu import caption_words, corpus_bleu, mean_unigram_bleu, sentence_bleu

# NLTK's documented example (nltk/translate/bleu_score.py).
HYP1 = ("It is a guide to action which ensures that the military always obeys the commands of the party").split()
HYP2 = "It is to insure the troops forever hearing the activity guidebook that party direct".split()
REF1A = "It is a guide to action that ensures that the military will forever heed Party commands".split()
REF1B = ("It is the guiding principle which guarantees the military forces always being under the command of "
         "the Party").split()
REF1C = "It is the practical guide for the army always to heed the directions of the party".split()
HYP_B = "he read the book because he was interested in world history".split()
REF_B = "he was interested in world history because he read the book".split()


def test_sentence_bleu_matches_nltk() -> None:
    assert sentence_bleu([REF1A, REF1B, REF1C], HYP1) == pytest.approx(0.5045666840058485, rel=1e-12)
    assert sentence_bleu([REF1A, REF1B, REF1C], HYP2) == 0.0  # no matching 4-gram, no smoothing


def test_corpus_bleu_sums_counts_before_dividing() -> None:
    refs, hyps = [[REF1A, REF1B, REF1C], [REF_B]], [HYP1, HYP_B]
    assert corpus_bleu(refs, hyps) == pytest.approx(0.5920778868801042, rel=1e-12)
    assert corpus_bleu(refs, hyps, max_n=1) == pytest.approx(0.9655172413793104, rel=1e-12)
    mean_of_sentences = (sentence_bleu(refs[0], HYP1) + sentence_bleu(refs[1], HYP_B)) / 2
    assert mean_of_sentences == pytest.approx(0.6223247442490669, rel=1e-12)


def test_modified_precision_clips_repeated_words() -> None:
    references = ["the cat is on the mat".split(), "there is a cat on the mat".split()]
    assert sentence_bleu(references, "the the the the the the the".split(), max_n=1) == pytest.approx(2 / 7)


@pytest.mark.parametrize(("lengths", "hyp", "expected"), [
    ((28, 28), 12, 0.2635971381157267), ((13, 2), 12, 0.9200444146293233), ((11, 8), 7, 0.8668778997501817),
    ((13, 11), 12, 1.0), ((11, 8, 6, 7), 7, 1.0), ((12, 15, 17), 12, 1.0),
])
def test_brevity_penalty_uses_the_closest_reference(lengths: tuple[int, ...], hyp: int, expected: float) -> None:
    """NLTK's brevity-penalty examples: all words match, so BLEU-1 is the penalty itself."""
    assert sentence_bleu([["a"] * n for n in lengths], ["a"] * hyp, max_n=1) == pytest.approx(expected, rel=1e-12)


def test_empty_or_short_hypotheses_score_zero() -> None:
    assert sentence_bleu([["a", "dog"]], [], max_n=1) == 0.0
    assert sentence_bleu([["a", "dog", "on", "grass"]], ["a", "dog"]) == 0.0  # no 3-grams at all
    with pytest.raises(ValueError):
        corpus_bleu([[["a"]]], [["a"], ["b"]])


def test_cs231n_unigram_bleu_averages_one_reference_per_caption() -> None:
    pairs = [("a dog on the grass".split(), "a dog on grass".split()),   # 4/4 matched, BP exp(1 - 5/4)
             ("a cat".split(), "a cat on a bed".split())]                 # 2/5 matched, no penalty
    expected = (math.exp(1 - 5 / 4) + 2 / 5) / 2
    assert mean_unigram_bleu([r for r, _ in pairs], [h for _, h in pairs]) == pytest.approx(expected, rel=1e-12)


def test_caption_words_decode_up_to_the_first_end() -> None:
    idx_to_word = ["<NULL>", "<START>", "<END>", "<UNK>", "a", "dog", "runs"]
    assert caption_words([1, 4, 3, 5, 6, 2, 4, 4], idx_to_word) == ["a", "dog", "runs"]  # <START> in column 0
    assert caption_words([4, 5, 2, 0, 0], idx_to_word) == ["a", "dog"]  # CS231n's layout: the first word in column 0
    assert caption_words([1, 4, 0, 5], idx_to_word) == ["a", "dog"]  # no <END>: every word, <NULL> skipped

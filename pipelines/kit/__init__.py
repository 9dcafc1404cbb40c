"""The helper library students use in their notebooks (and the graders reuse).

Students import it as ``from pipelines.kit import ...``; it holds no solution code, only the
course's measuring tools: relative error and numeric gradients (from the ``gradcheck`` package,
shared with the reference solutions), BLEU for generated captions (``pipelines.kit.bleu``, which the
graders use too) and ``export``.
"""

from gradcheck import (
    eval_numerical_gradient,
    eval_numerical_gradient_array,
    grad_check_sparse,
    rel_error,
)
from pipelines.kit.bleu import caption_words, corpus_bleu, mean_unigram_bleu, sentence_bleu
from pipelines.kit.export import export

__all__ = [
    "export",
    "caption_words",
    "corpus_bleu",
    "mean_unigram_bleu",
    "sentence_bleu",
    "eval_numerical_gradient",
    "eval_numerical_gradient_array",
    "grad_check_sparse",
    "rel_error",
]

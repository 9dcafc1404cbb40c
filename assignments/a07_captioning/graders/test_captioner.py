"""Hidden graders of the captioner a07's notebook trains, scored on the held-out COCO test split.

Why these checks: the notebook exports the trained parameters (``captioner_<name>``, the names the
notebook pins) and the cell type; the grader rebuilds the model with ``reference.numpy.CaptioningRNN``
in the trusted process, so what is scored is the student's training (their model, trainer and choice
of hyperparameters), never their ``sample`` or their loss code. The test split's images and captions
are held out of the sandbox (``assignment.yaml: heldout``); each image's input is built as the
notebook builds it (``pipelines.data.standin.image_inputs``: real features where the prepared data has
them, else stand-in codes seeded by the COCO image id). Two figures, each against a threshold
calibrated on the course's solution over several seeds (params.yaml): the mean loss per caption
(the training objective on unseen captions: about 79 untrained, about 50 after 30 iterations, about 35
trained) and the corpus BLEU-4 of greedy captions (``pipelines.kit.bleu``, every caption of an image a
reference). BLEU-1 as CS231n reports it is noted, not graded: a barely trained model that repeats
"a ... on a" scores as high as a trained one. With stand-in codes the model is a language model only,
and these thresholds are floors that tell a trained language model from an untrained or broken one;
the note says so.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import numpy as np

from pipelines.data import load_coco_captions
from pipelines.data.standin import image_inputs
from pipelines.grade.api import StudentCheckFailed, check_true, points
from pipelines.kit.bleu import caption_words, corpus_bleu, mean_unigram_bleu
from reference.numpy import CaptioningRNN

NAMES = ("W_proj", "b_proj", "W_embed", "Wx", "Wh", "b", "W_vocab", "b_vocab")
MAX_LENGTH = 30  # sample's default: up to 29 generated words
CHUNK = 500  # captions per loss evaluation (memory)


@lru_cache(maxsize=1)
def _vocabulary() -> tuple[dict[str, int], list[str]]:
    data = load_coco_captions()
    return dict(data["word_to_idx"]), list(data["idx_to_word"])


def _test_split(heldout) -> tuple[np.ndarray, np.ndarray, np.ndarray, bool]:
    """(captions, image_idxs, image inputs, stand-in) of the held-out test split."""
    split: dict[str, Any] = {"test_image_ids": heldout("coco", "captions.h5:test_image_ids")}
    features = load_coco_captions().get("test_features")  # real features are inputs, not answers: not held out
    if features is not None:
        split["test_features"] = features
    inputs, standin = image_inputs(split, "test")
    return (np.asarray(heldout("coco", "captions.h5:test_captions")), np.asarray(heldout("coco", "captions.h5:test_image_idxs")),
            inputs, standin)


def _model(exported) -> CaptioningRNN:
    """The course's CaptioningRNN with the exported parameters (float64)."""
    params = {name: np.asarray(exported(f"captioner_{name}"), dtype=np.float64) for name in NAMES}
    cell_type = "lstm" if int(exported("captioner_is_lstm")) else "rnn"
    word_to_idx, _ = _vocabulary()
    if params["W_proj"].ndim != 2 or params["W_embed"].ndim != 2:
        raise StudentCheckFailed("the exported W_proj and W_embed must be matrices (input_dim, hidden_dim) and "
                                 "(vocabulary, wordvec_dim).")
    D, H = params["W_proj"].shape
    model = CaptioningRNN(word_to_idx, input_dim=D, wordvec_dim=params["W_embed"].shape[1], hidden_dim=H,
                          cell_type=cell_type, dtype=np.float64)
    for name, value in params.items():
        expected = model.params[name].shape
        check_true(value.shape == expected, f"the exported captioner_{name} has shape {value.shape}; a {cell_type} "
                                            f"CaptioningRNN of these sizes needs {expected} (the parameters' names and "
                                            "shapes are pinned in the notebook).")
    model.params = params
    return model


def _standin_note(standin: bool) -> str:
    return (" The test images were represented by stand-in codes, not image features: the model saw no image content, "
            "so these figures measure a language model, and the thresholds are floors." if standin else "")


@points(2, cell="check_captioner")
def test_captioner_test_loss(exported, heldout, threshold, note):
    """The trained captioner (exported parameters): its mean loss per caption on the held-out test split is below a
    ceiling calibrated on the course's solution."""
    model = _model(exported)
    captions, idxs, inputs, standin = _test_split(heldout)
    total = sum(model.loss(inputs[idxs[i:i + CHUNK]], captions[i:i + CHUNK])[0] * len(captions[i:i + CHUNK])
                for i in range(0, len(captions), CHUNK))
    loss, most = total / len(captions), threshold("captioner_test_loss_max")
    check_true(bool(np.isfinite(loss)) and loss <= most,
               f"your captioner's mean loss per caption on the {len(captions)} held-out test captions is {loss:.2f}, above "
               f"the ceiling {most:g} (an untrained model scores about 79): train it longer or with another learning "
               "rate." + _standin_note(standin))
    note(f"mean loss per caption on the held-out test split: {loss:.2f} (ceiling {most:g})." + _standin_note(standin))


@points(2, cell="check_captioner")
def test_captioner_bleu(exported, heldout, threshold, note):
    """The trained captioner (exported parameters): the BLEU-4 of its greedy captions for the held-out test images
    reaches a floor calibrated on the course's solution (BLEU-1 as CS231n reports it is noted)."""
    model = _model(exported)
    captions, idxs, inputs, standin = _test_split(heldout)
    _, idx_to_word = _vocabulary()
    hypotheses = [caption_words(c, idx_to_word) for c in model.sample(inputs, max_length=MAX_LENGTH)]
    truths = [caption_words(c, idx_to_word) for c in captions]
    references: list[list[list[str]]] = [[] for _ in hypotheses]
    for words, image in zip(truths, idxs, strict=True):
        references[image].append(words)
    bleu4 = corpus_bleu(references, hypotheses)
    bleu1 = mean_unigram_bleu(truths, [hypotheses[i] for i in idxs])
    least = threshold("captioner_test_bleu4_min")
    figures = f"BLEU-4 {bleu4:.3f} (floor {least:g}), BLEU-1 as CS231n reports it {bleu1:.3f}, " \
              f"{len({tuple(h) for h in hypotheses})} different captions for {len(hypotheses)} test images"
    check_true(bleu4 >= least, f"your captioner's greedy captions for the held-out test images: {figures}. Below the "
                               "floor: train it longer or with another learning rate." + _standin_note(standin))
    note(figures + "." + _standin_note(standin))

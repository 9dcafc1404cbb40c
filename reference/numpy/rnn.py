"""The image-captioning model of unit a07 and the loop that trains it (the book's ``rnn.py``).

``CaptioningRNN`` turns an image feature into the initial hidden state of a word-level RNN or LSTM
and is trained to predict each next caption word (teacher forcing); ``sample`` generates captions
greedily. ``CaptioningTrainer`` is the book's name for CS231n's ``CaptioningSolver``: minibatch
updates with a rule from ``reference.numpy.updater`` (resolved as ``Trainer`` resolves it) and a
per-epoch learning-rate decay.
Captions are integer arrays (N, T) that start with ``<START>``, end with ``<END>`` and are padded
with ``<NULL>``; ``<NULL>`` targets contribute neither loss nor gradient.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from reference.numpy.layers import affine_backward, affine_forward
from reference.numpy.rnn_layers import (
    lstm_backward,
    lstm_forward,
    lstm_step_forward,
    rnn_backward,
    rnn_forward,
    rnn_step_forward,
    temporal_affine_backward,
    temporal_affine_forward,
    temporal_softmax_loss,
    word_embedding_backward,
    word_embedding_forward,
)
from reference.numpy.trainer import UpdateRule, decay_learning_rates, resolve_update_rule, update_params

__all__ = ["CaptioningRNN", "CaptioningTrainer", "sample_coco_minibatch"]

_CELLS = {"rnn": (rnn_forward, rnn_backward, 1), "lstm": (lstm_forward, lstm_backward, 4)}


class CaptioningRNN:
    """Image features -> captions with a vanilla RNN or an LSTM (gate order i, f, o, g).

    Parameters (V = len(word_to_idx), D = input_dim, W = wordvec_dim, H = hidden_dim, G = H for
    'rnn' and 4H for 'lstm'): ``W_proj`` (D, H), ``b_proj`` (H,) project the feature to h0;
    ``W_embed`` (V, W); ``Wx`` (W, G), ``Wh`` (H, G), ``b`` (G,) the recurrent cell;
    ``W_vocab`` (H, V), ``b_vocab`` (V,) the hidden state to word scores. Initialisation as
    CS231n: ``W_embed ~ N(0, 1e-4)``, the other matrices ``N(0, 1/fan_in)``, biases 0.
    ``word_to_idx`` must hold ``<NULL>``; ``<START>``/``<END>`` are only needed by ``sample``.
    """

    def __init__(
        self,
        word_to_idx: dict[str, int],
        input_dim: int = 512,
        wordvec_dim: int = 128,
        hidden_dim: int = 128,
        cell_type: str = "rnn",
        dtype: type = np.float32,
        seed: int | None = None,
    ) -> None:
        if cell_type not in _CELLS:
            raise ValueError(f'Invalid cell_type "{cell_type}"')
        self.cell_type = cell_type
        self.dtype = dtype
        self.word_to_idx = word_to_idx
        self.idx_to_word = {i: w for w, i in word_to_idx.items()}
        self._null = word_to_idx["<NULL>"]
        self._start = word_to_idx.get("<START>")
        self._end = word_to_idx.get("<END>")

        rng = np.random.default_rng(seed)
        V, D, W, H = len(word_to_idx), input_dim, wordvec_dim, hidden_dim
        G = _CELLS[cell_type][2] * H
        params = {
            "W_embed": rng.standard_normal((V, W)) / 100,
            "W_proj": rng.standard_normal((D, H)) / np.sqrt(D),
            "b_proj": np.zeros(H),
            "Wx": rng.standard_normal((W, G)) / np.sqrt(W),
            "Wh": rng.standard_normal((H, G)) / np.sqrt(H),
            "b": np.zeros(G),
            "W_vocab": rng.standard_normal((H, V)) / np.sqrt(H),
            "b_vocab": np.zeros(V),
        }
        self.params = {k: v.astype(dtype) for k, v in params.items()}

    def loss(self, features: np.ndarray, captions: np.ndarray) -> tuple[float, dict[str, np.ndarray]]:
        """Teacher-forced training loss and the gradient of every parameter.

        features (N, D); captions (N, T) int. The model reads ``captions[:, :-1]`` and is scored on
        ``captions[:, 1:]`` with ``temporal_softmax_loss`` (summed over time, divided by N, ``<NULL>``
        targets masked). Returns ``(loss, grads)`` with ``grads`` keyed like ``self.params``.
        """
        p = self.params
        captions_in, captions_out = captions[:, :-1], captions[:, 1:]
        mask = captions_out != self._null
        cell_forward, cell_backward, _ = _CELLS[self.cell_type]

        h0, proj_cache = affine_forward(features, p["W_proj"], p["b_proj"])
        words, embed_cache = word_embedding_forward(captions_in, p["W_embed"])
        h, cell_cache = cell_forward(words, h0, p["Wx"], p["Wh"], p["b"])
        scores, vocab_cache = temporal_affine_forward(h, p["W_vocab"], p["b_vocab"])
        loss, dscores = temporal_softmax_loss(scores, captions_out, mask)

        grads: dict[str, np.ndarray] = {}
        dh, grads["W_vocab"], grads["b_vocab"] = temporal_affine_backward(dscores, vocab_cache)
        dwords, dh0, grads["Wx"], grads["Wh"], grads["b"] = cell_backward(dh, cell_cache)
        grads["W_embed"] = word_embedding_backward(dwords, embed_cache)
        _, grads["W_proj"], grads["b_proj"] = affine_backward(dh0, proj_cache)
        return loss, grads

    def sample(self, features: np.ndarray, max_length: int = 30) -> np.ndarray:
        """Greedy captions for a batch of features, as the book's reference writes them.

        features (N, D) -> captions (N, max_length) int32: column 0 is ``<START>``, column t >= 1 the
        argmax word given column t - 1. Generation does not stop at ``<END>``; decoding does.
        """
        if self._start is None:
            raise ValueError("CaptioningRNN.sample needs '<START>' in word_to_idx")
        p = self.params
        N = features.shape[0]
        captions = np.full((N, max_length), self._null, dtype=np.int32)
        captions[:, 0] = self._start
        h, _ = affine_forward(features, p["W_proj"], p["b_proj"])
        c = np.zeros_like(h)
        for t in range(1, max_length):
            x = p["W_embed"][captions[:, t - 1]]
            if self.cell_type == "lstm":
                h, c, _ = lstm_step_forward(x, h, c, p["Wx"], p["Wh"], p["b"])
            else:
                h, _ = rnn_step_forward(x, h, p["Wx"], p["Wh"], p["b"])
            captions[:, t] = np.argmax(h @ p["W_vocab"] + p["b_vocab"], axis=1)
        return captions


def sample_coco_minibatch(
    data: dict[str, Any], batch_size: int = 100, split: str = "train", rng: np.random.Generator | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Draw ``batch_size`` captions of ``split`` with replacement, with their images' input vectors.

    ``data`` holds ``{split}_captions`` (M, T), ``{split}_image_idxs`` (M,), the row of each caption's
    image (CS231n's and the COCO loader's name), and ``{split}_image_inputs`` (num_images, D), what
    the model gets for each image (real CNN features, or stand-in codes where the data has none),
    optionally ``{split}_urls``. Returns ``(captions (B, T), image inputs (B, D), urls (B,) or None)``.
    """
    rng = rng if rng is not None else np.random.default_rng()
    rows = rng.choice(data[f"{split}_captions"].shape[0], batch_size)
    image_idxs = data[f"{split}_image_idxs"][rows]
    urls = data.get(f"{split}_urls")
    return (
        data[f"{split}_captions"][rows],
        data[f"{split}_image_inputs"][image_idxs],
        None if urls is None else urls[image_idxs],
    )


class CaptioningTrainer:
    """Trains a captioning model by minibatch updates (the book's name for ``CaptioningSolver``).

    ``data`` is laid out as ``sample_coco_minibatch`` reads it; ``model`` has ``params`` and
    ``loss(features, captions) -> (loss, grads)``. ``update_rule`` is a name in
    ``reference.numpy.updater`` or a callable ``rule(w, dw, config)``; each parameter keeps its own
    copy of ``updater_config``, whose ``learning_rate`` is multiplied by ``lr_decay`` after every
    epoch. An epoch is ``max(num_train // batch_size, 1)`` iterations over minibatches drawn with
    replacement by one generator seeded with ``seed``. ``loss_history`` records every iteration's
    loss. Unlike ``Trainer`` there is no accuracy check and no best-parameter keeping (as CS231n's
    ``CaptioningSolver``): the parameters after the last step are the result.
    """

    def __init__(
        self,
        model: Any,
        data: dict[str, Any],
        update_rule: str | UpdateRule = "sgd",
        updater_config: dict[str, Any] | None = None,
        lr_decay: float = 1.0,
        batch_size: int = 100,
        num_epochs: int = 10,
        print_every: int = 10,
        verbose: bool = True,
        seed: int | None = None,
    ) -> None:
        self.model = model
        self.data = data
        self.update_rule = resolve_update_rule(update_rule)
        self.updater_config = dict(updater_config or {})
        self.lr_decay = lr_decay
        self.batch_size = batch_size
        self.num_epochs = num_epochs
        self.print_every = print_every
        self.verbose = verbose
        self.rng = np.random.default_rng(seed)
        self.epoch = 0
        self.loss_history: list[float] = []
        self.updater_configs = {name: dict(self.updater_config) for name in model.params}

    def _step(self) -> None:
        """One minibatch: loss, gradients, and an update of every parameter."""
        captions, features, _ = sample_coco_minibatch(self.data, self.batch_size, "train", self.rng)
        loss, grads = self.model.loss(features, captions)
        self.loss_history.append(float(loss))
        update_params(self.model.params, grads, self.update_rule, self.updater_configs)

    def train(self) -> None:
        """Run ``num_epochs`` epochs, printing ``(Iteration t / total) loss: ...`` every ``print_every``."""
        num_train = self.data["train_captions"].shape[0]
        iterations_per_epoch = max(num_train // self.batch_size, 1)
        num_iterations = self.num_epochs * iterations_per_epoch
        for t in range(num_iterations):
            self._step()
            if self.verbose and t % self.print_every == 0:
                print(f"(Iteration {t + 1} / {num_iterations}) loss: {self.loss_history[-1]:f}")
            if (t + 1) % iterations_per_epoch == 0:
                self.epoch += 1
                decay_learning_rates(self.updater_configs, self.lr_decay)

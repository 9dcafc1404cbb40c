"""Trusted models that probes hand to student code which trains or uses a model (optimizers, trainers).

UNIT_STANDARD: one bug costs its own points, once. A student's trainer or optimizer driven on the
student's own model would lose its points for every bug of that model, so graders give it a model
of theirs instead: ``trusted_model("softmax_linear", W=..., b=...)``. As with ``fn(...)``
(``probe_functions``), only the name and the numeric parameters cross into the sandbox, which
builds the model from this catalogue; the grader builds the same model with ``.build()`` and runs
the expected trajectory on it. Student code may call its methods, write into or replace its
``params`` (update rules do both) and keep references; graders read its state back through refs
(``read("W", ref("train").arg(0).attr("params"))``).

Every model is numpy only, float64, deterministic and documented with its exact math, and exposes
the interfaces the course's code expects (``reference/numpy``: ``Trainer``, ``sgd_optimize``, the
tutorial's ``LogisticRegression``, ``CaptioningTrainer``). A unit that needs another adds one class
(or builder function) to ``CATALOGUE``; its constructor's arguments are what ``trusted_model``
takes (numbers arrive as 0-d arrays).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from pipelines.grade.probe_values import Built, numeric


def _log_softmax(scores: np.ndarray) -> np.ndarray:
    """Log-softmax over the last axis, shifted by the maximum so that large scores do not overflow."""
    shifted = scores - scores.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


class SoftmaxLinear:
    """Linear softmax classifier (multiclass logistic regression): ``scores = X W + b``.

    Shapes: ``X`` (N, D), ``y`` (N,) integer labels in [0, C), ``W`` (D, C), ``b`` (C,); float64.
    ``params`` is a plain dict ``{"W", "b"}`` (a trainer may replace its arrays or the dict itself);
    ``W`` and ``b`` read and write its entries. With ``P = softmax(scores)`` row-wise and ``Y`` the
    one-hot labels, the training objective is

        L = -(1/N) Σ_i log P[i, y_i] + ½ reg ΣW²,
        dL/dW = Xᵀ (P − Y) / N + reg W,   dL/db = Σ_i (P − Y)_i / N,   dL/dX = (P − Y) Wᵀ / N.

    Interfaces: CS231n's ``loss(X)`` -> scores, ``loss(X, y)`` -> ``(L, grads)`` (``Trainer``); the
    tutorial's ``LogisticRegression`` (a02's ``sgd_optimize``, a08's output layer):
    ``p_y_given_x``, ``y_pred``, ``negative_log_likelihood`` (the mean NLL, without the ½ reg ΣW²
    term), ``errors``, ``loss_and_grads`` -> ``(L, grads, dL/dX)``, ``gradients``, and
    ``sgd_step(X, y, learning_rate)``, which applies ``p -= learning_rate * dL/dp`` in place and
    returns L before the update.
    """

    def __init__(self, W: np.ndarray, b: np.ndarray, reg: float = 0.0) -> None:
        self.params = {"W": np.asarray(W, dtype=np.float64), "b": np.asarray(b, dtype=np.float64)}
        self.reg = float(reg)

    @property
    def W(self) -> np.ndarray:  # noqa: N802 - the course's name
        return self.params["W"]

    @W.setter
    def W(self, value: np.ndarray) -> None:  # noqa: N802
        self.params["W"] = value

    @property
    def b(self) -> np.ndarray:
        return self.params["b"]

    @b.setter
    def b(self, value: np.ndarray) -> None:
        self.params["b"] = value

    def scores(self, X: np.ndarray) -> np.ndarray:
        """``X W + b``, shape (N, C)."""
        return X @ self.W + self.b

    def loss_and_grads(self, X: np.ndarray, y: np.ndarray) -> tuple[float, dict[str, np.ndarray], np.ndarray]:
        """``(L, {"W": dL/dW, "b": dL/db}, dL/dX)`` as in the class docstring."""
        n = y.shape[0]
        log_p = _log_softmax(self.scores(X))
        loss = float(-np.mean(log_p[np.arange(n), y]) + 0.5 * self.reg * np.sum(self.W * self.W))
        dscores = np.exp(log_p)
        dscores[np.arange(n), y] -= 1.0
        dscores /= n
        return loss, {"W": X.T @ dscores + self.reg * self.W, "b": dscores.sum(axis=0)}, dscores @ self.W.T

    def loss(self, X: np.ndarray, y: np.ndarray | None = None) -> np.ndarray | tuple[float, dict[str, np.ndarray]]:
        """Scores (N, C) without ``y``; ``(L, grads)`` with it."""
        if y is None:
            return self.scores(X)
        loss, grads, _ = self.loss_and_grads(X, y)
        return loss, grads

    def gradients(self, X: np.ndarray, y: np.ndarray) -> dict[str, np.ndarray]:
        return self.loss_and_grads(X, y)[1]

    def p_y_given_x(self, X: np.ndarray) -> np.ndarray:
        """Class probabilities (N, C)."""
        return np.exp(_log_softmax(self.scores(X)))

    def y_pred(self, X: np.ndarray) -> np.ndarray:
        """Argmax of the scores (N,); ties go to the lowest class."""
        return np.argmax(self.scores(X), axis=1)

    def negative_log_likelihood(self, X: np.ndarray, y: np.ndarray) -> float:
        """``-(1/N) Σ_i log P[i, y_i]``."""
        return float(-np.mean(_log_softmax(self.scores(X))[np.arange(y.shape[0]), y]))

    def errors(self, X: np.ndarray, y: np.ndarray) -> float:
        """Fraction of rows whose ``y_pred`` differs from ``y``."""
        return float(np.mean(self.y_pred(X) != y))

    def sgd_step(self, X: np.ndarray, y: np.ndarray, learning_rate: float) -> float:
        """``p -= learning_rate * dL/dp`` for W and b, in place; L before the update."""
        loss, grads, _ = self.loss_and_grads(X, y)
        for name, p in self.params.items():
            p -= learning_rate * grads[name]
        return loss


class CaptioningBigram:
    """A captioning model with the interface of ``CaptioningRNN`` and no recurrence: each word's
    scores depend on the previous word and the image only.

    Shapes: ``features`` (N, D), ``captions`` (N, T) integers; vocabulary V, embedding H.
    ``params``: ``W_embed`` (V, H), ``W_vocab`` (H, V), ``W_proj`` (D, V), ``b_vocab`` (V,). With
    ``w_t = captions[:, t]``, the scores of the word after ``w_t`` are

        S_t = W_embed[w_t] W_vocab + features W_proj + b_vocab   (N, V),

    and ``loss(features, captions)`` is the temporal softmax loss of CS231n: for t = 0..T-2,
    ``-log softmax(S_t)[w_{t+1}]`` summed over t and rows whose target ``w_{t+1}`` is not
    ``null``, divided by N. With ``dS_t = (softmax(S_t) − onehot(w_{t+1})) ⊙ mask / N``:
    ``dW_vocab = Σ_t W_embed[w_t]ᵀ dS_t``, ``dW_proj = featuresᵀ Σ_t dS_t``, ``db_vocab = Σ_t
    Σ_rows dS_t``, and row ``v`` of ``dW_embed`` collects ``dS_t W_vocabᵀ`` over every (row, t)
    with ``w_t = v``. ``sample(features, max_length)`` is greedy decoding laid out as the course's
    reference writes it: (N, max_length) int32, column 0 ``start``, column t >= 1 the argmax of
    ``S`` given column t-1 (lowest index on ties), not stopping at any end token.
    """

    def __init__(self, W_embed: np.ndarray, W_vocab: np.ndarray, W_proj: np.ndarray, b_vocab: np.ndarray,  # noqa: N803
                 null: int = 0, start: int = 1) -> None:
        self.params = {name: np.asarray(value, dtype=np.float64) for name, value in
                       (("W_embed", W_embed), ("W_vocab", W_vocab), ("W_proj", W_proj), ("b_vocab", b_vocab))}
        self.null, self.start = int(null), int(start)

    def _scores(self, features: np.ndarray, words: np.ndarray) -> np.ndarray:
        """``S`` for every previous word in ``words`` (N, T'): shape (N, T', V)."""
        p = self.params
        return p["W_embed"][words] @ p["W_vocab"] + (features @ p["W_proj"] + p["b_vocab"])[:, None, :]

    def loss(self, features: np.ndarray, captions: np.ndarray) -> tuple[float, dict[str, np.ndarray]]:
        """``(loss, grads)`` as in the class docstring, ``grads`` keyed like ``params``."""
        p = self.params
        words, targets = captions[:, :-1], captions[:, 1:]
        n = captions.shape[0]
        mask = targets != self.null
        log_p = _log_softmax(self._scores(features, words))
        picked = np.take_along_axis(log_p, targets[..., None], axis=-1)[..., 0]
        loss = float(-np.sum(picked * mask) / n)
        dscores = np.exp(log_p)
        np.put_along_axis(dscores, targets[..., None], np.take_along_axis(dscores, targets[..., None], axis=-1) - 1.0, axis=-1)
        dscores *= mask[..., None] / n
        dW_embed = np.zeros_like(p["W_embed"])  # noqa: N806
        np.add.at(dW_embed, words, dscores @ p["W_vocab"].T)
        return loss, {"W_embed": dW_embed, "W_vocab": np.einsum("nth,ntv->hv", p["W_embed"][words], dscores),
                      "W_proj": features.T @ dscores.sum(axis=1), "b_vocab": dscores.sum(axis=(0, 1))}

    def sample(self, features: np.ndarray, max_length: int = 30) -> np.ndarray:
        """Greedy captions (N, max_length) int32, as in the class docstring."""
        captions = np.full((features.shape[0], int(max_length)), self.null, dtype=np.int32)
        captions[:, 0] = self.start
        for t in range(1, int(max_length)):
            captions[:, t] = np.argmax(self._scores(features, captions[:, t - 1:t])[:, 0], axis=1)
        return captions


CATALOGUE: dict[str, Callable[..., Any]] = {
    "softmax_linear": SoftmaxLinear,
    "captioning_bigram": CaptioningBigram,
}


@dataclass(frozen=True, eq=False)
class TrustedModel(Built):
    """A catalogue model named by a probe, with its constructor's numeric arguments."""

    name: str
    params: dict[str, np.ndarray]
    kind: ClassVar[str] = "model"

    def encode(self, key: str, arrays: dict[str, np.ndarray]) -> dict[str, Any]:
        for name, value in self.params.items():
            arrays[f"{key}/{name}"] = value
        return {"name": self.name, "params": {name: f"{key}/{name}" for name in self.params}}

    @classmethod
    def decode(cls, body: dict[str, Any], data: Any) -> TrustedModel:
        return cls(str(body["name"]), {name: np.array(data[k]) for name, k in body["params"].items()})

    def build(self) -> Any:
        """A new model from copies of the parameters: what student code does to it stays with it."""
        return CATALOGUE[self.name](**{name: value.copy() for name, value in self.params.items()})


def trusted_model(name: str, **params: Any) -> TrustedModel:
    """A probe argument that the sandbox turns into the catalogue model ``name`` built from
    ``params`` (arrays and numbers: the constructor's arguments by name)."""
    if name not in CATALOGUE:
        raise KeyError(f"no trusted model {name!r}; known: {', '.join(sorted(CATALOGUE))}")
    try:
        inspect.signature(CATALOGUE[name]).bind(**params)
    except TypeError as exc:
        raise TypeError(f"trusted_model({name!r}): {exc}") from None
    return TrustedModel(name, {k: np.array(numeric(v, f"trusted_model({name!r}) {k}")) for k, v in params.items()})

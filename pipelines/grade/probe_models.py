"""Trusted models that probes hand to student code which trains or uses a model (optimizers, trainers).

UNIT_STANDARD: one bug costs its own points, once. A student's trainer or optimizer driven on the
student's own model would lose its points for every bug of that model, so graders give it a model
of theirs instead: ``trusted_model("least_squares", W=..., b=...)``. As with ``fn(...)``
(``probe_functions``), only the name and the numeric parameters cross into the sandbox, which
builds the model from this catalogue; the grader builds the same model with ``.build()`` and runs
the expected trajectory on it. Student code may call its methods, write into or replace its
``params`` (update rules do both) and keep references; graders read its state back through refs
(``read("W", ref("train").arg(0).attr("params"))``).

The models are stand-ins, deliberately not the course's solutions: this package ships to students
and every sandbox can read it, so a graded function (a softmax loss and its gradient, a temporal
softmax loss) must never appear here (tests/packaging finds a ``reference/`` body copied into the
wheel). They have the interfaces the course's code expects of a model (``reference/numpy``:
``Trainer``, ``sgd_optimize``, the tutorial's ``LogisticRegression`` as the SdA's output layer,
``CaptioningTrainer``) and a least-squares objective of their own. Every model is numpy only, float64,
deterministic and documented with its exact math. A unit that needs another adds one class to
``CATALOGUE``; its constructor's arguments are what ``trusted_model`` takes (numbers arrive as 0-d
arrays).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from pipelines.grade.probe_values import Built, numeric


def _residual(scores: np.ndarray, targets: np.ndarray, mask: np.ndarray | None = None) -> tuple[float, np.ndarray]:
    """``(½ Σ ‖S − onehot(targets)‖² / N, (S − onehot(targets)) / N)`` over the last axis of ``scores``
    (V classes), the sum over every leading position where ``mask`` holds; N = ``scores.shape[0]``."""
    diff = scores.copy()
    np.put_along_axis(diff, targets[..., None], np.take_along_axis(diff, targets[..., None], axis=-1) - 1.0, axis=-1)
    if mask is not None:
        diff *= mask[..., None]
    n = scores.shape[0]
    return float(0.5 * np.sum(diff * diff) / n), diff / n


class LeastSquaresClassifier:
    """Linear classifier fit to one-hot targets by least squares: ``S = X W + b``.

    Shapes: ``X`` (N, D), ``y`` (N,) integer labels in [0, C), ``W`` (D, C), ``b`` (C,); float64.
    ``params`` is a plain dict ``{"W", "b"}`` (a trainer may write into it or replace it); ``W`` and
    ``b`` read and write its entries. With ``Y`` the one-hot labels, the objective is

        L = ½ Σ_i ‖S_i − Y_i‖² / N + ½ reg ΣW²,
        dL/dW = Xᵀ (S − Y) / N + reg W,   dL/db = Σ_i (S − Y)_i / N,   dL/dX = (S − Y) Wᵀ / N.

    Interfaces: CS231n's ``loss(X)`` -> S and ``loss(X, y)`` -> ``(L, grads)`` (``Trainer``); the
    tutorial's ``LogisticRegression`` (a02's ``sgd_optimize``, a08's SdA output layer), with its
    names: ``p_y_given_x`` (the scores S: a stand-in, not probabilities), ``y_pred`` (their argmax,
    lowest class on ties), ``negative_log_likelihood`` (the data term ½ Σ_i ‖S_i − Y_i‖² / N, the
    negative log-likelihood of unit-variance Gaussian targets up to a constant), ``errors``,
    ``loss_and_grads`` -> ``(L, grads, dL/dX)``, ``sgd_step(X, y, learning_rate)``, which applies
    ``p -= learning_rate * dL/dp`` in place and returns L before it, and a02's ``get_params()`` ->
    copies of ``(W, b)``, ``set_params(W, b)`` and ``gradients(X, y)`` -> ``(dL/dW, dL/db, dL/dX)`` (so
    that it can stand in for the output layer of a02's ``MLP``).
    """

    def __init__(self, W: np.ndarray, b: np.ndarray, reg: float = 0.0) -> None:
        self.params = {"W": np.asarray(W, dtype=np.float64), "b": np.asarray(b, dtype=np.float64)}
        self.reg = float(reg)

    @property
    def W(self) -> np.ndarray:
        return self.params["W"]

    @W.setter
    def W(self, value: np.ndarray) -> None:
        self.params["W"] = value

    @property
    def b(self) -> np.ndarray:
        return self.params["b"]

    @b.setter
    def b(self, value: np.ndarray) -> None:
        self.params["b"] = value

    def p_y_given_x(self, X: np.ndarray) -> np.ndarray:
        """The scores ``S = X W + b``, shape (N, C)."""
        return X @ self.W + self.b

    def loss_and_grads(self, X: np.ndarray, y: np.ndarray) -> tuple[float, dict[str, np.ndarray], np.ndarray]:
        """``(L, {"W": dL/dW, "b": dL/db}, dL/dX)`` as in the class docstring."""
        data, dscores = _residual(self.p_y_given_x(X), y)
        loss = data + 0.5 * self.reg * float(np.sum(self.W * self.W))
        return loss, {"W": X.T @ dscores + self.reg * self.W, "b": dscores.sum(axis=0)}, dscores @ self.W.T

    def gradients(self, X: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """a02's name: ``(dL/dW, dL/db, dL/dX)``, so that an MLP's output layer can be this model."""
        _, grads, dX = self.loss_and_grads(X, y)
        return grads["W"], grads["b"], dX

    def loss(self, X: np.ndarray, y: np.ndarray | None = None) -> np.ndarray | tuple[float, dict[str, np.ndarray]]:
        """The scores (N, C) without ``y``; ``(L, grads)`` with it."""
        if y is None:
            return self.p_y_given_x(X)
        loss, grads, _ = self.loss_and_grads(X, y)
        return loss, grads

    def y_pred(self, X: np.ndarray) -> np.ndarray:
        return np.argmax(self.p_y_given_x(X), axis=1)

    def negative_log_likelihood(self, X: np.ndarray, y: np.ndarray) -> float:
        return _residual(self.p_y_given_x(X), y)[0]

    def errors(self, X: np.ndarray, y: np.ndarray) -> float:
        """Fraction of rows whose ``y_pred`` differs from ``y``."""
        return float(np.mean(self.y_pred(X) != y))

    def sgd_step(self, X: np.ndarray, y: np.ndarray, learning_rate: float) -> float:
        """One in-place step ``p -= learning_rate * dL/dp``; L before it."""
        loss, grads, _ = self.loss_and_grads(X, y)
        for name, value in self.params.items():
            value -= learning_rate * grads[name]
        return loss

    def get_params(self) -> tuple[np.ndarray, np.ndarray]:
        """Copies of ``(W, b)``: later steps leave them unchanged."""
        return self.W.copy(), self.b.copy()

    def set_params(self, W: np.ndarray, b: np.ndarray) -> None:
        """``W`` and ``b`` replaced by float64 copies of the arrays given."""
        self.params = {"W": np.array(W, dtype=np.float64), "b": np.array(b, dtype=np.float64)}


class LeastSquaresCaptioner:
    """A captioning model with ``CaptioningRNN``'s interface, no recurrence and a least-squares
    objective: each word's scores depend on the previous word and the image only.

    Shapes: ``features`` (N, D), ``captions`` (N, T) integers; vocabulary V, embedding H.
    ``params``: ``W_embed`` (V, H), ``W_vocab`` (H, V), ``W_proj`` (D, V), ``b_vocab`` (V,). With
    ``w_t = captions[:, t]``, the scores of the word after ``w_t`` are

        S_t = W_embed[w_t] W_vocab + features W_proj + b_vocab   (N, V),

    and ``loss(features, captions)`` is ``½ Σ ‖S_t − onehot(w_{t+1})‖² / N`` over t = 0..T-2 and
    the rows whose target ``w_{t+1}`` is not ``null``. With ``dS_t`` = (S_t − onehot(w_{t+1})) / N on
    those positions and 0 elsewhere: ``dW_vocab = Σ_t W_embed[w_t]ᵀ dS_t``, ``dW_proj = featuresᵀ
    Σ_t dS_t``, ``db_vocab = Σ_t Σ_rows dS_t``, and row ``v`` of ``dW_embed`` collects ``dS_t
    W_vocabᵀ`` over every (row, t) with ``w_t = v``. ``sample(features, max_length)`` is greedy
    decoding laid out as the course's reference writes it: (N, max_length) int32, column 0 ``start``,
    column t >= 1 the argmax of ``S`` given column t-1 (lowest index on ties), not stopping at any
    end token.
    """

    def __init__(self, W_embed: np.ndarray, W_vocab: np.ndarray, W_proj: np.ndarray, b_vocab: np.ndarray,
                 null: int = 0, start: int = 1) -> None:
        self.params = {name: np.asarray(value, dtype=np.float64) for name, value in
                       (("W_embed", W_embed), ("W_vocab", W_vocab), ("W_proj", W_proj), ("b_vocab", b_vocab))}
        self.null, self.start = int(null), int(start)

    def _scores(self, features: np.ndarray, words: np.ndarray) -> np.ndarray:
        """``S`` after every word of ``words`` (N, T'): shape (N, T', V)."""
        p = self.params
        return p["W_embed"][words] @ p["W_vocab"] + (features @ p["W_proj"] + p["b_vocab"])[:, None, :]

    def loss(self, features: np.ndarray, captions: np.ndarray) -> tuple[float, dict[str, np.ndarray]]:
        """``(loss, grads)`` as in the class docstring, ``grads`` keyed like ``params``."""
        p = self.params
        words, targets = captions[:, :-1], captions[:, 1:]
        loss, dscores = _residual(self._scores(features, words), targets, targets != self.null)
        dW_embed = np.zeros_like(p["W_embed"])
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
    "least_squares": LeastSquaresClassifier,
    "least_squares_captioner": LeastSquaresCaptioner,
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

"""Multiclass logistic regression and the tutorials' minibatch SGD with patience early stopping.

Unit a02 starts from the deeplearning.net tutorial (seed 002, "Logistic Regression"): a softmax
layer with zero-initialised weights, the MEAN negative log-likelihood (so the learning rate does not
depend on the batch size), the 0-1 error rate, and a training loop that stops when the validation
error has not improved significantly for ``patience`` iterations. The same loop trains the MLP,
LeNet and the fine-tuning stage of the SdA, so it lives here, next to the model it was written for.

Conventions: rows are examples; ``W`` has shape (n_in, n_out) and column k is the hyperplane of
class k; gradients are derived by hand (no autograd); float64 throughout. Every model trained by
``sgd_optimize`` exposes ``params`` (a dict of arrays updated in place), ``sgd_step(X, y,
learning_rate, **kw) -> cost`` and ``errors(X, y) -> rate``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

__all__ = [
    "LogisticRegression",
    "EarlyStopping",
    "SGDResult",
    "sgd_optimize",
]


def _softmax(z: np.ndarray) -> np.ndarray:
    """Row-wise softmax of (N, C) scores, shifted by the row max so large scores do not overflow."""
    shifted = z - z.max(axis=1, keepdims=True)
    e = np.exp(shifted)
    return e / e.sum(axis=1, keepdims=True)


def _log_softmax(z: np.ndarray) -> np.ndarray:
    """Row-wise log-softmax of (N, C) scores (stable)."""
    shifted = z - z.max(axis=1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))


def _check_labels(y: np.ndarray, y_pred: np.ndarray) -> None:
    """The tutorial's ``errors`` contract: same ndim as the predictions, integer dtype."""
    if y.ndim != y_pred.ndim:
        raise TypeError(f"y should have the same shape as y_pred: got ndim {y.ndim}, expected {y_pred.ndim}")
    if not np.issubdtype(y.dtype, np.integer):
        raise NotImplementedError(f"errors() needs integer labels, got dtype {y.dtype}")


class LogisticRegression:
    """Softmax regression ``P(Y=k | x) = softmax(x W + b)_k`` with zero-initialised ``W`` and ``b``.

    Shapes: ``X`` (N, n_in), ``y`` (N,) integer labels in [0, n_out), ``W`` (n_in, n_out),
    ``b`` (n_out,). The loss is the mean (not the sum) negative log-likelihood over the N rows.
    """

    def __init__(self, n_in: int, n_out: int, W: np.ndarray | None = None, b: np.ndarray | None = None) -> None:
        self.W = np.zeros((n_in, n_out)) if W is None else W
        self.b = np.zeros(n_out) if b is None else b

    @property
    def params(self) -> dict[str, np.ndarray]:
        """The trainable arrays (updated in place by ``sgd_step``): ``{"W": (n_in, n_out), "b": (n_out,)}``."""
        return {"W": self.W, "b": self.b}

    def p_y_given_x(self, X: np.ndarray) -> np.ndarray:
        """Class probabilities, shape (N, n_out); each row sums to 1."""
        return _softmax(X @ self.W + self.b)

    def y_pred(self, X: np.ndarray) -> np.ndarray:
        """Predicted labels, shape (N,): argmax of ``p_y_given_x`` (ties go to the lowest class)."""
        return np.argmax(X @ self.W + self.b, axis=1)

    def negative_log_likelihood(self, X: np.ndarray, y: np.ndarray) -> float:
        """Mean over the N rows of ``-log P(Y = y_i | x_i)``; ``ln(n_out)`` at zero weights."""
        log_p = _log_softmax(X @ self.W + self.b)
        return float(-np.mean(log_p[np.arange(y.shape[0]), y]))

    def errors(self, X: np.ndarray, y: np.ndarray) -> float:
        """Fraction of the N rows misclassified (the mean 0-1 loss).

        Raises ``TypeError`` when ``y`` is not 1-D like the predictions and ``NotImplementedError``
        for non-integer labels, as the tutorial's ``errors`` does.
        """
        pred = self.y_pred(X)
        _check_labels(np.asarray(y), pred)
        return float(np.mean(pred != y))

    def loss_and_grads(self, X: np.ndarray, y: np.ndarray) -> tuple[float, dict[str, np.ndarray], np.ndarray]:
        """Mean NLL, its gradients ``{"W": (n_in, n_out), "b": (n_out,)}`` and ``dX`` (N, n_in).

        With P the (N, n_out) probabilities and Y the one-hot labels, d loss / d scores = (P - Y) / N,
        dW = X^T (P - Y) / N, db = column sums of (P - Y) / N, dX = (P - Y) W^T / N. ``dX`` lets the
        layer sit on top of a hidden layer (MLP, LeNet, SdA).
        """
        n = y.shape[0]
        scores = X @ self.W + self.b
        log_p = _log_softmax(scores)
        loss = float(-np.mean(log_p[np.arange(n), y]))
        dscores = np.exp(log_p)
        dscores[np.arange(n), y] -= 1.0
        dscores /= n
        grads = {"W": X.T @ dscores, "b": dscores.sum(axis=0)}
        return loss, grads, dscores @ self.W.T

    def gradients(self, X: np.ndarray, y: np.ndarray) -> dict[str, np.ndarray]:
        """Gradients of the mean NLL: ``{"W": (n_in, n_out), "b": (n_out,)}``."""
        return self.loss_and_grads(X, y)[1]

    def sgd_step(self, X: np.ndarray, y: np.ndarray, learning_rate: float) -> float:
        """One minibatch SGD update ``p -= learning_rate * dp``; returns the cost before the update."""
        loss, grads, _ = self.loss_and_grads(X, y)
        for name, p in self.params.items():
            p -= learning_rate * grads[name]
        return loss


class EarlyStopping:
    """The tutorials' patience rule, counted in minibatch iterations (0-based ``iter``).

    Validation runs when ``(iter + 1) % validation_frequency == 0`` (never at iteration 0 alone).
    A validation loss below the best so far is a new best; when it is also below
    ``best * improvement_threshold`` the improvement is significant and patience grows to
    ``max(patience, iter * patience_increase)``. Training stops once ``patience <= iter``.
    """

    def __init__(
        self,
        patience: int,
        validation_frequency: int,
        patience_increase: float = 2,
        improvement_threshold: float = 0.995,
    ) -> None:
        self.patience = patience
        self.validation_frequency = validation_frequency
        self.patience_increase = patience_increase
        self.improvement_threshold = improvement_threshold
        self.best_loss = np.inf
        self.best_iter = -1

    def should_validate(self, iteration: int) -> bool:
        """Whether the validation set is scored after training iteration ``iteration``."""
        return (iteration + 1) % self.validation_frequency == 0

    def update(self, iteration: int, validation_loss: float) -> bool:
        """Record a validation score taken after ``iteration``; True when it is a new best."""
        if validation_loss >= self.best_loss:
            return False
        if validation_loss < self.best_loss * self.improvement_threshold:
            self.patience = max(self.patience, int(iteration * self.patience_increase))
        self.best_loss = validation_loss
        self.best_iter = iteration
        return True

    def done(self, iteration: int) -> bool:
        """True once patience has run out at ``iteration``."""
        return self.patience <= iteration


class Trainable(Protocol):
    """What ``sgd_optimize`` needs from a model (``sgd_step(X, y, learning_rate, **step_kwargs) -> cost``;
    the logistic regression takes no keyword arguments, the MLP its penalties)."""

    @property
    def params(self) -> dict[str, np.ndarray]: ...

    @property
    def sgd_step(self) -> Callable[..., float]: ...

    def errors(self, X: np.ndarray, y: np.ndarray) -> float: ...


@dataclass
class SGDResult:
    """Outcome of ``sgd_optimize``; errors are fractions in [0, 1], iterations 0-based."""

    best_validation_error: float
    best_iter: int
    test_error: float
    epochs: int
    iterations: int
    history: list[dict[str, float]] = field(default_factory=list)
    costs: list[float] = field(default_factory=list)


def _batched_error(model: Trainable, X: np.ndarray, y: np.ndarray, batch_size: int | None) -> float:
    """Error rate on (X, y): whole set at once, or the tutorial's mean over full batches (drop-last)."""
    if batch_size is None:
        return model.errors(X, y)
    n_batches = X.shape[0] // batch_size
    return float(np.mean([
        model.errors(X[i * batch_size:(i + 1) * batch_size], y[i * batch_size:(i + 1) * batch_size])
        for i in range(n_batches)
    ]))


def sgd_optimize(
    model: Trainable,
    data: tuple[tuple[np.ndarray, np.ndarray], ...],
    learning_rate: float = 0.13,
    n_epochs: int = 1000,
    batch_size: int = 600,
    patience: int = 5000,
    patience_increase: float = 2,
    improvement_threshold: float = 0.995,
    validation_frequency: int | None = None,
    eval_batch_size: int | None = None,
    seed: int | None = None,
    restore_best: bool = True,
    step_kwargs: dict[str, Any] | None = None,
) -> SGDResult:
    """Minibatch SGD with the tutorials' early stopping (defaults: the logistic-regression run).

    ``data = ((X_train, y_train), (X_valid, y_valid), (X_test, y_test))``. Minibatch i is rows
    ``[i*B, (i+1)*B)``; trailing rows that do not fill a batch are dropped (``N // B`` batches).
    ``seed=None`` keeps the tutorial's fixed order; an integer reshuffles the rows every epoch.
    ``validation_frequency`` defaults to ``min(n_train_batches, patience // 2)``. The test error
    is measured only at a new best validation error. ``eval_batch_size=None`` scores the whole
    validation/test sets; pass ``batch_size`` to reproduce the tutorial's drop-last mean over
    batches (9 600 of 10 000 rows at B = 600). With ``restore_best`` the model ends with the
    parameters of the best validation score. ``step_kwargs`` go to ``model.sgd_step`` (e.g. the
    MLP's ``L1_reg``, ``L2_reg``). ``history`` has one entry per validation: epoch, iteration,
    mean training cost since the previous validation, validation error; ``costs`` holds every step's
    minibatch cost (before its update), in order.
    """
    (X_train, y_train), (X_valid, y_valid), (X_test, y_test) = data
    n_train_batches = X_train.shape[0] // batch_size
    if n_train_batches == 0:
        raise ValueError(f"sgd_optimize: batch_size {batch_size} exceeds the {X_train.shape[0]} training rows")
    freq = validation_frequency or min(n_train_batches, patience // 2)
    stopper = EarlyStopping(patience, freq, patience_increase, improvement_threshold)
    rng = None if seed is None else np.random.default_rng(seed)
    kwargs = step_kwargs or {}
    best_params = {k: v.copy() for k, v in model.params.items()}
    result = SGDResult(np.inf, -1, np.inf, 0, 0)
    costs: list[float] = []
    iteration = -1
    epoch = 0
    done = False
    while epoch < n_epochs and not done:
        epoch += 1
        order = np.arange(X_train.shape[0]) if rng is None else rng.permutation(X_train.shape[0])
        for minibatch_index in range(n_train_batches):
            rows = order[minibatch_index * batch_size:(minibatch_index + 1) * batch_size]
            costs.append(model.sgd_step(X_train[rows], y_train[rows], learning_rate, **kwargs))
            result.costs.append(costs[-1])
            iteration = (epoch - 1) * n_train_batches + minibatch_index
            if stopper.should_validate(iteration):
                val_error = _batched_error(model, X_valid, y_valid, eval_batch_size)
                result.history.append({
                    "epoch": epoch, "iter": iteration,
                    "train_cost": float(np.mean(costs)), "validation_error": val_error,
                })
                costs = []
                if stopper.update(iteration, val_error):
                    result.best_validation_error = val_error
                    result.best_iter = iteration
                    result.test_error = _batched_error(model, X_test, y_test, eval_batch_size)
                    best_params = {k: v.copy() for k, v in model.params.items()}
            if stopper.done(iteration):
                done = True
                break
    if restore_best and result.best_iter >= 0:
        for name, p in model.params.items():
            p[...] = best_params[name]
    result.epochs = epoch
    result.iterations = iteration + 1
    return result

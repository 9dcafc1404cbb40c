"""Linear classifiers on raw pixels: the multiclass SVM and softmax losses, and minibatch SGD.

Unit a01 asks students for each loss twice, once with explicit loops (to see the math) and once
vectorized (to see why numpy matters), then for a classifier trained by minibatch SGD. Graders
compare all of them with these functions, so both versions of each loss compute the same number.

Conventions pinned here (the book's, seed 003 ch.2):
- ``W`` has shape (D, C), ``X`` (N, D), ``y`` (N,) integer labels in [0, C); scores are ``X @ W``.
  A bias is folded into ``W`` as its last row when ``X`` carries a column of ones (the bias trick),
  and is then regularized like every other row.
- The loss is the mean data loss over the N rows plus ``0.5 * reg * sum(W**2)``, so the
  regularization gradient is ``reg * W``. CS231n's notes write ``reg * sum(W**2)`` (gradient
  ``2 * reg * W``); a ``reg`` from there is twice a ``reg`` here.
- The SVM is the Weston-Watkins hinge ``sum_{j != y_i} max(0, s_j - s_{y_i} + delta)`` with
  ``delta = 1``; a margin of exactly 0 contributes no gradient.
- The softmax loss shifts each row of scores by its max before ``exp``, so large scores do not
  overflow.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "svm_loss_naive",
    "svm_loss_vectorized",
    "softmax_loss_naive",
    "softmax_loss_vectorized",
    "LinearClassifier",
    "LinearSVM",
    "Softmax",
]


def svm_loss_naive(
    W: np.ndarray, X: np.ndarray, y: np.ndarray, reg: float, delta: float = 1.0
) -> tuple[float, np.ndarray]:
    """Multiclass SVM loss and its gradient, one example and one class at a time.

    Shapes: ``W`` (D, C), ``X`` (N, D), ``y`` (N,). Returns ``(loss, dW)`` with ``dW`` (D, C):
    the mean hinge loss over N plus ``0.5 * reg * sum(W**2)``.
    """
    num_train = X.shape[0]
    num_classes = W.shape[1]
    loss = 0.0
    dW = np.zeros_like(W, dtype=np.float64)
    for i in range(num_train):
        scores = X[i].dot(W)
        correct_score = scores[y[i]]
        for j in range(num_classes):
            if j == y[i]:
                continue
            margin = scores[j] - correct_score + delta
            if margin > 0:
                loss += margin
                dW[:, j] += X[i]
                dW[:, y[i]] -= X[i]
    loss = loss / num_train + 0.5 * reg * np.sum(W * W)
    dW = dW / num_train + reg * W
    return float(loss), dW


def svm_loss_vectorized(
    W: np.ndarray, X: np.ndarray, y: np.ndarray, reg: float, delta: float = 1.0
) -> tuple[float, np.ndarray]:
    """The same loss and gradient as ``svm_loss_naive``, without Python loops.

    Shapes: ``W`` (D, C), ``X`` (N, D), ``y`` (N,). Returns ``(loss, dW)`` with ``dW`` (D, C).
    """
    num_train = X.shape[0]
    rows = np.arange(num_train)
    scores = X.dot(W)
    margins = scores - scores[rows, y][:, None] + delta
    margins[rows, y] = 0.0
    active = (margins > 0).astype(np.float64)
    loss = np.sum(margins * active) / num_train + 0.5 * reg * np.sum(W * W)
    active[rows, y] = -active.sum(axis=1)
    dW = X.T.dot(active) / num_train + reg * W
    return float(loss), dW


def softmax_loss_naive(W: np.ndarray, X: np.ndarray, y: np.ndarray, reg: float) -> tuple[float, np.ndarray]:
    """Softmax (cross-entropy) loss and its gradient, one example and one class at a time.

    Shapes: ``W`` (D, C), ``X`` (N, D), ``y`` (N,). Returns ``(loss, dW)`` with ``dW`` (D, C):
    the mean of ``-log p_{y_i}`` over N plus ``0.5 * reg * sum(W**2)``.
    """
    num_train = X.shape[0]
    num_classes = W.shape[1]
    loss = 0.0
    dW = np.zeros_like(W, dtype=np.float64)
    for i in range(num_train):
        scores = X[i].dot(W)
        scores = scores - np.max(scores)
        exp_scores = np.exp(scores)
        total = np.sum(exp_scores)
        loss += np.log(total) - scores[y[i]]
        for j in range(num_classes):
            p_j = exp_scores[j] / total
            dW[:, j] += (p_j - (j == y[i])) * X[i]
    loss = loss / num_train + 0.5 * reg * np.sum(W * W)
    dW = dW / num_train + reg * W
    return float(loss), dW


def softmax_loss_vectorized(
    W: np.ndarray, X: np.ndarray, y: np.ndarray, reg: float
) -> tuple[float, np.ndarray]:
    """The same loss and gradient as ``softmax_loss_naive``, without Python loops.

    Shapes: ``W`` (D, C), ``X`` (N, D), ``y`` (N,). Returns ``(loss, dW)`` with ``dW`` (D, C).
    """
    num_train = X.shape[0]
    rows = np.arange(num_train)
    scores = X.dot(W)
    scores = scores - scores.max(axis=1, keepdims=True)
    log_norm = np.log(np.exp(scores).sum(axis=1, keepdims=True))
    log_probs = scores - log_norm
    loss = -np.sum(log_probs[rows, y]) / num_train + 0.5 * reg * np.sum(W * W)
    dscores = np.exp(log_probs)
    dscores[rows, y] -= 1.0
    dW = X.T.dot(dscores) / num_train + reg * W
    return float(loss), dW


class LinearClassifier:
    """A linear score function ``X @ W`` trained by minibatch SGD; subclasses choose the loss.

    ``W`` is None until the first ``train`` call, which draws it as ``0.001 * randn(D, C)``
    with ``C = max(y) + 1``; later calls continue from the current ``W``.
    """

    def __init__(self) -> None:
        self.W: np.ndarray | None = None

    def train(
        self,
        X: np.ndarray,
        y: np.ndarray,
        learning_rate: float = 1e-3,
        reg: float = 1e-5,
        num_iters: int = 100,
        batch_size: int = 200,
        verbose: bool = False,
        seed: int | None = None,
    ) -> list[float]:
        """Run ``num_iters`` steps of ``W -= learning_rate * dW`` on minibatches; return each step's loss.

        Shapes: ``X`` (N, D), ``y`` (N,). Each minibatch holds ``batch_size`` rows drawn with
        replacement. ``seed`` seeds both the initial ``W`` and the sampling. ``verbose`` prints
        the loss every 100 iterations.
        """
        rng = np.random.default_rng(seed)
        num_train, dim = X.shape
        num_classes = int(np.max(y)) + 1
        if self.W is None:
            self.W = 0.001 * rng.standard_normal((dim, num_classes))
        loss_history = []
        for it in range(num_iters):
            batch = rng.integers(num_train, size=batch_size)
            loss, grad = self.loss(X[batch], y[batch], reg)
            loss_history.append(loss)
            self.W = self.W - learning_rate * grad
            if verbose and it % 100 == 0:
                print(f"iteration {it} / {num_iters}: loss {loss:f}")
        return loss_history

    def predict(self, X: np.ndarray) -> np.ndarray:
        """Predicted labels, shape (N,): the argmax of the scores ``X @ W`` (ties go to the lowest class)."""
        if self.W is None:
            raise RuntimeError("predict() before train(): the classifier has no weights yet")
        return np.argmax(X.dot(self.W), axis=1)

    def loss(self, X_batch: np.ndarray, y_batch: np.ndarray, reg: float) -> tuple[float, np.ndarray]:
        """``(loss, dW)`` on a minibatch ``X_batch`` (B, D), ``y_batch`` (B,); defined by each subclass."""
        raise NotImplementedError(f"{type(self).__name__} must define loss()")


class LinearSVM(LinearClassifier):
    """A linear classifier trained with the multiclass SVM loss (``svm_loss_vectorized``)."""

    def loss(self, X_batch: np.ndarray, y_batch: np.ndarray, reg: float) -> tuple[float, np.ndarray]:
        """``svm_loss_vectorized(W, X_batch, y_batch, reg)``."""
        return svm_loss_vectorized(self.W, X_batch, y_batch, reg)


class Softmax(LinearClassifier):
    """A linear classifier trained with the softmax loss (``softmax_loss_vectorized``), the book's ``Softmax``."""

    def loss(self, X_batch: np.ndarray, y_batch: np.ndarray, reg: float) -> tuple[float, np.ndarray]:
        """``softmax_loss_vectorized(W, X_batch, y_batch, reg)``."""
        return softmax_loss_vectorized(self.W, X_batch, y_batch, reg)

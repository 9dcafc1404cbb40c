"""The fully connected building blocks of unit a03: affine, activations and the two classifier losses.

Graders compare students' ``layers.py`` with these functions, so each one is the notebook's math
written once, plainly: ``name_forward(...) -> (out, cache)`` and ``name_backward(dout, cache) ->
grads`` (the CS231n / book convention), losses ``(loss, dscores)`` averaged over the N examples.
Backward passes never write into ``dout`` (the book's ``relu_backward`` does; see seed-003 errata).
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = [
    "affine_forward",
    "affine_backward",
    "relu_forward",
    "relu_backward",
    "sigmoid_forward",
    "sigmoid_backward",
    "tanh_forward",
    "tanh_backward",
    "svm_loss",
    "softmax_loss",
]


def affine_forward(x: np.ndarray, w: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, tuple[Any, ...]]:
    """Fully connected layer ``out = x.reshape(N, D) @ w + b``.

    Shapes: ``x`` (N, d_1, ..., d_k) with D = d_1 * ... * d_k (each example is flattened into a
    row), ``w`` (D, M), ``b`` (M,). Returns ``out`` (N, M) and ``cache = (x, w, b)`` with ``x`` in
    its original shape.
    """
    out = x.reshape(x.shape[0], -1) @ w + b
    return out, (x, w, b)


def affine_backward(dout: np.ndarray, cache: tuple[Any, ...]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Gradients of the affine layer.

    ``dout`` (N, M) is the upstream gradient; returns ``dx`` in ``x``'s original shape
    (N, d_1, ..., d_k), ``dw`` (D, M) and ``db`` (M,).
    """
    x, w, _ = cache
    dx = (dout @ w.T).reshape(x.shape)
    dw = x.reshape(x.shape[0], -1).T @ dout
    db = dout.sum(axis=0)
    return dx, dw, db


def relu_forward(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rectified linear unit ``max(0, x)`` elementwise; any shape. ``cache = x``."""
    return np.maximum(0, x), x


def relu_backward(dout: np.ndarray, cache: np.ndarray) -> np.ndarray:
    """``dx = dout * 1[x > 0]``, same shape as ``dout``; at x = 0 the gradient is taken as 0."""
    return np.where(cache > 0, dout, 0).astype(dout.dtype, copy=False)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    """``1 / (1 + exp(-x))`` without overflow: ``exp`` only ever sees non-positive arguments."""
    z = np.exp(-np.abs(x))
    return np.where(x >= 0, 1.0 / (1.0 + z), z / (1.0 + z))


def sigmoid_forward(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Logistic sigmoid elementwise, any shape; numerically stable for large |x|. ``cache = out``."""
    out = _sigmoid(x)
    return out, out


def sigmoid_backward(dout: np.ndarray, cache: np.ndarray) -> np.ndarray:
    """``dx = dout * s * (1 - s)`` with ``s`` the forward output; same shape as ``dout``."""
    s = cache
    return dout * s * (1.0 - s)


def tanh_forward(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Hyperbolic tangent elementwise, any shape. ``cache = out``."""
    out = np.tanh(x)
    return out, out


def tanh_backward(dout: np.ndarray, cache: np.ndarray) -> np.ndarray:
    """``dx = dout * (1 - tanh(x)**2)`` using the cached output; same shape as ``dout``."""
    t = cache
    return dout * (1.0 - t * t)


def svm_loss(x: np.ndarray, y: np.ndarray, delta: float = 1.0) -> tuple[float, np.ndarray]:
    """Multiclass hinge loss with margin ``delta`` (1 in every exercise), averaged over examples.

    ``x`` (N, C) are class scores, ``y`` (N,) integer labels in [0, C).
    ``loss = (1/N) * sum_i sum_{j != y_i} max(0, x_ij - x_iy_i + delta)``; no regularization term.
    Returns ``(loss, dx)`` with ``dx`` (N, C). At a margin of exactly 0 the hinge's gradient is 0.
    """
    n = x.shape[0]
    rows = np.arange(n)
    margins = np.maximum(0, x - x[rows, y][:, None] + delta)
    margins[rows, y] = 0
    loss = float(margins.sum() / n)
    positive = (margins > 0).astype(x.dtype)
    dx = positive
    dx[rows, y] -= positive.sum(axis=1)
    return loss, dx / n


def softmax_loss(x: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray]:
    """Softmax cross-entropy, averaged over examples; the same as ``F.cross_entropy(x, y)``.

    ``x`` (N, C) are class scores, ``y`` (N,) integer labels in [0, C).
    ``loss = -(1/N) * sum_i log softmax(x_i)[y_i]``, computed from ``x - max_j x_ij`` so large scores
    do not overflow; no regularization term. Returns ``(loss, dx)`` with
    ``dx = (softmax(x) - onehot(y)) / N`` of shape (N, C).
    """
    n = x.shape[0]
    rows = np.arange(n)
    shifted = x - x.max(axis=1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    loss = float(-log_probs[rows, y].sum() / n)
    dx = np.exp(log_probs)
    dx[rows, y] -= 1
    return loss, dx / n

"""Sandwich layers: the fixed sequences of primitives that fully connected nets stack.

Composing them here keeps ``fc_net`` a loop over layers and gives graders one function per
sandwich that the notebooks also name (``affine_relu_*`` in unit a03, ``affine_relu_dropout_*`` in
a04, ``affine_bn_relu_*`` in a05; the book calls the last one but never defines it). Each forward
returns ``(out, cache)`` and each backward the gradients of its inputs in argument order.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from reference.numpy.bn_layers import batchnorm_backward_alt, batchnorm_forward
from reference.numpy.dropout_layers import dropout_backward, dropout_forward
from reference.numpy.layers import affine_backward, affine_forward, relu_backward, relu_forward

__all__ = [
    "affine_relu_forward",
    "affine_relu_backward",
    "affine_relu_dropout_forward",
    "affine_relu_dropout_backward",
    "affine_bn_relu_forward",
    "affine_bn_relu_backward",
]


def affine_relu_forward(x: np.ndarray, w: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, tuple[Any, ...]]:
    """``relu(x.reshape(N, D) @ w + b)``: ``x`` (N, d_1..d_k), ``w`` (D, M), ``b`` (M,) -> out (N, M)."""
    a, fc_cache = affine_forward(x, w, b)
    out, relu_cache = relu_forward(a)
    return out, (fc_cache, relu_cache)


def affine_relu_backward(
    dout: np.ndarray, cache: tuple[Any, ...]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``dout`` (N, M) -> ``dx`` (N, d_1..d_k), ``dw`` (D, M), ``db`` (M,)."""
    fc_cache, relu_cache = cache
    return affine_backward(relu_backward(dout, relu_cache), fc_cache)


def affine_relu_dropout_forward(
    x: np.ndarray, w: np.ndarray, b: np.ndarray, dropout_param: dict[str, Any]
) -> tuple[np.ndarray, tuple[Any, ...]]:
    """Affine, ReLU, then inverted dropout (``dropout_param['p']`` = keep probability).

    Shapes as in ``affine_relu_forward``; ``dropout_param`` as in ``dropout_forward``.
    """
    a, ar_cache = affine_relu_forward(x, w, b)
    out, drop_cache = dropout_forward(a, dropout_param)
    return out, (ar_cache, drop_cache)


def affine_relu_dropout_backward(
    dout: np.ndarray, cache: tuple[Any, ...]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``dout`` (N, M) -> ``dx`` (N, d_1..d_k), ``dw`` (D, M), ``db`` (M,)."""
    ar_cache, drop_cache = cache
    return affine_relu_backward(dropout_backward(dout, drop_cache), ar_cache)


def affine_bn_relu_forward(
    x: np.ndarray,
    w: np.ndarray,
    b: np.ndarray,
    gamma: np.ndarray,
    beta: np.ndarray,
    bn_param: dict[str, Any],
) -> tuple[np.ndarray, tuple[Any, ...]]:
    """Affine, batch normalization, then ReLU.

    Shapes: ``x`` (N, d_1..d_k), ``w`` (D, M), ``b``, ``gamma``, ``beta`` (M,) -> out (N, M);
    ``bn_param`` as in ``batchnorm_forward`` (its running statistics are updated in train mode).
    """
    a, fc_cache = affine_forward(x, w, b)
    an, bn_cache = batchnorm_forward(a, gamma, beta, bn_param)
    out, relu_cache = relu_forward(an)
    return out, (fc_cache, bn_cache, relu_cache)


def affine_bn_relu_backward(
    dout: np.ndarray, cache: tuple[Any, ...]
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``dout`` (N, M) -> ``dx`` (N, d_1..d_k), ``dw`` (D, M), ``db``, ``dgamma``, ``dbeta`` (M,)."""
    fc_cache, bn_cache, relu_cache = cache
    dan = relu_backward(dout, relu_cache)
    da, dgamma, dbeta = batchnorm_backward_alt(dan, bn_cache)
    dx, dw, db = affine_backward(da, fc_cache)
    return dx, dw, db, dgamma, dbeta

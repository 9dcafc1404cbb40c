"""Torch twins of ``reference.numpy.fc_net``: the networks' scores and losses as functions of their parameters.

Graders need the loss of a model as a differentiable function of its parameter tensors, so the
models are written as functions of a ``params`` dict keyed like the numpy models' (``W1``, ``b1``,
..., ``gamma1``, ``beta1``, ...). Name mapping: ``ShallowLayerNet.loss(X)`` ->
``shallow_layer_net_scores``, ``ShallowLayerNet.loss(X, y)[0]`` -> ``shallow_layer_net_loss``,
``FullyConnectedNet.loss(X)`` -> ``fully_connected_net_scores`` and ``FullyConnectedNet.loss(X, y)[0]``
-> ``fully_connected_net_loss``; gradients come from autograd. As in numpy: mean softmax
cross-entropy plus ``0.5 * reg * sum(W**2)`` over the weight matrices only; dropout masks are
handed in (numpy draws them) and the batchnorm mode is read from each ``bn_params`` entry.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from reference.torch.dropout_layers import dropout
from reference.torch.layer_utils import affine_bn_relu, affine_relu
from reference.torch.layers import affine, softmax_loss

__all__ = [
    "shallow_layer_net_scores",
    "shallow_layer_net_loss",
    "fully_connected_net_scores",
    "fully_connected_net_loss",
]


def _l2(params: dict[str, torch.Tensor]) -> torch.Tensor:
    """``sum(W**2)`` over every weight matrix ``W{i}`` in ``params``."""
    return sum((w * w).sum() for name, w in params.items() if name.startswith("W"))


def shallow_layer_net_scores(
    X: torch.Tensor, W1: torch.Tensor, b1: torch.Tensor, W2: torch.Tensor, b2: torch.Tensor
) -> torch.Tensor:
    """affine - relu - affine: ``X`` (N, d_1..d_k), ``W1`` (D, H), ``b1`` (H,), ``W2`` (H, C), ``b2`` (C,) -> (N, C)."""
    return affine(affine_relu(X, W1, b1), W2, b2)


def shallow_layer_net_loss(
    X: torch.Tensor,
    y: torch.Tensor,
    W1: torch.Tensor,
    b1: torch.Tensor,
    W2: torch.Tensor,
    b2: torch.Tensor,
    reg: float = 0.0,
) -> torch.Tensor:
    """Mean cross-entropy of ``shallow_layer_net_scores`` plus ``0.5 * reg * (sum W1**2 + sum W2**2)``."""
    scores = shallow_layer_net_scores(X, W1, b1, W2, b2)
    return softmax_loss(scores, y) + 0.5 * reg * ((W1 * W1).sum() + (W2 * W2).sum())


def fully_connected_net_scores(
    X: torch.Tensor,
    params: dict[str, torch.Tensor],
    bn_params: Sequence[dict[str, Any]] | None = None,
    dropout_masks: Sequence[Any] | None = None,
) -> torch.Tensor:
    """``{affine - [batchnorm] - relu - [dropout]} x (L - 1) - affine`` -> scores (N, C).

    ``params``: ``W{i}`` (d_{i-1}, d_i), ``b{i}`` (d_i,) for i = 1..L, and ``gamma{i}``/``beta{i}``
    for the hidden layers when batchnorm is used (then ``bn_params`` holds one dict per hidden
    layer, with its ``mode`` and running statistics). ``dropout_masks``: one scaled keep mask
    (N, d_i) per hidden layer, or None for no dropout / test mode.
    """
    num_layers = sum(1 for name in params if name.startswith("W"))
    out = X
    for i in range(1, num_layers):
        w, b = params[f"W{i}"], params[f"b{i}"]
        if f"gamma{i}" in params:
            out = affine_bn_relu(out, w, b, params[f"gamma{i}"], params[f"beta{i}"], bn_params[i - 1])
        else:
            out = affine_relu(out, w, b)
        if dropout_masks is not None:
            out = dropout(out, dropout_masks[i - 1])
    return affine(out, params[f"W{num_layers}"], params[f"b{num_layers}"])


def fully_connected_net_loss(
    X: torch.Tensor,
    y: torch.Tensor,
    params: dict[str, torch.Tensor],
    reg: float = 0.0,
    bn_params: Sequence[dict[str, Any]] | None = None,
    dropout_masks: Sequence[Any] | None = None,
) -> torch.Tensor:
    """Mean cross-entropy of ``fully_connected_net_scores`` plus ``0.5 * reg * sum_i sum(W{i}**2)``."""
    scores = fully_connected_net_scores(X, params, bn_params, dropout_masks)
    return softmax_loss(scores, y) + 0.5 * reg * _l2(params)

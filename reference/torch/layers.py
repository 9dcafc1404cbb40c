"""Torch twins of ``reference.numpy.layers``: the second opinion on affine, activations and losses.

Forward computations only; gradients come from autograd (``reference.torch.autograd``). Any
device, float64 when given float64 tensors. Name mapping (numpy -> torch):
``affine_forward`` -> ``affine``, ``relu_forward`` -> ``relu``, ``sigmoid_forward`` -> ``sigmoid``,
``tanh_forward`` -> ``tanh``, ``svm_loss`` -> ``svm_loss`` and ``softmax_loss`` -> ``softmax_loss``
(the losses return only the loss tensor; ``dx`` comes from autograd).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = ["affine", "relu", "sigmoid", "tanh", "svm_loss", "softmax_loss"]


def affine(x: torch.Tensor, w: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """``x.flatten(1) @ w + b``: ``x`` (N, d_1..d_k), ``w`` (D, M), ``b`` (M,) -> (N, M)."""
    return x.flatten(1) @ w + b


def relu(x: torch.Tensor) -> torch.Tensor:
    """``max(0, x)`` elementwise (autograd's derivative at 0 is 0, as in the numpy reference)."""
    return torch.relu(x)


def sigmoid(x: torch.Tensor) -> torch.Tensor:
    """Logistic sigmoid elementwise."""
    return torch.sigmoid(x)


def tanh(x: torch.Tensor) -> torch.Tensor:
    """Hyperbolic tangent elementwise."""
    return torch.tanh(x)


def svm_loss(x: torch.Tensor, y: torch.Tensor, delta: float = 1.0) -> torch.Tensor:
    """Multiclass hinge loss, margin ``delta``, summed over wrong classes and averaged over N.

    ``x`` (N, C), ``y`` (N,) int64. ``F.multi_margin_loss`` divides each example's sum by C, so it
    is multiplied back by C to match the course's (CS231n's) definition.
    """
    return F.multi_margin_loss(x, y, margin=delta) * x.shape[1]


def softmax_loss(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Mean softmax cross-entropy: ``F.cross_entropy(x, y)``; ``x`` (N, C), ``y`` (N,) int64."""
    return F.cross_entropy(x, y)

"""Torch twins of ``reference.numpy.layer_utils``: the sandwich layers as compositions of torch ops.

Name mapping (numpy -> torch): ``affine_relu_forward`` -> ``affine_relu``,
``affine_relu_dropout_forward`` -> ``affine_relu_dropout`` (given the numpy side's dropout mask),
``affine_bn_relu_forward`` -> ``affine_bn_relu``. Gradients come from autograd.
"""

from __future__ import annotations

from typing import Any

import torch

from reference.torch.bn_layers import batchnorm
from reference.torch.dropout_layers import dropout
from reference.torch.layers import affine, relu

__all__ = ["affine_relu", "affine_relu_dropout", "affine_bn_relu"]


def affine_relu(x: torch.Tensor, w: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """``relu(x.flatten(1) @ w + b)``: ``x`` (N, d_1..d_k), ``w`` (D, M), ``b`` (M,) -> (N, M)."""
    return relu(affine(x, w, b))


def affine_relu_dropout(x: torch.Tensor, w: torch.Tensor, b: torch.Tensor, mask: Any = None) -> torch.Tensor:
    """``affine_relu`` followed by ``dropout`` with the given scaled keep mask (None: test mode)."""
    return dropout(affine_relu(x, w, b), mask)


def affine_bn_relu(
    x: torch.Tensor,
    w: torch.Tensor,
    b: torch.Tensor,
    gamma: torch.Tensor,
    beta: torch.Tensor,
    bn_param: dict[str, Any],
) -> torch.Tensor:
    """Affine, ``batchnorm`` (running statistics updated in ``bn_param`` in train mode), ReLU -> (N, M)."""
    return relu(batchnorm(affine(x, w, b), gamma, beta, bn_param))

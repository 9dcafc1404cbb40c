"""Torch mirror of ``reference/numpy/lenet.py``: the LeNet forward pass and cost, for autograd checks.

Mapping (numpy -> torch):

* ``LeNetConvPoolLayer.forward`` -> ``lenet_conv_pool(x, W, b, pool)``
* ``LeNet.p_y_given_x`` -> ``lenet_p_y_given_x(X, W0, b0, W1, b1, W2, b2, W3, b3, image_shape)``
* ``LeNet.negative_log_likelihood`` (gradients by autograd) -> ``lenet_cost(X, y, W0, ..., b3, image_shape)``

``F.conv2d`` is cross-correlation, the course's convention (Theano's tutorial flipped kernels; see
the numpy module). Pooling is ``F.max_pool2d(kernel = stride = pool)``, which drops incomplete windows
like ``ignore_border=True``. Shapes as in numpy; any device; dtype follows the inputs.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F

from reference.torch.logistic import logistic_nll
from reference.torch.mlp import hidden_layer

__all__ = ["lenet_conv_pool", "lenet_p_y_given_x", "lenet_cost"]


def lenet_conv_pool(x: torch.Tensor, W: torch.Tensor, b: torch.Tensor, pool: int = 2) -> torch.Tensor:
    """``tanh(maxpool(conv(x, W)) + b)``: x (N, C, H, W), W (F, C, fh, fw), b (F,) -> (N, F, H', W')."""
    return torch.tanh(F.max_pool2d(F.conv2d(x, W), pool) + b[None, :, None, None])


def _hidden(X: torch.Tensor, params: Sequence[torch.Tensor], image_shape: Sequence[int], pool: int) -> torch.Tensor:
    """Output (N, n_hidden) of the two conv-pool layers and the tanh hidden layer."""
    W0, b0, W1, b1, W2, b2 = params
    x = X.reshape((X.shape[0], *image_shape))
    h1 = lenet_conv_pool(lenet_conv_pool(x, W0, b0, pool), W1, b1, pool)
    return hidden_layer(h1.flatten(1), W2, b2, "tanh")


def lenet_p_y_given_x(
    X: torch.Tensor, W0: torch.Tensor, b0: torch.Tensor, W1: torch.Tensor, b1: torch.Tensor,
    W2: torch.Tensor, b2: torch.Tensor, W3: torch.Tensor, b3: torch.Tensor,
    image_shape: Sequence[int] = (1, 28, 28), pool: int = 2,
) -> torch.Tensor:
    """Class probabilities (N, n_out); ``X`` is (N, C*H*W) or (N, C, H, W)."""
    h = _hidden(X, (W0, b0, W1, b1, W2, b2), image_shape, pool)
    return torch.softmax(h @ W3 + b3, dim=1)


def lenet_cost(
    X: torch.Tensor, y: torch.Tensor, W0: torch.Tensor, b0: torch.Tensor, W1: torch.Tensor, b1: torch.Tensor,
    W2: torch.Tensor, b2: torch.Tensor, W3: torch.Tensor, b3: torch.Tensor,
    image_shape: Sequence[int] = (1, 28, 28), pool: int = 2,
) -> torch.Tensor:
    """Mean NLL of labels ``y`` (N,) (0-d tensor)."""
    return logistic_nll(_hidden(X, (W0, b0, W1, b1, W2, b2), image_shape, pool), y, W3, b3)

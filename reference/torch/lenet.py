"""Torch mirror of ``reference/numpy/lenet.py``: the LeNet forward pass and loss, for autograd checks.

Mapping (numpy -> torch):

* ``LeNetConvPoolLayer.forward`` -> ``lenet_conv_pool(x, W, b, pool, activation)``
* ``LeNet.loss(X)`` (scores) -> ``lenet(params, X, activation=...)``; the loss of ``LeNet.loss(X, y)``
  -> ``lenet(params, X, y, activation, reg, mask)`` (gradients by autograd), where ``mask`` is the
  scaled keep mask of the dropout on the hidden layer's output (``reference.numpy.dropout_mask``).

``F.conv2d`` is cross-correlation, the course's convention (Theano's tutorial flipped kernels; see
the numpy module). Pooling is ``F.max_pool2d(kernel = stride = pool)``, which drops incomplete windows
like ``ignore_border=True``. Shapes as in numpy; any device; dtype follows the inputs.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = ["lenet_conv_pool", "lenet"]

ACTIVATIONS = {"tanh": torch.tanh, "relu": torch.relu}


def lenet_conv_pool(x: torch.Tensor, W: torch.Tensor, b: torch.Tensor, pool: int = 2,
                    activation: str = "tanh") -> torch.Tensor:
    """``act(maxpool(conv(x, W)) + b)``: x (N, C, H, W), W (F, C, fh, fw), b (F,) -> (N, F, H', W')."""
    return ACTIVATIONS[activation](F.max_pool2d(F.conv2d(x, W), pool) + b[None, :, None, None])


def lenet(params: dict[str, torch.Tensor], X: torch.Tensor, y: torch.Tensor | None = None,
          activation: str = "tanh", reg: float = 0.0, mask: torch.Tensor | None = None) -> torch.Tensor:
    """Scores (N, num_classes) when ``y`` is None, else the scalar regularised mean cross-entropy.

    params: W1, b1, W2, b2 (conv), W3, b3 (hidden), W4, b4 (output); X (N, C, H, W); ``mask``
    (N, hidden) multiplies the hidden layer's output (train-mode dropout; None: no dropout).
    """
    h = lenet_conv_pool(X, params["W1"], params["b1"], activation=activation)
    h = lenet_conv_pool(h, params["W2"], params["b2"], activation=activation)
    h = ACTIVATIONS[activation](h.flatten(1) @ params["W3"] + params["b3"])
    if mask is not None:
        h = h * mask
    scores = h @ params["W4"] + params["b4"]
    if y is None:
        return scores
    penalty = sum((params[name] ** 2).sum() for name in ("W1", "W2", "W3", "W4"))
    return F.cross_entropy(scores, y.long()) + 0.5 * reg * penalty

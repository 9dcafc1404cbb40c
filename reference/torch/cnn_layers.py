"""The convolutional layers of unit a06 in torch: the second, independent opinion for graders.

Forward only; gradients come from autograd. Same conventions as ``reference.numpy.cnn_layers``:
convolution is cross-correlation (exactly what ``F.conv2d`` computes), zero padding on both sides,
floor output sizes, and max-pool gradients routed to the first maximum of each window (what
``F.max_pool2d``'s backward does). Device-agnostic: the tensors' device and dtype are kept.

Mapping to ``reference.numpy.cnn_layers``:

| torch            | numpy                                                   |
|------------------|---------------------------------------------------------|
| `conv`           | `conv_forward_naive`, `conv_forward_fast`               |
| `max_pool`       | `max_pool_forward_naive`, `max_pool_forward_fast`       |
| `conv_relu`      | `conv_relu_forward`                                     |
| `conv_relu_pool` | `conv_relu_pool_forward`                                |
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = ["conv", "max_pool", "conv_relu", "conv_relu_pool"]


def conv(x: torch.Tensor, w: torch.Tensor, b: torch.Tensor, conv_param: dict[str, int]) -> torch.Tensor:
    """Cross-correlation: x (N, C, H, W), w (F, C, HH, WW), b (F,) -> (N, F, H', W'),
    H' = 1 + (H + 2*pad - HH) // stride; conv_param {'stride', 'pad'}."""
    return F.conv2d(x, w, b, stride=conv_param["stride"], padding=conv_param["pad"])


def max_pool(x: torch.Tensor, pool_param: dict[str, int]) -> torch.Tensor:
    """Max pooling: x (N, C, H, W) -> (N, C, H', W'), H' = 1 + (H - pool_height) // stride;
    pool_param {'pool_height', 'pool_width', 'stride'}."""
    window = (pool_param["pool_height"], pool_param["pool_width"])
    return F.max_pool2d(x, window, stride=pool_param["stride"])


def conv_relu(x: torch.Tensor, w: torch.Tensor, b: torch.Tensor, conv_param: dict[str, int]) -> torch.Tensor:
    """``relu(conv(x, w, b))``: (N, C, H, W) -> (N, F, H', W')."""
    return F.relu(conv(x, w, b, conv_param))


def conv_relu_pool(
    x: torch.Tensor,
    w: torch.Tensor,
    b: torch.Tensor,
    conv_param: dict[str, int],
    pool_param: dict[str, int],
) -> torch.Tensor:
    """``max_pool(relu(conv(x, w, b)))``: (N, C, H, W) -> (N, F, H'', W'')."""
    return max_pool(conv_relu(x, w, b, conv_param), pool_param)

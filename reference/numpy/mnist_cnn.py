"""Unit a09's CNN forward pass in numpy: the book's MNIST network (seed 003, ch. 8) on the course's layers.

``mnist_cnn_forward(weights, X)`` computes the logits of ``reference.torch.MnistCNN`` in eval mode
(no dropout) from its ``state_dict`` as numpy arrays, with the a03/a06 layers: the bridge between
the numpy units and PyTorch that a09 asks students to write. The conventions it relies on:

* ``conv{1,2}.weight`` (F, C, 5, 5) are used as they are: PyTorch's ``Conv2d`` and the course's
  ``conv_forward_fast`` both compute cross-correlation with (F, C, HH, WW) kernels; 'same' padding
  of a 5x5 kernel at stride 1 is 2;
* ``fc{1,2}.weight`` are ``nn.Linear``'s (out, in): ``affine_forward`` takes (in, out), so they are
  transposed;
* the (N, C2, 7, 7) maps are flattened per example in (C, H, W) order, which ``affine_forward``'s
  ``x.reshape(N, -1)`` of an NCHW array already does (TensorFlow's NHWC code flattens (H, W, C)).
"""

from __future__ import annotations

import numpy as np

from reference.numpy.cnn_layers import conv_forward_fast, max_pool_forward_fast
from reference.numpy.layers import affine_forward, relu_forward

__all__ = ["mnist_cnn_forward"]

_CONV = {"stride": 1, "pad": 2}
_POOL = {"pool_height": 2, "pool_width": 2, "stride": 2}


def mnist_cnn_forward(weights: dict[str, np.ndarray], X: np.ndarray) -> np.ndarray:
    """Logits (N, 10) of the MNIST CNN for X (N, 784) or (N, 1, 28, 28), weights keyed like its
    ``state_dict`` (``conv1.weight``, ``conv1.bias``, ..., ``fc2.bias``), in eval mode."""
    h = X.reshape(X.shape[0], 1, 28, 28)
    for conv in ("conv1", "conv2"):
        h = conv_forward_fast(h, weights[f"{conv}.weight"], weights[f"{conv}.bias"], _CONV)[0]
        h = max_pool_forward_fast(relu_forward(h)[0], _POOL)[0]
    h = relu_forward(affine_forward(h, weights["fc1.weight"].T, weights["fc1.bias"])[0])[0]
    return affine_forward(h, weights["fc2.weight"].T, weights["fc2.bias"])[0]

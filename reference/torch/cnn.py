"""ThreeLayerConvNet's computation in torch, over the same params dict as the numpy model.

Graders compare a student's model (scores, loss and every gradient) with this function's values and
autograd gradients, so it takes ``reference.numpy.cnn.ThreeLayerConvNet.params`` as tensors and
follows the same conventions: a "same" cross-correlation (stride 1, pad (filter_size - 1) // 2), ReLU,
2x2/2 max pool, flatten in C order, affine - ReLU - affine, mean softmax cross-entropy plus
``0.5 * reg * sum(W**2)`` over W1, W2, W3. Device and dtype follow the tensors passed in.

Mapping to ``reference.numpy.cnn``: `three_layer_convnet(params, X)` <-> `ThreeLayerConvNet.loss(X)`
(scores), `three_layer_convnet(params, X, y, reg)` <-> the loss value of `ThreeLayerConvNet.loss(X, y)`.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from reference.torch.cnn_layers import conv_relu_pool

__all__ = ["three_layer_convnet"]


def three_layer_convnet(
    params: dict[str, torch.Tensor],
    X: torch.Tensor,
    y: torch.Tensor | None = None,
    reg: float = 0.0,
) -> torch.Tensor:
    """Scores (N, num_classes) when ``y`` is None, else the scalar regularised loss.

    params: W1 (F, C, k, k), b1 (F,), W2 (F*(H//2)*(W//2), hidden), b2, W3 (hidden, classes), b3;
    X (N, C, H, W); y (N,) integer labels.
    """
    k = params["W1"].shape[-1]
    conv_param = {"stride": 1, "pad": (k - 1) // 2}
    pool_param = {"pool_height": 2, "pool_width": 2, "stride": 2}
    h1 = conv_relu_pool(X, params["W1"], params["b1"], conv_param, pool_param)
    h2 = F.relu(h1.reshape(X.shape[0], -1) @ params["W2"] + params["b2"])
    scores = h2 @ params["W3"] + params["b3"]
    if y is None:
        return scores
    penalty = sum((params[name] ** 2).sum() for name in ("W1", "W2", "W3"))
    return F.cross_entropy(scores, y.long()) + 0.5 * reg * penalty

"""The book's ThreeLayerConvNet (unit a06): the reference model students build from their conv layers.

Graders check a student's model against this one (scores, loss, every gradient) and calibrate the
CIFAR-10 accuracy threshold by training it, so it follows the book exactly: conv - relu - 2x2 max
pool - affine - relu - affine - softmax, a "same" convolution (stride 1, pad (filter_size - 1) // 2),
weights ``weight_scale * randn``, zero biases, and ``0.5 * reg * sum(W**2)`` over W1, W2, W3.
"""

from __future__ import annotations

import numpy as np

from reference.numpy.cnn_layers import conv_relu_pool_backward, conv_relu_pool_forward
from reference.numpy.layer_utils import affine_relu_backward, affine_relu_forward
from reference.numpy.layers import affine_backward, affine_forward, softmax_loss

__all__ = ["ThreeLayerConvNet"]


class ThreeLayerConvNet:
    """conv - relu - 2x2 max pool - affine - relu - affine - softmax, on (N, C, H, W) inputs.

    Parameters (in ``self.params``): W1 (num_filters, C, filter_size, filter_size), b1
    (num_filters,); W2 (num_filters * (H // 2) * (W // 2), hidden_dim), b2 (hidden_dim,); W3
    (hidden_dim, num_classes), b3 (num_classes,). The pooled activations are flattened in C order
    (filter, row, column). ``filter_size`` must be odd so the convolution keeps H and W.
    ``seed`` makes the initialisation reproducible (None draws fresh entropy).
    """

    def __init__(
        self,
        input_dim: tuple[int, int, int] = (3, 32, 32),
        num_filters: int = 32,
        filter_size: int = 7,
        hidden_dim: int = 100,
        num_classes: int = 10,
        weight_scale: float = 1e-3,
        reg: float = 0.0,
        dtype: type = np.float32,
        seed: int | None = None,
    ) -> None:
        if filter_size % 2 == 0:
            raise ValueError(f"filter_size must be odd for a 'same' convolution, got {filter_size}")
        chans, height, width = input_dim
        rng = np.random.default_rng(seed)
        self.reg = reg
        self.dtype = dtype
        self.conv_param = {"stride": 1, "pad": (filter_size - 1) // 2}
        self.pool_param = {"pool_height": 2, "pool_width": 2, "stride": 2}
        pooled = num_filters * (height // 2) * (width // 2)
        shapes = {
            "W1": (num_filters, chans, filter_size, filter_size),
            "W2": (pooled, hidden_dim),
            "W3": (hidden_dim, num_classes),
        }
        self.params: dict[str, np.ndarray] = {}
        for i, (name, shape) in enumerate(shapes.items(), start=1):
            self.params[name] = (weight_scale * rng.standard_normal(shape)).astype(dtype)
            self.params[f"b{i}"] = np.zeros(shape[0] if i == 1 else shape[1], dtype=dtype)

    def loss(
        self, X: np.ndarray, y: np.ndarray | None = None
    ) -> np.ndarray | tuple[float, dict[str, np.ndarray]]:
        """Class scores (N, num_classes) when ``y`` is None; else ``(loss, grads)``.

        X (N, C, H, W); y (N,) integer labels. ``grads`` has an entry per parameter, same shapes.
        """
        p = self.params
        X = X.astype(self.dtype, copy=False)
        h1, cache1 = conv_relu_pool_forward(X, p["W1"], p["b1"], self.conv_param, self.pool_param)
        h2, cache2 = affine_relu_forward(h1, p["W2"], p["b2"])
        scores, cache3 = affine_forward(h2, p["W3"], p["b3"])
        if y is None:
            return scores

        loss, dscores = softmax_loss(scores, y)
        weights = ("W1", "W2", "W3")
        loss += 0.5 * self.reg * sum(float(np.sum(p[name] ** 2)) for name in weights)
        grads: dict[str, np.ndarray] = {}
        dh2, grads["W3"], grads["b3"] = affine_backward(dscores, cache3)
        dh1, grads["W2"], grads["b2"] = affine_relu_backward(dh2, cache2)
        _, grads["W1"], grads["b1"] = conv_relu_pool_backward(dh1, cache1)
        for name in weights:
            grads[name] = grads[name] + self.reg * p[name]
        return float(loss), grads

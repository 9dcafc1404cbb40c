"""LeNet-5-style convolutional network of the deeplearning.net tutorial (seed 002, chapter 4).

Unit a06's MNIST part. ``LeNetConvPoolLayer`` is the tutorial's layer (convolution, 2x2 max-pooling,
then bias and tanh) with its initialisation; ``LeNet`` is the network students write in the course's
model interface (a ``params`` dict, ``loss(X, y=None)``, as ``ThreeLayerConvNet``), so the course's
``Trainer`` trains it: two such conv-pool layers, a fully connected hidden layer, optional inverted
dropout on the hidden layer's output and an affine softmax layer. With ``activation="relu"`` and
dropout it is also the network3-style experiment (seed 001). The convolution and pooling come from
``cnn_layers`` so that the network trains on exactly the layers students are graded on.

Convolution convention: Theano's ``conv2d`` used by the tutorial is a TRUE convolution (it flips the
kernel); this course, like PyTorch, uses cross-correlation (``cnn_layers``). Both describe the same
family of models: a network trained under one convention computes the same function under the
other with every kernel flipped, ``W_theano = W[:, :, ::-1, ::-1]``. Initialisation is symmetric,
so nothing else changes.

Shapes: images (N, C, H, W) (flat rows (N, C*H*W) are reshaped in C order); conv weights
(F, C, fh, fw); "valid" convolution, stride 1; non-overlapping square pooling that drops rows and
columns not filling a window (Theano's ``ignore_border=True``); float64.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from reference.numpy.cnn_layers import (
    conv_backward_fast,
    conv_forward_fast,
    max_pool_backward_fast,
    max_pool_forward_fast,
)
from reference.numpy.dropout_layers import dropout_backward, dropout_forward
from reference.numpy.layers import affine_backward, affine_forward, softmax_loss
from reference.numpy.mlp import glorot_bound

__all__ = ["LeNetConvPoolLayer", "LeNet"]


class LeNetConvPoolLayer:
    """``output = tanh(maxpool(conv(x, W)) + b)``, the bias added after pooling as in the tutorial.

    ``filter_shape = (F, C, fh, fw)``, ``image_shape = (C, H, W)`` (the tutorial's 4-tuple without
    the batch size), ``poolsize = (p, p)``. Output (N, F, (H - fh + 1) // p, (W - fw + 1) // p).
    Without ``W``: uniform in ±sqrt(6 / (fan_in + fan_out)) with fan_in = C*fh*fw and
    fan_out = F*fh*fw / (p*p); ``b`` (F,) defaults to zeros. Since tanh is increasing and b is
    constant per map, the output also equals ``maxpool(tanh(conv(x, W) + b))``.
    """

    def __init__(
        self,
        rng: np.random.Generator | np.random.RandomState,
        filter_shape: Sequence[int],
        image_shape: Sequence[int],
        poolsize: Sequence[int] = (2, 2),
        W: np.ndarray | None = None,
        b: np.ndarray | None = None,
    ) -> None:
        n_filters, channels, fh, fw = filter_shape
        if image_shape[0] != channels:
            raise ValueError(f"LeNetConvPoolLayer: image has {image_shape[0]} channels, filters expect {channels}")
        if poolsize[0] != poolsize[1]:
            raise ValueError(f"LeNetConvPoolLayer: only square pooling is supported, got {tuple(poolsize)}")
        if W is None:
            fan_in = channels * fh * fw
            fan_out = n_filters * fh * fw / (poolsize[0] * poolsize[1])
            bound = glorot_bound(fan_in, fan_out)
            W = rng.uniform(low=-bound, high=bound, size=tuple(filter_shape))
        self.W = W
        self.b = np.zeros(n_filters) if b is None else b
        self.pool_param = {"pool_height": poolsize[0], "pool_width": poolsize[1], "stride": poolsize[0]}
        self.conv_param = {"stride": 1, "pad": 0}
        _, height, width = image_shape
        p = poolsize[0]
        self.output_shape = (n_filters, (height - fh + 1) // p, (width - fw + 1) // p)

    @property
    def params(self) -> dict[str, np.ndarray]:
        """``{"W": (F, C, fh, fw), "b": (F,)}``."""
        return {"W": self.W, "b": self.b}

    def forward(self, x: np.ndarray) -> tuple[np.ndarray, tuple]:
        """``(out (N, F, H', W'), cache)`` for images ``x`` (N, C, H, W)."""
        conv, conv_cache = conv_forward_fast(x, self.W, np.zeros(self.W.shape[0]), self.conv_param)
        pooled, pool_cache = max_pool_forward_fast(conv, self.pool_param)
        out = np.tanh(pooled + self.b[None, :, None, None])
        return out, (conv_cache, pool_cache, out)

    def backward(self, dout: np.ndarray, cache: tuple) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """``(dx (N, C, H, W), {"W": (F, C, fh, fw), "b": (F,)})`` from ``dout`` (N, F, H', W')."""
        conv_cache, pool_cache, out = cache
        dpre = dout * (1.0 - out**2)
        dconv = max_pool_backward_fast(dpre, pool_cache)
        dx, dW, _ = conv_backward_fast(dconv, conv_cache)
        return dx, {"W": dW, "b": dpre.sum(axis=(0, 2, 3))}


# activation -> (the function, its derivative from the function's output)
ACTIVATIONS: dict[str, tuple[Callable[[np.ndarray], np.ndarray], Callable[[np.ndarray], np.ndarray]]] = {
    "tanh": (np.tanh, lambda out: 1.0 - out * out),
    "relu": (lambda a: np.maximum(a, 0), lambda out: out > 0),
}


class LeNet:
    """conv-pool -> conv-pool -> fully connected -> [dropout] -> affine softmax, on (N, C, H, W) images.

    Each conv-pool layer is the tutorial's: ``act(maxpool(conv(x, W)) + b)``, a "valid" convolution
    with stride 1 and ``filter_size`` kernels, 2x2 max pooling with stride 2 (rows and columns that
    do not fill a window dropped), the bias added after pooling; ``act`` is ``activation`` ("tanh",
    the tutorial's, or "relu", network3's). Then ``h = act(flat @ W3 + b3)`` (flattened in C order),
    inverted dropout on ``h`` with KEEP probability ``keep_prob`` in train mode (network3's
    ``p_dropout`` is the drop probability: ``keep_prob = 1 - p_dropout``), scores ``h @ W4 + b4``,
    the mean softmax cross-entropy plus ``0.5 * reg * sum(W**2)`` over W1..W4.

    Parameters: W1 (nkerns[0], C, k, k), b1 (nkerns[0],), W2 (nkerns[1], nkerns[0], k, k), b2,
    W3 (nkerns[1] * H2 * W2, hidden_dim), b3, W4 (hidden_dim, num_classes), b4, with
    H1 = (H - k + 1) // 2 and H2 = (H1 - k + 1) // 2 (likewise W). Initialisation as the tutorial:
    conv weights uniform in +-sqrt(6 / (fan_in + fan_out)) with fan_in = C k k and
    fan_out = F k k / 4, the hidden layer's in +-sqrt(6 / (n_in + n_out)), the output layer and
    every bias zero; from ``np.random.default_rng(seed)``; all in ``dtype``. Defaults: the
    tutorial's MNIST network, 431 080 parameters. With ``seed`` set, dropout draws its mask with
    that seed on every call (``dropout_param['seed']``), so the loss is a deterministic function.
    """

    def __init__(
        self,
        input_dim: Sequence[int] = (1, 28, 28),
        nkerns: Sequence[int] = (20, 50),
        filter_size: int = 5,
        hidden_dim: int = 500,
        num_classes: int = 10,
        activation: str = "tanh",
        keep_prob: float = 1.0,
        reg: float = 0.0,
        dtype: type = np.float32,
        seed: int | None = None,
    ) -> None:
        if activation not in ACTIVATIONS:
            raise ValueError(f"LeNet: activation must be one of {sorted(ACTIVATIONS)}, got {activation!r}")
        chans, height, width = input_dim
        k = filter_size
        rng = np.random.default_rng(seed)
        self.activation, self.reg, self.dtype = activation, reg, dtype
        self.conv_param = {"stride": 1, "pad": 0}
        self.pool_param = {"pool_height": 2, "pool_width": 2, "stride": 2}
        self.dropout_param: dict[str, Any] = {"mode": "train", "p": keep_prob}
        if seed is not None:
            self.dropout_param["seed"] = seed
        h2 = ((height - k + 1) // 2 - k + 1) // 2
        w2 = ((width - k + 1) // 2 - k + 1) // 2
        n_flat = nkerns[1] * h2 * w2
        params: dict[str, np.ndarray] = {}
        for i, (f, c) in enumerate(((nkerns[0], chans), (nkerns[1], nkerns[0])), start=1):
            bound = glorot_bound(c * k * k, f * k * k / 4)
            params[f"W{i}"] = rng.uniform(-bound, bound, (f, c, k, k))
            params[f"b{i}"] = np.zeros(f)
        bound = glorot_bound(n_flat, hidden_dim)
        params["W3"], params["b3"] = rng.uniform(-bound, bound, (n_flat, hidden_dim)), np.zeros(hidden_dim)
        params["W4"], params["b4"] = np.zeros((hidden_dim, num_classes)), np.zeros(num_classes)
        self.params: dict[str, np.ndarray] = {name: value.astype(dtype) for name, value in params.items()}

    def _conv_pool(self, x: np.ndarray, W: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, tuple]:
        conv, conv_cache = conv_forward_fast(x, W, np.zeros_like(b), self.conv_param)
        pooled, pool_cache = max_pool_forward_fast(conv, self.pool_param)
        out = ACTIVATIONS[self.activation][0](pooled + b[None, :, None, None])
        return out, (conv_cache, pool_cache, out)

    def _conv_pool_backward(self, dout: np.ndarray, cache: tuple) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        conv_cache, pool_cache, out = cache
        dpre = dout * ACTIVATIONS[self.activation][1](out)
        dx, dW, _ = conv_backward_fast(max_pool_backward_fast(dpre, pool_cache), conv_cache)
        return dx, dW, dpre.sum(axis=(0, 2, 3))

    def loss(
        self, X: np.ndarray, y: np.ndarray | None = None
    ) -> np.ndarray | tuple[float, dict[str, np.ndarray]]:
        """Class scores (N, num_classes) when ``y`` is None (test mode: no dropout); else ``(loss, grads)``
        in train mode, ``grads`` with an entry per parameter."""
        p = self.params
        act, dact = ACTIVATIONS[self.activation]
        X = X.astype(self.dtype, copy=False)
        h1, cache1 = self._conv_pool(X, p["W1"], p["b1"])
        h2, cache2 = self._conv_pool(h1, p["W2"], p["b2"])
        a3, cache3 = affine_forward(h2, p["W3"], p["b3"])
        h3 = act(a3)
        if y is None:
            return affine_forward(h3, p["W4"], p["b4"])[0]
        dropped, drop_cache = dropout_forward(h3, self.dropout_param)
        scores, cache4 = affine_forward(dropped, p["W4"], p["b4"])
        loss, dscores = softmax_loss(scores, y)
        weights = ("W1", "W2", "W3", "W4")
        loss += 0.5 * self.reg * sum(float(np.sum(p[name] ** 2)) for name in weights)
        grads: dict[str, np.ndarray] = {}
        ddropped, grads["W4"], grads["b4"] = affine_backward(dscores, cache4)
        da3 = dropout_backward(ddropped, drop_cache) * dact(h3)
        dh2, grads["W3"], grads["b3"] = affine_backward(da3, cache3)
        dh1, grads["W2"], grads["b2"] = self._conv_pool_backward(dh2, cache2)
        _, grads["W1"], grads["b1"] = self._conv_pool_backward(dh1, cache1)
        for name in weights:
            grads[name] = grads[name] + self.reg * p[name]
        return float(loss), grads

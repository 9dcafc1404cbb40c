"""LeNet-5-style convolutional network of the deeplearning.net tutorial (seed 002, chapter 4).

Unit a06's MNIST part: two ``LeNetConvPoolLayer``s (convolution, 2x2 max-pooling, then bias and
tanh), a tanh ``HiddenLayer`` and a ``LogisticRegression`` output, trained with the same minibatch
SGD and early stopping as a02. The convolution and pooling come from ``cnn_layers`` so that the
network trains on exactly the layers students are graded on.

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

from collections.abc import Sequence

import numpy as np

from reference.numpy.cnn_layers import (
    conv_backward_fast,
    conv_forward_fast,
    max_pool_backward_fast,
    max_pool_forward_fast,
)
from reference.numpy.logistic import LogisticRegression
from reference.numpy.mlp import HiddenLayer, glorot_bound

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


class LeNet:
    """conv-pool (nkerns[0]) -> conv-pool (nkerns[1]) -> tanh HiddenLayer (n_hidden) -> logistic (n_out).

    Defaults are the tutorial's MNIST network: (N, 1, 28, 28) -> (N, 20, 12, 12) -> (N, 50, 4, 4)
    -> (N, 800) -> (N, 500) -> (N, 10), 431 080 parameters. Parameter names ``W0, b0`` .. ``W3, b3``
    follow layer0 .. layer3. The cost is the mean NLL (no weight penalty, as in the tutorial).
    """

    def __init__(
        self,
        rng: np.random.Generator | np.random.RandomState,
        nkerns: Sequence[int] = (20, 50),
        image_shape: Sequence[int] = (1, 28, 28),
        filter_size: int = 5,
        poolsize: Sequence[int] = (2, 2),
        n_hidden: int = 500,
        n_out: int = 10,
    ) -> None:
        self.image_shape = tuple(image_shape)
        channels = image_shape[0]
        self.layer0 = LeNetConvPoolLayer(
            rng, (nkerns[0], channels, filter_size, filter_size), self.image_shape, poolsize
        )
        self.layer1 = LeNetConvPoolLayer(
            rng, (nkerns[1], nkerns[0], filter_size, filter_size), self.layer0.output_shape, poolsize
        )
        n_flat = int(np.prod(self.layer1.output_shape))
        self.layer2 = HiddenLayer(rng, n_flat, n_hidden, activation="tanh")
        self.layer3 = LogisticRegression(n_hidden, n_out)

    @property
    def params(self) -> dict[str, np.ndarray]:
        """All trainable arrays, ``W0, b0, W1, b1`` (conv) and ``W2, b2, W3, b3`` (dense)."""
        out: dict[str, np.ndarray] = {}
        for i, layer in enumerate((self.layer0, self.layer1, self.layer2, self.layer3)):
            out[f"W{i}"], out[f"b{i}"] = layer.W, layer.b
        return out

    def _features(self, X: np.ndarray) -> tuple[np.ndarray, list]:
        """Hidden-layer output (N, n_hidden) and the caches of layers 0-2."""
        x = X.reshape((X.shape[0],) + self.image_shape)
        h0, c0 = self.layer0.forward(x)
        h1, c1 = self.layer1.forward(h0)
        h2, c2 = self.layer2.forward(h1.reshape(h1.shape[0], -1))
        return h2, [c0, c1, c2]

    def p_y_given_x(self, X: np.ndarray) -> np.ndarray:
        """Class probabilities (N, n_out)."""
        return self.layer3.p_y_given_x(self._features(X)[0])

    def y_pred(self, X: np.ndarray) -> np.ndarray:
        """Predicted labels (N,)."""
        return self.layer3.y_pred(self._features(X)[0])

    def negative_log_likelihood(self, X: np.ndarray, y: np.ndarray) -> float:
        """Mean NLL of labels (N,)."""
        return self.layer3.negative_log_likelihood(self._features(X)[0], y)

    def errors(self, X: np.ndarray, y: np.ndarray) -> float:
        """Fraction of rows misclassified."""
        return self.layer3.errors(self._features(X)[0], y)

    def cost_and_gradients(self, X: np.ndarray, y: np.ndarray) -> tuple[float, dict[str, np.ndarray]]:
        """Mean NLL and its gradients keyed like ``params``."""
        h2, (c0, c1, c2) = self._features(X)
        cost, g3, dh2 = self.layer3.loss_and_grads(h2, y)
        dh1, g2 = self.layer2.backward(dh2, c2)
        dh0, g1 = self.layer1.backward(dh1.reshape((X.shape[0],) + self.layer1.output_shape), c1)
        _, g0 = self.layer0.backward(dh0, c0)
        grads: dict[str, np.ndarray] = {}
        for i, g in enumerate((g0, g1, g2, g3)):
            grads[f"W{i}"], grads[f"b{i}"] = g["W"], g["b"]
        return cost, grads

    def gradients(self, X: np.ndarray, y: np.ndarray) -> dict[str, np.ndarray]:
        """Gradients of the mean NLL keyed like ``params``."""
        return self.cost_and_gradients(X, y)[1]

    def sgd_step(self, X: np.ndarray, y: np.ndarray, learning_rate: float) -> float:
        """One SGD update of every parameter; returns the cost before it."""
        cost, grads = self.cost_and_gradients(X, y)
        for name, p in self.params.items():
            p -= learning_rate * grads[name]
        return cost

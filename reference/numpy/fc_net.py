"""The fully connected classifiers of units a03-a05: the book's shallow net and the deep net.

Graders run these against students' models on the same parameters (the book's fixed-value tests
and numeric gradient checks) and calibrate accuracy thresholds with them. Both models keep their
parameters in ``self.params`` and expose ``loss(X, y=None)``: class scores (N, C) when ``y`` is
None (test mode: dropout off, batchnorm on running statistics), else ``(loss, grads)`` with
``grads`` keyed like ``params``. The loss is the mean softmax cross-entropy plus
``0.5 * reg * sum(W**2)`` over every weight matrix (never the biases, gammas or betas).
Weights are drawn from the global ``np.random`` state (seed it with ``np.random.seed``), biases and
betas start at 0, gammas at 1; every bias-like vector has shape (M,) (the book mixes (M,) and
(1, M); seed-003 errata 9).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from reference.numpy.dropout_layers import dropout_backward, dropout_forward
from reference.numpy.layer_utils import (
    affine_bn_relu_backward,
    affine_bn_relu_forward,
    affine_relu_backward,
    affine_relu_forward,
)
from reference.numpy.layers import affine_backward, affine_forward, softmax_loss

__all__ = ["ShallowLayerNet", "TwoLayerNet", "FullyConnectedNet"]


class ShallowLayerNet:
    """affine - relu - affine - softmax, the book's ``ShallowLayerNet`` (CS231n's ``TwoLayerNet``).

    Parameters: ``W1`` (D, H), ``b1`` (H,), ``W2`` (H, C), ``b2`` (C,) with D = ``input_dim``,
    H = ``hidden_dim``, C = ``num_classes``; weights ``weight_scale * randn``. float64 throughout.
    """

    def __init__(
        self,
        input_dim: int = 3 * 32 * 32,
        hidden_dim: int = 100,
        num_classes: int = 10,
        weight_scale: float = 1e-3,
        reg: float = 0.0,
    ) -> None:
        self.reg = reg
        self.params: dict[str, np.ndarray] = {
            "W1": weight_scale * np.random.randn(input_dim, hidden_dim),
            "b1": np.zeros(hidden_dim),
            "W2": weight_scale * np.random.randn(hidden_dim, num_classes),
            "b2": np.zeros(num_classes),
        }

    def loss(
        self, X: np.ndarray, y: np.ndarray | None = None
    ) -> np.ndarray | tuple[float, dict[str, np.ndarray]]:
        """``X`` (N, d_1..d_k) flattening to D, ``y`` (N,) labels -> scores (N, C) or ``(loss, grads)``."""
        p = self.params
        hidden, hidden_cache = affine_relu_forward(X, p["W1"], p["b1"])
        scores, out_cache = affine_forward(hidden, p["W2"], p["b2"])
        if y is None:
            return scores

        loss, dscores = softmax_loss(scores, y)
        loss += 0.5 * self.reg * (np.sum(p["W1"] ** 2) + np.sum(p["W2"] ** 2))
        grads: dict[str, np.ndarray] = {}
        dhidden, grads["W2"], grads["b2"] = affine_backward(dscores, out_cache)
        _, grads["W1"], grads["b1"] = affine_relu_backward(dhidden, hidden_cache)
        grads["W1"] += self.reg * p["W1"]
        grads["W2"] += self.reg * p["W2"]
        return loss, grads

    def predict(self, X: np.ndarray) -> np.ndarray:
        """Predicted labels (N,): the argmax of the scores."""
        return np.argmax(self.loss(X), axis=1)


TwoLayerNet = ShallowLayerNet


class FullyConnectedNet:
    """``{affine - [batchnorm] - relu - [dropout]} x (L - 1) - affine - softmax`` with L2 regularization.

    Arguments (the book's chapter-5 constructor plus CS231n's ``normalization`` and ``dtype``):

    - ``hidden_dims``: sizes of the L - 1 hidden layers; ``input_dim`` D, ``num_classes`` C.
    - ``dropout``: KEEP probability of the hidden units; ``1`` (CS231n) and ``0`` (the book) both
      mean no dropout.
    - ``normalization``: ``None`` or ``'batchnorm'``; ``use_batchnorm=True`` (the book's flag) is
      the same as ``normalization='batchnorm'``.
    - ``reg``: L2 strength; ``weight_scale``: std of the Gaussian weight init.
    - ``dtype``: dtype of the parameters and of the computation (inputs are cast to it). float64
      by default, as every book check assumes; CS231n's default is float32.
    - ``seed``: passed to every dropout layer so masks are deterministic (for gradient checks).

    Parameters: ``W{i}`` (d_{i-1}, d_i) and ``b{i}`` (d_i,) for i = 1..L, plus ``gamma{i}`` and
    ``beta{i}`` (d_i,) for the hidden layers when batchnorm is on. ``self.bn_params[i-1]`` holds
    layer i's batchnorm mode and running statistics; ``self.dropout_param`` the dropout settings.
    """

    def __init__(
        self,
        hidden_dims: Sequence[int],
        input_dim: int = 3 * 32 * 32,
        num_classes: int = 10,
        dropout: float = 1.0,
        normalization: str | None = None,
        reg: float = 0.0,
        weight_scale: float = 1e-2,
        dtype: type | np.dtype = np.float64,
        seed: int | None = None,
        use_batchnorm: bool = False,
    ) -> None:
        if isinstance(hidden_dims, (int, np.integer)):
            raise TypeError(
                "FullyConnectedNet: hidden_dims comes first and is a list of layer sizes; "
                "pass input_dim by keyword (the book's chapter-3 call order differs)"
            )
        if use_batchnorm:
            normalization = normalization or "batchnorm"
        if normalization not in (None, "batchnorm"):
            raise ValueError(f"FullyConnectedNet: normalization must be None or 'batchnorm', got {normalization!r}")
        if not 0 <= dropout <= 1:
            raise ValueError(f"FullyConnectedNet: dropout is a keep probability in [0, 1], got {dropout}")

        self.normalization = normalization
        self.use_batchnorm = normalization == "batchnorm"
        self.use_dropout = 0 < dropout < 1
        self.reg = reg
        self.dtype = np.dtype(dtype)
        self.num_layers = 1 + len(hidden_dims)

        dims = [input_dim, *hidden_dims, num_classes]
        self.params: dict[str, np.ndarray] = {}
        for i in range(1, self.num_layers + 1):
            self.params[f"W{i}"] = weight_scale * np.random.randn(dims[i - 1], dims[i])
            self.params[f"b{i}"] = np.zeros(dims[i])
            if self.use_batchnorm and i < self.num_layers:
                self.params[f"gamma{i}"] = np.ones(dims[i])
                self.params[f"beta{i}"] = np.zeros(dims[i])
        for name, value in self.params.items():
            self.params[name] = value.astype(self.dtype)

        self.dropout_param: dict[str, Any] = {}
        if self.use_dropout:
            self.dropout_param = {"mode": "train", "p": dropout}
            if seed is not None:
                self.dropout_param["seed"] = seed
        self.bn_params: list[dict[str, Any]] = (
            [{"mode": "train"} for _ in range(self.num_layers - 1)] if self.use_batchnorm else []
        )

    def loss(
        self, X: np.ndarray, y: np.ndarray | None = None
    ) -> np.ndarray | tuple[float, dict[str, np.ndarray]]:
        """``X`` (N, d_1..d_k) flattening to D, ``y`` (N,) labels -> scores (N, C) or ``(loss, grads)``.

        ``y is None`` runs in test mode, otherwise in train mode (dropout masks drawn, batchnorm
        running statistics updated).
        """
        X = X.astype(self.dtype, copy=False)
        mode = "test" if y is None else "train"
        self.dropout_param["mode"] = mode
        for bn_param in self.bn_params:
            bn_param["mode"] = mode

        p = self.params
        caches = []
        out = X
        for i in range(1, self.num_layers):
            if self.use_batchnorm:
                out, cache = affine_bn_relu_forward(
                    out, p[f"W{i}"], p[f"b{i}"], p[f"gamma{i}"], p[f"beta{i}"], self.bn_params[i - 1]
                )
            else:
                out, cache = affine_relu_forward(out, p[f"W{i}"], p[f"b{i}"])
            drop_cache = None
            if self.use_dropout:
                out, drop_cache = dropout_forward(out, self.dropout_param)
            caches.append((cache, drop_cache))
        last = self.num_layers
        scores, scores_cache = affine_forward(out, p[f"W{last}"], p[f"b{last}"])
        if y is None:
            return scores

        loss, dscores = softmax_loss(scores, y)
        weights = [p[f"W{i}"] for i in range(1, self.num_layers + 1)]
        loss += 0.5 * self.reg * sum(float(np.sum(w * w)) for w in weights)

        grads: dict[str, np.ndarray] = {}
        dout, grads[f"W{last}"], grads[f"b{last}"] = affine_backward(dscores, scores_cache)
        for i in range(self.num_layers - 1, 0, -1):
            cache, drop_cache = caches[i - 1]
            if drop_cache is not None:
                dout = dropout_backward(dout, drop_cache)
            if self.use_batchnorm:
                dout, grads[f"W{i}"], grads[f"b{i}"], grads[f"gamma{i}"], grads[f"beta{i}"] = (
                    affine_bn_relu_backward(dout, cache)
                )
            else:
                dout, grads[f"W{i}"], grads[f"b{i}"] = affine_relu_backward(dout, cache)
        for i in range(1, self.num_layers + 1):
            grads[f"W{i}"] += self.reg * p[f"W{i}"]
        return loss, grads

    def predict(self, X: np.ndarray) -> np.ndarray:
        """Predicted labels (N,): the argmax of the test-mode scores."""
        return np.argmax(self.loss(X), axis=1)

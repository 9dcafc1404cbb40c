"""The tutorial's multilayer perceptron: one ``HiddenLayer`` under a ``LogisticRegression`` output.

Unit a02 (seed 002, "Multilayer Perceptron") asks students to initialise the hidden layer the
Glorot way (uniform in ±sqrt(6 / (n_in + n_out)), four times wider for sigmoid units), to add L1
and squared-L2 penalties on the WEIGHT matrices only (not the biases), and to derive the
backward pass by hand where the tutorial let Theano differentiate. ``HiddenLayer`` is reused by
LeNet (its fully connected layer) and by the stacked denoising autoencoder (sigmoid layers).

Conventions: rows are examples, ``W`` has shape (n_in, n_out), float64; layers follow the course's
``forward(X) -> (out, cache)`` / ``backward(dout, cache) -> (dX, grads)`` pairs.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from reference.numpy.logistic import LogisticRegression

__all__ = ["glorot_bound", "HiddenLayer", "MLP"]

ACTIVATIONS = ("tanh", "sigmoid", None)


def sigmoid(x: np.ndarray) -> np.ndarray:
    """Logistic function ``1 / (1 + exp(-x))``, elementwise, without overflow for large |x|."""
    out = np.empty_like(x, dtype=np.float64)
    pos = x >= 0
    out[pos] = 1.0 / (1.0 + np.exp(-x[pos]))
    ex = np.exp(x[~pos])
    out[~pos] = ex / (1.0 + ex)
    return out


def glorot_bound(fan_in: float, fan_out: float, activation: str | None = "tanh") -> float:
    """Half-width of the Glorot-uniform interval: ``sqrt(6 / (fan_in + fan_out))``, ×4 for sigmoid."""
    bound = float(np.sqrt(6.0 / (fan_in + fan_out)))
    return 4.0 * bound if activation == "sigmoid" else bound


class HiddenLayer:
    """Fully connected layer ``output = activation(X W + b)``.

    Shapes: ``X`` (N, n_in), ``W`` (n_in, n_out), ``b`` (n_out,), output (N, n_out).
    ``activation`` is ``"tanh"`` (the tutorial's default), ``"sigmoid"`` or ``None`` (linear).
    Without ``W`` it is drawn from ``rng.uniform(-a, a)`` with ``a = glorot_bound(n_in, n_out,
    activation)``; ``b`` defaults to zeros. Passing ``W``/``b`` shares those arrays (the SdA's dA
    layers update the same memory).
    """

    def __init__(
        self,
        rng: np.random.Generator | np.random.RandomState,
        n_in: int,
        n_out: int,
        W: np.ndarray | None = None,
        b: np.ndarray | None = None,
        activation: str | None = "tanh",
    ) -> None:
        if activation not in ACTIVATIONS:
            raise ValueError(f"HiddenLayer: activation must be one of {ACTIVATIONS}, got {activation!r}")
        if W is None:
            bound = glorot_bound(n_in, n_out, activation)
            W = rng.uniform(low=-bound, high=bound, size=(n_in, n_out))
        self.W = W
        self.b = np.zeros(n_out) if b is None else b
        self.activation = activation

    @property
    def params(self) -> dict[str, np.ndarray]:
        """``{"W": (n_in, n_out), "b": (n_out,)}``, the layer's own arrays."""
        return {"W": self.W, "b": self.b}

    def output(self, X: np.ndarray) -> np.ndarray:
        """Layer output (N, n_out)."""
        return self.forward(X)[0]

    def forward(self, X: np.ndarray) -> tuple[np.ndarray, tuple[np.ndarray, np.ndarray]]:
        """``(out, cache)`` with out (N, n_out) and cache ``(X, out)`` for the backward pass."""
        lin = X @ self.W + self.b
        if self.activation == "tanh":
            out = np.tanh(lin)
        elif self.activation == "sigmoid":
            out = sigmoid(lin)
        else:
            out = lin
        return out, (X, out)

    def backward(
        self, dout: np.ndarray, cache: tuple[np.ndarray, np.ndarray]
    ) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """``(dX (N, n_in), {"W": (n_in, n_out), "b": (n_out,)})`` from ``dout`` (N, n_out).

        tanh' = 1 - out², sigmoid' = out (1 - out), both written with the forward output.
        """
        X, out = cache
        if self.activation == "tanh":
            dlin = dout * (1.0 - out**2)
        elif self.activation == "sigmoid":
            dlin = dout * out * (1.0 - out)
        else:
            dlin = dout
        return dlin @ self.W.T, {"W": X.T @ dlin, "b": dlin.sum(axis=0)}


class MLP:
    """``HiddenLayer`` (tanh, Glorot init) followed by a zero-initialised ``LogisticRegression``.

    Shapes: ``X`` (N, n_in), hidden (N, n_hidden), probabilities (N, n_out). Parameter names:
    ``W1, b1`` (hidden layer), ``W2, b2`` (output layer). ``L1 = |W1|.sum() + |W2|.sum()`` and
    ``L2_sqr = (W1**2).sum() + (W2**2).sum()``; biases are not penalised. The training cost is
    ``nll + L1_reg * L1 + L2_reg * L2_sqr`` with the mean NLL.
    """

    def __init__(
        self,
        rng: np.random.Generator | np.random.RandomState,
        n_in: int,
        n_hidden: int,
        n_out: int,
        activation: str | None = "tanh",
    ) -> None:
        self.hiddenLayer = HiddenLayer(rng, n_in, n_hidden, activation=activation)
        self.logRegressionLayer = LogisticRegression(n_hidden, n_out)

    @property
    def params(self) -> dict[str, np.ndarray]:
        """``{"W1": (n_in, n_hidden), "b1", "W2": (n_hidden, n_out), "b2"}``, updated in place."""
        return {
            "W1": self.hiddenLayer.W, "b1": self.hiddenLayer.b,
            "W2": self.logRegressionLayer.W, "b2": self.logRegressionLayer.b,
        }

    def L1(self) -> float:
        """Sum of absolute values of both weight matrices."""
        return float(np.abs(self.hiddenLayer.W).sum() + np.abs(self.logRegressionLayer.W).sum())

    def L2_sqr(self) -> float:
        """Sum of squares of both weight matrices (the squared L2 norm, no 1/2)."""
        return float((self.hiddenLayer.W**2).sum() + (self.logRegressionLayer.W**2).sum())

    def p_y_given_x(self, X: np.ndarray) -> np.ndarray:
        """Class probabilities (N, n_out)."""
        return self.logRegressionLayer.p_y_given_x(self.hiddenLayer.output(X))

    def y_pred(self, X: np.ndarray) -> np.ndarray:
        """Predicted labels (N,)."""
        return self.logRegressionLayer.y_pred(self.hiddenLayer.output(X))

    def negative_log_likelihood(self, X: np.ndarray, y: np.ndarray) -> float:
        """Mean NLL of the labels (N,), without the penalties."""
        return self.logRegressionLayer.negative_log_likelihood(self.hiddenLayer.output(X), y)

    def errors(self, X: np.ndarray, y: np.ndarray) -> float:
        """Fraction of rows misclassified."""
        return self.logRegressionLayer.errors(self.hiddenLayer.output(X), y)

    def cost(self, X: np.ndarray, y: np.ndarray, L1_reg: float = 0.0, L2_reg: float = 0.0) -> float:
        """``nll + L1_reg * L1 + L2_reg * L2_sqr``."""
        return self.negative_log_likelihood(X, y) + L1_reg * self.L1() + L2_reg * self.L2_sqr()

    def cost_and_gradients(
        self, X: np.ndarray, y: np.ndarray, L1_reg: float = 0.0, L2_reg: float = 0.0
    ) -> tuple[float, dict[str, np.ndarray]]:
        """The cost and its gradients keyed like ``params``.

        Penalty gradients: ``L1_reg * sign(W)`` (0 at W = 0) and ``2 * L2_reg * W``, weights only.
        """
        hidden, cache = self.hiddenLayer.forward(X)
        nll, out_grads, dhidden = self.logRegressionLayer.loss_and_grads(hidden, y)
        _, hid_grads = self.hiddenLayer.backward(dhidden, cache)
        W1, W2 = self.hiddenLayer.W, self.logRegressionLayer.W
        cost = nll + L1_reg * self.L1() + L2_reg * self.L2_sqr()
        grads = {
            "W1": hid_grads["W"] + L1_reg * np.sign(W1) + 2.0 * L2_reg * W1,
            "b1": hid_grads["b"],
            "W2": out_grads["W"] + L1_reg * np.sign(W2) + 2.0 * L2_reg * W2,
            "b2": out_grads["b"],
        }
        return cost, grads

    def gradients(
        self, X: np.ndarray, y: np.ndarray, L1_reg: float = 0.0, L2_reg: float = 0.0
    ) -> dict[str, np.ndarray]:
        """Gradients of ``cost`` keyed like ``params``."""
        return self.cost_and_gradients(X, y, L1_reg, L2_reg)[1]

    def sgd_step(self, X: np.ndarray, y: np.ndarray, learning_rate: float, **reg: Any) -> float:
        """One SGD update on the cost (``reg``: ``L1_reg``, ``L2_reg``); returns the cost before it."""
        cost, grads = self.cost_and_gradients(X, y, **reg)
        for name, p in self.params.items():
            p -= learning_rate * grads[name]
        return cost

"""Denoising autoencoder (dA) and stacked denoising autoencoder (SdA), seed 002 chapters 5 and 6.

Unit a08 asks for the tutorial's dA with hand-derived gradients: masking noise, tied weights
(decoder = W^T) and a cross-entropy reconstruction of the CLEAN input; then the SdA, whose dA
layers share ``W`` and the hidden bias with the sigmoid layers of an MLP, so greedy layer-wise
pretraining initialises the network that fine-tuning then trains as a classifier.

Conventions: rows are examples, inputs in [0, 1], ``W`` (n_visible, n_hidden), float64. The cost
is ``-sum_k [x_k log z_k + (1 - x_k) log(1 - z_k)]`` over the n_visible inputs, averaged over
the N rows, computed from the pre-activation ``a`` as ``softplus(a) - x a`` so that saturated
units give finite values. Randomness comes from one ``numpy.random.Generator`` per model, drawn in
the order unit a08 pins (its graders replay it exactly): the masking noise is one
``rng.random(x.shape)`` per call, an entry kept where that draw is below ``1 - corruption_level``
(the tutorial's ``binomial(n=1, p=1 - corruption_level)``); the SdA hands its generator to its
sigmoid layers (their initial weights) and to every dA (the pretraining noise).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from reference.numpy.logistic import LogisticRegression
from reference.numpy.mlp import HiddenLayer, glorot_bound, sigmoid

__all__ = ["dA", "SdA"]


class dA:  # noqa: N801 - the tutorial's class name
    """Tied-weight denoising autoencoder.

    ``y = sigmoid(x_tilde W + bhid)`` (N, n_hidden), ``z = sigmoid(y W^T + bvis)`` (N, n_visible).
    Without ``W`` it is drawn uniform in ±4 sqrt(6 / (n_visible + n_hidden)); biases default to
    zeros. Passing ``W``/``bhid`` shares those arrays (SdA). ``seed`` is an int seed or a
    ``numpy.random.Generator``, used as it is (``np.random.default_rng`` returns a generator
    unchanged): ``self.rng`` draws the initial ``W`` and the corruption noise.
    """

    def __init__(
        self,
        n_visible: int = 784,
        n_hidden: int = 500,
        W: np.ndarray | None = None,
        bhid: np.ndarray | None = None,
        bvis: np.ndarray | None = None,
        seed: int | np.random.Generator | None = None,
    ) -> None:
        self.rng = np.random.default_rng(seed)
        if W is None:
            bound = glorot_bound(n_visible, n_hidden, "sigmoid")
            W = self.rng.uniform(-bound, bound, size=(n_visible, n_hidden))
        self.W = W
        self.bhid = np.zeros(n_hidden) if bhid is None else bhid
        self.bvis = np.zeros(n_visible) if bvis is None else bvis

    @property
    def params(self) -> dict[str, np.ndarray]:
        """``{"W": (n_visible, n_hidden), "bhid": (n_hidden,), "bvis": (n_visible,)}``."""
        return {"W": self.W, "bhid": self.bhid, "bvis": self.bvis}

    def get_corrupted_input(
        self, x: np.ndarray, corruption_level: float, rng: np.random.Generator | None = None
    ) -> np.ndarray:
        """Masking noise: each entry of ``x`` is kept with probability ``1 - corruption_level``, else 0.

        One draw ``u = rng.random(x.shape)``; entries where ``u < 1 - corruption_level`` are kept
        (a Bernoulli(1 - corruption_level) mask, as the tutorial's binomial), the others zeroed.
        """
        rng = self.rng if rng is None else rng
        keep = rng.random(x.shape) < 1.0 - corruption_level
        return x * keep

    def get_hidden_values(self, x: np.ndarray) -> np.ndarray:
        """Code ``sigmoid(x W + bhid)``, shape (N, n_hidden)."""
        return sigmoid(x @ self.W + self.bhid)

    def get_reconstructed_input(self, hidden: np.ndarray) -> np.ndarray:
        """Reconstruction ``sigmoid(hidden W^T + bvis)``, shape (N, n_visible)."""
        return sigmoid(hidden @ self.W.T + self.bvis)

    def cost_and_gradients(
        self, x: np.ndarray, x_tilde: np.ndarray | None = None
    ) -> tuple[float, dict[str, np.ndarray]]:
        """Mean reconstruction cross-entropy of clean ``x`` from ``x_tilde`` (default: ``x``), and gradients.

        With ``a`` the decoder pre-activation, d cost / d a = (z - x) / N. The tied ``W`` collects
        two terms: the decoder's ``(da)^T y`` and the encoder's ``x_tilde^T dh`` where
        ``dh = (da W) * y (1 - y)``. Gradients are keyed like ``params``.
        """
        x_tilde = x if x_tilde is None else x_tilde
        n = x.shape[0]
        y = self.get_hidden_values(x_tilde)
        a = y @ self.W.T + self.bvis
        cost = float(np.sum(np.logaddexp(0.0, a) - x * a) / n)
        da = (sigmoid(a) - x) / n
        dh = (da @ self.W) * y * (1.0 - y)
        grads = {"W": da.T @ y + x_tilde.T @ dh, "bhid": dh.sum(axis=0), "bvis": da.sum(axis=0)}
        return cost, grads

    def cost(self, x: np.ndarray, x_tilde: np.ndarray | None = None) -> float:
        """Mean (over the N rows) cross-entropy reconstruction cost of ``x`` from ``x_tilde``."""
        return self.cost_and_gradients(x, x_tilde)[0]

    def gradients(self, x: np.ndarray, x_tilde: np.ndarray | None = None) -> dict[str, np.ndarray]:
        """Gradients of ``cost`` keyed like ``params``."""
        return self.cost_and_gradients(x, x_tilde)[1]

    def train_step(
        self, x: np.ndarray, corruption_level: float, learning_rate: float, rng: np.random.Generator | None = None
    ) -> float:
        """The tutorial's ``get_cost_updates``: corrupt, then one SGD step; returns the cost before it."""
        cost, grads = self.cost_and_gradients(x, self.get_corrupted_input(x, corruption_level, rng))
        for name, p in self.params.items():
            p -= learning_rate * grads[name]
        return cost


class SdA:
    """Stacked denoising autoencoder: sigmoid ``HiddenLayer``s, one dA per layer, a logistic output.

    ``X`` (N, n_ins) -> hidden sizes ``hidden_layers_sizes`` -> (N, n_outs) probabilities. dA i shares
    ``W`` and ``b`` (its ``bhid``) with sigmoid layer i and owns its visible bias, which is not
    fine-tuned. Its input is the clean output of the layer below; corruption happens only inside the
    dA being trained. Fine-tuning parameters: ``W0, b0, ..., W{L-1}, b{L-1}`` (sigmoid layers) and
    ``W{L}, b{L}`` (logistic layer). ``seed`` (an int or a Generator, used as it is) makes ``self.rng``,
    which draws each sigmoid layer's initial ``W`` (bottom first, one ``rng.uniform`` each) and, shared
    by every dA layer, the corruption noise. ``logLayer`` is any object with the tutorial's
    ``LogisticRegression`` methods (``loss_and_grads``, ``y_pred``, ``errors``, ...): a grader's
    stand-in may replace it.
    """

    def __init__(
        self,
        n_ins: int = 784,
        hidden_layers_sizes: Sequence[int] = (500, 500),
        n_outs: int = 10,
        seed: int | np.random.Generator | None = None,
    ) -> None:
        self.rng = np.random.default_rng(seed)
        self.sigmoid_layers: list[HiddenLayer] = []
        self.dA_layers: list[dA] = []
        n_in = n_ins
        for size in hidden_layers_sizes:
            layer = HiddenLayer(self.rng, n_in, size, activation="sigmoid")
            self.sigmoid_layers.append(layer)
            self.dA_layers.append(dA(n_in, size, W=layer.W, bhid=layer.b, seed=self.rng))
            n_in = size
        self.logLayer: Any = LogisticRegression(n_in, n_outs)

    @property
    def params(self) -> dict[str, np.ndarray]:
        """Fine-tuning parameters (shared with the dA layers except the visible biases)."""
        out: dict[str, np.ndarray] = {}
        for i, layer in enumerate(self.sigmoid_layers):
            out[f"W{i}"], out[f"b{i}"] = layer.W, layer.b
        n = len(self.sigmoid_layers)
        out[f"W{n}"], out[f"b{n}"] = self.logLayer.W, self.logLayer.b
        return out

    def layer_input(self, X: np.ndarray, layer_index: int) -> np.ndarray:
        """Clean input of layer ``layer_index``: ``X`` propagated through the sigmoid layers below it."""
        h = X
        for layer in self.sigmoid_layers[:layer_index]:
            h = layer.output(h)
        return h

    def pretraining_step(
        self, layer_index: int, X: np.ndarray, corruption_level: float = 0.2, learning_rate: float = 0.1
    ) -> float:
        """One SGD step on dA ``layer_index`` (its W, bhid, bvis) for the minibatch ``X`` (N, n_ins)."""
        x = self.layer_input(X, layer_index)
        return self.dA_layers[layer_index].train_step(x, corruption_level, learning_rate)

    def pretrain(
        self,
        X: np.ndarray,
        corruption_levels: Sequence[float],
        learning_rate: float = 0.001,
        epochs: int = 15,
        batch_size: int = 1,
    ) -> list[list[float]]:
        """Greedy layer-wise pretraining, bottom layer first; returns the mean cost per epoch per layer."""
        n_batches = X.shape[0] // batch_size
        history = []
        for i, level in enumerate(corruption_levels):
            x_all = self.layer_input(X, i)
            layer_costs = []
            for _ in range(epochs):
                costs = [
                    self.dA_layers[i].train_step(x_all[b * batch_size:(b + 1) * batch_size], level, learning_rate)
                    for b in range(n_batches)
                ]
                layer_costs.append(float(np.mean(costs)))
            history.append(layer_costs)
        return history

    def p_y_given_x(self, X: np.ndarray) -> np.ndarray:
        """Class probabilities (N, n_outs)."""
        return self.logLayer.p_y_given_x(self.layer_input(X, len(self.sigmoid_layers)))

    def y_pred(self, X: np.ndarray) -> np.ndarray:
        """Predicted labels (N,)."""
        return self.logLayer.y_pred(self.layer_input(X, len(self.sigmoid_layers)))

    def negative_log_likelihood(self, X: np.ndarray, y: np.ndarray) -> float:
        """The fine-tuning cost: mean NLL of labels (N,)."""
        return self.logLayer.negative_log_likelihood(self.layer_input(X, len(self.sigmoid_layers)), y)

    def errors(self, X: np.ndarray, y: np.ndarray) -> float:
        """Fraction of rows misclassified."""
        return self.logLayer.errors(self.layer_input(X, len(self.sigmoid_layers)), y)

    def finetune_cost_and_gradients(self, X: np.ndarray, y: np.ndarray) -> tuple[float, dict[str, np.ndarray]]:
        """Mean NLL and its gradients keyed like ``params`` (backprop through every sigmoid layer)."""
        h = X
        caches = []
        for layer in self.sigmoid_layers:
            h, cache = layer.forward(h)
            caches.append(cache)
        n = len(self.sigmoid_layers)
        cost, out_grads, dh = self.logLayer.loss_and_grads(h, y)
        grads = {f"W{n}": out_grads["W"], f"b{n}": out_grads["b"]}
        for i in reversed(range(n)):
            dh, layer_grads = self.sigmoid_layers[i].backward(dh, caches[i])
            grads[f"W{i}"], grads[f"b{i}"] = layer_grads["W"], layer_grads["b"]
        return cost, grads

    def finetune_step(self, X: np.ndarray, y: np.ndarray, learning_rate: float = 0.1) -> float:
        """One supervised SGD step on all fine-tuning parameters; returns the cost before it."""
        cost, grads = self.finetune_cost_and_gradients(X, y)
        for name, p in self.params.items():
            p -= learning_rate * grads[name]
        return cost

    def sgd_step(self, X: np.ndarray, y: np.ndarray, learning_rate: float) -> float:
        """Alias of ``finetune_step`` so ``sgd_optimize`` can run the fine-tuning stage."""
        return self.finetune_step(X, y, learning_rate)

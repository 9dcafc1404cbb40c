"""Torch mirror of ``reference/numpy/mlp.py``: hidden layer and MLP cost, gradients by autograd.

Mapping (numpy -> torch):

* ``HiddenLayer.output`` -> ``hidden_layer(X, W, b, activation)``
* ``MLP.p_y_given_x`` -> ``mlp_p_y_given_x(X, W1, b1, W2, b2, activation)``
* ``MLP.cost`` (and the gradients of ``MLP.cost_and_gradients`` by autograd) ->
  ``mlp_cost(X, y, W1, b1, W2, b2, L1_reg, L2_reg, activation)``

Shapes as in numpy (W (n_in, n_out), rows are examples); ``activation`` is ``"tanh"``,
``"sigmoid"`` or ``None``; L1/L2 penalise the two weight matrices only. Note that autograd's
derivative of ``abs`` at 0 is 0, the same subgradient as numpy's ``sign``.
"""

from __future__ import annotations

import torch

from reference.torch.logistic import logistic_nll

__all__ = ["hidden_layer", "mlp_p_y_given_x", "mlp_cost"]


def hidden_layer(X: torch.Tensor, W: torch.Tensor, b: torch.Tensor, activation: str | None = "tanh") -> torch.Tensor:
    """``activation(X W + b)``, shape (N, n_out)."""
    lin = X @ W + b
    if activation == "tanh":
        return torch.tanh(lin)
    if activation == "sigmoid":
        return torch.sigmoid(lin)
    if activation is None:
        return lin
    raise ValueError(f"hidden_layer: unknown activation {activation!r}")


def mlp_p_y_given_x(
    X: torch.Tensor, W1: torch.Tensor, b1: torch.Tensor, W2: torch.Tensor, b2: torch.Tensor,
    activation: str | None = "tanh",
) -> torch.Tensor:
    """Class probabilities (N, n_out) of the one-hidden-layer MLP."""
    return torch.softmax(hidden_layer(X, W1, b1, activation) @ W2 + b2, dim=1)


def mlp_cost(
    X: torch.Tensor, y: torch.Tensor, W1: torch.Tensor, b1: torch.Tensor, W2: torch.Tensor, b2: torch.Tensor,
    L1_reg: float = 0.0, L2_reg: float = 0.0, activation: str | None = "tanh",
) -> torch.Tensor:
    """``mean NLL + L1_reg * (|W1|+|W2|).sum() + L2_reg * (W1**2 + W2**2).sum()`` (0-d tensor)."""
    nll = logistic_nll(hidden_layer(X, W1, b1, activation), y, W2, b2)
    l1 = W1.abs().sum() + W2.abs().sum()
    l2 = (W1**2).sum() + (W2**2).sum()
    return nll + L1_reg * l1 + L2_reg * l2

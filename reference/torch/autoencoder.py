"""Torch mirror of ``reference/numpy/autoencoder.py``: dA and SdA costs, gradients by autograd.

Mapping (numpy -> torch):

* ``dA.get_hidden_values`` -> ``da_hidden(x, W, bhid)``
* ``dA.get_reconstructed_input`` -> ``da_reconstruction(h, W, bvis)``
* ``dA.cost(x, x_tilde)`` (gradients of ``dA.cost_and_gradients``) -> ``da_cost(x, x_tilde, W, bhid, bvis)``
* ``SdA.negative_log_likelihood`` (gradients of ``SdA.finetune_cost_and_gradients``) ->
  ``sda_finetune_cost(X, y, W0, b0, ..., WL, bL)``
* ``SdA.layer_input(X, L)`` (the input of the output layer) -> ``sda_top(X, W0, b0, ..., W{L-1}, b{L-1})``,
  for a cost of another output layer (a grader's stand-in)

The cross-entropy is ``F.binary_cross_entropy_with_logits`` on the decoder pre-activation, summed
over the visible units and divided by the number of rows, like the numpy version. The corrupted
input ``x_tilde`` is an argument: the masking noise is drawn once, outside the differentiated cost.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from reference.torch.logistic import logistic_nll
from reference.torch.mlp import hidden_layer

__all__ = ["da_hidden", "da_reconstruction", "da_cost", "sda_top", "sda_finetune_cost"]


def da_hidden(x: torch.Tensor, W: torch.Tensor, bhid: torch.Tensor) -> torch.Tensor:
    """``sigmoid(x W + bhid)``: x (N, n_visible), W (n_visible, n_hidden) -> (N, n_hidden)."""
    return torch.sigmoid(x @ W + bhid)


def da_reconstruction(h: torch.Tensor, W: torch.Tensor, bvis: torch.Tensor) -> torch.Tensor:
    """``sigmoid(h W^T + bvis)`` with the tied weights, shape (N, n_visible)."""
    return torch.sigmoid(h @ W.T + bvis)


def da_cost(
    x: torch.Tensor, x_tilde: torch.Tensor, W: torch.Tensor, bhid: torch.Tensor, bvis: torch.Tensor
) -> torch.Tensor:
    """Cross-entropy of clean ``x`` against the reconstruction of ``x_tilde``, summed per row, mean over rows."""
    logits = da_hidden(x_tilde, W, bhid) @ W.T + bvis
    return F.binary_cross_entropy_with_logits(logits, x, reduction="sum") / x.shape[0]


def sda_top(X: torch.Tensor, *params: torch.Tensor) -> torch.Tensor:
    """``X`` through the sigmoid layers ``params = (W0, b0, ..., W{L-1}, b{L-1})``: the output layer's input."""
    h = X
    for i in range(0, len(params), 2):
        h = hidden_layer(h, params[i], params[i + 1], "sigmoid")
    return h


def sda_finetune_cost(X: torch.Tensor, y: torch.Tensor, *params: torch.Tensor) -> torch.Tensor:
    """Mean NLL of the SdA's MLP view.

    ``params = (W0, b0, ..., W{L-1}, b{L-1}, WL, bL)``: the sigmoid layers, then the logistic layer.
    """
    return logistic_nll(sda_top(X, *params[:-2]), y, params[-2], params[-1])

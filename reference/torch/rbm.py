"""Torch mirror of ``reference/numpy/rbm.py``: free energy and the CD cost, gradients by autograd.

Mapping (numpy -> torch):

* ``RBM.propup`` (the mean) -> ``rbm_propup(v, W, hbias)``
* ``RBM.propdown`` (the mean) -> ``rbm_propdown(h, W, vbias)``
* ``RBM.free_energy`` -> ``rbm_free_energy(v, W, hbias, vbias)``
* ``RBM.cd_gradients(v0, vk)`` -> autograd of ``rbm_cd_cost(v0, vk, W, hbias, vbias)``
  = ``mean F(v0) - mean F(vk)`` with ``vk`` detached, the tutorial's ``consider_constant=[chain_end]``.

Shapes as in numpy: ``W`` (n_visible, n_hidden), ``hbias`` (n_hidden,), ``vbias`` (n_visible,).
"""

from __future__ import annotations

import torch

__all__ = ["rbm_propup", "rbm_propdown", "rbm_free_energy", "rbm_cd_cost"]


def rbm_propup(v: torch.Tensor, W: torch.Tensor, hbias: torch.Tensor) -> torch.Tensor:
    """``p(h=1|v) = sigmoid(v W + hbias)``, shape (N, n_hidden)."""
    return torch.sigmoid(v @ W + hbias)


def rbm_propdown(h: torch.Tensor, W: torch.Tensor, vbias: torch.Tensor) -> torch.Tensor:
    """``p(v=1|h) = sigmoid(h W^T + vbias)``, shape (N, n_visible)."""
    return torch.sigmoid(h @ W.T + vbias)


def rbm_free_energy(v: torch.Tensor, W: torch.Tensor, hbias: torch.Tensor, vbias: torch.Tensor) -> torch.Tensor:
    """``F(v) = -v.vbias - sum_j softplus(v W + hbias)_j``, shape (N,)."""
    pre = v @ W + hbias
    return -(v @ vbias) - torch.logaddexp(pre, torch.zeros_like(pre)).sum(dim=1)


def rbm_cd_cost(
    v0: torch.Tensor, vk: torch.Tensor, W: torch.Tensor, hbias: torch.Tensor, vbias: torch.Tensor
) -> torch.Tensor:
    """``mean F(v0) - mean F(vk)``, no gradient through the chain end ``vk`` (0-d tensor)."""
    return rbm_free_energy(v0, W, hbias, vbias).mean() - rbm_free_energy(vk.detach(), W, hbias, vbias).mean()

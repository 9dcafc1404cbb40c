"""Torch twin of ``reference.numpy.bn_layers``: batch normalization with the book's running statistics.

The normalization itself is ``torch.nn.functional.batch_norm`` (biased batch variance, as in the
book). Its running-statistics update is not used, because it differs from the book twice:
PyTorch's ``momentum`` weights the batch statistic (book: the running one) and it accumulates the
UNBIASED variance. The update is therefore written out with the book's formula,
``running = momentum * running + (1 - momentum) * batch`` with the biased variance, and stored in
``bn_param`` as tensors. Name mapping: ``batchnorm_forward`` -> ``batchnorm``,
``spatial_batchnorm_forward`` -> ``spatial_batchnorm`` (both backward passes come from autograd).
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

__all__ = ["batchnorm", "spatial_batchnorm"]


def batchnorm(x: torch.Tensor, gamma: torch.Tensor, beta: torch.Tensor, bn_param: dict[str, Any]) -> torch.Tensor:
    """``x`` (N, D), ``gamma``/``beta`` (D,) -> (N, D); ``bn_param`` as in the numpy version.

    Statistics are taken over every axis but 1, so ``spatial_batchnorm`` is this same function on
    (N, C, H, W). Running statistics may be given as numpy arrays or tensors and are written back
    as tensors.
    """
    mode = bn_param["mode"]
    eps = bn_param.get("eps", 1e-5)
    momentum = bn_param.get("momentum", 0.9)
    zeros = torch.zeros(x.shape[1], dtype=x.dtype, device=x.device)
    running_mean = torch.as_tensor(bn_param.get("running_mean", zeros), dtype=x.dtype, device=x.device)
    running_var = torch.as_tensor(bn_param.get("running_var", zeros), dtype=x.dtype, device=x.device)
    if mode == "train":
        dims = [d for d in range(x.dim()) if d != 1]
        batch_mean = x.detach().mean(dim=dims)
        batch_var = x.detach().var(dim=dims, unbiased=False)
        out = F.batch_norm(x, None, None, gamma, beta, training=True, eps=eps)
        bn_param["running_mean"] = momentum * running_mean + (1 - momentum) * batch_mean
        bn_param["running_var"] = momentum * running_var + (1 - momentum) * batch_var
    elif mode == "test":
        out = F.batch_norm(x, running_mean, running_var, gamma, beta, training=False, eps=eps)
    else:
        raise ValueError(f"batchnorm: mode must be 'train' or 'test', got {mode!r}")
    return out


def spatial_batchnorm(
    x: torch.Tensor, gamma: torch.Tensor, beta: torch.Tensor, bn_param: dict[str, Any]
) -> torch.Tensor:
    """``x`` (N, C, H, W), ``gamma``/``beta`` (C,) -> (N, C, H, W); statistics over (N, H, W)."""
    if x.dim() != 4:
        raise ValueError(f"spatial_batchnorm: x must be (N, C, H, W), got shape {tuple(x.shape)}")
    return batchnorm(x, gamma, beta, bn_param)

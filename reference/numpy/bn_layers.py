"""Batch normalization (unit a05) and its spatial form for convolutional maps (unit a06).

Students write the backward pass twice, once stage by stage through the computational graph
(``batchnorm_backward``) and once in closed form (``batchnorm_backward_alt``); graders check both
against this module. Conventions pinned by the book (seed-003 part 2, section 2.5): the batch
variance is the BIASED one (divide by N), ``eps`` defaults to 1e-5 and ``momentum`` to 0.9 with
``running = momentum * running + (1 - momentum) * batch`` (PyTorch's ``momentum`` is the weight of
the batch statistic, i.e. 1 - this one, and PyTorch keeps the unbiased variance as its running
estimate). Running statistics live in ``bn_param`` and are updated in place.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = [
    "batchnorm_forward",
    "batchnorm_backward",
    "batchnorm_backward_alt",
    "spatial_batchnorm_forward",
    "spatial_batchnorm_backward",
]


def batchnorm_forward(
    x: np.ndarray, gamma: np.ndarray, beta: np.ndarray, bn_param: dict[str, Any]
) -> tuple[np.ndarray, tuple[Any, ...]]:
    """Normalize each of the D features over the batch, then scale by ``gamma`` and shift by ``beta``.

    Shapes: ``x`` (N, D), ``gamma`` (D,), ``beta`` (D,); returns ``out`` (N, D) and a cache.
    ``bn_param``: ``mode`` ``'train'`` (normalize with the batch mean and biased variance and
    update ``running_mean`` / ``running_var``) or ``'test'`` (normalize with the running
    statistics); ``eps`` (default 1e-5); ``momentum`` (default 0.9); ``running_mean`` and
    ``running_var`` (D,), created as zeros of ``x``'s dtype on first use and written back.
    """
    mode = bn_param["mode"]
    eps = bn_param.get("eps", 1e-5)
    momentum = bn_param.get("momentum", 0.9)
    d = x.shape[1]
    running_mean = bn_param.get("running_mean", np.zeros(d, dtype=x.dtype))
    running_var = bn_param.get("running_var", np.zeros(d, dtype=x.dtype))

    if mode == "train":
        mu = x.mean(axis=0)
        xc = x - mu
        var = (xc * xc).mean(axis=0)
        running_mean = momentum * running_mean + (1 - momentum) * mu
        running_var = momentum * running_var + (1 - momentum) * var
    elif mode == "test":
        xc = x - running_mean
        var = running_var
    else:
        raise ValueError(f"batchnorm_forward: mode must be 'train' or 'test', got {mode!r}")
    std = np.sqrt(var + eps)
    xhat = xc / std
    out = gamma * xhat + beta

    bn_param["running_mean"] = running_mean
    bn_param["running_var"] = running_var
    return out, (mode, xc, std, xhat, gamma)


def _test_mode_backward(dout: np.ndarray, cache: tuple[Any, ...]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """In test mode mean and variance are constants, so BN is an affine map of ``x``."""
    _, _, std, xhat, gamma = cache
    return dout * gamma / std, (dout * xhat).sum(axis=0), dout.sum(axis=0)


def batchnorm_backward(dout: np.ndarray, cache: tuple[Any, ...]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Backward pass through the staged graph mean -> centre -> variance -> sqrt -> divide -> scale.

    ``dout`` (N, D); returns ``dx`` (N, D), ``dgamma`` (D,), ``dbeta`` (D,). Each stage's local
    derivative is applied in reverse order (the exercise's "computational graph" version).
    """
    mode, xc, std, xhat, gamma = cache
    if mode == "test":
        return _test_mode_backward(dout, cache)
    n = dout.shape[0]
    dbeta = dout.sum(axis=0)
    dgamma = (dout * xhat).sum(axis=0)
    dxhat = dout * gamma
    # xhat = xc * (1 / std)
    dinv_std = (dxhat * xc).sum(axis=0)
    dxc = dxhat / std
    # 1 / std with std = sqrt(var + eps)
    dstd = -dinv_std / std**2
    dvar = dstd * 0.5 / std
    # var = mean(xc ** 2)
    dxc += 2.0 * xc * dvar / n
    # xc = x - mean(x)
    dmu = -dxc.sum(axis=0)
    dx = dxc + dmu / n
    return dx, dgamma, dbeta


def batchnorm_backward_alt(
    dout: np.ndarray, cache: tuple[Any, ...]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Closed-form backward pass, same result as ``batchnorm_backward``.

    ``dx = gamma / (N * sqrt(var + eps)) * (N * dout - sum_n dout - xhat * sum_n(dout * xhat))``;
    shapes as in ``batchnorm_backward``.
    """
    mode, _, std, xhat, gamma = cache
    if mode == "test":
        return _test_mode_backward(dout, cache)
    n = dout.shape[0]
    dbeta = dout.sum(axis=0)
    dgamma = (dout * xhat).sum(axis=0)
    dx = (gamma / (n * std)) * (n * dout - dbeta - xhat * dgamma)
    return dx, dgamma, dbeta


def _channels_last(x: np.ndarray) -> np.ndarray:
    """(N, C, H, W) -> (N*H*W, C): every pixel of every image is one sample of its channel."""
    return x.transpose(0, 2, 3, 1).reshape(-1, x.shape[1])


def _channels_first(rows: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Inverse of ``_channels_last`` for an array of the original ``shape`` (N, C, H, W)."""
    n, c, h, w = shape
    return rows.reshape(n, h, w, c).transpose(0, 3, 1, 2)


def spatial_batchnorm_forward(
    x: np.ndarray, gamma: np.ndarray, beta: np.ndarray, bn_param: dict[str, Any]
) -> tuple[np.ndarray, tuple[Any, ...]]:
    """Batch normalization per channel of a convolutional map, statistics over (N, H, W).

    Shapes: ``x`` (N, C, H, W), ``gamma`` and ``beta`` (C,), running statistics (C,);
    ``bn_param`` as in ``batchnorm_forward``. Returns ``out`` (N, C, H, W) and a cache.
    """
    out, cache = batchnorm_forward(_channels_last(x), gamma, beta, bn_param)
    return _channels_first(out, x.shape), (x.shape, cache)


def spatial_batchnorm_backward(
    dout: np.ndarray, cache: tuple[Any, ...]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``dout`` (N, C, H, W) -> ``dx`` (N, C, H, W), ``dgamma`` (C,), ``dbeta`` (C,)."""
    shape, bn_cache = cache
    dx, dgamma, dbeta = batchnorm_backward_alt(_channels_last(dout), bn_cache)
    return _channels_first(dx, shape), dgamma, dbeta

"""Bridges numpy and torch for the second opinion: values and gradients by autograd.

Graders and tests hand numpy arrays in and get numpy arrays out, so the torch side can be
compared with ``reference.numpy`` (and with student outputs) without either knowing torch.
Computation is float64 by default and runs on CUDA when available.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch

__all__ = ["default_device", "to_tensor", "to_numpy", "value_and_grads"]


def default_device() -> torch.device:
    """``cuda`` when a GPU is visible, else ``cpu``."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def to_tensor(
    a: Any,
    device: str | torch.device | None = None,
    requires_grad: bool = False,
    dtype: torch.dtype | None = None,
) -> torch.Tensor:
    """A tensor copy of ``a`` on ``device``; floating arrays keep float64 unless ``dtype`` says otherwise."""
    arr = np.asarray(a)
    t = torch.as_tensor(arr.copy(), device=device or default_device())
    if dtype is not None:
        t = t.to(dtype)
    if requires_grad:
        t.requires_grad_(True)
    return t


def to_numpy(t: torch.Tensor | float) -> np.ndarray:
    """A numpy copy of ``t`` (detached, on the host)."""
    if isinstance(t, torch.Tensor):
        return t.detach().cpu().numpy()
    return np.asarray(t)


def value_and_grads(
    fn: Callable[..., torch.Tensor],
    args: Sequence[Any],
    wrt: Sequence[int],
    dout: np.ndarray | None = None,
    device: str | torch.device | None = None,
    **kwargs: Any,
) -> tuple[np.ndarray, list[np.ndarray]]:
    """Evaluate ``fn(*args, **kwargs)`` in torch and return ``(value, [d value / d args[i] for i in wrt])``.

    Numpy arrays in ``args`` become tensors on ``device``; the others (dicts of hyperparameters,
    ints) pass through. A scalar output is differentiated directly; an array output needs the
    upstream gradient ``dout``, as a layer's backward pass does.
    """
    tensors = [
        to_tensor(a, device, requires_grad=i in wrt) if isinstance(a, np.ndarray) else a
        for i, a in enumerate(args)
    ]
    out = fn(*tensors, **kwargs)
    if dout is None:
        if out.numel() != 1:
            raise ValueError("value_and_grads: a non-scalar output needs dout")
        out.backward()
    else:
        out.backward(to_tensor(dout, out.device, dtype=out.dtype))
    grads = []
    for i in wrt:
        g = tensors[i].grad
        grads.append(np.zeros_like(args[i], dtype=np.float64) if g is None else to_numpy(g))
    return to_numpy(out), grads

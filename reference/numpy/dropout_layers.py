"""Inverted dropout (unit a04), with ``p`` the probability of KEEPING a unit, as in the book.

PyTorch's ``nn.Dropout(p)`` takes the DROP probability; this course follows the book (seed-003,
errata 15), so ``p = 0.8`` keeps 80 % of the units and scales them by ``1 / 0.8`` at train time.
The mask is drawn by ``dropout_mask`` so the torch reference can be handed the very same mask.
A seeded call draws the same numbers as the book's ``np.random.seed(seed); np.random.rand(...)``
from a private generator, so it does not reset the global one (the book's side effect, errata 14).
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["dropout_mask", "dropout_forward", "dropout_backward"]

# Reseeded before every seeded draw, so no state carries over between calls; reseeding one
# generator costs microseconds where building a RandomState(seed) costs about half a millisecond,
# which numeric gradient checks of dropout nets would pay thousands of times.
_SEEDED_RANDOM_STATE = np.random.RandomState()


def dropout_mask(shape: tuple[int, ...], p: float, seed: int | None = None) -> np.ndarray:
    """The scaled keep mask of inverted dropout: ``(U < p) / p`` with ``U ~ Uniform[0, 1)`` of ``shape``.

    Entries are 0 (dropped, probability 1 - p) or ``1 / p`` (kept). With ``seed`` the draw comes
    from a private ``RandomState`` reseeded with ``seed`` (the same numbers as
    ``np.random.seed(seed); np.random.rand(*shape)``), else from the global ``np.random`` state.
    """
    if not 0 < p <= 1:
        raise ValueError(f"dropout_mask: keep probability p must be in (0, 1], got {p}")
    if seed is None:
        uniform = np.random.rand(*shape)
    else:
        _SEEDED_RANDOM_STATE.seed(seed)
        uniform = _SEEDED_RANDOM_STATE.rand(*shape)
    return (uniform < p) / p


def dropout_forward(x: np.ndarray, dropout_param: dict[str, Any]) -> tuple[np.ndarray, tuple[Any, ...]]:
    """Inverted dropout on ``x`` of any shape.

    ``dropout_param``: ``p`` keep probability in (0, 1]; ``mode`` ``'train'`` (multiply by the
    mask ``(U < p) / p``, so ``E[out] = x``) or ``'test'`` (identity); optional ``seed`` makes the
    mask deterministic (needed for numeric gradient checks). Returns ``out`` (same shape and dtype
    as ``x``) and ``cache = (dropout_param, mask)``, the mask in ``x``'s dtype, ``None`` in test mode.
    """
    mode = dropout_param["mode"]
    if mode == "train":
        mask = dropout_mask(x.shape, dropout_param["p"], dropout_param.get("seed")).astype(x.dtype, copy=False)
        out = x * mask
    elif mode == "test":
        mask = None
        out = x
    else:
        raise ValueError(f"dropout_forward: mode must be 'train' or 'test', got {mode!r}")
    return out, (dropout_param, mask)


def dropout_backward(dout: np.ndarray, cache: tuple[Any, ...]) -> np.ndarray:
    """``dx = dout * mask`` in train mode, ``dx = dout`` in test mode; same shape as ``dout``.

    The mode is read from the cached mask (``None`` in test mode), not from ``dropout_param``,
    which a network may have switched since the forward pass.
    """
    _, mask = cache
    if mask is None:
        return dout
    return dout * mask

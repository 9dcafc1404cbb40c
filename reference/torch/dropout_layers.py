"""Torch twin of ``reference.numpy.dropout_layers``: inverted dropout given an explicit mask.

Torch and numpy draw different random numbers, so the torch side takes the mask the numpy side
drew (``reference.numpy.dropout_layers.dropout_mask`` or the ``mask`` in a ``dropout_forward``
cache) and the two are compared exactly. Name mapping: ``dropout_forward`` -> ``dropout``.
Conventions as in numpy: ``p`` is the KEEP probability and the mask is already scaled by ``1 / p``;
``torch.nn.functional.dropout`` takes the DROP probability and draws its own mask.
"""

from __future__ import annotations

from typing import Any

import torch

__all__ = ["dropout"]


def dropout(x: torch.Tensor, mask: Any = None) -> torch.Tensor:
    """``x * mask`` in train mode; ``x`` itself in test mode (``mask is None``).

    ``mask`` has ``x``'s shape with entries 0 or ``1 / p`` (a numpy array or a tensor).
    """
    if mask is None:
        return x
    return x * torch.as_tensor(mask, dtype=x.dtype, device=x.device)

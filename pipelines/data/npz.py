"""Atomic ``.npz`` writing: plain (uncompressed, pickle-free) arrays, renamed into place when complete."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from pipelines.atomic import atomic_path

__all__ = ["save_npz_atomic"]


def save_npz_atomic(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """Write ``arrays`` to ``path`` (uncompressed npz, loadable with ``allow_pickle=False``)."""
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        np.savez(fh, **arrays)  # type: ignore[arg-type]

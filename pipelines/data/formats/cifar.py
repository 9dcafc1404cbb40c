"""Reader of CIFAR-10 python batches (pickles written by Python 2, protocol 2, bytes keys).

Each batch holds ``data``: uint8 ``(N, 3072)`` with rows R(1024) G(1024) B(1024), each plane
row-major 32x32, and ``labels``: N ints in 0..9. N is read from the file, never assumed to be 10,000
(subset mirrors hold fewer rows and may lack ``filenames``). Unpickling is restricted to the numpy
array reconstruction the official files use, so a tampered pickle cannot run code.
"""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import numpy as np

from pipelines.errors import DataError

__all__ = ["read_batch", "read_label_names"]

_ALLOWED = {
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
}


class _NumpyOnlyUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in _ALLOWED:
            raise pickle.UnpicklingError(f"forbidden global {module}.{name}")
        if module == "numpy.core.multiarray":
            module = "numpy._core.multiarray"
        return super().find_class(module, name)


def _load(path: Path) -> dict[bytes, Any]:
    try:
        with open(path, "rb") as fh:
            obj = _NumpyOnlyUnpickler(fh, encoding="bytes").load()
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, IndexError, KeyError) as exc:
        raise DataError(f"{path}: corrupt or truncated pickle ({type(exc).__name__}: {exc}); fetch it again") from exc
    if not isinstance(obj, dict):
        raise DataError(f"{path}: expected a dict pickle, got {type(obj).__name__}")
    return obj


def read_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Read one batch: ``(X, y)`` with X uint8 ``(N, 3, 32, 32)`` (channel first) and y int64 ``(N,)``."""
    obj = _load(path)
    data, labels = obj.get(b"data"), obj.get(b"labels")
    if not isinstance(data, np.ndarray) or labels is None:
        raise DataError(f"{path}: expected keys b'data' (array) and b'labels', found {sorted(map(repr, obj))}")
    if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3072:
        raise DataError(f"{path}: data must be uint8 (N, 3072), got {data.dtype} {data.shape}")
    y = np.asarray(labels, dtype=np.int64)
    if y.shape != (data.shape[0],):
        raise DataError(f"{path}: {data.shape[0]} images but {y.size} labels")
    if y.size and (y.min() < 0 or y.max() > 9):
        raise DataError(f"{path}: labels must be in 0..9, found {y.min()}..{y.max()}")
    return data.reshape(-1, 3, 32, 32), y


def read_label_names(path: Path) -> list[str]:
    """The 10 class names of ``batches.meta``."""
    names = _load(path).get(b"label_names")
    if not isinstance(names, list) or len(names) != 10:
        raise DataError(f"{path}: expected 10 label_names, found {names!r:.80}")
    return [n.decode() if isinstance(n, bytes) else str(n) for n in names]

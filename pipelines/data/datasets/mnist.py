"""MNIST: four IDX gz files -> ``mnist.npz``.

``X_*`` float32 ``(N, 784)`` in [0, 1] (pixel / 255, rows of the 28x28 image), ``y_*`` int64 in 0..9.
Validation = the LAST rows of the official train set (10,000 of 60,000; the same 1/6 share of a
subset, see ``splits.val_rows``); test = the official t10k set.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from pipelines.data.formats.idx import IMAGES_MAGIC, LABELS_MAGIC, read_idx_gz
from pipelines.data.npz import save_npz_atomic
from pipelines.data.splits import val_rows
from pipelines.errors import DataError

__all__ = ["build", "OUTPUT"]

OUTPUT = "mnist.npz"


def _split(raw: Path, prefix: str) -> tuple[np.ndarray, np.ndarray]:
    images_path, labels_path = raw / f"{prefix}-images-idx3-ubyte.gz", raw / f"{prefix}-labels-idx1-ubyte.gz"
    images = read_idx_gz(images_path, IMAGES_MAGIC)
    labels = read_idx_gz(labels_path, LABELS_MAGIC)
    if images.shape[1:] != (28, 28):
        raise DataError(f"{images_path}: expected 28x28 images, found {images.shape[1:]}")
    if images.shape[0] != labels.shape[0]:
        raise DataError(f"{labels_path}: {labels.shape[0]} labels for {images.shape[0]} images in {images_path.name}")
    if labels.size and labels.max() > 9:
        raise DataError(f"{labels_path}: labels must be in 0..9, found {labels.max()}")
    return images.reshape(len(images), 784).astype(np.float32) / np.float32(255), labels.astype(np.int64)


def build(raw: Path, params: dict[str, Any], seed: int, out: Path) -> dict[str, Any]:
    """Write ``out/mnist.npz``; returns the split counts and the validation rule used."""
    X, y = _split(raw, "train")
    X_test, y_test = _split(raw, "t10k")
    n_val = val_rows(len(X), params["official_train_rows"], params["val_rows"])
    arrays = {
        "X_train": X[:-n_val], "y_train": y[:-n_val],
        "X_val": X[-n_val:], "y_val": y[-n_val:],
        "X_test": X_test, "y_test": y_test,
    }
    save_npz_atomic(out / OUTPUT, arrays)
    return {
        "outputs": [OUTPUT],
        "counts": {"train": len(X) - n_val, "val": n_val, "test": len(X_test)},
        "val_rule": f"last {n_val} of {len(X)} official train rows",
    }

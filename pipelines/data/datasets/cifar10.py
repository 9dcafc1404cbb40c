"""CIFAR-10: python batches -> ``cifar10.npz``.

``X_*`` float32 ``(N, 3, 32, 32)`` channel first, raw pixel values 0..255 (CS231n style: no scaling,
and the mean is NOT subtracted; ``mean_image`` (3, 32, 32) float32 is the mean of the train split only,
for the consumer to subtract). ``y_*`` int64. Train + val = data_batch_1..5 in order; val = the last
rows (official train rows 49,000..49,999; the same share of a subset). Test = test_batch.
``label_names`` holds the 10 class names from batches.meta. Row counts are read from the files.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from pipelines.data.formats.cifar import read_batch, read_label_names
from pipelines.data.npz import save_npz_atomic
from pipelines.data.splits import val_rows

__all__ = ["build", "OUTPUT"]

OUTPUT = "cifar10.npz"
_DIR = "cifar-10-batches-py"


def _stack(paths: list[Path]) -> tuple[np.ndarray, np.ndarray]:
    """Read batches into one preallocated float32 array (no second copy of the data)."""
    batches = [read_batch(p) for p in paths]
    X = np.empty((sum(len(b[1]) for b in batches), 3, 32, 32), dtype=np.float32)
    row = 0
    for data, labels in batches:
        X[row: row + len(labels)] = data
        row += len(labels)
    return X, np.concatenate([b[1] for b in batches])


def build(raw: Path, params: dict[str, Any], seed: int, out: Path) -> dict[str, Any]:
    """Write ``out/cifar10.npz``; returns the split counts and the validation rule used."""
    folder = raw / _DIR
    X, y = _stack([folder / f"data_batch_{i}" for i in range(1, 6)])
    X_test, y_test = _stack([folder / "test_batch"])
    n_val = val_rows(len(X), params["official_train_rows"], params["val_rows"])
    X_train = X[:-n_val]
    arrays = {
        "X_train": X_train, "y_train": y[:-n_val],
        "X_val": X[-n_val:], "y_val": y[-n_val:],
        "X_test": X_test, "y_test": y_test,
        "mean_image": X_train.mean(axis=0, dtype=np.float64).astype(np.float32),
        "label_names": np.array(read_label_names(folder / "batches.meta")),
    }
    save_npz_atomic(out / OUTPUT, arrays)
    return {
        "outputs": [OUTPUT],
        "counts": {"train": len(X_train), "val": n_val, "test": len(X_test)},
        "val_rule": f"last {n_val} of {len(X)} official train rows",
        "pixel_scale": "raw 0..255 as float32, mean not subtracted",
    }

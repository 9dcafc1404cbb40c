"""Loaders of the prepared datasets, used by students' notebooks and graders alike.

They read ``data/prepared`` (``paths.prepared_dir()``, which honours ``DEEPGRADE_DATA_DIR``) or the
folder passed as ``data_dir`` (the grader's sandbox passes its read-only copy). A missing file is a
``DataError`` naming the ``dvc repro`` stage that makes it. h5py is imported only when COCO is loaded.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from pipelines.errors import DataError
from pipelines.paths import prepared_dir

__all__ = ["load_mnist", "load_cifar10", "load_coco_captions"]


def _folder(data_dir: str | Path | None) -> Path:
    return Path(data_dir) if data_dir is not None else prepared_dir()


def _require(path: Path, stage: str) -> Path:
    if not path.exists():
        raise DataError(f"{path} is missing: run `dvc repro {stage}` (or pass data_dir= pointing at prepared data)")
    return path


def _load_npz(path: Path, stage: str) -> dict[str, np.ndarray]:
    try:
        with np.load(_require(path, stage), allow_pickle=False) as data:
            return {key: data[key] for key in data.files}
    except (OSError, ValueError) as exc:
        raise DataError(f"{path}: unreadable ({exc}); run `dvc repro {stage}` again") from exc


def load_mnist(data_dir: str | Path | None = None) -> dict[str, np.ndarray]:
    """MNIST from ``mnist.npz``.

    Keys: ``X_train``/``X_val``/``X_test`` float32 ``(N, 784)`` in [0, 1]; ``y_*`` int64 in 0..9.
    Val = the last rows of the official train set; test = t10k. Keys withheld by a grader are absent.
    """
    return _load_npz(_folder(data_dir) / "mnist.npz", "prepare_mnist")


def load_cifar10(data_dir: str | Path | None = None) -> dict[str, np.ndarray]:
    """CIFAR-10 from ``cifar10.npz``.

    Keys: ``X_train``/``X_val``/``X_test`` float32 ``(N, 3, 32, 32)`` with raw values 0..255 (mean
    not subtracted), ``y_*`` int64, ``mean_image`` float32 ``(3, 32, 32)`` (train split only),
    ``label_names`` (10,) str.
    """
    return _load_npz(_folder(data_dir) / "cifar10.npz", "prepare_cifar10")


def load_coco_captions(data_dir: str | Path | None = None) -> dict[str, Any]:
    """COCO captioning from ``coco/captions.h5`` and ``coco/vocab.json`` (CS231n's ``load_coco_data`` keys).

    Per split (``train``, ``val``): ``{split}_captions`` int64 ``(N, 17)``, ``{split}_image_idxs`` int64
    ``(N,)`` indexing ``{split}_urls`` (str) and ``{split}_image_ids`` (int64), and
    ``{split}_features`` float32 ``(M, D)`` ONLY when the prepared data holds real image features.
    Plus ``idx_to_word`` (list) and ``word_to_idx`` (dict) with ``<NULL>=0, <START>=1, <END>=2, <UNK>=3``.
    """
    import h5py

    folder = _folder(data_dir) / "coco"
    h5_path = _require(folder / "captions.h5", "prepare_coco")
    vocab_path = _require(folder / "vocab.json", "prepare_coco")
    out: dict[str, Any] = {}
    try:
        with h5py.File(h5_path, "r") as h5:
            for key, dataset in h5.items():
                out[key] = dataset.asstr()[()] if h5py.check_string_dtype(dataset.dtype) else dataset[()]
        vocab = json.loads(vocab_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise DataError(f"{folder}: unreadable prepared COCO data ({exc}); run `dvc repro prepare_coco` again") from exc
    for key in [k for k in out if k.endswith("_urls")]:
        out[key] = np.asarray(out[key], dtype=str)
    out["idx_to_word"] = list(vocab["idx_to_word"])
    out["word_to_idx"] = dict(vocab["word_to_idx"])
    return out

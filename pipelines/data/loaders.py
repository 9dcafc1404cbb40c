"""Loaders of the prepared datasets, used by students' notebooks and graders alike.

They read ``data/prepared`` (``paths.prepared_dir()``, which honours ``DEEPGRADE_DATA_DIR``) or the
folder passed as ``data_dir`` (the grader's sandbox passes its read-only copy). A missing file is a
``DataError`` naming the ``dvc repro`` stage that makes it. h5py is imported only when COCO is loaded.

In the grader's copy, what the graders hold out (``heldout.json`` there lists it) is simply absent:
the loaders return everything else, and asking for a held-out key or file says it is held out.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from pipelines.errors import DataError
from pipelines.paths import prepared_dir

__all__ = ["load_mnist", "load_cifar10", "load_coco_captions"]

HELDOUT_FILE = "heldout.json"  # in a grader's data view: {dataset: [held-out entries]}


class Loaded(dict):
    """A loader's result: a dict whose missing keys say when the grader held them out."""

    def __init__(self, values: dict[str, Any], dataset: str, withheld: set[str]) -> None:
        super().__init__(values)
        self.dataset, self.withheld = dataset, withheld

    def __missing__(self, key: str) -> Any:
        if key in self.withheld:
            raise KeyError(f"{key!r} of {self.dataset} is held out by the grader: your notebook cannot read it "
                           "(the hidden graders use it)")
        raise KeyError(key)


def _folder(data_dir: str | Path | None) -> Path:
    return Path(data_dir) if data_dir is not None else prepared_dir()


def _withheld(folder: Path, dataset: str) -> list[str]:
    """The held-out entries of ``dataset`` in a grader's data view (none elsewhere)."""
    path = folder / HELDOUT_FILE
    return list(json.loads(path.read_text()).get(dataset, [])) if path.is_file() else []


def _require(path: Path, stage: str, withheld: Sequence[str] = ()) -> Path:
    if not path.exists():
        if path.name in withheld:
            raise DataError(f"{path.name} is held out by the grader: your notebook cannot read it (the hidden graders use it)")
        raise DataError(f"{path} is missing: run `dvc repro {stage}` (or pass data_dir= pointing at prepared data)")
    return path


def _load_npz(folder: Path, dataset: str) -> Loaded:
    path, stage = folder / f"{dataset}.npz", f"prepare_{dataset}"
    try:
        with np.load(_require(path, stage), allow_pickle=False) as data:
            return Loaded({key: data[key] for key in data.files}, dataset, set(_withheld(folder, dataset)))
    except (OSError, ValueError) as exc:
        raise DataError(f"{path}: unreadable ({exc}); run `dvc repro {stage}` again") from exc


def load_mnist(data_dir: str | Path | None = None) -> Loaded:
    """MNIST from ``mnist.npz``.

    Keys: ``X_train``/``X_val``/``X_test`` float32 ``(N, 784)`` in [0, 1]; ``y_*`` int64 in 0..9.
    Val = the last rows of the official train set; test = t10k. Keys withheld by a grader are absent.
    """
    return _load_npz(_folder(data_dir), "mnist")


def load_cifar10(data_dir: str | Path | None = None) -> Loaded:
    """CIFAR-10 from ``cifar10.npz``.

    Keys: ``X_train``/``X_val``/``X_test`` float32 ``(N, 3, 32, 32)`` with raw values 0..255 (mean
    not subtracted), ``y_*`` int64, ``mean_image`` float32 ``(3, 32, 32)`` (train split only),
    ``label_names`` (10,) str.
    """
    return _load_npz(_folder(data_dir), "cifar10")


def load_coco_captions(data_dir: str | Path | None = None) -> Loaded:
    """COCO captioning from ``coco/captions.h5`` and ``coco/vocab.json`` (CS231n's ``load_coco_data`` keys).

    Per split (``train``, ``val``, ``test``; no image in two): ``{split}_captions`` int64 ``(N, 17)``,
    ``{split}_image_idxs`` int64 ``(N,)`` indexing ``{split}_urls`` (str) and ``{split}_image_ids``
    (int64), and ``{split}_features`` float32 ``(M, D)`` ONLY when the prepared data holds real image
    features (``pipelines.data.standin.image_inputs`` gives a model's inputs either way).
    Plus ``idx_to_word`` (list) and ``word_to_idx`` (dict) with ``<NULL>=0, <START>=1, <END>=2, <UNK>=3``.
    What a grader holds out (e.g. ``val_captions``) is absent, and asking for it says so.
    """
    import h5py

    withheld = _withheld(_folder(data_dir), "coco")
    folder = _folder(data_dir) / "coco"
    h5_path = _require(folder / "captions.h5", "prepare_coco", withheld)
    vocab_path = _require(folder / "vocab.json", "prepare_coco", withheld)
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
    if "idx_to_word" in vocab:
        out["idx_to_word"] = list(vocab["idx_to_word"])
    if "word_to_idx" in vocab:
        out["word_to_idx"] = dict(vocab["word_to_idx"])
    return Loaded(out, "coco", {key for _, _, key in (entry.partition(":") for entry in withheld) if key})

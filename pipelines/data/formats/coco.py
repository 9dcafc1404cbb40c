"""Readers of COCO caption sources: official caption JSON files and the CS231n ``coco_captioning`` bundle.

Official JSON (``captions_val2014.json`` and subsets in the same layout): ``images`` records with
``id``, ``file_name``, ``flickr_url``/``coco_url``, and ``annotations`` with ``id``, ``image_id``,
``caption``. Several files may be given (e.g. disjoint subsets, or a union and its parts): records are
merged by id, and the same id carrying different content is an error.

CS231n bundle: ``coco2014_captions.h5`` (``train_captions``/``val_captions`` (N, 17) word indices and
``train_image_idxs``/``val_image_idxs``), ``coco2014_vocab.json``, ``{split}2014_urls.txt`` and
optional ``{split}2014_vgg16_fc7_pca.h5`` (dataset ``features``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from pipelines.errors import DataError

__all__ = ["CaptionRecords", "read_caption_jsons", "read_vocab", "read_bundle_split", "read_lines"]


@dataclass
class CaptionRecords:
    """Merged caption records: ``images`` id -> url, ``captions`` list of (annotation id, image id, text)."""

    images: dict[int, str]
    captions: list[tuple[int, int, str]]


def _load_json(path: Path) -> Any:
    try:
        with open(path, encoding="utf-8") as fh:
            return json.load(fh)
    except (ValueError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: not valid JSON ({exc}); the file is truncated or corrupt, fetch it again") from exc


def read_caption_jsons(paths: list[Path]) -> CaptionRecords:
    """Read and merge official-layout caption JSON files (sorted by id for a stable order)."""
    images: dict[int, str] = {}
    captions: dict[int, tuple[int, str]] = {}
    for path in paths:
        doc = _load_json(path)
        if not isinstance(doc, dict) or not isinstance(doc.get("images"), list) or not isinstance(doc.get("annotations"), list):
            raise DataError(f"{path}: expected COCO caption JSON with 'images' and 'annotations' lists")
        try:
            for img in doc["images"]:
                url = img.get("flickr_url") or img.get("coco_url") or ""
                if images.setdefault(int(img["id"]), url) != url:
                    raise DataError(f"{path}: image {img['id']} conflicts with the same id in another caption file")
            for ann in doc["annotations"]:
                value = (int(ann["image_id"]), str(ann["caption"]))
                if captions.setdefault(int(ann["id"]), value) != value:
                    raise DataError(f"{path}: annotation {ann['id']} conflicts with the same id in another caption file")
        except (KeyError, TypeError, ValueError) as exc:
            raise DataError(f"{path}: malformed COCO record ({type(exc).__name__}: {exc})") from exc
    orphans = {img for img, _ in captions.values()} - set(images)
    if orphans:
        raise DataError(f"{paths[0].parent}: {len(orphans)} captions refer to images not listed, e.g. {min(orphans)}")
    return CaptionRecords(images, [(aid, img, text) for aid, (img, text) in sorted(captions.items())])


def read_vocab(path: Path) -> list[str]:
    """``idx_to_word`` of a CS231n vocab JSON, checked for consistency with its ``word_to_idx``."""
    doc = _load_json(path)
    try:
        idx_to_word = list(doc["idx_to_word"])
        word_to_idx = dict(doc["word_to_idx"])
    except (KeyError, TypeError) as exc:
        raise DataError(f"{path}: expected 'idx_to_word' and 'word_to_idx'") from exc
    if any(word_to_idx.get(w) != i for i, w in enumerate(idx_to_word)) or len(word_to_idx) != len(idx_to_word):
        raise DataError(f"{path}: word_to_idx is not the inverse of idx_to_word")
    return idx_to_word


def read_lines(path: Path) -> list[str]:
    """Lines of a text file (url and image lists), without newlines."""
    return path.read_text(encoding="utf-8").splitlines()


def read_bundle_split(folder: Path, split: str) -> dict[str, np.ndarray]:
    """One split of the CS231n bundle: ``captions`` (N, T) int64, ``image_idxs`` (N,) int64, and
    ``features`` (M, D) float32 when ``{split}2014_vgg16_fc7_pca.h5`` exists."""
    import h5py

    path = folder / "coco2014_captions.h5"
    out: dict[str, np.ndarray] = {}
    try:
        with h5py.File(path, "r") as h5:
            out["captions"] = np.asarray(h5[f"{split}_captions"], dtype=np.int64)
            out["image_idxs"] = np.asarray(h5[f"{split}_image_idxs"], dtype=np.int64)
        feats = folder / f"{split}2014_vgg16_fc7_pca.h5"
        if feats.is_file():
            path = feats
            with h5py.File(feats, "r") as h5:
                out["features"] = np.asarray(h5["features"], dtype=np.float32)
    except (OSError, KeyError) as exc:
        raise DataError(f"{path}: unreadable or incomplete h5 ({exc}); fetch it again") from exc
    return out

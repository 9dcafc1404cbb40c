"""COCO captioning -> ``data/prepared/coco/`` (``captions.h5`` + ``vocab.json``).

Two raw sources, one output:

- the CS231n bundle (``coco_captioning/coco2014_captions.h5`` present): its encoded captions, its
  official train2014/val2014 split, vocab, urls and, when present, VGG16 fc7 PCA features;
- official caption JSON (``coco_captioning/captions_*.json``; the CI mirror has a real 9,600-image
  val2014 subset): tokenised as CS231n does (``pipelines.data.captions``), aligned to the CS231n
  vocabulary when ``coco2014_vocab.json`` is there (other words -> ``<UNK>``), else a vocabulary of the
  most frequent train words; split train/val BY IMAGE with a permutation seeded by ``params.seed``.

Either way the validation images are then split BY IMAGE once more (seeded permutation,
``test_fraction`` of them): a ``val`` split that notebooks see and a ``test`` split that a unit holds
out from its sandbox (``assignment.yaml: heldout``, e.g. ``captions.h5:test_captions``) and scores on.
No image, and so no caption, is in two splits.

``captions.h5`` holds per split (``train``, ``val``, ``test``) ``{split}_captions`` int64 (N, 17),
``{split}_image_idxs`` int64 (N,) (row in that split's image lists), ``{split}_image_ids`` int64 (COCO
ids, -1 when unknown) and ``{split}_urls``; ``{split}_features`` float32 only when real features
exist. Its ``features`` attribute says ``"absent"`` otherwise: features are never made up (stand-in
codes for a model's input are made from the image ids where needed: ``pipelines.data.standin``).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import numpy as np

from pipelines.atomic import atomic_dir
from pipelines.data.captions import SPECIAL_TOKENS, build_vocab, encode_captions
from pipelines.data.formats.coco import CaptionRecords, read_bundle_split, read_caption_jsons, read_lines, read_vocab
from pipelines.errors import DataError

__all__ = ["build", "OUTPUT_DIR", "CAPTIONS_H5", "VOCAB_JSON"]

OUTPUT_DIR = "coco"
CAPTIONS_H5 = "captions.h5"
VOCAB_JSON = "vocab.json"
_DIR = "coco_captioning"
SPLITS = ("train", "val")  # the sources' splits; ``test`` is split off ``val`` (_split_off_test)
PER_IMAGE = ("urls", "image_ids", "features")  # arrays with one row per image of a split


def _check_vocab(idx_to_word: list[str], path: Path | str) -> dict[str, int]:
    if tuple(idx_to_word[:4]) != SPECIAL_TOKENS:
        raise DataError(f"{path}: the vocabulary must start with {', '.join(SPECIAL_TOKENS)}, found {idx_to_word[:4]}")
    return {w: i for i, w in enumerate(idx_to_word)}


def _image_id(line: str) -> int:
    match = re.search(r"(\d+)\.jpg$", line.strip())
    return int(match.group(1)) if match else -1


def _from_bundle(folder: Path, length: int) -> tuple[dict[str, np.ndarray], list[str], dict[str, Any]]:
    idx_to_word = read_vocab(folder / "coco2014_vocab.json")
    _check_vocab(idx_to_word, folder / "coco2014_vocab.json")
    arrays: dict[str, np.ndarray] = {}
    for split in SPLITS:
        part = read_bundle_split(folder, split)
        if part["captions"].shape[1] != length:
            tokens = part["captions"].shape[1]
            raise DataError(f"{folder / 'coco2014_captions.h5'}: {split}_captions have {tokens} tokens, expected {length}")
        for key, value in part.items():
            arrays[f"{split}_{key}"] = value
        urls_path, images_path = folder / f"{split}2014_urls.txt", folder / f"{split}2014_images.txt"
        urls = read_lines(urls_path) if urls_path.is_file() else []
        ids = [_image_id(x) for x in read_lines(images_path)] if images_path.is_file() else []
        arrays[f"{split}_urls"] = np.array(urls, dtype=object)
        arrays[f"{split}_image_ids"] = np.array(ids, dtype=np.int64)
    features = "vgg16_fc7_pca" if all(f"{s}_features" in arrays for s in SPLITS) else "absent"
    if features == "absent":
        for split in SPLITS:
            arrays.pop(f"{split}_features", None)
    facts = {"features": features, "split": "CS231n bundle (train2014 / val2014)",
             "vocab": {"source": "coco2014_vocab.json", "size": len(idx_to_word)}}
    return arrays, idx_to_word, facts


def _split_images(records: CaptionRecords, val_fraction: float, seed: int) -> dict[str, np.ndarray]:
    ids = np.array(sorted({img for _, img, _ in records.captions}), dtype=np.int64)
    perm = np.random.default_rng(seed).permutation(len(ids))
    n_val = int(round(val_fraction * len(ids)))
    if not 0 < n_val < len(ids):
        raise DataError(f"coco: {len(ids)} captioned images cannot be split with val_fraction={val_fraction}")
    return {"train": np.sort(ids[perm[n_val:]]), "val": np.sort(ids[perm[:n_val]])}


def _split_off_test(arrays: dict[str, np.ndarray], test_fraction: float, seed: int) -> None:
    """Move ``test_fraction`` of the val IMAGES (a permutation seeded by ``seed``), with all their
    captions, into a ``test`` split: its own image rows (urls, ids, features) and ``image_idxs``
    renumbered into them; the val split keeps the other images, renumbered likewise. A per-image
    array that is empty (a bundle without its url or image list) stays empty in both."""
    val = {key[len("val_"):]: arrays.pop(key) for key in [k for k in arrays if k.startswith("val_")]}
    idxs = val["image_idxs"]
    n_images = max([int(idxs.max(initial=-1)) + 1, *(len(val[k]) for k in PER_IMAGE if k in val)])
    n_test = int(round(test_fraction * n_images))
    if not 0 < n_test < n_images:
        raise DataError(f"coco: {n_images} validation images cannot be split with test_fraction={test_fraction}")
    perm = np.random.default_rng([seed, 1]).permutation(n_images)
    for split, rows in (("val", np.sort(perm[n_test:])), ("test", np.sort(perm[:n_test]))):
        new_row = np.full(n_images, -1, dtype=np.int64)
        new_row[rows] = np.arange(len(rows))
        mine = new_row[idxs] >= 0
        arrays[f"{split}_captions"] = val["captions"][mine]
        arrays[f"{split}_image_idxs"] = new_row[idxs[mine]]
        for key in PER_IMAGE:
            if key in val:
                arrays[f"{split}_{key}"] = val[key][rows] if len(val[key]) else val[key]


def _counts(arrays: dict[str, np.ndarray]) -> dict[str, dict[str, int]]:
    """Captions and images per split (images: the rows of the image lists, or the largest index + 1)."""
    return {split: {"captions": len(arrays[f"{split}_captions"]),
                    "images": max(int(arrays[f"{split}_image_idxs"].max(initial=-1)) + 1, len(arrays[f"{split}_image_ids"]))}
            for split in (*SPLITS, "test")}


def _from_json(folder: Path, params: dict[str, Any], seed: int) -> tuple[dict[str, np.ndarray], list[str], dict[str, Any]]:
    sources = sorted(folder.glob("captions_*.json"))
    records = read_caption_jsons(sources)
    split_ids = _split_images(records, params["val_fraction"], seed)
    vocab_path = folder / "coco2014_vocab.json"
    if vocab_path.is_file():
        idx_to_word = read_vocab(vocab_path)
        vocab = {"source": "coco2014_vocab.json (CS231n)", "size": len(idx_to_word)}
    else:
        train = set(split_ids["train"].tolist())
        idx_to_word = build_vocab((c for _, img, c in records.captions if img in train), params["vocab_size"])
        vocab = {"source": f"the {params['vocab_size']} most frequent train words", "size": len(idx_to_word)}
    word_to_idx = _check_vocab(idx_to_word, vocab_path)
    arrays: dict[str, np.ndarray] = {}
    truncated = unknown = 0
    for split, ids in split_ids.items():
        row_of = {img: row for row, img in enumerate(ids.tolist())}
        mine = [(img, text) for _, img, text in records.captions if img in row_of]
        codes, n_trunc, n_unk = encode_captions([t for _, t in mine], word_to_idx, params["max_length"])
        truncated, unknown = truncated + n_trunc, unknown + n_unk
        arrays[f"{split}_captions"] = codes
        arrays[f"{split}_image_idxs"] = np.array([row_of[img] for img, _ in mine], dtype=np.int64)
        arrays[f"{split}_image_ids"] = ids
        arrays[f"{split}_urls"] = np.array([records.images[i] for i in ids.tolist()], dtype=object)
    facts = {
        "features": "absent",
        "split": f"by image, seeded permutation (seed {seed}), val_fraction {params['val_fraction']}",
        "caption_files": [p.name for p in sources],
        "vocab": vocab,
        "captions_truncated": truncated,
        "unknown_words": unknown,
    }
    return arrays, idx_to_word, facts


def build(raw: Path, params: dict[str, Any], seed: int, out: Path) -> dict[str, Any]:
    """Write ``out/coco/captions.h5`` and ``out/coco/vocab.json``; returns counts and source facts."""
    import h5py

    folder = raw / _DIR
    if (folder / "coco2014_captions.h5").is_file():
        arrays, idx_to_word, facts = _from_bundle(folder, params["max_length"])
    else:
        arrays, idx_to_word, facts = _from_json(folder, params, seed)
    _split_off_test(arrays, params["test_fraction"], seed)
    facts["split"] += f"; test: {params['test_fraction']} of the val images, by image (seeded permutation)"
    facts["counts"] = _counts(arrays)
    with atomic_dir(out / OUTPUT_DIR) as tmp:
        with h5py.File(tmp / CAPTIONS_H5, "w") as h5:
            for key, value in sorted(arrays.items()):
                if value.dtype == object:
                    h5.create_dataset(key, data=value.astype(str).astype(object), dtype=h5py.string_dtype())
                else:
                    h5.create_dataset(key, data=value)
            h5.attrs["features"] = facts["features"]
            h5.attrs["max_length"] = params["max_length"]
        vocab = {"idx_to_word": idx_to_word, "word_to_idx": {w: i for i, w in enumerate(idx_to_word)}}
        (tmp / VOCAB_JSON).write_text(json.dumps(vocab, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    return {"outputs": [f"{OUTPUT_DIR}/{CAPTIONS_H5}", f"{OUTPUT_DIR}/{VOCAB_JSON}"], **facts}

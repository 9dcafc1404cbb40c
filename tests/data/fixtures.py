"""Tiny datasets in the official file formats, written into a test's tmp_path (nothing downloaded).

- IDX gz (MNIST): big-endian magic + sizes, then unsigned bytes, gzip-compressed;
- CIFAR-10 python batches: pickles as Python 2 wrote them (protocol 2, byte-string keys and data
  emitted as SHORT_BINSTRING/BINSTRING, which Python 3 reads as ``bytes`` with encoding="bytes");
- COCO caption JSON in the official layout;
- a mirror folder in the official layout with a MANIFEST.json declaring each file's sha256.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import pickle
import struct
import tarfile
from pathlib import Path
from typing import Any

import numpy as np


def sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def md5(path: Path) -> str:
    return hashlib.md5(Path(path).read_bytes()).hexdigest()


def write_idx_gz(path: Path, array: np.ndarray, magic: int | None = None) -> Path:
    """Write a uint8 array as gzipped IDX (magic defaults to 0x0800 + ndim)."""
    array = np.ascontiguousarray(array, dtype=np.uint8)
    magic = 0x0800 + array.ndim if magic is None else magic
    header = struct.pack(f">i{array.ndim}i", magic, *array.shape)
    path.parent.mkdir(parents=True, exist_ok=True)
    with gzip.open(path, "wb") as fh:
        fh.write(header + array.tobytes())
    return path


class _Py2Pickler(pickle._Pickler):  # type: ignore[name-defined]
    """Pickles ``bytes`` as Python 2 ``str`` opcodes, as the original CIFAR-10 files do."""

    dispatch = pickle._Pickler.dispatch.copy()  # type: ignore[attr-defined]

    def save_py2_str(self, obj: bytes) -> None:
        if len(obj) < 256:
            self.write(pickle.SHORT_BINSTRING + bytes([len(obj)]) + obj)
        else:
            self.write(pickle.BINSTRING + struct.pack("<i", len(obj)) + obj)
        self.memoize(obj)

    dispatch[bytes] = save_py2_str


def py2_pickle(obj: Any) -> bytes:
    buf = io.BytesIO()
    _Py2Pickler(buf, protocol=2).dump(obj)
    return buf.getvalue()


def write_cifar_batch(path: Path, data: np.ndarray, labels: list[int]) -> Path:
    """A batch like the mirror's: b'batch_label', b'labels', b'data' (N, 3072) uint8, no b'filenames'."""
    path.parent.mkdir(parents=True, exist_ok=True)
    obj = {b"batch_label": b"training batch 1 of 5", b"labels": list(labels), b"data": np.ascontiguousarray(data, np.uint8)}
    path.write_bytes(py2_pickle(obj))
    return path


LABEL_NAMES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]


def write_cifar_meta(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    obj = {b"num_cases_per_batch": 10000, b"label_names": [n.encode() for n in LABEL_NAMES], b"num_vis": 3072}
    path.write_bytes(py2_pickle(obj))
    return path


def write_coco_json(path: Path, images: list[tuple[int, str]], annotations: list[tuple[int, int, str]]) -> Path:
    """Official caption JSON layout: ``images`` (id, flickr url) and ``annotations`` (id, image_id, caption)."""
    doc = {
        "info": {"description": "test"},
        "licenses": [],
        "images": [
            {"id": i, "file_name": f"COCO_val2014_{i:012d}.jpg", "flickr_url": url,
             "coco_url": f"http://images.cocodataset.org/val2014/COCO_val2014_{i:012d}.jpg"}
            for i, url in images
        ],
        "annotations": [{"id": a, "image_id": i, "caption": c} for a, i, c in annotations],
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc))
    return path


def write_vocab(path: Path, words: list[str]) -> Path:
    idx_to_word = ["<NULL>", "<START>", "<END>", "<UNK>", *words]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"idx_to_word": idx_to_word, "word_to_idx": {w: i for i, w in enumerate(idx_to_word)}}))
    return path


def mnist_arrays(rng: np.random.Generator, n_train: int = 60, n_test: int = 12) -> dict[str, np.ndarray]:
    return {
        "train-images-idx3-ubyte.gz": rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
        "train-labels-idx1-ubyte.gz": rng.integers(0, 10, n_train, dtype=np.uint8),
        "t10k-images-idx3-ubyte.gz": rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
        "t10k-labels-idx1-ubyte.gz": rng.integers(0, 10, n_test, dtype=np.uint8),
    }


# 60 train rows in uneven batches (like the mirror's 1,017-1,285): the 1/50 val share is 1 row.
CIFAR_ROWS = {"data_batch_1": 11, "data_batch_2": 13, "data_batch_3": 9, "data_batch_4": 12, "data_batch_5": 15, "test_batch": 3}


def cifar_arrays(rng: np.random.Generator) -> dict[str, tuple[np.ndarray, list[int]]]:
    return {
        name: (rng.integers(0, 256, (n, 3072), dtype=np.uint8), rng.integers(0, 10, n).tolist())
        for name, n in CIFAR_ROWS.items()
    }


COCO_CAPTIONS = [
    (1, 10, "A man riding a horse."),
    (2, 10, "A MAN on a horse, in a field!"),
    (3, 11, "Two dogs play with a frisbee"),
    (4, 12, "a cat sits on a zebra"),
    (5, 13, "one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen"),
    (6, 14, "A dog and a man"),
    (7, 15, "a horse in a field"),
    (8, 16, "a man with a dog"),
    (9, 17, "a cat on a mat"),
    (10, 18, "the dog is on the field"),
    (11, 19, "a man on the horse"),
]


def make_mirror(root: Path, rng: np.random.Generator, declare: bool = True) -> dict[str, Any]:
    """Write a mirror in the official layout; returns the arrays written (for expected values)."""
    arrays: dict[str, Any] = {"mnist": mnist_arrays(rng), "cifar10": cifar_arrays(rng)}
    for name, array in arrays["mnist"].items():
        write_idx_gz(root / "mnist" / name, array)
    for name, (data, labels) in arrays["cifar10"].items():
        write_cifar_batch(root / "cifar-10-batches-py" / name, data, labels)
    write_cifar_meta(root / "cifar-10-batches-py" / "batches.meta")
    images = sorted({img for _, img, _ in COCO_CAPTIONS})
    urls = [(i, f"http://farm.example/{i}.jpg") for i in images]
    half = len(COCO_CAPTIONS) // 2
    first_imgs = {img for _, img, _ in COCO_CAPTIONS[:half]}
    write_coco_json(root / "coco_captioning" / "captions_val2014_subsetA.json",
                    [u for u in urls if u[0] in first_imgs], COCO_CAPTIONS[:half])
    write_coco_json(root / "coco_captioning" / "captions_val2014_subsetB.json",
                    [u for u in urls if u[0] not in first_imgs], COCO_CAPTIONS[half:])
    write_coco_json(root / "coco_captioning" / "captions_val2014_union.json", urls, COCO_CAPTIONS)
    write_vocab(root / "coco_captioning" / "coco2014_vocab.json", ["a", "man", "on", "horse", "dog", "cat", "field"])
    arrays["coco"] = {"images": images, "urls": dict(urls)}
    if declare:
        write_manifest(root)
    return arrays


def write_manifest(root: Path, skip: tuple[str, ...] = ()) -> None:
    """Declare every data file of the mirror (as a subset) in MANIFEST.json, except ``skip``."""
    files = {}
    for path in sorted(p for p in root.rglob("*") if p.is_file() and p.name != "MANIFEST.json"):
        rel = path.relative_to(root).as_posix()
        if rel not in skip:
            files[rel] = {"sha256": sha256(path), "bytes": path.stat().st_size, "complete": False}
    (root / "MANIFEST.json").write_text(json.dumps({"subset": True, "files": files}))


def make_tar_gz(path: Path, members: dict[str, bytes]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(path, "w:gz") as tar:
        for name, payload in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(payload)
            tar.addfile(info, io.BytesIO(payload))
    return path

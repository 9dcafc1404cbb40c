"""Where each dataset comes from: official URLs, pinned checksums and the official file layout.

This table is the single source of truth for what a verified raw file is. The raw folder
``data/raw/<dataset>/`` uses the same layout as a mirror (``DEEPGRADE_DATA_MIRROR``) below its
``mirror_prefix``, so prepare never needs to know where a file came from.

Checksum provenance (recorded here so a reviewer can re-check them):

- MNIST: sha256 as pinned by TFDS and many downstream projects; md5 as in torchvision. The files are
  served by torchvision's maintained mirror (the original yann.lecun.com host is unreliable).
- CIFAR-10: archive md5 from the dataset page (https://www.cs.toronto.edu/~kriz/cifar.html); archive
  sha256 as pinned by ``keras.datasets.cifar10``; the md5 of each extracted batch as in torchvision.
- COCO 2014 annotations: sha1 ``8e0b9df5...`` as checked by MLPerf-style COCO download scripts; no sha256
  is published, so the sha256 is recorded at download time, not pinned.
- CS231n ``coco_captioning.zip``: no checksum is published anywhere we could verify. Fetch refuses
  to download it unless ``params.yaml: data.coco.bundle_sha256`` pins one (set it after checking a copy
  yourself); without it the official COCO caption annotations are used instead.
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["RawFile", "Download", "DatasetSource", "SOURCES", "source_for", "coco_bundle_download", "COCO_BUNDLE_URL"]


@dataclass(frozen=True)
class RawFile:
    """One file of the official layout, as it lies in ``data/raw/<dataset>/<path>``.

    ``digests`` maps a hashlib name to the pinned hex digest of the official file (may be empty
    when none is published: such a file is only accepted from a mirror that declares it).
    ``records`` is the official number of records (images, labels), when meaningful.
    """

    path: str
    digests: dict[str, str] = field(default_factory=dict)
    records: int | None = None
    required: bool = True


@dataclass(frozen=True)
class Download:
    """One official download: a plain file, or an archive whose ``members`` land in the raw layout.

    ``members`` maps the archive member name (or, for ``kind == "file"``, the file name) to the
    raw path it is written to. ``digests`` are the pinned checksums of the downloaded bytes.
    """

    url: str
    digests: dict[str, str]
    size: int | None
    kind: str
    members: dict[str, str]


@dataclass(frozen=True)
class DatasetSource:
    """The files a dataset consists of and how to obtain them.

    ``mirror_prefix``: folder of the mirror holding the raw layout (``"mnist/"`` for MNIST, ``""``
    when the raw paths already start with the official folder, as ``cifar-10-batches-py/``).
    ``mirror_extra``: glob of further files taken from a mirror when its MANIFEST.json declares them
    (COCO caption subsets under non-official names).
    """

    name: str
    files: tuple[RawFile, ...]
    downloads: tuple[Download, ...]
    mirror_prefix: str = ""
    mirror_extra: str | None = None

    def file(self, path: str) -> RawFile | None:
        return next((f for f in self.files if f.path == path), None)


_MNIST_URL = "https://ossci-datasets.s3.amazonaws.com/mnist/"
_MNIST = (
    # name, md5, sha256, bytes, records
    ("train-images-idx3-ubyte.gz", "f68b3c2dcbeaaa9fbdd348bbdeb94873",
     "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609", 9912422, 60000),
    ("train-labels-idx1-ubyte.gz", "d53e105ee54ea40749a09fcbcd1e9432",
     "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c", 28881, 60000),
    ("t10k-images-idx3-ubyte.gz", "9fb629c4189551a2d022fa330f9573f3",
     "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6", 1648877, 10000),
    ("t10k-labels-idx1-ubyte.gz", "ec29112dd5afa0611ce80d1b7f02629c",
     "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6", 4542, 10000),
)

MNIST = DatasetSource(
    name="mnist",
    files=tuple(RawFile(n, {"md5": md5, "sha256": sha}, records) for n, md5, sha, _, records in _MNIST),
    downloads=tuple(
        Download(_MNIST_URL + n, {"md5": md5, "sha256": sha}, size, "file", {n: n})
        for n, md5, sha, size, _ in _MNIST
    ),
    mirror_prefix="mnist/",
)

_CIFAR_DIR = "cifar-10-batches-py/"
_CIFAR_MEMBERS = (
    ("data_batch_1", "c99cafc152244af753f735de768cd75f", 10000),
    ("data_batch_2", "d4bba439e000b95fd0a9bffe97cbabec", 10000),
    ("data_batch_3", "54ebc095f3ab1f0389bbae665268c751", 10000),
    ("data_batch_4", "634d18415352ddfa80567beed471001a", 10000),
    ("data_batch_5", "482c414d41f54cd18b22e5b47cb7c3cb", 10000),
    ("test_batch", "40351d587109b95175f43aff81a1287e", 10000),
    ("batches.meta", "5ff9c542aee3614f3951f8cda6e48888", None),
)

CIFAR10 = DatasetSource(
    name="cifar10",
    files=tuple(RawFile(_CIFAR_DIR + n, {"md5": md5}, records) for n, md5, records in _CIFAR_MEMBERS),
    downloads=(
        Download(
            "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz",
            {"md5": "c58f30108f718f92721af3b95e74349a",
             "sha256": "6d958be074577803d12ecdefd02955f39262c83c16fe9348329d7fe0b5c001ce"},
            170498071,
            "tar",
            {_CIFAR_DIR + n: _CIFAR_DIR + n for n, _, _ in _CIFAR_MEMBERS},
        ),
    ),
)

COCO_BUNDLE_URL = "http://cs231n.stanford.edu/coco_captioning.zip"
_COCO_DIR = "coco_captioning/"
_COCO_BUNDLE_FILES = (
    "coco2014_captions.h5",
    "coco2014_vocab.json",
    "train2014_urls.txt",
    "val2014_urls.txt",
    "train2014_images.txt",
    "val2014_images.txt",
    "train2014_vgg16_fc7_pca.h5",
    "val2014_vgg16_fc7_pca.h5",
)
_COCO_CAPTION_JSONS = ("captions_train2014.json", "captions_val2014.json")

COCO = DatasetSource(
    name="coco",
    files=tuple(RawFile(_COCO_DIR + n, required=False) for n in _COCO_BUNDLE_FILES + _COCO_CAPTION_JSONS),
    downloads=(
        Download(
            "http://images.cocodataset.org/annotations/annotations_trainval2014.zip",
            {"sha1": "8e0b9df54c175f1688400e98d1a97f292e726870"},
            None,
            "zip",
            {f"annotations/{n}": _COCO_DIR + n for n in _COCO_CAPTION_JSONS},
        ),
    ),
    mirror_extra=_COCO_DIR + "captions_*.json",
)

SOURCES: dict[str, DatasetSource] = {s.name: s for s in (MNIST, CIFAR10, COCO)}


def coco_bundle_download(sha256: str) -> Download:
    """The CS231n bundle as a download, once the caller supplies a sha256 it trusts."""
    return Download(
        COCO_BUNDLE_URL,
        {"sha256": sha256},
        None,
        "zip",
        {f"coco_captioning/{n}": _COCO_DIR + n for n in _COCO_BUNDLE_FILES},
    )


def source_for(dataset: str) -> DatasetSource:
    """The source table entry of ``dataset`` (``mnist``, ``cifar10`` or ``coco``)."""
    try:
        return SOURCES[dataset]
    except KeyError:
        raise KeyError(f"unknown dataset {dataset!r}; known: {', '.join(SOURCES)}") from None

"""Per-image inputs of a captioning model: real CNN features where the prepared COCO data has them,
else stand-in codes, which are NOT image features.

The prepared COCO data has real captions, vocabulary and URLs, but image features only where the
CS231n bundle's VGG16 fc7 PCA files were fetched (the CI mirror has none, and the official fetch
skips the bundle until its checksum is pinned; ``pipelines.data.datasets.coco``). Without them a
captioning model still needs one vector per image, so that the captions of one image share an
input and those of different images do not: ``standin_image_codes`` draws it from a generator
seeded by the COCO image id. Such a code says which image a caption belongs to and nothing about
what the image shows; a model trained on it is a language model whose samples may differ from
image to image only by chance, and its BLEU measures that language model. Whoever shows these
vectors must call them stand-in codes, never features.

Notebooks and graders build the inputs with the same function here, so the grader's test images
get exactly the codes the notebook's model would have seen for them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from pipelines.errors import DataError

__all__ = ["STANDIN_DIM", "image_inputs", "standin_image_codes"]

STANDIN_DIM = 512  # the size of CS231n's PCA-reduced VGG16 features, which the codes stand in for
_SALT = 0x5EED_C0DE  # keeps these generators apart from any other generator seeded by a small integer


def standin_image_codes(image_ids: Any, dim: int = STANDIN_DIM) -> np.ndarray:
    """Stand-in codes for COCO images, one row per id of ``image_ids``: float32 ``(M, dim)``.

    Row ``i`` is ``dim`` standard normal draws of ``numpy.random.default_rng([salt, image_ids[i]])``,
    so an image gets the same code in every notebook, grader and split, and different images get
    independent codes. They carry no information about the images' content. An id of -1 (unknown:
    a bundle without its image list) cannot be given a code.
    """
    ids = np.asarray(image_ids, dtype=np.int64).reshape(-1)
    if ids.size and int(ids.min()) < 0:
        raise DataError("stand-in image codes are seeded by COCO image ids, and some ids are unknown (-1): "
                        "the prepared data lacks the image list ({split}2014_images.txt) of its source")
    codes = np.empty((ids.size, dim), dtype=np.float32)
    for row, image_id in enumerate(ids.tolist()):
        codes[row] = np.random.default_rng([_SALT, image_id]).standard_normal(dim)
    return codes


def image_inputs(data: Mapping[str, Any], split: str, dim: int = STANDIN_DIM) -> tuple[np.ndarray, bool]:
    """``(inputs (M, D) float32, standin)``: what a captioning model gets for each image of ``split``.

    ``data`` is laid out as ``load_coco_captions`` returns it: ``{split}_features`` (real CNN features)
    when the prepared data has them, used as they are (``standin`` False); else stand-in codes of
    ``{split}_image_ids`` (``standin`` True: the model sees no image content). Row ``j`` belongs to
    the image that ``{split}_image_idxs`` calls ``j``.
    """
    features = data.get(f"{split}_features")
    if features is not None:
        return np.asarray(features, dtype=np.float32), False
    return standin_image_codes(data[f"{split}_image_ids"], dim), True

"""Reader of gzipped IDX files (MNIST's format: big-endian header, then raw unsigned bytes).

Header: a 4-byte magic ``0x0000 08 ND`` (type 0x08 = unsigned byte, ND = number of dimensions;
2051 for images with 3 dims, 2049 for labels with 1), then ND big-endian int32 sizes.
"""

from __future__ import annotations

import gzip
import struct
import zlib
from pathlib import Path

import numpy as np

from pipelines.errors import DataError

__all__ = ["read_idx_gz", "IMAGES_MAGIC", "LABELS_MAGIC"]

IMAGES_MAGIC = 2051
LABELS_MAGIC = 2049


def read_idx_gz(path: Path, magic: int) -> np.ndarray:
    """Read a gzipped IDX file of unsigned bytes.

    Returns a uint8 array of the header's shape: ``(N, rows, cols)`` for magic 2051 (images),
    ``(N,)`` for 2049 (labels). Raises ``DataError`` for a corrupt or truncated gzip, a wrong magic
    number, or a payload whose length disagrees with the header.
    """
    try:
        with gzip.open(path, "rb") as fh:
            raw = fh.read()
    except (OSError, EOFError, zlib.error) as exc:
        raise DataError(f"{path}: truncated or corrupt gzip ({type(exc).__name__}: {exc}); fetch it again") from exc
    if len(raw) < 4:
        raise DataError(f"{path}: {len(raw)} bytes, too short for an IDX header")
    (found,) = struct.unpack(">i", raw[:4])
    if found != magic:
        raise DataError(f"{path}: wrong IDX magic number, expected {magic}, got {found}; not the expected MNIST file")
    ndim = magic & 0xFF
    header = 4 + 4 * ndim
    shape = struct.unpack(f">{ndim}i", raw[4:header])
    expected = header + int(np.prod(shape))
    if len(raw) != expected:
        raise DataError(
            f"{path}: header {shape} needs {expected} bytes after decompression, found {len(raw)}; the file is truncated or corrupt"
        )
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(shape)

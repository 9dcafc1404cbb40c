"""Atomic file writes and checksums: the one home of "write it whole or not at all" (data stages, grade cache, reports).

A stage that dies half-way (network drop, full disk, Ctrl-C) must never leave a file that looks
finished: every output is written to a temporary file in the same directory, flushed and fsynced,
then renamed over the final name (``os.replace`` is atomic on POSIX within one filesystem).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, BinaryIO

from pipelines.errors import DataError

__all__ = [
    "atomic_path",
    "atomic_dir",
    "write_json_atomic",
    "file_digests",
    "sha256_file",
    "ensure_writable_dir",
]

_CHUNK = 1 << 20


def ensure_writable_dir(path: Path) -> Path:
    """Create ``path`` (and parents) and check a file can be created in it; DataError otherwise."""
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path, prefix=".probe-"):
            pass
    except OSError as exc:
        raise DataError(
            f"cannot write to output directory {path}: {exc.strerror or exc}. "
            "Fix its permissions or point DEEPGRADE_DATA_DIR at a writable folder."
        ) from exc
    return path


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_path(final: Path) -> Iterator[Path]:
    """Yield a temporary path next to ``final``; on success it is fsynced and renamed to ``final``.

    On any exception the temporary file is removed and ``final`` is left as it was.
    """
    final = Path(final)
    ensure_writable_dir(final.parent)
    fd, tmp_name = tempfile.mkstemp(dir=final.parent, prefix=f".{final.name}.", suffix=".partial")
    os.close(fd)
    tmp = Path(tmp_name)
    tmp.chmod(0o666 & ~_umask())  # mkstemp makes 0600; outputs get the usual permissions
    try:
        yield tmp
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, final)
        _fsync_dir(final.parent)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


@contextlib.contextmanager
def atomic_dir(final: Path) -> Iterator[Path]:
    """Yield a temporary directory next to ``final``; on success it replaces ``final`` as a whole.

    Used for multi-file outputs (e.g. ``data/prepared/coco/``): readers see the old folder or the
    complete new one, never a mix.
    """
    final = Path(final)
    ensure_writable_dir(final.parent)
    tmp = Path(tempfile.mkdtemp(dir=final.parent, prefix=f".{final.name}.", suffix=".partial"))
    tmp.chmod(0o777 & ~_umask())
    try:
        yield tmp
        old = None
        if final.exists():
            old = final.with_name(f".{final.name}.old")
            shutil.rmtree(old, ignore_errors=True)
            os.replace(final, old)
        os.replace(tmp, final)
        _fsync_dir(final.parent)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def write_json_atomic(path: Path, payload: Any) -> None:
    """Write ``payload`` as indented, key-sorted JSON (stable bytes, so DVC sees no spurious change)."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(payload, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def _update(hashers: Iterable[Any], stream: BinaryIO) -> None:
    hashers = list(hashers)
    while chunk := stream.read(_CHUNK):
        for h in hashers:
            h.update(chunk)


def file_digests(path: Path, algorithms: Iterable[str] = ("sha256",)) -> dict[str, str]:
    """Hex digests of ``path`` for each named hashlib algorithm, in one pass over the file."""
    hashers = {name: hashlib.new(name) for name in dict.fromkeys(algorithms)}
    with open(path, "rb") as fh:
        _update(hashers.values(), fh)
    return {name: h.hexdigest() for name, h in hashers.items()}


def sha256_file(path: Path) -> str:
    """Hex sha256 of the file at ``path``."""
    return file_digests(path)["sha256"]

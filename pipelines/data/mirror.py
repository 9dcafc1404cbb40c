"""A data mirror (``DEEPGRADE_DATA_MIRROR``): a folder or http(s) URL in the official layout.

A mirror may hold exact copies of the official files, or subsets of them (fewer records, as the
course's CI mirror does). Subsets are only acceptable when the mirror says so: its ``MANIFEST.json``
declares each non-official file with its sha256 (and ``records``/``complete``), e.g.

    {"subset": true, "files": {"mnist/train-images-idx3-ubyte.gz": {"sha256": "...", "records": 25206,
                                                                   "complete": false}}}

A file that matches neither the official checksum nor its declaration is rejected.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from fnmatch import fnmatch
from pathlib import Path
from typing import Any

from pipelines.data.transfer import SourceMissing, is_url, open_source
from pipelines.errors import DataError

__all__ = ["Mirror", "mirror_from_env", "MIRROR_ENV"]

MIRROR_ENV = "DEEPGRADE_DATA_MIRROR"


@dataclass
class Mirror:
    """A mirror root (``location``: a folder or a URL) and the files its manifest declares."""

    location: str
    declared: dict[str, dict[str, Any]] = field(default_factory=dict)

    @classmethod
    def open(cls, location: str) -> Mirror:
        """Open the mirror at ``location`` and read its ``MANIFEST.json`` when it has one."""
        if not is_url(location):
            root = Path(location).expanduser().resolve()
            if not root.is_dir():
                raise DataError(f"{MIRROR_ENV}={location}: no such directory; point it at a mirror folder or URL")
            location = str(root)
        mirror = cls(location.rstrip("/"))
        try:
            stream, _ = open_source(mirror.locate("MANIFEST.json"))
        except SourceMissing:
            return mirror
        with stream:
            raw = stream.read()
        try:
            manifest = json.loads(raw)
            files = manifest.get("files", {})
            if not isinstance(files, dict) or not all(isinstance(v, dict) and "sha256" in v for v in files.values()):
                raise ValueError("'files' must map each path to an object with a 'sha256'")
        except (ValueError, AttributeError) as exc:
            raise DataError(f"{mirror.locate('MANIFEST.json')}: not a valid mirror manifest ({exc})") from exc
        mirror.declared = files
        return mirror

    def locate(self, relpath: str) -> str:
        """URL or filesystem path of ``relpath`` inside the mirror."""
        return f"{self.location}/{relpath}"

    def declared_matching(self, pattern: str) -> list[str]:
        """Declared paths matching a glob, sorted (used for COCO caption subsets)."""
        return sorted(p for p in self.declared if fnmatch(p, pattern))

    def has(self, relpath: str) -> bool:
        """Whether the mirror holds ``relpath`` (declared, or present in a folder mirror)."""
        if relpath in self.declared:
            return True
        if is_url(self.location):
            try:
                stream, _ = open_source(self.locate(relpath))
            except SourceMissing:
                return False
            stream.close()
            return True
        return Path(self.locate(relpath)).is_file()


def mirror_from_env() -> Mirror | None:
    """The mirror named by ``$DEEPGRADE_DATA_MIRROR``, or ``None`` for the official hosts."""
    location = os.environ.get(MIRROR_ENV, "").strip()
    return Mirror.open(location) if location else None

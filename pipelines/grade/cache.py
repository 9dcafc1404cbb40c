"""The layered grade cache: one folder per layer and key (keys: ``pipelines.grade.fingerprint``).

``<cache>/layers/<unit>/execution/<key>/`` holds the executed notebooks, the exports and how the
run ended; ``probes/<key>/`` the probe worker's report as it came over the channel; ``scores/<key>/``
results.json. Each folder appears whole or not at all (written next to its place, then renamed), so a
grader killed mid-write leaves nothing that looks finished. Runs with engine faults are not stored.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pipelines.atomic import atomic_dir
from pipelines.execute.jobfiles import copy_regular_files
from pipelines.paths import cache_root

LAYERS = ("execution", "probes", "scores")


class LayerCache:
    """The cached layers of one unit."""

    def __init__(self, unit: str, root: Path | None = None) -> None:
        self.base = (root or cache_root()) / "layers" / unit

    def folder(self, layer: str, key: str) -> Path:
        assert layer in LAYERS, layer
        return self.base / layer / key

    def get(self, layer: str, key: str) -> Path | None:
        """The layer's folder when it was stored whole, else None."""
        folder = self.folder(layer, key)
        return folder if (folder / "layer.json").is_file() else None

    def put(self, layer: str, key: str, files: dict[str, bytes], dirs: dict[str, Path], meta: dict[str, Any]) -> Path:
        """Store ``files`` (name -> bytes), copies of ``dirs`` (name -> folder) and ``meta`` atomically.
        Folders come from job folders that student code wrote: only their regular files are copied."""
        final = self.folder(layer, key)
        with atomic_dir(final) as tmp:
            for name, data in files.items():
                (tmp / name).write_bytes(data)
            for name, src in dirs.items():
                copy_regular_files(src, tmp / name)
            (tmp / "layer.json").write_text(json.dumps(meta))
        return final

    def meta(self, folder: Path) -> dict[str, Any]:
        return json.loads((folder / "layer.json").read_text())

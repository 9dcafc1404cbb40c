"""The data folder student code sees: a unit's prepared datasets without what its graders hold out.

Built in the grade cache (``<cache>/sandbox-data/<unit>/prepared/``) and mounted read-only in the
sandbox at ``/data``. In a folder dataset, a file that holds nothing held out is a hard link to the
prepared file (no copy), a file with held-out parts is a copy rewritten without them
(``pipelines.data.formats.keyed``), never a link to the original, and a held-out file is absent; an
``.npz`` dataset is always such a rewritten copy. ``heldout.json`` beside the datasets lists the
entries, so that a loader asked for one says it is held out (``pipelines.data.loaders``).

A dataset's view is rebuilt when one of its prepared files changes (size and mtime) or when the
unit's held-out entries for it change, and replaces the old one whole.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections import defaultdict
from pathlib import Path

from pipelines.atomic import atomic_dir, atomic_path
from pipelines.data.formats import keyed
from pipelines.data.loaders import HELDOUT_FILE
from pipelines.grade.heldout import Entry, dataset_path
from pipelines.paths import prepared_dir


def _stamp(source: Path, entries: list[Entry]) -> str:
    """What the view of one dataset is made from: each prepared file's size and mtime, and the entries."""
    files = sorted(p for p in source.rglob("*") if p.is_file()) if source.is_dir() else [source]
    made_of = [[p.relative_to(prepared_dir()).as_posix(), p.stat().st_size, p.stat().st_mtime_ns] for p in files]
    return hashlib.sha256(json.dumps([made_of, sorted(e.text for e in entries)]).encode()).hexdigest()


def _build_folder(source: Path, tmp: Path, entries: list[Entry]) -> None:
    """A folder dataset's view in ``tmp``: held-out files left out, files with held-out parts
    rewritten without them, every other file a hard link."""
    whole = {e.file for e in entries if e.key is None}
    parts: dict[Path, set[str]] = defaultdict(set)
    for e in entries:
        if e.key is not None:
            parts[e.file].add(e.key)
    for path in sorted(source.rglob("*")):
        rel, dst = path.relative_to(prepared_dir()), tmp / path.relative_to(source)
        if path.is_dir():
            dst.mkdir()
        elif rel in parts:
            keyed.without(path, dst, parts[rel])
        elif rel not in whole:
            os.link(path, dst)


def build(unit: str, datasets: list[str], heldout: dict[str, list[Entry]], cache_dir: Path) -> Path:
    """The view of ``datasets`` for ``unit`` without its ``heldout`` entries; the folder to mount at ``/data``."""
    view = cache_dir / "sandbox-data" / unit
    folder = view / "prepared"
    folder.mkdir(parents=True, exist_ok=True)
    for ds in datasets:
        source, entries = dataset_path(ds), heldout.get(ds, [])
        dst, stamp_file = folder / source.name, folder / f"{ds}.stamp"
        stamp = _stamp(source, entries)
        if dst.exists() and stamp_file.exists() and stamp_file.read_text() == stamp:
            continue
        if source.is_dir():
            with atomic_dir(dst) as tmp:
                _build_folder(source, tmp, entries)
        else:
            with atomic_path(dst) as tmp:
                keyed.without(source, tmp, {e.key for e in entries if e.key is not None})
        for extra in prepared_dir().glob(f"{ds}*.json"):  # provenance: which data this is
            shutil.copyfile(extra, folder / extra.name)
        stamp_file.write_text(stamp)
    with atomic_path(folder / HELDOUT_FILE) as tmp:
        tmp.write_text(json.dumps({ds: [e.text for e in heldout.get(ds, [])] for ds in datasets}))
    return view

"""Held-out data: the prepared files and parts of files a unit's graders read and student code never sees.

``assignment.yaml: heldout`` maps a dataset to its held-out entries:

- a dataset prepared as one ``.npz`` (MNIST, CIFAR-10): a key, ``y_test``;
- a dataset prepared as a folder (COCO): a whole file, ``some_file.json``, or a part of one,
  ``file:key``: a dataset of an HDF5 file (``captions.h5:val_captions``, ``group/name`` inside
  groups), a top-level key of a JSON object (``vocab.json:word_to_idx``) or a key of an ``.npz``.

The sandbox's data view (``pipelines.grade.data_view``) is built without them; graders read them
here, in the trusted process, from the prepared data itself (``heldout(dataset, entry)``). Every
entry must name something the prepared data holds: a misspelt key would otherwise leave the real one
visible.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from pipelines.data.formats import keyed
from pipelines.errors import DeepgradeError
from pipelines.paths import prepared_dir


@dataclass(frozen=True)
class Entry:
    """One held-out entry: ``file`` relative to the prepared folder, ``key`` a part of it (None: all of it)."""

    text: str
    file: Path
    key: str | None


def dataset_path(dataset: str) -> Path:
    """The prepared dataset: its folder, or its ``.npz``."""
    folder = prepared_dir() / dataset
    if folder.is_dir():
        return folder
    npz = prepared_dir() / f"{dataset}.npz"
    if not npz.is_file():
        raise DeepgradeError(f"{npz} is missing: run `dvc repro prepare_{dataset}` first")
    return npz


def parse(dataset: str, text: str, where: Path) -> Entry:
    """The entry ``text`` of ``dataset`` as ``assignment.yaml`` (``where``) writes it."""
    source = dataset_path(dataset)
    if not source.is_dir():
        return Entry(text, Path(source.name), text)
    name, sep, key = text.partition(":")
    rel = PurePosixPath(name)
    if not name or rel.is_absolute() or ".." in rel.parts:
        raise DeepgradeError(f"{where}: heldout {dataset}: {text!r} must name a file inside {source}")
    if sep and (not key or rel.suffix.lower() not in keyed.SUFFIXES):
        raise DeepgradeError(f"{where}: heldout {dataset}: {text!r}: only {', '.join(keyed.SUFFIXES)} files have "
                             "parts to hold out (`file:key`); hold out the whole file instead (`file`)")
    return Entry(text, Path(dataset, *rel.parts), key if sep else None)


def declared(heldout: dict[str, list[str]], where: Path) -> dict[str, list[Entry]]:
    """``assignment.yaml: heldout`` parsed, each entry checked against the prepared data."""
    entries = {ds: [parse(ds, str(text), where) for text in texts] for ds, texts in heldout.items()}
    for ds, mine in entries.items():
        for entry in mine:
            path = prepared_dir() / entry.file
            if not path.is_file() or (entry.key is not None and not keyed.has(path, entry.key)):
                raise DeepgradeError(f"{where}: heldout {ds}: {entry.text!r} is not in the prepared data ({path}); "
                                     "an entry that names nothing would leave what it meant to hide visible")
    return entries


def value_of(dataset: str, text: str, entries: list[Entry], where: Path) -> Any:
    """A held-out entry's value, or a part of a held-out file (``keyed.read``): trusted side only."""
    entry = parse(dataset, text, where)
    if not any(e.text == text or (e.key is None and e.file == entry.file) for e in entries):
        raise KeyError(f"{dataset}: {text} is not declared held out in {where}")
    return keyed.read(prepared_dir() / entry.file, entry.key)

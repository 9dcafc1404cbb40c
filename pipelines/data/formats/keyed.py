"""Files whose parts have names: ``.npz`` (keys), HDF5 (datasets, ``group/name`` inside groups) and
JSON (top-level keys of an object). List, read, and copy them without some parts.

A unit may hold parts of its prepared data out of the sandbox (``pipelines.grade.heldout``): the
sandbox's data view then holds a copy of the file rewritten without them, never a link to the
original, and the graders read them from the original. An HDF5 copy is written afresh, object by
object, so nothing of a held-out dataset survives in the file's free space; an object reachable under
two names (an HDF5 hard link) is left out under both, and soft and external links are copied as
links, never followed.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from pipelines.errors import DataError

__all__ = ["SUFFIXES", "has", "read", "without"]

SUFFIXES = (".npz", ".h5", ".hdf5", ".json")


def _suffix(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix not in SUFFIXES:
        raise DataError(f"{path}: only {', '.join(SUFFIXES)} files have named parts")
    return suffix


def _json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: not valid JSON ({exc})") from exc


def _json_object(path: Path) -> dict[str, Any]:
    doc = _json(path)
    if not isinstance(doc, dict):
        raise DataError(f"{path}: holds a JSON {type(doc).__name__}, not an object, so it has no keys")
    return doc


def has(path: Path, key: str) -> bool:
    """Whether ``path`` holds a part named ``key``."""
    suffix = _suffix(path)
    if suffix == ".npz":
        with np.load(path, allow_pickle=False) as data:
            return key in data.files
    if suffix == ".json":
        return key in _json_object(path)
    import h5py

    with h5py.File(path, "r") as h5:
        return key in h5


def _json_value(value: Any) -> Any:
    """Numbers (and rectangular lists of them) as an array; anything else as JSON parsed it."""
    if isinstance(value, (int, float, list)):
        try:
            array = np.asarray(value)
        except ValueError:  # ragged lists
            return value
        if array.dtype.kind in "biuf":
            return array
    return value


def _h5_value(dataset: Any) -> np.ndarray:
    import h5py

    return dataset.asstr()[()] if h5py.check_string_dtype(dataset.dtype) else dataset[()]


def read(path: Path, key: str | None) -> Any:
    """Part ``key`` of ``path``, or with ``key`` None the whole file: arrays for ``.npz``, ``.npy``
    and HDF5 datasets (a whole HDF5 file or ``.npz`` as a dict of them), a JSON value as an array
    where it is numeric and as parsed otherwise, and any other file's bytes."""
    suffix = path.suffix.lower()
    if key is None and suffix not in SUFFIXES:
        return np.load(path, allow_pickle=False) if suffix == ".npy" else path.read_bytes()
    if _suffix(path) == ".json":
        return _json_value(_json(path) if key is None else _json_object(path)[key])
    if suffix == ".npz":
        with np.load(path, allow_pickle=False) as data:
            return np.array(data[key]) if key is not None else {k: np.array(data[k]) for k in data.files}
    import h5py

    with h5py.File(path, "r") as h5:
        if key is not None:
            return _h5_value(h5[key])
        found: dict[str, np.ndarray] = {}
        h5.visititems(lambda name, obj: found.setdefault(name, _h5_value(obj)) if isinstance(obj, h5py.Dataset) else None)
        return found


def _npz_without(src: Path, dst: Path, keys: set[str]) -> None:
    with np.load(src, allow_pickle=False) as data:
        kept = {k: data[k] for k in data.files if k not in keys}
    with open(dst, "wb") as fh:
        np.savez(fh, **kept)


def _json_without(src: Path, dst: Path, keys: set[str]) -> None:
    kept = {k: v for k, v in _json_object(src).items() if k not in keys}
    dst.write_text(json.dumps(kept, ensure_ascii=False), encoding="utf-8")


def _h5_without(src: Path, dst: Path, keys: set[str]) -> None:
    import h5py

    with h5py.File(src, "r") as fin, h5py.File(dst, "w") as fout:
        held = [fin[k].id for k in keys]  # the objects themselves: also under any other name

        def copy(group: Any, out: Any, prefix: str) -> None:
            out.attrs.update(group.attrs)
            for name in group:
                link = group.get(name, getlink=True)
                if isinstance(link, h5py.SoftLink):
                    out[name] = h5py.SoftLink(link.path)
                elif isinstance(link, h5py.ExternalLink):
                    out[name] = h5py.ExternalLink(link.filename, link.path)
                elif prefix + name not in keys and group[name].id not in held:
                    obj = group[name]
                    if isinstance(obj, h5py.Group):
                        copy(obj, out.create_group(name), f"{prefix}{name}/")
                    else:
                        fin.copy(obj, out, name=name)

        copy(fin, fout, "")


_WITHOUT: dict[str, Callable[[Path, Path, set[str]], None]] = {
    ".npz": _npz_without, ".json": _json_without, ".h5": _h5_without, ".hdf5": _h5_without,
}


def without(src: Path, dst: Path, keys: set[str]) -> None:
    """Write ``dst``: a new file with everything of ``src`` but the parts named in ``keys``."""
    _WITHOUT[_suffix(src)](src, dst, keys)

"""The fetch stage: put verified raw files into ``data/raw/<dataset>/`` and record where they came from.

Two sources, one result layout:

- official hosts (default): every download is checked against its pinned checksum before it is
  kept; archives are extracted member by member into the official layout, refusing unsafe paths;
- a mirror (``$DEEPGRADE_DATA_MIRROR``): each file must equal the official file, or be declared with
  its sha256 in the mirror's ``MANIFEST.json`` (a subset), else the stage fails naming the file.

``data/raw/<dataset>/source.json`` is written last, so its presence means "complete and verified":
it holds the kind of source, and per file its sha256, size, records, complete flag and origin (the
official checksum, the mirror's MANIFEST.json, or the official URL). It records what identifies the
data, never where a mirror sat: the same files give the same record on every machine, so DVC's lock
file holds on a fresh clone (the mirror's location is printed instead). Files already present with
the right checksum are not copied again, which makes re-running cheap and idempotent.
"""

from __future__ import annotations

import json
import tarfile
import zipfile
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path, PurePosixPath
from typing import IO, Any, cast

from pipelines.atomic import ensure_writable_dir, file_digests, write_json_atomic
from pipelines.data.mirror import Mirror, mirror_from_env
from pipelines.data.sources import DatasetSource, Download, RawFile, coco_bundle_download, source_for
from pipelines.data.transfer import SourceMissing, copy_verified, log, stream_verified
from pipelines.errors import DataError
from pipelines.params import load_params
from pipelines.paths import raw_dir

__all__ = ["fetch", "read_source_record", "SOURCE_RECORD"]

SOURCE_RECORD = "source.json"


def read_source_record(raw: Path) -> dict[str, Any] | None:
    """The ``source.json`` of a raw folder, or ``None`` when the fetch never completed there."""
    path = raw / SOURCE_RECORD
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise DataError(f"{path}: unreadable ({exc}); delete it and fetch again") from exc


def fetch(dataset: str) -> dict[str, Any]:
    """Fetch ``dataset`` into ``paths.raw_dir(dataset)``; returns the source record it wrote."""
    src = source_for(dataset)
    raw = ensure_writable_dir(raw_dir(dataset))
    previous = read_source_record(raw)
    (raw / SOURCE_RECORD).unlink(missing_ok=True)
    mirror = mirror_from_env()
    if mirror is not None:
        log(f"{dataset}: taking files from mirror {mirror.location}")
        files = _from_mirror(src, mirror, raw)
        source: dict[str, Any] = {"kind": "mirror"}
    else:
        files, downloads = _from_official(src, raw, previous)
        source = {"kind": "official", "downloads": downloads}
    _require_captions(src, files, raw)
    _remove_strays(raw, files)
    record = {
        "dataset": dataset,
        "source": source,
        "subset": any(not f["complete"] for f in files.values()),
        "files": files,
    }
    write_json_atomic(raw / SOURCE_RECORD, record)
    kind = "subset" if record["subset"] else "complete"
    log(f"{dataset}: {len(files)} files verified ({kind}) in {raw}")
    return record


# --- mirror ------------------------------------------------------------------------------

def _from_mirror(src: DatasetSource, mirror: Mirror, raw: Path) -> dict[str, dict[str, Any]]:
    wanted = [(spec, src.mirror_prefix + spec.path) for spec in src.files]
    if src.mirror_extra:
        known = {rel for _, rel in wanted}
        wanted += [
            (RawFile(rel[len(src.mirror_prefix):], required=False), rel)
            for rel in mirror.declared_matching(src.mirror_prefix + src.mirror_extra)
            if rel not in known
        ]
    files = {}
    for spec, rel in wanted:
        if not spec.required and not mirror.has(rel):
            continue
        files[spec.path] = _take_from_mirror(mirror, rel, spec, raw / spec.path)
    return files


def _take_from_mirror(mirror: Mirror, rel: str, spec: RawFile, dest: Path) -> dict[str, Any]:
    declared = mirror.declared.get(rel)
    location = mirror.locate(rel)
    algorithms = ["sha256", *spec.digests]

    def verdict(digests: dict[str, str]) -> dict[str, Any]:
        if spec.digests and all(digests[a] == v for a, v in spec.digests.items()):
            return {"complete": True, "records": spec.records, "origin": "official checksum"}
        if declared is not None and declared["sha256"] == digests["sha256"]:
            return {
                "complete": bool(declared.get("complete", False)),
                "records": declared.get("records"),
                "origin": "mirror MANIFEST.json",
            }
        official = ", ".join(f"{a} {v}" for a, v in spec.digests.items()) or "none published"
        raise DataError(
            f"{location}: checksum mismatch. Expected the official file ({official}) or the sha256 "
            f"declared in the mirror's MANIFEST.json ({declared['sha256'] if declared else 'not declared'}); "
            f"got sha256 {digests['sha256']}"
            + (f", {', '.join(f'{a} {digests[a]}' for a in spec.digests)}" if spec.digests else "")
            + ". The mirror copy is corrupt or not what it claims: restore it, or declare the subset "
            "in MANIFEST.json. Nothing was written."
        )

    if dest.is_file():
        digests = file_digests(dest, algorithms)
        try:
            entry = verdict(digests)
            log(f"{spec.path}: already verified, kept")
            return _entry(dest, digests, entry)
        except DataError:
            pass
    try:
        digests = copy_verified(location, dest, algorithms, verdict)
    except SourceMissing as exc:
        raise DataError(
            f"{location}: missing from the mirror. A mirror must hold the official layout "
            f"(expected {rel}); copy the file there or unset DEEPGRADE_DATA_MIRROR."
        ) from exc
    return _entry(dest, digests, verdict(digests))


# --- official hosts ----------------------------------------------------------------------

def _official_downloads(src: DatasetSource) -> list[Download]:
    downloads = list(src.downloads)
    if src.name == "coco":
        pinned = (load_params().get("data", {}).get("coco", {}) or {}).get("bundle_sha256")
        if pinned:
            downloads.insert(0, coco_bundle_download(str(pinned)))
        else:
            log(
                "coco: not downloading the CS231n bundle (coco_captioning.zip, no image features): no "
                "trustworthy checksum is published. Pin one in params.yaml data.coco.bundle_sha256 to use it; "
                "using the official COCO caption annotations instead."
            )
    return downloads


def _from_official(
    src: DatasetSource, raw: Path, previous: dict[str, Any] | None
) -> tuple[dict[str, dict[str, Any]], list[dict[str, Any]]]:
    was_official = previous is not None and previous.get("source", {}).get("kind") == "official"
    previous_files = previous.get("files", {}) if previous is not None and was_official else {}
    files: dict[str, dict[str, Any]] = {}
    downloads = _official_downloads(src)
    for dl in downloads:
        specs = {path: src.file(path) or RawFile(path, required=False) for path in dl.members.values()}
        reusable = {path: _reusable(raw / path, spec, previous_files.get(path)) for path, spec in specs.items()}
        kept: dict[str, dict[str, str]]
        if all(d is not None for d in reusable.values()):
            log(f"{dl.url}: files already verified, not downloaded again")
            kept = {path: d for path, d in reusable.items() if d is not None}
        elif dl.kind == "file":
            (path,) = dl.members.values()
            kept = {path: copy_verified(dl.url, raw / path, dl.digests, _pinned_check(dl.url, dl.digests))}
        else:
            kept = _download_archive(dl, raw, specs)
        for path, digests in kept.items():
            files[path] = _entry(raw / path, digests, {"complete": True, "records": specs[path].records, "origin": dl.url})
    return files, [{"url": dl.url, "pinned": dl.digests} for dl in downloads]


def _reusable(path: Path, spec: RawFile, previous: dict[str, Any] | None) -> dict[str, str] | None:
    """Digests of an already present, verified file, or ``None`` when it must be fetched."""
    if not path.is_file():
        return None
    digests = file_digests(path, ["sha256", *spec.digests])
    if spec.digests and all(digests[a] == v for a, v in spec.digests.items()):
        return digests
    if not spec.digests and previous and previous.get("sha256") == digests["sha256"]:
        return digests
    return None


def _pinned_check(origin: str, pinned: dict[str, str]) -> Callable[[dict[str, str]], None]:
    def check(digests: dict[str, str]) -> None:
        bad = [f"{a} expected {v}, got {digests[a]}" for a, v in pinned.items() if digests[a] != v]
        if bad:
            raise DataError(
                f"{origin}: checksum mismatch ({'; '.join(bad)}). The download is corrupt or the file "
                "changed upstream; nothing was kept. Retry, or use DEEPGRADE_DATA_MIRROR."
            )
    if not pinned:
        raise DataError(f"{origin}: no pinned checksum, refusing to download it unverified")
    return check


def _download_archive(dl: Download, raw: Path, specs: dict[str, RawFile]) -> dict[str, dict[str, str]]:
    archive = raw / f".{PurePosixPath(dl.url).name}.download"
    try:
        copy_verified(dl.url, archive, dl.digests, _pinned_check(dl.url, dl.digests))
        return _extract(archive, dl, raw, specs)
    finally:
        archive.unlink(missing_ok=True)


def _safe_member(name: str, archive: str) -> None:
    parts = PurePosixPath(name).parts
    if name.startswith(("/", "\\")) or ".." in parts:
        raise DataError(f"{archive}: unsafe member path {name!r} (absolute or leaving the folder); refusing to extract")


@contextmanager
def _archive_members(archive: Path, kind: str) -> Iterator[Iterator[tuple[str, bool, Callable[[], IO[bytes]]]]]:
    """Yield (name, is_regular_file, opener) for each member, streaming through the archive."""
    if kind == "tar":
        with tarfile.open(archive, "r:*") as tar:

            def tar_opener(member: tarfile.TarInfo) -> Callable[[], IO[bytes]]:
                return lambda: cast(IO[bytes], tar.extractfile(member))

            yield ((m.name, m.isfile(), tar_opener(m)) for m in tar)
    else:
        with zipfile.ZipFile(archive) as zf:

            def zip_opener(info: zipfile.ZipInfo) -> Callable[[], IO[bytes]]:
                return lambda: zf.open(info)

            yield ((i.filename, not i.is_dir(), zip_opener(i)) for i in zf.infolist())


def _extract(archive: Path, dl: Download, raw: Path, specs: dict[str, RawFile]) -> dict[str, dict[str, str]]:
    name = PurePosixPath(dl.url).name
    out: dict[str, dict[str, str]] = {}
    try:
        with _archive_members(archive, dl.kind) as members:
            for member, regular, opener in members:
                _safe_member(member, name)
                target = dl.members.get(member)
                if target is None:
                    continue
                if not regular:
                    raise DataError(f"{name}: member {member} is not a regular file; refusing to extract it")
                spec = specs[target]
                with opener() as stream:
                    out[target] = stream_verified(
                        stream, f"{name}:{member}", raw / target, spec.digests,
                        _pinned_check(f"{name}:{member}", spec.digests) if spec.digests else (lambda d: None),
                    )
    except (tarfile.TarError, zipfile.BadZipFile, EOFError, zlib.error) as exc:
        raise DataError(f"{name}: truncated or corrupt archive ({type(exc).__name__}: {exc}); download it again") from exc
    missing = sorted(m for m, target in dl.members.items() if target not in out)
    if missing:
        raise DataError(f"{name}: archive lacks {', '.join(missing)}; it is not the official archive")
    return out


# --- shared ------------------------------------------------------------------------------

def _entry(path: Path, digests: dict[str, str], verdict: dict[str, Any]) -> dict[str, Any]:
    return {"sha256": digests["sha256"], "bytes": path.stat().st_size, **verdict}


def _require_captions(src: DatasetSource, files: dict[str, Any], raw: Path) -> None:
    if src.name != "coco":
        return
    if not any(p.endswith("coco2014_captions.h5") or PurePosixPath(p).name.startswith("captions_") for p in files):
        raise DataError(
            f"coco: no captions found for {raw}: expected coco_captioning/coco2014_captions.h5 (CS231n bundle) "
            "or coco_captioning/captions_*.json (official COCO annotations, or subsets declared in MANIFEST.json)"
        )


def _remove_strays(raw: Path, files: dict[str, Any]) -> None:
    """Delete raw files this fetch did not verify (left by another source or an interrupted run)."""
    keep = {raw / p for p in files} | {raw / SOURCE_RECORD}
    for path in sorted(raw.rglob("*"), reverse=True):
        if path.is_file() and path not in keep:
            path.unlink()
        elif path.is_dir() and not any(path.iterdir()):
            path.rmdir()

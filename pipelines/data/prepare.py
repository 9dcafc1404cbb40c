"""The prepare stage: verified raw files -> ``data/prepared/`` (docs/design.md §2), plus a provenance record.

It refuses raw data that did not finish fetching (no ``source.json``) or that changed since it was
verified, then hands over to the dataset's module in ``pipelines.data.datasets``. Each dataset
also gets ``data/prepared/<dataset>.provenance.json``: the kind of source, whether it is a subset
(``params.resolve_profile`` reads this flag), the raw files' checksums, counts per split and the
parameters used, so a prepared file can always be traced back to its bytes; and nothing else (no
path, no time), so the same data gives the same outputs on every machine.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

from pipelines.atomic import ensure_writable_dir, sha256_file, write_json_atomic
from pipelines.data.fetch import read_source_record
from pipelines.data.transfer import log
from pipelines.errors import DataError
from pipelines.params import load_params
from pipelines.paths import prepared_dir, raw_dir

__all__ = ["prepare", "provenance_path"]


def provenance_path(dataset: str, out: Path | None = None) -> Path:
    """``data/prepared/<dataset>.provenance.json``."""
    return (out or prepared_dir()) / f"{dataset}.provenance.json"


def _verified_files(dataset: str, raw: Path) -> dict[str, Any]:
    record = read_source_record(raw)
    if record is None:
        raise DataError(f"{raw}: no verified raw data (source.json missing); run `dvc repro fetch_{dataset}` first")
    for rel, entry in record["files"].items():
        path = raw / rel
        if not path.is_file():
            raise DataError(f"{path}: listed in {raw / 'source.json'} but missing; run `dvc repro fetch_{dataset}` again")
        actual = sha256_file(path)
        if actual != entry["sha256"]:
            raise DataError(
                f"{path}: changed since it was verified (sha256 expected {entry['sha256']}, got {actual}); "
                f"run `dvc repro fetch_{dataset}` again"
            )
    return record


def prepare(dataset: str) -> dict[str, Any]:
    """Prepare ``dataset`` from ``paths.raw_dir(dataset)`` into ``paths.prepared_dir()``; returns the provenance."""
    module = importlib.import_module(f"pipelines.data.datasets.{dataset}")
    raw = raw_dir(dataset)
    record = _verified_files(dataset, raw)
    params = load_params()
    data_params = dict(params.get("data", {}).get(dataset) or {})
    seed = int(params.get("seed", 0))
    out = ensure_writable_dir(prepared_dir())
    provenance_path(dataset, out).unlink(missing_ok=True)
    log(f"{dataset}: preparing from {raw}")
    facts = module.build(raw, data_params, seed, out)
    provenance = {
        "dataset": dataset,
        "source": record["source"],
        "subset": bool(record["subset"]),
        "files": {
            rel: {k: entry.get(k) for k in ("sha256", "records", "complete", "origin")}
            for rel, entry in sorted(record["files"].items())
        },
        "params": {**data_params, "seed": seed},
        **facts,
    }
    write_json_atomic(provenance_path(dataset, out), provenance)
    log(f"{dataset}: wrote {', '.join(facts['outputs'])} ({'subset' if provenance['subset'] else 'complete'}): {facts['counts']}")
    return provenance

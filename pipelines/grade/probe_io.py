"""The plain-data format between the trusted process and the sandboxed probe worker.

Trusted side: ``write_probes`` turns the graders' probe specs into ``probes.json`` (what to call)
and ``probes.npz`` (the seeded inputs). Sandbox side: ``read_probes`` gets them back. Results come
back one ``<probe>.npz`` + ``<probe>.json`` per probe, read here with ``allow_pickle=False`` and
checked for numeric dtypes only; nothing the student built crosses the boundary except numbers.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

PROBES_JSON = "probes.json"
PROBES_NPZ = "probes.npz"
OUT_DIR = "probe_out"
MAX_RESULT_BYTES = 256 * 1024 * 1024


def _key(*parts: object) -> str:
    return "/".join(str(p) for p in parts)


_SCALARS = {"bool": bool, "int": int, "float": float}


def _scalar_kind(value: Any) -> str:
    """``bool``/``int``/``float`` for Python or numpy scalars (passed back as Python numbers), else ``array``."""
    if isinstance(value, (bool, np.bool_)):
        return "bool"
    if isinstance(value, (int, np.integer)):
        return "int"
    if isinstance(value, (float, np.floating)):
        return "float"
    return "array"


def write_probes(job_dir: Path, specs: list[dict[str, Any]], inputs: dict[str, dict[str, list[Any]]]) -> None:
    """Write probe specs and their inputs; scalars are flagged so the worker passes Python numbers."""
    arrays: dict[str, np.ndarray] = {}
    manifest = []
    for spec in specs:
        name = spec["name"]
        sections = {}
        for section, values in inputs[name].items():
            kinds = []
            for i, value in enumerate(values):
                arr = np.asarray(value)
                if arr.dtype.kind not in "biuf":
                    raise TypeError(f"probe {name}: input {section}[{i}] is not numeric ({arr.dtype})")
                arrays[_key(name, section, i)] = arr
                kinds.append(_scalar_kind(value))
            sections[section] = kinds
        manifest.append({**spec, "sections": sections})
    np.savez(job_dir / PROBES_NPZ, **arrays)
    (job_dir / PROBES_JSON).write_text(json.dumps(manifest))


def read_probes(job_dir: Path) -> tuple[list[dict[str, Any]], dict[str, dict[str, list[Any]]]]:
    """Sandbox side: the specs and, per probe, each section's arguments (scalars as Python numbers)."""
    manifest = json.loads((job_dir / PROBES_JSON).read_text())
    data = np.load(job_dir / PROBES_NPZ, allow_pickle=False)
    inputs: dict[str, dict[str, list[Any]]] = {}
    for spec in manifest:
        sec: dict[str, list[Any]] = {}
        for section, kinds in spec["sections"].items():
            values = []
            for i, kind in enumerate(kinds):
                arr = np.array(data[_key(spec["name"], section, i)])
                values.append(arr if kind == "array" else _SCALARS[kind](arr.item()))
            sec[section] = values
        inputs[spec["name"]] = sec
    return manifest, inputs


@dataclass
class ProbeResult:
    """What the sandbox returned for one probe, as plain arrays (trusted side)."""

    name: str
    call: str
    error: str | None = None
    seconds: float | None = None
    returned: list[np.ndarray] = field(default_factory=list)
    methods: dict[str, list[np.ndarray]] = field(default_factory=dict)
    attrs: dict[str, np.ndarray] = field(default_factory=dict)
    numeric_grad: np.ndarray | None = None


def _numeric(arr: np.ndarray, what: str) -> np.ndarray:
    if arr.dtype.kind not in "biuf":
        raise ValueError(f"{what} is not numeric ({arr.dtype})")
    return arr


def load_result(job_dir: Path, name: str, call: str) -> ProbeResult:
    """Read one probe's result; anything missing or malformed becomes an ``error`` for the student."""
    out = job_dir / OUT_DIR
    meta_path, npz_path = out / f"{name}.json", out / f"{name}.npz"
    if not meta_path.exists():
        return ProbeResult(name, call, error=f"{call} did not return (the probe run was stopped: time or memory limit)")
    try:
        meta = json.loads(meta_path.read_text()[:100_000])
        result = ProbeResult(name, call, error=meta.get("error"), seconds=meta.get("seconds"))
        if result.error is not None:
            result.error = str(result.error)[:800]
            return result
        if not isinstance(result.seconds, (int, float)):
            raise ValueError("missing timing")
        if npz_path.stat().st_size > MAX_RESULT_BYTES:
            raise ValueError("results are too large")
        with np.load(npz_path, allow_pickle=False) as data:
            for key in sorted(data.files, key=lambda k: [int(p) if p.isdigit() else p for p in k.split("/")]):
                arr = _numeric(np.array(data[key]), key)
                kind, *rest = key.split("/")
                if kind == "ret":
                    result.returned.append(arr)
                elif kind == "method":
                    result.methods.setdefault(rest[0], []).append(arr)
                elif kind == "attr":
                    result.attrs[rest[0]] = arr
                elif kind == "numgrad":
                    result.numeric_grad = arr
        return result
    except (OSError, ValueError, TypeError, json.JSONDecodeError) as exc:
        return ProbeResult(name, call, error=f"the results of {call} could not be read back: {exc}")

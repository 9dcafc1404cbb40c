"""The plain-data format between the trusted process and the sandboxed probe worker.

Trusted side: ``write_probes`` turns the graders' probe specs into ``probes.json`` (what to call)
and ``probes.npz`` (the seeded inputs). Sandbox side: ``load_inputs`` reads one probe's inputs back.
Results come back over the report channel (``pipelines.execute.channel``), one typed record and one
``.npz`` payload per probe, read here with ``allow_pickle=False`` and checked for numeric dtypes
only; nothing the student built crosses the boundary except numbers.
"""

from __future__ import annotations

import io
import json
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from pipelines.grade.chain import NumGrad, decode_steps, encode_steps
from pipelines.grade.probe_functions import Fn, make
from pipelines.grade.probe_values import Built, numeric

PROBES_JSON = "probes.json"
# Which export source runs which probes: ``[{"source": "exports-0.py", "probes": [names]}, ...]``.
PARTS_JSON = "parts.json"
PROBES_NPZ = "probes.npz"
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


def _entries(values: list[Any] | dict[str, Any]) -> list[tuple[str, Any]]:
    """(key, value) pairs of a positional section (a list) or a keyword section (``kwargs``, a dict)."""
    return list(values.items()) if isinstance(values, dict) else [(str(i), v) for i, v in enumerate(values)]


def write_probes(job_dir: Path, specs: list[dict[str, Any]], inputs: dict[str, dict[str, Any]]) -> None:
    """Write probe specs and their inputs; scalars are flagged so the worker passes Python numbers,
    strings and None travel in the JSON, and catalogue functions (``fn(...)``) as their name and
    numeric parameters."""
    arrays: dict[str, np.ndarray] = {}
    manifest = []
    for spec in specs:
        name = spec["name"]
        if "steps" in inputs[name]:  # a chained probe (pipelines.grade.chain)
            made = inputs[name]
            entry = {**spec, "steps": encode_steps(name, made["steps"], arrays)}
            if made.get("numeric_grad") is not None:
                ng: NumGrad = made["numeric_grad"]
                entry["numgrad"] = {"of": list(ng.of), "wrt": list(ng.wrt), "weighted": ng.weights is not None}
                if ng.weights is not None:
                    arrays[_key(name, "numgrad", "weights")] = ng.weights
                arrays[_key(name, "numgrad", "idx")] = made["numgrad_idx"][0]
            manifest.append(entry)
            continue
        sections: dict[str, Any] = {}
        for section, values in inputs[name].items():
            kinds: dict[str, Any] = {}
            for key, value in _entries(values):
                where = f"probe {name}: input {section}[{key}]"
                if value is None or isinstance(value, str):  # e.g. activation="sigmoid": kept in the JSON
                    kinds[key] = {"literal": value}
                elif isinstance(value, Fn):
                    for j, param in enumerate(value.params):
                        arrays[_key(name, section, key, j)] = numeric(param, where)
                    kinds[key] = {"fn": value.name, "params": len(value.params)}
                elif isinstance(value, Built):
                    raise TypeError(f"{where}: a {type(value).__name__} is built in the sandbox by chained probes only "
                                    "(return {\"steps\": [step(...)]}, docs/writing-a-unit.md)")
                else:
                    arrays[_key(name, section, key)] = numeric(value, where)
                    kinds[key] = _scalar_kind(value)
            sections[section] = {"keywords": isinstance(values, dict), "kinds": kinds}
        manifest.append({**spec, "sections": sections})
    np.savez(job_dir / PROBES_NPZ, **arrays)  # type: ignore[arg-type]
    (job_dir / PROBES_JSON).write_text(json.dumps(manifest))


def load_inputs(job_dir: Path, name: str) -> dict[str, Any]:
    """Sandbox side: one probe's arguments by section (scalars as Python numbers, catalogue functions
    rebuilt), read lazily so a probe's process holds only its own inputs."""
    manifest = {spec["name"]: spec for spec in json.loads((job_dir / PROBES_JSON).read_text())}
    sections: dict[str, Any] = {}
    with np.load(job_dir / PROBES_NPZ, allow_pickle=False) as data:
        if "steps" in manifest[name]:
            ng = manifest[name].get("numgrad")
            return {"steps": decode_steps(manifest[name]["steps"], data),
                    "numgrad_weights": np.array(data[_key(name, "numgrad", "weights")]) if ng and ng["weighted"] else None,
                    "numgrad_idx": [np.array(data[_key(name, "numgrad", "idx")])] if ng else None}
        for section, layout in manifest[name]["sections"].items():
            values: dict[str, Any] = {}
            for key, kind in layout["kinds"].items():
                if isinstance(kind, dict) and "literal" in kind:
                    values[key] = kind["literal"]
                elif isinstance(kind, dict):
                    params = tuple(np.array(data[_key(name, section, key, j)]) for j in range(kind["params"]))
                    values[key] = make(kind["fn"], params)
                else:
                    arr = np.array(data[_key(name, section, key)])
                    values[key] = arr if kind == "array" else _SCALARS[kind](arr.item())
            sections[section] = values if layout["keywords"] else list(values.values())
    return sections


# Typed outcomes of one probe, decided by the sandbox's engine process (never by student text).
OUTCOMES = ("ok", "error", "not_implemented", "oom", "timeout", "crashed", "load_error", "missing")


@dataclass
class ProbeResult:
    """What the sandbox returned for one probe, as plain arrays (trusted side)."""

    name: str
    call: str
    outcome: str = "ok"
    error: str | None = None
    seconds: float | None = None
    returned: list[np.ndarray] = field(default_factory=list)
    methods: dict[str, list[np.ndarray]] = field(default_factory=dict)
    attrs: dict[str, np.ndarray] = field(default_factory=dict)
    numeric_grad: np.ndarray | None = None
    # Array arguments the student's call changed, as it left them (``after/<section>/<i>``).
    after: dict[str, dict[int, np.ndarray]] = field(default_factory=dict)
    # Chained probes: every exported name the steps call, and each step's plain outputs.
    calls: tuple[str, ...] = ()
    steps: dict[str, StepOutputs] = field(default_factory=dict)


@dataclass
class StepOutputs:
    """One step of a chained probe as it came back: plain outputs (dict outputs by key), the type
    names of outputs that were not plain data, the array arguments the call wrote into, and the
    names of outputs that were numpy dtypes (keyed ``<i>`` or ``<i>/<key>``, as ``types``)."""

    returned: dict[int, np.ndarray] = field(default_factory=dict)
    entries: dict[int, dict[str, np.ndarray]] = field(default_factory=dict)
    types: dict[str, str] = field(default_factory=dict)
    after: dict[int, np.ndarray] = field(default_factory=dict)
    dtypes: dict[str, str] = field(default_factory=dict)  # outputs that were numpy dtypes, by name


def _numeric(arr: np.ndarray, what: str) -> np.ndarray:
    if arr.dtype.kind not in "biuf":
        raise ValueError(f"{what} is not numeric ({arr.dtype})")
    return arr


def _step_entry(out: StepOutputs, parts: list[str], arr: np.ndarray) -> None:
    """File ``<what>/<i>[/<key>]`` of one step (see ``pipelines.grade.chain.export``)."""
    what, i, key = parts[0], int(parts[1]), "/".join(parts[2:])
    if what == "ret" and key:
        out.entries.setdefault(i, {})[key] = arr
    elif what == "ret":
        out.returned[i] = arr
    elif what == "dict":
        out.entries.setdefault(i, {})
    elif what == "type":
        out.types[f"{i}/{key}" if key else str(i)] = bytes(arr.astype(np.uint8)).decode("utf-8", "replace")
    elif what == "dtype":
        out.dtypes[f"{i}/{key}" if key else str(i)] = arr.dtype.name
    elif what == "after":
        out.after[i] = arr


def missing_result(name: str, call: str, why: str) -> ProbeResult:
    """A probe the sandbox never reported on (its run was stopped as a whole)."""
    return ProbeResult(name, call, outcome="missing", error=f"{call} could not be checked: {why}")


def parse_result(name: str, call: str, header: dict[str, Any], payload: bytes) -> ProbeResult:
    """One probe's record from the report channel; anything malformed becomes an error for the student."""
    outcome = header.get("outcome")
    if outcome not in OUTCOMES:
        return ProbeResult(name, call, outcome="error", error=f"the results of {call} could not be read back")
    seconds = header.get("seconds")
    result = ProbeResult(name, call, outcome=outcome, seconds=float(seconds) if isinstance(seconds, (int, float)) else None)
    if outcome != "ok":
        result.error = str(header.get("message") or f"{call} failed")[:800]
        return result
    try:
        if len(payload) > MAX_RESULT_BYTES:
            raise ValueError("results are too large")
        with np.load(io.BytesIO(payload), allow_pickle=False) as data:
            for key in sorted(data.files, key=lambda k: [(0, int(p), "") if p.isdigit() else (1, 0, p) for p in k.split("/")]):
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
                elif kind == "after":
                    result.after.setdefault(rest[0], {})[int(rest[1])] = arr
                elif kind == "step":
                    _step_entry(result.steps.setdefault(rest[0], StepOutputs()), rest[1:], arr)
        return result
    except (OSError, ValueError, TypeError, EOFError, zipfile.BadZipFile) as exc:
        return ProbeResult(name, call, outcome="error", error=f"the results of {call} could not be read back: {exc}")

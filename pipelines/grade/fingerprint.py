"""The cache keys of a grade, one per layer, so that an instructor's grader fix never re-executes a notebook.

A grade is built in three layers, each keyed by exactly what can change it:

- **execution** (the executed notebook, its exports, how each cell ended): the submitted bytes (not
  who submitted them), the unit's source notebooks and assignment.yaml, the engine code a notebook
  run goes through, the data provenance and the execution knobs (seed, profile, the notebook
  sandbox's limits, the device);
- **probes** (the student's plain outputs on the probes): the execution key, the probe worker's code,
  the probe sandbox's limits, device and preloaded modules, and the probe specs and inputs themselves
  (hashed as generated, so a grader edit that leaves every probe alone re-runs no probe);
- **scores** (results.json): the student, the execution key, the graders, the reference library,
  params.yaml and the scoring engine. When this key is unchanged nothing at all runs.

Engine files belong to the execution layer unless listed below: a new module costs a re-execution,
never a stale grade.
"""

from __future__ import annotations

import hashlib
import json
import types
from functools import cached_property
from pathlib import Path
from typing import Any

import gradcheck
import pipelines
from pipelines.grade.unit import Unit
from pipelines.paths import ensure_reference_importable, prepared_dir, project_root

# Engine modules that cannot change a grade: reports are rebuilt from cached results on every run,
# the staff's late policy and exports apply to them after the cache, and the rest are other commands.
NOT_GRADING = ("report", "staff", "cli.py", "doctor.py", "release.py", "leaks.py", "validate.py", "check.py", "examples.py",
               "export_check.py", "grade/fidelity.py", "replay.py", "similarity.py", "similarity_report.py",
               "grade/progress.py", "term.py")
# Engine modules that only the probe step runs, and those that only scoring (and the batch) runs.
PROBE_FILES = ("grade/probe_worker.py", "grade/probe_io.py", "grade/probing.py", "grade/probe_functions.py",
               "grade/chain.py", "grade/probe_values.py", "grade/probe_models.py")
SCORE_FILES = ("grade/score.py", "grade/api.py", "grade/gradebook.py", "grade/batch.py", "grade/cache.py",
               "grade/fingerprint.py", "grade/submission.py", "grade/provenance.py", "results.py",
               "grade/executors.py", "grade/dask_cluster.py")


def _package_dir(package: types.ModuleType) -> Path:
    return Path(str(package.__file__)).resolve().parent


def grading_engine_files() -> list[Path]:
    """The files of the installed ``pipelines`` package that grading runs, and the ``gradcheck``
    package its kit re-exports, in a stable order."""
    engine = _package_dir(pipelines)
    kit = sorted(f for f in _package_dir(gradcheck).rglob("*.py") if "__pycache__" not in f.parts)
    return sorted(
        f for f in engine.rglob("*.py")
        if "__pycache__" not in f.parts and not {f.relative_to(engine).parts[0], f.relative_to(engine).as_posix()} & set(NOT_GRADING)
    ) + kit


def reference_dir() -> Path:
    """The reference library graders compare with: the checkout's reference/ when there is one (what
    the graders import), else the installed package."""
    local = project_root() / "reference"
    if local.is_dir():
        return local
    return _package_dir(ensure_reference_importable())


def engine_digest() -> str:
    """The grading engine as this process runs it, by content: a Dask worker must run the same as the
    batch it grades for, or its grades would be stored under keys the batch never looks up."""
    engine = _package_dir(pipelines)
    d = Digest("engine")
    for f in grading_engine_files():
        d.path(f.relative_to(engine).as_posix() if engine in f.parents else f"gradcheck/{f.name}", f)
    return d.hexdigest()


def engine_files(layer: str) -> list[Path]:
    """The grading engine files of one layer: ``execution``, ``probes`` or ``scores``."""
    engine = _package_dir(pipelines)
    listed = {"probes": PROBE_FILES, "scores": SCORE_FILES}
    others = set(PROBE_FILES) | set(SCORE_FILES)

    def name(f: Path) -> str:
        return f.relative_to(engine).as_posix() if engine in f.parents else f.name

    files = grading_engine_files()
    if layer == "execution":
        return [f for f in files if name(f) not in others]
    return [f for f in files if name(f) in listed[layer]]


class Digest:
    """A sha256 fed with labelled files, folders and JSON values (labels keep parts apart)."""

    def __init__(self, *parts: str) -> None:
        self._h = hashlib.sha256()
        for part in parts:
            self.text(part)

    def text(self, value: str) -> Digest:
        self._h.update(len(value).to_bytes(8, "little") + value.encode())
        return self

    def value(self, obj: Any) -> Digest:
        return self.text(json.dumps(obj, sort_keys=True, default=str))

    def path(self, label: str, part: Path) -> Digest:
        if not part.exists():
            return self.text(f"{label}:<absent>")
        base = part if part.is_dir() else part.parent
        files = sorted(p for p in part.rglob("*") if p.is_file() and "__pycache__" not in p.parts) if part.is_dir() else [part]
        for f in files:
            self.text(f"{label}/{f.relative_to(base).as_posix()}")
            self._h.update(f.read_bytes())
        return self

    def hexdigest(self) -> str:
        return self._h.hexdigest()


class Fingerprints:
    """The parts of every key that do not depend on the student, computed once per batch."""

    def __init__(self, unit: Unit) -> None:
        self.unit = unit

    @cached_property
    def execution_static(self) -> str:
        unit = self.unit
        d = Digest("execution", unit.name)
        for name in unit.notebooks:
            d.path(f"source/{name}", unit.source_notebook(name))
        d.path("assignment.yaml", unit.root / "assignment.yaml")
        for f in engine_files("execution"):
            d.path(f"engine/{f.parent.name}/{f.name}", f)
        d.value({"seed": unit.params.get("seed"), "profile": unit.profile, "sandbox": unit.sandbox("notebook"),
                 "device": unit.device})
        for prov in sorted(prepared_dir().glob("*provenance.json")):
            d.path(prov.name, prov)
        return d.hexdigest()

    @cached_property
    def probes_static(self) -> str:
        d = Digest("probes")
        for f in engine_files("probes"):
            d.path(f"engine/{f.name}", f)
        d.value({"sandbox": self.unit.sandbox("probes"), "probe_timeout": self.unit.grading["probe_timeout"],
                 "device": self.unit.device, "preload": self.unit.preload})
        return d.hexdigest()

    @cached_property
    def scores_static(self) -> str:
        d = Digest("scores")
        d.path("graders", self.unit.graders_dir)
        d.path("reference", reference_dir())
        d.path("params.yaml", project_root() / "params.yaml")
        for f in engine_files("scores") + engine_files("probes"):
            d.path(f"engine/{f.name}", f)
        return d.hexdigest()

    @cached_property
    def provenance(self) -> dict[str, Any]:
        """What every grade of this batch was produced by, less the submission (``pipelines.grade.provenance``):
        computed once per batch, as the keys are."""
        from pipelines.grade.provenance import batch_record

        return batch_record(self.unit)

    def execution(self, submission_digest: str) -> str:
        """Not keyed by the student: nothing of a notebook run depends on who handed it in, so identical
        notebooks run once (the source's run in ``deepgrade validate`` serves the ``full`` example)."""
        return Digest(self.execution_static, submission_digest).hexdigest()

    def probes(self, execution_key: str, specs: list[dict[str, Any]], inputs_digest: str) -> str:
        return Digest(self.probes_static, execution_key, inputs_digest).value(specs).hexdigest()

    def scores(self, student_id: str, execution_key: str) -> str:
        """Keyed by the student too: the probes are seeded per student, and results.json names them."""
        return Digest(self.scores_static, student_id, execution_key).hexdigest()


def inputs_digest(inputs: dict[str, dict[str, Any]]) -> str:
    """Hash of the generated probe inputs by value (dtype, shape, bytes); ``.npz`` files carry times."""
    import numpy as np

    from pipelines.grade.probe_functions import Fn

    d = Digest("inputs")

    def add(where: list[Any], value: Any) -> None:
        if value is None or isinstance(value, str):
            d.value([*where, "literal", value])
            return
        if isinstance(value, Fn):
            d.value([*where, "fn", value.name])
            for j, param in enumerate(value.params):
                add([*where, j], param)
            return
        arr = np.ascontiguousarray(value)
        d.value([*where, str(arr.dtype), list(arr.shape), type(value).__name__])
        d._h.update(arr.tobytes())

    from pipelines.grade.chain import NumGrad, encode_steps

    for name in sorted(inputs):
        for section in sorted(inputs[name]):
            values = inputs[name][section]
            if section == "steps":  # a chained probe: its recipe as JSON, then its arrays by key
                arrays: dict[str, Any] = {}
                d.value([name, section, encode_steps(name, list(values), arrays)])
                values = arrays
            elif isinstance(values, NumGrad) or values is None:
                d.value([name, section, None if values is None else [list(values.of), list(values.wrt), values.k]])
                values = {} if values is None or values.weights is None else {"weights": values.weights}
            for key, value in (sorted(values.items()) if isinstance(values, dict) else enumerate(values)):
                add([name, section, key], value)
    return d.hexdigest()

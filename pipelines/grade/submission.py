"""Grade one student's submission: read -> restore -> execute -> probe -> score.

Each step is a small function; ``grade_submission`` is the whole pipeline in one screen. Student
code runs only in the two sandboxed steps (execute, probe); scores come from ``score``, in this
trusted process, from the plain arrays those steps wrote.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nbformat
import numpy as np

from pipelines.errors import DeepgradeError
from pipelines.execute import statuses
from pipelines.execute.outcome import messages, notebook_outcome
from pipelines.execute.sandbox import run_sandboxed
from pipelines.grade import notebook as nbtools
from pipelines.grade.cache import LayerCache
from pipelines.grade.fingerprint import Fingerprints, inputs_digest
from pipelines.grade.probe_io import ProbeResult, missing_result, parse_result, write_probes
from pipelines.grade.score import GraderPlugin, run_graders
from pipelines.grade.unit import Unit
from pipelines.results import StudentResult, TestResult


@dataclass
class Job:
    """The working folder of one submission (mounted writable at /job in the sandbox)."""

    unit: Unit
    student_id: str
    dir: Path
    data_view: Path
    seed: int
    digest: str
    flags: list[tuple[str, str]] = field(default_factory=list)
    failed_grade_cells: dict[str, str] = field(default_factory=dict)
    internal: list[str] = field(default_factory=list)
    export_dir: Path | None = None
    execution: Path | None = None  # the cached execution layer (executed notebooks, exports)

    def flag(self, status: str, message: str) -> None:
        self.flags.append((status, message))

    @property
    def status(self) -> str:
        return statuses.worst(*(status for status, _ in self.flags))

    @property
    def notes(self) -> list[str]:
        return [message for _, message in self.flags]


def submission_digest(student_dir: Path, unit: Unit) -> str:
    """Hash of the submitted notebooks (what the cache key and the probe seeds derive from)."""
    h = hashlib.sha256()
    for nb in unit.notebooks:
        path = student_dir / nb
        h.update(nb.encode())
        h.update(path.read_bytes() if path.is_file() else b"<missing>")
    return h.hexdigest()


# --- the steps ---------------------------------------------------------------------------


def read_and_restore(job: Job, student_dir: Path) -> bool:
    """Steps 1-2: parse each notebook and restore protected cells. False when nothing can run."""
    for name in job.unit.notebooks:
        path = student_dir / name
        if not path.is_file():
            job.flag(statuses.MISSING, f"{name} was not found in your submission folder.")
            return False
        try:
            submitted = nbtools.read_notebook(path)
        except DeepgradeError as exc:
            job.flag(statuses.INVALID_NOTEBOOK, f"{exc}. Open it in Jupyter, save it again and resubmit.")
            return False
        restored = nbtools.restore(submitted, nbtools.load_source(job.unit.source_notebook(name)))
        for message in restored.tampering:
            job.flag(statuses.TAMPERED, f"{name}: {message}.")
        nbformat.write(restored.notebook, job.dir / name)
    return True


def execute(job: Job, cache: LayerCache, key: str) -> None:
    """Step 3, or its cached result: the executed notebooks, their exports and how each run ended."""
    hit = cache.get("execution", key)
    if hit is None:
        before = len(job.flags)
        run_notebooks(job)
        state: dict[str, Any] = {"flags": job.flags[before:], "failed_grade_cells": job.failed_grade_cells}
        if job.internal:  # an engine fault is never kept
            job.export_dir = job.dir / "export"
            return
        hit = cache.put("execution", key, {}, {"executed": job.dir / "executed", "export": job.dir / "export"}, state)
    else:
        state = cache.meta(hit)
        job.flags.extend((status, message) for status, message in state["flags"])
        job.failed_grade_cells.update(dict(state["failed_grade_cells"]))
    job.execution = hit
    job.export_dir = hit / "export"


def run_notebooks(job: Job) -> None:
    """Run each notebook with papermill in the sandbox (parameters injected)."""
    settings = job.unit.sandbox("notebook")
    limits = job.unit.limits("notebook")
    (job.dir / "export").mkdir(exist_ok=True)
    (job.dir / "executed").mkdir(exist_ok=True)
    parameters = json.dumps({"data_dir": "/data/prepared", "seed": job.seed, "device": "cpu", "profile": job.unit.profile})
    for name in job.unit.notebooks:
        argv = [
            sys.executable, "-m", "pipelines.execute.run_notebook", name, f"executed/{name}",
            "--parameters", parameters,
            "--cell-timeout", str(settings["cell_timeout"]),
            "--output-cap", str(settings["output_cap_kb"] * 1024),
            # Half the file-size limit: the executed notebook (outputs plus sources) must still fit.
            "--total-cap", str(limits.file_mb * 1024 * 1024 // 2),
        ]
        run = run_sandboxed(argv, job.dir, limits, data_dir=job.data_view, report=True,
                            env={"DEEPGRADE_EXPORT_DIR": "/job/export"}, log_name=f"execute-{name}.log")
        outcome = notebook_outcome(name, run, limits, int(settings["cell_timeout"]))
        for status, message in outcome.flags:
            job.flag(status, message)
        job.failed_grade_cells.update(outcome.failed_grade_cells)
        job.internal.extend(outcome.internal)


def probe_seed(job: Job, probe_name: str) -> np.random.Generator:
    """Fresh inputs per student and submission, reproducible for a regrade of the same files."""
    digest = hashlib.sha256(f"{job.seed}:{job.student_id}:{job.digest}:{probe_name}".encode()).digest()
    return np.random.default_rng(int.from_bytes(digest[:8], "little"))


def make_probes(job: Job) -> tuple[list[dict[str, Any]], dict[str, dict[str, list[Any]]]]:
    """The probe specs and their inputs, seeded per student and submission (trusted side)."""
    default_timeout = float(job.unit.grading["probe_timeout"])
    specs, inputs = [], {}
    for p in job.unit.probes:
        rng = probe_seed(job, p.name)
        made = p.make(rng)
        if p.numeric_grad:
            arg, _, k = p.numeric_grad
            shape = np.shape(made["args"][arg])
            made["numgrad_idx"] = [np.stack([rng.integers(0, n, size=k) for n in shape], axis=1)]
        inputs[p.name] = made
        specs.append({"name": p.name, "call": p.call, "methods": list(p.methods), "attrs": list(p.attrs),
                      "timeout": p.timeout or default_timeout, "timed": p.timed, "repeats": p.repeats,
                      "numeric_grad": list(p.numeric_grad) if p.numeric_grad else None})
    return specs, inputs


def probe(job: Job, cache: LayerCache, key: str, specs: list[dict[str, Any]],
          inputs: dict[str, dict[str, list[Any]]]) -> dict[str, ProbeResult]:
    """Step 4, or its cached result: the student's export cells evaluated on the probes in the sandbox."""
    hit = cache.get("probes", key)
    if hit is None:
        report, run = run_probes(job, specs, inputs)
        results = read_probe_report(job, specs, report, run)
        if not job.internal:
            cache.put("probes", key, {"report.bin": report}, {}, run)
        return results
    return read_probe_report(job, specs, (hit / "report.bin").read_bytes(), cache.meta(hit))


def run_probes(job: Job, specs: list[dict[str, Any]], inputs: dict[str, dict[str, list[Any]]]) -> tuple[bytes, dict[str, Any]]:
    """Run the probe worker in the sandbox on the export cells; its report and how the run ended."""
    unit = job.unit
    default_timeout = float(unit.grading["probe_timeout"])
    source = "".join(nbtools.export_source(nbtools.read_notebook(job.dir / nb)) for nb in unit.notebooks)
    (job.dir / "exports.py").write_text(source)
    write_probes(job.dir, specs, inputs)
    limits = unit.limits("probes")
    # Each probe has its own deadline inside; the whole run also pays for the timing baselines.
    total = sum(s["timeout"] for s in specs) + default_timeout + 30
    limits = dataclasses.replace(limits, wall_seconds=min(limits.wall_seconds, total))
    run = run_sandboxed([sys.executable, "-m", "pipelines.grade.probe_worker", str(default_timeout)],
                        job.dir, limits, data_dir=job.data_view, log_name="probes.log", report=True)
    if run.report_overflow:
        job.internal.append("the probe worker's report passed its size cap and was cut")
    return run.report, {"timed_out": run.timed_out, "wall_seconds": limits.wall_seconds,
                        "returncode": run.returncode, "output": run.output[-3000:]}


def read_probe_report(job: Job, specs: list[dict[str, Any]], report: bytes, run: dict[str, Any]) -> dict[str, ProbeResult]:
    """Each probe's typed record from the worker's report; flags for timeouts and memory."""
    records = {m.header.get("name"): m for m in messages(report) if m.header.get("event") == "probe"}
    if run["timed_out"]:
        job.flag(statuses.TIMEOUT, f"checking your exported functions took longer than {run['wall_seconds']:g} s in all and was stopped.")
    elif len(records) < len(specs):
        job.internal.append(f"probe worker exit {run['returncode']}, {len(records)}/{len(specs)} records:\n{run['output']}")
    why = "the checking run was stopped (time limit)" if run["timed_out"] else "the checking run stopped unexpectedly"
    results = {}
    for s in specs:
        record = records.get(s["name"])
        results[s["name"]] = (parse_result(s["name"], s["call"], record.header, record.payload) if record is not None
                              else missing_result(s["name"], s["call"], why))
    for status, outcome, what in ((statuses.TIMEOUT, "timeout", "ran out of time"), (statuses.OOM, "oom", "ran out of memory")):
        hit = sorted({r.call for r in results.values() if r.outcome == outcome})
        if hit:
            job.flag(status, f"while being checked, {', '.join(hit)} {what}.")
    return results


def score(job: Job, inputs: dict, results: dict) -> tuple[list[TestResult], list[str]]:
    """Step 5: the hidden graders compare the plain results with the reference (trusted)."""
    plugin = GraderPlugin(job.unit, inputs, results, job.export_dir)
    tests = run_graders(job.unit, plugin)
    return tests, plugin.internal_errors


# --- the pipeline --------------------------------------------------------------------------


def grade_submission(unit: Unit, student_id: str, student_dir: Path, job_dir: Path, data_view: Path,
                     cache: LayerCache, keys: Fingerprints) -> tuple[StudentResult, list[str], Path | None]:
    """Grade one student: the result, instructor-only diagnostics and the execution layer's folder.
    Never raises for student faults. Each cached layer whose key is unchanged is reused, not re-run."""
    if job_dir.exists():
        shutil.rmtree(job_dir)
    job_dir.mkdir(parents=True)
    job = Job(unit, student_id, job_dir, data_view, int(unit.params.get("seed", 0)), submission_digest(student_dir, unit))
    max_score, manual = unit_points(unit)
    tests: list[TestResult] = []
    internal: list[str] = []
    if read_and_restore(job, student_dir):
        execution_key = keys.execution(student_id, job.digest)
        execute(job, cache, execution_key)
        specs, inputs = make_probes(job)
        results = probe(job, cache, keys.probes(execution_key, specs, inputs_digest(inputs)), specs, inputs)
        tests, internal = score(job, inputs, results)
    total = round(sum(t.points for t in tests), 6)
    result = StudentResult(student_id, unit.name, total, max_score, job.status, tests, job.notes, manual,
                           blind_spots(job.failed_grade_cells, tests))
    return result, job.internal + internal, job.execution


def blind_spots(failed_cells: dict[str, str], tests: list[TestResult]) -> list[dict[str, str]]:
    """Self-check cells that failed in the notebook although every hidden test of that cell passed."""
    spots = []
    for cell, error in sorted(failed_cells.items()):
        mine = [t for t in tests if t.cell == cell]
        if mine and all(t.status == "passed" for t in mine):
            spots.append({"cell": cell, "error": error[:300]})
    return spots


def unit_points(unit: Unit) -> tuple[float, float]:
    """(autograded, manually graded) points of the unit's source notebooks."""
    cells = [cell for _, cell in unit.source_cells()]
    return (sum(nbtools.cell_points(c) for c in cells if nbtools.is_autograded_test(c)),
            sum(nbtools.cell_points(c) for c in cells if nbtools.is_manually_graded(c)))

"""Grade one student's submission: read -> restore -> execute -> probe -> score.

Each step is a small function; ``grade_submission`` is the whole pipeline in one screen. Student
code runs only in the two sandboxed steps (execute, probe); scores come from ``score``, in this
trusted process, from the plain arrays those steps wrote.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import nbformat
import numpy as np

from pipelines.errors import DeepgradeError
from pipelines.execute import statuses
from pipelines.execute.sandbox import run_sandboxed
from pipelines.grade import notebook as nbtools
from pipelines.grade.probe_io import load_result, write_probes
from pipelines.grade.score import GraderPlugin, TestResult, run_graders
from pipelines.grade.unit import Unit


@dataclass
class StudentResult:
    """One student's outcome; ``to_json`` is results.json (docs/design.md §3)."""

    student_id: str
    assignment: str
    score: float
    max_score: float
    status: str
    tests: list[TestResult] = field(default_factory=list)
    messages: list[str] = field(default_factory=list)
    manual_points_pending: float = 0.0

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["tests"] = [t.to_json() for t in self.tests]
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "StudentResult":
        data = dict(data)
        data["tests"] = [TestResult(**t) for t in data.get("tests", [])]
        return cls(**data)


@dataclass
class Job:
    """The working folder of one submission (mounted writable at /job in the sandbox)."""

    unit: Unit
    student_id: str
    dir: Path
    data_view: Path
    seed: int
    digest: str
    notes: list[str] = field(default_factory=list)
    status: str = statuses.OK

    def flag(self, status: str, message: str) -> None:
        self.status = statuses.worst(self.status, status)
        self.notes.append(message)


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


def execute(job: Job) -> None:
    """Step 3: run each notebook with papermill in the sandbox (parameters injected)."""
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
        ]
        run = run_sandboxed(argv, job.dir, limits, data_dir=job.data_view,
                            env={"DEEPGRADE_EXPORT_DIR": "/job/export"}, log_name=f"execute-{name}.log")
        report = job.dir / "execution.json"
        if run.timed_out:
            job.flag(statuses.TIMEOUT, f"{name}: the notebook ran longer than {limits.wall_seconds:g} s and was stopped.")
        elif run.killed_by in ("SIGXCPU", "SIGKILL"):
            job.flag(statuses.TIMEOUT, f"{name}: the notebook used more than {limits.cpu_seconds} s of CPU time and was stopped.")
        elif report.exists():
            outcome = json.loads(report.read_text())
            if outcome["status"] != statuses.OK:
                cell, starts = outcome.get("failed_cell"), outcome.get("cell_starts")
                where = f" (cell {cell + 1}" if isinstance(cell, int) else ""
                where += f", the one starting `{starts}`)" if where and starts else (")" if where else "")
                job.flag(outcome["status"], f"{name}{where}: {outcome['message']}")
            report.unlink()
        else:
            job.flag(statuses.KERNEL_DIED, f"{name}: the notebook runner stopped unexpectedly ({run.output.strip()[-300:]}).")


def probe_seed(job: Job, probe_name: str) -> np.random.Generator:
    """Fresh inputs per student and submission, reproducible for a regrade of the same files."""
    digest = hashlib.sha256(f"{job.seed}:{job.student_id}:{job.digest}:{probe_name}".encode()).digest()
    return np.random.default_rng(int.from_bytes(digest[:8], "little"))


def probe(job: Job) -> tuple[dict[str, dict[str, list[Any]]], dict]:
    """Step 4: build seeded inputs here, evaluate the student's export cells on them in the sandbox."""
    unit = job.unit
    default_timeout = float(unit.grading["probe_timeout"])
    specs, inputs = [], {}
    for p in unit.probes:
        rng = probe_seed(job, p.name)
        made = p.make(rng)
        if p.numeric_grad:
            arg, _, k = p.numeric_grad
            shape = np.shape(made["args"][arg])
            made["numgrad_idx"] = [np.stack([rng.integers(0, n, size=k) for n in shape], axis=1)]
        inputs[p.name] = made
        specs.append({"name": p.name, "call": p.call, "methods": list(p.methods), "attrs": list(p.attrs),
                      "timeout": p.timeout or default_timeout, "numeric_grad": list(p.numeric_grad) if p.numeric_grad else None})
    source = "".join(nbtools.export_source(nbtools.read_notebook(job.dir / nb)) for nb in unit.notebooks)
    (job.dir / "exports.py").write_text(source)
    write_probes(job.dir, specs, inputs)
    total = sum(s["timeout"] for s in specs) + default_timeout
    limits = unit.limits("probes")
    limits = type(limits)(limits.memory_mb, limits.cpu_seconds, min(limits.wall_seconds, total + 30), limits.file_mb)
    run = run_sandboxed([sys.executable, "-m", "pipelines.grade.probe_worker", str(default_timeout)],
                        job.dir, limits, data_dir=job.data_view, log_name="probes.log")
    if run.timed_out:
        job.flag(statuses.TIMEOUT, "your exported functions ran out of time while being checked.")
    results = {s["name"]: load_result(job.dir, s["name"], s["call"]) for s in specs}
    return inputs, results


def score(job: Job, inputs: dict, results: dict) -> tuple[list[TestResult], list[str]]:
    """Step 5: the hidden graders compare the plain results with the reference (trusted)."""
    plugin = GraderPlugin(job.unit, inputs, results, job.dir / "export")
    tests = run_graders(job.unit, plugin)
    return tests, plugin.internal_errors


# --- the pipeline --------------------------------------------------------------------------


def grade_submission(unit: Unit, student_id: str, student_dir: Path, job_dir: Path, data_view: Path) -> tuple[StudentResult, list[str]]:
    """Grade one student; returns the result and instructor-only diagnostics. Never raises for student faults."""
    if job_dir.exists():
        shutil.rmtree(job_dir)
    job_dir.mkdir(parents=True)
    job = Job(unit, student_id, job_dir, data_view, int(unit.params.get("seed", 0)), submission_digest(student_dir, unit))
    max_score, manual = unit_points(unit)
    tests: list[TestResult] = []
    internal: list[str] = []
    if read_and_restore(job, student_dir):
        execute(job)
        inputs, results = probe(job)
        tests, internal = score(job, inputs, results)
    total = round(sum(t.points for t in tests), 6)
    result = StudentResult(student_id, unit.name, total, max_score, job.status, tests, job.notes, manual)
    return result, internal


def unit_points(unit: Unit) -> tuple[float, float]:
    """(autograded, manually graded) points of the unit's source notebooks."""
    auto = manual = 0.0
    for name in unit.notebooks:
        for cell in nbtools.load_source(unit.source_notebook(name)).cells:
            meta = cell.get("metadata", {}).get("nbgrader", {})
            if meta.get("grade"):
                if meta.get("solution"):
                    manual += float(meta.get("points", 0))
                else:
                    auto += float(meta.get("points", 0))
    return auto, manual

"""Grade one student's submission: read -> restore -> execute -> probe -> score.

``grade_submission`` is the whole pipeline in one screen; each step lives in the module of its cache
layer (``execution``, ``probing``, and scoring here), so that editing one step re-runs that layer and
the ones after it, never those before. Student code runs only in the two sandboxed steps (execute,
probe), which run side by side (the probes need only the export cells); scores come from ``score``,
in this trusted process, from the plain arrays those steps sent.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipelines.grade import notebook as nbtools
from pipelines.grade.allowed import enforce
from pipelines.grade.cache import LayerCache
from pipelines.grade.execution import execute, read_and_restore
from pipelines.grade.fingerprint import Fingerprints, inputs_digest
from pipelines.grade.intake import Submission
from pipelines.grade.job import Job
from pipelines.grade.probing import make_probes, start_probe
from pipelines.grade.score import GraderPlugin, run_graders
from pipelines.grade.unit import Unit
from pipelines.results import NOT_RUN, StudentResult, TestResult


def score(job: Job, inputs: dict, results: dict) -> tuple[list[TestResult], list[str]]:
    """Step 5: the hidden graders compare the plain results with the reference (trusted)."""
    tests, plugin = score_with(job, inputs, results)
    return tests, plugin.internal_errors


def score_with(job: Job, inputs: dict, results: dict, only: list[str] | None = None) -> tuple[list[TestResult], GraderPlugin]:
    """``score``, also handing back the plugin (what each test read: for blind spots and the fidelity checks)."""
    plugin = GraderPlugin(job.unit, inputs, results, job.export_dir)
    return run_graders(job.unit, plugin, only), plugin


def grade_submission(unit: Unit, student_id: str, submission: Submission, job_dir: Path, data_view: Path,
                     cache: LayerCache, keys: Fingerprints) -> tuple[StudentResult, list[str], Path | None]:
    """Grade one student's notebooks as read: the result, instructor-only diagnostics and the execution
    layer's folder. Never raises for student faults. Each cached layer whose key is unchanged is
    reused, not re-run; every key derives from the bytes that are graded."""
    if job_dir.exists():
        shutil.rmtree(job_dir)
    job_dir.mkdir(parents=True)
    job = new_job(unit, student_id, submission.digest, job_dir, data_view)
    max_score, manual = unit_points(unit)
    tests: list[TestResult] = []
    internal: list[str] = []
    spots: list[dict[str, str]] = []
    if read_and_restore(job, submission):
        layers = plan(job, keys)
        # The probes' sandbox runs beside the notebook's, unless a probe is timed: then it runs after
        # it, so that the notebook's work cannot slow the student's code while it is being timed.
        timed = any(s["timed"] for s in layers.specs)
        probed = None if timed else start_probe(job, cache, layers.probes, layers.specs, layers.inputs)
        execute(job, cache, layers.execution)
        results = enforce(job, (probed or start_probe(job, cache, layers.probes, layers.specs, layers.inputs))())
        tests, plugin = score_with(job, layers.inputs, results)
        internal = plugin.internal_errors
        spots = blind_spots(unit, job.failed_grade_cells, tests, caught_functions(tests, plugin.probes_used, layers.specs))
    total = round(sum(t.points for t in tests), 6)
    failed_checks = {cell: error[:300] for cell, error in job.failed_grade_cells.items() if cell in unit.self_check_uses}
    result = StudentResult(student_id, unit.name, total, max_score, job.status, tests, job.notes, manual, spots,
                           failed_checks, resources=job.resources,
                           provenance={**keys.provenance, "submission": submission.digest})
    return result, job.internal + internal, job.execution


@dataclass(frozen=True)
class Plan:
    """A submission's cache keys for its notebook run and its probe run, and the probes they key."""

    execution: str
    probes: str
    specs: list[dict[str, Any]]
    inputs: dict[str, dict[str, Any]]


def plan(job: Job, keys: Fingerprints) -> Plan:
    """The layer keys of ``job``: its probes are built (seeded) to key the probe run by what they are."""
    execution = keys.execution(job.digest)
    specs, inputs = make_probes(job)
    return Plan(execution, keys.probes(execution, specs, inputs_digest(inputs)), specs, inputs)


def new_job(unit: Unit, student_id: str, digest: str, job_dir: Path, data_view: Path) -> Job:
    """The job of one submission, seeded by ``params.yaml: seed`` and keyed by the digest of the
    notebooks submitted (``intake.Submission``)."""
    return Job(unit, student_id, job_dir, data_view, int(unit.params.get("seed", 0)), digest)


def only_scoring_left(job: Job, cache: LayerCache, keys: Fingerprints) -> bool:
    """Whether both sandboxed steps of ``job`` are cached, so that grading it is scoring alone (after a
    grader or threshold edit that left every probe's inputs as they were)."""
    if cache.get("execution", keys.execution(job.digest)) is None:
        return False
    return cache.get("probes", plan(job, keys).probes) is not None


def caught_functions(tests: list[TestResult], probes_used: dict[str, set[str]], specs: list[dict[str, Any]]) -> set[str]:
    """The exported names a hidden test that did not pass reached: every name that each probe it read
    calls (a chained probe's steps included)."""
    calls = {s["name"]: s["calls"] for s in specs}
    return {name for t in tests if t.status != "passed" for probe in probes_used.get(t.name, ())
            for name in calls.get(probe, ())}


def blind_spots(unit: Unit, failed_cells: dict[str, str], tests: list[TestResult], caught: set[str]) -> list[dict[str, str]]:
    """Self-check cells that failed in the notebook although every hidden test of the cell passed and
    no exported function the cell names was ``caught`` by a hidden test anywhere. A self-check that
    fails because a function it calls is wrong, which that function's own checks caught (a check of
    an alternative implementation against the student's first one), is no blind spot of the graders."""
    spots = []
    for cell, error in sorted(failed_cells.items()):
        mine = [t for t in tests if t.cell == cell and t.status != NOT_RUN]
        if mine and all(t.status == "passed" for t in mine) and not unit.self_check_uses.get(cell, frozenset()) & caught:
            spots.append({"cell": cell, "error": error[:300]})
    return spots


def unit_points(unit: Unit) -> tuple[float, float]:
    """(autograded, manually graded) points of the unit's source notebooks."""
    cells = [cell for _, cell in unit.source_cells()]
    return (sum(nbtools.cell_points(c) for c in cells if nbtools.is_autograded_test(c)),
            sum(nbtools.cell_points(c) for c in cells if nbtools.is_manually_graded(c)))

"""Grade one student's submission: read -> restore -> execute -> probe -> score.

``grade_submission`` is the whole pipeline in one screen; each step lives in the module of its cache
layer (``execution``, ``probing``, and scoring here), so that editing one step re-runs that layer and
the ones after it, never those before. Student code runs only in the two sandboxed steps (execute,
probe), which run side by side (the probes need only the export cells); scores come from ``score``,
in this trusted process, from the plain arrays those steps sent.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from pipelines.grade import notebook as nbtools
from pipelines.grade.allowed import enforce
from pipelines.grade.cache import LayerCache
from pipelines.grade.execution import execute, read_and_restore
from pipelines.grade.fingerprint import Fingerprints, inputs_digest
from pipelines.grade.job import Job, submission_digest
from pipelines.grade.probing import make_probes, start_probe
from pipelines.grade.score import GraderPlugin, run_graders
from pipelines.grade.unit import Unit
from pipelines.results import NOT_RUN, StudentResult, TestResult


def score(job: Job, inputs: dict, results: dict) -> tuple[list[TestResult], list[str]]:
    """Step 5: the hidden graders compare the plain results with the reference (trusted)."""
    tests, plugin = score_with(job, inputs, results)
    return tests, plugin.internal_errors


def score_with(job: Job, inputs: dict, results: dict, only: list[str] | None = None) -> tuple[list[TestResult], GraderPlugin]:
    """``score``, also handing back the plugin (what each test read, for the fidelity checks)."""
    plugin = GraderPlugin(job.unit, inputs, results, job.export_dir)
    return run_graders(job.unit, plugin, only), plugin


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
        specs, inputs = make_probes(job)
        probes_key = keys.probes(execution_key, specs, inputs_digest(inputs))
        # The probes' sandbox runs beside the notebook's, unless a probe is timed: then it runs after
        # it, so that the notebook's work cannot slow the student's code while it is being timed.
        timed = any(s["timed"] for s in specs)
        probed = None if timed else start_probe(job, cache, probes_key, specs, inputs)
        execute(job, cache, execution_key)
        results = enforce(job, (probed or start_probe(job, cache, probes_key, specs, inputs))())
        tests, internal = score(job, inputs, results)
    total = round(sum(t.points for t in tests), 6)
    result = StudentResult(student_id, unit.name, total, max_score, job.status, tests, job.notes, manual,
                           blind_spots(job.failed_grade_cells, tests))
    return result, job.internal + internal, job.execution


def blind_spots(failed_cells: dict[str, str], tests: list[TestResult]) -> list[dict[str, str]]:
    """Self-check cells that failed in the notebook although every hidden test of that cell passed."""
    spots = []
    for cell, error in sorted(failed_cells.items()):
        mine = [t for t in tests if t.cell == cell and t.status != NOT_RUN]
        if mine and all(t.status == "passed" for t in mine):
            spots.append({"cell": cell, "error": error[:300]})
    return spots


def unit_points(unit: Unit) -> tuple[float, float]:
    """(autograded, manually graded) points of the unit's source notebooks."""
    cells = [cell for _, cell in unit.source_cells()]
    return (sum(nbtools.cell_points(c) for c in cells if nbtools.is_autograded_test(c)),
            sum(nbtools.cell_points(c) for c in cells if nbtools.is_manually_graded(c)))

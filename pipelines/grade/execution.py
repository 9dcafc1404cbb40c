"""Steps 1-3 of a submission: read, restore protected cells, execute the notebooks in the sandbox.

What these steps produce is the execution layer of the cache (``pipelines.grade.fingerprint``): the
executed notebooks, the exports and how each cell ended. Editing this module re-executes notebooks.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path
from typing import Any

import nbformat

from pipelines.execute import statuses
from pipelines.execute.jobfiles import copy_regular_files
from pipelines.execute.outcome import notebook_outcome
from pipelines.execute.sandbox import run_sandboxed
from pipelines.grade import notebook as nbtools
from pipelines.grade.cache import LayerCache
from pipelines.grade.intake import Rejected, Submission, parse_submitted
from pipelines.grade.job import Job


def read_and_restore(job: Job, submission: Submission) -> bool:
    """Steps 1-2: parse each notebook as read and restore protected cells. False when nothing can run."""
    for name in job.unit.notebooks:
        source = nbtools.load_source(job.unit.source_notebook(name))
        try:
            submitted = parse_submitted(submission.data(name), name, source)
        except Rejected as rejected:
            job.flag(rejected.status, str(rejected))
            return False
        if submission.others:
            job.flag(statuses.OK, f"only {name} was graded; the other notebook(s) in your folder "
                                  f"({', '.join(submission.others)}) were not opened.")
        restored = nbtools.restore(submitted, source)
        for message in restored.tampering:
            job.flag(statuses.TAMPERED, f"{name}: {message}.")
        nbformat.write(restored.notebook, job.dir / name)
        job.export_source += nbtools.export_source(restored.notebook)
    return True


def execute(job: Job, cache: LayerCache, key: str) -> None:
    """Step 3, or its cached result: the executed notebooks, their exports and how each run ended."""
    hit = cache.get("execution", key)
    if hit is None:
        before = len(job.flags)
        run_notebooks(job)
        state: dict[str, Any] = {"flags": job.flags[before:], "failed_grade_cells": job.failed_grade_cells,
                                 "resources": job.resources}
        if job.internal:  # an engine fault is never kept; its exports are still read as regular files only
            job.export_dir = Path(tempfile.mkdtemp(prefix=".export-", dir=job.dir))
            copy_regular_files(job.dir / "export", job.export_dir / "export")
            job.export_dir = job.export_dir / "export"
            return
        hit = cache.put("execution", key, {}, {"executed": job.dir / "executed", "export": job.dir / "export"}, state)
    else:
        state = cache.meta(hit)
        job.flags.extend((status, message) for status, message in state["flags"])
        job.failed_grade_cells.update(dict(state["failed_grade_cells"]))
        job.resources.update(state.get("resources", {}))
    job.execution = hit
    job.export_dir = hit / "export"


def run_notebooks(job: Job) -> None:
    """Run each notebook with papermill in the sandbox (parameters injected)."""
    settings = job.unit.sandbox("notebook")
    limits = job.unit.limits("notebook")
    (job.dir / "export").mkdir(exist_ok=True)
    (job.dir / "executed").mkdir(exist_ok=True)
    parameters = json.dumps({"data_dir": "/data/prepared", "seed": job.seed, "device": job.unit.device,
                             "profile": job.unit.profile})
    for name in job.unit.notebooks:
        timeouts = job.unit.cell_timeouts(name)
        argv = [
            sys.executable, "-m", "pipelines.execute.run_notebook", name, f"executed/{name}",
            "--parameters", parameters,
            "--cell-timeouts", timeouts.to_json(),
            "--output-cap", str(settings["output_cap_kb"] * 1024),
            # Half the file-size limit: the executed notebook (outputs plus sources) must still fit.
            "--total-cap", str(limits.file_mb * 1024 * 1024 // 2),
        ]
        run = run_sandboxed(argv, job.dir, limits, data_dir=job.data_view, report=True,
                            env={"DEEPGRADE_EXPORT_DIR": "/job/export"}, log_name=f"execute-{name}.log")
        outcome = notebook_outcome(name, run, limits, timeouts)
        job.resources["notebook_seconds"] = round(job.resources.get("notebook_seconds", 0.0) + run.seconds, 3)
        if run.peak_memory_bytes is not None:
            job.resources["peak_memory_mb"] = max(job.resources.get("peak_memory_mb", 0.0),
                                                  round(run.peak_memory_bytes / 2**20, 1))
        for status, message in outcome.flags:
            job.flag(status, message)
        job.failed_grade_cells.update(outcome.failed_grade_cells)
        job.internal.extend(outcome.internal)

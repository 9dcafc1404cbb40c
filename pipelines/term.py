"""``deepgrade term``: grade every unit of a term in one call, on this machine or a Dask cluster.

A course of hundreds of students and ten units is thousands of notebook runs a term; this command
runs each unit's batch (``pipelines.grade.batch.grade_unit``: cache lookups, then the executor) under
one sandbox check, one executor (a cluster is connected to once) and one progress display, then
writes the term's summary per unit and per student (``pipelines.report.term_summary``).
"""

from __future__ import annotations

from pathlib import Path

from pipelines.errors import DeepgradeError
from pipelines.execute.sandbox import UNSAFE_NOTE
from pipelines.grade.batch import console, grade_unit, grading_session, student_folders
from pipelines.params import load_params
from pipelines.paths import examples_dir
from pipelines.report.term_summary import UnitOutcome, write_term_report


def term_units(requested: list[str] | None) -> list[str]:
    """The units to grade: those asked for, in the order of ``params.yaml: units``; all of them by default."""
    known = list(load_params().get("units") or {})
    unknown = sorted(set(requested or ()) - set(known))
    if unknown:
        raise DeepgradeError(f"not a unit of this term (params.yaml: units): {', '.join(unknown)}; "
                             f"known: {', '.join(known) or 'none'}")
    return [u for u in known if requested is None or u in requested]


def grade_term(units: list[str] | None, submitted: Path | None, out: Path, workers: int = 1, executor: str = "local",
               scheduler: str | None = None, use_cache: bool = True, unsafe_no_sandbox: bool = False) -> list[UnitOutcome]:
    """Grade ``submitted/<student>/<unit>/`` for every unit (default: each unit's generated examples,
    ``examples/<unit>/submitted``) into ``out/<unit>/``, then the term summary into ``out``."""
    outcomes = []
    folders = {unit: submitted or examples_dir(unit) for unit in term_units(units)}
    with grading_session(workers, executor, scheduler, unsafe_no_sandbox) as session:
        session.progress.term(sum(len(student_folders(folder)) for folder in folders.values()))
        for unit, folder in folders.items():
            summary = grade_unit(session, unit, folder, out / unit, use_cache)
            outcomes.append(UnitOutcome(unit, summary.results, summary.graded, summary.cached, summary.failed))
    write_term_report(out, outcomes, UNSAFE_NOTE if unsafe_no_sandbox else None)
    console.print(f"term: {len(outcomes)} units -> {out / 'term_report.html'}")
    return outcomes

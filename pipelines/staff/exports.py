"""``deepgrade export``: a term's grades in the formats teaching staff push them to.

Reads what ``deepgrade autograde`` wrote (``<graded>/<unit>/grades.csv``, a row for every student, and
each student's results.json: scores after the late policy) and writes below ``out``:

- ``gradescope/<unit>/<student_id>/results.json``: Gradescope's autograder format (``report/gradescope.py``);
- ``canvas.csv``: Canvas's gradebook import, a column per unit (``report/canvas.py``);
- ``moodle.csv``: Moodle's grade import with feedback, keyed as ``params.yaml`` says (``report/moodle.py``);
- ``feedback/<student_id>/<unit>/<notebook>.html``: nbgrader's release layout (``nbgrader_feedback.py``);
- ``roster_missing.csv``: every graded student the LMS files could not name (not in the roster, or
  without the id the format needs), with their grade, so that nobody is dropped without a word.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass, field
from pathlib import Path

from pipelines.atomic import atomic_path
from pipelines.errors import DeepgradeError
from pipelines.grade.unit import Unit
from pipelines.paths import roster_path
from pipelines.report.canvas import canvas_csv, canvas_title, without_canvas_id
from pipelines.report.gradescope import GradescopeSettings, gradescope_results
from pipelines.report.moodle import moodle_csv, moodle_identifier, without_identifier
from pipelines.report.results import read_graded
from pipelines.report.roster import load_roster
from pipelines.results import StudentResult
from pipelines.staff.nbgrader_feedback import write_nbgrader_feedback

FORMATS = ("gradescope", "canvas", "moodle", "nbgrader")
MISSING_COLUMNS = ("student_id", "assignment", "score", "max_score", "status", "reason")


@dataclass
class ExportReport:
    """What an export wrote, and the students and files it could not complete."""

    written: list[Path] = field(default_factory=list)
    missing: list[tuple[StudentResult, str]] = field(default_factory=list)  # (grade, why no LMS file has it)
    notes: list[str] = field(default_factory=list)


def export(units: list[str], graded_root: Path, out: Path, formats: tuple[str, ...] = FORMATS,
           submitted_root: Path | None = None) -> ExportReport:
    """Export the graded ``units`` (``graded_root/<unit>``) to ``out`` in ``formats``.
    ``submitted_root``: nbgrader's ``submitted/`` folder, where the release files of the nbgrader layout are."""
    unknown = sorted(set(formats) - set(FORMATS))
    if unknown:
        raise DeepgradeError(f"unknown export format(s) {', '.join(unknown)}; the formats are {', '.join(FORMATS)}")
    report = ExportReport()
    loaded = {name: Unit.load(name) for name in units}
    graded = {name: read_graded(graded_root / name) for name in units}
    if "gradescope" in formats:
        for name, unit in loaded.items():
            settings = GradescopeSettings.from_params(unit.params, name)
            for sid, result in graded[name].items():
                report.written.append(_write(out / "gradescope" / name / sid / "results.json", json.dumps(
                    gradescope_results(result, list(unit.self_check_uses), settings), indent=2)))
    if "nbgrader" in formats:
        for name, unit in loaded.items():
            for sid in graded[name]:
                lacking = write_nbgrader_feedback(out / "feedback", name, unit.notebooks, sid,
                                                  graded_root / name / sid / "feedback.html", submitted_root)
                if lacking:
                    report.notes.append(f"{name}/{sid}: no {' or '.join(lacking)} in the submitted folder: nbgrader "
                                        "release_feedback cannot release this feedback")
        report.written.append(out / "feedback")
    lms: list[str] = [f for f in ("canvas", "moodle") if f in formats]
    if lms:
        _lms_files(loaded, graded, out, lms, report)
    return report


def _lms_files(loaded: dict[str, Unit], graded: dict[str, dict[str, StudentResult]], out: Path, formats: list[str],
               report: ExportReport) -> None:
    """canvas.csv and moodle.csv, and roster_missing.csv for the students they cannot hold."""
    params = next(iter(loaded.values())).params
    roster = load_roster(roster_path(params))
    if "canvas" in formats:
        columns = {name: (canvas_title(params, name, str(unit.config.get("title") or name)), graded[name])
                   for name, unit in loaded.items()}
        report.written.append(_write(out / "canvas.csv", canvas_csv(columns, roster)))
        _report_missing(report, graded, set(without_canvas_id(roster, _students(graded))), "no Canvas id in the roster (canvas.csv)")
    if "moodle" in formats:
        identifier = moodle_identifier(params)
        columns = {name: (str(unit.config.get("title") or name), graded[name]) for name, unit in loaded.items()}
        report.written.append(_write(out / "moodle.csv", moodle_csv(columns, roster, identifier)))
        _report_missing(report, graded, set(without_identifier(roster, _students(graded), identifier)),
                        f"no {identifier} in the roster (moodle.csv)")
    _report_missing(report, graded, set(roster.missing(_students(graded))), f"not in the roster ({roster.source})")
    report.written.append(_write(out / "roster_missing.csv", _missing_csv(report.missing)))


def _students(graded: dict[str, dict[str, StudentResult]]) -> set[str]:
    return {sid for results in graded.values() for sid in results}


def _report_missing(report: ExportReport, graded: dict[str, dict[str, StudentResult]], who: set[str], why: str) -> None:
    report.missing += [(r, why) for results in graded.values() for sid, r in results.items() if sid in who]


def _missing_csv(missing: list[tuple[StudentResult, str]]) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(MISSING_COLUMNS)
    for r, why in sorted(missing, key=lambda m: (m[0].student_id, m[0].assignment)):
        writer.writerow([r.student_id, r.assignment, f"{r.score:g}", f"{r.max_score:g}", r.status, why])
    return buf.getvalue()


def _write(path: Path, text: str) -> Path:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return path

"""The course roster: which LMS account each graded student id belongs to.

Grades are keyed by the folder name nbgrader gave a submission (``submitted/<student_id>/``); the
LMSs key them by their own ids (Canvas's user id and SIS ids, Moodle's username, id number or email).
The roster is one CSV file that maps the first to the others, kept by the teaching staff beside the
gradebook (``params.yaml: exports.roster``). A student the roster lacks is reported by every export
that needs it, never silently left out of a grade file.

Columns, in any order: ``student_id`` (required), and any of ``name`` (``Last, First`` as Canvas
writes it), ``section``, ``canvas_id``, ``sis_user_id``, ``sis_login_id``, ``moodle_userid``,
``username``, ``idnumber``, ``email``, ``extension_hours`` (a standing extension on every due date,
e.g. an accommodation; ``params.yaml: late.extensions`` gives one unit's).
"""

from __future__ import annotations

import csv
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from pipelines.errors import DeepgradeError

COLUMNS = ("student_id", "name", "section", "canvas_id", "sis_user_id", "sis_login_id", "moodle_userid", "username",
           "idnumber", "email", "extension_hours")


@dataclass(frozen=True)
class RosterEntry:
    """One student's row of the roster; a column the roster lacks reads as empty."""

    student_id: str
    fields: dict[str, str] = field(default_factory=dict)

    def get(self, column: str) -> str:
        return self.fields.get(column, "")

    @property
    def extension_hours(self) -> float:
        return float(self.get("extension_hours") or 0)


@dataclass(frozen=True)
class Roster:
    """The roster as read (``source``: where from, for messages), by student id."""

    entries: dict[str, RosterEntry]
    source: str

    def find(self, student_id: str) -> RosterEntry | None:
        return self.entries.get(student_id)

    def missing(self, student_ids: Iterable[str]) -> list[str]:
        """The graded students the roster has no row for, sorted."""
        return sorted(s for s in student_ids if s not in self.entries)


def load_roster(path: Path | None) -> Roster:
    """The roster at ``path``; an empty one when there is none (every student is then reported missing)."""
    if path is None or not path.is_file():
        return Roster({}, f"no roster ({path or 'params.yaml: exports.roster is not set'})")
    with open(path, newline="", encoding="utf-8-sig") as fh:
        reader = csv.DictReader(fh)
        header = reader.fieldnames or []
        if "student_id" not in header:
            raise DeepgradeError(f"roster {path}: the header must have a student_id column (it has {', '.join(header) or 'none'})")
        unknown = sorted(set(header) - set(COLUMNS))
        if unknown:
            raise DeepgradeError(f"roster {path}: unknown column(s) {', '.join(unknown)}; the columns are {', '.join(COLUMNS)}")
        entries: dict[str, RosterEntry] = {}
        for line, row in enumerate(reader, start=2):
            sid = (row.get("student_id") or "").strip()
            if not sid:
                raise DeepgradeError(f"roster {path}, line {line}: empty student_id")
            if sid in entries:
                raise DeepgradeError(f"roster {path}, line {line}: student {sid} has a second row")
            fields = {k: (v or "").strip() for k, v in row.items() if k != "student_id"}
            _check_hours(fields.get("extension_hours", ""), f"roster {path}, line {line}")
            entries[sid] = RosterEntry(sid, fields)
    return Roster(entries, str(path))


def _check_hours(text: str, where: str) -> None:
    try:
        if text and float(text) < 0:
            raise ValueError
    except ValueError:
        raise DeepgradeError(f"{where}: extension_hours {text!r} is not a number of hours (0 or more)") from None

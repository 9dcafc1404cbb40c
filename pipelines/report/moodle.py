"""Grades as a Moodle grade import CSV (Grades > Import > CSV file), with feedback text.

Moodle's importer maps one column to a user field ("Map from" / "Map to": ``userid``, ``username``,
``useridnumber`` or ``useremail``) and each other column to a grade item or to that item's feedback.
The identifier is chosen in ``params.yaml: exports.moodle.identifier`` and taken from the roster's
matching column; its header is the one Moodle's own grade export writes for that field, and each unit
has a grade column (its title) and a ``Feedback: <title>`` column (``feedback.feedback_text``: status,
messages and the late policy's verdict). Scores are after the late policy.
"""

from __future__ import annotations

import csv
import io
from typing import Any

from pipelines.errors import DeepgradeError
from pipelines.report.feedback import feedback_text
from pipelines.report.roster import Roster
from pipelines.results import StudentResult

# Moodle's "Map to" user field: the roster column that holds it and the header Moodle's export writes.
IDENTIFIERS = {
    "useremail": ("email", "Email address"),
    "username": ("username", "Username"),
    "useridnumber": ("idnumber", "ID number"),
    "userid": ("moodle_userid", "User ID"),
}


def moodle_identifier(params: dict[str, Any]) -> str:
    chosen = ((params.get("exports") or {}).get("moodle") or {}).get("identifier", "useremail")
    if chosen not in IDENTIFIERS:
        raise DeepgradeError(f"params.yaml: exports.moodle.identifier must be one of {', '.join(IDENTIFIERS)} (got {chosen!r})")
    return str(chosen)


def moodle_csv(columns: dict[str, tuple[str, dict[str, StudentResult]]], roster: Roster, identifier: str) -> str:
    """The import file for ``columns`` (per unit: title, results by student id), keyed by ``identifier``.
    Rows: the roster's students who have a result and a value for the identifier."""
    column, header = IDENTIFIERS[identifier]
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow([header, *(h for title, _ in columns.values() for h in (title, f"Feedback: {title}"))])
    for sid, entry in roster.entries.items():
        if not entry.get(column) or not any(sid in results for _, results in columns.values()):
            continue
        cells: list[str] = []
        for _, results in columns.values():
            result = results.get(sid)
            cells += [f"{result.score:g}", feedback_text(result)] if result else ["", ""]
        writer.writerow([entry.get(column), *cells])
    return buf.getvalue()


def without_identifier(roster: Roster, student_ids: set[str], identifier: str) -> list[str]:
    """Graded students whose roster row has no value for the Moodle identifier (they cannot be imported)."""
    column = IDENTIFIERS[identifier][0]
    return sorted(s for s in student_ids if (entry := roster.find(s)) is not None and not entry.get(column))

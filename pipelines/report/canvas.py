"""Grades as a Canvas gradebook import CSV (Grades > Import), one column per unit.

The layout is the one Canvas's gradebook export writes and its importer reads back: the columns
``Student`` (``Last, First``), ``ID`` (Canvas's user id), ``SIS User ID``, ``SIS Login ID`` and
``Section``, then one column per assignment titled ``Name (id)`` where the Canvas assignment id is
known (``params.yaml: exports.canvas.assignment_ids``; a title alone makes Canvas match the
assignment by name, or create it), and a second row ``    Points Possible`` with each assignment's
points. Scores are after the late policy. Canvas matches students by ``ID`` or the SIS ids, so a
student the roster lacks cannot be written here: the export reports them (``exports.py``).
"""

from __future__ import annotations

import csv
import io
from typing import Any

from pipelines.report.roster import Roster
from pipelines.results import StudentResult

IDENTITY = ("Student", "ID", "SIS User ID", "SIS Login ID", "Section")
ROSTER_COLUMNS = ("name", "canvas_id", "sis_user_id", "sis_login_id", "section")
MATCHED_BY = ("canvas_id", "sis_user_id", "sis_login_id")  # the roster columns Canvas can match a row by
POINTS_POSSIBLE = "    Points Possible"


def canvas_title(params: dict[str, Any], unit: str, title: str) -> str:
    """``Title (id)`` when the unit's Canvas assignment id is known, else the title."""
    known = ((params.get("exports") or {}).get("canvas") or {}).get("assignment_ids") or {}
    return f"{title} ({known[unit]})" if known.get(unit) is not None else title


def canvas_csv(columns: dict[str, tuple[str, dict[str, StudentResult]]], roster: Roster) -> str:
    """The import file for ``columns``: per unit, its column title and the results by student id.
    Students are the roster's, in the roster's order, who have a result in at least one unit."""
    graded = {sid for _, results in columns.values() for sid in results}
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow([*IDENTITY, *(title for title, _ in columns.values())])
    writer.writerow([POINTS_POSSIBLE, *[""] * (len(IDENTITY) - 1),
                     *(f"{_points_possible(results):g}" for _, results in columns.values())])
    for sid, entry in roster.entries.items():
        if sid not in graded:
            continue
        identity = [entry.get(c) for c in ROSTER_COLUMNS]
        identity[0] = identity[0] or sid
        writer.writerow([*identity, *(f"{results[sid].score:g}" if sid in results else "" for _, results in columns.values())])
    return buf.getvalue()


def _points_possible(results: dict[str, StudentResult]) -> float:
    return max((r.max_score for r in results.values()), default=0.0)


def without_canvas_id(roster: Roster, student_ids: set[str]) -> list[str]:
    """Graded students whose roster row has none of the ids Canvas matches a row by."""
    return sorted(s for s in student_ids if (entry := roster.find(s)) is not None and not any(entry.get(c) for c in MATCHED_BY))

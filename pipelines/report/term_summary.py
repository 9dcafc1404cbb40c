"""What one ``deepgrade term`` run did: one row per unit, one row per student, and an HTML page of both.

Each unit's batch still writes its own outputs (grades.csv, results.json, class report); this module
only lays the units' results side by side, so that an instructor sees in one place which unit went
wrong for whom, and what the run graded, reused or failed (``deepgrade report``'s term page,
``term_report.py``, is the staff's view of graded results without grading). ``term_units.csv``: per
unit, the students, mean and maximum score, how many were graded now, reused from the cache or failed in the engine, and a count per status.
``term_students.csv``: per student, the score and status of every unit and the total.
"""

from __future__ import annotations

import csv
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import jinja2

from pipelines.atomic import atomic_path
from pipelines.execute.statuses import SEVERITY
from pipelines.results import StudentResult

STATUSES = tuple(reversed(SEVERITY))  # ok first


@dataclass(frozen=True)
class UnitOutcome:
    """One unit of the term: its results and what its batch ran."""

    unit: str
    results: list[StudentResult]
    graded: int
    cached: int
    failed: int


_TEMPLATE = jinja2.Template(
    """<!doctype html><html lang="en"><head><meta charset="utf-8"><title>term report</title>
<style>body{font-family:system-ui,sans-serif;max-width:72rem;margin:2rem auto;padding:0 1rem}
table{border-collapse:collapse} td,th{border-bottom:1px solid #ddd;padding:.3rem .6rem;text-align:left}
.bad{color:#b42318}</style></head><body>
<h1>Term report</h1>
{% if note %}<p style="color:#b00;font-weight:bold">{{ note }}</p>{% endif %}
<h2>Units</h2><table><tr>{% for c in unit_columns %}<th>{{ c }}</th>{% endfor %}</tr>
{% for row in unit_rows %}<tr>{% for c in unit_columns %}<td>{{ row[c] }}</td>{% endfor %}</tr>{% endfor %}
</table>
<h2>Students</h2><table><tr><th>student</th>{% for u in units %}<th>{{ u }}</th>{% endfor %}<th>total</th></tr>
{% for row in student_rows %}<tr><td>{{ row.student_id }}</td>
{% for u in units %}<td{% if row[u + ':status'] not in ('ok', '') %} class="bad"{% endif %}>{{ row[u + ':score'] }}
{% if row[u + ':status'] != 'ok' %}<small>{{ row[u + ':status'] or 'no row' }}</small>{% endif %}</td>{% endfor %}
<td>{{ row.total }} / {{ row.max_total }}</td></tr>{% endfor %}
</table></body></html>""",
    autoescape=True,
)


def unit_rows(outcomes: list[UnitOutcome]) -> list[dict[str, str]]:
    rows = []
    for o in outcomes:
        scores = [r.score for r in o.results]
        counts = Counter(r.status for r in o.results)
        rows.append({"assignment": o.unit, "students": str(len(o.results)),
                     "mean_score": f"{sum(scores) / len(scores):.2f}" if scores else "",
                     "max_score": f"{max((r.max_score for r in o.results), default=0):g}",
                     "graded": str(o.graded), "cached": str(o.cached), "failed": str(o.failed),
                     **{s: str(counts[s]) for s in STATUSES}})
    return rows


def student_rows(outcomes: list[UnitOutcome]) -> list[dict[str, str]]:
    """A row per student found in any unit; a unit without that student's row leaves its cells empty."""
    by_unit = {o.unit: {r.student_id: r for r in o.results} for o in outcomes}
    rows = []
    for sid in sorted({sid for results in by_unit.values() for sid in results}):
        row = {"student_id": sid}
        for unit, results in by_unit.items():
            r = results.get(sid)
            row[f"{unit}:score"] = f"{r.score:g}" if r else ""
            row[f"{unit}:status"] = r.status if r else ""
        graded = [results[sid] for results in by_unit.values() if sid in results]
        row["total"] = f"{sum(r.score for r in graded):g}"
        row["max_total"] = f"{sum(r.max_score for r in graded):g}"
        rows.append(row)
    return rows


def _write_csv(path: Path, rows: list[dict[str, str]], columns: list[str], note: str | None) -> None:
    with atomic_path(path) as tmp, open(tmp, "w", newline="", encoding="utf-8") as fh:
        if note:
            fh.write(f"# {note}\n")
        writer = csv.DictWriter(fh, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)


def write_term_report(out_dir: Path, outcomes: list[UnitOutcome], note: str | None = None) -> None:
    """term_units.csv, term_students.csv and term_report.html in ``out_dir``; ``note``: graded
    without sandbox (said first in each, as in every output of such a batch)."""
    units = [o.unit for o in outcomes]
    unit_columns = ["assignment", "students", "mean_score", "max_score", "graded", "cached", "failed", *STATUSES]
    student_columns = ["student_id", *(f"{u}:{k}" for u in units for k in ("score", "status")), "total", "max_total"]
    by_unit, by_student = unit_rows(outcomes), student_rows(outcomes)
    out_dir.mkdir(parents=True, exist_ok=True)
    _write_csv(out_dir / "term_units.csv", by_unit, unit_columns, note)
    _write_csv(out_dir / "term_students.csv", by_student, student_columns, note)
    with atomic_path(out_dir / "term_report.html") as tmp:
        tmp.write_text(_TEMPLATE.render(units=units, unit_columns=unit_columns, unit_rows=by_unit,
                                        student_rows=by_student, note=note), encoding="utf-8")

"""``deepgrade report``: each graded unit's class report and the term's, rebuilt from what autograde wrote.

A unit's report is the batch's class report (``class_report.py``: distribution, statuses, pass rates
with failures grouped by message, blind spots) made again from its results.json files, so staff can
regenerate it without grading, plus how the class moved since the previous report: the class metric
(the figures ``dvc metrics diff`` compares between commits) is kept beside the report and compared at
the next run. The term report puts the units side by side and each student's scores in one table.
Reports hold students' names and grades: they are for staff, never released.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jinja2

from pipelines.atomic import atomic_path
from pipelines.report.class_report import DEFAULT_SETTINGS, ReportSettings, class_metrics, render_class_report
from pipelines.report.results import read_graded
from pipelines.results import StudentResult

_TERM = jinja2.Template(
    """<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Term report</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>body{font-family:system-ui,sans-serif;max-width:56rem;margin:2rem auto;padding:0 1rem}
.wide{overflow-x:auto} table{border-collapse:collapse} td,th{border-bottom:1px solid #ddd;padding:.3rem .6rem;text-align:left}</style>
</head><body><h1>Term report</h1>
<h2>Units</h2><div class="wide"><table><tr><th>unit</th><th>students</th><th>mean</th><th>median</th><th>max</th>
<th>late</th><th>blind spots</th><th>not ok</th></tr>
{% for unit, m in metrics.items() %}<tr><td><a href="{{ unit }}/class_report.html">{{ unit }}</a></td><td>{{ m.students }}</td>
<td>{{ "%.2f"|format(m.mean_score) }}</td><td>{{ "%g"|format(m.median_score) }}</td><td>{{ "%g"|format(m.max_score) }}</td>
<td>{{ m.late_count }}</td><td>{{ m.blind_spot_count }}</td><td>{{ m.students - m.ok_count }}</td></tr>{% endfor %}</table></div>
<h2>Students</h2><div class="wide"><table><tr><th>student</th>{% for unit in metrics %}<th>{{ unit }}</th>{% endfor %}<th>total</th></tr>
{% for sid, row in students.items() %}<tr><td>{{ sid }}</td>{% for unit in metrics %}
<td>{% if unit in row %}{{ "%g"|format(row[unit].score) }}
{% if row[unit].status != "ok" %}<small>({{ row[unit].status }})</small>{% endif %}{% else %}&ndash;{% endif %}</td>{% endfor %}
<td>{{ "%g"|format(row.values()|sum(attribute="score")) }} / {{ "%g"|format(total) }}</td></tr>{% endfor %}</table></div>
</body></html>""",
    autoescape=True,
)


def write_reports(units: list[str], graded_root: Path, out: Path, settings: ReportSettings = DEFAULT_SETTINGS) -> list[Path]:
    """``out/<unit>/class_report.html`` for each unit (with ``metrics.json``, compared at the next run)
    and ``out/term.html``; the paths written."""
    written: list[Path] = []
    metrics: dict[str, dict[str, Any]] = {}
    students: dict[str, dict[str, StudentResult]] = {}
    for unit in units:
        results = list(read_graded(graded_root / unit).values())
        kept = out / unit / "metrics.json"
        before = json.loads(kept.read_text()) if kept.is_file() else None
        summary, html = render_class_report(results, out / unit, before=before, settings=settings)
        metrics[unit] = class_metrics(summary)
        written += [_write(out / unit / "class_report.html", html), _write(kept, json.dumps(metrics[unit], indent=2))]
        for r in results:
            students.setdefault(r.student_id, {})[unit] = r
    total = sum(m["max_score"] for m in metrics.values())
    html = _TERM.render(metrics=metrics, students=dict(sorted(students.items())), total=total)
    written.append(_write(out / "term.html", html))
    return written


def _write(path: Path, text: str) -> Path:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return path

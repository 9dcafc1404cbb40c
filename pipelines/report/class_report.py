"""Class-level view of a batch: summary.json, the DVC metric, the DVC plots' data and class_report.html.

Three readers, three sizes. ``summary.json`` (in the graded folder) is the whole class summary, pass
rate per check and blind spots by student included. The DVC metric (``--summary``) is a class summary
per unit that ``dvc metrics show`` can print as one row (students, mean, median, every status, blind
spots, late submissions): with a pass rate per check it printed about 200 columns for the course.
Pass rates and the score distribution go to ``--plots`` as CSV files that ``dvc plots`` draws (its
definitions are in dvc.yaml's grade stage) and to ``class_report.html``, where each check's failures
are grouped by message, with counts and example students.
"""

from __future__ import annotations

import csv
import io
import json
import re
import statistics
from collections import Counter, defaultdict
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import jinja2

from pipelines.atomic import atomic_path
from pipelines.errors import DeepgradeError
from pipelines.execute import statuses
from pipelines.report.plots import figure, kept_png, png_base64
from pipelines.results import NOT_RUN, StudentResult


@dataclass(frozen=True)
class ReportSettings:
    """How much the class report shows (``params.yaml: report``)."""

    bins: int = 10  # of the score distribution
    failure_groups: int = 3  # most common failure messages shown per check
    examples: int = 3  # students named per group of failures
    slowest: int = 10  # submissions listed by runtime

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> ReportSettings:
        section = params.get("report") or {}
        unknown = set(section) - {f.name for f in fields(cls)}
        if unknown:
            raise DeepgradeError(f"params.yaml: report: unknown key(s) {', '.join(sorted(unknown))}")
        for key, value in section.items():
            if not isinstance(value, int) or value < 1:
                raise DeepgradeError(f"params.yaml: report.{key}: {value!r} is not a whole number of 1 or more")
        return cls(**section)


DEFAULT_SETTINGS = ReportSettings()

_TEMPLATE = jinja2.Template(
    """<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{{ s.assignment }} class report</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>body{font-family:system-ui,sans-serif;max-width:56rem;margin:2rem auto;padding:0 1rem}
table{border-collapse:collapse;max-width:100%}
td,th{border-bottom:1px solid #ddd;padding:.3rem .6rem;text-align:left;vertical-align:top;overflow-wrap:anywhere}
img{max-width:100%;height:auto} small{color:#555}</style></head><body>
<h1>{{ s.assignment }}: class report</h1>
{% if s.unsafe_no_sandbox %}<p style="color:#b00;font-weight:bold">{{ s.unsafe_no_sandbox }}</p>{% endif %}
<p>{{ s.students }} submissions; mean {{ "%.2f"|format(s.mean_score) }}, median {{ "%g"|format(s.median_score) }}
/ {{ "%g"|format(s.max_score) }}{% if s.late_count %}; {{ s.late_count }} late{% endif %}; statuses:
{% for k, v in s.status_counts.items() if v %}{{ k[:-6] }} {{ v }}{% if not loop.last %}, {% endif %}{% endfor %}.</p>
{% if png %}<img alt="score distribution" src="data:image/png;base64,{{ png }}">{% endif %}
{% if moved is not none %}<h2>Since the last report</h2>{% if moved %}<table><tr><th>figure</th><th>then</th><th>now</th></tr>
{% for key, then, now in moved %}<tr><td>{{ key }}</td><td>{{ then }}</td><td>{{ now }}</td></tr>{% endfor %}</table>
{% else %}<p>No change in the class figures.</p>{% endif %}{% endif %}
<h2>Checks: share of students passing, and why the others failed</h2>
{% if rates_png %}<img alt="share of students passing each check" src="data:image/png;base64,{{ rates_png }}">{% endif %}
<table><tr><th>check</th><th>passed</th><th>most common failures</th></tr>
{% for name, rate in s.pass_rate.items() %}<tr><td>{{ name }}</td><td>{{ "%.0f"|format(100 * rate) }} %</td><td>
{% for g in failures.get(name, []) %}{{ g.count }} &times; {{ g.message }}
<small>({{ g.students|join(", ") }}{% if g.count > g.students|length %}, &hellip;{% endif %})</small><br>
{% endfor %}</td></tr>{% endfor %}
</table>
{% if s.runtime %}<h2>Runtime and memory</h2><p>Notebook runs took {{ "%.1f"|format(s.runtime.median_seconds) }} s
(median), {{ "%.1f"|format(s.runtime.max_seconds) }} s at most{% if s.runtime.max_peak_mb is not none %}; peak memory
{{ "%.0f"|format(s.runtime.median_peak_mb) }} MB (median), {{ "%.0f"|format(s.runtime.max_peak_mb) }} MB at most{% endif %}.
The slowest:</p><table><tr><th>student</th><th>seconds</th><th>peak MB</th><th>status</th></tr>
{% for r in s.runtime.slowest %}<tr><td>{{ r.student_id }}</td><td>{{ "%.1f"|format(r.seconds) }}</td>
<td>{{ r.peak_mb if r.peak_mb is not none else "-" }}</td><td>{{ r.status }}</td></tr>{% endfor %}</table>{% endif %}
<h2>Grader blind spots</h2>
{% if s.blind_spots %}<p>A visible self-check failed in these students' notebooks while every hidden check of the same
cell passed and no function the self-check calls failed a hidden check anywhere: the hidden graders miss a bug the
notebook's own check catches. Look at these submissions and add a probe that catches it.</p>
<table><tr><th>cell</th><th>students</th><th>who</th></tr>
{% for cell, who in s.blind_spots.items() %}<tr><td>{{ cell }}</td><td>{{ who|length }}</td><td>{{ who|join(", ") }}</td></tr>{% endfor %}
</table>{% else %}<p>None: every self-check that failed is explained by a hidden check that failed, of its cell or of a
function it calls.</p>{% endif %}
</body></html>""",
    autoescape=True,
)


def summarize(results: list[StudentResult], settings: ReportSettings = DEFAULT_SETTINGS) -> dict:
    """The whole class summary (summary.json): scores, statuses, pass rate per check, blind spots."""
    passed: dict[str, list[bool]] = defaultdict(list)
    for r in results:
        for t in r.tests:
            if t.status != NOT_RUN:  # a GPU check graded on CPU: neither passed nor failed
                passed[t.name].append(t.status == "passed")
    scores = [r.score for r in results]
    blind: dict[str, list[str]] = defaultdict(list)
    for r in results:
        for spot in r.blind_spots:
            blind[spot["cell"]].append(r.student_id)
    counts = Counter(r.status for r in results)
    return {
        "assignment": results[0].assignment if results else "",
        "students": len(results),
        "max_score": max((r.max_score for r in results), default=0.0),
        "mean_score": sum(scores) / len(scores) if scores else 0.0,
        "median_score": statistics.median(scores) if scores else 0.0,
        # "<status>_count" keys, every status: DVC reads any key named "error" in a metrics file as a
        # failure to load it, and a column per status reads the same for every unit.
        "status_counts": {f"{k}_count": counts.get(k, 0) for k in statuses.SEVERITY[::-1]},
        "late_count": sum(1 for r in results if r.late and r.late.hours_late > 0),
        "pass_rate": {k: sum(v) / len(v) for k, v in sorted(passed.items())},
        "blind_spot_count": sum(len(v) for v in blind.values()),
        "blind_spots": dict(sorted(blind.items())),
        "runtime": runtime(results, settings.slowest),
    }


def runtime(results: list[StudentResult], slowest_shown: int) -> dict[str, Any] | None:
    """Median and largest notebook runtime and peak memory, and the slowest submissions (None when no
    result records them)."""
    timed = [r for r in results if "notebook_seconds" in r.resources]
    if not timed:
        return None
    seconds = [r.resources["notebook_seconds"] for r in timed]
    peaks = [r.resources["peak_memory_mb"] for r in timed if "peak_memory_mb" in r.resources]
    slowest = sorted(timed, key=lambda r: -r.resources["notebook_seconds"])[:slowest_shown]
    return {
        "median_seconds": statistics.median(seconds), "max_seconds": max(seconds),
        "median_peak_mb": statistics.median(peaks) if peaks else None, "max_peak_mb": max(peaks) if peaks else None,
        "slowest": [{"student_id": r.student_id, "seconds": r.resources["notebook_seconds"],
                     "peak_mb": r.resources.get("peak_memory_mb"), "status": r.status} for r in slowest],
    }


def class_metrics(summary: dict[str, Any]) -> dict[str, Any]:
    """The DVC metric of a unit: one flat row of ``dvc metrics show`` (pass rates are plots)."""
    return {
        **({"unsafe_no_sandbox": summary["unsafe_no_sandbox"]} if "unsafe_no_sandbox" in summary else {}),
        "students": summary["students"],
        "mean_score": round(summary["mean_score"], 4),
        "median_score": summary["median_score"],
        "max_score": summary["max_score"],
        **summary["status_counts"],
        "late_count": summary["late_count"],
        "blind_spot_count": summary["blind_spot_count"],
    }


def failure_groups(results: list[StudentResult], settings: ReportSettings = DEFAULT_SETTINGS) -> dict[str, list[dict[str, Any]]]:
    """Per check, its most common failure messages (numbers masked, so that "rel_error 3e-2" and
    "rel_error 1e-1" are one message): count and example students, most common first."""
    grouped: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    for r in results:
        for t in r.tests:
            if t.status not in ("passed", NOT_RUN):
                grouped[t.name][_masked(t.message or t.status)].append(r.student_id)
    return {name: [{"message": message, "count": len(who), "students": who[:settings.examples]}
                   for message, who in sorted(groups.items(), key=lambda g: (-len(g[1]), g[0]))[:settings.failure_groups]]
            for name, groups in sorted(grouped.items())}


def _masked(message: str) -> str:
    return re.sub(r"(?<![\w.])[-+]?\d+(\.\d+)?([eE][-+]?\d+)?", "#", message)[:300]


def plot_data(summary: dict[str, Any], results: list[StudentResult], bins_shown: int) -> dict[str, str]:
    """The CSV files ``dvc plots`` draws (dvc.yaml): pass rate per check, and students per score bin."""
    rates = io.StringIO()
    writer = csv.writer(rates, lineterminator="\n")
    writer.writerow(["check", "pass_rate"])
    writer.writerows([name, f"{rate:.4f}"] for name, rate in summary["pass_rate"].items())
    bins = io.StringIO()
    writer = csv.writer(bins, lineterminator="\n")
    writer.writerow(["score", "students"])
    top = summary["max_score"] or 1
    counts = Counter(min(int(r.score / top * bins_shown), bins_shown - 1) for r in results)
    # Numbered labels: DVC's bar templates sort a nominal axis by its text ("10.4-13" before "2.6-5.2").
    writer.writerows([f"{b + 1:02d}: {top * b / bins_shown:g}-{top * (b + 1) / bins_shown:g}", counts.get(b, 0)]
                     for b in range(bins_shown))
    return {"pass_rates.csv": rates.getvalue(), "score_distribution.csv": bins.getvalue()}


def _histogram(results: list[StudentResult], out_dir: Path, bins: int) -> str:
    """The score distribution as a base64 PNG (kept while the scores stay the same)."""
    scores = [r.score for r in results]
    top = max(r.max_score for r in results) or 1

    def draw() -> str:
        fig, ax = figure()
        ax.hist(scores, bins=bins, range=(0, top))
        ax.set_xlabel("score")
        ax.set_ylabel("students")
        return png_base64(fig)

    return kept_png(out_dir, "score_histogram", json.dumps([scores, top, bins]).encode(), draw)


def _pass_rate_chart(summary: dict[str, Any], out_dir: Path) -> str:
    """Each check's pass rate as a horizontal bar, the least passed at the top (kept while unchanged)."""
    rates = sorted(summary["pass_rate"].items(), key=lambda item: (-item[1], item[0]))

    def draw() -> str:
        fig, ax = figure(6, max(2.0, 0.22 * len(rates)))
        ax.barh([name for name, _ in rates], [100 * rate for _, rate in rates])
        ax.set_xlim(0, 100)
        ax.set_xlabel("students passing (%)")
        ax.tick_params(axis="y", labelsize=7)
        return png_base64(fig)

    return kept_png(out_dir, "pass_rates", json.dumps(rates).encode(), draw)


def render_class_report(results: list[StudentResult], folder: Path, note: str | None = None,
                        before: dict[str, Any] | None = None, settings: ReportSettings = DEFAULT_SETTINGS) -> tuple[dict, str]:
    """The summary and the HTML of the class report (plots kept in ``folder``); with ``before`` (the
    class metric of an earlier grading), the figures that moved since."""
    summary = summarize(results, settings)
    if note:
        summary = {"unsafe_no_sandbox": note, **summary}
    png = _histogram(results, folder, settings.bins) if results else ""
    rates_png = _pass_rate_chart(summary, folder) if summary["pass_rate"] else ""
    moved = None
    if before is not None:
        now = class_metrics(summary)
        moved = [(key, before.get(key, "-"), value) for key, value in now.items() if before.get(key) != value]
    return summary, _TEMPLATE.render(s=summary, png=png, rates_png=rates_png, failures=failure_groups(results, settings),
                                     moved=moved)


def write_class_report(out_dir: Path, results: list[StudentResult], metrics_file: Path | None = None,
                       note: str | None = None, plots_dir: Path | None = None,
                       settings: ReportSettings = DEFAULT_SETTINGS) -> None:
    """summary.json and class_report.html in ``out_dir``; the class metric to ``metrics_file`` and the
    plots' data to ``plots_dir`` for DVC. ``note``: the batch ran without sandbox (said in each, first)."""
    summary, html = render_class_report(results, out_dir, note, settings=settings)
    files: dict[Path, str] = {out_dir / "summary.json": json.dumps(summary, indent=2),
                              out_dir / "class_report.html": html}
    if metrics_file is not None:
        files[metrics_file] = json.dumps(class_metrics(summary), indent=2)
    if plots_dir is not None:
        files.update({plots_dir / name: text for name, text in plot_data(summary, results, settings.bins).items()})
    for path, text in files.items():
        with atomic_path(path) as tmp:
            tmp.write_text(text, encoding="utf-8")

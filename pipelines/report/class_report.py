"""Class-level view of a batch: summary.json (a DVC metric) and class_report.html (distribution, pass rates)."""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from pathlib import Path

import jinja2

from pipelines.atomic import atomic_path
from pipelines.report.plots import figure, kept_png, png_base64
from pipelines.results import NOT_RUN, StudentResult

_TEMPLATE = jinja2.Template(
    """<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{{ s.assignment }} class report</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>body{font-family:system-ui,sans-serif;max-width:56rem;margin:2rem auto;padding:0 1rem} img{max-width:100%;height:auto}
table{border-collapse:collapse;width:100%}
td,th{border-bottom:1px solid #ddd;padding:.3rem .6rem;text-align:left;overflow-wrap:anywhere}</style>
</head><body>
<h1>{{ s.assignment }}: class report</h1>
{% if s.unsafe_no_sandbox %}<p style="color:#b00;font-weight:bold">{{ s.unsafe_no_sandbox }}</p>{% endif %}
<p>{{ s.students }} submissions; mean {{ "%.2f"|format(s.mean_score) }} / {{ "%g"|format(s.max_score) }}; statuses:
{% for k, v in s.status_counts.items() %}{{ k[:-6] }} {{ v }}{% if not loop.last %}, {% endif %}{% endfor %}.</p>
{% if png %}<img alt="score distribution" src="data:image/png;base64,{{ png }}">{% endif %}
<h2>Checks: share of students passing</h2><table><tr><th>check</th><th>passed</th></tr>
{% for name, rate in s.pass_rate.items() %}<tr><td>{{ name }}</td><td>{{ "%.0f"|format(100 * rate) }} %</td></tr>{% endfor %}
</table>
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


def summarize(results: list[StudentResult]) -> dict:
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
    return {
        "assignment": results[0].assignment if results else "",
        "students": len(results),
        "max_score": max((r.max_score for r in results), default=0.0),
        "mean_score": sum(scores) / len(scores) if scores else 0.0,
        # "<status>_count" keys: DVC reads any key named "error" in a metrics file as a failure to load it.
        "status_counts": {f"{k}_count": v for k, v in sorted(Counter(r.status for r in results).items())},
        "pass_rate": {k: sum(v) / len(v) for k, v in sorted(passed.items())},
        "blind_spot_count": sum(len(v) for v in blind.values()),
        "blind_spots": dict(sorted(blind.items())),
    }


def _histogram(results: list[StudentResult], out_dir: Path) -> str:
    """The score distribution as a base64 PNG (kept while the scores stay the same)."""
    scores = [r.score for r in results]
    top = max(r.max_score for r in results) or 1

    def draw() -> str:
        fig, ax = figure()
        ax.hist(scores, bins=10, range=(0, top))
        ax.set_xlabel("score")
        ax.set_ylabel("students")
        return png_base64(fig)

    return kept_png(out_dir, "score_histogram", json.dumps([scores, top]).encode(), draw)


def write_class_report(out_dir: Path, results: list[StudentResult], metrics_file: Path | None = None,
                       note: str | None = None) -> None:
    """summary.json and class_report.html in ``out_dir``; the summary also to ``metrics_file`` for DVC.
    ``note``: the batch ran without sandbox (said in both, first)."""
    summary = summarize(results)
    if note:
        summary = {"unsafe_no_sandbox": note, **summary}
    for path in (out_dir / "summary.json", metrics_file):
        if path is not None:
            with atomic_path(path) as tmp:
                tmp.write_text(json.dumps(summary, indent=2))
    png = _histogram(results, out_dir) if results else ""
    with atomic_path(out_dir / "class_report.html") as tmp:
        tmp.write_text(_TEMPLATE.render(s=summary, png=png), encoding="utf-8")

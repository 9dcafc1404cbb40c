"""``deepgrade similarity <unit> <submitted_dir> --out DIR``: the staff's similarity report of a class,
similarity.json and similarity.html (pairs ranked, flagged pairs side by side, shared lines marked).

The submitted notebooks are read as the grader reads them (``pipelines.grade.intake``: regular files
only, nothing followed) and only their export cells are compared, found by the ``grade_id`` of the
source notebook's export cells; nothing of them runs. The report shows students' code to each other's
graders: it is written to ``DIR`` only, never into a student's folder, and says it is for staff.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jinja2

from pipelines.atomic import atomic_path
from pipelines.grade import notebook as nbtools
from pipelines.grade.intake import Rejected, Submission, parse_submitted
from pipelines.grade.unit import Unit
from pipelines.similarity import Pair, Prints, Settings, fingerprint, ranked_pairs, starter_hashes

_TEMPLATE = jinja2.Template(
    """<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{ unit }} similarity report (staff only)</title>
<style>body{font-family:system-ui,sans-serif;max-width:72rem;margin:2rem auto;padding:0 1rem}
table{border-collapse:collapse;width:100%;table-layout:fixed} td,th{border-bottom:1px solid #ddd;padding:.3rem .5rem;
text-align:left;overflow-wrap:anywhere} .staff{background:#fdecea;border-left:4px solid #b42318;padding:.5rem 1rem}
.flag{color:#b42318;font-weight:bold} .side{display:flex;flex-wrap:wrap;gap:1rem} .side>div{flex:1 1 22rem;min-width:0}
pre{background:#f6f8fa;padding:.5rem;white-space:pre-wrap;overflow-wrap:anywhere;font-size:.8rem} mark{background:#ffe08a}</style>
</head><body>
<h1>{{ unit }}: similarity of export cells</h1>
<p class="staff">Staff only: this page shows students' code. Never publish it or send it to a student.</p>
<p>{{ students }} submissions compared ({{ pairs_total }} pairs). Winnowed fingerprints of {{ s.k }}-token runs of normalised
tokens (names, layout, comments and the order of definitions do not count; the released starter code is left out).
Flagged: Jaccard index at least {{ "%.2f"|format(s.threshold) }} with at least {{ s.min_shared }} shared fingerprints.
{{ flagged|length }} pair(s) flagged.</p>
<table><tr><th>rank</th><th>students</th><th>similarity</th><th>shared</th></tr>
{% for p in shown %}<tr><td>{{ loop.index }}</td><td>{% if p.flagged %}<a href="#{{ p.anchor }}">{{ p.a }} &amp; {{ p.b }}</a>
{% else %}{{ p.a }} &amp; {{ p.b }}{% endif %}</td>
<td{% if p.flagged %} class="flag"{% endif %}>{{ "%.0f"|format(100 * p.score) }} %{% if p.flagged %} flagged{% endif %}</td>
<td>{{ p.shared }} / {{ p.either }}</td></tr>{% endfor %}</table>
{% for p in flagged %}<h2 id="{{ p.anchor }}">{{ p.a }} &amp; {{ p.b }}: {{ "%.0f"|format(100 * p.score) }} %</h2>
<table><tr><th>{{ p.a }}</th><th>{{ p.b }}</th><th>shared</th></tr>
{% for f in p.functions %}<tr><td><code>{{ f.a }}</code></td><td><code>{{ f.b }}</code></td>
<td>{{ f.shared }} / {{ f.either }}</td></tr>{% endfor %}
</table>
<div class="side">{% for who, lines, marked in ((p.a, p.lines_a, p.marked_a), (p.b, p.lines_b, p.marked_b)) %}<div><h3>{{ who }}</h3><pre>
{%- for n, text in lines %}{% if n in marked %}<mark>{{ text }}</mark>{% else %}{{ text }}{% endif %}
{% endfor %}</pre></div>{% endfor %}</div>
{% endfor %}
</body></html>""",
    autoescape=True,
)


def export_code(unit: Unit, submission: Submission) -> str:
    """The code of the submission's cells that have the grade id of one of the source's export cells."""
    parts = []
    for name in unit.notebooks:
        source = nbtools.load_source(unit.source_notebook(name))
        ids = {nbtools.grade_id(c) for c in source.cells if nbtools.is_export(c)}
        try:
            nb = parse_submitted(submission.data(name), name, source)
        except Rejected:
            continue
        parts += [c.source for c in nb.cells if c.cell_type == "code" and nbtools.grade_id(c) in ids]
    return "\n\n".join(parts) + "\n"


def starter_code(unit: Unit) -> str:
    """The export cells as released (nbgrader's stubs): what every student starts from."""
    return "\n\n".join(nbtools.release_stub(c).source for _, c in unit.source_cells() if nbtools.is_export(c)) + "\n"


def class_prints(unit: Unit, submitted_dir: Path, settings: Settings) -> dict[str, Prints]:
    """Every student's fingerprints (a student whose notebooks cannot be read has none)."""
    starter = starter_hashes(starter_code(unit), settings)
    students = sorted(d.name for d in submitted_dir.iterdir() if d.is_dir() and not d.name.startswith("."))
    return {s: fingerprint(export_code(unit, Submission.read(submitted_dir / s / unit.name, unit.notebooks)), starter, settings)
            for s in students}


def _view(pair: Pair, prints: dict[str, Prints], settings: Settings, index: int) -> dict[str, Any]:
    flagged = pair.flagged(settings)
    view: dict[str, Any] = {"a": pair.a, "b": pair.b, "score": pair.score, "shared": pair.shared, "either": pair.either,
                            "flagged": flagged, "anchor": f"pair-{index}", "functions": pair.functions}
    if flagged:
        view["lines_a"] = list(enumerate(prints[pair.a].code.splitlines(), 1))
        view["lines_b"] = list(enumerate(prints[pair.b].code.splitlines(), 1))
        view["marked_a"] = {n for f in pair.functions for n in f.lines_a}
        view["marked_b"] = {n for f in pair.functions for n in f.lines_b}
    return view


def write_similarity_report(assignment: str, submitted_dir: Path, out_dir: Path) -> list[Pair]:
    """similarity.json and similarity.html of the class in ``out_dir``; the flagged pairs, most alike first."""
    unit = Unit.load(assignment)
    settings = Settings.from_params(unit.params)
    prints = class_prints(unit, submitted_dir, settings)
    pairs = ranked_pairs(prints)
    flagged = [p for p in pairs if p.flagged(settings)]
    shown = [_view(p, prints, settings, i) for i, p in enumerate(pairs[:max(len(flagged), int(unit.params["similarity"]["shown"]))])]
    out_dir.mkdir(parents=True, exist_ok=True)
    with atomic_path(out_dir / "similarity.json") as tmp:
        tmp.write_text(json.dumps({
            "assignment": assignment, "settings": vars(settings), "students": len(prints),
            "pairs": [{"a": v["a"], "b": v["b"], "score": round(v["score"], 4), "shared": v["shared"], "either": v["either"],
                       "flagged": v["flagged"], "functions": [{"a": f.a, "b": f.b, "shared": f.shared, "either": f.either}
                                                               for f in v["functions"]]} for v in shown],
        }, indent=2))
    with atomic_path(out_dir / "similarity.html") as tmp:
        tmp.write_text(_TEMPLATE.render(unit=assignment, s=settings, students=len(prints), pairs_total=len(pairs),
                                        shown=shown, flagged=[v for v in shown if v["flagged"]]), encoding="utf-8")
    return flagged

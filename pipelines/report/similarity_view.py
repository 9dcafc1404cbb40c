"""The staff's similarity page (similarity.html): pairs of submissions ranked, flagged pairs side by side
with the lines their shared fingerprints cover marked. Drawn from plain data
(``pipelines/similarity_report.py`` builds it); a self-contained page that fits a phone's width.
It shows students' code, so it says it is for staff, and is never written into a student's folder.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jinja2

from pipelines.atomic import atomic_path

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
<div class="side">{% for who, lines in ((p.a, p.lines_a), (p.b, p.lines_b)) %}<div><h3>{{ who }}</h3><pre>
{%- for text, marked in lines %}{% if marked %}<mark>{{ text }}</mark>{% else %}{{ text }}{% endif %}
{% endfor %}</pre></div>{% endfor %}</div>
{% endfor %}
</body></html>""",
    autoescape=True,
)


def write_similarity_html(path: Path, page: dict[str, Any]) -> None:
    """similarity.html from ``page``: ``unit``, ``s`` (the settings), ``students``, ``pairs_total`` and
    ``shown`` (pairs most alike first, each with ``lines_a``/``lines_b`` when flagged)."""
    with atomic_path(path) as tmp:
        tmp.write_text(_TEMPLATE.render(**page, flagged=[p for p in page["shown"] if p["flagged"]]), encoding="utf-8")

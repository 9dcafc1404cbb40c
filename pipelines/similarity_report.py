"""``deepgrade similarity <unit> <submitted_dir> --out DIR``: the staff's similarity report of a class,
similarity.json and similarity.html (pairs ranked, flagged pairs side by side, shared lines marked;
drawn by ``pipelines/report/similarity_view.py`` from the plain data this module hands it).

The submitted notebooks are read as the grader reads them (``pipelines.grade.intake``: regular files
only, nothing followed) and only their export cells are compared, found by the ``grade_id`` of the
source notebook's export cells; nothing of them runs. The report shows students' code to each other's
graders: it is written to ``DIR`` only, never into a student's folder, and says it is for staff.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pipelines.atomic import atomic_path
from pipelines.grade import notebook as nbtools
from pipelines.grade.intake import Rejected, Submission, parse_submitted
from pipelines.grade.unit import Unit
from pipelines.report.similarity_view import write_similarity_html
from pipelines.similarity import Pair, Prints, Settings, fingerprint, ranked_pairs, starter_hashes


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
    """A pair as plain data for the page; a flagged pair with both codes, line by line, shared lines marked."""
    flagged = pair.flagged(settings)
    view: dict[str, Any] = {"a": pair.a, "b": pair.b, "score": pair.score, "shared": pair.shared, "either": pair.either,
                            "flagged": flagged, "anchor": f"pair-{index}",
                            "functions": [{"a": f.a, "b": f.b, "shared": f.shared, "either": f.either} for f in pair.functions]}
    if flagged:
        for side, marked in (("a", {n for f in pair.functions for n in f.lines_a}),
                             ("b", {n for f in pair.functions for n in f.lines_b})):
            code = prints[view[side]].code.splitlines()
            view[f"lines_{side}"] = [(text, n in marked) for n, text in enumerate(code, 1)]
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
            "pairs": [{key: round(v[key], 4) if key == "score" else v[key]
                       for key in ("a", "b", "score", "shared", "either", "flagged", "functions")} for v in shown],
        }, indent=2))
    write_similarity_html(out_dir / "similarity.html", {"unit": assignment, "s": vars(settings), "students": len(prints),
                                                        "pairs_total": len(pairs), "shown": shown})
    return flagged

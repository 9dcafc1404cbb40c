"""``deepgrade validate``: the source solution, graded like a submission, must get full marks.

This proves on this machine and this data profile that the solution, the graders, the reference
and the thresholds agree, and prints what the solution reached (the figures thresholds are
calibrated from). It writes ``validated/<assignment>/results.json`` for DVC. What it grades is the
``full`` example's notebook (the solution as a student hands it in, ``pipelines.examples``), byte for
byte, in the course's cache: the grade stage then reuses this notebook run for that example.
"""

from __future__ import annotations

import json
import tempfile
from collections import defaultdict
from pathlib import Path

from rich.console import Console
from rich.table import Table

from pipelines.examples import write_solution
from pipelines.grade import notebook as nbtools
from pipelines.grade.cache import LayerCache
from pipelines.grade.fingerprint import Fingerprints
from pipelines.grade.intake import Submission
from pipelines.grade.submission import grade_submission
from pipelines.grade.unit import Unit
from pipelines.paths import cache_root, project_root

console = Console()


def points_mismatches(unit: Unit, per_cell: dict[str, float]) -> list[str]:
    """Autograded cells whose notebook points differ from what their graders can award."""
    problems = []
    for name, cell in unit.source_cells():
        if nbtools.is_autograded_test(cell):
            gid, points = str(nbtools.grade_id(cell)), nbtools.cell_points(cell)
            if abs(per_cell.pop(gid, 0.0) - points) > 1e-9:
                problems.append(f"cell '{gid}' is worth {points:g} points in {name}, but its graders award a different total")
    problems += [f"graders award points to '{gid}', which is no autograded cell of the notebook" for gid in per_cell]
    return problems


def validate(assignment: str) -> int:
    unit = Unit.load(assignment)
    with tempfile.TemporaryDirectory(prefix="deepgrade-validate-") as tmp:
        submitted = Path(tmp) / "solution" / assignment
        submitted.mkdir(parents=True)
        for nb in unit.notebooks:
            write_solution(nbtools.load_source(unit.source_notebook(nb)), submitted / nb)
        # The course's cache: the notebook run is keyed by the notebook's bytes and everything it depends
        # on, so the grade stage's ``full`` example (the same bytes) reuses it instead of running again.
        result, internal, _ = grade_submission(unit, "solution", Submission.read(submitted, unit.notebooks),
                                               Path(tmp) / "job", unit.student_data_view(cache_root()),
                                               LayerCache(assignment), Fingerprints(unit))

    table = Table(title=f"{assignment}: source solution on the '{unit.profile}' profile")
    for col in ("check", "points", "result", "measured / message"):
        table.add_column(col)
    per_cell: dict[str, float] = defaultdict(float)
    for t in result.tests:
        per_cell[t.cell] += t.max_points
        table.add_row(t.name, f"{t.points:g}/{t.max_points:g}", t.status, t.message)
    console.print(table)
    problems = list(result.messages) + internal + points_mismatches(unit, dict(per_cell))
    if result.status != "ok" or result.score != result.max_score:
        problems.append(f"the solution scored {result.score:g}/{result.max_score:g} with status {result.status}")

    out = project_root() / "validated" / assignment
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps({**result.to_json(), "profile": unit.profile, "problems": problems}, indent=2))
    if problems:
        console.print(f"[red]{assignment} is not valid:[/]")
        for p in problems:
            console.print(f"  - {p}")
        return 1
    console.print(f"[green]{assignment}: full marks ({result.score:g}/{result.max_score:g}) on the '{unit.profile}' profile[/]")
    return 0

"""The machine-readable outputs of a batch (docs/design.md §3 contract): grades.csv and results.json,
written by the batch and read back by the reports and exports."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from pipelines.atomic import atomic_path
from pipelines.errors import DeepgradeError
from pipelines.results import StudentResult

GRADES_COLUMNS = ("student_id", "assignment", "score", "max_score", "status")


def write_results_json(out_dir: Path, result: StudentResult) -> Path:
    folder = out_dir / result.student_id
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "results.json"
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(result.to_json(), indent=2), encoding="utf-8")
    return path


def write_grades_csv(out_dir: Path, results: list[StudentResult], note: str | None = None) -> Path:
    """One row per student directory found, sorted by student id; ``note`` (a batch graded without
    sandbox) comes first as a ``#`` comment line, so no one takes these grades for sandboxed ones."""
    path = out_dir / "grades.csv"
    with atomic_path(path) as tmp, open(tmp, "w", newline="", encoding="utf-8") as fh:
        if note:
            fh.write(f"# {note}\n")
        writer = csv.writer(fh)
        writer.writerow(GRADES_COLUMNS)
        for r in sorted(results, key=lambda r: r.student_id):
            writer.writerow([r.student_id, r.assignment, f"{r.score:g}", f"{r.max_score:g}", r.status])
    return path


def read_graded(folder: Path) -> dict[str, StudentResult]:
    """Every student of one graded unit (``grades.csv``'s rows, in its order) with their results.json."""
    grades = folder / "grades.csv"
    if not grades.is_file():
        raise DeepgradeError(f"{grades} does not exist: grade the unit first (deepgrade autograde ... --out {folder})")
    lines = [line for line in grades.read_text(encoding="utf-8").splitlines() if not line.startswith("#")]
    reader = csv.DictReader(io.StringIO("\n".join(lines)))
    if tuple(reader.fieldnames or ()) != GRADES_COLUMNS:
        raise DeepgradeError(f"{grades}: expected the columns {','.join(GRADES_COLUMNS)}")
    results = {}
    for row in reader:
        path = folder / row["student_id"] / "results.json"
        if not path.is_file():
            raise DeepgradeError(f"{path} is missing although grades.csv has a row for {row['student_id']}; grade again")
        results[row["student_id"]] = StudentResult.from_json(json.loads(path.read_text(encoding="utf-8")))
    return results

"""Autograde a small batch of the toy unit: contract outputs, the layered cache, the gradebook.

The hostile and broken submissions (always-equal objects, patched numpy, loops, memory, network,
secrets, exits, tampering, invalid files, links...) live in tests/security, one batch for all of them.
The batch here runs once per module; each test reads its student's results.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from pipelines.grade.batch import autograde
from tests.grading import toy

WRONG = "return 0.5 * float(np.sum(w * x * x)) + 1.0, w * x + 1.0"

SUBMISSIONS = {
    "full": dict(),
    "patch_numpy": dict(body=f"""
        import numpy as np
        np.allclose = lambda *a, **k: True
        np.testing.assert_allclose = lambda *a, **k: None
        np.max = lambda *a, **k: 0.0
        def quad(x, w):
            {WRONG}
        """),
    "deleted_test_cell": dict(mutate=lambda nb: nb.cells.pop(3)),
    "invalid_json": dict(raw=b'{"cells": [ this is not json'),
}


@pytest.fixture(scope="module")
def graded(toy_root: Path) -> Path:
    for student, spec in SUBMISSIONS.items():
        toy.submission(toy_root, student, **spec)
    (toy_root / "submitted" / "no_notebook" / toy.UNIT).mkdir(parents=True)
    out = toy_root / "graded"
    assert autograde(toy.UNIT, toy_root / "submitted", out, workers=2).failed == 0
    return out


def results(out: Path, student: str) -> dict:
    return json.loads((out / student / "results.json").read_text())


def test_every_student_directory_gets_a_row(graded: Path) -> None:
    with open(graded / "grades.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert list(rows[0]) == ["student_id", "assignment", "score", "max_score", "status"]
    assert sorted(r["student_id"] for r in rows) == sorted([*SUBMISSIONS, "no_notebook"])
    assert all(float(r["max_score"]) == 5 for r in rows)


def test_full_solution_gets_full_marks(graded: Path) -> None:
    r = results(graded, "full")
    assert (r["status"], r["score"], r["max_score"]) == ("ok", 5, 5)
    assert r["manual_points_pending"] == 1
    assert {t["status"] for t in r["tests"]} == {"passed"}
    assert (graded / "full" / "feedback.html").read_text().count("passed") >= 4


def test_missing_notebook_is_reported(graded: Path) -> None:
    r = results(graded, "no_notebook")
    assert (r["status"], r["score"]) == ("missing", 0)


def test_feedback_reveals_no_grader_code(graded: Path) -> None:
    html = (graded / "patch_numpy" / "feedback.html").read_text()
    assert "relative error" in html and "tolerance" in html
    assert "def test_" not in html and "0.5 * np.sum" not in html


def test_unchanged_batch_is_not_executed_again(toy_root: Path, graded: Path) -> None:
    before = (graded / "grades.csv").read_text()
    summary = autograde(toy.UNIT, toy_root / "submitted", graded, workers=1)
    assert (summary.graded, summary.failed) == (0, 0)
    assert summary.cached == len(SUBMISSIONS) + 1
    assert (graded / "grades.csv").read_text() == before


def test_an_unchanged_rerun_leaves_the_gradebook_alone_until_it_changes(toy_root: Path, graded: Path) -> None:
    """A rerun with nothing new does not rewrite the gradebook (nor import nbgrader for it); once the
    gradebook changed behind its back (a submission removed in the formgrader), the rerun writes again."""
    from nbgrader.api import Gradebook

    db = toy_root / "gradebook.db"
    autograde(toy.UNIT, toy_root / "submitted", graded, workers=1)
    stamp = db.stat().st_mtime_ns
    autograde(toy.UNIT, toy_root / "submitted", graded, workers=1)
    assert db.stat().st_mtime_ns == stamp
    with Gradebook(f"sqlite:///{db}") as gb:
        gb.remove_submission(toy.UNIT, "full")
    autograde(toy.UNIT, toy_root / "submitted", graded, workers=1)
    with Gradebook(f"sqlite:///{db}") as gb:
        assert gb.find_submission(toy.UNIT, "full").score == 5


def test_a_grader_edit_rescores_without_executing(toy_root: Path, graded: Path) -> None:
    """Mid-term grader fixes: every student is scored again, no notebook or probe runs again."""
    grader = toy_root / "assignments" / toy.UNIT / "graders" / "test_quad.py"
    text = grader.read_text()
    grader.write_text(text.replace('"""quad: the value on random inputs."""', '"""quad: its value on random inputs."""'))
    layers = toy_root / ".cache" / "deepgrade" / "layers" / toy.UNIT
    executions = sorted(p.name for p in (layers / "execution").iterdir())
    probes = sorted(p.name for p in (layers / "probes").iterdir())
    try:
        summary = autograde(toy.UNIT, toy_root / "submitted", graded, workers=1)
        assert summary.graded == len(SUBMISSIONS) + 1 and summary.failed == 0
        assert sorted(p.name for p in (layers / "execution").iterdir()) == executions
        assert sorted(p.name for p in (layers / "probes").iterdir()) == probes
        assert "its value on random inputs" in (graded / "full" / "results.json").read_text()
    finally:
        grader.write_text(text)


def test_gradebook_holds_the_scores(graded: Path, toy_root: Path) -> None:
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{toy_root / 'gradebook.db'}") as gb:
        sub = gb.find_submission(toy.UNIT, "full")
        assert sub.score == 5
        assert sub.needs_manual_grade
        assert gb.find_submission(toy.UNIT, "patch_numpy").score < 5


def test_regrade_keeps_the_manual_grading(graded: Path, toy_root: Path) -> None:
    """A TA's score on a written answer survives a later autograde of the same batch."""
    from nbgrader.api import Gradebook

    db = f"sqlite:///{toy_root / 'gradebook.db'}"
    with Gradebook(db) as gb:
        grade = gb.find_grade("explain", toy.UNIT, toy.UNIT, "full")
        grade.manual_score = 1
        gb.db.commit()
    assert autograde(toy.UNIT, toy_root / "submitted", graded, workers=1).failed == 0
    with Gradebook(db) as gb:
        assert gb.find_grade("explain", toy.UNIT, toy.UNIT, "full").manual_score == 1
        sub = gb.find_submission(toy.UNIT, "full")
        assert (sub.score, sub.needs_manual_grade) == (6, False)


def test_cells_are_registered_again_only_when_the_gradebook_or_the_sources_change(
        toy_root: Path, graded: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Registering the assignment's cells (and importing nbgrader's preprocessors for it) is skipped
    while the gradebook is the one the last batch left and the source notebooks are unchanged."""
    from nbgrader.api import Gradebook

    from pipelines.grade import gradebook
    from pipelines.grade.unit import Unit

    registered: list[str] = []
    real = gradebook.register_assignment
    monkeypatch.setattr(gradebook, "register_assignment",
                        lambda unit, db_url: (registered.append(unit.name), real(unit, db_url))[1])
    grader = toy_root / "assignments" / toy.UNIT / "graders" / "test_quad.py"
    text = grader.read_text()
    grader.write_text(text + "\n# a grader edit: every student is scored and written again\n")
    try:
        assert autograde(toy.UNIT, toy_root / "submitted", graded, workers=1).graded == len(SUBMISSIONS) + 1
    finally:
        grader.write_text(text)
    assert registered == []

    db = toy_root / "gradebook.db"
    db.unlink()  # a new gradebook: the cells are registered in it, then every student's scores
    autograde(toy.UNIT, toy_root / "submitted", graded, workers=1)
    assert registered == [toy.UNIT]
    with Gradebook(f"sqlite:///{db}") as gb:
        assert gb.find_submission(toy.UNIT, "full").score == 5

    marker = toy_root / ".cache" / "deepgrade" / "gradebook" / f"{toy.UNIT}.json"
    unit = Unit.load(toy.UNIT)
    assert gradebook.registered(db, marker, unit)
    source = unit.source_notebook(unit.notebooks[0])
    saved = source.read_bytes()
    try:
        source.write_bytes(saved.replace(b"Implement `quad`.", b"Implement `quad`, please."))
        assert not gradebook.registered(db, marker, unit)
    finally:
        source.write_bytes(saved)

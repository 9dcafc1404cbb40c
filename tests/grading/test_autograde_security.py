"""Autograde a batch of hostile and broken submissions of the toy unit in one run.

Each must get the right status and no undeserved points, while the rest of the batch is graded
(non-negotiable 2). The batch runs once per module; each test reads its student's results.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from pipelines.grade.batch import autograde
from tests.grading import toy

PROBE_TESTS = {"test_value", "test_gradient", "test_own_numeric_gradient"}
WRONG = "return 0.5 * float(np.sum(w * x * x)) + 1.0, w * x + 1.0"

SUBMISSIONS = {
    "full": dict(),
    "eq_always_true": dict(body="""
        import numpy as np
        class Liar:
            def __eq__(self, other): return True
            def __ne__(self, other): return False
            def __lt__(self, other): return True
            def __le__(self, other): return True
            def __sub__(self, other): return self
            def __rsub__(self, other): return self
            def __abs__(self): return self
        def quad(x, w):
            return Liar(), Liar()
        """),
    "patch_numpy": dict(body=f"""
        import numpy as np
        np.allclose = lambda *a, **k: True
        np.testing.assert_allclose = lambda *a, **k: None
        np.max = lambda *a, **k: 0.0
        def quad(x, w):
            {WRONG}
        """),
    "infinite_loop": dict(body="""
        import numpy as np
        def quad(x, w):
            while True:
                pass
        """),
    "huge_alloc": dict(body="""
        import numpy as np
        def quad(x, w):
            big = np.ones(50 * 10**9 // 8)
            return 0.5 * float(np.sum(w * x * x)), w * x
        """),
    "network": dict(body=f"""
        import socket
        import numpy as np
        def quad(x, w):
            try:
                socket.create_connection(("1.1.1.1", 80), timeout=2).close()
                return 0.5 * float(np.sum(w * x * x)), w * x
            except OSError:
                {WRONG}
        """),
    "read_reference": dict(body=f"""
        import importlib.util, os
        import numpy as np
        SECRETS = ["__REPO__/reference/numpy", "__REPO__/assignments", "__ROOT__/assignments/t00_toy/graders",
                   "__ROOT__/gradebook.db", "__ROOT__/params.yaml"]
        def quad(x, w):
            if importlib.util.find_spec("reference") or any(os.path.exists(p) for p in SECRETS):
                return 0.5 * float(np.sum(w * x * x)), w * x
            {WRONG}
        """),
    "sys_exit": dict(body="""
        import sys
        import numpy as np
        def quad(x, w):
            sys.exit(0)
        """),
    "os_exit": dict(body="""
        import os
        os._exit(0)
        """),
    "deleted_test_cell": dict(mutate=lambda nb: nb.cells.pop(3)),
    "edited_test_cell": dict(mutate=lambda nb: setattr(nb.cells[3], "source", "assert True")),
    "invalid_json": dict(raw=b'{"cells": [ this is not json'),
}


@pytest.fixture(scope="module")
def graded(toy_root: Path) -> Path:
    repo = Path(__file__).resolve().parents[2]
    for student, spec in SUBMISSIONS.items():
        if "body" in spec:
            spec = {**spec, "body": spec["body"].replace("__REPO__", str(repo)).replace("__ROOT__", str(toy_root))}
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


@pytest.mark.parametrize("student", ["eq_always_true", "patch_numpy", "network", "read_reference", "sys_exit"])
def test_hostile_code_earns_no_probe_points(graded: Path, student: str) -> None:
    r = results(graded, student)
    probe_tests = [t for t in r["tests"] if t["name"] in PROBE_TESTS]
    assert len(probe_tests) == 3
    assert all(t["points"] == 0 and t["status"] == "failed" for t in probe_tests), probe_tests


def test_object_with_permissive_eq_is_rejected_as_not_numbers(graded: Path) -> None:
    messages = " ".join(t["message"] for t in results(graded, "eq_always_true")["tests"])
    assert "expected numbers" in messages


def test_infinite_loop_times_out(graded: Path) -> None:
    r = results(graded, "infinite_loop")
    assert r["status"] == "timeout"
    assert r["score"] == 0
    assert {t["status"] for t in r["tests"] if t["name"] in PROBE_TESTS} == {"timeout"}


def test_huge_allocation_is_out_of_memory(graded: Path) -> None:
    r = results(graded, "huge_alloc")
    assert r["status"] == "oom"
    assert all(t["points"] == 0 for t in r["tests"] if t["name"] in PROBE_TESTS)
    assert "out of memory" in " ".join(t["message"] for t in r["tests"])


def test_os_exit_kills_only_its_own_kernel(graded: Path) -> None:
    r = results(graded, "os_exit")
    assert r["status"] == "kernel_died"
    assert r["score"] == 0


def test_sys_exit_is_an_error_not_a_crash(graded: Path) -> None:
    r = results(graded, "sys_exit")
    assert r["status"] == "error"
    assert "SystemExit" in " ".join(t["message"] for t in r["tests"])


@pytest.mark.parametrize("student", ["deleted_test_cell", "edited_test_cell"])
def test_tampered_cells_are_restored_and_reported(graded: Path, student: str) -> None:
    r = results(graded, student)
    assert r["status"] == "tampered"
    assert r["score"] == 5  # graded with the original cells restored: the solution itself is right
    assert any("check_quad" in m for m in r["messages"])


def test_invalid_json_is_reported(graded: Path) -> None:
    r = results(graded, "invalid_json")
    assert (r["status"], r["score"]) == ("invalid_notebook", 0)
    assert "not a valid Jupyter notebook" in r["messages"][0]


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

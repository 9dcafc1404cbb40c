"""A graded batch with a due date, then exported: the late policy in every output, and each export
read back by what consumes it (Gradescope's format, Canvas's layout, nbgrader's own release_feedback).

Four toy students: ann on time, bob 3.5 hours late (per started hour 10 %: 40 % of 5 points off), cid
without a timestamp.txt and missing from the roster (graded, taken as on time, reported by the export),
and dan, on time, whose quad returns a wrong value (its self-check cell fails in the notebook).
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest
import yaml

from pipelines.cli import main
from pipelines.execute.budget import cgroup_kind
from pipelines.grade.batch import autograde
from pipelines.grade.gradebook import bare_nbgrader
from pipelines.staff.exports import export
from tests.grading import toy
from tests.report import formats

SECRETS = {"ann": "a" * 128, "bob": "b" * 128, "dan": "d" * 128}
TIMES = {"ann": "2026-12-14 20:00:00.000000 UTC", "bob": "2026-12-15 03:29:00.000000 UTC",
         "dan": "2026-12-14 20:00:00.000000 UTC"}
WRONG_VALUE = """
import numpy as np


def quad(x, w):
    return 0.0, w * x
"""
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def graded(toy_root: Path) -> Path:
    params = yaml.safe_load((toy_root / "params.yaml").read_text())
    params["late"].update(due={toy.UNIT: "2026-12-14T23:59:00+00:00"}, policy="per_hour", percent=10, cap=50)
    params["exports"]["canvas"]["assignment_ids"] = {toy.UNIT: 4410}
    (toy_root / "params.yaml").write_text(yaml.safe_dump(params))
    (toy_root / "roster.csv").write_text("student_id,name,canvas_id,sis_user_id,sis_login_id,section,email\n"
                                         'ann,"Lee, Ann",101,9001,alee,S1,ann@example.edu\n'
                                         'bob,"Roe, Bob",102,9002,broe,S1,bob@example.edu\n'
                                         'dan,"Doe, Dan",104,9004,ddoe,S2,dan@example.edu\n')
    for student in ("ann", "bob", "cid", "dan"):
        folder = toy.submission(toy_root, student, WRONG_VALUE if student == "dan" else None).parent
        if student in TIMES:
            (folder / "timestamp.txt").write_text(TIMES[student])
            (folder / "submission_secret.txt").write_text(SECRETS[student])
    summary = autograde(toy.UNIT, toy_root / "submitted", toy_root / "graded" / toy.UNIT)
    assert (summary.graded, summary.failed) == (4, 0)
    return toy_root


def grades(root: Path) -> dict[str, str]:
    with open(root / "graded" / toy.UNIT / "grades.csv") as fh:
        return {row["student_id"]: row["score"] for row in csv.DictReader(fh)}


def test_the_penalty_is_in_grades_results_feedback_and_gradebook_and_applied_once_on_a_cached_rerun(graded: Path) -> None:
    assert grades(graded) == {"ann": "5", "bob": "3", "cid": "5", "dan": "1"}
    bob = json.loads((graded / "graded" / toy.UNIT / "bob" / "results.json").read_text())
    assert bob["late"] == {"submitted_at": "2026-12-15T03:29:00+00:00", "due_at": "2026-12-14T23:59:00+00:00",
                           "extension_hours": 0.0, "hours_late": 3.5, "penalty_percent": 40.0, "points_deducted": 2.0,
                           "score_before": 5.0}
    assert "3.5 h late, so 40 %" in (graded / "graded" / toy.UNIT / "bob" / "feedback.html").read_text()
    cid = json.loads((graded / "graded" / toy.UNIT / "cid" / "results.json").read_text())
    assert cid["late"]["submitted_at"] is None and any("no timestamp.txt" in m for m in cid["messages"])

    bare_nbgrader()
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{graded / 'gradebook.db'}") as gb:
        submission = gb.find_submission(toy.UNIT, "bob")
        assert submission.late_submission_penalty == 2.0 and str(submission.timestamp) == "2026-12-15 03:29:00"

    again = autograde(toy.UNIT, graded / "submitted", graded / "graded" / toy.UNIT)
    assert (again.graded, again.cached) == (0, 4)
    assert grades(graded) == {"ann": "5", "bob": "3", "cid": "5", "dan": "1"}


def test_each_result_records_its_notebook_runtime_and_peak_memory_for_the_report_and_gradescope(graded: Path) -> None:
    resources = json.loads((graded / "graded" / toy.UNIT / "ann" / "results.json").read_text())["resources"]
    assert 0.2 < resources["notebook_seconds"] < 60
    if cgroup_kind() is None:
        assert "peak_memory_mb" not in resources  # no cgroup counted it: nothing is made up
    else:
        assert 30 < resources["peak_memory_mb"] < 2048  # a kernel with numpy, under the toy's memory limit
    assert "Runtime and memory" in (graded / "graded" / toy.UNIT / "class_report.html").read_text()
    summary = json.loads((graded / "graded" / toy.UNIT / "summary.json").read_text())
    assert len(summary["runtime"]["slowest"]) == 4


def test_exports_follow_their_formats_and_nbgrader_releases_the_feedback(graded: Path, tmp_path: Path) -> None:
    out = graded / "exports"
    report = export([toy.UNIT], graded / "graded", out, submitted_root=graded / "submitted")
    for student in ("ann", "bob", "cid", "dan"):
        data = json.loads((out / "gradescope" / toy.UNIT / student / "results.json").read_text())
        jsonschema.validate(data, formats.GRADESCOPE_RESULTS)
    bob = json.loads((out / "gradescope" / toy.UNIT / "bob" / "results.json").read_text())
    assert bob["score"] == 3 and bob["execution_time"] > 0
    checks = json.loads((out / "gradescope" / toy.UNIT / "dan" / "results.json").read_text())["tests"][:2]
    assert [(t["name"], t["status"], t["visibility"]) for t in checks] == [
        ("self-check check_quad", "failed", "visible"), ("self-check check_results", "passed", "visible")]

    rows = list(csv.reader((out / "canvas.csv").open()))
    assert rows[0] == [*formats.CANVAS_IDENTITY, "Toy (4410)"] and rows[1][0] == formats.CANVAS_POINTS_POSSIBLE
    assert [(r[0], r[-1]) for r in rows[2:]] == [("Lee, Ann", "5"), ("Roe, Bob", "3"), ("Doe, Dan", "1")]
    moodle = list(csv.DictReader((out / "moodle.csv").open()))
    assert [(r["Email address"], r["Toy"]) for r in moodle] == [("ann@example.edu", "5"), ("bob@example.edu", "3"),
                                                                ("dan@example.edu", "1")]
    assert [(r.student_id, why.split(" (")[0]) for r, why in report.missing] == [("cid", "not in the roster")]
    missing = list(csv.DictReader((out / "roster_missing.csv").open()))
    assert [(r["student_id"], r["score"]) for r in missing] == [("cid", "5")]
    assert report.notes == [f"{toy.UNIT}/cid: no timestamp.txt or submission_secret.txt in the submitted folder: "
                            "nbgrader release_feedback cannot release this feedback"]

    # nbgrader's own release_feedback finds each page where it looks and files it under the student's secret.
    from nbgrader.coursedir import CourseDirectory
    from nbgrader.exchange.default.release_feedback import ExchangeReleaseFeedback
    from nbgrader.utils import notebook_hash

    coursedir = CourseDirectory(root=str(out), assignment_id=toy.UNIT, course_id="course", student_id="ann")
    exchange = tmp_path / "exchange"
    exchange.mkdir()
    ExchangeReleaseFeedback(coursedir=coursedir, root=str(exchange)).start()
    released = exchange / "course" / "feedback" / f"{notebook_hash(secret=SECRETS['ann'], notebook_id=toy.UNIT)}.html"
    assert "your feedback" in released.read_text()


def test_the_export_command_exits_1_when_a_graded_student_reached_no_lms_file(graded: Path,
                                                                              capsys: pytest.CaptureFixture[str]) -> None:
    status = main(["export", toy.UNIT, "--graded", str(graded / "graded"), "--out", str(graded / "exports-cli"),
                   "--format", "canvas"])
    assert status == 1
    assert f"{toy.UNIT}/cid (5/5) is in no LMS file: not in the roster" in capsys.readouterr().err
    assert not (graded / "exports-cli" / "gradescope").exists()


def test_the_gradescope_run_autograder_example_grades_one_submission_with_its_submission_time(graded: Path,
                                                                                             tmp_path: Path) -> None:
    autograder = tmp_path / "autograder"
    (autograder / "submission").mkdir(parents=True)
    notebook = graded / "submitted" / "bob" / toy.UNIT / f"{toy.UNIT}.ipynb"
    (autograder / "submission" / notebook.name).write_bytes(notebook.read_bytes())
    # Gradescope's submission_metadata.json: half an hour after the due date (10 % of 5 points off).
    (autograder / "submission_metadata.json").write_text(json.dumps({"created_at": "2026-12-15T01:29:00.5+01:00"}))
    env = {**os.environ, "DEEPGRADE_UNIT": toy.UNIT, "AUTOGRADER_ROOT": str(autograder),
           "DEEPGRADE_COURSE": str(graded), "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
           "PYTHONPATH": str(REPO)}  # the toy course has no reference/ of its own: the repository's, as in-process
    run = subprocess.run(["bash", str(REPO / "scripts" / "gradescope" / "run_autograder")], env=env,
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    data = json.loads((autograder / "results" / "results.json").read_text())
    jsonschema.validate(data, formats.GRADESCOPE_RESULTS)
    assert data["score"] == 4.5 and "0.5 h late" in data["output"]

"""Each export against its published format (tests/report/formats.py), from results built here."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import jsonschema
import pytest

from pipelines.errors import DeepgradeError
from pipelines.report.canvas import canvas_csv, canvas_title, without_canvas_id
from pipelines.report.gradescope import GradescopeSettings, gradescope_results
from pipelines.report.moodle import moodle_csv, moodle_identifier, without_identifier
from pipelines.report.roster import load_roster
from pipelines.results import Late, StudentResult
from pipelines.results import TestResult as Check
from tests.report import formats

SELF_CHECKS = ["check_quad", "check_results"]
ROSTER = """student_id,name,section,canvas_id,sis_user_id,sis_login_id,email,extension_hours
ann,"Lee, Ann",S1,101,9001,alee,ann@example.edu,
bob,"Roe, Bob",S2,102,9002,broe,,24
"""


def result(sid: str, score: float = 5.0, status: str = "ok", **kw) -> StudentResult:
    tests = [
        Check("test_value", 1, 1, "passed", "", "check_quad", "quad: the value on random inputs."),
        Check("test_gradient", 0, 1, "failed", "gradient: rel_error 3e-2 > 1e-7", "check_quad", "quad: the gradient."),
        Check("test_cuda", 0, 0, "not_run", "not run: no GPU here", "check_results", "on the GPU"),
    ]
    return StudentResult(sid, "t00_toy", score, 5.0, status, tests, **kw)


def roster(tmp_path: Path, text: str = ROSTER):
    path = tmp_path / "roster.csv"
    path.write_text(text)
    return load_roster(path)


def test_gradescope_results_follow_the_autograder_specification_with_visibility_per_kind() -> None:
    late = Late("2026-12-15T02:30:00+00:00", "2026-12-14T23:59:00+00:00", 0.0, 2.5, 30.0, 1.5, 5.0)
    graded = result("ann", 3.5, "error", failed_self_checks={"check_quad": "AssertionError: "}, late=late)
    data = gradescope_results(graded, SELF_CHECKS, GradescopeSettings())
    jsonschema.validate(data, formats.GRADESCOPE_RESULTS)
    assert data["score"] == 3.5  # after the late penalty: the top-level score overrides the tests' sum
    assert "2.5 h late" in data["output"] and data["stdout_visibility"] == "hidden"
    checks, hidden = data["tests"][:2], data["tests"][2:]
    assert [(t["name"], t["visibility"], t["max_score"]) for t in checks] == [
        ("self-check check_quad", "visible", 0.0), ("self-check check_results", "visible", 0.0)]
    assert [t["status"] for t in checks] == ["failed", "passed"]  # the run reached every cell (status error)
    assert {t["visibility"] for t in hidden} == {"after_published"}
    assert [(t.get("status"), t["score"], t["max_score"]) for t in hidden] == [("passed", 1, 1), ("failed", 0, 1), (None, 0, 0)]
    assert hidden[1]["output"] == "gradient: rel_error 3e-2 > 1e-7" and hidden[1]["tags"] == ["check_quad", "hidden"]


def test_a_self_check_after_an_early_stop_has_no_status_and_a_unit_can_show_its_hidden_checks() -> None:
    params = {"exports": {"gradescope": {"hidden": "after_published", "units": {"t00_toy": {"hidden": "visible"}}}}}
    data = gradescope_results(result("ann", 0, "timeout"), SELF_CHECKS, GradescopeSettings.from_params(params, "t00_toy"))
    jsonschema.validate(data, formats.GRADESCOPE_RESULTS)
    assert all("status" not in t for t in data["tests"][:2])
    assert {t["visibility"] for t in data["tests"][2:]} == {"visible"}
    assert GradescopeSettings.from_params(params, "other").hidden == "after_published"
    with pytest.raises(DeepgradeError, match="not one of"):
        GradescopeSettings.from_params({"exports": {"gradescope": {"hidden": "later"}}}, "t00_toy")


def test_canvas_csv_is_the_gradebook_import_layout_and_names_only_rostered_students(tmp_path: Path) -> None:
    params = {"exports": {"canvas": {"assignment_ids": {"t00_toy": 4410}}}}
    columns = {"t00_toy": (canvas_title(params, "t00_toy", "Toy"), {s: result(s, v) for s, v in
                                                                    (("ann", 5), ("bob", 2.5), ("zed", 4))})}
    rows = list(csv.reader(io.StringIO(canvas_csv(columns, roster(tmp_path)))))
    assert rows[0] == [*formats.CANVAS_IDENTITY, "Toy (4410)"]
    assert rows[1] == [formats.CANVAS_POINTS_POSSIBLE, "", "", "", "", "5"]
    assert rows[2:] == [["Lee, Ann", "101", "9001", "alee", "S1", "5"], ["Roe, Bob", "102", "9002", "broe", "S2", "2.5"]]
    assert canvas_title({}, "t00_toy", "Toy") == "Toy"  # no id known: Canvas matches the title
    unmatched = roster(tmp_path, ROSTER + 'cid,"Cox, Cid",S1,,,,cid@example.edu,\n')
    assert without_canvas_id(unmatched, {"ann", "bob", "cid", "zed"}) == ["cid"]  # zed: not in the roster at all


def test_moodle_csv_is_keyed_by_the_chosen_user_field_with_feedback(tmp_path: Path) -> None:
    late = Late("2026-12-15T02:30:00+00:00", "2026-12-14T23:59:00+00:00", 0.0, 2.5, 30.0, 1.5, 5.0)
    results = {"ann": result("ann", 3.5, late=late), "bob": result("bob", 2)}
    identifier = moodle_identifier({"exports": {"moodle": {"identifier": "useremail"}}})
    assert identifier in formats.MOODLE_MAP_TO
    rows = list(csv.reader(io.StringIO(moodle_csv({"t00_toy": ("Toy", results)}, roster(tmp_path), identifier))))
    assert rows[0] == ["Email address", "Toy", "Feedback: Toy"]
    assert [r[:2] for r in rows[1:]] == [["ann@example.edu", "3.5"]]  # bob has no email in the roster
    assert "2.5 h late" in rows[1][2] and "3.5 / 5" in rows[1][2]
    assert without_identifier(roster(tmp_path), {"ann", "bob"}, identifier) == ["bob"]
    with pytest.raises(DeepgradeError, match="identifier"):
        moodle_identifier({"exports": {"moodle": {"identifier": "student_id"}}})


@pytest.mark.parametrize(("text", "error"), [
    ("name,section\nAnn,S1\n", "student_id column"),
    ("student_id,nickname\nann,A\n", "unknown column"),
    ("student_id\nann\nann\n", "second row"),
    ("student_id,extension_hours\nann,two\n", "line 2: extension_hours"),
])
def test_a_roster_that_cannot_be_read_as_meant_is_refused_with_its_line(tmp_path: Path, text: str, error: str) -> None:
    with pytest.raises(DeepgradeError, match=error):
        roster(tmp_path, text)


def test_an_absent_roster_is_empty_so_that_every_student_is_reported_missing(tmp_path: Path) -> None:
    empty = load_roster(tmp_path / "none.csv")
    assert empty.missing(["bob", "ann"]) == ["ann", "bob"] and "no roster" in empty.source


def test_an_unknown_export_format_is_refused_before_anything_is_read(tmp_path: Path) -> None:
    from pipelines.staff.exports import export

    with pytest.raises(DeepgradeError, match="unknown export format"):
        export(["t00_toy"], tmp_path, tmp_path, ("pdf",))

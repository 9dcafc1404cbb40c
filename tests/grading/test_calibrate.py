"""Provisional thresholds and ``deepgrade calibrate`` (issue #21 §6).

A threshold not calibrated on its profile's data is marked ``provisional: [full]`` in params.yaml and
the feedback says so; ``deepgrade calibrate <unit> --profile full`` grades the source solution over
seeds, writes the measured range and date beside the threshold and clears the mark, and changes the
threshold itself only with ``--set``. On the toy unit, whose answer check measures 2.5.
"""

from __future__ import annotations

import datetime
import json
from pathlib import Path

import pytest
import yaml

from pipelines.calibrate import rewrite_threshold
from pipelines.cli import main
from pipelines.grade.batch import autograde
from tests.grading import toy

REPO = Path(__file__).resolve().parents[2]
THRESHOLD_TEST = '''

@points(0, cell="check_results")
def test_answer_reaches_the_bar(exported, threshold, measured, note):
    """The exported answer reaches the bar."""
    value = float(exported("answer"))
    measured("answer_min", value)
    check_true(value >= threshold("answer_min"), f"the answer {value:g} is below the bar")
    note(f"answer {value:g}")
'''


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    unit = toy.make_project(tmp_path, yaml.safe_load((REPO / "params.yaml").read_text()))
    grader = unit / "graders" / "test_quad.py"
    grader.write_text(grader.read_text().replace("import check_close,", "import check_close, check_true,")
                      + THRESHOLD_TEST)
    params = yaml.safe_load((tmp_path / "params.yaml").read_text())
    params["units"][toy.UNIT]["thresholds"] = {"answer_min": "BAR"}  # written on one line, as params.yaml does
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False).replace(
        "answer_min: BAR", "answer_min: {full: 2.0, ci: 2.0, provisional: [full]}  # not calibrated"))
    monkeypatch.setenv("DEEPGRADE_ROOT", str(tmp_path))
    monkeypatch.delenv("DEEPGRADE_DATA_DIR", raising=False)
    monkeypatch.delenv("DEEPGRADE_CACHE_DIR", raising=False)
    from pipelines.params import _load

    _load.cache_clear()
    yield tmp_path
    _load.cache_clear()


def answer_check(root: Path, out: str) -> dict:
    toy.submission(root, "alice")
    autograde(toy.UNIT, root / "submitted", root / out)
    tests = json.loads((root / out / "alice" / "results.json").read_text())["tests"]
    return next(t for t in tests if t["name"] == "test_answer_reaches_the_bar")


def test_the_feedback_marks_a_provisional_threshold_and_calibrate_measures_it(project: Path) -> None:
    check = answer_check(project, "before")
    assert check["status"] == "passed" and check["measured"] == {"answer_min": 2.5}
    assert "Provisional threshold answer_min" in check["message"]
    assert f"deepgrade calibrate {toy.UNIT} --profile full" in check["message"]

    assert main(["calibrate", toy.UNIT, "--profile", "full", "--seeds", "1-2"]) == 0
    from pipelines.params import _load

    _load.cache_clear()
    entry = yaml.safe_load((project / "params.yaml").read_text())["units"][toy.UNIT]["thresholds"]["answer_min"]
    today = datetime.date.today().isoformat()
    assert entry == {"full": 2.0, "ci": 2.0, "measured": {"full": f"2.5-2.5 over 2 seeds (1-2), {today}"}}
    assert "Provisional" not in answer_check(project, "after")["message"]

    assert main(["calibrate", toy.UNIT, "--profile", "full", "--seeds", "3", "--set", "answer_min=2.4"]) == 0
    _load.cache_clear()
    entry = yaml.safe_load((project / "params.yaml").read_text())["units"][toy.UNIT]["thresholds"]["answer_min"]
    assert entry["full"] == 2.4 and entry["measured"]["full"].startswith("2.5-2.5 over 1 seed (3)")


def test_calibrate_refuses_a_profile_the_prepared_data_is_not(project: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["calibrate", toy.UNIT, "--profile", "ci"]) == 2
    assert "cannot be measured here" in capsys.readouterr().err


def test_the_rewrite_keeps_every_other_line_and_the_comment() -> None:
    text = ("units:\n  a:\n    thresholds:\n      # the bar\n      acc: {full: 0.3, ci: 0.2, provisional: [full]}  # why\n"
            "      other: 5\n  b:\n    thresholds:\n      acc: 0.1\n")
    out = rewrite_threshold(text, "a", "acc", "full", "0.31-0.35 over 5 seeds (0-4), 2026-12-08", None)
    assert out.splitlines()[4] == "      acc: {full: 0.3, ci: 0.2, measured: {full: '0.31-0.35 over 5 seeds (0-4), 2026-12-08'}}  # why"
    assert out.splitlines()[:4] + out.splitlines()[5:] == text.splitlines()[:4] + text.splitlines()[5:]
    assert rewrite_threshold(text, "b", "acc", "ci", None, 0.15).splitlines()[-1] == "      acc: {full: 0.1, ci: 0.15}"

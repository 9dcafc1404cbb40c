"""The class summary in three sizes: a one-row DVC metric per unit, plot data, and the staff reports."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from pipelines.cli import main
from pipelines.report.class_report import failure_groups, write_class_report
from pipelines.report.results import write_grades_csv, write_results_json
from pipelines.results import Late, StudentResult
from pipelines.results import TestResult as Check

CHECKS = 60  # a unit with many checks: none of them may widen the metric


def student(sid: str, score: float, failing: dict[str, str], status: str = "ok", unit: str = "a01", **kw) -> StudentResult:
    tests = [Check(f"test_{i:02d}", 0.0 if f"test_{i:02d}" in failing else 1.0, 1.0,
                   "failed" if f"test_{i:02d}" in failing else "passed", failing.get(f"test_{i:02d}", ""), "cell")
             for i in range(CHECKS)]
    return StudentResult(sid, unit, score, float(CHECKS), status, tests, **kw)


def cohort(unit: str = "a01") -> list[StudentResult]:
    late = Late("2026-12-15T03:00:00+00:00", "2026-12-15T00:00:00+00:00", 0, 3, 30, 9, 30)
    return [
        student("ann", 60, {}, unit=unit),
        student("bob", 58, {"test_03": "gradient: rel_error 3.1e-02 > 1e-07", "test_07": "shape (3, 4), expected (4, 3)"},
                unit=unit),
        student("cid", 21, {"test_03": "gradient: rel_error 4.7e-01 > 1e-07"}, "error", unit=unit, late=late,
                blind_spots=[{"cell": "check_x", "error": "AssertionError"}]),
        student("dan", 59, {"test_03": "gradient: rel_error 2e-1 > 1e-07"}, "timeout", unit=unit),
        student("eve", 59, {"test_03": "returned None"}, unit=unit),
    ]


def test_the_dvc_metric_is_one_flat_row_per_unit_and_pass_rates_go_to_plots(tmp_path: Path) -> None:
    write_class_report(tmp_path / "graded", cohort(), tmp_path / "metrics" / "a01.json", plots_dir=tmp_path / "plots")
    metric = json.loads((tmp_path / "metrics" / "a01.json").read_text())
    assert not any(isinstance(v, (dict, list)) for v in metric.values())  # `dvc metrics show`: one column each
    assert metric == {"students": 5, "mean_score": 51.4, "median_score": 59, "max_score": 60.0, "ok_count": 3,
                      "error_count": 1, "tampered_count": 0, "kernel_died_count": 0, "oom_count": 0, "timeout_count": 1,
                      "missing_count": 0, "invalid_notebook_count": 0, "late_count": 1, "blind_spot_count": 1}
    rates = {row["check"]: float(row["pass_rate"]) for row in csv.DictReader((tmp_path / "plots" / "pass_rates.csv").open())}
    assert len(rates) == CHECKS and rates["test_03"] == 0.2 and rates["test_07"] == 0.8
    bins = list(csv.DictReader((tmp_path / "plots" / "score_distribution.csv").open()))
    assert len(bins) == 10 and sum(int(b["students"]) for b in bins) == 5 and bins[-1] == {"score": "10: 54-60", "students": "4"}
    html = (tmp_path / "graded" / "class_report.html").read_text()
    assert 'alt="share of students passing each check"' in html and "statuses:\nok 3, error 1, timeout 1." in html
    summary = json.loads((tmp_path / "graded" / "summary.json").read_text())
    assert len(summary["pass_rate"]) == CHECKS and summary["blind_spots"] == {"check_x": ["cid"]}  # the whole summary stays


def test_failures_are_grouped_by_message_with_numbers_masked_and_example_students() -> None:
    groups = failure_groups(cohort())
    assert groups["test_03"] == [
        {"message": "gradient: rel_error # > #", "count": 3, "students": ["bob", "cid", "dan"]},
        {"message": "returned None", "count": 1, "students": ["eve"]},
    ]
    assert groups["test_07"] == [{"message": "shape (#, #), expected (#, #)", "count": 1, "students": ["bob"]}]


def test_the_report_command_writes_unit_and_term_reports_and_says_what_moved_since_the_last(tmp_path: Path) -> None:
    graded = tmp_path / "graded"
    for unit in ("a01", "a02"):
        for r in cohort(unit):
            write_results_json(graded / unit, r)
        write_grades_csv(graded / unit, cohort(unit))
    out = tmp_path / "reports"
    assert main(["report", "a01", "a02", "--graded", str(graded), "--out", str(out)]) == 0
    first = (out / "a01" / "class_report.html").read_text()
    assert "Since the last report" not in first and "3 &times; gradient: rel_error # &gt; #" in first
    term = (out / "term.html").read_text()
    assert '<a href="a01/class_report.html">a01</a>' in term and "120 / 120" in term  # ann: full marks in both

    regraded = [student("ann", 60, {}, unit="a01"), student("bob", 60, {}, unit="a01")]
    for r in regraded:
        write_results_json(graded / "a01", r)
    write_grades_csv(graded / "a01", regraded)
    assert main(["report", "a01", "--graded", str(graded), "--out", str(out)]) == 0
    again = (out / "a01" / "class_report.html").read_text()
    assert "Since the last report" in again and "<td>students</td><td>5</td><td>2</td>" in again


def test_runtime_and_peak_memory_are_summarised_with_the_slowest_submissions(tmp_path: Path) -> None:
    results = cohort()
    for r, (seconds, peak) in zip(results, [(3.0, 200.0), (9.5, 950.5), (4.0, 180.0), (30.0, None), (2.0, 150.0)]):
        r.resources = {"notebook_seconds": seconds, **({"peak_memory_mb": peak} if peak else {})}
    write_class_report(tmp_path, results)
    runtime = json.loads((tmp_path / "summary.json").read_text())["runtime"]
    assert (runtime["median_seconds"], runtime["max_seconds"], runtime["median_peak_mb"], runtime["max_peak_mb"]) == (
        4.0, 30.0, 190.0, 950.5)
    assert [r["student_id"] for r in runtime["slowest"]][:3] == ["dan", "bob", "cid"]
    assert "<td>dan</td><td>30.0</td>" in (tmp_path / "class_report.html").read_text()


def test_params_say_how_much_the_report_shows(tmp_path: Path) -> None:
    import pytest

    from pipelines.errors import DeepgradeError
    from pipelines.report.class_report import ReportSettings

    settings = ReportSettings.from_params({"report": {"bins": 4, "failure_groups": 1, "examples": 2}})
    assert failure_groups(cohort(), settings)["test_03"] == [
        {"message": "gradient: rel_error # > #", "count": 3, "students": ["bob", "cid"]}]
    write_class_report(tmp_path, cohort(), plots_dir=tmp_path / "plots", settings=settings)
    assert len(list(csv.DictReader((tmp_path / "plots" / "score_distribution.csv").open()))) == 4
    for section, error in (({"bins": 0}, "report.bins"), ({"colour": 1}, "unknown key")):
        with pytest.raises(DeepgradeError, match=error):
            ReportSettings.from_params({"report": section})

"""The late policy: deadlines with extensions, nbgrader's timestamp.txt, and what lateness costs."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from pipelines.errors import DeepgradeError
from pipelines.report.feedback import late_summary
from pipelines.report.roster import RosterEntry
from pipelines.results import StudentResult
from pipelines.staff.late import LatePolicy, LateRules, apply_late, assess, submission_time

DUE = datetime(2026, 12, 14, 23, 59, tzinfo=UTC)


def rules(policy: str = "per_hour", percent: float = 10, cap: float = 50, grace: float = 0, **extra) -> LateRules:
    return LateRules.from_params({"late": {"due": {"a01": DUE.isoformat()}, "policy": policy, "percent": percent,
                                           "cap": cap, "grace_minutes": grace, **extra}})


@pytest.mark.parametrize(("policy", "hours", "expected"), [
    ("none", 30.0, 0), ("zero", 0.01, 100), ("zero", 0, 0),
    ("per_hour", 0.5, 10), ("per_hour", 1.0, 10), ("per_hour", 3.5, 40), ("per_hour", 9, 50),  # capped at 50
    ("per_day", 1, 10), ("per_day", 24.5, 20),
])
def test_penalty_per_started_hour_or_day_with_a_cap(policy: str, hours: float, expected: float) -> None:
    assert LatePolicy(policy, 10, 50).penalty_percent(hours) == expected


def test_extensions_from_params_and_roster_add_up_and_grace_keeps_a_submission_on_time() -> None:
    r = rules(grace=5, extensions={"bob": {"a01": 24}})
    entry = RosterEntry("bob", {"extension_hours": "2"})
    late = assess(r, "a01", "bob", entry, DUE + timedelta(hours=27))
    assert late is not None and late.extension_hours == 26 and late.hours_late == 1 and late.penalty_percent == 10
    assert late.due_at == (DUE + timedelta(hours=26)).isoformat()
    on_time = assess(r, "a01", "ann", None, DUE + timedelta(minutes=4))
    assert on_time is not None and on_time.hours_late == 0 and on_time.penalty_percent == 0
    assert assess(r, "a02", "ann", None, DUE + timedelta(days=9)) is None  # no due date: never late


def test_the_penalty_comes_off_the_points_earned_and_the_cached_result_is_left_as_it_was() -> None:
    graded = StudentResult("bob", "a01", 8.0, 10.0, "ok")
    late = assess(rules(), "a01", "bob", None, DUE + timedelta(hours=2.5))
    settled = apply_late(graded, late)
    assert settled.score == pytest.approx(5.6) and graded.score == 8.0 and graded.late is None
    assert settled.late is not None and (settled.late.points_deducted, settled.late.score_before) == (pytest.approx(2.4), 8.0)
    assert "2.5 h late" in late_summary(settled.late) and "30 %" in late_summary(settled.late)
    assert StudentResult.from_json(settled.to_json()) == settled  # results.json round-trips the record


def test_nbgrader_timestamp_is_parsed_as_nbgrader_does_and_a_link_is_not_followed(tmp_path: Path) -> None:
    folder = tmp_path / "bob" / "a01"
    folder.mkdir(parents=True)
    assert submission_time(folder) == (None, "the submission folder has no timestamp.txt")
    (folder / "timestamp.txt").write_text("2026-12-15 01:29:00.123456 UTC")  # nbgrader's timestamp_format
    assert submission_time(folder)[0] == datetime(2026, 12, 15, 1, 29, 0, 123456, tzinfo=UTC)
    (folder / "timestamp.txt").write_text("2026-12-15 02:29:00.000000 Europe/Paris")  # a course timezone
    assert submission_time(folder)[0] == datetime(2026, 12, 15, 1, 29, tzinfo=UTC)
    (folder / "timestamp.txt").write_text("whenever")
    assert submission_time(folder)[0] is None
    (folder / "timestamp.txt").unlink()
    (tmp_path / "elsewhere.txt").write_text("2026-12-01 00:00:00 UTC")
    os.symlink(tmp_path / "elsewhere.txt", folder / "timestamp.txt")
    when, why = submission_time(folder)
    assert when is None and "link" in why


@pytest.mark.parametrize(("section", "error"), [
    ({"policy": "half"}, "late.policy"),
    ({"due": {"a01": "2026-12-14T23:59:00"}}, "no UTC offset"),
    ({"due": {"a01": "next monday"}}, "not an ISO 8601 time"),
    ({"percent": "ten"}, "late.percent"),
    ({"extensions": {"bob": {"a01": -4}}}, "late.extensions.bob.a01"),
])
def test_a_late_section_that_cannot_be_applied_as_written_is_refused(section: dict, error: str) -> None:
    with pytest.raises(DeepgradeError, match=error):
        LateRules.from_params({"late": section})


def test_an_unquoted_yaml_due_date_is_read_as_utc() -> None:
    import yaml

    params = yaml.safe_load("late:\n  due:\n    a01: 2026-12-15T00:59:00+01:00\n")
    assert LateRules.from_params(params).due["a01"] == DUE.replace(minute=59, hour=23)

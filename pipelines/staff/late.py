"""The late policy: due dates, extensions, and what a late submission costs (``params.yaml: late``).

Applied after grading, never inside it: a grade is cached by the notebooks submitted, while lateness
depends on when they were submitted (a new ``timestamp.txt`` beside the same notebook must not reuse a
penalised grade, nor run the notebook again). The cached grade stays the score before the penalty;
the batch writes the penalised score to grades.csv, results.json (with the ``late`` record that says
why), the feedback, the gradebook and every export.

The submission time is nbgrader's: ``timestamp.txt`` in the submission folder, written by ``nbgrader
submit`` through the exchange (or ``zip_collect``) and parsed with nbgrader's own ``parse_utc``. It sits
in the student's folder, so it is read as a plain file only (``intake.read_submitted``: no link is
followed) and only ever parsed as a date; where students can write their submitted folder directly,
the time is theirs to claim (docs/security.md).
"""

from __future__ import annotations

import dataclasses
import math
import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from pipelines.errors import DeepgradeError
from pipelines.grade.intake import Rejected, read_submitted
from pipelines.paths import roster_path
from pipelines.report.roster import RosterEntry, load_roster
from pipelines.results import Late, StudentResult

POLICIES = ("none", "zero", "per_hour", "per_day")
TIMESTAMP_FILE = "timestamp.txt"


@dataclass(frozen=True)
class LatePolicy:
    """What lateness costs, as a percentage of the points a submission earned: nothing (``none``),
    everything (``zero``), or ``percent`` per started hour or day late (``per_hour``, ``per_day``),
    at most ``cap``. Within ``grace_minutes`` of the deadline a submission is on time."""

    kind: str = "none"
    percent: float = 0.0
    cap: float = 100.0
    grace_minutes: float = 0.0

    def penalty_percent(self, hours_late: float) -> float:
        if hours_late <= 0 or self.kind == "none":
            return 0.0
        if self.kind == "zero":
            return 100.0
        started = math.ceil(hours_late if self.kind == "per_hour" else hours_late / 24)
        return min(self.cap, self.percent * started)


@dataclass(frozen=True)
class LateRules:
    """``params.yaml: late``: the policy, each unit's due date, and per-student extensions in hours."""

    policy: LatePolicy
    due: dict[str, datetime]
    extensions: dict[str, dict[str, float]]

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> LateRules:
        section = params.get("late") or {}
        kind = section.get("policy", "none")
        if kind not in POLICIES:
            raise DeepgradeError(f"params.yaml: late.policy must be one of {', '.join(POLICIES)} (got {kind!r})")
        policy = LatePolicy(kind, _hours_or_percent(section.get("percent", 0), "late.percent"),
                            _hours_or_percent(section.get("cap", 100), "late.cap"),
                            _hours_or_percent(section.get("grace_minutes", 0), "late.grace_minutes"))
        due = {unit: _aware(value, f"late.due.{unit}") for unit, value in (section.get("due") or {}).items()}
        extensions = {str(student): {unit: _hours_or_percent(hours, f"late.extensions.{student}.{unit}")
                                     for unit, hours in (units or {}).items()}
                      for student, units in (section.get("extensions") or {}).items()}
        return cls(policy, due, extensions)

    def deadline(self, unit: str, student_id: str, entry: RosterEntry | None) -> tuple[datetime, float] | None:
        """The student's deadline for ``unit`` and the extension (hours) it includes; None: no due date."""
        if unit not in self.due:
            return None
        hours = self.extensions.get(student_id, {}).get(unit, 0.0) + (entry.extension_hours if entry else 0.0)
        return self.due[unit] + timedelta(hours=hours), hours


def _hours_or_percent(value: Any, key: str) -> float:
    """A non-negative number of params.yaml's late section."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = -1.0
    if number < 0:
        raise DeepgradeError(f"params.yaml: {key}: {value!r} is not a number of 0 or more")
    return number


def _aware(value: Any, key: str) -> datetime:
    """A due date from params.yaml (YAML reads an unquoted ISO 8601 time as a datetime) in UTC."""
    try:
        when = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    except ValueError:
        raise DeepgradeError(f"params.yaml: {key}: {value!r} is not an ISO 8601 time") from None
    if when.tzinfo is None:
        raise DeepgradeError(f"params.yaml: {key}: {value!r} has no UTC offset; write e.g. 2026-12-14T23:59:00+00:00")
    return when.astimezone(UTC)


def submission_time(student_dir: Path) -> tuple[datetime | None, str]:
    """When nbgrader recorded the submission (UTC), or None and why not."""
    from pipelines.grade.gradebook import bare_nbgrader

    if not os.path.lexists(student_dir / TIMESTAMP_FILE):
        return None, f"the submission folder has no {TIMESTAMP_FILE}"
    try:
        text = read_submitted(student_dir, TIMESTAMP_FILE)[:200].decode("utf-8", "replace").strip()
    except Rejected as exc:
        return None, str(exc)
    bare_nbgrader()
    from nbgrader.utils import parse_utc

    try:
        return parse_utc(text).replace(tzinfo=UTC), ""
    except (ValueError, OverflowError):
        return None, f"{TIMESTAMP_FILE} does not hold a time nbgrader can read"


def assess(rules: LateRules, unit: str, student_id: str, entry: RosterEntry | None,
           submitted_at: datetime | None) -> Late | None:
    """How late the submission is and what that costs; None when the unit has no due date. A
    submission without a time is taken as on time (the batch says why in its messages)."""
    deadline = rules.deadline(unit, student_id, entry)
    if deadline is None:
        return None
    due_at, extension = deadline
    seconds = (submitted_at - due_at).total_seconds() if submitted_at else 0.0
    hours_late = seconds / 3600 if seconds > rules.policy.grace_minutes * 60 else 0.0
    return Late(submitted_at.isoformat() if submitted_at else None, due_at.isoformat(), extension,
                round(hours_late, 4), rules.policy.penalty_percent(hours_late), 0.0, 0.0)


def apply_late(result: StudentResult, late: Late | None) -> StudentResult:
    """``result`` with the penalty of ``late`` taken off its score (a new object: the cached one stays)."""
    if late is None:
        return result
    deducted = round(result.score * late.penalty_percent / 100, 6)
    late = dataclasses.replace(late, points_deducted=deducted, score_before=result.score)
    return dataclasses.replace(result, score=round(result.score - deducted, 6), late=late)


def settler(params: dict[str, Any], unit: str) -> Callable[[StudentResult, Path], StudentResult]:
    """``settle(result, student_dir)`` for one batch of ``unit``: the result with the late policy
    applied, as every output of the batch shows it. The roster (standing extensions) is read once,
    and only for a unit with a due date."""
    rules = LateRules.from_params(params)
    if unit not in rules.due:
        return lambda result, student_dir: result
    roster = load_roster(roster_path(params))

    def settle(result: StudentResult, student_dir: Path) -> StudentResult:
        submitted_at, why = submission_time(student_dir)
        settled = apply_late(result, assess(rules, unit, result.student_id, roster.find(result.student_id), submitted_at))
        if why:
            settled.messages = [*settled.messages, f"No submission time ({why}): the submission was taken as on time."]
        return settled

    return settle

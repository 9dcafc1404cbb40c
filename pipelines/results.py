"""The grade of one student as plain data: what results.json holds (the grading contract in docs/design.md).

Its own module so that the reports, the gradebook and the cache read results without importing the
grading engine (sandbox, probes, pytest) that produced them.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

NOT_RUN = "not_run"


@dataclass
class TestResult:
    """One grader test, as results.json reports it (docs/design.md §3)."""

    name: str
    points: float
    max_points: float
    status: str  # passed | failed | error | timeout | not_run (a GPU check graded without one: no points either way)
    message: str
    cell: str = ""
    description: str = ""
    # What the check measured against each threshold it used (``measured(key, value)`` in a grader):
    # ``deepgrade calibrate`` collects these over seeds of the reference solution.
    measured: dict[str, float] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Late:
    """How the late policy (``params.yaml: late``) treated one submission: results.json's ``late``."""

    submitted_at: str | None  # ISO 8601 UTC, from nbgrader's timestamp.txt; None when the submission has none
    due_at: str  # ISO 8601 UTC, the student's extension included
    extension_hours: float
    hours_late: float  # 0 when on time or within the grace period
    penalty_percent: float  # of the points the submission earned
    points_deducted: float
    score_before: float


@dataclass
class StudentResult:
    """One student's outcome; ``to_json`` is results.json (docs/design.md §3)."""

    student_id: str
    assignment: str
    score: float
    max_score: float
    status: str
    tests: list[TestResult] = field(default_factory=list)
    messages: list[str] = field(default_factory=list)
    manual_points_pending: float = 0.0
    # Visible self-check cells that failed in the notebook while every hidden test of the same cell
    # passed and no exported function the cell's code names failed a hidden test anywhere:
    # {"cell", "error"} each. A grader blind spot for the instructor's class report.
    blind_spots: list[dict[str, str]] = field(default_factory=list)
    # Visible self-check cells that raised in the student's notebook, with the error the student saw
    # (from the runner's typed records): the Gradescope export shows them as the visible tests.
    failed_self_checks: dict[str, str] = field(default_factory=dict)
    # Set after grading, never cached with the grade: the due date and the submission time decide it.
    late: Late | None = None
    # What the notebook runs took: ``notebook_seconds`` (wall clock) and ``peak_memory_mb`` (all the
    # run's processes together, where a cgroup counted them), measured by the grader.
    resources: dict[str, float] = field(default_factory=dict)
    # What produced this grade (``pipelines.grade.provenance``): hashes of the submission, source,
    # graders, reference, params and engine, the data version, seed, device, sandbox limits, packages
    # and the checkout's commit, for ``deepgrade replay``. Instructor-only: feedback never shows it.
    provenance: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["tests"] = [t.to_json() for t in self.tests]
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> StudentResult:
        data = dict(data)
        data["tests"] = [TestResult(**t) for t in data.get("tests", [])]
        data["late"] = Late(**data["late"]) if data.get("late") else None
        return cls(**data)

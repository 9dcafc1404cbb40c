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

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["tests"] = [t.to_json() for t in self.tests]
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> StudentResult:
        data = dict(data)
        data["tests"] = [TestResult(**t) for t in data.get("tests", [])]
        return cls(**data)

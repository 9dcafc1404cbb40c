"""One submission's working state while it is graded: its folder, its flags and where its layers are.

Shared by the steps (execution, probing, scoring); a plain record with no behaviour of its own
beyond collecting flags, so each step's module can be keyed and edited on its own.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from pipelines.execute import statuses
from pipelines.grade.unit import Unit


@dataclass
class Job:
    """The working folder of one submission (mounted writable at /job in the sandbox)."""

    unit: Unit
    student_id: str
    dir: Path
    data_view: Path
    seed: int
    digest: str  # of the notebooks as read for this grading (``intake.Submission.digest``)
    flags: list[tuple[str, str]] = field(default_factory=list)
    failed_grade_cells: dict[str, str] = field(default_factory=dict)
    internal: list[str] = field(default_factory=list)
    export_dir: Path | None = None
    execution: Path | None = None  # the cached execution layer (executed notebooks, exports)
    # The export cells, read from the restored notebooks before any student code ran: the notebook
    # kernel can rewrite files in the job folder, so the probe step never re-reads them from there.
    export_source: str = ""
    # What the notebook runs took, measured by the grader: wall seconds, and peak memory in MB where a
    # cgroup counted it (results.json's ``resources``, for the class report and Gradescope).
    resources: dict[str, float] = field(default_factory=dict)

    def flag(self, status: str, message: str) -> None:
        self.flags.append((status, message))

    @property
    def status(self) -> str:
        return statuses.worst(*(status for status, _ in self.flags))

    @property
    def notes(self) -> list[str]:
        return [message for _, message in self.flags]


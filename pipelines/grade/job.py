"""One submission's working state while it is graded: its folder, its flags and where its layers are.

Shared by the steps (execution, probing, scoring); a plain record with no behaviour of its own
beyond collecting flags, so each step's module can be keyed and edited on its own.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

from pipelines.execute import statuses
from pipelines.grade.intake import Rejected, read_submitted
from pipelines.grade.unit import Unit


@dataclass
class Job:
    """The working folder of one submission (mounted writable at /job in the sandbox)."""

    unit: Unit
    student_id: str
    dir: Path
    data_view: Path
    seed: int
    digest: str
    flags: list[tuple[str, str]] = field(default_factory=list)
    failed_grade_cells: dict[str, str] = field(default_factory=dict)
    internal: list[str] = field(default_factory=list)
    export_dir: Path | None = None
    execution: Path | None = None  # the cached execution layer (executed notebooks, exports)
    # The export cells, read from the restored notebooks before any student code ran: the notebook
    # kernel can rewrite files in the job folder, so the probe step never re-reads them from there.
    export_source: str = ""

    def flag(self, status: str, message: str) -> None:
        self.flags.append((status, message))

    @property
    def status(self) -> str:
        return statuses.worst(*(status for status, _ in self.flags))

    @property
    def notes(self) -> list[str]:
        return [message for _, message in self.flags]


def submission_digest(student_dir: Path, unit: Unit) -> str:
    """Hash of the submitted notebooks (what the cache key and the probe seeds derive from), read
    as grading reads them (``intake``): a link or a pipe is never followed, not even here."""
    h = hashlib.sha256()
    for nb in unit.notebooks:
        h.update(nb.encode())
        try:
            h.update(read_submitted(student_dir, nb))
        except Rejected as rejected:
            h.update(f"<{rejected.status}: {rejected}>".encode())
    return h.hexdigest()

"""One progress display for a whole command: a line per unit with its students done, per status, and ETA.

``deepgrade autograde`` shows one unit, ``deepgrade term`` every unit of the term under one display
with a line for the whole term above them; both go through this module so the two look alike.
Cached students count as done at once, so a unit's line covers every student folder found and the
ETA is of the work that is left.
"""

from __future__ import annotations

from collections import Counter

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from pipelines.results import StudentResult


class UnitLine:
    """One line of the display: ``done`` once per student, graded now or reused from the cache; a
    unit's line also counts on the term's line, when there is one."""

    def __init__(self, progress: Progress, task: TaskID, overall: UnitLine | None = None) -> None:
        self._progress = progress
        self._task = task
        self._overall = overall
        self._statuses: Counter[str] = Counter()

    def done(self, result: StudentResult, cached: bool = False) -> None:
        if not cached:
            self._progress.console.print(f"  {result.assignment} {result.student_id}: "
                                         f"{result.score:g}/{result.max_score:g} {result.status}")
        self._count("cached" if cached else result.status)

    def _count(self, status: str) -> None:
        self._statuses[status] += 1
        self._progress.update(self._task, advance=1,
                              statuses=" ".join(f"{k} {v}" for k, v in sorted(self._statuses.items())))
        if self._overall is not None:
            self._overall._count(status)

    def describe(self, text: str) -> None:
        self._progress.update(self._task, description=text)


class GradingProgress:
    """The display, shown while the ``with`` block lasts; ``unit`` adds a line. Transient where stderr
    is not a terminal (logs, DVC), where the per-student lines stay."""

    def __init__(self, console: Console) -> None:
        self._progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                  TextColumn("{task.fields[statuses]}"), TimeElapsedColumn(), TextColumn("ETA"),
                                  TimeRemainingColumn(), console=console, transient=not console.is_terminal)
        self._overall: UnitLine | None = None

    def __enter__(self) -> GradingProgress:
        self._progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._progress.stop()

    def term(self, students: int) -> None:
        """A line for the whole term above the units': ``students`` submissions over all its units."""
        self._overall = UnitLine(self._progress, self._progress.add_task("term", total=students, statuses=""))

    def unit(self, name: str, students: int) -> UnitLine:
        return UnitLine(self._progress, self._progress.add_task(name, total=students, statuses=""), self._overall)

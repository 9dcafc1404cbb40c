"""The executor seam of the batch (pipelines/grade/executors.py): whatever executor runs the jobs, the
batch writes one row per student, and a job lost with its workers costs that student an uncached
``error`` row, never the batch."""

from __future__ import annotations

import contextlib
import csv
from collections.abc import Iterator
from pathlib import Path

import pytest

from pipelines.grade import batch
from pipelines.grade.batch import autograde
from pipelines.grade.executors import Graded, Job, Outcome
from tests.grading import toy


class Lost:
    """The outcome of a job whose every worker died (Dask: ``KilledWorker``)."""

    def result(self) -> Graded:
        raise RuntimeError("the job lost every worker it ran on")


class Done:
    def __init__(self, graded: Graded) -> None:
        self.graded = graded

    def result(self) -> Graded:
        return self.graded


class LosesBob:
    """Runs each job in this process, except bob's, which it loses."""

    description = "a test executor"

    @contextlib.contextmanager
    def run(self, job: Job, tasks: dict[str, str]) -> Iterator[Iterator[tuple[str, Outcome]]]:
        yield ((sid, Lost() if sid == "bob" else Done(job(sid, folder))) for sid, folder in tasks.items())


@pytest.fixture
def losing(monkeypatch: pytest.MonkeyPatch) -> None:
    @contextlib.contextmanager
    def open_executor(*args: object) -> Iterator[LosesBob]:
        yield LosesBob()

    monkeypatch.setattr(batch, "open_executor", open_executor)


def test_a_lost_job_is_an_uncached_error_row(toy_root: Path, losing: None, monkeypatch: pytest.MonkeyPatch) -> None:
    for sid in ("ann", "bob", "cid"):
        toy.submission(toy_root, sid)
    out = toy_root / "graded"
    summary = autograde(toy.UNIT, toy_root / "submitted", out)
    assert (summary.graded, summary.cached, summary.failed) == (3, 0, 1)
    with open(out / "grades.csv") as fh:
        assert {r["student_id"]: (r["score"], r["status"]) for r in csv.DictReader(fh)} == {
            "ann": ("5", "ok"), "bob": ("0", "error"), "cid": ("5", "ok")}
    assert "lost every worker" in (out / "grader_errors.log").read_text()

    monkeypatch.undo()  # the local pool again: bob is graded, the others come from the cache
    again = autograde(toy.UNIT, toy_root / "submitted", out)
    assert (again.graded, again.cached, again.failed) == (1, 2, 0)

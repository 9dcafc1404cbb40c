"""Regrading after a grader edit: what runs again, and in which processes.

A grader edit that changes a probe's inputs makes every student's probes run again (a sandbox each):
that work goes to the ``--workers`` pool like a first grading. An edit that leaves every probe alone
leaves only scoring, which the batch's own process does, one student after the other.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from pipelines.grade.batch import autograde
from tests.grading import toy

STUDENTS = ("ann", "bob", "cid")

# A zero-point test that writes down which process scored the submission.
WHERE_GRADER = '''
import os

from pipelines.grade.api import points


@points(0, cell="check_quad")
def test_scoring_process():
    """Where this submission was scored (an engine test's probe of the batch)."""
    with open({pids!r}, "a") as fh:
        fh.write(f"{{os.getpid()}}\\n")
'''


@pytest.fixture(scope="module")
def project(toy_root: Path) -> Path:
    graders = toy_root / "assignments" / toy.UNIT / "graders"
    (graders / "test_where.py").write_text(WHERE_GRADER.format(pids=str(toy_root / "pids.txt")))
    for student in STUDENTS:
        toy.submission(toy_root, student)
    grade(toy_root)
    assert os.getpid() not in scoring_pids(toy_root)
    return toy_root


def grade(root: Path) -> None:
    """Grade the batch with two workers: after each edit, every student is graded again."""
    (root / "pids.txt").write_text("")
    summary = autograde(toy.UNIT, root / "submitted", root / "graded", workers=2)
    assert (summary.graded, summary.cached, summary.failed) == (len(STUDENTS), 0, 0)


def scoring_pids(root: Path) -> set[int]:
    return {int(line) for line in (root / "pids.txt").read_text().split()}


def probe_runs(root: Path) -> set[str]:
    return {p.name for p in (root / ".cache" / "deepgrade" / "layers" / toy.UNIT / "probes").iterdir()}


def edit_grader(root: Path, old: str, new: str) -> None:
    grader = root / "assignments" / toy.UNIT / "graders" / "test_quad.py"
    text = grader.read_text()
    assert old in text
    grader.write_text(text.replace(old, new))


def test_new_probe_inputs_run_in_the_worker_processes(project: Path) -> None:
    before = probe_runs(project)
    edit_grader(project, "rng.standard_normal(6), rng.random(6)", "rng.standard_normal(7), rng.random(7)")
    grade(project)
    assert len(probe_runs(project) - before) == len(STUDENTS)  # every student's probes ran again
    pids = scoring_pids(project)
    assert pids and os.getpid() not in pids, "the probes ran in the batch's own process, not in its workers"


def test_a_scoring_edit_scores_in_the_batch_process(project: Path) -> None:
    before = probe_runs(project)
    edit_grader(project, '"""quad: the value on random inputs."""', '"""quad: its value on random inputs."""')
    grade(project)
    assert probe_runs(project) == before
    assert scoring_pids(project) == {os.getpid()}
    assert "its value on random inputs" in (project / "graded" / "ann" / "results.json").read_text()

"""``deepgrade replay <unit> <student>``: answer an appeal by grading one submission again with the
versions its results.json records (``pipelines/grade/provenance.py``), and show what changed per test.

The recorded commit is checked out into a temporary git worktree (never the instructor's own
checkout) and the grading runs there, as a separate ``autograde`` process: the graders, reference,
params.yaml and engine are the commit's (its folder first on the path), the data is this machine's
prepared data, the cache a fresh one. Before anything is graded, the worktree is asked what it would
record for this submission; a version that differs from the record (a commit that is gone, an edit
that was never committed, other data, another device or sandbox) is named and nothing is graded, and
the replayed grade's own record is checked the same way: a replay never guesses. Package versions
cannot be restored; where they differ, replay says so beside the result.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipelines.errors import DeepgradeError
from pipelines.grade.intake import Rejected, read_submitted
from pipelines.grade.provenance import DECISIVE, differences
from pipelines.paths import data_dir, project_root
from pipelines.results import StudentResult, TestResult


@dataclass(frozen=True)
class Change:
    """One test whose grade differs between the recorded and the replayed grading."""

    name: str
    recorded: str
    replayed: str


def recorded_result(graded_dir: Path, student: str) -> StudentResult:
    """The student's results.json as the grading being appealed wrote it."""
    path = graded_dir / student / "results.json"
    if not path.is_file():
        raise DeepgradeError(f"no recorded grade of {student}: {path} does not exist (pass --graded)")
    result = StudentResult.from_json(json.loads(path.read_text(encoding="utf-8")))
    if not result.provenance:
        raise DeepgradeError(f"{path} records no provenance (graded before deepgrade recorded one): the versions "
                             "that produced it are unknown, so it cannot be replayed")
    if not result.provenance.get("commit"):
        raise DeepgradeError(f"{path} records no git commit (graded outside a git checkout): the graders, reference "
                             "and params it was graded with cannot be restored")
    return result


@contextlib.contextmanager
def worktree(commit: str) -> Iterator[Path]:
    """The recorded commit checked out in a temporary git worktree of this checkout, removed afterwards."""
    repo = project_root()
    with tempfile.TemporaryDirectory(prefix="deepgrade-replay-") as tmp:
        tree = Path(tmp) / "tree"
        done = subprocess.run(["git", "-C", str(repo), "worktree", "add", "--detach", "--quiet", str(tree), commit],
                              capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise DeepgradeError(f"the recorded commit {commit} is not available in {repo} "
                                 f"({done.stderr.strip() or 'git worktree add failed'}): fetch it, or the grade cannot be replayed")
        try:
            yield tree
        finally:
            subprocess.run(["git", "-C", str(repo), "worktree", "remove", "--force", str(tree)],
                           capture_output=True, check=False)


def tree_env(tree: Path, cache: Path) -> dict[str, str]:
    """The environment of a deepgrade process that grades as the checkout ``tree`` (its own code first)."""
    env = dict(os.environ)
    env.update({"DEEPGRADE_ROOT": str(tree), "DEEPGRADE_DATA_DIR": str(data_dir()), "DEEPGRADE_CACHE_DIR": str(cache),
                "PYTHONPATH": os.pathsep.join(filter(None, [str(tree), env.get("PYTHONPATH")]))})
    return env


def _run(args: list[str], env: dict[str, str], what: str) -> str:
    done = subprocess.run([sys.executable, *args], env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise DeepgradeError(f"{what} failed in the restored checkout:\n{done.stderr.strip()[-2000:]}")
    return done.stdout


def copy_submission(student_dir: Path, target: Path) -> None:
    """The student's notebooks (every ``.ipynb`` entry), copied as intake reads them: regular files only,
    no link followed. One that intake refuses is left out, and the replay's record then says so."""
    target.mkdir(parents=True)
    for entry in sorted(student_dir.glob("*.ipynb")) if student_dir.is_dir() else []:
        with contextlib.suppress(Rejected):
            (target / entry.name).write_bytes(read_submitted(student_dir, entry.name))


def unavailable(recorded: dict[str, Any], there: dict[str, Any], commit: str) -> None:
    """Refuse (naming each one) when a version that decides the grade is not what the grade recorded."""
    found = differences(recorded, there, ("submission", *DECISIVE))
    if found:
        raise DeepgradeError(f"the recorded versions are not all available at commit {commit[:12]} with this "
                             "machine's data and sandbox, so the grade is not replayed:\n  " + "\n  ".join(found))


def changes(recorded: StudentResult, replayed: StudentResult) -> list[Change]:
    """Per test (and for the total and the status), what the replay gave where it differs from the record."""

    def shown(t: TestResult | None) -> str:
        return "absent" if t is None else f"{t.points:g}/{t.max_points:g} {t.status}: {t.message}".rstrip(": ")

    old = {t.name: t for t in recorded.tests}
    new = {t.name: t for t in replayed.tests}
    found = [Change(name, shown(old.get(name)), shown(new.get(name))) for name in sorted(set(old) | set(new))
             if shown(old.get(name)) != shown(new.get(name))]
    for name, before, after in (("score", f"{recorded.score:g}/{recorded.max_score:g}", f"{replayed.score:g}/{replayed.max_score:g}"),
                                ("status", recorded.status, replayed.status)):
        if before != after:
            found.append(Change(name, before, after))
    return found


def replay(unit: str, student: str, graded_dir: Path, submitted_dir: Path) -> tuple[StudentResult, list[Change], list[str]]:
    """Grade ``student``'s submission again as recorded: the replayed result, its changes from the
    record and the package versions that differ (which a replay cannot restore)."""
    recorded = recorded_result(graded_dir, student)
    commit = str(recorded.provenance["commit"])
    student_dir = submitted_dir / student / unit
    with worktree(commit) as tree, tempfile.TemporaryDirectory(prefix="deepgrade-replay-run-") as tmp:
        env = tree_env(tree, Path(tmp) / "cache")
        there = json.loads(_run(["-m", "pipelines.grade.provenance", unit, str(student_dir)], env, "reading the versions"))
        unavailable(recorded.provenance, there, commit)
        copy_submission(student_dir, Path(tmp) / "submitted" / student / unit)
        _run(["-m", "pipelines.cli", "autograde", unit, str(Path(tmp) / "submitted"), "--out", str(Path(tmp) / "out")],
             env, "grading")
        replayed = StudentResult.from_json(json.loads((Path(tmp) / "out" / student / "results.json").read_text()))
    unavailable(recorded.provenance, replayed.provenance, commit)
    return replayed, changes(recorded, replayed), differences(recorded.provenance, replayed.provenance, ("packages",))


def print_replay(unit: str, student: str, graded_dir: Path, submitted_dir: Path) -> int:
    """``deepgrade replay``: 0 when the replay gives the recorded grade, 1 when a test differs."""
    replayed, found, packages = replay(unit, student, graded_dir, submitted_dir)
    commit = str(replayed.provenance.get("commit"))
    print(f"{unit} {student}: replayed at commit {commit[:12]} (graders, reference, params and engine of that "
          f"commit; data, device and sandbox as recorded): {replayed.score:g}/{replayed.max_score:g} {replayed.status}")
    for line in packages:
        print(f"  not restored (package versions differ): {line}")
    if not found:
        print("  every test as recorded")
        return 0
    for change in found:
        print(f"  {change.name}:\n    recorded: {change.recorded}\n    replayed: {change.replayed}")
    return 1

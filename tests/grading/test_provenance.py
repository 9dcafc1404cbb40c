"""Provenance and appeals: each results.json records what produced it, and ``deepgrade replay`` grades
one submission again with those versions (restored from the recorded commit into a temporary git
worktree), shows every test that differs, and names each recorded version it cannot restore.

The course here is the toy unit in a git repository of its own (with a copy of reference/, as a
course checkout has), graded through the real sandbox.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import yaml

from pipelines.cli import main
from pipelines.grade.batch import autograde
from pipelines.grade.intake import Submission
from pipelines.grade.provenance import versions
from pipelines.grade.unit import Unit
from pipelines.params import _load
from tests.grading import toy
from tests.grading.conftest import FAST_LIMITS, REPO

GRADER = Path("assignments") / toy.UNIT / "graders" / "test_quad.py"
# An edit of the graders that fails every correct value (committed after the grading being appealed).
HARSHER = ("0.5 * np.sum(w * x * x), tolerance", "0.6 * np.sum(w * x * x), tolerance")


def git(root: Path, *args: str) -> str:
    done = subprocess.run(["git", "-C", str(root), "-c", "user.name=t", "-c", "user.email=t@example.org", *args],
                          capture_output=True, text=True, check=True)
    return done.stdout.strip()


def commit_all(root: Path, message: str) -> str:
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", message)
    return git(root, "rev-parse", "HEAD")


def edit(root: Path, path: Path, old: str, new: str) -> None:
    text = (root / path).read_text()
    assert old in text
    (root / path).write_text(text.replace(old, new))


@pytest.fixture(scope="module")
def course(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    """The toy course committed to git and graded once (ann correct, bob with a wrong gradient)."""
    root = tmp_path_factory.mktemp("course")
    toy.make_project(root, yaml.safe_load((REPO / "params.yaml").read_text()), FAST_LIMITS)
    shutil.copytree(REPO / "reference", root / "reference", ignore=shutil.ignore_patterns("__pycache__"))
    (root / ".gitignore").write_text("/graded*/\n/.cache/\n/gradebook.db\n/submitted/\n")
    toy.submission(root, "ann")
    toy.submission(root, "bob", toy.WRONG_GRADIENT)
    git(root, "init", "-q")
    graded_at = commit_all(root, "the course as graded")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DEEPGRADE_ROOT", str(root))
        mp.delenv("DEEPGRADE_DATA_DIR", raising=False)
        mp.delenv("DEEPGRADE_CACHE_DIR", raising=False)
        _load.cache_clear()
        autograde(toy.UNIT, root / "submitted", root / "graded")
        # The graders change after the grading: a replay must grade with the recorded ones.
        edit(root, GRADER, *HARSHER)
        commit_all(root, "harsher graders")
        yield {"root": root, "commit": graded_at}
        _load.cache_clear()


def recorded(root: Path, student: str, graded: str = "graded") -> dict:
    return json.loads((root / graded / student / "results.json").read_text())


def replay(capsys: pytest.CaptureFixture[str], root: Path, student: str, graded: str = "graded") -> tuple[int, str, str]:
    code = main(["replay", toy.UNIT, student, "--graded", str(root / graded), "--submitted", str(root / "submitted")])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_each_result_records_what_produced_it(course: dict) -> None:
    root = Path(str(course["root"]))
    ann, bob = recorded(root, "ann")["provenance"], recorded(root, "bob")["provenance"]
    notebooks = [f"{toy.UNIT}.ipynb"]
    assert ann["submission"] == Submission.read(root / "submitted" / "ann" / toy.UNIT, notebooks).digest
    assert bob["submission"] == Submission.read(root / "submitted" / "bob" / toy.UNIT, notebooks).digest != ann["submission"]
    assert ann["commit"] == course["commit"]
    assert set(ann["versions"]) == {"source", "graders", "reference", "params", "engine"}
    assert ann["seed"] == 231 and ann["profile"] == "full" and ann["device"] == "cpu" and ann["data"] == {}
    assert ann["sandbox"]["notebook"]["cell_timeout"] == FAST_LIMITS["cell_timeout"]
    assert ann["sandbox"]["probes"]["wall_seconds"] == FAST_LIMITS["probes"]["wall_seconds"]
    assert ann["sandbox"]["probe_timeout"] == 4 and "cgroup" in ann["sandbox"]
    assert ann["packages"]["numpy"] == np.__version__ and ann["packages"]["python"]
    assert {k: v for k, v in ann.items() if k != "submission"} == {k: v for k, v in bob.items() if k != "submission"}


def test_each_version_hash_follows_its_own_files(course: dict, monkeypatch: pytest.MonkeyPatch) -> None:
    root = Path(str(course["root"]))
    monkeypatch.setenv("DEEPGRADE_ROOT", str(root))
    before = versions(Unit.load(toy.UNIT))
    edit(root, GRADER, *reversed(HARSHER))
    try:
        after = versions(Unit.load(toy.UNIT))
    finally:
        edit(root, GRADER, *HARSHER)
    assert {k for k in before if before[k] != after[k]} == {"graders"}


def test_feedback_does_not_show_the_provenance(course: dict) -> None:
    root = Path(str(course["root"]))
    html = (root / "graded" / "ann" / "feedback.html").read_text()
    assert recorded(root, "ann")["provenance"]["versions"]["graders"] not in html and "provenance" not in html


def test_replay_grades_with_the_recorded_commit(course: dict, capsys: pytest.CaptureFixture[str]) -> None:
    """The graders were made harsher after the grading: the replay restores the recorded ones, so ann's
    correct work keeps its points and the output says every test is as recorded."""
    root = Path(str(course["root"]))
    assert recorded(root, "ann")["score"] == 5
    code, out, err = replay(capsys, root, "ann")
    assert code == 0, out + err
    assert f"replayed at commit {str(course['commit'])[:12]}" in out and "every test as recorded" in out
    assert git(root, "worktree", "list").count("\n") == 0  # the temporary worktree is gone


def test_replay_shows_each_test_that_differs(course: dict, capsys: pytest.CaptureFixture[str]) -> None:
    """A recorded grade that the recorded versions do not give again: each differing test is shown, and
    a package version that differs is named beside the result."""
    root = Path(str(course["root"]))
    shutil.copytree(root / "graded", root / "graded-edited")
    bob = recorded(root, "bob", "graded-edited")
    test = next(t for t in bob["tests"] if t["name"].endswith("test_gradient"))
    assert test["status"] == "failed"
    test.update(points=test["max_points"], status="passed", message="")
    bob["score"] += test["max_points"]
    bob["provenance"]["packages"]["numpy"] = "1.0.0"  # a version a replay cannot restore: said, not refused
    (root / "graded-edited" / "bob" / "results.json").write_text(json.dumps(bob))
    code, out, _ = replay(capsys, root, "bob", "graded-edited")
    assert code == 1
    assert f"not restored (package versions differ): packages.numpy: recorded 1.0.0, now {np.__version__}" in out
    assert f"{test['name']}:\n    recorded: 1/1 passed\n    replayed: 0/1 failed" in out
    assert "score:" in out and "every test as recorded" not in out


def _rewrite(root: Path, student: str, change) -> str:
    folder = f"graded-{student}-rewritten"
    shutil.rmtree(root / folder, ignore_errors=True)
    shutil.copytree(root / "graded", root / folder)
    data = recorded(root, student, folder)
    change(data)
    (root / folder / student / "results.json").write_text(json.dumps(data))
    return folder


@pytest.mark.parametrize(("change", "said"), [
    (lambda d: d["provenance"].update(commit="0" * 40), "the recorded commit 0000000000000000000000000000000000000000 is not available"),
    (lambda d: d["provenance"]["versions"].update(reference="1" * 64), "versions.reference: recorded 111111111111, now "),
    (lambda d: d["provenance"]["data"].update({"mnist.provenance.json": "2" * 64}),
     "data.mnist.provenance.json: recorded 222222222222, now None"),
    (lambda d: d["provenance"].update(device="cuda"), "device: recorded cuda, now cpu"),
    (lambda d: d["provenance"].update(commit=None), "records no git commit"),
    (lambda d: d.pop("provenance"), "records no provenance"),
])
def test_replay_names_each_recorded_version_it_cannot_restore(course: dict, capsys: pytest.CaptureFixture[str],
                                                               change, said: str) -> None:
    root = Path(str(course["root"]))
    code, out, err = replay(capsys, root, "ann", _rewrite(root, "ann", change))
    assert code == 2 and said in err and "replayed at commit" not in out


def test_a_grade_of_uncommitted_graders_is_not_replayed(course: dict, capsys: pytest.CaptureFixture[str],
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """Graded with a grader edit that was never committed: the commit's graders are not those, and replay says so."""
    root = Path(str(course["root"]))
    monkeypatch.setenv("DEEPGRADE_ROOT", str(root))
    edit(root, GRADER, "tolerance(\"gradient\")", "10 * tolerance(\"gradient\")")
    try:
        autograde(toy.UNIT, root / "submitted", root / "graded-dirty")
    finally:
        edit(root, GRADER, "10 * tolerance(\"gradient\")", "tolerance(\"gradient\")")
    code, _, err = replay(capsys, root, "ann", "graded-dirty")
    assert code == 2 and "versions.graders: recorded" in err


def test_a_changed_submission_is_not_replayed(course: dict, capsys: pytest.CaptureFixture[str]) -> None:
    root = Path(str(course["root"]))
    notebook = root / "submitted" / "ann" / toy.UNIT / f"{toy.UNIT}.ipynb"
    kept = notebook.read_bytes()
    notebook.write_bytes(kept.replace(b"Implement", b"Implemented"))
    try:
        code, _, err = replay(capsys, root, "ann")
    finally:
        notebook.write_bytes(kept)
    assert code == 2 and "submission: recorded" in err

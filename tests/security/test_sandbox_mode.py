"""No silent downgrade: without a working sandbox autograde refuses, unless the instructor passes
``--unsafe-no-sandbox``; such a batch says so in grades.csv, every results.json and feedback, and the
class report, and keeps its own cache."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import pipelines.grade.batch as batch
from pipelines.cli import main
from pipelines.errors import DeepgradeError
from pipelines.execute.sandbox import UNSAFE_NOTE
from tests.grading import toy
from tests.grading.conftest import toy_root  # noqa: F401 - the fixture, shared

GOOD = "import numpy as np\ndef quad(x, w):\n    return 0.5 * float(np.sum(w * x * x)), w * x\n"
# Reads a file outside the job folder: possible only without the sandbox.
PEEK = GOOD.replace("import numpy as np", "import numpy as np, os\nPEEKED = os.path.exists('__SOURCE__')")


def test_refuses_without_bubblewrap(toy_root: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path,  # noqa: F811
                                    capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # no bwrap anywhere
    assert main(["autograde", toy.UNIT, str(toy_root / "submitted"), "--out", str(tmp_path / "out")]) == 2
    assert "bubblewrap" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_refuses_when_the_self_test_fails(toy_root: Path, monkeypatch: pytest.MonkeyPatch,  # noqa: F811
                                          tmp_path: Path) -> None:
    monkeypatch.setattr(batch, "_sandbox_works", lambda: (False, "network reachable"))
    with pytest.raises(DeepgradeError, match="--unsafe-no-sandbox"):
        batch.autograde(toy.UNIT, toy_root / "submitted", tmp_path / "out")


def test_an_unsafe_batch_says_so_everywhere(toy_root: Path, tmp_path: Path) -> None:  # noqa: F811
    source = toy_root / "assignments" / toy.UNIT / f"{toy.UNIT}.ipynb"
    toy.submission(toy_root, "unsafe_peek", body=PEEK.replace("__SOURCE__", str(source)) +
                   "assert PEEKED, 'no sandbox: the source notebook is visible'\n")
    out = tmp_path / "out"
    summary = batch.autograde(toy.UNIT, toy_root / "submitted", out, unsafe_no_sandbox=True)
    assert summary.failed == 0
    r = json.loads((out / "unsafe_peek" / "results.json").read_text())
    assert (r["status"], r["score"]) == ("ok", 5)  # the code really ran outside any sandbox
    assert r["messages"][0].startswith("UNSAFE")
    assert (out / "grades.csv").read_text().startswith("# UNSAFE")
    assert "UNSAFE" in (out / "unsafe_peek" / "feedback.html").read_text()
    assert "UNSAFE" in (out / "class_report.html").read_text()
    assert "unsafe_no_sandbox" in json.loads((out / "summary.json").read_text())
    assert gradebook_comments(toy_root, "unsafe_peek") == {UNSAFE_NOTE}  # what the formgrader shows by each answer
    # The next sandboxed batch reuses nothing of it: the source is not visible there.
    safe = tmp_path / "safe"
    batch.autograde(toy.UNIT, toy_root / "submitted", safe)
    r = json.loads((safe / "unsafe_peek" / "results.json").read_text())
    assert r["status"] == "error" and not any("UNSAFE" in m for m in r["messages"])
    assert not (safe / "grades.csv").read_text().startswith("#")
    assert gradebook_comments(toy_root, "unsafe_peek") == {None}


def gradebook_comments(root: Path, student: str) -> set[str | None]:
    """The comments of the student's submitted notebook in nbgrader's gradebook."""
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{root / 'gradebook.db'}") as gb:
        return {c.comment for c in gb.find_submission_notebook(toy.UNIT, toy.UNIT, student).comments}

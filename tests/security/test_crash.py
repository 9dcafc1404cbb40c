"""Crash safety: ``kill -9`` of a real ``deepgrade autograde`` mid-batch, then the same command again.

While it runs and after the kill, every grades.csv row agrees with that student's results.json and
the gradebook; the second run loses nothing and grades only what the first did not finish.
"""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from pipelines.grade.batch import autograde
from tests.grading import toy

REPO = Path(__file__).resolve().parents[2]
STUDENTS = [f"s{i}" for i in range(6)]
SLOW = "import numpy as np, time\ntime.sleep(1.5)\ndef quad(x, w):\n    return 0.5 * float(np.sum(w * x * x)), w * x\n"


def consistent(root: Path, out: Path) -> dict[str, str]:
    """grades.csv rows, each checked against results.json and the gradebook; ``student -> score``."""
    from nbgrader.api import Gradebook

    path = out / "grades.csv"
    if not path.exists():
        return {}
    with open(path) as fh:
        rows = {r["student_id"]: r for r in csv.DictReader(fh)}
    with Gradebook(f"sqlite:///{root / 'gradebook.db'}") as gb:
        for sid, row in rows.items():
            r = json.loads((out / sid / "results.json").read_text())
            assert (f"{r['score']:g}", r["status"]) == (row["score"], row["status"]), sid
            assert gb.find_submission(toy.UNIT, sid).score == pytest.approx(r["score"]), sid
    return {sid: row["score"] for sid, row in rows.items()}


def test_kill_9_mid_batch_loses_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path / "project"
    toy.make_project(root, yaml.safe_load((REPO / "params.yaml").read_text()),
                     {"cell_timeout": 20, "wall_seconds": 60, "probes": {"wall_seconds": 40}})
    for sid in STUDENTS:
        toy.submission(root, sid, SLOW)
    env = {**os.environ, "DEEPGRADE_ROOT": str(root), "PYTHONPATH": str(REPO)}
    env.pop("DEEPGRADE_CACHE_DIR", None)
    env.pop("DEEPGRADE_DATA_DIR", None)
    out = root / "graded"
    proc = subprocess.Popen([sys.executable, "-m", "pipelines.cli", "autograde", toy.UNIT, str(root / "submitted"),
                             "--out", str(out), "--workers", "1"], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 240
    seen: dict[str, str] = {}
    while len(seen) < 2:
        assert proc.poll() is None, "the batch ended before it could be killed"
        assert time.monotonic() < deadline, "no student finished in time"
        time.sleep(0.2)
        seen = consistent(root, out)  # consistent at every look while it runs
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    time.sleep(1)  # the orphaned pool worker notices its parent is gone
    before = consistent(root, out)
    assert 2 <= len(before) < len(STUDENTS)
    assert all(score == "5" for score in before.values())

    monkeypatch.setenv("DEEPGRADE_ROOT", str(root))
    monkeypatch.delenv("DEEPGRADE_CACHE_DIR", raising=False)
    monkeypatch.delenv("DEEPGRADE_DATA_DIR", raising=False)
    summary = autograde(toy.UNIT, root / "submitted", out, workers=1)
    assert summary.cached >= len(before)  # what was finished is not graded again
    assert summary.graded == len(STUDENTS) - summary.cached and summary.failed == 0
    after = consistent(root, out)
    assert after == {sid: "5" for sid in STUDENTS}

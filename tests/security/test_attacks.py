"""Every case of ``cases.py`` graded in ONE autograde batch; each test reads one student's results.

Per case: the status, the score (never above the honest work it imitates, never above the blank
notebook for pure attacks), the student's message, and that the batch went on. Across cases: nothing
hidden reached any output, the host's servers heard nothing, no file outside the job folders changed.
"""

from __future__ import annotations

import csv
import hashlib
import json
import socket
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import yaml

from pipelines.execute.budget import support
from pipelines.grade.batch import autograde
from tests.grading import toy
from tests.security.cases import CASES, NB, SOLUTION_MARK, World

REPO = Path(__file__).resolve().parents[2]
# Short limits so loops and bombs end fast; a whole-run memory bound small enough for a bomb to hit.
LIMITS = {"cell_timeout": 6, "wall_seconds": 60, "probes": {"wall_seconds": 40}, "memory_mb": 3072,
          "total_memory_mb": 1024, "max_processes": 128, "disk_mb": 256}
BY_NAME = {c.name: c for c in CASES}


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else "<absent>"


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    root = tmp_path_factory.mktemp("security")
    toy.make_project(root, yaml.safe_load((REPO / "params.yaml").read_text()), LIMITS)
    (root / "outside").mkdir()
    np.save(root / "outside" / "answer.npy", np.float64(2.5))  # the right answer, outside any submission
    tcp = socket.socket()
    tcp.bind(("127.0.0.1", 0))
    tcp.listen(8)
    tcp.setblocking(False)
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp.bind(("127.0.0.1", 0))
    udp.setblocking(False)
    from pipelines.release import release

    with toy.engine_at(root):
        released = release(toy.UNIT) / NB
        source = root / "assignments" / toy.UNIT / NB
        w = World(root, released, source, tcp.getsockname()[1], udp.getsockname()[1], REPO)
        w.sockets = (tcp, udp)  # type: ignore[attr-defined]
        yield w
    tcp.close()
    udp.close()


@pytest.fixture(scope="module")
def graded(world: World) -> Path:
    for case in CASES:
        case.make(world, world.folder(case.name))
    watched = [world.repo / "pipelines" / "kit" / "export.py", world.root / "params.yaml", world.source,
               world.root / "assignments" / toy.UNIT / "graders" / "test_quad.py",
               world.root / "submitted" / "honest" / toy.UNIT / NB, world.root / "outside" / "answer.npy"]
    before = {p: _digest(p) for p in watched}
    out = world.root / "graded"
    autograde(toy.UNIT, world.root / "submitted", out, workers=2)
    world.changed = [str(p) for p in watched if _digest(p) != before[p]]  # type: ignore[attr-defined]
    return out


def results(out: Path, student: str) -> dict:
    return json.loads((out / student / "results.json").read_text())


def bound(out: Path, case_bound: str) -> float:
    if case_bound.startswith("exact:"):
        return float(case_bound.split(":")[1])
    reference = {"honest": "honest", "honest_wrong": "honest_wrong", "blank": "blank"}[case_bound]
    return float(results(out, reference)["score"])


@pytest.mark.parametrize("name", [c.name for c in CASES])
def test_case(graded: Path, name: str) -> None:
    case = BY_NAME[name]
    enforced = support()
    missing = [b for b in case.needs if not enforced[b][0]]
    if missing:
        pytest.skip(f"this machine does not enforce: {', '.join(missing)} (deepgrade doctor)")
    r = results(graded, name)
    said = " ".join(r["messages"] + [t["message"] for t in r["tests"]])
    assert r["max_score"] == 5, r
    assert r["status"] in case.status.split("|"), (r["status"], said)
    limit = bound(graded, case.bound)
    assert r["score"] <= limit, (r["score"], limit, said)
    if case.bound.startswith("exact:"):
        assert r["score"] == limit
    for words in case.says:
        assert words in said, said


def test_the_batch_went_on(graded: Path) -> None:
    """A row and results for every case, the honest work graded in full whatever the others did."""
    with open(graded / "grades.csv") as fh:
        rows = {r["student_id"]: r for r in csv.DictReader(fh)}
    assert sorted(rows) == sorted(c.name for c in CASES)
    assert rows["honest"]["score"] == "5" and rows["honest"]["status"] == "ok"
    assert all((graded / c.name / "results.json").is_file() for c in CASES)


def test_nothing_hidden_reaches_any_output(graded: Path) -> None:
    """No solution line (the source notebook), no grader code, no file of the machine in any output."""
    for path in graded.rglob("*"):
        if path.is_file() and not path.is_symlink():
            text = path.read_bytes().decode("utf-8", errors="replace")
            assert SOLUTION_MARK not in text, path
            assert "def test_value" not in text, path
            assert "root:x:0:0" not in text, path
    for path in graded.rglob("*"):
        assert not path.is_symlink(), path


def test_a_gigabyte_of_output_stays_out_of_the_outputs(graded: Path) -> None:
    sizes = [p.stat().st_size for p in (graded / "print_1gb").rglob("*") if p.is_file()]
    assert sum(sizes) < 40 << 20, sizes


def test_the_host_heard_nothing(graded: Path, world: World) -> None:
    """TCP and UDP on the host's 127.0.0.1 are out of reach (the sandbox has its own loopback)."""
    tcp, udp = world.sockets  # type: ignore[attr-defined]
    with pytest.raises(BlockingIOError):
        tcp.accept()
    with pytest.raises(BlockingIOError):
        udp.recvfrom(64)


def test_no_file_outside_the_job_folders_changed(graded: Path, world: World) -> None:
    assert world.changed == []  # type: ignore[attr-defined]
    assert not (world.root / ".cache" / "deepgrade" / "pwned").exists()


def test_job_folders_are_cleaned_up(graded: Path, world: World) -> None:
    jobs = world.root / ".cache" / "deepgrade" / "jobs" / toy.UNIT
    assert sorted(p.name for p in jobs.iterdir()) == [".locks"]

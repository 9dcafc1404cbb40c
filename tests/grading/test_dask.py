"""Grading on a real Dask cluster (``--executor dask``): the same grades as the local pool, a worker
killed mid-batch, a new scheduler between two runs, and workers that refuse to grade without a sandbox.

Each cluster is a ``distributed.LocalCluster`` of worker processes (one thread each, as grading
workers run); course files, submissions and the cache are on this machine's filesystem, which every
worker shares, as a cluster's shared filesystem (pipelines/grade/dask_cluster.py).
"""

from __future__ import annotations

import csv
import json
import os
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest
from distributed import Client, LocalCluster

from pipelines.errors import DeepgradeError
from pipelines.grade.batch import BatchSummary, autograde
from pipelines.grade.dask_cluster import SandboxCheck
from pipelines.grade.fingerprint import engine_digest
from tests.grading import toy

WRONG_GRADIENT = "import numpy as np\ndef quad(x, w):\n    return 0.5 * float(np.sum(w * x * x)), 2 * w * x\n"
RAISES = "import numpy as np\ndef quad(x, w):\n    raise ValueError('not done')\n"
SLOW = "import numpy as np, time\ntime.sleep(2)\ndef quad(x, w):\n    return 0.5 * float(np.sum(w * x * x)), w * x\n"


def local_cluster(workers: int = 2, **env: str) -> LocalCluster:
    return LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None,
                        memory_limit=0, env=env or None)


@pytest.fixture(scope="module")
def cluster(toy_root: Path) -> Iterator[LocalCluster]:
    with local_cluster() as running:
        yield running


def grade(root: Path, submitted: str, out: str, cache: str, **how: object) -> tuple[BatchSummary, dict[str, dict]]:
    """Grade ``root/submitted`` into ``root/out`` with the cache at ``root/cache``: the batch's summary
    and every student's results.json, each checked against its grades.csv row."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DEEPGRADE_CACHE_DIR", str(root / cache))
        summary = autograde(toy.UNIT, root / submitted, root / out, **how)  # type: ignore[arg-type]
    with open(root / out / "grades.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == len({r["student_id"] for r in rows}), "a doubled row"
    results = {r["student_id"]: json.loads((root / out / r["student_id"] / "results.json").read_text()) for r in rows}
    for row in rows:
        r = results[row["student_id"]]
        assert (f"{r['score']:g}", r["status"]) == (row["score"], row["status"])
    return summary, results


def test_dask_grades_equal_the_local_pool(toy_root: Path, cluster: LocalCluster) -> None:
    toy.submission(toy_root, "ann")
    toy.submission(toy_root, "bob", WRONG_GRADIENT)
    toy.submission(toy_root, "cid", RAISES)
    toy.submission(toy_root, "dan", raw=b"{not a notebook")
    local, by_pool = grade(toy_root, "submitted", "graded-local", "cache-local", workers=2)
    dask, by_dask = grade(toy_root, "submitted", "graded-dask", "cache-dask", executor="dask",
                          scheduler=cluster.scheduler_address)
    assert (dask.graded, dask.cached, dask.failed) == (local.graded, local.cached, local.failed) == (4, 0, 0)
    # Everything but what the runs measured of themselves (wall clock, peak memory) is the same.
    assert {s: {k: v for k, v in r.items() if k != "resources"} for s, r in by_dask.items()} == {
        s: {k: v for k, v in r.items() if k != "resources"} for s, r in by_pool.items()}
    assert all(set(r["resources"]) == set(by_pool[s]["resources"]) for s, r in by_dask.items())
    assert {s: (r["score"], r["status"]) for s, r in by_dask.items()} == {
        "ann": (5, "ok"), "bob": (3, "ok"), "cid": (0, "error"), "dan": (0, "invalid_notebook")}
    assert (toy_root / "graded-dask" / "ann" / "feedback.html").is_file()
    # The workers stored the grades in the batch's cache (the settings travel with each job), where a rerun finds them.
    assert len(layer_folders(toy_root, "scores")) == 4


def test_a_worker_killed_mid_batch_costs_no_row(toy_root: Path, cluster: LocalCluster) -> None:
    students = [f"s{i}" for i in range(4)]
    for sid in students:
        toy.submission(toy_root, sid, SLOW, submitted="slow")
    killed: list[int] = []

    def kill_a_busy_worker() -> None:
        with Client(cluster.scheduler_address, set_as_default=False) as client:
            deadline = time.monotonic() + 120
            while not killed:
                assert time.monotonic() < deadline, "no job started on the cluster"
                busy = [w for w, keys in client.processing().items() if keys]
                if busy:
                    time.sleep(1.5)  # well into the job: its notebook is running
                    pid = client.run(os.getpid, workers=busy[:1])[busy[0]]
                    os.kill(pid, signal.SIGKILL)
                    killed.append(pid)
                time.sleep(0.1)

    killer = threading.Thread(target=kill_a_busy_worker)
    killer.start()
    summary, results = grade(toy_root, "slow", "graded-slow", "cache-dask", executor="dask",
                             scheduler=cluster.scheduler_address)
    killer.join()
    assert killed
    assert (summary.graded, summary.failed) == (len(students), 0)
    assert {s: (r["score"], r["status"]) for s, r in results.items()} == {s: (5, "ok") for s in students}


def layer_folders(root: Path, layer: str) -> set[Path]:
    return set((root / "cache-dask" / "layers" / toy.UNIT / layer).iterdir())


def test_a_grader_edit_sends_only_the_probes(toy_root: Path, cluster: LocalCluster) -> None:
    """The workers graded with the graders as they were: each job takes this batch's graders, and
    reuses every notebook run (the probes' inputs changed, nothing else)."""
    _, before = grade(toy_root, "submitted", "graded-dask", "cache-dask", executor="dask",
                      scheduler=cluster.scheduler_address)
    executions, probes = layer_folders(toy_root, "execution"), layer_folders(toy_root, "probes")
    grader = toy_root / "assignments" / toy.UNIT / "graders" / "test_quad.py"
    grader.write_text(grader.read_text().replace("rng.standard_normal(6), rng.random(6)",
                                                 "rng.standard_normal(7), rng.random(7)"))
    edited, after = grade(toy_root, "submitted", "graded-dask", "cache-dask", executor="dask",
                          scheduler=cluster.scheduler_address)
    assert (edited.graded, edited.cached, edited.failed) == (4, 0, 0)
    assert layer_folders(toy_root, "execution") == executions
    assert len(layer_folders(toy_root, "probes") - probes) == 3  # ann, bob, cid (dan's notebook is unreadable)
    assert {s: r["score"] for s, r in after.items()} == {s: r["score"] for s, r in before.items()}


def test_a_new_scheduler_regrades_nothing_finished(toy_root: Path, cluster: LocalCluster) -> None:
    cluster.close()
    with local_cluster() as fresh:
        summary, _ = grade(toy_root, "submitted", "graded-dask", "cache-dask", executor="dask",
                           scheduler=fresh.scheduler_address)
    assert (summary.graded, summary.cached) == (0, 4)


def test_a_worker_refuses_to_grade_without_bubblewrap(toy_root: Path, tmp_path: Path) -> None:
    with local_cluster(workers=1, PATH=str(tmp_path)) as without:
        with pytest.raises(DeepgradeError, match="bubblewrap"):
            grade(toy_root, "submitted", "graded-refused", "cache-refused", executor="dask",
                  scheduler=without.scheduler_address)
    assert not (toy_root / "graded-refused").exists()


@pytest.mark.parametrize(("threads", "engine", "refusal"), [
    (4, "", "runs 4 threads"),
    (1, "0", "another version of deepgrade"),
])
def test_a_worker_refuses_several_threads_or_another_engine(threads: int, engine: str, refusal: str) -> None:
    worker = SimpleNamespace(address="tcp://10.0.0.1:4242", state=SimpleNamespace(nthreads=threads))
    with pytest.raises(DeepgradeError, match=refusal):
        SandboxCheck(engine_digest() + engine).setup(worker)  # type: ignore[arg-type]

"""Projects the wall time of a whole term (500 students x 10 units by default) on a Dask cluster of C cores.

Measured here, on this machine, for each unit named (copies of its source solution, as
``grade_throughput.py`` makes them):

- **first grading**: the wall seconds of one submission's job (``batch.grade_job``, the job a worker
  runs, called here one job at a time: its notebook and probe sandboxes and scoring; the unit's
  training included, at the profile the prepared data selects), taken as the core-seconds a task
  holds its worker's core (the sandboxes' CPU time is not visible to this process);
- **unchanged re-run** and **after a one-line grader edit**: seconds per submission of the batch
  process, which looks every grade up (and, after an edit that leaves probe inputs unchanged, scores)
  in its own process, one student after the other: the cluster does not help there (the difference
  between a batch of N and a batch of one, over N - 1; what a batch costs once is counted per unit);
- **the scheduler's overhead per task**: no-op tasks through a ``LocalCluster`` of one worker;
- **data shipped per task**: the pickled job (a partial of ``grade_job`` with the batch's settings, a
  student id and a folder) and its result (results.json's data), since files travel by the shared
  filesystem.

Model, per unit of N students on C cores: first grading = the batch's fixed cost + max(N x job / C,
N x (overhead + writer)) + one job (the workers grade while the one writer publishes; the writer's
work per student taken as an unchanged re-run's); unchanged = fixed + N x re-run; after one grader
edit in one unit = that unit's fixed + N x rescoring, plus the other units' unchanged re-runs. Units
not measured cost the mean of those measured. Assumes a job holds one core (its two sandboxes share
it), a shared filesystem fast enough not to matter, and no queueing in the batch system.

    python benchmarks/term_projection.py                       # the toy unit (seconds)
    python benchmarks/term_projection.py --units a01_linear a03_fc_nets --students 4 --cores 64 256 1024
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import pickle
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH.parent))
sys.path.insert(0, str(BENCH))

from grade_throughput import toy_project, unit_project  # noqa: E402

from pipelines.grade.unit import Unit  # noqa: E402


@dataclass(frozen=True)
class UnitCost:
    """Seconds per submission and bytes per task. The batch's figures are the difference between a
    batch of N and a batch of one, over N - 1: what a batch costs once (reports, gradebook) is ``fixed``."""

    unit: str
    profile: str
    job: float  # wall seconds of one job, first grading, one job at a time: core-seconds per task
    again: float  # batch seconds per submission, nothing changed
    edited: float  # batch seconds per submission after a one-line grader edit
    fixed: float  # seconds a batch of this unit costs once (imports, gradebook, class report)
    shipped: int  # bytes per task: the job out and its result back


@contextlib.contextmanager
def cache_at(folder: Path) -> Iterator[None]:
    os.environ["DEEPGRADE_CACHE_DIR"] = str(folder)
    try:
        yield
    finally:
        del os.environ["DEEPGRADE_CACHE_DIR"]


def measure_unit(name: str, students: int, repeat: int, tmp: Path) -> UnitCost:
    """A unit's costs, in this process: the job a worker runs, then the batch's own work per student."""
    from pipelines.grade.batch import autograde, batch_context, grade_job
    from pipelines.paths import cache_root

    unit = Unit.load(name)
    for batch, size in (("one", 1), ("many", students)):
        for i in range(size):
            folder = tmp / name / batch / f"student{i:02d}" / name
            folder.mkdir(parents=True)
            for nb in unit.notebooks:
                shutil.copy2(unit.root / nb, folder / nb)

    def jobs(batch: str) -> float:
        """Wall seconds of grading every student of ``batch`` one after the other, as one worker does."""
        with cache_at(tmp / name / f"cache-{batch}"):
            context = batch_context(name, unit.student_data_view(cache_root()))
            start = time.perf_counter()
            for folder in sorted((tmp / name / batch).iterdir()):
                grade_job(context, folder.name, str(folder / name))
            return time.perf_counter() - start

    def batches() -> tuple[float, float]:
        """Seconds per student of the batch process, and the seconds a batch costs once."""
        seconds = {}
        for batch in ("one", "many"):
            with cache_at(tmp / name / f"cache-{batch}"):
                start = time.perf_counter()
                autograde(name, tmp / name / batch, tmp / name / f"out-{batch}")
                seconds[batch] = time.perf_counter() - start
        per = (seconds["many"] - seconds["one"]) / (students - 1)
        return per, seconds["one"] - per

    jobs("one")  # the first job imports the grading modules, as a worker does once
    latency = jobs("many") / students
    batches()  # the batch's first run imports nbgrader and writes the gradebook's students
    unchanged = [batches() for _ in range(repeat)]
    grader = sorted(unit.graders_dir.glob("test_*.py"))[0]
    original = grader.read_text()
    edited = []
    try:
        for i in range(repeat):
            grader.write_text(original + f"\n# a one-line grader edit ({i})\n")
            edited.append(batches()[0])
    finally:
        grader.write_text(original)
    result = json.loads((tmp / name / "out-many" / "student00" / "results.json").read_text())
    job = (partial(grade_job, batch_context(name, tmp / "view")), "student00", str(tmp / name / "many" / "student00" / name))
    return UnitCost(name, unit.profile, latency, statistics.median(u[0] for u in unchanged), statistics.median(edited),
                    statistics.median(u[1] for u in unchanged), len(pickle.dumps(job)) + len(pickle.dumps(result)))


def scheduler_overhead(tasks: int) -> float:
    """Seconds per task of the Dask scheduler and its comms: no-op tasks on one local worker."""
    from distributed import Client, LocalCluster

    with LocalCluster(n_workers=1, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, \
            Client(cluster) as client:
        client.gather(client.map(abs, range(10)))  # warm
        start = time.perf_counter()
        client.gather(client.map(abs, range(-tasks, 0), pure=False))
        return (time.perf_counter() - start) / tasks


def project(costs: list[UnitCost], units: int, students: int, cores: int, overhead: float) -> dict[str, float]:
    """Minutes of a term of ``units`` units of ``students`` students on ``cores`` cores."""
    per_unit = [costs[i] if i < len(costs) else _mean(costs) for i in range(units)]
    first = sum(c.fixed + max(students * c.job / cores, students * (overhead + c.again)) + c.job for c in per_unit)
    unchanged = sum(c.fixed + students * c.again for c in per_unit)
    edited = per_unit[0].fixed + students * per_unit[0].edited + sum(c.fixed + students * c.again for c in per_unit[1:])
    return {"first": first / 60, "edited": edited / 60, "unchanged": unchanged / 60}


def _mean(costs: list[UnitCost]) -> UnitCost:
    def m(attr: str) -> float:
        return statistics.mean(getattr(c, attr) for c in costs)

    return UnitCost("mean", "-", m("job"), m("again"), m("edited"), m("fixed"), int(m("shipped")))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--units", nargs="+", default=["t00_toy"], help="units to measure (t00_toy: the engine's toy unit)")
    ap.add_argument("--students", type=int, default=8, help="copies of each unit's solution in the larger of the two "
                                                            "batches measured (the other has one)")
    ap.add_argument("--repeat", type=int, default=3, help="repetitions of the batch's re-runs (medians)")
    ap.add_argument("--term-students", type=int, default=500)
    ap.add_argument("--term-units", type=int, default=10)
    ap.add_argument("--cores", type=int, nargs="+", default=[16, 64, 256, 1024])
    ap.add_argument("--tasks", type=int, default=500, help="no-op tasks to measure the scheduler's overhead")
    args = ap.parse_args()

    with tempfile.TemporaryDirectory(prefix="deepgrade-term-") as tmp_name:
        tmp = Path(tmp_name)
        project_root = toy_project(tmp) if args.units == ["t00_toy"] else unit_project(tmp)
        os.environ["DEEPGRADE_ROOT"] = str(project_root)
        costs = [measure_unit(name, args.students, args.repeat, tmp) for name in args.units]
    overhead = scheduler_overhead(args.tasks)

    print(f"measured on this machine ({os.cpu_count()} cores), {args.students} submissions per unit:")
    print(f"{'unit':16s} {'profile':8s} {'job s':>8s} {'re-run s/sub':>12s} {'edited s/sub':>12s} "
          f"{'batch fixed s':>13s} {'bytes/task':>11s}")
    for c in costs:
        print(f"{c.unit:16s} {c.profile:8s} {c.job:8.2f} {c.again:12.3f} {c.edited:12.3f} {c.fixed:13.2f} {c.shipped:11d}")
    print(f"Dask scheduler overhead: {1000 * overhead:.2f} ms per task ({args.tasks} no-op tasks, LocalCluster)")
    print(f"\nprojected wall time of {args.term_students} students x {args.term_units} units (minutes):")
    print(f"{'cores':>6s} {'first grading':>14s} {'after one grader edit':>22s} {'unchanged':>10s}")
    for cores in args.cores:
        minutes = project(costs, args.term_units, args.term_students, cores, overhead)
        print(f"{cores:6d} {minutes['first']:14.1f} {minutes['edited']:22.1f} {minutes['unchanged']:10.1f}")
    print("assumptions: a job holds one core for as long as it ran alone here (a loaded machine inflates every figure);\n"
          "units not measured cost the mean of those measured; the writer's work per student is an unchanged re-run's;\n"
          "re-runs and rescoring after an edit run in the batch process alone; shared filesystem and batch queue not counted")


if __name__ == "__main__":
    main()

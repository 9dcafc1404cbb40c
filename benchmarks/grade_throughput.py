"""Grading throughput: stock ``nbgrader autograde`` vs ``deepgrade autograde --workers 2`` (sandbox on).

Both grade the same N submissions (copies of the unit's source solution under different student
ids, so the cache cannot help the first run), measured in this one run on this machine. Then
deepgrade grades the unchanged batch again: the cached re-run. Prints seconds and ratios.

The work is the same: stock nbgrader's copies state in their parameters cell what deepgrade injects
(data profile, seed, data folder). What differs is the engine: nbgrader runs one notebook at a time
with the machine's default BLAS threads; deepgrade runs N sandboxed workers with one BLAS thread each
(plus the probes and hidden graders, which stock nbgrader does not have).

Wall-clock times on a shared 2-core machine drift by tens of percent from one minute to the next
(stock nbgrader alone has taken 23 s and 32 s back to back on the same batch), so the whole
sequence runs ``--repeat`` times and every ratio is taken within one repetition, between runs made
seconds apart; the table gives medians and the range. Beside the wall clock it gives the CPU time
the machine spent during each run (all processes, from /proc/stat: sandboxes included), which
drifts far less and says how much work each engine does per submission.

    python benchmarks/grade_throughput.py a01_linear --students 20
    python benchmarks/grade_throughput.py t00_toy --students 20 --repeat 3   # the engine's toy unit
    python benchmarks/grade_throughput.py t00_toy --students 20 --executor dask  # also on a LocalCluster

With ``--executor dask`` each repetition also grades the batch on a Dask ``LocalCluster`` started
once, before the repetitions (a running cluster, as on a course's machines), with as many one-thread
worker processes as ``--workers``, into a cache of its own: the same cores as the local pool.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import nbformat

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from pipelines.grade.unit import Unit  # noqa: E402
from pipelines.paths import prepared_dir  # noqa: E402


def with_parameters(path: Path, values: dict[str, object]) -> None:
    """Rewrite the notebook's ``parameters`` cell to assign ``values`` (what papermill would inject)."""
    nb = nbformat.read(path, as_version=4)
    cell = next(c for c in nb.cells if "parameters" in c.get("metadata", {}).get("tags", []))
    cell.source = "\n".join(f"{name} = {value!r}" for name, value in values.items())
    nbformat.write(nb, path)


def busy_cpu_seconds() -> float:
    """CPU seconds the whole machine has spent busy since boot (every process, sandboxed ones too)."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    user, nice, system, _idle, _iowait, irq, softirq = fields[:7]
    return (user + nice + system + irq + softirq) / os.sysconf("SC_CLK_TCK")


def timed(cmd: list[str], env: dict[str, str], cwd: Path) -> tuple[float, float]:
    """Wall-clock seconds of ``cmd`` and the machine's busy CPU seconds meanwhile."""
    cpu, start = busy_cpu_seconds(), time.perf_counter()
    proc = subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True)
    seconds, cpu = time.perf_counter() - start, busy_cpu_seconds() - cpu
    if proc.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return seconds, cpu


def step_breakdown(unit_name: str, student_dir: Path, work: Path) -> dict[str, float]:
    """Seconds of each step of grading one submission, in this process, caches empty."""
    from pipelines.grade import execution, probing
    from pipelines.grade.cache import LayerCache
    from pipelines.grade.fingerprint import Fingerprints, inputs_digest
    from pipelines.grade.intake import Submission
    from pipelines.grade.job import Job
    from pipelines.grade.submission import score

    unit = Unit.load(unit_name)
    unit.probes  # noqa: B018 - import the graders outside the timings, as a batch does once
    cache, keys = LayerCache(unit_name, root=work / "cache"), Fingerprints(unit)
    seconds: dict[str, float] = {}

    def step(name: str, fn, *a):
        start = time.perf_counter()
        out = fn(*a)
        seconds[name] = time.perf_counter() - start
        return out

    submission = step("read", Submission.read, student_dir, unit.notebooks)
    job = Job(unit, "one", work / "job", unit.student_data_view(work / "cache"), int(unit.params.get("seed", 0)),
              submission.digest)
    job.dir.mkdir(parents=True)
    step("parse + restore", execution.read_and_restore, job, submission)
    key = keys.execution(job.digest)
    step("execute (sandboxed papermill)", execution.execute, job, cache, key)
    specs, inputs = step("make probes", probing.make_probes, job)
    results = step("probes (sandboxed worker)", probing.probe, job, cache, keys.probes(key, specs, inputs_digest(inputs)), specs, inputs)
    step("score (hidden graders, first)", score, job, inputs, results)
    step("score (hidden graders, warm)", score, job, inputs, results)
    return seconds


def toy_project(tmp: Path) -> Path:
    """A project root holding the engine's toy unit (tests/grading/toy.py)."""
    import yaml

    from tests.grading import toy

    root = tmp / "toy_project"
    toy.make_project(root, yaml.safe_load((REPO / "params.yaml").read_text()))
    shutil.copytree(REPO / "reference", root / "reference")  # what a course checkout holds
    return root


def unit_project(tmp: Path) -> Path:
    """A project root of its own for a course unit: the checkout's units, reference code and prepared
    data (linked), its own gradebook, cache and outputs, so that the benchmark's students never
    land in the course's gradebook."""
    root = tmp / "project"
    root.mkdir()
    shutil.copy2(REPO / "params.yaml", root / "params.yaml")
    for name in ("assignments", "reference", "data"):
        (root / name).symlink_to(REPO / name)
    return root


@contextlib.contextmanager
def local_cluster(executor: str, workers: int) -> Iterator[str | None]:
    """A Dask LocalCluster of ``workers`` one-thread worker processes (its scheduler's address), or None."""
    if executor != "dask":
        yield None
        return
    from distributed import LocalCluster

    with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None,
                      memory_limit=0) as cluster:
        yield cluster.scheduler_address


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("assignment", help="a unit of assignments/, or t00_toy for the engine's toy unit")
    ap.add_argument("--students", type=int, default=20)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=3, help="repetitions of the whole sequence (ratios are medians)")
    ap.add_argument("--executor", choices=("local", "dask"), default="local",
                    help="dask: also grade each repetition's batch on a LocalCluster beside the local pool")
    args = ap.parse_args()

    bin_dir = Path(sys.executable).parent
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}
    with tempfile.TemporaryDirectory(prefix="deepgrade-bench-") as tmp:
        tmp = Path(tmp)
        project = toy_project(tmp) if args.assignment == "t00_toy" else unit_project(tmp)
        env["DEEPGRADE_ROOT"] = os.environ["DEEPGRADE_ROOT"] = str(project)
        unit = Unit.load(args.assignment)
        course = tmp / "nbgrader_course"
        shutil.copytree(unit.root, course / "source" / args.assignment, ignore=shutil.ignore_patterns("graders", "assignment.yaml"))
        # Same work for both: stock nbgrader injects no parameters, so its copies state the values
        # deepgrade injects (data profile, seed, data folder) in their parameters cell.
        parameters = {"data_dir": str(prepared_dir()), "seed": int(unit.params.get("seed", 0)), "device": "cpu",
                      "profile": unit.profile}
        for nb in unit.notebooks:
            with_parameters(course / "source" / args.assignment / nb, parameters)
        for i in range(args.students):
            for base, source in ((course / "submitted", course / "source" / args.assignment), (tmp / "submitted", unit.root)):
                folder = base / f"student{i:02d}" / args.assignment
                folder.mkdir(parents=True)
                for nb in unit.notebooks:
                    shutil.copy2(source / nb, folder / nb)
        root = [f"--CourseDirectory.root={course}"]
        timed(["nbgrader", "generate_assignment", args.assignment, "--force", *root], env, course)

        def deepgrade(workers: int, cache: str, *options: str) -> tuple[float, float]:
            cmd = ["deepgrade", "autograde", args.assignment, str(tmp / "submitted"), "--out", str(tmp / f"out-{cache}"),
                   "--workers", str(workers), *options]
            return timed(cmd, {**env, "DEEPGRADE_CACHE_DIR": str(tmp / cache)}, REPO)

        grader = sorted(unit.graders_dir.glob("test_*.py"))[0]
        original = grader.read_text()
        runs: dict[str, list[tuple[float, float]]] = {}

        def repetition(rep: int, scheduler: str | None) -> None:
            measured = {"stock": timed(["nbgrader", "autograde", args.assignment, "--force", *root,
                                        "--ExecutePreprocessor.timeout=1800"], env, course),
                        "one": deepgrade(1, f"cache1-{rep}"),
                        "first": deepgrade(args.workers, f"cache-{rep}")}
            if scheduler:
                measured["dask"] = deepgrade(args.workers, f"cache-dask-{rep}", "--executor", "dask", "--scheduler", scheduler)
            measured["again"] = deepgrade(args.workers, f"cache-{rep}")
            grader.write_text(original + f"\n# a one-line grader edit ({rep})\n")
            try:
                measured["edited"] = deepgrade(args.workers, f"cache-{rep}")
            finally:
                grader.write_text(original)
            for name, value in measured.items():
                runs.setdefault(name, []).append(value)
            print(f"repetition {rep + 1}/{args.repeat}: " + ", ".join(f"{k} {v[0]:.1f} s" for k, v in measured.items()),
                  file=sys.stderr)

        with local_cluster(args.executor, args.workers) as scheduler:
            for rep in range(args.repeat):
                repetition(rep, scheduler)
        steps = step_breakdown(args.assignment, tmp / "submitted" / "student00" / args.assignment, tmp / "breakdown")

    report(args, runs, steps)


def _ratios(runs: dict[str, list[tuple[float, float]]], num: str, den: str) -> list[float]:
    """``num``'s wall time over ``den``'s, within each repetition."""
    return [a[0] / b[0] for a, b in zip(runs[num], runs[den], strict=True)]


def _spread(values: list[float], fmt: str) -> str:
    return f"{format(statistics.median(values), fmt)} ({format(min(values), fmt)}-{format(max(values), fmt)})"


def report(args: argparse.Namespace, runs: dict[str, list[tuple[float, float]]], steps: dict[str, float]) -> None:
    """Print medians over the repetitions, ratios taken within each one, and the goals of issue #7."""
    n = args.students
    print(f"{args.assignment}: {n} submissions, {os.cpu_count()} CPU cores, {args.repeat} repetition(s); "
          "median (min-max) over repetitions")
    print(f"{'run':50s} {'wall s':>7s} {'s/sub':>6s} {'CPU s/sub':>10s} {'stock time / this time':>24s}")
    labels = {"stock": "stock nbgrader autograde (no sandbox, serial)",
              "one": "deepgrade autograde --workers 1 (sandboxed)",
              "first": f"deepgrade autograde --workers {args.workers} (sandboxed)",
              "dask": f"deepgrade --executor dask (LocalCluster, {args.workers} workers)",
              "again": "deepgrade, same batch again (nothing changed)",
              "edited": "deepgrade, after a one-line grader edit"}
    for name, label in labels.items():
        if name not in runs:
            continue
        wall = statistics.median(v[0] for v in runs[name])
        cpu = statistics.median(v[1] for v in runs[name])
        print(f"{label:50s} {wall:7.1f} {wall / n:6.2f} {cpu / n:10.2f} {_spread(_ratios(runs, 'stock', name), '.2f'):>24s}")
    one, first = [1 / r for r in _ratios(runs, "one", "stock")], [1 / r for r in _ratios(runs, "first", "stock")]
    print(f"--workers 1 vs stock: {_spread(one, '.2f')}x (goal >= 1x)")
    print(f"--workers {args.workers} vs stock: {_spread(first, '.2f')}x (goal >= 1.8x)")
    if "dask" in runs:
        print(f"LocalCluster vs the local pool (--workers {args.workers}, same cores): "
              f"{_spread(_ratios(runs, 'first', 'dask'), '.2f')}x its throughput (goal >= 0.9x)")
    print(f"unchanged re-run: {_spread([100 * r for r in _ratios(runs, 'again', 'first')], '.1f')} % of the first run (goal <= 5 %)")
    print(f"after a grader edit: {_spread([100 * r for r in _ratios(runs, 'edited', 'first')], '.1f')} % of the first run (goal <= 15 %)")
    print("one submission, step by step (seconds):")
    for name, seconds in steps.items():
        print(f"  {name:40s} {seconds:7.2f}")

if __name__ == "__main__":
    main()

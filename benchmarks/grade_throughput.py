"""Grading throughput: stock ``nbgrader autograde`` vs ``deepgrade autograde --workers 2`` (sandbox on).

Both grade the same N submissions (copies of the unit's source solution under different student
ids, so the cache cannot help the first run), measured in this one run on this machine. Then
deepgrade grades the unchanged batch again: the cached re-run. Prints seconds and ratios.

The work is the same: stock nbgrader's copies state in their parameters cell what deepgrade injects
(data profile, seed, data folder). What differs is the engine: nbgrader runs one notebook at a time
with the machine's default BLAS threads; deepgrade runs N sandboxed workers with one BLAS thread each
(plus the probes and hidden graders, which stock nbgrader does not have).

    python benchmarks/grade_throughput.py a01_linear --students 20
    python benchmarks/grade_throughput.py t00_toy --students 20     # the engine's toy unit
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
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


def timed(cmd: list[str], env: dict[str, str], cwd: Path) -> float:
    start = time.perf_counter()
    proc = subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return seconds


def step_breakdown(unit_name: str, student_dir: Path, work: Path) -> dict[str, float]:
    """Seconds of each step of grading one submission, in this process, caches empty."""
    from pipelines.grade import execution, probing
    from pipelines.grade.cache import LayerCache
    from pipelines.grade.fingerprint import Fingerprints, inputs_digest
    from pipelines.grade.job import Job, submission_digest
    from pipelines.grade.submission import score

    unit = Unit.load(unit_name)
    unit.probes  # noqa: B018 - import the graders outside the timings, as a batch does once
    cache, keys = LayerCache(unit_name, root=work / "cache"), Fingerprints(unit)
    job = Job(unit, "one", work / "job", unit.student_data_view(work / "cache"), int(unit.params.get("seed", 0)),
                    submission_digest(student_dir, unit))
    job.dir.mkdir(parents=True)
    seconds: dict[str, float] = {}

    def step(name: str, fn, *a):
        start = time.perf_counter()
        out = fn(*a)
        seconds[name] = time.perf_counter() - start
        return out

    step("read + restore", execution.read_and_restore, job, student_dir)
    key = keys.execution("one", job.digest)
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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("assignment", help="a unit of assignments/, or t00_toy for the engine's toy unit")
    ap.add_argument("--students", type=int, default=20)
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args()

    bin_dir = Path(sys.executable).parent
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}
    with tempfile.TemporaryDirectory(prefix="deepgrade-bench-") as tmp:
        tmp = Path(tmp)
        if args.assignment == "t00_toy":
            env["DEEPGRADE_ROOT"] = os.environ["DEEPGRADE_ROOT"] = str(toy_project(tmp))
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
        stock = timed(["nbgrader", "autograde", args.assignment, "--force", *root,
                       "--ExecutePreprocessor.timeout=1800"], env, course)

        def deepgrade(workers: int, cache: str) -> float:
            cmd = ["deepgrade", "autograde", args.assignment, str(tmp / "submitted"), "--out", str(tmp / f"out-{cache}"),
                   "--workers", str(workers)]
            return timed(cmd, {**env, "DEEPGRADE_CACHE_DIR": str(tmp / cache)}, REPO)

        one = deepgrade(1, "cache1")
        first = deepgrade(args.workers, "cache")
        again = deepgrade(args.workers, "cache")
        grader = sorted(unit.graders_dir.glob("test_*.py"))[0]
        original = grader.read_text()
        grader.write_text(original + "\n# a one-line grader edit\n")
        try:
            edited = deepgrade(args.workers, "cache")
        finally:
            grader.write_text(original)
        steps = step_breakdown(args.assignment, tmp / "submitted" / "student00" / args.assignment, tmp / "breakdown")

    n = args.students
    print(f"{args.assignment}: {n} submissions, {os.cpu_count()} CPU cores")
    print(f"{'run':50s} {'seconds':>9s} {'s/submission':>13s} {'vs stock':>9s}")
    rows = [("stock nbgrader autograde (no sandbox, serial)", stock),
            ("deepgrade autograde --workers 1 (sandboxed)", one),
            (f"deepgrade autograde --workers {args.workers} (sandboxed)", first),
            ("deepgrade, same batch again (nothing changed)", again),
            ("deepgrade, after a one-line grader edit", edited)]
    for label, seconds in rows:
        print(f"{label:50s} {seconds:9.1f} {seconds / n:13.2f} {stock / seconds:8.2f}x")
    print(f"unchanged re-run: {100 * again / first:.1f} % of the first run (goal <= 5 %)")
    print(f"after a grader edit: {100 * edited / first:.1f} % of the first run (goal <= 15 %)")
    print("one submission, step by step (seconds):")
    for name, seconds in steps.items():
        print(f"  {name:40s} {seconds:7.2f}")


if __name__ == "__main__":
    main()

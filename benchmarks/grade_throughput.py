"""Grading throughput: stock ``nbgrader autograde`` vs ``deepgrade autograde --workers 2`` (sandbox on).

Both grade the same N submissions (copies of the unit's source solution under different student
ids, so the cache cannot help the first run), measured in this one run on this machine. Then
deepgrade grades the unchanged batch again: the cached re-run. Prints seconds and ratios.

The work is the same: stock nbgrader's copies state in their parameters cell what deepgrade injects
(data profile, seed, data folder). What differs is the engine: nbgrader runs one notebook at a time
with the machine's default BLAS threads; deepgrade runs N sandboxed workers with one BLAS thread each
(plus the probes and hidden graders, which stock nbgrader does not have).

    python benchmarks/grade_throughput.py a01_linear --students 20
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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("assignment")
    ap.add_argument("--students", type=int, default=20)
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args()

    unit = Unit.load(args.assignment)
    bin_dir = Path(sys.executable).parent
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}
    with tempfile.TemporaryDirectory(prefix="deepgrade-bench-") as tmp:
        tmp = Path(tmp)
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

        cache_env = {**env, "DEEPGRADE_CACHE_DIR": str(tmp / "cache")}
        cmd = ["deepgrade", "autograde", args.assignment, str(tmp / "submitted"), "--out", str(tmp / "out"),
               "--workers", str(args.workers)]
        first = timed(cmd, cache_env, REPO)
        again = timed(cmd, cache_env, REPO)

    n = args.students
    print(f"{args.assignment}: {n} submissions, {os.cpu_count()} CPU cores")
    print(f"{'run':46s} {'seconds':>9s} {'s/submission':>13s}")
    print(f"{'stock nbgrader autograde (no sandbox)':46s} {stock:9.1f} {stock / n:13.2f}")
    print(f"{f'deepgrade autograde --workers {args.workers} (sandboxed)':46s} {first:9.1f} {first / n:13.2f}")
    print(f"{'deepgrade, same batch again (cached)':46s} {again:9.1f} {again / n:13.2f}")
    print(f"speed-up of deepgrade over stock nbgrader: {stock / first:.2f}x (goal >= 3x)")
    print(f"cached re-run as a share of the first run: {100 * again / first:.1f} % (goal <= 5 %)")


if __name__ == "__main__":
    main()

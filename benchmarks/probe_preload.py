"""Probe runs of a torch unit with and without ``assignment.yaml: preload: [torch]``.

Each probe runs in a child forked by the sandboxed probe worker, and each child runs the export cells
afresh: export cells that ``import torch`` pay for the import once per probe (and once more for the
worker's first load of the export cells), unless the worker preloads torch before it forks. This
grades the engine's toy unit with export cells that import torch and ``--probes`` chained probes of
a trivial torch function (a tensor in, a tensor out), through the real sandbox and the probe step
only (no notebook), with and without the preload, alternating, ``--repeat`` times; a numpy-only
version of the same probes is the floor. Prints the wall time of each probe run (sandbox start to
report) and per probe, medians with the range, and the ratio within each repetition.

    python benchmarks/probe_preload.py --probes 8 --repeat 5
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.grading import toy  # noqa: E402

EXPORTS = {"torch": "import torch\n\n\ndef double(t):\n    return torch.mul(t, 2.0)\n",
           "numpy": "import numpy as np\n\n\ndef double(t):\n    return np.multiply(t, 2.0)\n"}


def grader(probes: int) -> str:
    """``probes`` chained probes of ``double``, on a tensor or, for the numpy floor, an array (chosen
    when the probes are made: the grader module is imported once)."""
    lines = ["import os", "from pipelines.grade.api import probe, step, tensor", "",
             "def _input(rng):", "    x = rng.standard_normal(16)",
             '    return tensor(x, "float32") if os.environ.get("BENCH_TORCH") == "1" else x', ""]
    for i in range(probes):
        lines += ['@probe("double")', f"def double_{i}(rng):", '    return {"steps": [step("d", "double", _input(rng))]}', ""]
    return "\n".join(lines)


def project(root: Path, probes: int) -> None:
    unit = toy.make_project(root, yaml.safe_load((REPO / "params.yaml").read_text()),
                            {"wall_seconds": 600, "probes": {"wall_seconds": 600}})
    (unit / "graders" / "test_quad.py").unlink()
    (unit / "graders" / "test_bench.py").write_text(grader(probes))
    params = yaml.safe_load((root / "params.yaml").read_text())
    params["grading"]["probe_timeout"] = 60
    (root / "params.yaml").write_text(yaml.safe_dump(params))


def timed_run(root: Path, exports: str, preload: list[str]) -> float:
    """Seconds of one probe run (the sandbox's start to its report), every probe checked to be ok."""
    os.environ["BENCH_TORCH"] = "1" if exports == "torch" else "0"
    start = time.perf_counter()
    results, _ = toy.probes_only(root, EXPORTS[exports], preload=preload)
    seconds = time.perf_counter() - start
    failed = {name: r.error for name, r in results.items() if r.outcome != "ok"}
    if failed:
        sys.exit(f"probes failed ({exports}, preload={preload}): {failed}")
    return seconds


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--probes", type=int, default=8)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    modes = {"torch, no preload": ("torch", []), "torch, preload: [torch]": ("torch", ["torch"]),
             "numpy (floor)": ("numpy", [])}
    with tempfile.TemporaryDirectory(prefix="bench-preload-") as tmp:
        root = Path(tmp)
        project(root, args.probes)
        os.environ["DEEPGRADE_ROOT"] = str(root)
        for key in ("DEEPGRADE_DATA_DIR", "DEEPGRADE_CACHE_DIR"):
            os.environ.pop(key, None)
        timed_run(root, "torch", ["torch"])  # warm the page cache, unmeasured
        seconds: dict[str, list[float]] = {mode: [] for mode in modes}
        for _ in range(args.repeat):
            for mode, (exports, preload) in modes.items():
                seconds[mode].append(timed_run(root, exports, preload))
    print(f"{args.probes} probes of a trivial function, {args.repeat} repetitions, medians (range):")
    for mode, values in seconds.items():
        print(f"  {mode:24s} {statistics.median(values):6.2f} s per run ({min(values):.2f}-{max(values):.2f}), "
              f"{statistics.median(values) / args.probes:.3f} s per probe")
    ratios = [a / b for a, b in zip(seconds["torch, no preload"], seconds["torch, preload: [torch]"], strict=True)]
    print(f"  no preload / preload, paired within a repetition: {statistics.median(ratios):.2f}x "
          f"({min(ratios):.2f}-{max(ratios):.2f}x)")

if __name__ == "__main__":
    main()

"""Wall time and peak memory of the prepare stage for each dataset, on a mirror.

Each dataset is fetched from the mirror into a throwaway data dir, then prepared in its own
subprocess, which reports its peak resident memory (``ru_maxrss``). A second subprocess that only
imports the same modules gives the interpreter's baseline, so the table also shows what prepare
itself added. Nothing under the project's own ``data/`` is touched.

    python benchmarks/data_prepare.py [--mirror ../shared/data] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DATASETS = ("mnist", "cifar10", "coco")

_CHILD = """
import json, resource, sys, time
import h5py, numpy
from pipelines.data.prepare import prepare
start = time.perf_counter()
if sys.argv[1] == "prepare":
    prepare(sys.argv[2])
seconds = time.perf_counter() - start
print(json.dumps({"seconds": seconds, "maxrss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}))
"""


def _child(mode: str, dataset: str, env: dict[str, str]) -> dict[str, float]:
    out = subprocess.run([sys.executable, "-c", _CHILD, mode, dataset], env=env, cwd=REPO,
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def _size_mb(path: Path) -> float:
    files = [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file()]
    return sum(p.stat().st_size for p in files) / 1e6


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mirror", default=str(REPO.parent / "shared" / "data"))
    parser.add_argument("--repeat", type=int, default=3, help="prepare runs per dataset (best wall time is shown)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="deepgrade-bench-") as tmp:
        env = {**os.environ, "DEEPGRADE_DATA_DIR": tmp, "DEEPGRADE_DATA_MIRROR": str(Path(args.mirror).resolve()),
               "PYTHONPATH": str(REPO)}
        baseline = _child("baseline", "-", env)["maxrss_kb"] / 1024
        rows = []
        for ds in DATASETS:
            subprocess.run([sys.executable, "-m", "pipelines.cli", "data", "fetch", ds], env=env, cwd=REPO,
                           check=True, capture_output=True)
            runs = [_child("prepare", ds, env) for _ in range(args.repeat)]
            provenance = json.loads((Path(tmp) / "prepared" / f"{ds}.provenance.json").read_text())
            out = Path(tmp) / "prepared" / ("coco" if ds == "coco" else f"{ds}.npz")
            rows.append((ds, min(r["seconds"] for r in runs), max(r["maxrss_kb"] for r in runs) / 1024,
                         _size_mb(out), json.dumps(provenance["counts"], separators=(",", ":"))))
    print(f"mirror: {args.mirror}; best of {args.repeat} runs; baseline peak RSS (imports only): {baseline:.0f} MiB")
    print(f"{'dataset':<8} {'prepare s':>9} {'peak RSS MiB':>12} {'over baseline':>13} {'output MB':>9}  counts")
    for ds, seconds, rss, size, counts in rows:
        print(f"{ds:<8} {seconds:>9.2f} {rss:>12.0f} {rss - baseline:>13.0f} {size:>9.1f}  {counts}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

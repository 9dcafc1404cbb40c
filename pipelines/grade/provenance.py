"""What produced a grade, recorded in its results.json, so that an appeal can be answered by grading
the same notebook again with the same versions (``deepgrade replay``, ``pipelines/replay.py``), or by
saying which of them is gone.

The record holds hashes and settings, never a path or a time: the source notebooks, graders,
reference, params.yaml and grading engine by content, the prepared data by its provenance files, the
seed, profile, device, sandbox limits (and whether a cgroup bounded the run), the git commit of the
checkout and the versions of the packages ``params.yaml: provenance.packages`` names. It is written at
scoring time and cached with the grade: a grade taken from the cache keeps the record of the run
that produced it, which is the run an appeal asks about.

``python -m pipelines.grade.provenance <unit> <student_dir>`` prints the record that grading that
submission now would write: replay asks it of the restored checkout before grading there.
"""

from __future__ import annotations

import json
import platform
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

from pipelines.execute.budget import cgroup_kind
from pipelines.grade.fingerprint import Digest, grading_engine_files, reference_dir
from pipelines.grade.intake import Submission
from pipelines.grade.unit import Unit
from pipelines.paths import prepared_dir, project_root

# Parts of a record that decide a grade: a replay whose part differs from the recorded one is not
# the recorded grading. Package versions are recorded and compared, but a replay cannot restore them.
DECISIVE = ("versions", "data", "seed", "profile", "device", "sandbox")


def git_commit(root: Path) -> str | None:
    """The commit checked out at ``root``, or None where ``root`` is not the top of a git checkout (a
    project copied below someone else's checkout is not theirs), or git is missing."""
    try:
        done = subprocess.run(["git", "-C", str(root), "rev-parse", "--show-toplevel", "--verify", "HEAD"],
                              capture_output=True, text=True, timeout=30, check=False)
    except OSError:
        return None
    lines = done.stdout.split()
    if done.returncode != 0 or len(lines) != 2 or Path(lines[0]).resolve() != root.resolve():
        return None
    return lines[1]


def versions(unit: Unit) -> dict[str, str]:
    """Content hashes of everything that grades ``unit``: its source (notebooks, assignment.yaml),
    its graders, the reference library, params.yaml and the grading engine."""
    source = Digest("source")
    for name in unit.notebooks:
        source.path(f"source/{name}", unit.source_notebook(name))
    source.path("assignment.yaml", unit.root / "assignment.yaml")
    engine = Digest("engine")
    for f in grading_engine_files():
        engine.path(f"engine/{f.parent.name}/{f.name}", f)
    return {
        "source": source.hexdigest(),
        "graders": Digest("graders").path("graders", unit.graders_dir).hexdigest(),
        "reference": Digest("reference").path("reference", reference_dir()).hexdigest(),
        "params": Digest("params").path("params.yaml", project_root() / "params.yaml").hexdigest(),
        "engine": engine.hexdigest(),
    }


def packages(names: list[str]) -> dict[str, str | None]:
    """Installed versions of ``names`` (None: not installed), and Python's own."""
    found: dict[str, str | None] = {"python": platform.python_version()}
    for name in names:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = None
    return found


def batch_record(unit: Unit) -> dict[str, Any]:
    """The record of every grade a batch of ``unit`` gives now, less the submission's hash."""
    return {
        "commit": git_commit(project_root()),
        "versions": versions(unit),
        "data": {p.name: Digest().path(p.name, p).hexdigest() for p in sorted(prepared_dir().glob("*provenance.json"))},
        "seed": unit.params.get("seed"),
        "profile": unit.profile,
        "device": unit.device,
        "sandbox": {"notebook": unit.sandbox("notebook"), "probes": unit.sandbox("probes"),
                    "probe_timeout": unit.grading["probe_timeout"], "cgroup": cgroup_kind()},
        "packages": packages(list(unit.params.get("provenance", {}).get("packages", []))),
    }


def differences(recorded: dict[str, Any], now: dict[str, Any], parts: tuple[str, ...]) -> list[str]:
    """``part: recorded ... now ...`` for each of ``parts`` (and each key within it) that differs."""
    found = []
    for part in parts:
        old, new = recorded.get(part), now.get(part)
        if isinstance(old, dict) and isinstance(new, dict):
            found += [f"{part}.{key}: recorded {_short(old.get(key))}, now {_short(new.get(key))}"
                      for key in sorted(set(old) | set(new)) if old.get(key) != new.get(key)]
        elif old != new:
            found.append(f"{part}: recorded {_short(old)}, now {_short(new)}")
    return found


def _short(value: Any) -> str:
    text = json.dumps(value, sort_keys=True) if isinstance(value, dict | list) else str(value)
    return text[:12] if isinstance(value, str) and len(value) == 64 else text


if __name__ == "__main__":
    graded = Unit.load(sys.argv[1])
    print(json.dumps({**batch_record(graded), "submission": Submission.read(Path(sys.argv[2]), graded.notebooks).digest}))

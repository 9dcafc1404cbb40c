"""A copy of the project as a clone of this working tree would hold it, for tests that build or plan it.

Copying (rather than using the checkout in place) keeps those tests from seeing build leftovers,
data or caches, and from writing into the checkout.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def run(args: list[str], cwd: Path, env: dict[str, str] | None = None) -> str:
    """Run a command in ``cwd``; its stdout, or a test failure that shows the command's own output."""
    done = subprocess.run(args, cwd=cwd, capture_output=True, text=True, timeout=300, env=env)
    assert done.returncode == 0, f"{' '.join(args)} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def copy_project(target: Path) -> Path:
    """Copy every file git tracks or would track (not ignored) into ``target``, as it is now."""
    listed = run(["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"], REPO)
    for name in filter(None, listed.split("\0")):
        source = REPO / name
        if source.is_file():  # a tracked file deleted in the working tree is not part of it
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)
    return target

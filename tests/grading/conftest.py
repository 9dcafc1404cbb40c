"""Fixtures for engine tests: a throwaway project holding the toy unit, with short time limits."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tests.grading import toy

REPO = Path(__file__).resolve().parents[2]
FAST_LIMITS = {"cell_timeout": 6, "wall_seconds": 60, "probes": {"wall_seconds": 40}, "memory_mb": 2048}


@pytest.fixture(scope="module")
def toy_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A project root with the toy unit and the repository's params (sandbox limits shortened)."""
    root = tmp_path_factory.mktemp("project")
    base = yaml.safe_load((REPO / "params.yaml").read_text())
    toy.make_project(root, base, FAST_LIMITS)
    with toy.engine_at(root):
        yield root

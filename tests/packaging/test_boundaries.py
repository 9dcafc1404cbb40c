"""``reference/`` stands alone: it never imports ``pipelines``, so the engine can ship without it."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.checkout import REPO

MODULES = sorted((REPO / "reference").rglob("*.py"))


def imported_packages(path: Path) -> set[str]:
    """Top-level names of every package ``path`` imports (absolute imports; relative ones stay inside)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("path", MODULES, ids=lambda p: p.relative_to(REPO).as_posix())
def test_reference_does_not_import_pipelines(path: Path) -> None:
    assert "pipelines" not in imported_packages(path), (
        f"{path.relative_to(REPO)} imports pipelines: reference/ must stand alone (shared helpers such as "
        "the gradient checks live in gradcheck/, which both import)"
    )

"""Dependency direction: ``reference/`` never imports ``pipelines`` (the engine ships without it), and the
reports never import the grading engine (they read plain results)."""

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


def imported_modules(path: Path) -> set[str]:
    """Full dotted names of what ``path`` imports (absolute imports; ``from a import b`` gives ``a.b``)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names |= {f"{node.module}.{alias.name}" for alias in node.names}
    return names


# What the reports may read: plain results, statuses, plots, file helpers and the error they raise on
# a bad input; never the grading engine.
REPORT_MAY_IMPORT = ("pipelines.results", "pipelines.execute.statuses", "pipelines.report", "pipelines.atomic",
                     "pipelines.errors")


@pytest.mark.parametrize("path", sorted((REPO / "pipelines" / "report").rglob("*.py")), ids=lambda p: p.name)
def test_reports_do_not_import_the_grading_engine(path: Path) -> None:
    engine = {m for m in imported_modules(path) if m.startswith("pipelines") and not m.startswith(REPORT_MAY_IMPORT)}
    assert not engine, f"{path.relative_to(REPO)} imports {sorted(engine)}: reports read pipelines.results only"

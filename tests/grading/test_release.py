"""Releases hold no solution code: nbgrader strips solutions, and deepgrade refuses any leak."""

from __future__ import annotations

import shutil
from pathlib import Path

import nbformat
import pytest

from pipelines.errors import DeepgradeError
from pipelines.leaks import find_leaks
from pipelines.release import release
from tests.grading import toy

REPO = Path(__file__).resolve().parents[2]
UNITS = sorted(p.parent.name for p in (REPO / "assignments").glob("*/assignment.yaml"))


def test_toy_release_strips_solutions_and_graders(toy_root: Path) -> None:
    (toy_root / "assignments" / toy.UNIT / "fidelity.yaml").write_text("functions: {}\n")
    target = release(toy.UNIT)
    names = sorted(p.name for p in target.rglob("*") if p.is_file())
    assert names == [f"{toy.UNIT}.ipynb"]  # no graders/, no assignment.yaml, no fidelity.yaml
    text = (target / f"{toy.UNIT}.ipynb").read_text()
    assert "raise NotImplementedError()" in text
    assert "0.5 * float(np.sum(w * x * x))" not in text


def test_a_leaking_release_is_detected(toy_root: Path, tmp_path: Path) -> None:
    source = toy_root / "assignments" / toy.UNIT / f"{toy.UNIT}.ipynb"
    leaked = tmp_path / "release"
    leaked.mkdir()
    nb = nbformat.read(source, as_version=4)
    nb.cells[2].source = nb.cells[2].source.replace("### BEGIN SOLUTION", "").replace("### END SOLUTION", "")
    nbformat.write(nb, leaked / "student.ipynb")
    empty_reference = tmp_path / "reference"
    empty_reference.mkdir()
    leaks = find_leaks(leaked, [source], empty_reference)
    assert any("0.5 * float(np.sum(w * x * x))" in leak for leak in leaks)


def test_reference_bodies_count_as_secret(tmp_path: Path, toy_root: Path) -> None:
    ref = tmp_path / "reference"
    ref.mkdir()
    (ref / "m.py").write_text('def f(x):\n    """Doc."""\n    hidden_value = x * 42 + 7\n    return hidden_value\n')
    rel = tmp_path / "release"
    rel.mkdir()
    (rel / "helper.py").write_text("hidden_value = x * 42 + 7\n")
    assert find_leaks(rel, [toy_root / "assignments" / toy.UNIT / f"{toy.UNIT}.ipynb"], ref) == [
        "helper.py: hidden_value = x * 42 + 7"
    ]


def test_release_refuses_to_publish_solution_code(toy_root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import pipelines.release as rel

    monkeypatch.setattr(rel, "find_leaks", lambda *a: ["t00_toy.ipynb: secret"])
    with pytest.raises(DeepgradeError, match="would contain solution code"):
        release(toy.UNIT)
    assert not (toy_root / "release" / toy.UNIT).exists()


@pytest.mark.parametrize("unit", UNITS)
def test_course_units_release_without_leaks(unit: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every real unit releases cleanly (release() itself raises on any leak)."""
    shutil.copytree(REPO / "assignments" / unit, tmp_path / "assignments" / unit)
    shutil.copy(REPO / "params.yaml", tmp_path / "params.yaml")
    shutil.copytree(REPO / "reference", tmp_path / "reference")
    monkeypatch.setenv("DEEPGRADE_ROOT", str(tmp_path))
    target = release(unit)
    assert not (target / "graders").exists()
    assert not (target / "assignment.yaml").exists()
    assert not (target / "fidelity.yaml").exists()

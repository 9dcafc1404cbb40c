"""Rubrics of hand-graded answers (issue #21 §6): written in the source notebook's solution region,
stripped from the release, and shown to graders beside each answer in nbgrader's formgrader."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
import yaml

from pipelines.grade.batch import autograde
from pipelines.grade.notebook import rubric
from pipelines.release import release
from tests.grading import toy

REPO = Path(__file__).resolve().parents[2]
RUBRIC = ("**Rubric** (1 point). 1 point: the gradient is w * x (elementwise). Accept x * w. "
          "Common wrong answer: 0.5 * w * x (forgets the 2 of the square): 0 points.")


def test_a_rubric_is_stripped_from_the_release_and_shown_in_the_formgrader(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    unit = toy.make_project(tmp_path, yaml.safe_load((REPO / "params.yaml").read_text()))
    source = nbformat.read(unit / f"{toy.UNIT}.ipynb", as_version=4)
    source.cells[5].source = source.cells[5].source.replace("It is w*x.\n", f"It is w*x.\n\n{RUBRIC}\n")
    nbformat.write(source, unit / f"{toy.UNIT}.ipynb")
    assert rubric(source.cells[5]) == RUBRIC and rubric(source.cells[3]) is None
    monkeypatch.setenv("DEEPGRADE_ROOT", str(tmp_path))
    monkeypatch.delenv("DEEPGRADE_DATA_DIR", raising=False)
    monkeypatch.delenv("DEEPGRADE_CACHE_DIR", raising=False)
    from pipelines.params import _load

    _load.cache_clear()
    released = (release(toy.UNIT) / f"{toy.UNIT}.ipynb").read_text()
    assert "Rubric" not in released and "Common wrong answer" not in released
    toy.submission(tmp_path, "alice")
    autograde(toy.UNIT, tmp_path / "submitted", tmp_path / "graded")

    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{tmp_path / 'gradebook.db'}") as gb:
        comments = {c.cell.name: c.comment for c in gb.find_submission_notebook(toy.UNIT, toy.UNIT, "alice").comments}
    assert comments["explain"] == RUBRIC
    assert {name: text for name, text in comments.items() if name != "explain"} == {"quad_impl": None}
    _load.cache_clear()


def test_a_code_cell_graded_by_hand_has_its_rubric_in_comments() -> None:
    """A plot graded by hand (a05's update-rule comparison): the rubric is the comment block after the code."""
    cell = nbformat.v4.new_code_cell("### BEGIN SOLUTION\nplt.plot(x)\n# **Rubric** (2 points).\n# - 1 point: a legend.\n"
                                     "### END SOLUTION\n")
    cell.metadata["nbgrader"] = {"grade": True, "solution": True, "points": 2, "grade_id": "plot"}
    assert rubric(cell) == "**Rubric** (2 points).\n- 1 point: a legend."

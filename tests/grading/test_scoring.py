"""Scoring runs each unit's own hidden graders as they are now, whatever this process scored before."""

from __future__ import annotations

import os
from pathlib import Path
from types import SimpleNamespace

import pytest

from pipelines.grade.score import GraderPlugin, run_graders

GRADER = """
from pipelines.grade.api import points


@points(1, cell="check")
def {name}():
    \"\"\"A test that always passes.\"\"\"
"""


def scored(graders: Path) -> list[str]:
    """The names of the tests one scoring of ``graders`` ran, in this process."""
    unit = SimpleNamespace(graders_dir=graders)
    plugin = GraderPlugin(unit, {}, {}, None)  # type: ignore[arg-type]
    return [t.name for t in run_graders(unit, plugin)]  # type: ignore[arg-type]


def test_two_units_graders_of_one_file_name_are_not_mixed_up(tmp_path: Path) -> None:
    """Every unit's graders folder may hold a test_losses.py; scoring one unit after another in one
    process must run each unit's own file (pytest's importlib mode reuses a module of the same name)."""
    for unit, name in (("u1", "test_one"), ("u2", "test_two")):
        (tmp_path / unit).mkdir()
        (tmp_path / unit / "test_losses.py").write_text(GRADER.format(name=name))
    assert scored(tmp_path / "u1") == ["test_one"]
    assert scored(tmp_path / "u2") == ["test_two"]
    assert scored(tmp_path / "u1") == ["test_one"]


def test_the_callers_pytest_options_do_not_reach_scoring(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A CI job or a shell that sets PYTEST_ADDOPTS or PYTEST_PLUGINS for its own test run must not change
    (or, with an option scoring's pytest does not know, stop) the engine's scoring, and gets them back."""
    (tmp_path / "u1").mkdir()
    (tmp_path / "u1" / "test_losses.py").write_text(GRADER.format(name="test_one"))
    monkeypatch.setenv("PYTEST_ADDOPTS", f"--junitxml={tmp_path / 'junit.xml'} -k nothing_matches")
    monkeypatch.setenv("PYTEST_PLUGINS", "a_plugin_that_is_not_installed")
    assert scored(tmp_path / "u1") == ["test_one"]
    assert os.environ["PYTEST_ADDOPTS"].startswith("--junitxml") and os.environ["PYTEST_PLUGINS"]


def test_an_edited_grader_is_scored_as_it_is_now(tmp_path: Path) -> None:
    """A grader edited between two scorings in one process (a fidelity check, a test, a batch that
    rescores in-process) runs its new text, not the module pytest imported the first time."""
    grader = tmp_path / "u1" / "test_losses.py"
    grader.parent.mkdir()
    grader.write_text(GRADER.format(name="test_one"))
    assert scored(grader.parent) == ["test_one"]
    grader.write_text(GRADER.format(name="test_renamed"))
    assert scored(grader.parent) == ["test_renamed"]


LONG = '''
from pipelines.grade.api import points


@points(1, cell="check")
def test_long():
    """batchnorm_forward: after three calls the layer stores the running averages of the
    batch statistics in bn_param.

    Details for the instructor, which the student does not read.
    """
'''


def test_the_description_is_the_docstrings_whole_first_paragraph(tmp_path: Path) -> None:
    """Issue #21: the first line alone cut descriptions mid-sentence ("...stores the running averages of the")."""
    (tmp_path / "test_long.py").write_text(LONG)
    unit = SimpleNamespace(graders_dir=tmp_path)
    (test,) = run_graders(unit, GraderPlugin(unit, {}, {}, None))  # type: ignore[arg-type]
    assert test.description == ("batchnorm_forward: after three calls the layer stores the running averages of the "
                                "batch statistics in bn_param.")

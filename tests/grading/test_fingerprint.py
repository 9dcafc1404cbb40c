"""What the result cache keys on: the engine code that can change a grade, and nothing else of it."""

from __future__ import annotations

from pathlib import Path

import pipelines
from pipelines.grade.unit import grading_engine_files

ENGINE = Path(pipelines.__file__).resolve().parent


def relative() -> set[str]:
    return {f.relative_to(ENGINE).as_posix() for f in grading_engine_files()}


def test_code_that_grades_is_part_of_the_key() -> None:
    """The sandbox runner, the probe worker, the scoring and the loaders and kit that notebooks import."""
    assert {"execute/sandbox.py", "execute/run_notebook.py", "grade/probe_worker.py", "grade/score.py",
            "grade/submission.py", "data/loaders.py", "kit/gradcheck.py", "params.py"} <= relative()


def test_reports_and_other_commands_are_not() -> None:
    """Feedback and class reports are rebuilt from cached results, so editing them must not regrade."""
    files = relative()
    assert not any(f.startswith("report/") for f in files)
    assert not {"cli.py", "release.py", "validate.py", "check.py", "export_check.py", "examples.py"} & files

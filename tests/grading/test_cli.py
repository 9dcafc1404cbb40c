"""The command line as users meet it: exit codes, messages, the student self-check, the doctor."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from pipelines.cli import main
from pipelines.params import _load
from tests.grading import toy
from tests.grading.conftest import FAST_LIMITS, REPO


def test_doctor_finds_a_working_sandbox(capsys: pytest.CaptureFixture) -> None:
    assert main(["doctor"]) == 0
    assert "[ok] sandbox" in capsys.readouterr().out


def test_check_passes_on_the_solution(toy_root: Path, capsys: pytest.CaptureFixture) -> None:
    path = toy.submission(toy_root, "checker_ok")
    assert main(["check", str(path)]) == 0
    out = capsys.readouterr().out
    assert "2/2 self-checks pass" in out


def test_check_names_the_failing_self_check(toy_root: Path, capsys: pytest.CaptureFixture) -> None:
    path = toy.submission(toy_root, "checker_bad", body="import numpy as np\ndef quad(x, w):\n    return 0.0, x\n")
    before = path.read_bytes()
    assert main(["check", str(path)]) == 1
    out = capsys.readouterr().out
    assert "FAILED check_quad" in out and "AssertionError" in out
    assert path.read_bytes() == before  # the student's file is not modified


def test_autograde_unknown_assignment_is_a_clear_error(toy_root: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["autograde", "nope", str(toy_root), "--out", str(toy_root / "x")]) == 2
    err = capsys.readouterr().err
    assert "no assignment 'nope'" in err and toy.UNIT in err


def test_autograde_missing_submission_folder(toy_root: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["autograde", toy.UNIT, str(toy_root / "absent"), "--out", str(toy_root / "x")]) == 2
    assert "does not exist" in capsys.readouterr().err


@pytest.mark.parametrize(("options", "message"), [
    (["--executor", "dask"], "--executor dask needs --scheduler"),
    (["--scheduler", "tcp://127.0.0.1:1"], "--scheduler is for --executor dask"),
    (["--executor", "dask", "--scheduler", "tcp://127.0.0.1:8786", "--unsafe-no-sandbox"], "on this machine only"),
    (["--workers", "0"], "--workers must be at least 1"),
])
def test_autograde_executor_options_are_checked_before_grading(toy_root: Path, capsys: pytest.CaptureFixture,
                                                              options: list[str], message: str) -> None:
    assert main(["autograde", toy.UNIT, str(toy_root), "--out", str(toy_root / "x"), *options]) == 2
    assert message in capsys.readouterr().err


def test_check_rejects_a_file_that_is_not_a_notebook(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    bad = tmp_path / "broken.ipynb"
    bad.write_text("{not json")
    assert main(["check", str(bad)]) == 2
    assert "not a valid Jupyter notebook" in capsys.readouterr().err


def test_validate_gives_the_toy_solution_full_marks(toy_root: Path) -> None:
    assert main(["validate", toy.UNIT]) == 0
    assert (toy_root / "validated" / toy.UNIT / "results.json").exists()


def test_the_full_example_reuses_the_notebook_run_of_validate(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``validate`` grades the very bytes of the ``full`` example, so the grade stage does not run it again."""
    from pipelines.examples import write_solution
    from pipelines.grade.batch import autograde
    from pipelines.grade.cache import LayerCache
    from pipelines.grade.notebook import load_source

    unit = toy.make_project(tmp_path, yaml.safe_load((REPO / "params.yaml").read_text()), FAST_LIMITS)
    monkeypatch.setenv("DEEPGRADE_ROOT", str(tmp_path))
    monkeypatch.delenv("DEEPGRADE_CACHE_DIR", raising=False)
    _load.cache_clear()
    assert main(["validate", toy.UNIT]) == 0
    executions = LayerCache(toy.UNIT).base / "execution"
    ran = list(executions.iterdir())
    full = tmp_path / "submitted" / "full" / toy.UNIT
    full.mkdir(parents=True)
    write_solution(load_source(unit / f"{toy.UNIT}.ipynb"), full / f"{toy.UNIT}.ipynb")
    assert autograde(toy.UNIT, tmp_path / "submitted", tmp_path / "graded").graded == 1
    assert list(executions.iterdir()) == ran and len(ran) == 1
    _load.cache_clear()


def test_validate_catches_points_that_do_not_add_up(toy_root: Path, tmp_path: Path) -> None:
    from pipelines.grade.unit import Unit
    from pipelines.validate import points_mismatches

    unit = Unit.load(toy.UNIT)
    assert points_mismatches(unit, {"check_quad": 3.0, "check_results": 2.0}) == []
    problems = points_mismatches(unit, {"check_quad": 2.0, "check_results": 2.0, "ghost": 1.0})
    assert any("check_quad" in p for p in problems) and any("ghost" in p for p in problems)

"""Status classification of a notebook run, from the sandbox's exit and the runner's typed records only."""

from __future__ import annotations

import io
import json
import signal

import pytest

from pipelines.execute import statuses
from pipelines.execute.cell_limits import CellTimeouts
from pipelines.execute.channel import Reporter
from pipelines.execute.outcome import notebook_outcome
from pipelines.execute.sandbox import Limits, SandboxRun

LIMITS = Limits(memory_mb=2048, cpu_seconds=600, wall_seconds=900, file_mb=64)
CELL = {"position": 7, "starts": "train(model)", "grade_id": None}
TIMEOUTS = CellTimeouts(90, {"train": 600})


def report(*records: dict) -> bytes:
    buf = io.BytesIO()
    reporter = Reporter(buf)
    for record in records:
        reporter.send(record)
    return buf.getvalue()


def end(kind: str = "finished", errors: tuple = (), **extra) -> dict:
    return {"event": "end", "ending": {"kind": kind, **extra.pop("ending", {})}, "errors": list(errors),
            "capped": [], "kernel_exit": None, **extra}


def run(data: bytes, returncode: int = 0, timed_out: bool = False) -> SandboxRun:
    return SandboxRun(returncode, timed_out, 1.0, "log tail", data)


def status_of(sandbox_run: SandboxRun) -> tuple[str, list[str]]:
    outcome = notebook_outcome("nb.ipynb", sandbox_run, LIMITS, TIMEOUTS)
    return statuses.worst(*(s for s, _ in outcome.flags)), [m for _, m in outcome.flags]


def test_a_clean_run_is_ok() -> None:
    assert status_of(run(report(end()))) == ("ok", [])


def test_an_error_whose_text_says_timed_out_is_an_error() -> None:
    error = {**CELL, "ename": "TimeoutError", "evalue": "timed out: did not finish"}
    status, messages = status_of(run(report(end(errors=[error]))))
    assert status == "error" and "(cell 7, the one starting `train(model)`)" in messages[0]


def test_memory_error_wins_over_later_errors() -> None:
    errors = [{**CELL, "ename": "MemoryError", "evalue": ""}, {**CELL, "position": 9, "ename": "KeyError", "evalue": "'x'"}]
    status, messages = status_of(run(report(end(errors=errors))))
    assert status == "oom" and len(messages) == 2 and "2048 MB" in messages[0]


def test_a_cell_timeout_names_the_cell_and_the_limit() -> None:
    status, messages = status_of(run(report(end("cell_timeout", ending={"cell": CELL}))))
    assert status == "timeout" and "per-cell limit of 90 s" in messages[0] and "cell 7" in messages[0]


def test_a_cell_timeout_names_that_cells_own_limit() -> None:
    _, messages = status_of(run(report(end("cell_timeout", ending={"cell": {**CELL, "grade_id": "train"}}))))
    assert "per-cell limit of 600 s" in messages[0]


@pytest.mark.parametrize(("code", "status", "words"), [
    (-signal.SIGXCPU, "timeout", "600 s of CPU time"),
    (-signal.SIGKILL, "kernel_died", "SIGKILL"),
    (-signal.SIGSEGV, "kernel_died", "crashed (SIGSEGV)"),
    (0, "kernel_died", "exited with code 0"),
])
def test_a_dead_kernel_says_why(code: int, status: str, words: str) -> None:
    got, messages = status_of(run(report(end("kernel_died", ending={"cell": CELL}, kernel_exit=code))))
    assert got == status and words in messages[0]


def test_the_wall_clock_measured_outside_decides_a_whole_notebook_timeout() -> None:
    status, messages = status_of(run(report({"event": "cell", **CELL}), returncode=-9, timed_out=True))
    assert status == "timeout" and "whole-notebook limit of 900 s" in messages[0] and "cell 7" in messages[0]


@pytest.mark.parametrize(("returncode", "words"), [(-signal.SIGKILL, "killed by SIGKILL"), (128 + signal.SIGTERM, "killed by SIGTERM")])
def test_a_killed_runner_is_not_a_cpu_limit(returncode: int, words: str) -> None:
    status, messages = status_of(run(report({"event": "cell", **CELL}), returncode=returncode))
    assert status == "kernel_died" and words in messages[0] and "CPU" not in messages[0]


def test_a_runner_killed_by_its_cpu_limit() -> None:
    status, messages = status_of(run(b"", returncode=-signal.SIGXCPU))
    assert status == "timeout" and "600 s of CPU time" in messages[0]


def test_a_runner_without_report_is_an_engine_problem_for_the_instructor() -> None:
    outcome = notebook_outcome("nb.ipynb", run(b"", returncode=1), LIMITS, TIMEOUTS)
    assert [s for s, _ in outcome.flags] == ["kernel_died"] and outcome.internal


def test_a_forged_or_broken_report_is_not_trusted() -> None:
    outcome = notebook_outcome("nb.ipynb", run(b'{"event": "end"}\n', returncode=0), LIMITS, TIMEOUTS)
    assert [s for s, _ in outcome.flags] == ["kernel_died"]
    assert any("could not be read" in line for line in outcome.internal)


def test_cut_output_is_said_but_keeps_the_status() -> None:
    capped = end(capped=[CELL])
    status, messages = status_of(run(report(capped)))
    assert status == "ok" and "output limit" in messages[0] and "ran to the end" in messages[0]


@pytest.mark.parametrize("kind", ["kernel_died", "cell_timeout"])
def test_a_cut_cell_that_was_stopped_is_not_said_to_have_ended(kind: str) -> None:
    status, messages = status_of(run(report(end(kind, ending={"cell": CELL}, capped=[CELL], kernel_exit=-9))))
    assert status in ("kernel_died", "timeout") and len(messages) == 2, messages
    assert "output limit" in messages[1] and "ran to the end" not in " ".join(messages)


def test_failed_self_check_cells_are_kept_for_blind_spots() -> None:
    error = {**CELL, "grade_id": "check_loss", "ename": "AssertionError", "evalue": ""}
    outcome = notebook_outcome("nb.ipynb", run(report(end(errors=[error]))), LIMITS, TIMEOUTS)
    assert outcome.failed_grade_cells == {"check_loss": "AssertionError"}
    assert json.dumps(outcome.failed_grade_cells)

"""Statuses and messages that never mislead: each case here was a wrong status or message once.

One batch of toy submissions is graded per module; each test reads one student's results. Statuses
must come from types and typed records (never from text a student can write), each failing cell
must be reported with its own error and the number the student sees, and timings must be taken
where student code cannot reach the clock.
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import nbformat
import pytest

from pipelines.grade.batch import autograde
from tests.grading import toy

# A timed probe worth nothing: it only shows what the engine measured (toy scores stay 5/5).
SPEED_GRADER = '''
from pipelines.grade.api import check_true, points, probe


@probe("quad", timed=True)
def quad_timed(rng):
    return {"args": [rng.standard_normal(6), rng.random(6)]}


@points(0, cell="check_quad")
def test_quad_is_fast(result):
    """quad: runs in well under a second."""
    seconds = result("quad_timed").seconds
    check_true(seconds < 0.75, f"quad took {seconds:.2f} s; it should take well under a second.")
'''

GOOD = "return 0.5 * float(np.sum(w * x * x)), w * x"


def _extra_cells(*sources: str):
    """Student cells added right after the export cell (as a student inserts cells)."""
    def mutate(nb: nbformat.NotebookNode) -> None:
        for offset, src in enumerate(sources):
            nb.cells.insert(3 + offset, nbformat.v4.new_code_cell(textwrap.dedent(src)))
    return mutate


SUBMISSIONS = {
    "two_failing_cells": dict(mutate=_extra_cells('raise ValueError("the first problem")', "x = 1 / 0")),
    "own_socket_timeout": dict(mutate=_extra_cells('import socket\nraise socket.timeout("timed out")')),
    "probe_raises_timeout_text": dict(body="""
        import numpy as np
        def quad(x, w):
            raise TimeoutError("quad did not finish within 4 s")
        """),
    "memory_then_error": dict(mutate=_extra_cells("raise MemoryError()", 'raise KeyError("later")')),
    "prints_too_much": dict(mutate=_extra_cells('import sys\nfor _ in range(80):\n    sys.stdout.write("x" * 10**6)')),
    "kills_parent": dict(mutate=_extra_cells("import os, signal\nos.kill(os.getppid(), signal.SIGKILL)")),
    "fakes_the_clock": dict(body=f"""
        import time
        import numpy as np
        time.perf_counter = lambda: 0.0
        time.monotonic = lambda: 0.0
        time.time = lambda: 0.0
        slow = [True]
        def quad(x, w):
            if slow.pop() if slow else False:  # the first call of each process takes 1.5 s of CPU
                end = time.process_time() + 1.5
                while time.process_time() < end:
                    pass
            {GOOD}
        """),
    "hides_work_in_another_process": dict(body=f"""
        import os
        import time
        import numpy as np
        slow = [True]
        def quad(x, w):
            if slow.pop() if slow else False:  # the first call of each process: 1 s of CPU elsewhere
                done, tell = os.pipe()
                if os.fork() == 0:  # a process it never waits for, so its CPU time is not the caller's
                    end = time.process_time() + 1.0
                    while time.process_time() < end:
                        pass
                    os.write(tell, b"x")
                    os._exit(0)
                os.read(done, 1)
            {GOOD}
        """),
    "blind_spot": dict(body=f"""
        import numpy as np
        def quad(x, w):
            if np.all(x == 1):
                return 0.0, w * x
            {GOOD}
        """),
    # A wrong quad whose notebook run rewrites the restored notebook in the job folder with a right one.
    "rewrites_its_notebook": dict(
        body="""
        import numpy as np
        def quad(x, w):
            return 0.0, 0 * x
        """,
        mutate=_extra_cells(f"""
            import json
            nb = json.load(open("/job/{toy.UNIT}.ipynb"))
            nb["cells"][2]["source"] = "import numpy as np\\ndef quad(x, w):\\n    {GOOD}\\n"
            json.dump(nb, open("/job/{toy.UNIT}.ipynb", "w"))
            """)),
    "prints": dict(mutate=_extra_cells('print("first words")', 'print("second words")')),
    "half_implemented": dict(body="""
        import numpy as np
        def _gradient(x, w):
            raise NotImplementedError()
        def quad(x, w):
            return 0.5 * float(np.sum(w * x * x)), _gradient(x, w)
        """),
}


@pytest.fixture(scope="module")
def graded(toy_root: Path) -> Path:
    (toy_root / "assignments" / toy.UNIT / "graders" / "test_speed.py").write_text(SPEED_GRADER)
    for student, spec in SUBMISSIONS.items():
        toy.submission(toy_root, student, **spec)
    out = toy_root / "graded-statuses"
    assert autograde(toy.UNIT, toy_root / "submitted", out, workers=2).failed == 0
    return out


def results(out: Path, student: str) -> dict:
    return json.loads((out / student / "results.json").read_text())


def test_each_failing_cell_is_reported_with_its_own_error_and_number(graded: Path) -> None:
    r = results(graded, "two_failing_cells")
    assert r["status"] == "error"
    first = next(m for m in r["messages"] if "ValueError" in m)
    second = next(m for m in r["messages"] if "ZeroDivisionError" in m)
    # intro, parameters, quad_impl, then the two added cells: papermill's injected cell is not counted.
    assert "(cell 4, the one starting `raise ValueError(\"the first problem\")`)" in first and "the first problem" in first
    assert "(cell 5, the one starting `x = 1 / 0`)" in second
    assert r["score"] == 5


def test_a_students_own_timeout_exception_is_an_error_not_a_timeout(graded: Path) -> None:
    r = results(graded, "own_socket_timeout")
    assert r["status"] == "error"
    assert any("TimeoutError" in m or "timeout" in m for m in r["messages"])


def test_a_probe_raising_timeout_text_fails_but_is_no_timeout(graded: Path) -> None:
    r = results(graded, "probe_raises_timeout_text")
    probe_tests = [t for t in r["tests"] if t["name"] in {"test_value", "test_gradient"}]
    assert {t["status"] for t in probe_tests} == {"failed"}
    assert r["status"] != "timeout"


def test_out_of_memory_stays_oom_whatever_fails_after_it(graded: Path) -> None:
    r = results(graded, "memory_then_error")
    assert r["status"] == "oom"
    assert any("KeyError" in m for m in r["messages"])


def test_printing_past_the_file_limit_is_cut_and_said_plainly(graded: Path) -> None:
    r = results(graded, "prints_too_much")
    assert r["status"] == "ok" and r["score"] == 5
    assert any("output limit" in m for m in r["messages"])
    executed = graded / "prints_too_much" / f"{toy.UNIT}.ipynb"
    assert executed.stat().st_size < 8 * 2**20


def test_a_killed_runner_is_reported_as_killed_not_as_cpu_time(graded: Path) -> None:
    r = results(graded, "kills_parent")
    assert r["status"] == "kernel_died"
    message = " ".join(r["messages"])
    assert "SIGKILL" in message and "CPU time" not in message


def test_student_code_cannot_change_a_timing(graded: Path) -> None:
    speed = next(t for t in results(graded, "fakes_the_clock")["tests"] if t["name"] == "test_quad_is_fast")
    # Measured slow (failed) or, on a loaded machine, slower than the probe's deadline (timeout):
    # either way the faked clock bought nothing.
    assert speed["status"] in ("failed", "timeout"), speed
    elsewhere = next(t for t in results(graded, "hides_work_in_another_process")["tests"] if t["name"] == "test_quad_is_fast")
    assert elsewhere["status"] in ("failed", "timeout"), elsewhere
    honest = next(t for t in results(graded, "blind_spot")["tests"] if t["name"] == "test_quad_is_fast")
    assert honest["status"] == "passed", honest


def test_a_failing_self_check_that_the_hidden_tests_miss_is_a_blind_spot(graded: Path) -> None:
    r = results(graded, "blind_spot")
    assert r["score"] == 5 and r["status"] == "error"
    assert [s["cell"] for s in r["blind_spots"]] == ["check_quad"]
    summary = json.loads((graded / "summary.json").read_text())
    assert summary["blind_spots"] == {"check_quad": ["blind_spot"]}
    assert "blind_spot" in (graded / "class_report.html").read_text()
    assert results(graded, "two_failing_cells")["blind_spots"] == []


def test_the_notebook_run_cannot_change_the_code_that_is_probed(graded: Path) -> None:
    """The export cells are taken before any student code runs, not re-read from the job folder."""
    tests = {t["name"]: t for t in results(graded, "rewrites_its_notebook")["tests"]}
    assert tests["test_value"]["status"] == "failed" and tests["test_gradient"]["status"] == "failed"


def test_the_function_that_raised_is_named(graded: Path) -> None:
    tests = results(graded, "half_implemented")["tests"]
    message = next(t["message"] for t in tests if t["name"] == "test_value")
    assert message.startswith("_gradient is not implemented yet (quad calls it)"), message


def test_every_output_of_the_run_is_kept_from_the_first_cell_on(graded: Path) -> None:
    """The runner starts executing once the kernel's IOPub said it is idle after the readiness
    handshake (not after 0.2 s of silence): no output of the first cells may be lost for it."""
    nb = nbformat.read(graded / "prints" / f"{toy.UNIT}.ipynb", as_version=4)
    texts = ["".join(o.get("text", "") for o in c.get("outputs", [])) for c in nb.cells if c.cell_type == "code"]
    assert "first words\n" in texts and "second words\n" in texts
    assert results(graded, "prints")["status"] == "ok"

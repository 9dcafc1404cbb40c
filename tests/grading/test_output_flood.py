"""A cell that prints gigabytes: the kernel drops its output past the cap and keeps running.

The runner caps what reaches the notebook, but output the kernel queued faster than the runner read
it once filled the kernel's memory (SIGSEGV): the student was told the kernel crashed, and that
the cell ran to the end. Each case floods one cell through the real sandbox, and a later cell must
still run.
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import nbformat
import pytest

from pipelines.execute.kernel_output import CellBudget
from pipelines.grade.batch import autograde
from tests.grading import toy

AFTER = 'print("the next cell ran")'
FLOODS = {
    # 2 GB of 1 MB strings, as the print_1gb case of tests/security, twice over.
    "prints_2gb": 'import sys\nchunk = "x" * 2**20\nfor _ in range(2048):\n    sys.stdout.write(chunk)',
    # One string of 512 MB in one print, on stderr.
    "one_huge_print": 'import sys\nprint("x" * (512 * 2**20), file=sys.stderr)',
    # 2 GB of rich output.
    "displays_2gb": ('from IPython.display import HTML, display\nchunk = HTML("x" * 2**20)\n'
                     'for _ in range(2048):\n    display(chunk)'),
}


def _flood_then(code: str):
    def mutate(nb: nbformat.NotebookNode) -> None:
        nb.cells.insert(3, nbformat.v4.new_code_cell(textwrap.dedent(code)))
        nb.cells.insert(4, nbformat.v4.new_code_cell(AFTER))
    return mutate


@pytest.fixture(scope="module")
def graded(toy_root: Path) -> Path:
    for student, code in FLOODS.items():
        toy.submission(toy_root, student, mutate=_flood_then(code))
    out = toy_root / "graded-floods"
    assert autograde(toy.UNIT, toy_root / "submitted", out, workers=2).failed == 0
    return out


@pytest.mark.parametrize("student", sorted(FLOODS))
def test_a_flooding_cell_is_cut_and_the_kernel_lives_on(graded: Path, student: str) -> None:
    r = json.loads((graded / student / "results.json").read_text())
    assert (r["status"], r["score"]) == ("ok", 5), r["messages"]
    cut = [m for m in r["messages"] if "output limit" in m]
    assert len(cut) == 1 and "(cell 4, " in cut[0], r["messages"]
    assert not any("kernel" in m for m in r["messages"]), r["messages"]
    executed = graded / student / f"{toy.UNIT}.ipynb"
    assert executed.stat().st_size < 8 * 2**20
    outputs = [o for c in nbformat.read(executed, as_version=4).cells if c.cell_type == "code" for o in c.outputs]
    assert sum("the next cell ran" in o.get("text", "") for o in outputs) == 1
    assert sum("further output of this cell was cut" in o.get("text", "") for o in outputs) == 1


def test_each_cell_publishes_one_unit_past_its_cap_then_nothing() -> None:
    """One unit past the cap, so that the runner sees the cell pass it and reports the cut."""
    budget = CellBudget()
    budget.set_caps(output_cap=10, total_cap=100)
    first, second = {"msg_id": "first"}, {"msg_id": "second"}
    assert [budget.take(first, 6), budget.take(first, 6), budget.take(first, 6)] == [6, 5, 0]
    assert budget.take(second, 4) == 4 and budget.take(first, 1) == 0  # per cell, whichever wrote last
    budget.set_caps(output_cap=100, total_cap=10)
    assert budget.take({"msg_id": "third"}, 50) == 11  # no cell may pass the notebook's cap either

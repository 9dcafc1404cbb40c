"""Per-cell time limits: quick cells get a short limit, the cells a unit names keep a long one.

The table is resolved from the SOURCE notebook (by grade id or tag) and applied by the runner through
nbclient's per-cell ``timeout_func``; the timeout message names the limit of the cell that was stopped.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import nbformat
import pytest
import yaml

from pipelines.errors import DeepgradeError
from pipelines.execute.cell_limits import CellTimeouts, resolve, unmatched
from pipelines.grade.batch import autograde
from pipelines.grade.unit import Unit
from tests.grading import toy
from tests.grading.conftest import REPO

SHORT, LONG = 3, 40
# quad is slow on the self-check's input only (the probes' random inputs stay fast): the self-check cell
# check_quad, which params name, then runs past the short limit.
SLOW_ON_THE_SELF_CHECK = f"""
import time
import numpy as np
def quad(x, w):
    if np.all(x == 1):
        time.sleep({SHORT + 2})
    return 0.5 * float(np.sum(w * x * x)), w * x
"""


def test_a_grade_id_wins_over_tags_and_the_longest_tag_wins() -> None:
    cells = [("a", ["slow"]), ("b", ["slow", "slower"]), ("c", []), (None, ["slow"])]
    table = resolve(5, {"slow": 50, "slower": 90, "a": 7}, cells)
    assert table.cells == {"a": 7, "b": 90}
    assert (table.of("a"), table.of("b"), table.of("c"), table.of(None)) == (7, 90, 5, 5)
    assert CellTimeouts.from_json(table.to_json()) == table


def test_the_runner_reads_the_limit_of_a_cell_by_its_grade_id() -> None:
    table = CellTimeouts(5, {"train": 90})
    train = nbformat.v4.new_code_cell("fit()", metadata={"nbgrader": {"grade_id": "train"}, "tags": ["anything"]})
    plain = nbformat.v4.new_code_cell("fit()", metadata={"tags": ["train"]})
    assert (table.for_cell(train), table.for_cell(plain)) == (90, 5)


def test_a_key_that_names_no_cell_is_reported() -> None:
    assert unmatched({"train", "tarin", "export"}, [("train", ["export"]), (None, ["tarin"])]) == ["tarin"]


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("cell-limits")
    base = yaml.safe_load((REPO / "params.yaml").read_text())
    toy.make_project(root, base, {"cell_timeout": SHORT, "cell_timeouts": {"check_quad": LONG}, "wall_seconds": 120,
                                  "probes": {"wall_seconds": 40}, "memory_mb": 2048})
    with toy.engine_at(root):
        yield root


def _slow_extra_cell(tags: list[str]):
    def mutate(nb: nbformat.NotebookNode) -> None:
        nb.cells.insert(3, nbformat.v4.new_code_cell(f"import time\ntime.sleep({LONG})", metadata={"tags": tags}))
    return mutate


@pytest.fixture(scope="module")
def graded(project: Path) -> tuple[Path, float]:
    toy.submission(project, "slow_self_check", body=SLOW_ON_THE_SELF_CHECK)
    toy.submission(project, "slow_extra_cell", mutate=_slow_extra_cell([]))
    toy.submission(project, "retagged_extra_cell", mutate=_slow_extra_cell(["check_quad"]))
    out = project / "graded"
    started = time.monotonic()
    assert autograde(toy.UNIT, project / "submitted", out, workers=2).failed == 0
    return out, time.monotonic() - started


def _results(out: Path, student: str) -> dict:
    return json.loads((out / student / "results.json").read_text())


def test_a_named_cell_keeps_its_long_limit(graded: tuple[Path, float]) -> None:
    r = _results(graded[0], "slow_self_check")
    assert (r["status"], r["score"]) == ("ok", 5), r["messages"]


def test_a_quick_cell_is_stopped_at_the_short_limit_which_the_message_names(graded: tuple[Path, float]) -> None:
    out, seconds = graded
    r = _results(out, "slow_extra_cell")
    assert r["status"] == "timeout"
    assert any(f"per-cell limit of {SHORT} s" in m and "cell 4" in m for m in r["messages"]), r["messages"]
    assert seconds < LONG, "the batch waited for the long limit: the short one was not applied"


def test_a_student_cannot_lengthen_a_limit_by_tagging_a_cell(graded: tuple[Path, float]) -> None:
    r = _results(graded[0], "retagged_extra_cell")
    assert r["status"] == "timeout" and any(f"per-cell limit of {SHORT} s" in m for m in r["messages"]), r["messages"]


def test_a_misspelt_cell_name_stops_the_batch_before_anything_runs(project: Path) -> None:
    params = yaml.safe_load((project / "params.yaml").read_text())
    params["units"][toy.UNIT]["sandbox"] = {"notebook": {"cell_timeouts": {"quad_impll": 60}}}
    (project / "params.yaml").write_text(yaml.safe_dump(params))
    from pipelines.params import _load

    _load.cache_clear()
    with pytest.raises(DeepgradeError, match="cell_timeouts names quad_impll"):
        Unit.load(toy.UNIT).cell_timeouts(f"{toy.UNIT}.ipynb")
    with pytest.raises(DeepgradeError, match="cell_timeouts names quad_impll"):
        autograde(toy.UNIT, project / "submitted", project / "graded-again", workers=1, use_cache=False)

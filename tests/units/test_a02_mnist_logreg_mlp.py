"""Unit a02 end to end: the generated example submissions, graded as `dvc repro` grades them, and the
notebook's visible self-checks on the source solution.

The data is an MNIST fixture written here in the official IDX format (through the real fetch and
prepare stages): ten random digit templates under pixel noise, so both models can learn them and the
test-error checks mean something. The profile resolves to ``ci`` (the fixture mirror declares its files
as subsets), so the ci thresholds of params.yaml apply. Each example student must get the status and
the partial score its defect deserves: the expectations are written per grader test, by name.
"""

from __future__ import annotations

import csv
import json
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import nbformat
import numpy as np
import pytest
import yaml

from pipelines.data.fetch import fetch
from pipelines.data.prepare import prepare
from pipelines.examples import make_examples
from pipelines.grade.batch import autograde
from pipelines.grade.notebook import grade_id, is_export
from tests.data import fixtures

REPO = Path(__file__).resolve().parents[2]
UNIT = "a02_mnist_logreg_mlp"
CELL_TIMEOUT = 20  # seconds; the fixture's slowest cell (the MLP's three epochs) takes about 2 s
TRAIN_ROWS, TEST_ROWS = 1800, 400  # 1,500 train and 300 validation rows after the 1/6 split


def learnable_mnist(root: Path, rng: np.random.Generator) -> None:
    """Official-format IDX files drawn around ten random 28x28 templates (a subset-declaring mirror)."""
    templates = rng.random((10, 28, 28)) < 0.3
    for images, labels, rows in (("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz", TRAIN_ROWS),
                                 ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz", TEST_ROWS)):
        y = rng.integers(0, 10, rows)
        pixels = 200 * templates[y] + rng.normal(0, 50, (rows, 28, 28))
        fixtures.write_idx_gz(root / "mnist" / images, np.clip(pixels, 0, 255))
        fixtures.write_idx_gz(root / "mnist" / labels, y)
    fixtures.write_manifest(root)


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A throwaway project holding a02, its MNIST fixture fetched and prepared; the environment points
    at it (so ``load_mnist()``, here and in a kernel started from here, reads the fixture)."""
    root = tmp_path_factory.mktemp("project")
    shutil.copytree(REPO / "assignments" / UNIT, root / "assignments" / UNIT)
    shutil.copytree(REPO / "reference", root / "reference", ignore=shutil.ignore_patterns("__pycache__"))
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    params["units"][UNIT]["sandbox"]["notebook"]["cell_timeout"] = CELL_TIMEOUT
    (root / "params.yaml").write_text(yaml.safe_dump(params))
    mirror = root / "mirror"
    learnable_mnist(mirror, np.random.default_rng(7))
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DEEPGRADE_ROOT", str(root))
        mp.setenv("DEEPGRADE_DATA_DIR", str(root / "data"))
        mp.setenv("DEEPGRADE_DATA_MIRROR", str(mirror))
        mp.delenv("DEEPGRADE_CACHE_DIR", raising=False)
        from pipelines.params import _load

        _load.cache_clear()
        fetch("mnist")
        prepare("mnist")
        yield root
        _load.cache_clear()


@pytest.fixture(scope="module")
def graded(project: Path) -> Path:
    """Grade the example submissions of a02 in the throwaway project; returns the output folder."""
    make_examples(UNIT, project / "submitted")
    assert autograde(UNIT, project / "submitted", project / "graded", workers=2).failed == 0
    return project / "graded"


def results(graded: Path, student: str) -> dict:
    return json.loads((graded / student / "results.json").read_text())


def failed(result: dict) -> set[str]:
    return {t["name"] for t in result["tests"] if t["points"] < t["max_points"]}


def test_every_example_gets_a_row_and_a_status(graded: Path) -> None:
    with open(graded / "grades.csv", newline="") as f:
        rows = {r["student_id"]: r["status"] for r in csv.DictReader(f)}
    assert rows == {"full": "ok", "half_done": "error", "wrong_gradient": "error",
                    "timeout": "timeout", "invalid_json": "invalid_notebook"}


def test_the_full_solution_gets_full_marks(graded: Path) -> None:
    r = results(graded, "full")
    assert r["score"] == r["max_score"] > 0, failed(r)
    errors = {t["name"]: t["message"] for t in r["tests"] if t["name"].endswith("test_error")}
    assert set(errors) == {"test_lr_test_error", "test_mlp_test_error"}
    assert all("allowed" in message for message in errors.values())


def test_half_done_keeps_the_logistic_regression_and_loses_the_mlp(graded: Path) -> None:
    r = results(graded, "half_done")
    mlp_tests = {t["name"] for t in r["tests"] if t["name"].startswith("test_mlp_")}
    # MLP.__init__ and get_params are given code: the initialisation check still passes.
    assert failed(r) == mlp_tests - {"test_mlp_init"}
    message = next(t["message"] for t in r["tests"] if t["name"] == "test_mlp_cost")
    assert "is not implemented yet" in message and "raise NotImplementedError()" in message
    assert 0 < r["score"] < r["max_score"]


def test_wrong_gradient_loses_exactly_the_gradient_checks(graded: Path) -> None:
    r = results(graded, "wrong_gradient")
    gradient_checks = {"test_mlp_gradients", "test_mlp_batch_of_one", "test_mlp_sgd_step", "test_mlp_own_numeric_gradient"}
    # Training with the wrong gradient may or may not cost test error; nothing else may be lost.
    assert gradient_checks <= failed(r) <= gradient_checks | {"test_mlp_test_error"}
    message = next(t["message"] for t in r["tests"] if t["name"] == "test_mlp_gradients")
    assert "dW1: relative error" in message and "tolerance" in message
    assert any("dW1 does not match the numeric gradient of your cost" in m for m in r["messages"])  # the notebook's own check


def test_endless_loop_times_out_and_keeps_what_was_exported(graded: Path) -> None:
    r = results(graded, "timeout")
    assert f"per-cell limit of {CELL_TIMEOUT} s" in r["messages"][0]
    source = nbformat.read(REPO / "assignments" / UNIT / f"{UNIT}.ipynb", as_version=4)
    position = 1 + next(i for i, c in enumerate(source.cells) if c.metadata.get("nbgrader", {}).get("grade_id") == "train_mlp")
    assert f"(cell {position}, the one starting `while True:" in r["messages"][0]
    # The classes are graded from the export cells; the predictions were never exported.
    assert failed(r) == {"test_lr_test_error", "test_mlp_test_error"}


def test_invalid_json_scores_nothing_and_says_why(graded: Path) -> None:
    r = results(graded, "invalid_json")
    assert (r["status"], r["score"]) == ("invalid_notebook", 0)
    assert "not a valid Jupyter notebook" in r["messages"][0]


def test_feedback_shows_no_solution_code(graded: Path) -> None:
    solution = "validation_error < best_validation_error * improvement_threshold"
    for student in ("full", "half_done", "wrong_gradient", "timeout", "invalid_json"):
        html = (graded / student / "feedback.html").read_text()
        assert solution not in html and "def test_" not in html


# The visible checks that test the export cells directly (the test-error checks need the training runs,
# which the graded examples above execute).
SELF_CHECKS = ("check_logistic_regression", "check_sgd_optimize", "check_hidden_layer", "check_mlp")
GLOBAL_STATES = range(4)
SECONDS = re.compile(r"\d+\.\d+ s\b")  # timings, the one thing a check may print differently


def test_self_checks_pass_the_solution_whatever_the_global_random_state(project: Path, tmp_path: Path) -> None:
    """Each visible check, run on the source solution after ``np.random.seed(k)`` for several ``k``,
    passes every time and prints the same every time: no check draws from numpy's global generator."""
    from nbclient import NotebookClient

    source = nbformat.read(project / "assignments" / UNIT / f"{UNIT}.ipynb", as_version=4)
    cells = {grade_id(cell): cell for cell in source.cells}
    nb = nbformat.v4.new_notebook(metadata=source.metadata)
    nb.cells = [cells["parameters"], cells["setup"], cells["load_data"], *filter(is_export, source.cells)]
    for k in GLOBAL_STATES:
        nb.cells.append(nbformat.v4.new_code_cell(f"np.random.seed({k})"))
        nb.cells.extend(nbformat.from_dict(dict(cells[check])) for check in SELF_CHECKS)
    for i, cell in enumerate(nb.cells):
        cell["id"] = f"cell-{i}"
    NotebookClient(nb, timeout=120, kernel_name="python3", allow_errors=True,
                   resources={"metadata": {"path": str(tmp_path)}}).execute()

    failures: list[str] = []
    printed: dict[str, set[str]] = {}
    for cell in nb.cells:
        check = grade_id(cell)
        if check not in SELF_CHECKS:
            continue
        failures += [f"{check}: {o.ename}: {o.evalue}" for o in cell.outputs if o.output_type == "error"]
        text = "".join(o.get("text", "") for o in cell.outputs if o.output_type == "stream")
        printed.setdefault(check, set()).add(SECONDS.sub("<t> s", text))
    assert failures == []
    assert {check: len(texts) for check, texts in printed.items()} == dict.fromkeys(SELF_CHECKS, 1)

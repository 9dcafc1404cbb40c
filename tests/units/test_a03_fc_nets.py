"""Unit a03 end to end: the generated example submissions, graded as `dvc repro` grades them, and the
notebook's visible self-checks on the source solution.

The data is a CIFAR-10 fixture written here in the official python-batch format (through the real
fetch and prepare stages): ten noisy class templates, so the networks can learn it and the accuracy
checks mean something. The profile resolves to ``ci`` (the fixture mirror declares its files as
subsets), so the ci thresholds of params.yaml apply. Each example student must get the status and the
partial score its defect deserves: the expectations are written per grader test, by name.
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
UNIT = "a03_fc_nets"
CELL_TIMEOUT = 60  # seconds; the fixture's slowest cells (training a network) take 5-15 s


def learnable_cifar(root: Path, rng: np.random.Generator) -> None:
    """Official-format batches (uneven sizes, like the mirror) drawn around ten class templates."""
    templates = rng.choice([-1.0, 1.0], size=(10, 3072))
    for name, rows in {**{f"data_batch_{i}": 230 + 10 * i for i in range(1, 6)}, "test_batch": 300}.items():
        labels = rng.integers(0, 10, rows)
        pixels = 128 + 10 * templates[labels] + rng.normal(0, 40, (rows, 3072))
        fixtures.write_cifar_batch(root / "cifar-10-batches-py" / name, np.clip(pixels, 0, 255), labels.tolist())
    fixtures.write_cifar_meta(root / "cifar-10-batches-py" / "batches.meta")
    fixtures.write_manifest(root)


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A throwaway project holding a03, its CIFAR-10 fixture fetched and prepared; the environment
    points at it (so ``load_cifar10()``, here and in a kernel started from here, reads the fixture)."""
    root = tmp_path_factory.mktemp("project")
    shutil.copytree(REPO / "assignments" / UNIT, root / "assignments" / UNIT)
    shutil.copytree(REPO / "reference", root / "reference", ignore=shutil.ignore_patterns("__pycache__"))
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    params["units"][UNIT]["sandbox"]["notebook"]["cell_timeout"] = CELL_TIMEOUT
    (root / "params.yaml").write_text(yaml.safe_dump(params))
    mirror = root / "mirror"
    learnable_cifar(mirror, np.random.default_rng(7))
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DEEPGRADE_ROOT", str(root))
        mp.setenv("DEEPGRADE_DATA_DIR", str(root / "data"))
        mp.setenv("DEEPGRADE_DATA_MIRROR", str(mirror))
        mp.delenv("DEEPGRADE_CACHE_DIR", raising=False)
        from pipelines.params import _load

        _load.cache_clear()
        fetch("cifar10")
        prepare("cifar10")
        yield root
        _load.cache_clear()


@pytest.fixture(scope="module")
def graded(project: Path) -> Path:
    """Grade the example submissions of a03 in the throwaway project; returns the output folder."""
    make_examples(UNIT, project / "submitted")
    assert autograde(UNIT, project / "submitted", project / "graded", workers=2).failed == 0
    return project / "graded"


def results(graded: Path, student: str) -> dict:
    return json.loads((graded / student / "results.json").read_text())


def failed(result: dict) -> set[str]:
    return {t["name"] for t in result["tests"] if t["points"] < t["max_points"]}


def in_cells(result: dict, cells: set[str]) -> set[str]:
    return {t["name"] for t in result["tests"] if t["cell"] in cells}


ACCURACY = {"test_shallow_net_test_accuracy", "test_fc_net_test_accuracy"}


def test_every_example_gets_a_row_and_a_status(graded: Path) -> None:
    with open(graded / "grades.csv", newline="") as f:
        rows = {r["student_id"]: r["status"] for r in csv.DictReader(f)}
    assert rows == {"full": "ok", "half_done": "error", "wrong_gradient": "error",
                    "timeout": "timeout", "invalid_json": "invalid_notebook"}


def test_the_full_solution_gets_full_marks(graded: Path) -> None:
    r = results(graded, "full")
    assert r["score"] == r["max_score"] > 0, failed(r)
    accuracy = {t["name"]: t["message"] for t in r["tests"] if t["name"] in ACCURACY}
    assert set(accuracy) == ACCURACY
    assert all("required" in message for message in accuracy.values())


def test_half_done_keeps_the_layers_and_loses_the_deep_network(graded: Path) -> None:
    r = results(graded, "half_done")
    lost = failed(r)
    # Everything of FullyConnectedNet is lost, and nothing before it.
    assert lost == in_cells(r, {"check_fc_net", "check_overfit", "fc_accuracy"})
    message = next(t["message"] for t in r["tests"] if t["name"] == "test_fc_net_gradients")
    # The probe worker names the innermost unfinished function (the constructor) and the read-only
    # adapter that called it.
    assert message.startswith("FullyConnectedNet.__init__ is not implemented yet (fully_connected_net_loss calls it)")
    assert 0 < r["score"] < r["max_score"]


def test_wrong_gradient_loses_exactly_the_gradient_checks(graded: Path) -> None:
    r = results(graded, "wrong_gradient")
    gradient_checks = {"test_fc_net_gradients", "test_fc_net_one_hidden_layer", "test_fc_net_batch_of_one",
                       "test_fc_net_own_numeric_gradient"}
    # Training with the wrong gradient may or may not cost test accuracy; nothing else may be lost.
    assert gradient_checks <= failed(r) <= gradient_checks | {"test_fc_net_test_accuracy"}
    message = next(t["message"] for t in r["tests"] if t["name"] == "test_fc_net_gradients")
    assert "grads['W" in message and "tolerance" in message
    assert any("disagrees with the numeric gradient" in m for m in r["messages"])  # the notebook's own check


def test_endless_loop_times_out_and_keeps_what_was_exported(graded: Path) -> None:
    r = results(graded, "timeout")
    assert f"per-cell limit of {CELL_TIMEOUT} s" in r["messages"][0]
    source = nbformat.read(REPO / "assignments" / UNIT / f"{UNIT}.ipynb", as_version=4)
    position = 1 + next(i for i, c in enumerate(source.cells) if grade_id(c) == "train_fc_net")
    assert f"(cell {position}, the one starting `while True:" in r["messages"][0]
    # The layers and models are graded from the export cells; the predictions were never exported.
    assert failed(r) == ACCURACY


def test_invalid_json_scores_nothing_and_says_why(graded: Path) -> None:
    r = results(graded, "invalid_json")
    assert (r["status"], r["score"]) == ("invalid_notebook", 0)
    assert "not a valid Jupyter notebook" in r["messages"][0]


def test_feedback_shows_no_solution_code(graded: Path) -> None:
    solution = "dx = dout * (x > 0)"
    for student in ("full", "half_done", "wrong_gradient", "timeout", "invalid_json"):
        html = (graded / student / "feedback.html").read_text()
        assert solution not in html and "def test_" not in html


# The visible checks that test the export cells directly (the others need the training runs, which
# the graded examples above execute).
SELF_CHECKS = ("check_affine_forward", "check_affine_backward", "check_relu_forward", "check_relu_backward",
               "check_affine_relu", "check_svm_loss", "check_softmax_loss", "check_shallow_layer_net", "check_fc_net")
GLOBAL_STATES = range(20)


def test_self_checks_pass_the_solution_whatever_the_global_random_state(project: Path, tmp_path: Path) -> None:
    """Each visible check, run on the source solution after ``np.random.seed(k)`` for 20 values of ``k``,
    passes every time and prints the same every time: the checks draw their data from generators of
    their own, and the initialisation checks (which do use the global generator, through the
    student's constructor) print nothing that depends on the draw."""
    from nbclient import NotebookClient

    source = nbformat.read(project / "assignments" / UNIT / f"{UNIT}.ipynb", as_version=4)
    cells = {grade_id(cell): cell for cell in source.cells}
    nb = nbformat.v4.new_notebook(metadata=source.metadata)
    nb.cells = [cells["parameters"], cells["setup"], *filter(is_export, source.cells)]
    for k in GLOBAL_STATES:
        nb.cells.append(nbformat.v4.new_code_cell(f"np.random.seed({k})"))
        nb.cells.extend(nbformat.from_dict(dict(cells[check])) for check in SELF_CHECKS)
    for i, cell in enumerate(nb.cells):
        cell["id"] = f"cell-{i}"
    NotebookClient(nb, timeout=120, kernel_name="python3", allow_errors=True,
                   resources={"metadata": {"path": str(tmp_path)}}).execute()

    failures, printed = [], {}
    for cell in nb.cells:
        check = grade_id(cell)
        if check not in SELF_CHECKS:
            continue
        failures += [f"{check}: {o.ename}: {o.evalue}" for o in cell.outputs if o.output_type == "error"]
        text = "".join(o.get("text", "") for o in cell.outputs if o.output_type == "stream")
        printed.setdefault(check, set()).add(re.sub(r"\d+\.\d+ s\b", "<t> s", text))
    assert failures == []
    assert {check: len(texts) for check, texts in printed.items()} == dict.fromkeys(SELF_CHECKS, 1)

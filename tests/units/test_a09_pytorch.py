"""Unit a09 end to end: the generated example submissions, graded as `dvc repro` grades them, the
notebook's visible self-checks on the source solution, and the `Graded:` line of every graded cell.

When `dvc repro` graded the checkout as it is now (CI), the tests read its outputs: the course's real
data (harness.graded_examples). Otherwise the data is the harness's MNIST fixture (ten random digit
templates under pixel noise, official IDX format, through the real fetch and prepare stages), which
both models learn, so the accuracy checks mean something; the profile resolves to ``ci``. Each example
student must get the status and the partial score its defect deserves: the expectations are written
per grader test, by name. Everything runs on the CPU (the unit's GPU checks are `not_run` here).
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable
from pathlib import Path

import nbformat

from pipelines.grade.api import declared_probes
from pipelines.grade.notebook import grade_id, is_autograded_test
from pipelines.grade.unit import Unit, _grader_module
from tests.units import harness

REPO = Path(__file__).resolve().parents[2]
UNIT = "a09_pytorch"
SOURCE = REPO / "assignments" / UNIT / f"{UNIT}.ipynb"


DATASETS = ("mnist",)
project = harness.project_fixture(UNIT, DATASETS)
graded = harness.graded_fixture(UNIT, DATASETS)


# The trained-model checks: they need the notebook's training runs (exported predictions).
TRAINED_CELLS = {"softmax_accuracy", "cnn_accuracy"}
GPU_CHECKS = {"test_cnn_on_the_gpu_agrees_with_the_cpu", "test_cnn_training_step_time_on_the_gpu"}


def test_every_example_gets_a_row_and_a_status(graded: Path) -> None:
    harness.assert_every_example_has_its_status(graded)


def test_the_full_solution_gets_full_marks_and_the_gpu_checks_do_not_run(graded: Path) -> None:
    r = harness.results(graded, "full")
    assert r["score"] == r["max_score"] == 46, harness.failed(r)
    trained = {t["name"]: t["message"] for t in r["tests"] if t["cell"] in TRAINED_CELLS and t["name"] not in GPU_CHECKS}
    assert set(trained) == {"test_softmax_regression_test_accuracy", "test_cnn_test_accuracy"}
    assert all("test accuracy" in message for message in trained.values())  # a passing check says what it measured
    gpu = {t["name"]: (t["status"], t["points"], t["max_points"]) for t in r["tests"] if t["name"] in GPU_CHECKS}
    assert gpu == dict.fromkeys(GPU_CHECKS, ("not_run", 0, 0))


def test_half_done_keeps_the_step_and_softmax_regression_and_loses_the_cnn(graded: Path) -> None:
    r = harness.results(graded, "half_done")
    # MnistCNN, its training and numpy_cnn_forward are stubs: their checks and the CNN's accuracy are
    # lost; train_step, softmax regression (trained and exported before the CNN) keep every point.
    assert harness.failed(r) == harness.in_cells(r, {"check_cnn", "cnn_accuracy", "check_numpy_forward"}) - GPU_CHECKS
    message = next(t["message"] for t in r["tests"] if t["name"] == "test_cnn_logits")
    assert message.startswith("MnistCNN.__init__ is not implemented yet")
    assert r["score"] == 8 + 5 + 6 + 3


def test_wrong_gradient_loses_the_step_and_what_it_trained(graded: Path) -> None:
    r = harness.results(graded, "wrong_gradient")
    # train_step never clears the gradients: the first call is right, the second and third are not; both
    # models train on summed gradients. The modules, the loss and the numpy forward pass keep their points.
    # What the trained models lose depends on the data: on the course's MNIST softmax regression falls
    # below its bar (36/46, dvc repro 2026-12-08); the harness's digit templates are learnt all the same.
    lost = harness.failed(r)
    assert {"test_train_step_updates_like_the_reference", "test_train_step_returns_the_loss_before_the_update"} <= lost
    assert lost <= {"test_train_step_updates_like_the_reference", "test_train_step_returns_the_loss_before_the_update",
                    "test_softmax_regression_test_accuracy", "test_cnn_test_accuracy"}, lost
    message = next(t["message"] for t in r["tests"] if t["name"] == "test_train_step_updates_like_the_reference")
    assert message.startswith("train_step: W after call 2 of 3") and "tolerance" in message
    assert any("are the gradients cleared before each step?" in m for m in r["messages"])  # the notebook's own check


def test_endless_loop_times_out_and_keeps_what_was_exported(graded: Path) -> None:
    r = harness.stopped_in(graded, UNIT, "plot_softmax")
    # Everything is graded from the export cells; nothing trained was exported.
    assert harness.failed(r) == harness.in_cells(r, TRAINED_CELLS) - GPU_CHECKS


def test_invalid_json_scores_nothing_and_says_why(graded: Path) -> None:
    harness.assert_invalid_json_scores_nothing(graded)


def test_feedback_shows_no_solution_code(graded: Path) -> None:
    harness.assert_feedback_hides(graded, "x = self.dropout(F.relu(self.fc1(x.flatten(1))))")


# The visible checks that test the export cells directly (the others need the training runs, which
# the graded examples above execute).
SELF_CHECKS = ("check_train_step", "check_softmax_regression", "check_mnist_loss", "check_cnn", "check_numpy_forward")
SLOW_CHECKS = ("check_train_step", "check_cnn")  # over a second each: harness.FEW_STATES states
GLOBAL_STATES = range(10)


def test_self_checks_pass_the_solution_whatever_the_global_random_state(project: Path, tmp_path: Path) -> None:
    """Each visible check, run on the source solution after ``np.random.seed(k)`` for 10 values of ``k``
    (torch's global generator moves on from check to check: MnistCNN() draws 3.3 M numbers), passes every
    time and prints the same every time: the checks draw their data from generators of their own, and
    the statistics they print of randomly initialised weights are stable to the digits printed."""
    failures, printed = harness.self_checks_over_global_states(project, UNIT, SELF_CHECKS, GLOBAL_STATES, tmp_path,
                                                               slow=SLOW_CHECKS)
    assert failures == []
    assert {check: len(texts) for check, texts in printed.items()} == dict.fromkeys(SELF_CHECKS, 1)


GRADED = re.compile(r"^# Graded: (.+)$", re.MULTILINE)


class _Read(Exception):
    """Raised by the stand-in fixtures below once a test has named what it reads."""


def _noting(into: set[str], translate: Callable[[str], str]) -> Callable[..., None]:
    """A stand-in for the ``result`` or ``exported`` fixture: notes the name asked for, then stops the test."""
    def read(what: str, *_: object) -> None:
        into.add(translate(what))
        raise _Read
    return read


def _first_reads() -> dict[str, tuple[set[str], set[str]]]:
    """Per graded cell, the exported names the probes of its tests call and the notebook exports they
    score: each test worth points runs on stand-in fixtures that note the first probe or export it asks
    for and stop it there (the probes of one test all call the same name)."""
    unit = Unit.load(UNIT)
    calls = {p.name: p.call for path in unit.graders_dir.glob("test_*.py") for p in declared_probes(_grader_module(path))}
    reads: dict[str, tuple[set[str], set[str]]] = {}
    for path in sorted(unit.graders_dir.glob("test_*.py")):
        for name, test in vars(_grader_module(path)).items():
            mark = next((m for m in getattr(test, "pytestmark", []) if m.name == "points"), None)
            if not name.startswith("test_") or mark is None or not mark.kwargs.get("value"):
                continue
            probes, exports = reads.setdefault(mark.kwargs["cell"], (set(), set()))
            fixtures = {"result": _noting(probes, calls.__getitem__), "exported": _noting(exports, str)}
            try:
                test(**{arg: fixtures.get(arg, lambda *_: None) for arg in inspect.signature(test).parameters})
            except _Read:
                continue
            raise AssertionError(f"{name} read no probe and no export")
    return reads


def test_each_graded_cell_names_what_its_points_are_for() -> None:
    """Issue #21: every graded self-check starts with `# Graded: ...`; the exported functions it names are
    those its hidden tests call (their probes' main function), and a cell of a trained model names the
    export its tests score."""
    reads = _first_reads()
    exported_names = {"train_step", "SoftmaxRegression", "mnist_loss", "MnistCNN", "numpy_cnn_forward"}
    cells = [cell for cell in nbformat.read(SOURCE, as_version=4).cells if is_autograded_test(cell)]
    assert {grade_id(cell) for cell in cells} == set(reads)
    for cell in cells:
        line = GRADED.match(cell.source)
        assert line, f"{grade_id(cell)} does not start with a `# Graded:` line"
        named = set(re.findall(r"\w+", line.group(1)))
        probes, exports = reads[grade_id(cell)]
        assert (named & exported_names, exports & named) == (probes, exports), grade_id(cell)

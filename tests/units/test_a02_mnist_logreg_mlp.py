"""Unit a02 end to end: the generated example submissions, graded as `dvc repro` grades them, and the
notebook's visible self-checks on the source solution.

When `dvc repro` graded the checkout as it is now (CI), the tests read its outputs: the course's real
data (harness.graded_examples). Otherwise the data is an MNIST fixture written here in the official IDX
format (through the real fetch and prepare stages): ten random digit templates under pixel noise, so
both models can learn them and the test-error checks mean something. The profile resolves to ``ci`` (the
fixture mirror declares its files as subsets), so the ci thresholds of params.yaml apply. Each example
student must get the status and the partial score its defect deserves: the expectations are written per
grader test, by name.
"""

from __future__ import annotations

from pathlib import Path

from tests.units import harness

REPO = Path(__file__).resolve().parents[2]
UNIT = "a02_mnist_logreg_mlp"


DATASETS = ("mnist",)
project = harness.project_fixture(UNIT, DATASETS)
graded = harness.graded_fixture(UNIT, DATASETS)


def test_every_example_gets_a_row_and_a_status(graded: Path) -> None:
    harness.assert_every_example_has_its_status(graded)


def test_the_full_solution_gets_full_marks(graded: Path) -> None:
    r = harness.results(graded, "full")
    assert r["score"] == r["max_score"] > 0, harness.failed(r)
    errors = {t["name"]: t for t in r["tests"] if t["name"].endswith("test_error")}
    assert set(errors) == {"test_lr_test_error", "test_mlp_test_error"}
    assert all(t["status"] == "passed" and "allowed" in t["message"] for t in errors.values())
    # The logistic regression's training cell is given: its test error is a note worth no points.
    assert (errors["test_lr_test_error"]["max_points"], errors["test_mlp_test_error"]["max_points"]) == (0, 2)


def test_half_done_keeps_the_logistic_regression_and_loses_the_mlp(graded: Path) -> None:
    r = harness.results(graded, "half_done")
    mlp_tests = {t["name"] for t in r["tests"] if t["name"].startswith("test_mlp_")}
    # Every MLP check is lost (no points for the given constructor); nothing of the other classes is.
    assert harness.failed(r) == mlp_tests
    message = next(t["message"] for t in r["tests"] if t["name"] == "test_mlp_cost")
    assert "is not implemented yet" in message and "raise NotImplementedError()" in message
    assert 0 < r["score"] < r["max_score"]


def test_wrong_gradient_loses_exactly_the_gradient_checks(graded: Path) -> None:
    r = harness.results(graded, "wrong_gradient")
    # The numeric-gradient check looks at dW2 (whose path avoids the hidden layer), so it keeps its point.
    gradient_checks = {"test_mlp_gradients", "test_mlp_batch_of_one", "test_mlp_sgd_step"}
    # Training with the wrong gradient may or may not cost test error; nothing else may be lost.
    assert gradient_checks <= harness.failed(r) <= gradient_checks | {"test_mlp_test_error"}
    message = next(t["message"] for t in r["tests"] if t["name"] == "test_mlp_gradients")
    assert "dW1 (with your own HiddenLayer, or the reference one): relative error" in message and "tolerance" in message
    assert any("dW1 does not match the numeric gradient of your cost" in m for m in r["messages"])  # the notebook's own check


def test_endless_loop_times_out_and_keeps_what_was_exported(graded: Path) -> None:
    r = harness.stopped_in(graded, UNIT, "train_mlp")
    # The classes are graded from the export cells; the predictions were never exported (the logistic
    # regression's test error is a note: it fails for no points).
    assert harness.failed(r) == {"test_mlp_test_error"}
    assert next(t["status"] for t in r["tests"] if t["name"] == "test_lr_test_error") == "failed"


def test_invalid_json_scores_nothing_and_says_why(graded: Path) -> None:
    harness.assert_invalid_json_scores_nothing(graded)


def test_feedback_shows_no_solution_code(graded: Path) -> None:
    harness.assert_feedback_hides(graded, "validation_error < best_validation_error * improvement_threshold")


# The visible checks that test the export cells directly (the test-error checks need the training runs,
# which the graded examples above execute).
SELF_CHECKS = ("check_logistic_regression", "check_sgd_optimize", "check_hidden_layer", "check_mlp")
GLOBAL_STATES = range(4)


def test_self_checks_pass_the_solution_whatever_the_global_random_state(project: Path, tmp_path: Path) -> None:
    """Each visible check, run on the source solution after ``np.random.seed(k)`` for several ``k``,
    passes every time and prints the same every time: no check draws from numpy's global generator."""
    failures, printed = harness.self_checks_over_global_states(project, UNIT, SELF_CHECKS, GLOBAL_STATES, tmp_path,
                                                               before=("parameters", "setup", "load_data"))
    assert failures == []
    assert {check: len(texts) for check, texts in printed.items()} == dict.fromkeys(SELF_CHECKS, 1)

"""Unit a04 end to end: the generated example submissions, graded as `dvc repro` grades them, and the
notebook's visible self-checks on the source solution.

When `dvc repro` graded the checkout as it is now (CI), the tests read its outputs: the course's real
data (harness.graded_examples). Otherwise the data is the harness's learnable CIFAR-10 fixture (ten
noisy class templates, profile ``ci``), so the trained network clears the ci test-accuracy threshold.
The networks do not overfit it (the validation accuracy is about the training accuracy), so the dropout
experiment's gap check passes there by its "nothing to narrow" rule, and its other check (the network
without dropout fits its 500 images) applies. Each example student must get the status and the partial
score its defect deserves: the expectations are written per grader test, by name.
"""

from __future__ import annotations

from pathlib import Path

from tests.units import harness

REPO = Path(__file__).resolve().parents[2]
UNIT = "a04_regularization"

TRAINER = {"test_trainer_losses_follow_sgd_with_decay", "test_trainer_epochs_and_checks",
           "test_trainer_keeps_the_best_parameters", "test_trainer_keeps_parameters_when_validation_never_rises",
           "test_trainer_check_accuracy"}
EXPERIMENT = {"test_experiment_overfits_without_dropout", "test_experiment_dropout_narrows_the_gap"}
ACCURACY = {"test_best_model_test_accuracy"}


DATASETS = ("cifar10",)
project = harness.project_fixture(UNIT, DATASETS)
graded = harness.graded_fixture(UNIT, DATASETS)


def test_every_example_gets_a_row_and_a_status(graded: Path) -> None:
    harness.assert_every_example_has_its_status(graded)


def test_the_full_solution_gets_full_marks(graded: Path) -> None:
    r = harness.results(graded, "full")
    assert r["score"] == r["max_score"] > 0, harness.failed(r)
    notes = {t["name"]: t["message"] for t in r["tests"] if t["name"] in ACCURACY | EXPERIMENT}
    assert set(notes) == ACCURACY | EXPERIMENT
    # The dropout experiment is given: its checks are notes worth no points.
    assert {t["name"] for t in r["tests"] if t["max_points"] == 0} == EXPERIMENT
    assert "required" in notes["test_best_model_test_accuracy"]
    assert "train - validation gap" in notes["test_experiment_dropout_narrows_the_gap"]


def test_half_done_keeps_dropout_the_network_and_sgd(graded: Path) -> None:
    r = harness.results(graded, "half_done")
    # The Trainer is a stub: its own checks fail, and so does everything trained with it (the best network,
    # whose cell raises; the experiment's notes fail for no points); dropout, the network and sgd keep
    # their points.
    assert harness.failed(r) == TRAINER | ACCURACY
    assert harness.failed(r) == harness.in_cells(r, {"check_trainer", "best_accuracy"})
    assert {t["status"] for t in r["tests"] if t["name"] in EXPERIMENT} == {"failed"}
    message = next(t["message"] for t in r["tests"] if t["name"] == "test_trainer_keeps_the_best_parameters")
    assert message.startswith("Trainer.")
    assert "not implemented yet" in message
    assert 0 < r["score"] < r["max_score"]


def test_wrong_gradient_loses_exactly_the_dropout_gradient_checks(graded: Path) -> None:
    r = harness.results(graded, "wrong_gradient")
    # The book's bug only matters with dropout AND reg > 0 (the dropout probes of the network): the
    # Trainer probes, the experiment and the best network use reg = 0, so nothing else is lost.
    assert harness.failed(r) == {"test_fc_dropout_loss_and_gradients", "test_fc_dropout_own_numeric_gradient",
                                 "test_fc_without_dropout_and_batch_of_one"}
    message = next(t["message"] for t in r["tests"] if t["name"] == "test_fc_dropout_loss_and_gradients")
    assert "grads['W" in message and "tolerance" in message
    assert any("disagrees with the numeric gradient" in m for m in r["messages"])  # the notebook's own check


def test_endless_loop_times_out_and_keeps_what_was_exported(graded: Path) -> None:
    r = harness.stopped_in(graded, UNIT, "train_best")
    # Everything is graded from the export cells, except what the results cell never exported (the
    # experiment's notes fail too, for no points).
    assert harness.failed(r) == ACCURACY
    assert {t["status"] for t in r["tests"] if t["name"] in EXPERIMENT} == {"failed"}


def test_invalid_json_scores_nothing_and_says_why(graded: Path) -> None:
    harness.assert_invalid_json_scores_nothing(graded)


def test_feedback_shows_no_solution_code(graded: Path) -> None:
    harness.assert_feedback_hides(graded, "if val_acc > self.best_val_acc or not self.best_params:")


# The visible checks that test the export cells directly (the others need the training runs, which
# the graded examples above execute).
SELF_CHECKS = ("check_dropout_forward", "check_dropout_backward", "check_fc_net", "check_sgd", "check_trainer")
SLOW_CHECKS = ("check_fc_net",)  # over a second each: harness.FEW_STATES states
GLOBAL_STATES = range(10)


def test_self_checks_pass_the_solution_whatever_the_global_random_state(project: Path, tmp_path: Path) -> None:
    """Each visible check, run on the source solution after ``np.random.seed(k)`` for 10 values of ``k``,
    passes every time and prints the same every time: the checks seed numpy's global generator or
    draw from generators of their own."""
    failures, printed = harness.self_checks_over_global_states(project, UNIT, SELF_CHECKS, GLOBAL_STATES, tmp_path, slow=SLOW_CHECKS)
    assert failures == []
    assert {check: len(texts) for check, texts in printed.items()} == dict.fromkeys(SELF_CHECKS, 1)

"""Unit a03 end to end: the generated example submissions, graded as `dvc repro` grades them, and the
notebook's visible self-checks on the source solution.

When `dvc repro` graded the checkout as it is now (CI), the tests read its outputs: the course's real
data (harness.graded_examples). Otherwise the data is a CIFAR-10 fixture written here in the official
python-batch format (through the real fetch and prepare stages): ten noisy class templates, so the
networks can learn it and the accuracy checks mean something. The profile resolves to ``ci`` (the
fixture mirror declares its files as subsets), so the ci thresholds of params.yaml apply. Each example
student must get the status and the partial score its defect deserves: the expectations are written per
grader test, by name.
"""

from __future__ import annotations

from pathlib import Path

from tests.units import harness

REPO = Path(__file__).resolve().parents[2]
UNIT = "a03_fc_nets"


DATASETS = ("cifar10",)
project = harness.project_fixture(UNIT, DATASETS)
graded = harness.graded_fixture(UNIT, DATASETS)


ACCURACY = {"test_shallow_net_test_accuracy", "test_fc_net_test_accuracy"}


def test_every_example_gets_a_row_and_a_status(graded: Path) -> None:
    harness.assert_every_example_has_its_status(graded)


def test_the_full_solution_gets_full_marks(graded: Path) -> None:
    r = harness.results(graded, "full")
    assert r["score"] == r["max_score"] > 0, harness.failed(r)
    accuracy = {t["name"]: t for t in r["tests"] if t["name"] in ACCURACY}
    assert set(accuracy) == ACCURACY
    assert all(t["status"] == "passed" and "required" in t["message"] for t in accuracy.values())
    # The given ShallowLayerNet run is a note worth no points; the network the student tuned is scored.
    assert (accuracy["test_shallow_net_test_accuracy"]["max_points"], accuracy["test_fc_net_test_accuracy"]["max_points"]) == (0, 2)


def test_half_done_keeps_the_layers_and_loses_the_deep_network(graded: Path) -> None:
    r = harness.results(graded, "half_done")
    lost = harness.failed(r)
    # Everything of FullyConnectedNet is lost, and nothing before it.
    assert lost == harness.in_cells(r, {"check_fc_net", "fc_accuracy"})
    message = next(t["message"] for t in r["tests"] if t["name"] == "test_fc_net_gradients")
    # The chained probe names the unfinished function the grader called.
    assert message.startswith("FullyConnectedNet.__init__ is not implemented yet")
    assert 0 < r["score"] < r["max_score"]


def test_wrong_gradient_loses_exactly_the_gradient_checks(graded: Path) -> None:
    r = harness.results(graded, "wrong_gradient")
    gradient_checks = {"test_fc_net_gradients", "test_fc_net_one_hidden_layer", "test_fc_net_batch_of_one",
                       "test_fc_net_own_numeric_gradient"}
    # Training with the wrong gradient may or may not cost test accuracy; nothing else may be lost.
    assert gradient_checks <= harness.failed(r) <= gradient_checks | {"test_fc_net_test_accuracy"}
    message = next(t["message"] for t in r["tests"] if t["name"] == "test_fc_net_gradients")
    assert "grads['W" in message and "tolerance" in message
    assert any("disagrees with the numeric gradient" in m for m in r["messages"])  # the notebook's own check


def test_endless_loop_times_out_and_keeps_what_was_exported(graded: Path) -> None:
    r = harness.stopped_in(graded, UNIT, "train_fc_net")
    # The layers and models are graded from the export cells; the predictions were never exported (the
    # given ShallowLayerNet run's note fails too, for no points).
    assert harness.failed(r) == {"test_fc_net_test_accuracy"}
    assert next(t["status"] for t in r["tests"] if t["name"] == "test_shallow_net_test_accuracy") == "failed"


def test_invalid_json_scores_nothing_and_says_why(graded: Path) -> None:
    harness.assert_invalid_json_scores_nothing(graded)


def test_feedback_shows_no_solution_code(graded: Path) -> None:
    harness.assert_feedback_hides(graded, "dx = dout * (x > 0)")


# The visible checks that test the export cells directly (the others need the training runs, which
# the graded examples above execute).
SELF_CHECKS = ("check_affine_forward", "check_affine_backward", "check_relu_forward", "check_relu_backward",
               "check_affine_relu", "check_svm_loss", "check_softmax_loss", "check_shallow_layer_net", "check_fc_net")
SLOW_CHECKS = ("check_fc_net",)  # over a second each: harness.FEW_STATES states
GLOBAL_STATES = range(20)


def test_self_checks_pass_the_solution_whatever_the_global_random_state(project: Path, tmp_path: Path) -> None:
    """Each visible check, run on the source solution after ``np.random.seed(k)`` for 20 values of ``k``,
    passes every time and prints the same every time: the checks draw their data from generators of
    their own, and the initialisation checks (which do use the global generator, through the
    student's constructor) print nothing that depends on the draw."""
    failures, printed = harness.self_checks_over_global_states(project, UNIT, SELF_CHECKS, GLOBAL_STATES, tmp_path, slow=SLOW_CHECKS)
    assert failures == []
    assert {check: len(texts) for check, texts in printed.items()} == dict.fromkeys(SELF_CHECKS, 1)

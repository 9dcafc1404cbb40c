"""Unit a05 end to end: the generated example submissions, graded as `dvc repro` grades them, and the
notebook's visible self-checks on the source solution.

When `dvc repro` graded the checkout as it is now (CI), the tests read its outputs: the course's real
data (harness.graded_examples). Otherwise the data is the harness's learnable CIFAR-10 fixture (ten
noisy class templates, official format, through the real fetch and prepare stages), so the trained-model
checks mean something; the profile resolves to ``ci``. Each example student must get the status and the
partial score its defect deserves: the expectations are written per grader test, by name.
"""

from __future__ import annotations

import re
from pathlib import Path

from tests.units import harness

REPO = Path(__file__).resolve().parents[2]
UNIT = "a05_optimization"


DATASETS = ("cifar10",)
project = harness.project_fixture(UNIT, DATASETS)
graded = harness.graded_fixture(UNIT, DATASETS)


# The trained-model checks: they need the notebook's training runs (exported predictions). They are
# zero-point notes (issue #21: the experiments are given cells).
TRAINED_CELLS = {"rules_accuracy", "bn_accuracy"}


def notes(result: dict) -> dict[str, str]:
    """The zero-point notes of the trained models: test name -> status."""
    return {t["name"]: t["status"] for t in result["tests"] if t["cell"] in TRAINED_CELLS}


def test_every_example_gets_a_row_and_a_status(graded: Path) -> None:
    harness.assert_every_example_has_its_status(graded)


def test_the_full_solution_gets_full_marks(graded: Path) -> None:
    r = harness.results(graded, "full")
    assert r["score"] == r["max_score"] > 0, harness.failed(r)
    trained = {t["name"]: t for t in r["tests"] if t["cell"] in TRAINED_CELLS}
    assert len(trained) == 3 and all(t["max_points"] == 0 for t in trained.values())
    # A passing trained-model note reports what it measured.
    assert all(t["status"] == "passed" and "accuracy" in t["message"] for t in trained.values())


def test_half_done_keeps_the_rules_and_the_layer_and_loses_the_rest(graded: Path) -> None:
    r = harness.results(graded, "half_done")
    lost = harness.failed(r)
    # The closed-form backward pass and the network are lost; the update rules, batchnorm_forward and
    # the staged backward pass keep every point. Nothing was trained (the network is not written), so
    # the notes of the experiments fail, for no points.
    assert lost == harness.in_cells(r, {"check_batchnorm_backward_alt", "check_fc_net"})
    assert set(notes(r).values()) == {"failed"}
    message = next(t["message"] for t in r["tests"] if t["name"] == "test_bn_net_gradients")
    assert message.startswith("FullyConnectedNet.__init__ is not implemented yet")
    assert 0 < r["score"] < r["max_score"]


def test_wrong_gradient_loses_exactly_the_staged_backward_checks(graded: Path) -> None:
    r = harness.results(graded, "wrong_gradient")
    # The network uses the closed form, so training and everything else is untouched.
    assert harness.failed(r) == {"test_backward_gradients", "test_backward_own_numeric_gradient"}
    message = next(t["message"] for t in r["tests"] if t["name"] == "test_backward_gradients")
    assert message.startswith("batchnorm_backward: dx") and "tolerance" in message
    assert any("disagrees with the numeric gradient" in m for m in r["messages"])  # the notebook's own check


def test_endless_loop_times_out_and_keeps_what_was_exported(graded: Path) -> None:
    r = harness.stopped_in(graded, UNIT, "plot_rules")
    # The rules, layers and network are graded from the export cells and keep every point; the loop
    # comes after the training runs but before the results cell, so the experiments' notes fail.
    assert harness.failed(r) == set()
    assert set(notes(r).values()) == {"failed"}


def test_invalid_json_scores_nothing_and_says_why(graded: Path) -> None:
    harness.assert_invalid_json_scores_nothing(graded)


def test_feedback_shows_no_solution_code(graded: Path) -> None:
    harness.assert_feedback_hides(graded, "dx = gamma / (N * sqrtvar) * (N * dout - dbeta - xhat * dgamma)")


# The visible checks that test the export cells directly (the others need the training runs, which
# the graded examples above execute).
SELF_CHECKS = ("check_sgd_momentum", "check_rmsprop", "check_adam", "check_batchnorm_forward",
               "check_batchnorm_backward", "check_batchnorm_backward_alt", "check_fc_net")
SLOW_CHECKS = ("check_fc_net",)  # over a second each: harness.FEW_STATES states
GLOBAL_STATES = range(10)
# Timings vary from run to run: masked before the printed text is compared.
TIMINGS = re.compile(r"\d+\.\d+ (ms|s)\b|speed-up \d+\.\d+x")


def test_self_checks_pass_the_solution_whatever_the_global_random_state(project: Path, tmp_path: Path) -> None:
    """Each visible check, run on the source solution after ``np.random.seed(k)`` for 10 values of ``k``,
    passes every time and prints the same every time (timings aside): the checks draw their data from
    generators of their own and assign every parameter they use."""
    failures, printed = harness.self_checks_over_global_states(project, UNIT, SELF_CHECKS, GLOBAL_STATES, tmp_path,
                                                               mask=TIMINGS, slow=SLOW_CHECKS)
    assert failures == []
    assert {check: len(texts) for check, texts in printed.items()} == dict.fromkeys(SELF_CHECKS, 1)

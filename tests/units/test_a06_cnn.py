"""Unit a06 end to end: the generated example submissions, graded as `dvc repro` grades them, and the
notebook's visible self-checks on the source solution.

When `dvc repro` graded the checkout as it is now (CI), the tests read its outputs: the course's real
data (harness.graded_examples). Otherwise the data are the harness's learnable CIFAR-10 and MNIST
fixtures (noisy class templates, official formats, through the real fetch and prepare stages), so the
trained-model checks mean something; the profile resolves to ``ci``. Each example student must get the
status and the partial score its defect deserves: the expectations are written per grader test, by name.
"""

from __future__ import annotations

import re
from pathlib import Path

from tests.units import harness

REPO = Path(__file__).resolve().parents[2]
UNIT = "a06_cnn"
DATASETS = ("cifar10", "mnist")


project = harness.project_fixture(UNIT, DATASETS)
graded = harness.graded_fixture(UNIT, DATASETS)


# The trained-model checks: they need the notebook's training runs (exported predictions).
TRAINED_CELLS = {"convnet_accuracy", "lenet_accuracy", "network3_accuracy"}


def test_every_example_gets_a_row_and_a_status(graded: Path) -> None:
    harness.assert_every_example_has_its_status(graded)


def test_the_full_solution_gets_full_marks(graded: Path) -> None:
    r = harness.results(graded, "full")
    assert r["score"] == r["max_score"] == 99, harness.failed(r)
    trained = {t["name"]: t["message"] for t in r["tests"] if t["cell"] in TRAINED_CELLS}
    assert len(trained) == 3
    # A passing trained-model check reports what it measured; the speed check its figures.
    assert all("test images" in message for message in trained.values())
    speed = next(t["message"] for t in r["tests"] if t["name"] == "test_conv_fast_speed")
    assert "speed-up" in speed and "course's fast version" in speed


def test_half_done_loses_the_sandwich_the_convnet_and_its_training(graded: Path) -> None:
    r = harness.results(graded, "half_done")
    # conv_relu_pool and ThreeLayerConvNet are stubs: their checks, the overfitting check and the CIFAR-10
    # accuracy are lost; the layers, spatial batch normalization and both MNIST networks keep every point.
    lost = harness.failed(r)
    assert lost == harness.in_cells(r, {"check_conv_relu_pool", "check_three_layer_convnet", "check_overfit",
                                        "convnet_accuracy"})
    message = next(t["message"] for t in r["tests"] if t["name"] == "test_convnet_init")
    assert message.startswith("ThreeLayerConvNet.__init__ is not implemented yet")
    assert 0 < r["score"] < r["max_score"]


def test_wrong_gradient_loses_exactly_the_naive_backward_checks(graded: Path) -> None:
    r = harness.results(graded, "wrong_gradient")
    # conv_backward_naive is used nowhere else (the networks use the fast layers), and the speed check
    # needs only the naive pair's time once its values are wrong.
    assert harness.failed(r) == {"test_conv_backward_naive_gradients", "test_conv_backward_naive_own_numeric",
                                 "test_conv_backward_naive_float32", "test_conv_backward_naive_leaves_dout"}
    message = next(t["message"] for t in r["tests"] if t["name"] == "test_conv_backward_naive_gradients")
    assert message.startswith("conv_backward_naive: dx") and "tolerance" in message
    assert any("disagrees with the numeric gradient" in m for m in r["messages"])  # the notebook's own check


def test_endless_loop_times_out_and_keeps_what_was_exported(graded: Path) -> None:
    r = harness.stopped_in(graded, UNIT, "train_network3")
    # The layers and networks are graded from the export cells; the results cell never ran.
    assert harness.failed(r) == harness.in_cells(r, TRAINED_CELLS)


def test_invalid_json_scores_nothing_and_says_why(graded: Path) -> None:
    harness.assert_invalid_json_scores_nothing(graded)


def test_feedback_shows_no_solution_code(graded: Path) -> None:
    harness.assert_feedback_hides(graded, "dx_pad[n, :, rows, cols] += g * w[f]")


# The visible checks that test the export cells directly (the accuracy cells need the training runs,
# which the graded examples above execute).
SELF_CHECKS = ("check_conv_forward_naive", "check_conv_backward_naive", "check_max_pool_forward_naive",
               "check_max_pool_backward_naive", "check_conv_fast", "check_max_pool_fast", "check_conv_relu_pool",
               "check_spatial_batchnorm", "check_three_layer_convnet", "check_overfit", "check_lenet")
# Over a second each (harness.FEW_STATES states at most); with three states for every check the test
# takes about a minute. Every check draws from generators of its own or reseeds with `seed`, so more
# states would only repeat the same run.
SLOW_CHECKS = ("check_conv_backward_naive", "check_conv_fast", "check_conv_relu_pool", "check_three_layer_convnet",
               "check_overfit", "check_lenet")
GLOBAL_STATES = range(3)
# Timings vary from run to run: masked before the printed text is compared.
TIMINGS = re.compile(r"\d+(\.\d+)? (ms|s)\b|speed-up (about )?\d+x")


def test_self_checks_pass_the_solution_whatever_the_global_random_state(project: Path, tmp_path: Path) -> None:
    """Each visible check, run on the source solution after ``np.random.seed(k)`` for 3 values of ``k``, passes
    every time and prints the same every time (timings aside): the checks draw their data from generators of
    their own, or reseed with the notebook's ``seed``."""
    failures, printed = harness.self_checks_over_global_states(
        project, UNIT, SELF_CHECKS, GLOBAL_STATES, tmp_path, before=("parameters", "setup", "load_data"),
        timeout=300, mask=TIMINGS, slow=SLOW_CHECKS)
    assert failures == []
    assert {check: len(texts) for check, texts in printed.items()} == dict.fromkeys(SELF_CHECKS, 1)

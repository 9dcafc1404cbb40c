"""Unit a08 end to end: the generated example submissions, graded as `dvc repro` grades them, and the
notebook's visible self-checks on the source solution.

When `dvc repro` graded the checkout as it is now (CI), the tests read its outputs: the course's real
data (harness.graded_examples). Otherwise the data is the harness's learnable MNIST fixture (ten noisy
digit templates, official format, through the real fetch and prepare stages), on which the trained
models must clear the same ``ci`` bounds. Each example student must get the status and the partial
score its defect deserves: the expectations are written per grader test, by name.
"""

from __future__ import annotations

from pathlib import Path

from tests.units import harness

REPO = Path(__file__).resolve().parents[2]
UNIT = "a08_unsupervised"


DATASETS = ("mnist",)
project = harness.project_fixture(UNIT, DATASETS)
graded = harness.graded_fixture(UNIT, DATASETS)


# The trained-model checks: they need the notebook's training runs (exported weights).
TRAINED_CELLS = {"da_trained", "sda_trained", "rbm_trained"}
RBM_CELLS = {"check_rbm_conditionals", "check_rbm_gibbs", "check_rbm_free_energy", "check_rbm_cd", "check_rbm_pl",
             "rbm_trained"}


def test_every_example_gets_a_row_and_a_status(graded: Path) -> None:
    harness.assert_every_example_has_its_status(graded)


def test_the_full_solution_gets_full_marks(graded: Path) -> None:
    r = harness.results(graded, "full")
    assert r["score"] == r["max_score"] == 61, harness.failed(r)
    assert r["manual_points_pending"] == 6
    trained = {t["name"]: t["message"] for t in r["tests"] if t["cell"] in TRAINED_CELLS}
    # A passing trained-model check reports what it measured.
    assert set(trained) == {"test_da_test_reconstruction", "test_sda_test_error", "test_rbm_test_pseudo_likelihood"}
    assert all("test" in message and "at " in message for message in trained.values())


def test_half_done_keeps_the_autoencoders_and_loses_the_rbm(graded: Path) -> None:
    r = harness.results(graded, "half_done")
    # The dA and the SdA keep every point; every RBM check is lost, its training too.
    assert harness.failed(r) == harness.in_cells(r, RBM_CELLS)
    message = next(t["message"] for t in r["tests"] if t["name"] == "test_propup")
    assert "RBM.propup" in message and "not implemented" in message
    assert 0 < r["score"] < r["max_score"]


def test_wrong_gradient_loses_the_gradient_checks_of_the_cost_only(graded: Path) -> None:
    r = harness.results(graded, "wrong_gradient")
    # train_step and the SdA are graded against the student's own cost_and_gradients as well as the
    # reference, so the one bug costs only its own cell (and the trained dA it spoils).
    assert harness.failed(r) - {"test_da_test_reconstruction"} == {
        "test_gradients_autograd", "test_gradient_own_numeric", "test_cost_saturated"}
    message = next(t["message"] for t in r["tests"] if t["name"] == "test_gradients_autograd")
    assert message.startswith("dA.cost_and_gradients: grads['W']") and "tolerance" in message
    assert any("disagrees with the numeric gradient" in m for m in r["messages"])  # the notebook's own check


def test_endless_loop_times_out_and_keeps_what_was_exported(graded: Path) -> None:
    r = harness.stopped_in(graded, UNIT, "train_rbm")
    # The classes are graded from the export cells; nothing trained was exported.
    assert harness.failed(r) == harness.in_cells(r, TRAINED_CELLS)


def test_invalid_json_scores_nothing_and_says_why(graded: Path) -> None:
    harness.assert_invalid_json_scores_nothing(graded)


def test_feedback_shows_no_solution_code(graded: Path) -> None:
    harness.assert_feedback_hides(graded, 'grads = {"W": x_tilde.T @ dcode + dpre.T @ code')


# The visible checks that test the export cells directly (the others need the training runs, which
# the graded examples above execute). All take well under a second.
SELF_CHECKS = ("check_da_corruption", "check_da_encode_decode", "check_da_cost", "check_da_train_step", "check_sda",
               "check_sda_finetune", "check_rbm_conditionals", "check_rbm_gibbs", "check_rbm_free_energy",
               "check_rbm_cd", "check_rbm_pl")
GLOBAL_STATES = range(10)


def test_self_checks_pass_the_solution_whatever_the_global_random_state(project: Path, tmp_path: Path) -> None:
    """Each visible check, run on the source solution after ``np.random.seed(k)`` for 10 values of ``k``,
    passes every time and prints the same every time: the checks and the classes draw only from
    generators of their own."""
    failures, printed = harness.self_checks_over_global_states(project, UNIT, SELF_CHECKS, GLOBAL_STATES, tmp_path)
    assert failures == []
    assert {check: len(texts) for check, texts in printed.items()} == dict.fromkeys(SELF_CHECKS, 1)

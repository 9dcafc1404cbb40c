"""Unit a00 end to end: the generated example submissions, graded as `dvc repro` grades them, and the
notebook's visible self-checks on the source solution.

The unit has no data set: without a fresh `dvc repro` (harness.graded_examples) the throwaway project
holds no prepared data at all, which is also the check that the engine grades a unit with ``datasets:
[]``. Each example student must get the status and the partial score its defect deserves: the
expectations are written per grader test, by name.
"""

from __future__ import annotations

from pathlib import Path

from tests.units import harness

REPO = Path(__file__).resolve().parents[2]
UNIT = "a00_backprop"


DATASETS = ()
project = harness.project_fixture(UNIT, DATASETS)
graded = harness.graded_fixture(UNIT, DATASETS)


def test_every_example_gets_a_row_and_a_status(graded: Path) -> None:
    harness.assert_every_example_has_its_status(graded)


def test_the_full_solution_gets_full_marks(graded: Path) -> None:
    r = harness.results(graded, "full")
    assert r["score"] == r["max_score"] == 26, harness.failed(r)


NEURON = {"test_sigmoid_neuron_notes_example", "test_sigmoid_neuron_forward", "test_sigmoid_neuron_backward"}
ARRAY_CHECKER = {"test_eval_numerical_gradient_array_exact", "test_eval_numerical_gradient_array_step",
                 "test_eval_numerical_gradient_array_copies_output", "test_eval_numerical_gradient_array_leaves_inputs"}


def test_half_done_loses_exactly_the_unanswered_functions(graded: Path) -> None:
    r = harness.results(graded, "half_done")
    assert harness.failed(r) == NEURON | ARRAY_CHECKER
    assert r["score"] == 26 - 7
    message = next(t["message"] for t in r["tests"] if t["name"] == "test_sigmoid_neuron_forward")
    assert message.startswith("sigmoid_neuron_forward is not implemented yet") and "raise NotImplementedError()" in message


def test_wrong_gradient_loses_the_sigmoid_gradient_checks_and_what_builds_on_them(graded: Path) -> None:
    r = harness.results(graded, "wrong_gradient")
    # The neuron's backward pass goes through the student's sigmoid gate.
    assert harness.failed(r) == {"test_sigmoid_gate_backward", "test_sigmoid_gate_saturated",
                         "test_sigmoid_neuron_notes_example", "test_sigmoid_neuron_backward"}
    message = next(t["message"] for t in r["tests"] if t["name"] == "test_sigmoid_gate_backward")
    assert "sigmoid_gate_backward's dx: relative error" in message and "tolerance" in message
    assert any("dx at x = 0 and 1 (dout = 1 and 2) is off" in m for m in r["messages"])  # the notebook's own check


def test_endless_loop_times_out_and_keeps_the_functions(graded: Path) -> None:
    r = harness.stopped_in(graded, UNIT, "h_sweep")
    # The functions are graded from the export cells; the sweep was never exported.
    assert harness.failed(r) == {"test_h_sweep"}


def test_invalid_json_scores_nothing_and_says_why(graded: Path) -> None:
    harness.assert_invalid_json_scores_nothing(graded)


def test_feedback_shows_no_solution_code(graded: Path) -> None:
    harness.assert_feedback_hides(graded, "grad[ix] = (fxph - fxmh) / (2 * h)")


SELF_CHECKS = ("check_gates", "check_circuit", "check_sigmoid_gate", "check_sigmoid_neuron", "check_rel_error",
               "check_eval_numerical_gradient", "check_eval_numerical_gradient_array")
GLOBAL_STATES = range(3)


def test_self_checks_pass_the_solution_whatever_the_global_random_state(project: Path, tmp_path: Path) -> None:
    """Each visible check of a function, run on the source solution after ``np.random.seed(k)``, passes
    and prints the same every time: the checks draw only from generators they seed themselves."""
    failures, printed = harness.self_checks_over_global_states(project, UNIT, SELF_CHECKS, GLOBAL_STATES, tmp_path, timeout=60)
    assert failures == []
    assert {check: len(texts) for check, texts in printed.items()} == dict.fromkeys(SELF_CHECKS, 1)

"""Unit a07 end to end: the generated example submissions, graded as `dvc repro` grades them, and the
notebook's visible self-checks on the source solution.

When `dvc repro` graded the checkout as it is now (CI), the tests read its outputs: the course's real
COCO captions (harness.graded_examples). Otherwise the data is the harness's learnable COCO fixture
(official caption JSON of 2,500 images whose captions come from a small grammar, through the real fetch
and prepare stages, without image features), so the trained captioner's thresholds mean something; the
profile resolves to ``ci``. Each example student must get the status and the partial score its defect
deserves: the expectations are written per grader test, by name.
"""

from __future__ import annotations

import re
from pathlib import Path

from tests.units import harness

REPO = Path(__file__).resolve().parents[2]
UNIT = "a07_captioning"


DATASETS = ("coco",)
project = harness.project_fixture(UNIT, DATASETS)
graded = harness.graded_fixture(UNIT, DATASETS)


# The trained captioner's checks: they need the notebook's training run (exported parameters).
TRAINED_CELLS = {"check_captioner"}
LSTM_CELLS = {"check_lstm_step_backward", "check_lstm_forward", "check_lstm_backward"}


def test_every_example_gets_a_row_and_a_status(graded: Path) -> None:
    harness.assert_every_example_has_its_status(graded)


def test_the_full_solution_gets_full_marks(graded: Path) -> None:
    r = harness.results(graded, "full")
    assert r["score"] == r["max_score"] == 73, harness.failed(r)
    assert r["manual_points_pending"] == 6
    trained = {t["name"]: t["message"] for t in r["tests"] if t["cell"] in TRAINED_CELLS}
    assert set(trained) == {"test_captioner_test_loss", "test_captioner_bleu"}
    # A passing check reports what it measured, and says plainly that stand-in codes are no image features.
    assert "mean loss per caption" in trained["test_captioner_test_loss"] and "BLEU-4" in trained["test_captioner_bleu"]
    assert all("stand-in codes, not image features" in message for message in trained.values())


def test_half_done_keeps_the_rnn_and_loses_the_lstm_and_the_captioner(graded: Path) -> None:
    r = harness.results(graded, "half_done")
    # The LSTM's backward step and sequence functions are stubs: their cells are lost, and so are the
    # model's checks that run an LSTM through lstm_forward (its loss, and the book's fixed LSTM loss);
    # the LSTM's sampling (step forward only) keeps its points. No captioner was configured, so none was
    # trained or exported.
    expected = harness.in_cells(r, LSTM_CELLS | TRAINED_CELLS) | {"test_captioning_rnn_loss_lstm",
                                                                  "test_captioning_rnn_book_losses"}
    assert harness.failed(r) == expected
    message = next(t["message"] for t in r["tests"] if t["name"] == "test_lstm_forward")
    assert "lstm_forward" in message and "not implemented" in message
    assert 0 < r["score"] < r["max_score"]


def test_wrong_gradient_loses_the_embedding_and_the_models_gradients(graded: Path) -> None:
    r = harness.results(graded, "wrong_gradient")
    # dW[x] += dout drops repeated ids' gradients: the embedding's checks, and the model's gradient checks
    # (grads['W_embed']), which run the student's own layers; the trainer (a trusted model) and the
    # trained captioner (a language model still learns) keep their points.
    assert harness.failed(r) == {"test_word_embedding_backward", "test_word_embedding_backward_own_numeric",
                                 "test_captioning_rnn_loss_rnn", "test_captioning_rnn_loss_lstm"}
    message = next(t["message"] for t in r["tests"] if t["name"] == "test_word_embedding_backward")
    assert message.startswith("word_embedding_backward") and "tolerance" in message
    assert any("do repeated ids add up?" in m for m in r["messages"])  # the notebook's own check


def test_endless_loop_times_out_and_keeps_what_was_graded_from_the_export_cells(graded: Path) -> None:
    r = harness.stopped_in(graded, UNIT, "captioner_config")
    # The layers, the model and the trainer are graded from the export cells; nothing trained was exported.
    assert harness.failed(r) == harness.in_cells(r, TRAINED_CELLS)


def test_invalid_json_scores_nothing_and_says_why(graded: Path) -> None:
    harness.assert_invalid_json_scores_nothing(graded)


def test_feedback_shows_no_solution_code(graded: Path) -> None:
    harness.assert_feedback_hides(graded, "dc = dnext_c + dnext_h * o * (1 - tanh_c**2)")


# The visible checks that test the export cells directly (check_captioner needs the training run, which
# the graded examples above execute).
SELF_CHECKS = ("check_rnn_step_forward", "check_rnn_step_backward", "check_rnn_forward", "check_rnn_backward",
               "check_word_embedding", "check_temporal_affine", "check_temporal_softmax_loss",
               "check_lstm_step_forward", "check_lstm_step_backward", "check_lstm_forward", "check_lstm_backward",
               "check_captioning_rnn", "check_captioning_sample", "check_trainer")
SLOW_CHECKS = ("check_captioning_rnn",)  # over a second each: harness.FEW_STATES states
GLOBAL_STATES = range(10)
TIMINGS = re.compile(r"\d+\.\d+ s\b")


def test_self_checks_pass_the_solution_whatever_the_global_random_state(project: Path, tmp_path: Path) -> None:
    """Each visible check, run on the source solution after ``np.random.seed(k)`` for 10 values of ``k``,
    passes every time and prints the same every time: the checks draw their data from generators of
    their own and assign every parameter they use."""
    failures, printed = harness.self_checks_over_global_states(project, UNIT, SELF_CHECKS, GLOBAL_STATES, tmp_path,
                                                               mask=TIMINGS, slow=SLOW_CHECKS)
    assert failures == []
    assert {check: len(texts) for check, texts in printed.items()} == dict.fromkeys(SELF_CHECKS, 1)

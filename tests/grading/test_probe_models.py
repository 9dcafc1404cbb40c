"""The trusted models graders hand to student code (pipelines/grade/probe_models.py): their math
against the course's reference code and numeric gradients, and their interfaces driven by the
reference's own trainers, which expect what a student's trainer may expect of a model.
"""

from __future__ import annotations

import numpy as np
import pytest

from gradcheck import eval_numerical_gradient, rel_error
from pipelines.grade.api import trusted_model
from pipelines.grade.probe_models import CaptioningBigram, SoftmaxLinear
from reference.numpy import LogisticRegression, SdA, Trainer, sgd_optimize, temporal_softmax_loss
from reference.numpy.rnn import CaptioningTrainer

TOL = 1e-12
TOL_NUMERIC = 1e-7


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(16)


def _problem(rng: np.random.Generator, n: int = 7, d: int = 4, c: int = 3) -> tuple[np.ndarray, ...]:
    return rng.standard_normal((n, d)), rng.integers(0, c, n), rng.standard_normal((d, c)), rng.standard_normal(c)


def test_softmax_linear_is_the_tutorials_logistic_regression(rng: np.random.Generator) -> None:
    X, y, W, b = _problem(rng)
    mine, ref = SoftmaxLinear(W.copy(), b.copy()), LogisticRegression(4, 3, W.copy(), b.copy())
    loss, grads, dX = mine.loss_and_grads(X, y)
    ref_loss, ref_grads, ref_dX = ref.loss_and_grads(X, y)
    assert rel_error(loss, ref_loss) < TOL and rel_error(dX, ref_dX) < TOL
    assert all(rel_error(grads[k], ref_grads[k]) < TOL for k in ("W", "b"))
    assert rel_error(mine.p_y_given_x(X), ref.p_y_given_x(X)) < TOL
    assert mine.negative_log_likelihood(X, y) == pytest.approx(ref.negative_log_likelihood(X, y), rel=TOL)
    assert mine.errors(X, y) == ref.errors(X, y) and np.array_equal(mine.y_pred(X), ref.y_pred(X))
    for _ in range(3):
        assert mine.sgd_step(X, y, 0.3) == pytest.approx(ref.sgd_step(X, y, 0.3), rel=TOL)
    assert rel_error(mine.W, ref.W) < TOL and rel_error(mine.b, ref.b) < TOL


def test_softmax_linear_loss_and_its_regularized_gradient(rng: np.random.Generator) -> None:
    X, y, W, b = _problem(rng)
    model = SoftmaxLinear(W, b, reg=0.3)
    loss, grads = model.loss(X, y)
    assert loss == pytest.approx(LogisticRegression(4, 3, W, b).negative_log_likelihood(X, y) + 0.15 * np.sum(W * W), rel=TOL)
    for name in ("W", "b"):
        numeric = eval_numerical_gradient(lambda _: model.loss(X, y)[0], model.params[name])
        assert rel_error(grads[name], numeric) < TOL_NUMERIC
    assert np.array_equal(model.loss(X), X @ W + b)


def test_softmax_linear_params_are_a_plain_dict_its_W_and_b_read_and_write(rng: np.random.Generator) -> None:
    """Update rules return new arrays (``params[k] = w``) and ``Trainer`` replaces the whole dict."""
    _, _, W, b = _problem(rng)
    model = SoftmaxLinear(W, b)
    model.params = {"W": 2 * W, "b": b}
    assert np.array_equal(model.W, 2 * W)
    model.b = np.zeros(3)
    assert np.array_equal(model.params["b"], np.zeros(3))


def test_the_reference_trainers_train_softmax_linear(rng: np.random.Generator) -> None:
    """CS231n's ``Trainer`` (``params``, ``loss``) and the tutorial's ``sgd_optimize`` (``params``,
    ``sgd_step``, ``errors``) both run on it and fit separable data."""
    centers = 4 * rng.standard_normal((3, 4))
    y = rng.integers(0, 3, 300)
    X = centers[y] + 0.3 * rng.standard_normal((300, 4))
    data = {"X_train": X[:200], "y_train": y[:200], "X_val": X[200:], "y_val": y[200:]}
    model = SoftmaxLinear(np.zeros((4, 3)), np.zeros(3))
    trainer = Trainer(model, data, update_rule="sgd", updater_config={"learning_rate": 0.5}, batch_size=50,
                      num_epochs=5, verbose=False, seed=0)
    trainer.train()
    assert trainer.best_val_acc > 0.95 and model.errors(X[200:], y[200:]) < 0.05
    other = SoftmaxLinear(np.zeros((4, 3)), np.zeros(3))
    result = sgd_optimize(other, ((X[:200], y[:200]), (X[200:250], y[200:250]), (X[250:], y[250:])),
                          learning_rate=0.5, n_epochs=20, batch_size=50, patience=100)
    assert result.best_validation_error < 0.05


def test_softmax_linear_is_the_output_layer_of_the_reference_sda(rng: np.random.Generator) -> None:
    """a08: the SdA's fine-tuning with the trusted layer in place of the course's logistic layer."""
    X, y = rng.random((5, 6)), rng.integers(0, 3, 5)
    sda = SdA(n_ins=6, hidden_layers_sizes=(4,), n_outs=3, seed=1)
    W, b = rng.standard_normal((4, 3)), rng.standard_normal(3)
    sda.logLayer = LogisticRegression(4, 3, W.copy(), b.copy())
    expected = sda.finetune_cost_and_gradients(X, y)
    sda.logLayer = SoftmaxLinear(W.copy(), b.copy())
    got = sda.finetune_cost_and_gradients(X, y)
    assert rel_error(got[0], expected[0]) < TOL and all(rel_error(got[1][k], expected[1][k]) < TOL for k in expected[1])


def _captions(rng: np.random.Generator, n: int = 4, t: int = 6, v: int = 9) -> np.ndarray:
    """Captions starting with <START> (1), then words, then <NULL> (0) padding of random length."""
    captions = rng.integers(3, v, (n, t))
    captions[:, 0] = 1
    for row, length in enumerate(rng.integers(2, t + 1, n)):
        captions[row, length:] = 0
    return captions


def _bigram(rng: np.random.Generator, v: int = 9, h: int = 5, d: int = 3) -> CaptioningBigram:
    return CaptioningBigram(rng.standard_normal((v, h)), rng.standard_normal((h, v)), rng.standard_normal((d, v)),
                            rng.standard_normal(v))


def test_captioning_bigram_loss_is_the_courses_temporal_softmax_loss(rng: np.random.Generator) -> None:
    model, captions, features = _bigram(rng), _captions(rng), rng.standard_normal((4, 3))
    p = model.params
    scores = p["W_embed"][captions[:, :-1]] @ p["W_vocab"] + (features @ p["W_proj"] + p["b_vocab"])[:, None, :]
    expected, _ = temporal_softmax_loss(scores, captions[:, 1:], captions[:, 1:] != 0)
    loss, grads = model.loss(features, captions)
    assert loss == pytest.approx(expected, rel=TOL)
    for name in p:
        numeric = eval_numerical_gradient(lambda _: model.loss(features, captions)[0], p[name])
        assert rel_error(grads[name], numeric) < TOL_NUMERIC, name


def test_captioning_bigram_samples_greedily_from_start(rng: np.random.Generator) -> None:
    model, features = _bigram(rng), rng.standard_normal((4, 3))
    sampled = model.sample(features, max_length=5)
    assert sampled.shape == (4, 5) and sampled.dtype == np.int32 and np.all(sampled[:, 0] == 1)
    p = model.params
    for t in range(1, 5):
        scores = p["W_embed"][sampled[:, t - 1]] @ p["W_vocab"] + features @ p["W_proj"] + p["b_vocab"]
        assert np.array_equal(sampled[:, t], np.argmax(scores, axis=1))


def test_the_reference_captioning_trainer_trains_captioning_bigram(rng: np.random.Generator) -> None:
    model, captions = _bigram(rng), _captions(rng, n=8)
    data = {"train_captions": captions, "train_image_idxes": np.arange(8), "train_features": rng.standard_normal((8, 3))}
    trainer = CaptioningTrainer(model, data, update_rule="adam", updater_config={"learning_rate": 5e-2},
                                batch_size=8, num_epochs=150, verbose=False, seed=0)
    trainer.train()
    assert trainer.loss_history[-1] < 0.1 * trainer.loss_history[0]


def test_a_built_model_owns_copies_of_the_graders_parameters() -> None:
    W, b = np.ones((2, 3)), np.zeros(3)
    record = trusted_model("softmax_linear", W=W, b=b, reg=0.25)
    first = record.build()
    first.params["W"] += 1.0
    second = record.build()
    assert np.array_equal(second.W, W) and np.array_equal(record.params["W"], W) and second.reg == 0.25

"""The trusted models graders hand to student code (pipelines/grade/probe_models.py): their math
against numeric gradients and the course's own loss conventions, and their interfaces driven by the
reference's trainers and SdA, which expect of a model what a student's code may expect of it.
"""

from __future__ import annotations

from pathlib import Path

import nbformat
import numpy as np
import pytest

from gradcheck import eval_numerical_gradient, rel_error
from pipelines.grade.api import trusted_model
from pipelines.grade.probe_models import LeastSquaresCaptioner, LeastSquaresClassifier
from reference.numpy import SdA, Trainer, sgd_optimize
from reference.numpy.rnn import CaptioningTrainer

REPO = Path(__file__).resolve().parents[2]
TOL = 1e-12
TOL_NUMERIC = 1e-7


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(16)


def _problem(rng: np.random.Generator, n: int = 7, d: int = 4, c: int = 3) -> tuple[np.ndarray, ...]:
    return rng.standard_normal((n, d)), rng.integers(0, c, n), rng.standard_normal((d, c)), rng.standard_normal(c)


def test_least_squares_objective_and_its_gradients(rng: np.random.Generator) -> None:
    X, y, W, b = _problem(rng)
    model = LeastSquaresClassifier(W, b, reg=0.3)
    residual = X @ W + b - np.eye(3)[y]
    loss, grads, dX = model.loss_and_grads(X, y)
    assert loss == pytest.approx(0.5 * np.sum(residual**2) / 7 + 0.15 * np.sum(W * W), rel=TOL)
    assert model.negative_log_likelihood(X, y) == pytest.approx(0.5 * np.sum(residual**2) / 7, rel=TOL)
    for name in ("W", "b"):
        numeric = eval_numerical_gradient(lambda _: model.loss(X, y)[0], model.params[name])
        assert rel_error(grads[name], numeric) < TOL_NUMERIC
    assert rel_error(dX, eval_numerical_gradient(lambda x: model.loss_and_grads(x, y)[0], X.copy())) < TOL_NUMERIC
    assert np.array_equal(model.loss(X), X @ W + b) and np.array_equal(model.y_pred(X), np.argmax(X @ W + b, axis=1))
    assert model.errors(X, y) == np.mean(np.argmax(X @ W + b, axis=1) != y)


def test_least_squares_gradients_are_a02s_output_layer_interface(rng: np.random.Generator) -> None:
    """a02's MLP calls ``logRegressionLayer.gradients(h, y)`` -> ``(dW, db, dh)``: the model can be that layer."""
    X, y, W, b = _problem(rng)
    model = LeastSquaresClassifier(W, b, reg=0.3)
    _, grads, dX = model.loss_and_grads(X, y)
    dW, db, dX2 = model.gradients(X, y)
    assert np.array_equal(dW, grads["W"]) and np.array_equal(db, grads["b"]) and np.array_equal(dX2, dX)


def test_least_squares_sgd_step_and_params(rng: np.random.Generator) -> None:
    """``sgd_step`` updates in place; update rules return new arrays (``params[k] = w``) and ``Trainer``
    replaces the whole dict: ``W`` and ``b`` follow ``params`` either way."""
    X, y, W, b = _problem(rng)
    model = LeastSquaresClassifier(W.copy(), b.copy())
    loss, grads, _ = model.loss_and_grads(X, y)
    W_in_place = model.W
    assert model.sgd_step(X, y, 0.1) == loss and model.W is W_in_place
    assert rel_error(model.W, W - 0.1 * grads["W"]) < TOL
    model.params = {"W": 2 * W, "b": b}
    assert np.array_equal(model.W, 2 * W)
    model.b = np.zeros(3)
    assert np.array_equal(model.params["b"], np.zeros(3))
    saved = model.get_params()
    model.sgd_step(X, y, 0.1)
    assert np.array_equal(saved[0], 2 * W)
    model.set_params(*saved)
    assert np.array_equal(model.W, 2 * W) and model.W is not saved[0]


def test_the_reference_trainers_train_least_squares(rng: np.random.Generator) -> None:
    """CS231n's ``Trainer`` (``params``, ``loss``) and the tutorial's ``sgd_optimize`` (``params``,
    ``sgd_step``, ``errors``) both run on it and fit separable data."""
    centers = 4 * rng.standard_normal((3, 4))
    y = rng.integers(0, 3, 300)
    X = centers[y] + 0.3 * rng.standard_normal((300, 4))
    data = {"X_train": X[:200], "y_train": y[:200], "X_val": X[200:], "y_val": y[200:]}
    model = LeastSquaresClassifier(np.zeros((4, 3)), np.zeros(3))
    trainer = Trainer(model, data, update_rule="sgd", updater_config={"learning_rate": 0.05}, batch_size=50,
                      num_epochs=10, verbose=False, seed=0)
    trainer.train()
    assert trainer.best_val_acc > 0.95 and model.errors(X[200:], y[200:]) < 0.05
    other = LeastSquaresClassifier(np.zeros((4, 3)), np.zeros(3))
    result = sgd_optimize(other, ((X[:200], y[:200]), (X[200:250], y[200:250]), (X[250:], y[250:])),
                          learning_rate=0.05, n_epochs=40, batch_size=50, patience=200)
    assert result.best_validation_error < 0.05


def test_the_a02_notebooks_sgd_optimize_trains_least_squares(rng: np.random.Generator) -> None:
    """a02's own ``sgd_optimize`` (the source notebook's solution: ``sgd_step``, ``errors``,
    ``get_params``, ``set_params``) runs on it, as a grader would give it to a student's."""
    nb = nbformat.read(REPO / "assignments" / "a02_mnist_logreg_mlp" / "a02_mnist_logreg_mlp.ipynb", as_version=4)
    namespace: dict = {}
    exec(next(c.source for c in nb.cells if "def sgd_optimize" in c.source), namespace)
    centers = 4 * rng.standard_normal((3, 4))
    y = rng.integers(0, 3, 300)
    X = centers[y] + 0.3 * rng.standard_normal((300, 4))
    model = LeastSquaresClassifier(np.zeros((4, 3)), np.zeros(3))
    best, *_ = namespace["sgd_optimize"](model, X[:200], y[:200], X[200:], y[200:], 0.05, 40, 50, 200)
    assert best < 0.05 and model.errors(X[200:], y[200:]) == best


def test_least_squares_is_an_output_layer_for_the_reference_sda(rng: np.random.Generator) -> None:
    """a08: the SdA fine-tunes through it (its ``loss_and_grads`` hands back dL/dX), in place of the
    course's logistic layer: the gradients of the stack match centered differences of its cost."""
    X, y = rng.random((5, 6)), rng.integers(0, 3, 5)
    sda = SdA(n_ins=6, hidden_layers_sizes=(4,), n_outs=3, seed=1)
    sda.logLayer = trusted_model("least_squares", W=rng.standard_normal((4, 3)), b=rng.standard_normal(3)).build()
    _, grads = sda.finetune_cost_and_gradients(X, y)
    for name, value in sda.params.items():
        numeric = eval_numerical_gradient(lambda _: sda.finetune_cost_and_gradients(X, y)[0], value)
        assert rel_error(grads[name], numeric) < TOL_NUMERIC, name
    assert sda.errors(X, y) == np.mean(sda.y_pred(X) != y)


def _captions(rng: np.random.Generator, n: int = 4, t: int = 6, v: int = 9) -> np.ndarray:
    """Captions starting with <START> (1), then words, then <NULL> (0) padding of random length."""
    captions = rng.integers(3, v, (n, t))
    captions[:, 0] = 1
    for row, length in enumerate(rng.integers(2, t + 1, n)):
        captions[row, length:] = 0
    return captions


def _captioner(rng: np.random.Generator, v: int = 9, h: int = 5, d: int = 3) -> LeastSquaresCaptioner:
    return LeastSquaresCaptioner(rng.standard_normal((v, h)), rng.standard_normal((h, v)), rng.standard_normal((d, v)),
                                 rng.standard_normal(v))


def test_captioner_loss_masks_null_targets_and_its_gradients(rng: np.random.Generator) -> None:
    model, captions, features = _captioner(rng), _captions(rng), rng.standard_normal((4, 3))
    p = model.params
    scores = p["W_embed"][captions[:, :-1]] @ p["W_vocab"] + (features @ p["W_proj"] + p["b_vocab"])[:, None, :]
    residual = (scores - np.eye(9)[captions[:, 1:]]) * (captions[:, 1:] != 0)[..., None]
    loss, grads = model.loss(features, captions)
    assert loss == pytest.approx(0.5 * np.sum(residual**2) / 4, rel=TOL)
    for name in p:
        numeric = eval_numerical_gradient(lambda _: model.loss(features, captions)[0], p[name])
        assert rel_error(grads[name], numeric) < TOL_NUMERIC, name


def test_captioner_samples_greedily_from_start(rng: np.random.Generator) -> None:
    model, features = _captioner(rng), rng.standard_normal((4, 3))
    sampled = model.sample(features, max_length=5)
    assert sampled.shape == (4, 5) and sampled.dtype == np.int32 and np.all(sampled[:, 0] == 1)
    p = model.params
    for t in range(1, 5):
        scores = p["W_embed"][sampled[:, t - 1]] @ p["W_vocab"] + features @ p["W_proj"] + p["b_vocab"]
        assert np.array_equal(sampled[:, t], np.argmax(scores, axis=1))


def test_the_reference_captioning_trainer_trains_the_captioner(rng: np.random.Generator) -> None:
    model, captions = _captioner(rng), _captions(rng, n=8)
    data = {"train_captions": captions, "train_image_idxs": np.arange(8), "train_image_inputs": rng.standard_normal((8, 3))}
    trainer = CaptioningTrainer(model, data, update_rule="adam", updater_config={"learning_rate": 5e-2},
                                batch_size=8, num_epochs=150, verbose=False, seed=0)
    trainer.train()
    assert trainer.loss_history[-1] < 0.1 * trainer.loss_history[0]


def test_a_built_model_owns_copies_of_the_graders_parameters() -> None:
    W, b = np.ones((2, 3)), np.zeros(3)
    record = trusted_model("least_squares", W=W, b=b, reg=0.25)
    first = record.build()
    first.params["W"] += 1.0
    second = record.build()
    assert np.array_equal(second.W, W) and np.array_equal(record.params["W"], W) and second.reg == 0.25

"""Logistic regression (a02): values and hand gradients vs torch autograd and numeric gradients,
the ``errors`` contract, the tutorial's patience rule on its published run, and overfitting."""

from __future__ import annotations

import numpy as np
import pytest

from gradcheck import eval_numerical_gradient, rel_error
from reference.numpy.logistic import EarlyStopping, LogisticRegression, sgd_optimize
from reference.torch.autograd import to_numpy, to_tensor, value_and_grads
from reference.torch.logistic import logistic_errors, logistic_nll, logistic_p_y_given_x
from tests.reference.conftest import TOL_EXACT, TOL_NUMERIC_GRAD


def random_model(rng: np.random.Generator, n_in: int = 6, n_out: int = 4) -> LogisticRegression:
    return LogisticRegression(n_in, n_out, W=rng.normal(size=(n_in, n_out)), b=rng.normal(size=n_out))


def separable(rng: np.random.Generator, n: int = 50, dim: int = 8, classes: int = 3):
    """Points labelled by the argmax of a random linear map: linearly separable by construction."""
    X = rng.normal(size=(n, dim))
    y = np.argmax(X @ rng.normal(size=(dim, classes)), axis=1)
    return X, y


def test_zero_init_loss_is_log_of_class_count(rng):
    X = rng.normal(size=(20, 784))
    y = rng.integers(0, 10, size=20)
    model = LogisticRegression(784, 10)
    assert np.all(model.W == 0) and np.all(model.b == 0)
    assert model.negative_log_likelihood(X, y) == pytest.approx(2.302585, abs=1e-6)
    # every score ties at zero init, so every prediction is class 0 (the source's first-step note)
    assert model.errors(X, y) == pytest.approx(np.mean(y != 0))


def test_values_match_torch(rng, device):
    model = random_model(rng)
    X = rng.normal(size=(9, 6))
    y = rng.integers(0, 4, size=9)
    args = [to_tensor(a, device) for a in (X, y, model.W, model.b)]
    p = to_numpy(logistic_p_y_given_x(args[0], args[2], args[3]))
    assert rel_error(model.p_y_given_x(X), p) < TOL_EXACT[np.float64]
    assert np.allclose(model.p_y_given_x(X).sum(axis=1), 1.0)
    assert rel_error(model.negative_log_likelihood(X, y), to_numpy(logistic_nll(*args))) < TOL_EXACT[np.float64]
    assert model.errors(X, y) == pytest.approx(float(to_numpy(logistic_errors(*args))))
    assert np.array_equal(model.y_pred(X), np.argmax(p, axis=1))


def test_gradients_match_autograd(rng, device):
    model = random_model(rng)
    X = rng.normal(size=(9, 6))
    y = rng.integers(0, 4, size=9)
    loss, grads, dX = model.loss_and_grads(X, y)
    value, (gX, gW, gb) = value_and_grads(logistic_nll, [X, y, model.W, model.b], wrt=[0, 2, 3], device=device)
    assert rel_error(loss, value) < TOL_EXACT[np.float64]
    assert rel_error(grads["W"], gW) < TOL_EXACT[np.float64]
    assert rel_error(grads["b"], gb) < TOL_EXACT[np.float64]
    assert rel_error(dX, gX) < TOL_EXACT[np.float64]


def test_gradients_match_numeric(rng):
    model = random_model(rng)
    X = rng.normal(size=(7, 6))
    y = rng.integers(0, 4, size=7)
    grads = model.gradients(X, y)
    for name, p in model.params.items():
        num = eval_numerical_gradient(lambda _: model.negative_log_likelihood(X, y), p)
        assert rel_error(grads[name], num) < TOL_NUMERIC_GRAD, name


def test_errors_contract(rng):
    model = random_model(rng)
    X = rng.normal(size=(5, 6))
    with pytest.raises(TypeError):
        model.errors(X, np.zeros((5, 1), dtype=np.int64))
    with pytest.raises(NotImplementedError):
        model.errors(X, np.zeros(5))


def test_sgd_step_moves_against_the_gradient(rng):
    model = random_model(rng)
    X = rng.normal(size=(8, 6))
    y = rng.integers(0, 4, size=8)
    W0, b0 = model.W.copy(), model.b.copy()
    grads = model.gradients(X, y)
    cost = model.sgd_step(X, y, 0.1)
    assert cost == pytest.approx(LogisticRegression(6, 4, W0, b0).negative_log_likelihood(X, y))
    assert np.allclose(model.W, W0 - 0.1 * grads["W"]) and np.allclose(model.b, b0 - 0.1 * grads["b"])


def test_patience_reproduces_the_tutorial_run():
    """Seed 002's LR run: 83 batches/epoch, patience 5000; the last significant improvement at the end
    of epoch 37 sets patience to 6140, epoch 73's tiny improvement (ratio 0.9986) does not extend it,
    and training stops inside epoch 74 before that epoch's validation."""
    n_batches = 83
    stopper = EarlyStopping(patience=5000, validation_frequency=min(n_batches, 5000 // 2))
    curve = {epoch: 0.30 * 0.98**epoch for epoch in range(1, 38)}
    curve.update({epoch: curve[37] for epoch in range(38, 73)})
    curve[73] = curve[37] * 0.9986
    stop_epoch, validations = None, []
    for epoch in range(1, 1001):
        for minibatch in range(n_batches):
            it = (epoch - 1) * n_batches + minibatch
            if stopper.should_validate(it):
                validations.append(epoch)
                stopper.update(it, curve.get(epoch, 1.0))
            if stopper.done(it):
                stop_epoch = epoch
                break
        if stop_epoch:
            break
    assert stopper.patience == 6140
    assert stop_epoch == 74
    assert stopper.best_iter == 73 * n_batches - 1
    assert validations[-1] == 73 and validations[0] == 1


def test_validation_schedule_counts_completed_batches():
    """Validation follows batch iter when (iter + 1) % frequency == 0: after the 5th, 10th, ... batch."""
    stopper = EarlyStopping(patience=10, validation_frequency=5)
    assert [i for i in range(12) if stopper.should_validate(i)] == [4, 9]


def test_sgd_optimize_overfits_separable_data(rng):
    X, y = separable(rng)
    model = LogisticRegression(8, 3)
    result = sgd_optimize(model, ((X, y), (X, y), (X, y)), learning_rate=0.5, n_epochs=300,
                          batch_size=10, patience=10_000)
    assert result.best_validation_error == 0.0
    assert result.test_error == 0.0
    assert model.errors(X, y) == 0.0
    assert result.history[-1]["train_cost"] < result.history[0]["train_cost"]


def test_sgd_optimize_is_deterministic_and_restores_best(rng):
    X, y = separable(rng, n=60)
    Xv, yv = separable(rng, n=30)
    data = ((X, y), (Xv, yv), (Xv, yv))
    runs = []
    for _ in range(2):
        model = LogisticRegression(8, 3)
        res = sgd_optimize(model, data, learning_rate=0.3, n_epochs=20, batch_size=20, patience=40)
        runs.append((res, model))
    (r1, m1), (r2, m2) = runs
    assert np.array_equal(m1.W, m2.W) and r1.history == r2.history
    assert r1.best_validation_error == min(h["validation_error"] for h in r1.history)
    # the model ends with the parameters that scored best on validation
    assert m1.errors(Xv, yv) == r1.best_validation_error


def test_eval_batch_size_drops_incomplete_batches():
    """B = 4 on 10 validation rows scores two batches (8 rows), like the tutorial's 9 600 of 10 000."""
    X = np.eye(3)[[0, 1, 2] * 4][:12]
    y = np.array([0, 1, 2] * 4)[:12]
    Xv = np.vstack([np.eye(3)[[0, 1, 2, 0, 1, 2, 0, 1]], np.eye(3)[[0, 0]]])
    yv = np.array([0, 1, 2, 0, 1, 2, 0, 1, 2, 2])  # the two last rows would be errors
    model = LogisticRegression(3, 3)
    res = sgd_optimize(model, ((X, y), (Xv, yv), (Xv, yv)), learning_rate=1.0, n_epochs=30,
                       batch_size=3, patience=1000, eval_batch_size=4)
    assert res.best_validation_error == 0.0
    assert model.errors(Xv, yv) == pytest.approx(0.2)


def test_sgd_optimize_records_every_step_cost(rng):
    """One cost per SGD step, taken before the step: the first is ln(C) at zero init."""
    X, y = separable(rng, n=60)
    model = LogisticRegression(8, 3)
    res = sgd_optimize(model, ((X, y), (X, y), (X, y)), learning_rate=0.3, n_epochs=5, batch_size=20, patience=1000)
    assert len(res.costs) == res.iterations == 15
    assert res.costs[0] == pytest.approx(np.log(3))
    assert np.mean(res.costs[3:6]) == pytest.approx(res.history[1]["train_cost"])

"""The Trainer (CS231n's Solver): overfitting a tiny set, bookkeeping, best parameters, torch.optim + StepLR."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import reference.numpy.updater as nu
from reference.numpy.trainer import Solver, Trainer
from reference.torch.autograd import to_tensor


class LinearSoftmaxModel:
    """The smallest model the Trainer can train: scores ``X @ W + b`` under the softmax loss.

    ``loss(X)`` returns scores (N, C); ``loss(X, y)`` returns the mean cross-entropy and
    ``{"W": (D, C), "b": (C,)}`` gradients, derived by hand.
    """

    def __init__(self, dim: int, num_classes: int, rng: np.random.Generator) -> None:
        self.params = {"W": 0.01 * rng.standard_normal((dim, num_classes)), "b": np.zeros(num_classes)}

    def loss(self, X: np.ndarray, y: np.ndarray | None = None):
        scores = X @ self.params["W"] + self.params["b"]
        if y is None:
            return scores
        shifted = scores - scores.max(axis=1, keepdims=True)
        log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
        rows = np.arange(X.shape[0])
        dscores = np.exp(log_probs)
        dscores[rows, y] -= 1.0
        dscores /= X.shape[0]
        return -log_probs[rows, y].mean(), {"W": X.T @ dscores, "b": dscores.sum(axis=0)}


def make_data(rng: np.random.Generator, num_train: int = 50, dim: int = 64, num_classes: int = 10) -> dict:
    """Random features with random labels; ``dim > num_train`` lets a linear model fit any labelling."""
    return {
        "X_train": rng.standard_normal((num_train, dim)),
        "y_train": rng.integers(num_classes, size=num_train),
        "X_val": rng.standard_normal((40, dim)),
        "y_val": rng.integers(num_classes, size=40),
    }


def test_overfits_fifty_examples(rng):
    """The sources' sanity check: 50 training examples reach 100 % train accuracy."""
    data = make_data(rng)
    model = LinearSoftmaxModel(64, 10, rng)
    trainer = Trainer(model, data, update_rule="adam", updater_config={"learning_rate": 5e-2},
                      batch_size=25, num_epochs=40, verbose=False, seed=0)
    trainer.train()
    assert trainer.train_acc_history[-1] == 1.0
    assert np.mean(trainer.loss_history[-5:]) < 0.1 * trainer.loss_history[0]


def test_bookkeeping_per_iteration_and_epoch(rng):
    """50 rows at batch 25: 2 iterations per epoch; checks at t = 0 and at each of the 3 epoch ends."""
    data = make_data(rng)
    trainer = Trainer(LinearSoftmaxModel(64, 10, rng), data, updater_config={"learning_rate": 0.1},
                      lr_decay=0.5, batch_size=25, num_epochs=3, verbose=False, seed=1)
    trainer.train()
    assert len(trainer.loss_history) == 6
    assert len(trainer.train_acc_history) == len(trainer.val_acc_history) == 4
    assert trainer.epoch == 3
    for config in trainer.updater_configs.values():
        assert config["learning_rate"] == pytest.approx(0.1 * 0.5**3)


def test_keeps_the_parameters_with_the_best_validation_accuracy(rng):
    """Validation labels that disagree with training: val accuracy peaks early and then falls, and
    the model ends with the parameters of the best check, not the last ones."""
    X = rng.standard_normal((200, 8))
    y = np.argmax(X @ rng.standard_normal((8, 4)), axis=1)
    data = {"X_train": X[:100], "y_train": y[:100], "X_val": X[100:], "y_val": (y[100:] + 1) % 4}
    model = LinearSoftmaxModel(8, 4, rng)
    trainer = Trainer(model, data, updater_config={"learning_rate": 0.5}, batch_size=20, num_epochs=10,
                      verbose=False, num_train_samples=None, seed=2)
    trainer.train()
    assert trainer.best_val_acc == max(trainer.val_acc_history)
    assert trainer.val_acc_history[-1] < trainer.best_val_acc
    assert trainer.train_acc_history[-1] > trainer.train_acc_history[0]
    assert model.params is trainer.best_params
    assert trainer.check_accuracy(data["X_val"], data["y_val"]) == trainer.best_val_acc


def test_best_params_are_kept_even_at_zero_accuracy(rng):
    """Book defect 17: with a validation accuracy that never beats 0, the model must keep parameters."""
    data = make_data(rng, num_classes=2)
    data["y_val"] = np.full(40, 7)  # a class the model does not have: accuracy is always 0
    model = LinearSoftmaxModel(64, 2, rng)
    Trainer(model, data, batch_size=25, num_epochs=1, verbose=False, seed=3).train()
    assert set(model.params) == {"W", "b"}


def test_update_rule_by_name_or_callable_and_configs_per_parameter(rng):
    """A name resolves in updater; a callable is used as is; each parameter gets its own config copy."""
    data = make_data(rng)
    user_config = {"learning_rate": 1e-2}
    trainer = Trainer(LinearSoftmaxModel(64, 10, rng), data, update_rule="adam", updater_config=user_config,
                      batch_size=25, num_epochs=1, verbose=False, seed=4)
    assert trainer.update_rule is nu.adam
    trainer.train()
    assert user_config == {"learning_rate": 1e-2}
    assert trainer.updater_configs["W"] is not trainer.updater_configs["b"]
    assert trainer.updater_configs["W"]["m"].shape == (64, 10)
    assert trainer.updater_configs["b"]["m"].shape == (10,)
    assert trainer.updater_configs["W"]["t"] == 2

    calls = []

    def counting_sgd(w, dw, config):
        calls.append(w.shape)
        return nu.sgd(w, dw, config)

    Trainer(LinearSoftmaxModel(64, 10, rng), data, update_rule=counting_sgd, batch_size=25, num_epochs=1,
            verbose=False).train()
    assert sorted(calls) == [(10,), (10,), (64, 10), (64, 10)]
    with pytest.raises(ValueError, match="Invalid update_rule"):
        Trainer(LinearSoftmaxModel(64, 10, rng), data, update_rule="nesterov")


def test_seeded_runs_repeat(rng):
    """The same seed and starting parameters give the same losses and accuracies."""
    data = make_data(rng)
    start = LinearSoftmaxModel(64, 10, rng).params
    runs = []
    for _ in range(2):
        model = LinearSoftmaxModel(64, 10, rng)
        model.params = {k: v.copy() for k, v in start.items()}
        trainer = Trainer(model, data, update_rule="sgd_momentum", batch_size=10, num_epochs=2,
                          num_train_samples=20, verbose=False, seed=5)
        trainer.train()
        runs.append((trainer.loss_history, trainer.train_acc_history, trainer.val_acc_history))
    assert runs[0] == runs[1]


def test_check_accuracy_batches_and_subsamples(rng):
    """Batches that do not divide N still cover every row; num_samples draws that many rows."""
    data = make_data(rng, num_train=55)
    model = LinearSoftmaxModel(64, 10, rng)
    trainer = Trainer(model, data, verbose=False, seed=6)
    expected = np.mean(np.argmax(model.loss(data["X_train"]), axis=1) == data["y_train"])
    assert trainer.check_accuracy(data["X_train"], data["y_train"], batch_size=20) == expected
    sub = trainer.check_accuracy(data["X_train"], data["y_train"], num_samples=8)
    assert sub * 8 == round(sub * 8)


def test_verbose_prints_iterations_and_epochs(rng, capsys):
    """Loss every print_every iterations, accuracies at each check."""
    data = make_data(rng)
    Trainer(LinearSoftmaxModel(64, 10, rng), data, batch_size=25, num_epochs=2, print_every=2, seed=7).train()
    out = capsys.readouterr().out
    assert "(Iteration 1 / 4) loss:" in out and "(Iteration 3 / 4) loss:" in out
    assert "(Epoch 0 / 2) train acc:" in out and "(Epoch 2 / 2) train acc:" in out


def test_solver_is_the_trainer_under_cs231n_names(rng):
    """``Solver(..., optim_config=...)`` trains exactly as ``Trainer(..., updater_config=...)``."""
    data = make_data(rng)
    start = LinearSoftmaxModel(64, 10, rng).params
    histories = []
    for cls, key in [(Trainer, "updater_config"), (Solver, "optim_config")]:
        model = LinearSoftmaxModel(64, 10, rng)
        model.params = {k: v.copy() for k, v in start.items()}
        trainer = cls(model, data, update_rule="rmsprop", **{key: {"learning_rate": 1e-3}},
                      batch_size=25, num_epochs=2, verbose=False, seed=8)
        trainer.train()
        histories.append(trainer.loss_history)
    assert histories[0] == histories[1]
    assert trainer.optim_configs is trainer.updater_configs
    assert trainer.optim_configs["W"]["learning_rate"] == 1e-3


def test_sgd_with_lr_decay_is_torch_sgd_with_steplr(rng):
    """Seed 003 §9: the Trainer's SGD with per-epoch decay equals torch.optim.SGD + StepLR on the same minibatches."""
    data = make_data(rng, num_train=60, dim=12, num_classes=3)
    model = LinearSoftmaxModel(12, 3, rng)
    W0, b0 = model.params["W"].copy(), model.params["b"].copy()
    lr, decay, batch_size, num_epochs, seed = 0.3, 0.7, 20, 5, 9
    trainer = Trainer(model, data, update_rule="sgd", updater_config={"learning_rate": lr}, lr_decay=decay,
                      batch_size=batch_size, num_epochs=num_epochs, verbose=False,
                      num_train_samples=None, num_val_samples=None, seed=seed)
    trainer.train()

    batches = np.random.default_rng(seed)  # the accuracy checks draw nothing when they use every row
    W, b = to_tensor(W0, "cpu", requires_grad=True), to_tensor(b0, "cpu", requires_grad=True)
    X, y = to_tensor(data["X_train"], "cpu"), to_tensor(data["y_train"], "cpu")
    optimizer = torch.optim.SGD([W, b], lr=lr)
    iterations_per_epoch = 60 // batch_size
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=iterations_per_epoch, gamma=decay)
    torch_losses = []
    for _ in range(num_epochs * iterations_per_epoch):
        rows = torch.as_tensor(batches.integers(60, size=batch_size))
        optimizer.zero_grad()
        loss = F.cross_entropy(X[rows] @ W + b, y[rows])
        loss.backward()
        optimizer.step()
        scheduler.step()
        torch_losses.append(loss.item())
    np.testing.assert_allclose(trainer.loss_history, torch_losses, rtol=1e-12)

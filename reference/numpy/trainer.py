"""The training loop shared by every model from a04 on: the book's ``Trainer`` (CS231n's ``Solver``).

Models only compute a loss and gradients; this class owns everything else about training, so
that units compare update rules, dropout or batchnorm under one loop: minibatch sampling, one
update-rule config per parameter, per-epoch learning-rate decay, accuracy checks, and keeping
the parameters with the best validation accuracy.

Model contract: ``model.params`` is a dict of arrays; ``model.loss(X)`` returns scores (N, C);
``model.loss(X, y)`` returns ``(loss, grads)`` with ``grads`` keyed like ``params``.
Data contract: ``data`` holds ``X_train`` (N_train, ...), ``y_train`` (N_train,), ``X_val``, ``y_val``.

The book's Trainer (seed 003 ch.4) is followed with its known defects fixed: integer epoch
arithmetic (Python 3), the accuracy check runs at the first iteration, every epoch end and the
last iteration, and ``best_params`` is never left empty. One ``numpy.random.Generator`` seeded
by ``seed`` drives all sampling, so a seeded run is reproducible.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from reference.numpy import updater

__all__ = ["Trainer", "Solver"]

UpdateRule = Callable[[np.ndarray, np.ndarray, dict], tuple[np.ndarray, dict]]


def resolve_update_rule(update_rule: str | UpdateRule) -> UpdateRule:
    """A rule given by its name in ``reference.numpy.updater`` (e.g. ``"adam"``), or a callable as is."""
    if callable(update_rule):
        return update_rule
    if update_rule not in updater.__all__:
        raise ValueError(f'Invalid update_rule "{update_rule}": expected one of {updater.__all__} or a callable')
    return getattr(updater, update_rule)


def update_params(params: dict[str, np.ndarray], grads: dict[str, np.ndarray], rule: UpdateRule,
                  configs: dict[str, dict[str, Any]]) -> None:
    """One ``rule(w, dw, config)`` call per parameter, each with its own config; both dicts updated in place."""
    for name, w in params.items():
        params[name], configs[name] = rule(w, grads[name], configs[name])


def decay_learning_rates(configs: dict[str, dict[str, Any]], lr_decay: float) -> None:
    """Multiply every config's ``learning_rate`` by ``lr_decay`` (at an epoch's end)."""
    for config in configs.values():
        if "learning_rate" in config:
            config["learning_rate"] *= lr_decay


class Trainer:
    """Minibatch training of ``model`` on ``data`` with an update rule from ``updater``.

    Arguments: ``update_rule`` (a name in ``updater`` or a callable ``rule(w, dw, config)``),
    ``updater_config`` (hyperparameters copied once per parameter, e.g. ``{"learning_rate":
    1e-3}``), ``lr_decay`` (multiplies every config's ``learning_rate`` at each epoch end),
    ``batch_size``, ``num_epochs``, ``print_every`` (iterations between loss prints),
    ``verbose``, ``num_train_samples`` (training rows sampled for the train accuracy; None = all),
    ``num_val_samples`` (likewise for validation; None = all), ``seed``.

    After ``train()``: ``loss_history`` (one loss per iteration), ``train_acc_history`` and
    ``val_acc_history`` (one entry per check), ``best_val_acc``, ``best_params``; the model's
    ``params`` are replaced by ``best_params``.
    """

    def __init__(
        self,
        model: Any,
        data: dict[str, np.ndarray],
        update_rule: str | UpdateRule = "sgd",
        updater_config: dict[str, Any] | None = None,
        lr_decay: float = 1.0,
        batch_size: int = 100,
        num_epochs: int = 10,
        print_every: int = 10,
        verbose: bool = True,
        num_train_samples: int | None = 1000,
        num_val_samples: int | None = None,
        seed: int | None = None,
    ) -> None:
        self.model = model
        self.X_train, self.y_train = data["X_train"], data["y_train"]
        self.X_val, self.y_val = data["X_val"], data["y_val"]
        self.update_rule = resolve_update_rule(update_rule)
        self.updater_config = dict(updater_config or {})
        self.lr_decay = lr_decay
        self.batch_size = batch_size
        self.num_epochs = num_epochs
        self.print_every = print_every
        self.verbose = verbose
        self.num_train_samples = num_train_samples
        self.num_val_samples = num_val_samples
        self.rng = np.random.default_rng(seed)
        self._reset()

    def _reset(self) -> None:
        """Fresh bookkeeping and one copy of ``updater_config`` per model parameter."""
        self.epoch = 0
        self.best_val_acc = 0.0
        self.best_params: dict[str, np.ndarray] = {}
        self.loss_history: list[float] = []
        self.train_acc_history: list[float] = []
        self.val_acc_history: list[float] = []
        self.updater_configs = {name: dict(self.updater_config) for name in self.model.params}

    def _step(self) -> None:
        """One update: a minibatch drawn with replacement, its loss and gradients, one rule call per parameter."""
        batch = self.rng.integers(self.X_train.shape[0], size=self.batch_size)
        loss, grads = self.model.loss(self.X_train[batch], self.y_train[batch])
        self.loss_history.append(float(loss))
        update_params(self.model.params, grads, self.update_rule, self.updater_configs)

    def check_accuracy(
        self, X: np.ndarray, y: np.ndarray, num_samples: int | None = None, batch_size: int = 100
    ) -> float:
        """Fraction of rows whose argmax score equals the label.

        ``X`` (N, ...), ``y`` (N,). When ``num_samples`` is smaller than N, that many rows are drawn
        with replacement first. Scores come from ``model.loss(X_batch)`` in batches of ``batch_size``.
        """
        num_rows = X.shape[0]
        if num_samples is not None and num_rows > num_samples:
            rows = self.rng.integers(num_rows, size=num_samples)
            X, y = X[rows], y[rows]
            num_rows = num_samples
        predictions = [
            np.argmax(self.model.loss(X[start : start + batch_size]), axis=1)
            for start in range(0, num_rows, batch_size)
        ]
        return float(np.mean(np.concatenate(predictions) == y))

    def train(self) -> None:
        """Run ``num_epochs`` epochs of ``max(N_train // batch_size, 1)`` iterations each."""
        iterations_per_epoch = max(self.X_train.shape[0] // self.batch_size, 1)
        num_iterations = self.num_epochs * iterations_per_epoch
        for t in range(num_iterations):
            self._step()
            if self.verbose and t % self.print_every == 0:
                print(f"(Iteration {t + 1} / {num_iterations}) loss: {self.loss_history[-1]:f}")
            epoch_end = (t + 1) % iterations_per_epoch == 0
            if epoch_end:
                self.epoch += 1
                decay_learning_rates(self.updater_configs, self.lr_decay)
            if t == 0 or t == num_iterations - 1 or epoch_end:
                self._record_accuracy()
        self.model.params = self.best_params

    def _record_accuracy(self) -> None:
        """Append train and val accuracy; keep a copy of the parameters when val accuracy improves."""
        train_acc = self.check_accuracy(self.X_train, self.y_train, num_samples=self.num_train_samples)
        val_acc = self.check_accuracy(self.X_val, self.y_val, num_samples=self.num_val_samples)
        self.train_acc_history.append(train_acc)
        self.val_acc_history.append(val_acc)
        if self.verbose:
            print(f"(Epoch {self.epoch} / {self.num_epochs}) train acc: {train_acc:f}; val_acc: {val_acc:f}")
        if val_acc > self.best_val_acc or not self.best_params:
            self.best_val_acc = val_acc
            self.best_params = {name: w.copy() for name, w in self.model.params.items()}


class Solver(Trainer):
    """CS231n's name for the Trainer: the update-rule hyperparameters are called ``optim_config``.

    ``Solver(model, data, update_rule="sgd", optim_config=None, **trainer_kwargs)``; every other
    keyword is the Trainer's. ``optim_configs`` is the per-parameter config dict.
    """

    def __init__(
        self,
        model: Any,
        data: dict[str, np.ndarray],
        update_rule: str | UpdateRule = "sgd",
        optim_config: dict[str, Any] | None = None,
        **trainer_kwargs: Any,
    ) -> None:
        super().__init__(model, data, update_rule=update_rule, updater_config=optim_config, **trainer_kwargs)

    @property
    def optim_configs(self) -> dict[str, dict[str, Any]]:
        """The per-parameter update-rule configs (``updater_configs`` under CS231n's name)."""
        return self.updater_configs

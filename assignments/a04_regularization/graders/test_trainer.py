"""Hidden graders of the update rule ``sgd``, the ``Trainer`` and the trained networks.

Why these checks: ``sgd`` against the reference on a given and on the default learning rate, with the
default written into the config and ``w``, ``dw`` left alone (the notebook pins both; leaving them
alone is part of the value test, since a rule that does nothing leaves them alone too). The Trainer
trains a model of the grader's, never the student's network (issue #21: a FullyConnectedNet whose
gradients were doubled used to cost the Trainer's points too): ``trusted_model("least_squares")``, a
linear classifier with ``params``, ``loss(X)`` and ``loss(X, y)``, in chained probes (construct the
Trainer on it, train, read the histories and parameters back), on problems whose training is
deterministic whatever minibatches the student draws: every training row is the same image, so the
reference Trainer follows the very same trajectory. One problem's validation accuracy falls after the
first checks (the best parameters are the first check's: neither the last ones, nor those of a later
tie, which ``>=`` would keep); in the other no validation label can ever be predicted, so the accuracy
stays 0 and the book's bookkeeping would leave ``model.params`` empty. A training set smaller than one
batch needs sampling with replacement and ``max(N // batch_size, 1)``. The Trainer's update rule is
the student's ``sgd`` (found by name in the updater dictionary, as the notebook pins). The exported
CIFAR-10 predictions of the network the student trained are scored against a params.yaml threshold;
the dropout experiment, a given cell, is a zero-point note (only on what is not noise).
"""

from __future__ import annotations

import numpy as np

from pipelines.grade.api import (
    check_close,
    check_shape,
    check_true,
    check_unmodified,
    points,
    probe,
    read,
    ref,
    step,
    trusted_model,
)
from reference.numpy import Trainer, sgd

# The deterministic Trainer problems: TRAIN_ROWS copies of one image, batches of BATCH (so 2 iterations
# per epoch), EPOCHS epochs (checks after iterations 0, 1, 3, 5, 7), learning rate halved per epoch.
D, C = 6, 3
TRAIN_ROWS, VAL_ROWS, BATCH, EPOCHS, DECAY = 25, 4, 10, 4, 0.5
LEARNING_RATES = (0.01, 0.02, 0.05, 0.1, 0.2, 0.4)
UNREACHABLE_BIAS = -1e3
# Smaller than one batch: 6 distinct rows, batches of 10, 3 epochs of max(6 // 10, 1) = 1 iteration.
SMALL_ROWS, SMALL_EPOCHS = 6, 3
# check_accuracy: 250 rows, so the last batch of 100 is short; SUBSAMPLE rows drawn from them.
ACCURACY_ROWS, SUBSAMPLE = 250, 50


def _params(rng: np.random.Generator) -> dict[str, np.ndarray]:
    """The grader's linear model's parameters: W (D, C), b (C,)."""
    return {"W": rng.standard_normal((D, C)) / np.sqrt(D), "b": np.zeros(C)}


def _model(params: dict[str, np.ndarray]):
    """The grader's model the student's Trainer trains (the sandbox builds it from these numbers)."""
    return trusted_model("least_squares", W=params["W"], b=params["b"])


def _reference_net(params: dict[str, np.ndarray]):
    """The same model on this side, to replay the expected trajectory."""
    return _model(params).build()


def _reference_run(params: dict[str, np.ndarray], data: dict[str, np.ndarray], learning_rate: float,
                   epochs: int = EPOCHS, batch_size: int = BATCH) -> tuple[Trainer, list[dict[str, np.ndarray]]]:
    """The reference Trainer on the reference net with these parameters, and the parameters at every check."""
    net = _reference_net(params)
    snapshots: list[dict[str, np.ndarray]] = []

    class Recording(Trainer):
        def _record_accuracy(self) -> None:
            snapshots.append({name: value.copy() for name, value in self.model.params.items()})
            super()._record_accuracy()

    trainer = Recording(net, data, update_rule="sgd", updater_config={"learning_rate": learning_rate},
                        lr_decay=DECAY, batch_size=batch_size, num_epochs=epochs, verbose=False)
    trainer.train()
    return trainer, snapshots


def _trainer_steps(params: dict[str, np.ndarray], data: dict[str, np.ndarray], learning_rate: float,
                   epochs: int = EPOCHS, batch_size: int = BATCH) -> list:
    return [
        step("trainer", "Trainer", _model(params), data, update_rule="sgd",
             updater_config={"learning_rate": learning_rate}, lr_decay=DECAY, batch_size=batch_size,
             num_epochs=epochs, verbose=False),
        step("train", ref("trainer").attr("train")),
        read("loss_history", ref("trainer").attr("loss_history")),
        read("train_acc_history", ref("trainer").attr("train_acc_history")),
        read("val_acc_history", ref("trainer").attr("val_acc_history")),
        read("best_val_acc", ref("trainer").attr("best_val_acc")),
        read("epoch", ref("trainer").attr("epoch")),
        read("best_params", ref("trainer").attr("best_params")),
        read("model_params", ref("trainer").arg(0).attr("params")),
    ]


def _one_image_problem(rng: np.random.Generator, falling: bool) -> dict:
    """Every training row is x0 with the label the initial model likes least. ``falling``: the
    validation rows are x0 labelled with the class the initial model predicts, so the accuracy is 1
    until training moves the prediction (a learning rate is picked so that happens after the second
    check); else they are labelled with the third class, whose bias keeps it out of reach: the accuracy
    is always 0."""
    while True:
        params = _params(rng)
        x0 = rng.standard_normal(D)
        scores = x0 @ params["W"] + params["b"]
        predicted, target = int(np.argmax(scores)), int(np.argmin(scores))
        third = 3 - predicted - target
        data = {"X_train": np.tile(x0, (TRAIN_ROWS, 1)), "y_train": np.full(TRAIN_ROWS, target),
                "X_val": np.tile(x0, (VAL_ROWS, 1))}
        if falling:
            data["y_val"] = np.full(VAL_ROWS, predicted)
        else:
            data["y_val"] = np.full(VAL_ROWS, third)
            params["b"][third] = UNREACHABLE_BIAS
        for learning_rate in LEARNING_RATES:
            trainer, _ = _reference_run(params, data, learning_rate)
            history = trainer.val_acc_history
            good = history[:2] == [1.0, 1.0] and history[-1] == 0.0 if falling else set(history) == {0.0}
            if good and trainer.train_acc_history[-1] == 1.0:
                return {"steps": _trainer_steps(params, data, learning_rate)}


# --- probes --------------------------------------------------------------------------------------


@probe("sgd")
def sgd_steps(rng):
    w, dw = rng.standard_normal((5, 4)), rng.standard_normal((5, 4))
    return {"steps": [
        step("given", "sgd", w, dw, {"learning_rate": float(rng.uniform(0.05, 0.5))}),
        step("default", "sgd", w, dw),
        step("empty", "sgd", w, dw, {}),
    ]}


@probe("Trainer")
def trainer_falling(rng):
    return _one_image_problem(rng, falling=True)


@probe("Trainer")
def trainer_never_rises(rng):
    return _one_image_problem(rng, falling=False)


@probe("Trainer")
def trainer_small_data(rng):
    params = _params(rng)
    data = {"X_train": rng.standard_normal((SMALL_ROWS, D)), "y_train": rng.integers(0, C, SMALL_ROWS),
            "X_val": rng.standard_normal((VAL_ROWS, D)), "y_val": rng.integers(0, C, VAL_ROWS)}
    return {"steps": _trainer_steps(params, data, 0.1, epochs=SMALL_EPOCHS)}


@probe("Trainer")
def trainer_check_accuracy(rng):
    params = _params(rng)
    X, y = rng.standard_normal((ACCURACY_ROWS, D)), rng.integers(0, C, ACCURACY_ROWS)
    # Labels the model predicts on every row: any subsample of them scores exactly 1.
    predicted = _reference_net(params).y_pred(X)
    data = {"X_train": X[:10], "y_train": y[:10], "X_val": X[:10], "y_val": y[:10]}
    return {"steps": [
        step("trainer", "Trainer", _model(params), data, verbose=False),
        step("accuracy", ref("trainer").attr("check_accuracy"), X, y),
        step("subsampled", ref("trainer").attr("check_accuracy"), X, predicted, num_samples=SUBSAMPLE),
    ]}


# --- sgd -----------------------------------------------------------------------------------------


@points(2, cell="check_sgd")
def test_sgd_step(result, tolerance):
    """sgd: next_w = w - learning_rate * dw with the config's learning rate, which the returned config keeps; w and
    dw are left as they were given (next_w is a new array)."""
    run = result("sgd_steps")
    given = run.step("given")
    w, dw, config = given.args
    expected, _ = sgd(w, dw, dict(config))
    check_close("sgd: next_w", given.returned(0), expected, tolerance("value"))
    returned = given.entries(1)
    check_true(returned.get("learning_rate") == config["learning_rate"],
               "sgd: the returned config does not hold the learning rate it was given.")
    for call in ("given", "default"):
        check_unmodified("w", run.step(call), 0)
        check_unmodified("dw", run.step(call), 1)


@points(1, cell="check_sgd")
def test_sgd_default_learning_rate(result, tolerance):
    """sgd: without a config (None or {}) the learning rate is 1e-2, written into the returned config."""
    run = result("sgd_steps")
    for name, call in (("sgd(w, dw)", "default"), ("sgd(w, dw, {})", "empty")):
        s = run.step(call)
        w, dw = s.args[:2]
        check_close(f"{name}: next_w", s.returned(0), w - 1e-2 * dw, tolerance("value"))
        check_true(s.entries(1).get("learning_rate") == 1e-2,
                   f"{name}: the returned config must hold the default learning rate 1e-2.")


# --- Trainer -------------------------------------------------------------------------------------


def _reference_of(run) -> tuple[Trainer, list[dict[str, np.ndarray]]]:
    trainer_step = run.step("trainer")
    params = trainer_step.args[0].build().params
    data = trainer_step.args[1]
    kwargs = trainer_step.kwargs
    return _reference_run(params, data, kwargs["updater_config"]["learning_rate"], epochs=kwargs["num_epochs"],
                          batch_size=kwargs["batch_size"])


def _history(run, name: str) -> np.ndarray:
    return np.asarray(run.step(name).returned(0), dtype=np.float64).ravel()


def _check_params(what: str, got: dict[str, np.ndarray], expected: dict[str, np.ndarray], tol: float) -> None:
    check_true(set(got) == set(expected),
               f"{what} has the keys {sorted(got)}, expected {sorted(expected)} (every parameter of the model).")
    for name, value in expected.items():
        check_close(f"{what}['{name}']", got[name], value, tol)


@points(2, cell="check_trainer")
def test_trainer_losses_follow_sgd_with_decay(result, tolerance):
    """Trainer.train: a linear model of the grader's trained by your Trainer and sgd on copies of one image gives
    the loss of every iteration (4 epochs of 25 // 10 = 2 iterations, learning rate halved after each epoch)."""
    run = result("trainer_falling")
    reference, _ = _reference_of(run)
    check_close("Trainer.train: loss_history (one loss per iteration)", _history(run, "loss_history"),
                np.asarray(reference.loss_history), tolerance("value"))


@points(1, cell="check_trainer")
def test_trainer_epochs_and_checks(result, tolerance):
    """Trainer.train: the accuracy is checked after the first iteration and at each epoch's end, epoch counts the
    epochs, and a training set smaller than one batch still trains (sampling with replacement, max(N // batch, 1))."""
    for probe_name, what in (("trainer_falling", "25 rows, batches of 10, 4 epochs"),
                             ("trainer_small_data", "6 rows, batches of 10, 3 epochs")):
        run = result(probe_name)
        reference, _ = _reference_of(run)
        losses = _history(run, "loss_history")
        check_true(losses.size == len(reference.loss_history),
                   f"Trainer.train ({what}): {losses.size} losses in loss_history, expected {len(reference.loss_history)} "
                   f"(epochs times max(N // batch_size, 1) iterations).")
        for name in ("train_acc_history", "val_acc_history"):
            got = _history(run, name)
            expected = np.asarray(getattr(reference, name))
            check_true(got.size == expected.size,
                       f"Trainer.train ({what}): {got.size} entries in {name}, expected {expected.size} (a check after "
                       f"the first iteration and at every epoch's end).")
            if probe_name == "trainer_falling":
                check_close(f"Trainer.train ({what}): {name}", got, expected, tolerance("value"))
        epoch = float(np.asarray(run.step("epoch").returned(0)))
        check_true(epoch == reference.epoch, f"Trainer.train ({what}): epoch is {epoch:g} after training, expected "
                                             f"{reference.epoch} (one per epoch).")


@points(2, cell="check_trainer")
def test_trainer_keeps_the_best_parameters(result, tolerance):
    """Trainer.train: when the validation accuracy falls after the first checks, best_params and the model's
    params at the end are those of the FIRST check with the best accuracy (a copy, not the last parameters)."""
    run = result("trainer_falling")
    reference, snapshots = _reference_of(run)
    best_val = float(np.asarray(run.step("best_val_acc").returned(0)))
    check_true(best_val == reference.best_val_acc,
               f"Trainer.train: best_val_acc is {best_val:g}, expected the highest validation accuracy of the checks.")
    first_best = snapshots[int(np.argmax(reference.val_acc_history))]
    _check_params("Trainer.train: best_params", run.step("best_params").entries(0), first_best, tolerance("value"))
    _check_params("Trainer.train: the model's params after train()", run.step("model_params").entries(0), first_best,
                  tolerance("value"))


@points(2, cell="check_trainer")
def test_trainer_keeps_parameters_when_validation_never_rises(result, tolerance):
    """Trainer.train: with a validation accuracy of 0 at every check, the model still ends with a full set of
    parameters: those of the first check (the book's trainer leaves them empty)."""
    run = result("trainer_never_rises")
    reference, snapshots = _reference_of(run)
    val = _history(run, "val_acc_history")
    check_true(bool(np.all(val == 0)), "Trainer.train: this problem's validation labels cannot be predicted, yet "
                                       "val_acc_history is not all 0 (check_accuracy?).")
    _check_params("Trainer.train: the model's params after train() (validation accuracy always 0)",
                  run.step("model_params").entries(0), snapshots[0], tolerance("value"))
    _check_params("Trainer.train: best_params (validation accuracy always 0)", run.step("best_params").entries(0),
                  snapshots[0], tolerance("value"))


@points(1, cell="check_trainer")
def test_trainer_check_accuracy(result):
    """Trainer.check_accuracy: the fraction of 250 rows (batches of 100, the last one short) whose highest test-mode
    score is the label, a subsample of 50 rows drawn with their labels, and X and y left alone."""
    run = result("trainer_check_accuracy")
    X, y = run.step("accuracy").args
    expected = float(np.mean(run.step("trainer").args[0].build().y_pred(X) == y))
    got = float(np.asarray(run.step("accuracy").returned(0)))
    check_true(abs(got - expected) < 1e-12,
               f"Trainer.check_accuracy: {got:g} on {ACCURACY_ROWS} rows, expected the fraction of rows whose argmax "
               f"score is the label (off by {abs(got - expected):.3g}).")
    got = float(np.asarray(run.step("subsampled").returned(0)))
    check_true(got == 1.0,
               f"Trainer.check_accuracy with num_samples={SUBSAMPLE}: {got:g} on labels the model predicts on every row "
               f"(1 expected: draw the same rows of X and y).")
    check_unmodified("X", run.step("accuracy"), 0)
    check_unmodified("y", run.step("accuracy"), 1)


# --- trained on CIFAR-10 -------------------------------------------------------------------------


def _exported_history(exported, name: str) -> np.ndarray:
    history = np.asarray(exported(name), dtype=np.float64).ravel()
    check_true(history.size >= 5, f"the exported '{name}' has {history.size} entries (one per epoch expected).")
    return history


@points(0, cell="check_dropout_experiment")
def test_experiment_overfits_without_dropout(exported, threshold, measured, note):
    """Dropout experiment (a note, no points: the experiment is given): without dropout the network fits its 500
    training images."""
    train = _exported_history(exported, "experiment_no_dropout_train_acc")
    measured("experiment_train_acc", train[-1])
    required = threshold("experiment_train_acc")
    check_true(train[-1] >= required, f"without dropout the final training accuracy on 500 images is {train[-1]:.3f} "
                                      f"(at least {required:g} expected).")
    note(f"final training accuracy without dropout {train[-1]:.3f} (required {required:g})")


@points(0, cell="check_dropout_experiment")
def test_experiment_dropout_narrows_the_gap(exported, threshold, measured, note):
    """Dropout experiment (a note, no points: the experiment is given): keep probability 0.3 narrows the train -
    validation gap (mean of the last 5 checks) whenever the network without dropout overfits."""
    gaps = {}
    for name in ("no_dropout", "keep_07", "keep_03"):
        train = _exported_history(exported, f"experiment_{name}_train_acc")
        val = _exported_history(exported, f"experiment_{name}_val_acc")
        check_shape(f"the exported 'experiment_{name}_val_acc'", val, train.shape)
        gaps[name] = float(np.mean(train[-5:] - val[-5:]))
    shown = "train - validation gap: " + ", ".join(f"{k} {v:.3f}" for k, v in gaps.items())
    overfit = threshold("experiment_min_gap")
    if gaps["no_dropout"] < overfit:
        note(f"{shown}; without dropout the gap is below {overfit:g}: nothing to narrow")
        return
    ratio = gaps["keep_03"] / gaps["no_dropout"]
    measured("experiment_gap_ratio", ratio)
    required = threshold("experiment_gap_ratio")
    check_true(ratio <= required, f"with keep probability 0.3 the train - validation gap is {ratio:.2f} times the gap "
                                  f"without dropout (at most {required:g} expected; {shown}).")
    note(f"{shown}; ratio {ratio:.2f} (at most {required:g})")


@points(3, cell="best_accuracy")
def test_best_model_test_accuracy(exported, heldout, threshold, measured, note):
    """FullyConnectedNet you trained with your Trainer: accuracy of the exported CIFAR-10 test predictions of
    best_model."""
    y_test = heldout("cifar10", "y_test")
    y_pred = exported("best_model_test_predictions")
    check_shape("the exported 'best_model_test_predictions'", y_pred, y_test.shape)
    accuracy = float(np.mean(y_pred == y_test))
    measured("best_model_test_acc", accuracy)
    required = threshold("best_model_test_acc")
    check_true(accuracy >= required, f"test accuracy {accuracy:.3f} is below the required {required:.2f}.")
    note(f"test accuracy {accuracy:.3f} (required {required:.2f})")

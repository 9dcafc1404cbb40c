"""Hidden graders of a07's ``CaptioningTrainer``.

Why these checks: one bug costs its own points, once (UNIT_STANDARD), so the trainer never trains the
student's model here: it gets the grader's trusted ``least_squares_captioner`` (``CaptioningRNN``'s
interface, a linear least-squares stand-in whose every step the grader replays). Minibatches are drawn
at random, so the exact check uses data whose every minibatch is the same: six copies of one caption,
all pointing at image 4 of seven distinct image inputs (a trainer that takes inputs by caption row
instead of by ``image_idxs`` gets other rows). On it the whole run is replayed with ``adam`` (its
moments per parameter, so a config shared by the parameters fails) and a learning rate halved after
every epoch of two iterations: the parameters after training, every loss of the history and the
learning rates left in ``updater_configs``. A trainer that never updates, decays at the wrong time or
not per epoch, or feeds the wrong inputs cannot pass. The random draws themselves are checked by what
holds for any draw: on ten captions of two kinds (each kind with its own image), the number of
iterations (2 epochs of 10 // 3 = 3) and the first loss, which must be the loss of some minibatch of
exactly ``batch_size`` captions of the two kinds (the parameters are untouched then). These
properties earn points only together with the replayed trajectory.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from pipelines.grade.api import check_close, check_true, points, probe, read, ref, step, trusted_model
from pipelines.grade.probe_models import LeastSquaresCaptioner
from reference.numpy import adam

V, HIDDEN, D = 7, 3, 4
NAMES = ("W_embed", "W_vocab", "W_proj", "b_vocab")
# The replayed run: 6 identical captions, batches of 3 (2 iterations per epoch), 3 epochs, adam.
REPLAY = {"batch_size": 3, "num_epochs": 3, "lr": 0.05, "lr_decay": 0.5, "captions": 6}
# The draws: 10 captions of two kinds, batches of 3 (3 iterations per epoch), 2 epochs, sgd.
DRAWS = {"batch_size": 3, "num_epochs": 2, "lr": 0.1, "captions": 10}


def _model(rng: np.random.Generator) -> Any:
    return trusted_model("least_squares_captioner", W_embed=rng.standard_normal((V, HIDDEN)),
                         W_vocab=0.5 * rng.standard_normal((HIDDEN, V)), W_proj=0.5 * rng.standard_normal((D, V)),
                         b_vocab=0.1 * rng.standard_normal(V), null=0, start=1)


def _caption(rng: np.random.Generator, words: int) -> np.ndarray:
    """<START> words <END> <NULL>: length 6."""
    return np.array([1, *rng.integers(3, V, size=words), 2, *[0] * (4 - words)])


def _reads(trainer: str) -> list:
    steps = [read("params", ref(trainer).arg(0).attr("params")), read("history", ref(trainer).attr("loss_history"))]
    return steps + [read(f"lr_{name}", ref(trainer).attr("updater_configs").item(name).item("learning_rate"))
                    for name in NAMES]


@probe("CaptioningTrainer")
def trainer_replay(rng):
    data = {"train_captions": np.tile(_caption(rng, 3), (REPLAY["captions"], 1)),
            "train_image_idxs": np.full(REPLAY["captions"], 4),
            "train_image_inputs": rng.standard_normal((7, D))}
    return {"steps": [step("trainer", "CaptioningTrainer", _model(rng), data, update_rule="adam",
                           updater_config={"learning_rate": REPLAY["lr"]}, lr_decay=REPLAY["lr_decay"],
                           batch_size=REPLAY["batch_size"], num_epochs=REPLAY["num_epochs"], verbose=False, seed=0),
                      step("train", ref("trainer").attr("train")), *_reads("trainer")]}


@probe("CaptioningTrainer")
def trainer_draws(rng):
    kinds = np.array([0, 1] * (DRAWS["captions"] // 2))
    captions = np.stack([_caption(rng, 2), _caption(rng, 4)])
    data = {"train_captions": captions[kinds], "train_image_idxs": kinds, "train_image_inputs": rng.standard_normal((2, D))}
    return {"steps": [step("trainer", "CaptioningTrainer", _model(rng), data, update_rule="sgd",
                           updater_config={"learning_rate": DRAWS["lr"]}, batch_size=DRAWS["batch_size"],
                           num_epochs=DRAWS["num_epochs"], verbose=False, seed=1),
                      step("train", ref("trainer").attr("train")), *_reads("trainer")]}


# --- the replay ----------------------------------------------------------------------------------


def _replay(run) -> tuple[dict[str, np.ndarray], list[float], float]:
    """The parameters, the loss history and the final learning rate of the pinned trainer on the replay probe."""
    model: LeastSquaresCaptioner = run.step("trainer").args[0].build()
    data = run.step("trainer").args[1]
    kwargs = run.step("trainer").kwargs
    batch = kwargs["batch_size"]
    captions = data["train_captions"][:batch]
    inputs = data["train_image_inputs"][data["train_image_idxs"][:batch]]
    per_epoch = max(len(data["train_captions"]) // batch, 1)
    configs: dict[str, dict[str, Any]] = {name: dict(kwargs["updater_config"]) for name in model.params}
    history = []
    for t in range(kwargs["num_epochs"] * per_epoch):
        loss, grads = model.loss(inputs, captions)
        history.append(loss)
        for name in model.params:
            model.params[name], configs[name] = adam(model.params[name], grads[name], configs[name])
        if (t + 1) % per_epoch == 0:
            for config in configs.values():
                config["learning_rate"] *= kwargs["lr_decay"]
    return model.params, history, configs[NAMES[0]]["learning_rate"]


def _check_trajectory(run, tolerance) -> None:
    params, _, _ = _replay(run)
    got = run.step("params").entries(0)
    for name in NAMES:
        check_true(name in got, f"CaptioningTrainer: after train() the model has no parameter '{name}' (the trainer "
                                "must update model.params, not replace it with other keys).")
        check_close(f"CaptioningTrainer: model.params['{name}'] after 3 epochs of adam with lr_decay 0.5 (replayed "
                    "on data whose every minibatch is the same)", got[name], params[name], tolerance("value"))


@points(3, cell="check_trainer")
def test_trainer_trajectory(result, tolerance):
    """CaptioningTrainer: the parameters of the grader's model and every loss of loss_history after 3 epochs of adam
    (lr_decay 0.5, 2 iterations per epoch), replayed on data whose every minibatch is the same."""
    run = result("trainer_replay")
    _check_trajectory(run, tolerance)
    _, history, _ = _replay(run)
    got = np.asarray(run.step("history").returned(0), dtype=np.float64).reshape(-1)
    check_true(got.shape == (len(history),), f"CaptioningTrainer: loss_history has {got.size} entries after 3 epochs "
                                             f"of 2 iterations, expected {len(history)}.")
    check_close("CaptioningTrainer: loss_history", got, history, tolerance("value"))


@points(1, cell="check_trainer")
def test_trainer_learning_rates(result, tolerance):
    """CaptioningTrainer: every parameter's config holds learning_rate * lr_decay ** num_epochs after training (and
    the parameters are right)."""
    run = result("trainer_replay")
    _check_trajectory(run, tolerance)
    _, _, expected = _replay(run)
    for name in NAMES:
        check_close(f"CaptioningTrainer: updater_configs['{name}']['learning_rate'] after 3 epochs with lr_decay 0.5",
                    run.step(f"lr_{name}").returned(0), expected, tolerance("value"))


@points(2, cell="check_trainer")
def test_trainer_minibatches(result, tolerance):
    """CaptioningTrainer: on 10 captions with batch_size 3, 2 epochs of 3 iterations, and the first loss is that of a
    minibatch of 3 of the training captions with their own images' inputs (and the replayed run is right)."""
    _check_trajectory(result("trainer_replay"), tolerance)
    run = result("trainer_draws")
    history = np.asarray(run.step("history").returned(0), dtype=np.float64).reshape(-1)
    per_epoch = DRAWS["captions"] // DRAWS["batch_size"]
    check_true(history.size == DRAWS["num_epochs"] * per_epoch,
               f"CaptioningTrainer: {history.size} losses recorded for 2 epochs of 10 // 3 = {per_epoch} iterations, "
               f"expected {DRAWS['num_epochs'] * per_epoch}.")
    model = run.step("trainer").args[0].build()
    data = run.step("trainer").args[1]
    kind_loss = [model.loss(data["train_image_inputs"][[k]], data["train_captions"][[k]])[0] for k in (0, 1)]
    batch = DRAWS["batch_size"]
    possible = [(k * kind_loss[0] + (batch - k) * kind_loss[1]) / batch for k in range(batch + 1)]
    error = min(abs(history[0] - p) for p in possible) / max(abs(p) for p in possible)
    check_true(error <= tolerance("value"),
               "CaptioningTrainer: the first loss is not the loss of any minibatch of batch_size = 3 training captions "
               "with their own images' inputs (are batch_size and image_idxs used?).")

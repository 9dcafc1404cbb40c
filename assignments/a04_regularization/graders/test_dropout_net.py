"""Hidden graders of FullyConnectedNet.loss with dropout and L2 regularization.

Why these checks: the grader builds the student's network with the given constructor, assigns its
parameters (``model.params[...] = ...``, the convention the notebook pins) and calls ``loss`` in one
chained probe, so the model never leaves the sandbox. With a seed every hidden layer's mask is the
book's (the notebook pins the recipe and that one ``dropout_param`` is shared), so the loss is compared
with ``reference.numpy`` and the gradients with torch autograd given the same masks; the student's own
centered differences check the gradient too. ``reg > 0`` with dropout on catches the book's bug (the L2
gradient only added without dropout). Test mode must switch every layer off and the next train-mode
call must switch them on again; a net without dropout, a deeper net and a batch of one cover the
loops. Random parameters keep every hidden pre-activation away from the ReLU kink.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from pipelines.grade.api import (
    assign,
    check_close,
    check_true,
    check_unmodified,
    numgrad,
    points,
    probe,
    read,
    ref,
    step,
)
from reference.numpy import FullyConnectedNet, dropout_mask
from reference.torch import fully_connected_net_loss, value_and_grads

# N examples of shape SHAPE (D = 12), C classes.
N, SHAPE, C = 9, (3, 2, 2), 6
D = int(np.prod(SHAPE))
# Hidden pre-activations of the random probes stay at least this far from 0 (centered differences move
# them by about h = 1e-5 times an input entry).
KINK_MARGIN = 1e-3
NUMERIC_CHECKS = 10


def _names(num_layers: int) -> list[str]:
    return [f"{kind}{i}" for i in range(1, num_layers + 1) for kind in ("W", "b")]


def _masks(n: int, hidden: Sequence[int], p: float, seed: int | None) -> list[np.ndarray] | None:
    """The masks of a seeded network's hidden layers: the book's draw, reseeded for every layer."""
    if seed is None:
        return None
    return [dropout_mask((n, h), p, seed) for h in hidden]


def _random_params(rng: np.random.Generator, X: np.ndarray, hidden: Sequence[int],
                   masks: list[np.ndarray] | None) -> dict[str, np.ndarray]:
    """Parameters whose hidden pre-activations on X (after the given masks) all sit at least KINK_MARGIN
    from 0, redrawn until they do; weights scaled so that activations stay of order 1."""
    dims = [D, *hidden, C]
    while True:
        params: dict[str, np.ndarray] = {}
        for i in range(1, len(dims)):
            params[f"W{i}"] = rng.standard_normal((dims[i - 1], dims[i])) / np.sqrt(dims[i - 1])
            params[f"b{i}"] = 0.5 * rng.standard_normal(dims[i])
        out, closest = X.reshape(len(X), -1), np.inf
        for i in range(1, len(dims) - 1):
            a = out @ params[f"W{i}"] + params[f"b{i}"]
            closest = min(closest, float(np.min(np.abs(a))))
            out = np.maximum(a, 0) * (masks[i - 1] if masks is not None else 1)
        if closest >= KINK_MARGIN:
            return params


def _net_steps(hidden: Sequence[int], params: dict[str, np.ndarray], *, dropout: float, reg: float,
               seed: int | None) -> list:
    """Build the student's net and assign the parameters."""
    kwargs = {"input_dim": D, "num_classes": C, "dropout": dropout, "reg": reg}
    if seed is not None:
        kwargs["seed"] = seed
    return [step("net", "FullyConnectedNet", list(hidden), **kwargs),
            assign("set", ref("net").attr("params"), params)]


def _loss_probe(rng: np.random.Generator, hidden: Sequence[int], *, dropout: float, n: int = N,
                numeric: bool = False) -> dict:
    X, y = rng.standard_normal((n, *SHAPE)), rng.integers(0, C, n)
    seed = int(rng.integers(2**31 - 1)) if dropout < 1 else None
    params = _random_params(rng, X, hidden, _masks(n, hidden, dropout, seed))
    reg = float(rng.uniform(0.1, 1.0))
    probe_input: dict[str, Any] = {"steps": [
        *_net_steps(hidden, params, dropout=dropout, reg=reg, seed=seed),
        step("loss", ref("net").attr("loss"), X, y),
        read("params_after", ref("net").attr("params")),
    ]}
    if numeric:
        probe_input["numeric_grad"] = numgrad(of=("loss", 0), wrt=("set", 1, "W1"), k=NUMERIC_CHECKS)
    return probe_input


# --- probes --------------------------------------------------------------------------------------


@probe("FullyConnectedNet")
def fc_dropout_reg(rng):
    return _loss_probe(rng, [10, 8], dropout=float(rng.uniform(0.4, 0.8)), numeric=True)


@probe("FullyConnectedNet")
def fc_no_dropout_deep(rng):
    return _loss_probe(rng, [10, 8, 7], dropout=1)


@probe("FullyConnectedNet")
def fc_dropout_batch_of_one(rng):
    return _loss_probe(rng, [10, 8], dropout=0.5, n=1)


@probe("FullyConnectedNet")
def fc_modes(rng):
    X, y = rng.standard_normal((N, *SHAPE)), rng.integers(0, C, N)
    seed = int(rng.integers(2**31 - 1))
    params = _random_params(rng, X, [10, 8], None)
    return {"steps": [
        *_net_steps([10, 8], params, dropout=0.5, reg=0.0, seed=seed),
        step("train", ref("net").attr("loss"), X, y),
        step("test", ref("net").attr("loss"), X),
        step("train_again", ref("net").attr("loss"), X, y),
    ]}


# --- helpers -------------------------------------------------------------------------------------


def _setup(run, loss_step: str) -> tuple[FullyConnectedNet, dict[str, np.ndarray], list[np.ndarray] | None]:
    """The reference net of a probe (same parameters, dropout, reg and seed), its params, and the masks
    of a train-mode call on the batch of step ``loss_step``."""
    kwargs = run.step("net").kwargs
    hidden = run.step("net").args[0]
    params = run.step("set").args[1]
    net = FullyConnectedNet(hidden, **kwargs)
    net.params = {name: value.copy() for name, value in params.items()}
    n = len(run.step(loss_step).args[0])
    return net, params, _masks(n, hidden, kwargs["dropout"], kwargs.get("seed")) if net.use_dropout else None


def _check_loss_and_grads(run, tolerance, what: str) -> None:
    net, params, masks = _setup(run, "loss")
    loss_step = run.step("loss")
    X, y = loss_step.args
    check_close(f"{what}: the loss", loss_step.returned(0), net.loss(X, y)[0], tolerance("value"))
    names = list(params)
    reg = net.reg

    def loss(X, y, *values):
        return fully_connected_net_loss(X, y, dict(zip(names, values, strict=True)), reg, dropout_masks=masks)

    _, expected = value_and_grads(loss, [X, y, *params.values()], wrt=list(range(2, 2 + len(names))))
    grads = loss_step.entries(1)
    check_true(set(grads) == set(names), f"{what}: grads has the keys {sorted(grads)}, expected {sorted(names)}.")
    for name, grad in zip(names, expected, strict=True):
        check_close(f"{what}: grads['{name}']", grads[name], grad, tolerance("gradient"))


# --- tests ---------------------------------------------------------------------------------------


@points(4, cell="check_fc_net")
def test_fc_dropout_loss_and_gradients(result, tolerance):
    """FullyConnectedNet.loss: loss and grads of a seeded dropout net with reg > 0 (the L2 gradient with dropout on),
    against the reference and autograd with the same masks, with X and the parameters left as they were given."""
    _check_loss_and_grads(result("fc_dropout_reg"), tolerance, "FullyConnectedNet.loss (dropout, reg > 0)")
    run = result("fc_dropout_reg")
    check_unmodified("X", run.step("loss"), 0)
    given = run.step("set").args[1]
    after = run.step("params_after").entries(0)
    for name, value in given.items():
        check_true(name in after and np.array_equal(after[name], value),
                   f"FullyConnectedNet.loss changed the parameter {name} (or removed it from self.params).")


@points(1, cell="check_fc_net")
def test_fc_dropout_own_numeric_gradient(result, tolerance):
    """FullyConnectedNet.loss: grads['W1'] of the seeded dropout net agrees with centered differences of your own loss."""
    run = result("fc_dropout_reg")
    dW1 = run.step("loss").entries(1).get("W1")
    check_true(dW1 is not None and np.shape(dW1) == np.shape(run.step("set").args[1]["W1"]),
               "FullyConnectedNet.loss: grads['W1'] is missing or has the wrong shape.")
    check_close("FullyConnectedNet.loss: grads['W1'] against your own numeric gradient", dW1[run.numeric_grad_index],
                run.numeric_grad, tolerance("numeric_gradient"))


@points(1, cell="check_fc_net")
def test_fc_without_dropout_and_batch_of_one(result, tolerance):
    """FullyConnectedNet.loss: loss and grads of a net without dropout (three hidden layers, reg > 0) and of a
    dropout net on a batch of one, against the reference and autograd."""
    _check_loss_and_grads(result("fc_no_dropout_deep"), tolerance, "FullyConnectedNet.loss (no dropout, 3 hidden layers)")
    _check_loss_and_grads(result("fc_dropout_batch_of_one"), tolerance, "FullyConnectedNet.loss (dropout, batch of one)")


@points(2, cell="check_fc_net")
def test_fc_test_mode_switches_dropout_off(result, tolerance):
    """FullyConnectedNet.loss: loss(X) after a train-mode call gives the scores without dropout, and the next
    loss(X, y) applies the same seeded masks again."""
    run = result("fc_modes")
    net, _, _ = _setup(run, "train")
    X, y = run.step("train").args
    check_close("FullyConnectedNet.loss(X) after loss(X, y): the test-mode scores", run.step("test").returned(0),
                np.asarray(net.loss(X)), tolerance("value"))
    check_close("FullyConnectedNet.loss(X, y) after loss(X): the train-mode loss", run.step("train_again").returned(0),
                net.loss(X, y)[0], tolerance("value"))

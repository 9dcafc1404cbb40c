"""Hidden graders of a05's FullyConnectedNet with batch normalization, and of the trained models.

Why these checks: the student's network is built with their constructor and given the grader's
parameters by assignment to ``model.params`` (a chained probe: the model never leaves the sandbox).
The constructor must add ``gamma{i}`` (ones) and ``beta{i}`` (zeros) for every hidden layer, under
either flag (``normalization="batchnorm"``, the book's ``use_batchnorm=True``) and none without it.
Losses are compared with ``reference.numpy`` and every gradient, gammas and betas included, with
torch autograd, on batches of several examples (and of two, the book's check) with random gammas
and betas chosen so that no hidden unit sits near its ReLU kink after normalization; ``W1`` also
against the student's own centered differences. After two training calls (which update the running
averages in ``bn_params``) a call without labels must give the test-mode scores of the reference
network that took the same calls. The network without batch normalization must still be a03's.
Leaving X alone is part of the gradient test (a loss that does nothing leaves X alone too).

Finally the trained models, as notes worth no points (issue #21: the experiments are given, read-only
cells, so they measure the book's claims, not the student's work, and a bug of a rule or of the
network already costs its own points above): whether Adam and RMSProp end with a lower training loss
than plain SGD on the same budget and no lower CIFAR-10 test accuracy (Adam a higher one), and the
test accuracy of the network with batch normalization; margins calibrated on the reference solution
over several seeds (params.yaml). The comparison of the networks with and without batch
normalization is not checked: at this budget they are level within the noise.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from pipelines.grade.api import (
    assign,
    check_close,
    check_shape,
    check_true,
    check_unmodified,
    numgrad,
    points,
    probe,
    read,
    ref,
    step,
)
from reference.numpy import FullyConnectedNet
from reference.torch import fully_connected_net_loss, value_and_grads

# Random probes: N examples of D features, C classes.
N, D, C = 7, 12, 5
NUMERIC_CHECKS = 10
# Every hidden unit's input to its ReLU (after batch normalization) stays at least this far from 0.
KINK_MARGIN = 1e-3
# Initialisation probe: the book's sizes.
INIT_DIMS = (15, [20, 30], 10)


def _names(num_layers: int, batchnorm: bool = True) -> list[str]:
    names = [f"{kind}{i}" for i in range(1, num_layers + 1) for kind in ("W", "b")]
    if batchnorm:
        names += [f"{kind}{i}" for i in range(1, num_layers) for kind in ("gamma", "beta")]
    return names


def _random_params(rng: np.random.Generator, X: np.ndarray, hidden: Sequence[int],
                   batchnorm: bool = True) -> dict[str, np.ndarray]:
    """Parameters whose hidden ReLU inputs on X (train-mode statistics) all sit at least KINK_MARGIN from 0."""
    dims = [X.shape[1], *hidden, C]
    while True:
        params: dict[str, np.ndarray] = {}
        for i, (fan_in, fan_out) in enumerate(zip(dims[:-1], dims[1:], strict=True), start=1):
            params[f"W{i}"] = rng.standard_normal((fan_in, fan_out)) / np.sqrt(fan_in)
            params[f"b{i}"] = 0.5 * rng.standard_normal(fan_out)
            if batchnorm and i < len(dims) - 1:
                params[f"gamma{i}"] = rng.uniform(0.5, 1.5, fan_out) * rng.choice([-1.0, 1.0], fan_out)
                params[f"beta{i}"] = 0.5 * rng.standard_normal(fan_out)
        out, closest = X, np.inf
        for i in range(1, len(dims) - 1):
            a = out @ params[f"W{i}"] + params[f"b{i}"]
            if batchnorm:
                a = (a - a.mean(axis=0)) / np.sqrt(a.var(axis=0) + 1e-5) * params[f"gamma{i}"] + params[f"beta{i}"]
            closest = min(closest, float(np.min(np.abs(a))))
            out = np.maximum(a, 0)
        if closest >= KINK_MARGIN:
            return params


def _loss_probe(rng: np.random.Generator, hidden: list[int], n: int = N, batchnorm: bool = True) -> dict:
    X, y = rng.standard_normal((n, D)), rng.integers(0, C, n)
    reg = float(rng.uniform(0.1, 1.0))
    params = _random_params(rng, X, hidden, batchnorm)
    normalization = "batchnorm" if batchnorm else None
    return {
        "steps": [
            step("net", "FullyConnectedNet", hidden, input_dim=D, num_classes=C, normalization=normalization, reg=reg),
            assign("set", ref("net").attr("params"), params),
            step("loss", ref("net").attr("loss"), X, y),
        ],
        "numeric_grad": numgrad(of=("loss", 0), wrt=("set", 1, "W1"), k=NUMERIC_CHECKS),
    }


# --- probes --------------------------------------------------------------------------------------


@probe("FullyConnectedNet")
def net_init(rng):
    input_dim, hidden, classes = INIT_DIMS
    return {
        "steps": [
            step("cs231n", "FullyConnectedNet", hidden, input_dim=input_dim, num_classes=classes,
                 normalization="batchnorm", weight_scale=5e-2),
            read("cs231n_params", ref("cs231n").attr("params")),
            step("book", "FullyConnectedNet", hidden, input_dim=input_dim, num_classes=classes, use_batchnorm=True,
                 weight_scale=5e-2),
            read("book_params", ref("book").attr("params")),
            step("plain", "FullyConnectedNet", hidden, input_dim=input_dim, num_classes=classes, weight_scale=5e-2),
            read("plain_params", ref("plain").attr("params")),
        ],
    }


@probe("FullyConnectedNet")
def net_loss(rng):
    return _loss_probe(rng, [10, 8, 7])


@probe("FullyConnectedNet")
def net_loss_batch_of_two(rng):
    return _loss_probe(rng, [10, 8], n=2)


@probe("FullyConnectedNet")
def net_plain_loss(rng):
    return _loss_probe(rng, [10, 8], batchnorm=False)


@probe("FullyConnectedNet")
def net_test_mode(rng):
    hidden = [10, 8]
    Xs = [rng.standard_normal((N, D)) + 0.3 * rng.standard_normal(D) for _ in range(3)]
    ys = [rng.integers(0, C, N) for _ in range(2)]
    params = _random_params(rng, Xs[0], hidden)
    return {
        "steps": [
            step("net", "FullyConnectedNet", hidden, input_dim=D, num_classes=C, normalization="batchnorm"),
            assign("set", ref("net").attr("params"), params),
            step("train1", ref("net").attr("loss"), Xs[0], ys[0]),
            step("train2", ref("net").attr("loss"), Xs[1], ys[1]),
            step("scores", ref("net").attr("loss"), Xs[2]),
            step("scores_one", ref("net").attr("loss"), Xs[2][:1]),
        ],
    }


# --- helpers -------------------------------------------------------------------------------------


def _reference_net(hidden: Sequence[int], params: dict[str, np.ndarray], reg: float = 0.0,
                   batchnorm: bool = True) -> FullyConnectedNet:
    net = FullyConnectedNet(list(hidden), input_dim=D, num_classes=C, reg=reg,
                            normalization="batchnorm" if batchnorm else None)
    net.params = {name: value.copy() for name, value in params.items()}
    return net


def _check_loss_probe(run, tolerance, what: str) -> None:
    """The loss against the numpy reference and every gradient against autograd."""
    hidden = run.step("net").args[0]
    kwargs = run.step("net").kwargs
    batchnorm = kwargs["normalization"] == "batchnorm"
    reg = kwargs["reg"]
    params = run.step("set").args[1]
    X, y = run.step("loss").args
    expected_loss, _ = _reference_net(hidden, params, reg, batchnorm).loss(X, y)
    check_close(f"{what}: the loss", run.step("loss").returned(0), expected_loss, tolerance("value"))
    names = _names(len(hidden) + 1, batchnorm)
    bn_params = [{"mode": "train"} for _ in hidden] if batchnorm else None

    def loss(X, y, *values):
        return fully_connected_net_loss(X, y, dict(zip(names, values, strict=True)), reg, bn_params=bn_params)

    _, grads = value_and_grads(loss, [X, y, *(params[name] for name in names)], wrt=list(range(2, 2 + len(names))))
    got = run.step("loss").entries(1)
    # The biases of the layers that feed a batch normalization shift every example alike, which the
    # normalization subtracts again: their exact gradient is 0, so both sides are rounding noise and
    # only an absolute bound means anything.
    cancelled = {f"b{i}" for i in range(1, len(hidden) + 1)} if batchnorm else set()
    for name, expected in zip(names, grads, strict=True):
        check_true(name in got, f"{what}: grads has no '{name}' (every parameter needs a gradient).")
        if name in cancelled:
            _check_absolute(f"{what}: grads['{name}'] (against autograd, exactly 0 in theory)", got[name], expected,
                            tolerance("bn_bias_gradient_abs"))
        else:
            _check_gradient(f"{what}: grads['{name}'] (against autograd)", got[name], expected, tolerance("gradient"))


def _check_absolute(what: str, got: np.ndarray, expected: np.ndarray, bound: float) -> None:
    check_shape(what, got, expected.shape)
    error = float(np.max(np.abs(np.asarray(got, dtype=np.float64) - expected)))
    check_true(error <= bound, f"{what}: largest absolute error {error:.2e}, above {bound:.0e}.")


def _check_gradient(what: str, got: np.ndarray, expected: np.ndarray, tol: float) -> None:
    """The largest error relative to the largest entry of the gradient. Entrywise relative errors do not
    work here: behind a batch normalization some entries cancel to rounding noise (a hidden unit active
    on every example of the batch gets a beta gradient of 0), and noise against noise is off by 100 %."""
    check_shape(what, got, expected.shape)
    got = np.asarray(got, dtype=np.float64)
    check_true(bool(np.all(np.isfinite(got))), f"{what}: contains NaN or infinity.")
    error = float(np.max(np.abs(got - expected))) / max(1e-8, float(np.max(np.abs(expected))))
    check_true(error <= tol, f"{what}: largest error {error:.2e} relative to the largest entry, above the tolerance "
                             f"{tol:.0e}.")


# --- FullyConnectedNet ---------------------------------------------------------------------------


@points(2, cell="check_fc_net")
def test_bn_net_initialisation(result):
    """FullyConnectedNet: with normalization='batchnorm' or use_batchnorm=True, gamma{i} (ones) and beta{i} (zeros)
    of shape (d_i,) for every hidden layer next to W{i} and b{i}; none without batch normalization."""
    run = result("net_init")
    input_dim, hidden, classes = INIT_DIMS
    dims = [input_dim, *hidden, classes]
    for name, flag in (("cs231n_params", "normalization='batchnorm'"), ("book_params", "use_batchnorm=True")):
        params = run.step(name).entries(0)
        expected = set(_names(len(hidden) + 1))
        check_true(set(params) == expected, f"FullyConnectedNet({flag}): params has the keys {sorted(params)}, "
                                            f"expected {sorted(expected)}.")
        for i in range(1, len(dims)):
            check_shape(f"FullyConnectedNet({flag}): params['W{i}']", params[f"W{i}"], (dims[i - 1], dims[i]))
            check_shape(f"FullyConnectedNet({flag}): params['b{i}']", params[f"b{i}"], (dims[i],))
        for i in range(1, len(dims) - 1):
            check_shape(f"FullyConnectedNet({flag}): params['gamma{i}']", params[f"gamma{i}"], (dims[i],))
            check_shape(f"FullyConnectedNet({flag}): params['beta{i}']", params[f"beta{i}"], (dims[i],))
            check_true(bool(np.all(params[f"gamma{i}"] == 1)), f"FullyConnectedNet({flag}): gamma{i} must start at 1.")
            check_true(bool(np.all(params[f"beta{i}"] == 0)), f"FullyConnectedNet({flag}): beta{i} must start at 0.")
    plain = run.step("plain_params").entries(0)
    expected = set(_names(len(hidden) + 1, batchnorm=False))
    check_true(set(plain) == expected, f"FullyConnectedNet without batch normalization: params has the keys "
                                       f"{sorted(plain)}, expected {sorted(expected)}.")


@points(4, cell="check_fc_net")
def test_bn_net_gradients(result, tolerance):
    """FullyConnectedNet(normalization='batchnorm'): loss and grads (gammas and betas included) of a net with three
    hidden layers (reg > 0) on a batch of 7, against autograd, with X left as it was given."""
    _check_loss_probe(result("net_loss"), tolerance, "FullyConnectedNet([10, 8, 7], batchnorm)")
    check_unmodified("FullyConnectedNet.loss: X", result("net_loss").step("loss"), 0)


@points(1, cell="check_fc_net")
def test_bn_net_batch_of_two(result, tolerance):
    """FullyConnectedNet(normalization='batchnorm'): loss and grads on a batch of two (the book's check), against autograd."""
    _check_loss_probe(result("net_loss_batch_of_two"), tolerance, "FullyConnectedNet([10, 8], batchnorm), batch of two")


@points(2, cell="check_fc_net")
def test_bn_net_own_numeric_gradient(result, tolerance):
    """FullyConnectedNet(normalization='batchnorm'): grads['W1'] agrees with centered differences of your own loss."""
    run = result("net_loss")
    grads = run.step("loss").entries(1)
    check_true("W1" in grads, "FullyConnectedNet: grads has no 'W1'.")
    dW1 = grads["W1"]
    check_shape("FullyConnectedNet: grads['W1']", dW1, run.step("set").args[1]["W1"].shape)
    check_close("FullyConnectedNet: grads['W1'] against your own numeric gradient", dW1[run.numeric_grad_index],
                run.numeric_grad, tolerance("numeric_gradient"))


@points(2, cell="check_fc_net")
def test_bn_net_test_mode(result, tolerance):
    """FullyConnectedNet(normalization='batchnorm'): after two training calls, loss(X) gives the test-mode scores
    (batch normalization with the running averages), for a batch and for one example."""
    run = result("net_test_mode")
    hidden = run.step("net").args[0]
    net = _reference_net(hidden, run.step("set").args[1])
    net.loss(*run.step("train1").args)
    net.loss(*run.step("train2").args)
    for name, label in (("scores", "a batch of 7"), ("scores_one", "one example")):
        expected = np.asarray(net.loss(run.step(name).args[0]))
        check_close(f"FullyConnectedNet: test-mode scores after two training calls ({label})",
                    run.step(name).returned(0), expected, tolerance("value"))


@points(1, cell="check_fc_net")
def test_plain_net_unchanged(result, tolerance):
    """FullyConnectedNet without batch normalization: loss and grads as in a03, against autograd."""
    _check_loss_probe(result("net_plain_loss"), tolerance, "FullyConnectedNet([10, 8])")


# --- trained on CIFAR-10 -------------------------------------------------------------------------


def _test_accuracy(exported, heldout, name: str) -> float:
    y_test = heldout("cifar10", "y_test")
    y_pred = exported(f"{name}_test_predictions")
    check_shape(f"the exported '{name}_test_predictions'", y_pred, y_test.shape)
    return float(np.mean(y_pred == y_test))


def _final_loss(exported, rule: str) -> float:
    """Mean training loss of the last tenth of the iterations of the model trained with ``rule``."""
    history = np.asarray(exported(f"{rule}_loss_history"), dtype=np.float64)
    check_true(history.ndim == 1 and history.size >= 10 and bool(np.all(np.isfinite(history))),
               f"the exported '{rule}_loss_history' must hold one finite loss per iteration (at least 10).")
    return float(np.mean(history[-max(1, history.size // 10):]))


def _check_beats_sgd(exported, heldout, threshold, measured, note, rule: str) -> None:
    """The rule's final training loss is below SGD's, and its test accuracy above, by calibrated margins."""
    sgd_loss, rule_loss = _final_loss(exported, "sgd"), _final_loss(exported, rule)
    loss_margin = threshold(f"{rule}_loss_below_sgd")
    measured(f"{rule}_loss_below_sgd", sgd_loss - rule_loss)
    sgd_acc, rule_acc = _test_accuracy(exported, heldout, "sgd"), _test_accuracy(exported, heldout, rule)
    measured(f"{rule}_acc_over_sgd", rule_acc - sgd_acc)
    check_true(rule_loss <= sgd_loss - loss_margin,
               f"{rule}: final training loss {rule_loss:.3f} after the same budget as SGD's {sgd_loss:.3f}; at least "
               f"{loss_margin:.2f} lower expected.")
    acc_margin = threshold(f"{rule}_acc_over_sgd")
    check_true(rule_acc - sgd_acc >= acc_margin,
               f"{rule}: test accuracy {rule_acc:.3f} after the same budget as SGD's {sgd_acc:.3f}; at least "
               f"{acc_margin:+.2f} more expected.")
    note(f"{rule}: final training loss {rule_loss:.3f} (SGD {sgd_loss:.3f}), test accuracy {rule_acc:.3f} "
         f"(SGD {sgd_acc:.3f})")


@points(0, cell="rules_accuracy")
def test_adam_beats_sgd(exported, heldout, threshold, measured, note):
    """adam (a note, no points): the network the given experiment trained with your Adam ends with a lower training
    loss and a higher CIFAR-10 test accuracy than the one trained with SGD on the same budget."""
    _check_beats_sgd(exported, heldout, threshold, measured, note, "adam")


@points(0, cell="rules_accuracy")
def test_rmsprop_beats_sgd(exported, heldout, threshold, measured, note):
    """rmsprop (a note, no points): the network trained with your RMSProp ends with a lower training loss than the one
    trained with SGD on the same budget, and does not fall behind it on CIFAR-10 test accuracy."""
    _check_beats_sgd(exported, heldout, threshold, measured, note, "rmsprop")


@points(0, cell="bn_accuracy")
def test_bn_net_accuracy(exported, heldout, threshold, measured, note):
    """FullyConnectedNet with batch normalization (a note, no points): CIFAR-10 test accuracy of the network the given
    experiment trained, next to the one without batch normalization."""
    bn, plain = (_test_accuracy(exported, heldout, name) for name in ("batchnorm", "baseline"))
    measured("bn_test_acc", bn)
    required = threshold("bn_test_acc")
    check_true(bn >= required, f"test accuracy {bn:.3f} is below the expected {required:.2f}.")
    note(f"test accuracy {bn:.3f} with batch normalization (expected at least {required:.2f}), {plain:.3f} without")

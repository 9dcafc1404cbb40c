"""Hidden graders of the a03 networks: ShallowLayerNet (CS231n's TwoLayerNet) and FullyConnectedNet.

Why these checks: a model is reached through the notebook's read-only ``shallow_layer_net_*`` and
``fully_connected_net_*`` functions, which build it with the student's constructor, assign the
grader's parameters to ``model.params`` (the convention the notebook pins) and hand back plain
arrays. The constructor is checked on its own (keys, shapes, scale, zero biases, dtype); scores and
losses against ``reference.numpy``, on the book's fixed values and on fresh random parameters;
gradients against torch autograd and against the student's own centered differences. Random
parameters keep every hidden unit away from its ReLU kink, so no centered difference crosses one.
Networks of one and of three hidden layers, a batch of one, float32 models and inputs left
unmodified cover the places where loops over layers go wrong. A short full-batch run on 50 random
points must overfit them, and the CIFAR-10 test predictions the notebook exports are scored against
labels the sandbox never saw.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from pipelines.grade.api import check_close, check_shape, check_true, check_unmodified, points, probe
from reference.numpy import FullyConnectedNet, ShallowLayerNet
from reference.torch import fully_connected_net_loss, shallow_layer_net_loss, value_and_grads

# Random probes: N examples of shape SHAPE (D = 12) and C classes.
N, SHAPE, C = 9, (3, 2, 2), 6
D = int(np.prod(SHAPE))
# Hidden pre-activations of the random probes stay at least this far from 0 (centered differences
# move them by about h = 1e-5 times an input entry).
KINK_MARGIN = 1e-3
NUMERIC_CHECKS = 10
# Constructor probes: sizes large enough that the sample standard deviation of every weight matrix
# (at least 500 entries) is within 6 standard errors of weight_scale when it is off by INIT_STD_TOL.
INIT_INPUT, INIT_HIDDEN, INIT_CLASSES, INIT_SCALE = 200, (100, 50), 10, 0.05
INIT_STD_TOL = 0.2
# The overfitting run (adapter fully_connected_net_overfit): 50 random points in 20 dimensions, 10
# classes of 5 points each, hidden layers of 100 units, full-batch gradient descent. The reference
# fitted all 50 by step 56 at the latest over 300 seeds (median 28); the run takes OVERFIT_ITERS.
OVERFIT_N, OVERFIT_D, OVERFIT_C, OVERFIT_HIDDEN = 50, 20, 10, (100, 100)
OVERFIT_SCALE, OVERFIT_LR, OVERFIT_ITERS = 0.1, 0.3, 200


def _names(num_layers: int) -> list[str]:
    """W1, b1, W2, b2, ...: the order in which the adapters take and return parameters."""
    return [f"{kind}{i}" for i in range(1, num_layers + 1) for kind in ("W", "b")]


def _random_params(rng: np.random.Generator, X: np.ndarray, hidden: Sequence[int]) -> list[np.ndarray]:
    """Parameters W1, b1, ... of a net with these hidden sizes whose hidden pre-activations on X all
    sit at least KINK_MARGIN from 0 (redrawn until they do); weights scaled so activations stay of order 1."""
    dims = [int(np.prod(X.shape[1:])), *hidden, C]
    while True:
        params: list[np.ndarray] = []
        for fan_in, fan_out in zip(dims[:-1], dims[1:], strict=True):
            params += [rng.standard_normal((fan_in, fan_out)) / np.sqrt(fan_in), 0.5 * rng.standard_normal(fan_out)]
        out, closest = X.reshape(len(X), -1), np.inf
        for W, b in zip(params[:-2:2], params[1:-2:2], strict=True):
            a = out @ W + b
            closest = min(closest, float(np.min(np.abs(a))))
            out = np.maximum(a, 0)
        if closest >= KINK_MARGIN:
            return params


def _data(rng: np.random.Generator, n: int = N) -> list[np.ndarray]:
    return [rng.standard_normal((n, *SHAPE)), rng.integers(0, C, n)]


def _book_shallow_params() -> list[np.ndarray]:
    """The book's fixture (seed-003 part 1, section 5.8): N, D, H, C = 3, 5, 50, 7, linspace parameters."""
    n, d, h, c = 3, 5, 50, 7
    X = np.linspace(-5.5, 4.5, num=n * d).reshape(d, n).T
    return [X, np.array([0, 5, 1]),
            np.linspace(-0.7, 0.3, num=d * h).reshape(d, h), np.linspace(-0.1, 0.9, num=h),
            np.linspace(-0.3, 0.4, num=h * c).reshape(h, c), np.linspace(-0.9, 0.1, num=c)]


# --- probes: ShallowLayerNet ---------------------------------------------------------------------


@probe("shallow_layer_net_init")
def shallow_init(rng):
    return {"args": [INIT_INPUT, INIT_HIDDEN[0], INIT_CLASSES, INIT_SCALE]}


@probe("shallow_layer_net_scores")
def shallow_book_scores(rng):
    X, _, *params = _book_shallow_params()
    return {"args": [X, *params]}


@probe("shallow_layer_net_loss")
def shallow_book_loss(rng):
    X, y, *params = _book_shallow_params()
    return {"args": [X, y, 0.0, *params]}


@probe("shallow_layer_net_loss")
def shallow_book_loss_reg(rng):
    X, y, *params = _book_shallow_params()
    return {"args": [X, y, 1.0, *params]}


@probe("shallow_layer_net_loss", numeric_grad=(3, 0, NUMERIC_CHECKS))
def shallow_random(rng):
    X, y = _data(rng)
    return {"args": [X, y, float(rng.uniform(0.1, 1.0)), *_random_params(rng, X, [10])]}


@probe("shallow_layer_net_scores")
def shallow_random_scores(rng):
    X, _ = _data(rng)
    return {"args": [X, *_random_params(rng, X, [10])]}


# --- probes: FullyConnectedNet -------------------------------------------------------------------


@probe("fully_connected_net_init")
def fc_init(rng):
    return {"args": [np.array(INIT_HIDDEN), INIT_INPUT, INIT_CLASSES, INIT_SCALE, 0]}


@probe("fully_connected_net_init")
def fc_init_float32(rng):
    return {"args": [np.array(INIT_HIDDEN), INIT_INPUT, INIT_CLASSES, INIT_SCALE, 1]}


@probe("fully_connected_net_loss", numeric_grad=(4, 0, NUMERIC_CHECKS))
def fc_deep(rng):
    X, y = _data(rng)
    return {"args": [X, y, float(rng.uniform(0.1, 1.0)), 0, *_random_params(rng, X, [10, 8, 7])]}


@probe("fully_connected_net_loss")
def fc_one_hidden(rng):
    X, y = _data(rng)
    return {"args": [X, y, float(rng.uniform(0.1, 1.0)), 0, *_random_params(rng, X, [11])]}


@probe("fully_connected_net_loss")
def fc_batch_of_one(rng):
    X, y = _data(rng, n=1)
    return {"args": [X, y, float(rng.uniform(0.1, 1.0)), 0, *_random_params(rng, X, [10, 8])]}


@probe("fully_connected_net_loss")
def fc_float32(rng):
    X, y = _data(rng)
    params = _random_params(rng, X, [10, 8])
    return {"args": [X, y, float(rng.uniform(0.1, 1.0)), 1, *(p.astype(np.float32) for p in params)]}


@probe("fully_connected_net_scores")
def fc_scores(rng):
    X, _ = _data(rng)
    return {"args": [X, 0, *_random_params(rng, X, [10, 8, 7])]}


@probe("fully_connected_net_overfit")
def fc_overfit(rng):
    X = rng.standard_normal((OVERFIT_N, OVERFIT_D))
    y = rng.permutation(np.arange(OVERFIT_N) % OVERFIT_C)
    return {"args": [X, y, OVERFIT_C, np.array(OVERFIT_HIDDEN), OVERFIT_SCALE, OVERFIT_LR, OVERFIT_ITERS,
                     int(rng.integers(2**31))]}


# --- helpers -------------------------------------------------------------------------------------


def _check_init(what: str, params: list[np.ndarray], dims: list[int], dtype: type) -> None:
    """Shapes W{i} (d_{i-1}, d_i) and b{i} (d_i,), weight scale, zero biases and dtype."""
    names = _names(len(dims) - 1)
    check_true(len(params) == len(names), f"{what}: expected the {len(names)} parameters {', '.join(names)}.")
    for i, name in enumerate(names):
        layer = i // 2
        value = params[i]
        if name.startswith("W"):
            check_shape(f"{what} {name}", value, (dims[layer], dims[layer + 1]))
            ratio = float(np.std(value)) / INIT_SCALE
            check_true(abs(ratio - 1) <= INIT_STD_TOL,
                       f"{what} {name}: its standard deviation is {ratio:.2f} times weight_scale "
                       f"(1 +- {INIT_STD_TOL:g} expected: weight_scale * np.random.randn).")
        else:
            check_shape(f"{what} {name}", value, (dims[layer + 1],))
            check_true(bool(np.all(value == 0)), f"{what} {name}: biases must start at zero.")
        check_true(value.dtype == dtype, f"{what} {name} has dtype {value.dtype}, expected {np.dtype(dtype).name}.")


def _reference_net(args: list, float32: bool = False) -> FullyConnectedNet:
    """The reference FullyConnectedNet with the probe's parameters (args after X, y, reg, float32)."""
    X, _, reg, _, *params = args
    hidden = [W.shape[1] for W in params[:-2:2]]
    net = FullyConnectedNet(hidden, input_dim=params[0].shape[0], num_classes=params[-1].shape[0], reg=reg,
                            dtype=np.float32 if float32 else np.float64)
    net.params = dict(zip(_names(len(params) // 2), params, strict=True))
    return net


def _check_net_loss(run, tolerance, what: str) -> None:
    """The loss against the numpy reference and every gradient against autograd."""
    X, y, reg, _, *params = run.args
    names = _names(len(params) // 2)
    expected_loss, _ = _reference_net(run.args).loss(X, y)
    check_close(f"{what} loss", run.returned(0), expected_loss, tolerance("value"))

    def loss(X, y, *values):
        return fully_connected_net_loss(X, y, dict(zip(names, values, strict=True)), reg)

    _, grads = value_and_grads(loss, [X, y, *params], wrt=list(range(2, 2 + len(params))))
    for i, (name, expected) in enumerate(zip(names, grads, strict=True)):
        check_close(f"{what} grads['{name}']", run.returned(i + 1), expected, tolerance("gradient"))


def _check_own_numeric(run, first_param: int, tol: float) -> None:
    """grads['W1'] (returned second) against the student's centered differences of their own loss."""
    dW1 = run.returned(1)
    check_shape("grads['W1']", dW1, np.shape(run.args[first_param]))
    check_close("grads['W1'] against your own numeric gradient", dW1[run.numeric_grad_index], run.numeric_grad, tol)


def _check_unmodified(run, first_param: int) -> None:
    check_unmodified("X", run, 0)
    for i, name in enumerate(_names((len(run.args) - first_param) // 2)):
        check_unmodified(f"params['{name}']", run, first_param + i)


# --- ShallowLayerNet -----------------------------------------------------------------------------


@points(1, cell="check_shallow_layer_net")
def test_shallow_net_initialisation(result):
    """ShallowLayerNet: params W1, b1, W2, b2 with the pinned shapes, weight_scale * randn weights, zero biases."""
    run = result("shallow_init")
    params = [run.returned(i) for i in range(4)]
    _check_init("ShallowLayerNet", params, [INIT_INPUT, INIT_HIDDEN[0], INIT_CLASSES], np.float64)


@points(2, cell="check_shallow_layer_net")
def test_shallow_net_book_values(result, tolerance):
    """ShallowLayerNet.loss: the book's fixed scores and losses (3.4702243556 at reg 0, 26.5948426952 at reg 1)."""
    run = result("shallow_book_scores")
    X, *params = run.args
    reference = ShallowLayerNet(input_dim=5, hidden_dim=50, num_classes=7)
    reference.params = dict(zip(_names(2), params, strict=True))
    check_close("the scores of the book's fixture", run.returned(0), reference.loss(X), tolerance("value"))
    for probe_name, reg in (("shallow_book_loss", 0.0), ("shallow_book_loss_reg", 1.0)):
        run = result(probe_name)
        reference.reg = reg
        check_close(f"the loss of the book's fixture at reg = {reg:g}", run.returned(0), reference.loss(X, run.args[1])[0],
                    tolerance("value"))


@points(2, cell="check_shallow_layer_net")
def test_shallow_net_gradients(result, tolerance):
    """ShallowLayerNet.loss: the loss and grads on random parameters (reg > 0), against autograd."""
    run = result("shallow_random")
    X, y, reg, *params = run.args
    reference = ShallowLayerNet(input_dim=D, hidden_dim=params[0].shape[1], num_classes=C, reg=reg)
    reference.params = dict(zip(_names(2), params, strict=True))
    check_close("loss", run.returned(0), reference.loss(X, y)[0], tolerance("value"))
    _, grads = value_and_grads(shallow_layer_net_loss, [X, y, *params], wrt=[2, 3, 4, 5], reg=reg)
    for i, (name, expected) in enumerate(zip(_names(2), grads, strict=True)):
        check_close(f"grads['{name}']", run.returned(i + 1), expected, tolerance("gradient"))


@points(1, cell="check_shallow_layer_net")
def test_shallow_net_own_numeric_gradient(result, tolerance):
    """ShallowLayerNet.loss: grads['W1'] agrees with centered differences of your own loss."""
    _check_own_numeric(result("shallow_random"), 3, tolerance("numeric_gradient"))


@points(1, cell="check_shallow_layer_net")
def test_shallow_net_scores(result, tolerance):
    """ShallowLayerNet.loss(X) without labels: the scores, shape (N, C), on random parameters."""
    run = result("shallow_random_scores")
    X, *params = run.args
    reference = ShallowLayerNet(input_dim=D, hidden_dim=params[0].shape[1], num_classes=C)
    reference.params = dict(zip(_names(2), params, strict=True))
    check_close("scores", run.returned(0), reference.loss(X), tolerance("value"))


@points(1, cell="check_shallow_layer_net")
def test_shallow_net_leaves_inputs_and_params(result):
    """ShallowLayerNet.loss: X and the parameters are left as they were given."""
    _check_unmodified(result("shallow_random"), 3)


# --- FullyConnectedNet ---------------------------------------------------------------------------


@points(1, cell="check_fc_net")
def test_fc_net_initialisation(result):
    """FullyConnectedNet: params W1, b1, ..., W3, b3 with the pinned shapes, weight_scale * randn weights, zero biases."""
    run = result("fc_init")
    dims = [INIT_INPUT, *INIT_HIDDEN, INIT_CLASSES]
    _check_init("FullyConnectedNet", [run.returned(i) for i in range(len(run.raw.returned))], dims, np.float64)


@points(1, cell="check_fc_net")
def test_fc_net_float32(result, tolerance):
    """FullyConnectedNet with dtype=np.float32: float32 parameters, and the loss of a float32 model."""
    run = result("fc_init_float32")
    dims = [INIT_INPUT, *INIT_HIDDEN, INIT_CLASSES]
    what = "FullyConnectedNet(dtype=np.float32)"
    _check_init(what, [run.returned(i) for i in range(len(run.raw.returned))], dims, np.float32)
    run = result("fc_float32")
    X, y, reg, _, *params = run.args
    expected_loss, _ = _reference_net([X, y, reg, 0, *(p.astype(np.float64) for p in params)]).loss(X, y)
    check_close(f"{what}: the loss", run.returned(0), expected_loss, tolerance("float32"))
    for i, name in enumerate(_names(len(params) // 2)):
        check_shape(f"{what}: grads['{name}']", run.returned(i + 1), params[i].shape)


@points(1, cell="check_fc_net")
def test_fc_net_scores(result, tolerance):
    """FullyConnectedNet.loss(X) without labels: the scores of a net with three hidden layers."""
    run = result("fc_scores")
    X, _, *params = run.args
    net = _reference_net([X, None, 0.0, 0, *params])
    check_close("scores", run.returned(0), net.loss(X), tolerance("value"))


@points(2, cell="check_fc_net")
def test_fc_net_gradients(result, tolerance):
    """FullyConnectedNet.loss: loss and grads of a net with three hidden layers (reg > 0), against autograd."""
    _check_net_loss(result("fc_deep"), tolerance, "FullyConnectedNet([10, 8, 7])")


@points(1, cell="check_fc_net")
def test_fc_net_one_hidden_layer(result, tolerance):
    """FullyConnectedNet.loss: loss and grads of a net with one hidden layer, against autograd."""
    _check_net_loss(result("fc_one_hidden"), tolerance, "FullyConnectedNet([11])")


@points(1, cell="check_fc_net")
def test_fc_net_batch_of_one(result, tolerance):
    """FullyConnectedNet.loss: loss and grads for a batch of one example, against autograd."""
    _check_net_loss(result("fc_batch_of_one"), tolerance, "FullyConnectedNet([10, 8]), batch of one:")


@points(1, cell="check_fc_net")
def test_fc_net_own_numeric_gradient(result, tolerance):
    """FullyConnectedNet.loss: grads['W1'] agrees with centered differences of your own loss."""
    _check_own_numeric(result("fc_deep"), 4, tolerance("numeric_gradient"))


@points(1, cell="check_fc_net")
def test_fc_net_leaves_inputs_and_params(result):
    """FullyConnectedNet.loss: X and the parameters are left as they were given."""
    _check_unmodified(result("fc_deep"), 4)


@points(2, cell="check_overfit")
def test_fc_net_overfits_50_points(result, threshold, note):
    """FullyConnectedNet: 200 steps of full-batch gradient descent from your initialisation fit 50 random points."""
    run = result("fc_overfit")
    y = run.args[1]
    predicted = run.returned(0)
    check_shape("the predicted labels", predicted, y.shape)
    accuracy = float(np.mean(predicted == y))
    required = threshold("overfit_train_acc")
    check_true(accuracy >= required,
               f"FullyConnectedNet: after {OVERFIT_ITERS} steps of gradient descent on 50 random points the training "
               f"accuracy is {accuracy:.2f} (at least {required:g} expected).")
    note(f"training accuracy {accuracy:.2f}")


# --- trained on CIFAR-10 -------------------------------------------------------------------------


def _check_test_accuracy(exported, heldout, note, name: str, minimum: float) -> None:
    y_test = heldout("cifar10", "y_test")
    y_pred = exported(name)
    check_shape(f"the exported '{name}'", y_pred, y_test.shape)
    accuracy = float(np.mean(y_pred == y_test))
    check_true(accuracy >= minimum, f"test accuracy {accuracy:.3f} is below the required {minimum:.2f}.")
    note(f"test accuracy {accuracy:.3f} (required {minimum:.2f})")


@points(2, cell="shallow_accuracy")
def test_shallow_net_test_accuracy(exported, heldout, threshold, note):
    """ShallowLayerNet: accuracy of the exported CIFAR-10 test predictions of shallow_net."""
    _check_test_accuracy(exported, heldout, note, "shallow_net_test_predictions", threshold("shallow_net_test_acc"))


@points(2, cell="fc_accuracy")
def test_fc_net_test_accuracy(exported, heldout, threshold, note):
    """FullyConnectedNet: accuracy of the exported CIFAR-10 test predictions of best_fc_net."""
    _check_test_accuracy(exported, heldout, note, "fc_net_test_predictions", threshold("fc_net_test_acc"))

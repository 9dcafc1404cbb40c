"""Hidden graders of the a03 networks: ShallowLayerNet (CS231n's TwoLayerNet) and FullyConnectedNet.

Why these checks: a model is built in a chained probe with the student's constructor, given the
grader's parameters by assignment to ``model.params`` (the convention the notebook pins) and asked for
its scores or its loss; only plain arrays come back (the model never leaves the sandbox). The
constructor is checked on its own (keys, shapes, scale, zero biases, dtype); scores and
losses against ``reference.numpy``, on the book's fixed values and on fresh random parameters;
gradients against torch autograd and against the student's own centered differences. Random
parameters keep every hidden unit away from its ReLU kink, so no centered difference crosses one.
Networks of one and of three hidden layers, a batch of one, float32 models and inputs left
unmodified (part of the gradient tests: a loss that does nothing leaves them alone too) cover the
places where loops over layers go wrong. The CIFAR-10 test predictions of the network the student
tuned (best_fc_net) are scored against labels the sandbox never saw; those of ShallowLayerNet, which
a given cell trains, are a note worth no points. (The notebook's overfitting sanity check is for the
student: it trains with the given train_sgd, so it measures nothing the gradient checks do not.)
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
    dtype,
    numgrad,
    points,
    probe,
    read,
    ref,
    step,
)
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


def _names(num_layers: int) -> list[str]:
    """W1, b1, W2, b2, ...: the parameters of a network of ``num_layers`` affine layers."""
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


def _net_steps(call: str, params: list[np.ndarray], X: np.ndarray, y: np.ndarray | None = None, *,
               numeric: bool = False, **kwargs) -> dict:
    """Build the student's ``call`` network with ``kwargs``, assign ``params`` (W1, b1, ...) to
    ``model.params`` and call ``loss(X)`` (scores) or ``loss(X, y)``; optionally the student's centered
    differences of their own loss with respect to W1."""
    names = _names(len(params) // 2)
    loss = step("loss", ref("net").attr("loss"), X) if y is None else step("loss", ref("net").attr("loss"), X, y)
    chain: dict = {"steps": [step("net", call, **kwargs), assign("set", ref("net").attr("params"),
                                                                  dict(zip(names, params, strict=True))),
                             loss, read("params_after", ref("net").attr("params"))]}
    if numeric:
        chain["numeric_grad"] = numgrad(of=("loss", 0), wrt=("set", 1, "W1"), k=NUMERIC_CHECKS)
    return chain


def _shallow(params: list[np.ndarray], X: np.ndarray, y: np.ndarray | None = None, reg: float = 0.0,
             numeric: bool = False) -> dict:
    W1, _, W2, _ = params
    return _net_steps("ShallowLayerNet", params, X, y, numeric=numeric, input_dim=W1.shape[0], hidden_dim=W1.shape[1],
                      num_classes=W2.shape[1], reg=reg)


@probe("ShallowLayerNet")
def shallow_init(rng):
    return {"steps": [step("net", "ShallowLayerNet", input_dim=INIT_INPUT, hidden_dim=INIT_HIDDEN[0],
                           num_classes=INIT_CLASSES, weight_scale=INIT_SCALE),
                      read("params", ref("net").attr("params"))]}


@probe("ShallowLayerNet")
def shallow_book_scores(rng):
    X, _, *params = _book_shallow_params()
    return _shallow(params, X)


@probe("ShallowLayerNet")
def shallow_book_loss(rng):
    X, y, *params = _book_shallow_params()
    return _shallow(params, X, y, 0.0)


@probe("ShallowLayerNet")
def shallow_book_loss_reg(rng):
    X, y, *params = _book_shallow_params()
    return _shallow(params, X, y, 1.0)


@probe("ShallowLayerNet")
def shallow_random(rng):
    X, y = _data(rng)
    reg = float(rng.uniform(0.1, 1.0))
    return _shallow(_random_params(rng, X, [10]), X, y, reg, numeric=True)


@probe("ShallowLayerNet")
def shallow_random_scores(rng):
    X, _ = _data(rng)
    return _shallow(_random_params(rng, X, [10]), X)


# --- probes: FullyConnectedNet -------------------------------------------------------------------


def _fc(params: list[np.ndarray], X: np.ndarray, y: np.ndarray | None = None, reg: float = 0.0,
        float32: bool = False, numeric: bool = False) -> dict:
    hidden = [int(W.shape[1]) for W in params[:-2:2]]
    return _net_steps("FullyConnectedNet", params, X, y, numeric=numeric, hidden_dims=hidden,
                      input_dim=int(params[0].shape[0]), num_classes=int(params[-1].shape[0]), reg=reg,
                      dtype=dtype("float32" if float32 else "float64"))


def _fc_init(float32: bool) -> dict:
    return {"steps": [step("net", "FullyConnectedNet", list(INIT_HIDDEN), input_dim=INIT_INPUT, num_classes=INIT_CLASSES,
                           weight_scale=INIT_SCALE, dtype=dtype("float32" if float32 else "float64")),
                      read("params", ref("net").attr("params"))]}


@probe("FullyConnectedNet")
def fc_init(rng):
    return _fc_init(False)


@probe("FullyConnectedNet")
def fc_init_float32(rng):
    return _fc_init(True)


@probe("FullyConnectedNet")
def fc_deep(rng):
    X, y = _data(rng)
    reg = float(rng.uniform(0.1, 1.0))
    return _fc(_random_params(rng, X, [10, 8, 7]), X, y, reg, numeric=True)


@probe("FullyConnectedNet")
def fc_one_hidden(rng):
    X, y = _data(rng)
    reg = float(rng.uniform(0.1, 1.0))
    return _fc(_random_params(rng, X, [11]), X, y, reg)


@probe("FullyConnectedNet")
def fc_batch_of_one(rng):
    X, y = _data(rng, n=1)
    reg = float(rng.uniform(0.1, 1.0))
    return _fc(_random_params(rng, X, [10, 8]), X, y, reg)


@probe("FullyConnectedNet")
def fc_float32(rng):
    X, y = _data(rng)
    params = _random_params(rng, X, [10, 8])
    reg = float(rng.uniform(0.1, 1.0))
    return _fc([p.astype(np.float32) for p in params], X, y, reg, float32=True)


@probe("FullyConnectedNet")
def fc_scores(rng):
    X, _ = _data(rng)
    return _fc(_random_params(rng, X, [10, 8, 7]), X)


# --- helpers -------------------------------------------------------------------------------------


def _check_init(what: str, params: dict[str, np.ndarray], dims: list[int], dtype: type) -> None:
    """Keys W1, b1, ..., shapes W{i} (d_{i-1}, d_i) and b{i} (d_i,), weight scale, zero biases and dtype."""
    names = _names(len(dims) - 1)
    check_true(set(params) == set(names), f"{what}: params has the keys {sorted(params)}, expected {', '.join(names)}.")
    for i, name in enumerate(names):
        layer = i // 2
        value = params[name]
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


def _given(run) -> tuple[np.ndarray, np.ndarray | None, float, list[np.ndarray]]:
    """X, y (None for scores), reg and the parameters W1, b1, ... of a probe."""
    loss = run.step("loss").args
    mapping = run.step("set").args[1]
    params = [mapping[name] for name in _names(len(mapping) // 2)]
    return loss[0], (loss[1] if len(loss) > 1 else None), float(run.step("net").kwargs.get("reg", 0.0)), params


def _reference_net(params: list[np.ndarray], reg: float = 0.0) -> FullyConnectedNet:
    """The reference FullyConnectedNet (float64) with these parameters."""
    hidden = [W.shape[1] for W in params[:-2:2]]
    net = FullyConnectedNet(hidden, input_dim=params[0].shape[0], num_classes=params[-1].shape[0], reg=reg)
    net.params = dict(zip(_names(len(params) // 2), (np.asarray(p, dtype=np.float64) for p in params), strict=True))
    return net


def _check_loss(run, what: str, expected_loss: float, torch_loss, tolerance) -> None:
    """The loss against the reference and every gradient against autograd of ``torch_loss(X, y, *params)``."""
    X, y, _, params = _given(run)
    names = _names(len(params) // 2)
    check_close(f"{what}: the loss", run.step("loss").returned(0), expected_loss, tolerance("value"))
    _, grads = value_and_grads(torch_loss, [X, y, *params], wrt=list(range(2, 2 + len(params))))
    for name, expected in zip(names, grads, strict=True):
        check_close(f"{what}: grads['{name}']", run.step("loss").entry(1, name), expected, tolerance("gradient"))


def _check_net_loss(run, tolerance, what: str) -> None:
    """FullyConnectedNet: the loss against the numpy reference and every gradient against autograd."""
    X, y, reg, params = _given(run)
    names = _names(len(params) // 2)

    def loss(X, y, *values):
        return fully_connected_net_loss(X, y, dict(zip(names, values, strict=True)), reg)

    _check_loss(run, what, _reference_net(params, reg).loss(X, y)[0], loss, tolerance)


def _check_own_numeric(run, what: str, tol: float) -> None:
    """grads['W1'] against the student's centered differences of their own loss."""
    dW1 = run.step("loss").entry(1, "W1")
    check_shape(f"{what}: grads['W1']", dW1, np.shape(run.step("set").args[1]["W1"]))
    check_close(f"{what}: grads['W1'] against your own numeric gradient", dW1[run.numeric_grad_index], run.numeric_grad,
                tol)


def _check_unmodified(run, what: str) -> None:
    """X and the parameters left as they were given by a loss call."""
    check_unmodified(f"{what}.loss: X", run.step("loss"), 0)
    after = run.step("params_after").entries(0)
    for name, value in run.step("set").args[1].items():
        check_true(name in after and np.array_equal(after[name], value),
                   f"{what}.loss changed the parameter {name} (or removed it from self.params).")


# --- ShallowLayerNet -----------------------------------------------------------------------------


@points(1, cell="check_shallow_layer_net")
def test_shallow_net_initialisation(result):
    """ShallowLayerNet: params W1, b1, W2, b2 with the pinned shapes, weight_scale * randn weights, zero biases."""
    params = result("shallow_init").step("params").entries(0)
    _check_init("ShallowLayerNet", params, [INIT_INPUT, INIT_HIDDEN[0], INIT_CLASSES], np.float64)


@points(2, cell="check_shallow_layer_net")
def test_shallow_net_book_values(result, tolerance):
    """ShallowLayerNet.loss: the book's fixed scores and losses (3.4702243556 at reg 0, 26.5948426952 at reg 1)."""
    run = result("shallow_book_scores")
    X, _, _, params = _given(run)
    reference = ShallowLayerNet(input_dim=5, hidden_dim=50, num_classes=7)
    reference.params = dict(zip(_names(2), params, strict=True))
    check_close("ShallowLayerNet: the scores of the book's fixture", run.step("loss").returned(0), reference.loss(X),
                tolerance("value"))
    for probe_name, reg in (("shallow_book_loss", 0.0), ("shallow_book_loss_reg", 1.0)):
        run = result(probe_name)
        reference.reg = reg
        check_close(f"ShallowLayerNet: the loss of the book's fixture at reg = {reg:g}", run.step("loss").returned(0),
                    reference.loss(X, run.step("loss").args[1])[0], tolerance("value"))


@points(3, cell="check_shallow_layer_net")
def test_shallow_net_gradients(result, tolerance):
    """ShallowLayerNet.loss: the loss and grads on random parameters (reg > 0), against autograd, with X and the
    parameters left as they were given."""
    run = result("shallow_random")
    X, y, reg, params = _given(run)
    reference = ShallowLayerNet(input_dim=D, hidden_dim=params[0].shape[1], num_classes=C, reg=reg)
    reference.params = dict(zip(_names(2), params, strict=True))

    def loss(X, y, *values):
        return shallow_layer_net_loss(X, y, *values, reg=reg)

    _check_loss(run, "ShallowLayerNet", reference.loss(X, y)[0], loss, tolerance)
    _check_unmodified(run, "ShallowLayerNet")


@points(1, cell="check_shallow_layer_net")
def test_shallow_net_own_numeric_gradient(result, tolerance):
    """ShallowLayerNet.loss: grads['W1'] agrees with centered differences of your own loss."""
    _check_own_numeric(result("shallow_random"), "ShallowLayerNet", tolerance("numeric_gradient"))


@points(1, cell="check_shallow_layer_net")
def test_shallow_net_scores(result, tolerance):
    """ShallowLayerNet.loss(X) without labels: the scores, shape (N, C), on random parameters."""
    run = result("shallow_random_scores")
    X, _, _, params = _given(run)
    reference = ShallowLayerNet(input_dim=D, hidden_dim=params[0].shape[1], num_classes=C)
    reference.params = dict(zip(_names(2), params, strict=True))
    check_close("ShallowLayerNet: scores", run.step("loss").returned(0), reference.loss(X), tolerance("value"))


# --- FullyConnectedNet ---------------------------------------------------------------------------


@points(1, cell="check_fc_net")
def test_fc_net_initialisation(result):
    """FullyConnectedNet: params W1, b1, ..., W3, b3 with the pinned shapes, weight_scale * randn weights, zero biases."""
    dims = [INIT_INPUT, *INIT_HIDDEN, INIT_CLASSES]
    _check_init("FullyConnectedNet", result("fc_init").step("params").entries(0), dims, np.float64)


@points(1, cell="check_fc_net")
def test_fc_net_float32(result, tolerance):
    """FullyConnectedNet with dtype=np.float32: float32 parameters, and the loss of a float32 model."""
    dims = [INIT_INPUT, *INIT_HIDDEN, INIT_CLASSES]
    what = "FullyConnectedNet(dtype=np.float32)"
    _check_init(what, result("fc_init_float32").step("params").entries(0), dims, np.float32)
    run = result("fc_float32")
    X, y, reg, params = _given(run)
    expected_loss, _ = _reference_net(params, reg).loss(X, y)
    check_close(f"{what}: the loss", run.step("loss").returned(0), expected_loss, tolerance("float32"))
    for name, value in zip(_names(len(params) // 2), params, strict=True):
        check_shape(f"{what}: grads['{name}']", run.step("loss").entry(1, name), value.shape)


@points(1, cell="check_fc_net")
def test_fc_net_scores(result, tolerance):
    """FullyConnectedNet.loss(X) without labels: the scores of a net with three hidden layers."""
    run = result("fc_scores")
    X, _, _, params = _given(run)
    check_close("FullyConnectedNet: scores", run.step("loss").returned(0), _reference_net(params).loss(X), tolerance("value"))


@points(3, cell="check_fc_net")
def test_fc_net_gradients(result, tolerance):
    """FullyConnectedNet.loss: loss and grads of a net with three hidden layers (reg > 0), against autograd, with X
    and the parameters left as they were given."""
    run = result("fc_deep")
    _check_net_loss(run, tolerance, "FullyConnectedNet([10, 8, 7])")
    _check_unmodified(run, "FullyConnectedNet")


@points(1, cell="check_fc_net")
def test_fc_net_one_hidden_layer(result, tolerance):
    """FullyConnectedNet.loss: loss and grads of a net with one hidden layer, against autograd."""
    _check_net_loss(result("fc_one_hidden"), tolerance, "FullyConnectedNet([11])")


@points(1, cell="check_fc_net")
def test_fc_net_batch_of_one(result, tolerance):
    """FullyConnectedNet.loss: loss and grads for a batch of one example, against autograd."""
    _check_net_loss(result("fc_batch_of_one"), tolerance, "FullyConnectedNet([10, 8]), batch of one")


@points(1, cell="check_fc_net")
def test_fc_net_own_numeric_gradient(result, tolerance):
    """FullyConnectedNet.loss: grads['W1'] agrees with centered differences of your own loss."""
    _check_own_numeric(result("fc_deep"), "FullyConnectedNet", tolerance("numeric_gradient"))


# --- trained on CIFAR-10 -------------------------------------------------------------------------


def _check_test_accuracy(exported, heldout, measured, note, name: str, key: str, minimum: float) -> None:
    y_test = heldout("cifar10", "y_test")
    y_pred = exported(name)
    check_shape(f"the exported '{name}'", y_pred, y_test.shape)
    accuracy = float(np.mean(y_pred == y_test))
    measured(key, accuracy)
    check_true(accuracy >= minimum, f"test accuracy {accuracy:.3f} is below the required {minimum:.2f}.")
    note(f"test accuracy {accuracy:.3f} (required {minimum:.2f})")


@points(0, cell="shallow_accuracy")
def test_shallow_net_test_accuracy(exported, heldout, threshold, measured, note):
    """ShallowLayerNet (a note, no points: the training cell is given): accuracy of the exported CIFAR-10 test
    predictions of shallow_net."""
    _check_test_accuracy(exported, heldout, measured, note, "shallow_net_test_predictions", "shallow_net_test_acc",
                         threshold("shallow_net_test_acc"))


@points(2, cell="fc_accuracy")
def test_fc_net_test_accuracy(exported, heldout, threshold, measured, note):
    """FullyConnectedNet you tuned and trained: accuracy of the exported CIFAR-10 test predictions of best_fc_net."""
    _check_test_accuracy(exported, heldout, measured, note, "fc_net_test_predictions", "fc_net_test_acc",
                         threshold("fc_net_test_acc"))

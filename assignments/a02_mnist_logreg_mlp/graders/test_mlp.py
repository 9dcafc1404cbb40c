"""Hidden graders of a02's ``HiddenLayer`` (and its sigmoid subclass), ``MLP`` and the MLP test error.

Why these checks: the Glorot initialisation is checked two ways, by its statistics (bounds, zero
biases, variance, the factor 4 for sigmoid units), which explain a failure, and by reproducing the
draw the notebook pins (``np.random.default_rng(rng).uniform(-a, a, size=(n_in, n_out))``), which
proves the seed is honoured. Forward values are compared with ``reference.numpy`` and every
backward gradient with torch autograd, on random layers set explicitly (never the random start);
the MLP's L1 penalty is probed with some weights exactly zero, where its subgradient is pinned to 0.
Centered differences of the student's own forward pass or cost catch a gradient that disagrees with
the student's own function (one probe per shifted parameter: a class probe calls each method once).
The MNIST test error comes from the exported predictions and the held-out labels.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from pipelines.grade.api import check_close, check_shape, check_true, check_unmodified, points, probe
from reference.numpy import MLP, HiddenLayer, glorot_bound
from reference.torch import hidden_layer, mlp_cost, mlp_p_y_given_x, to_numpy, to_tensor, value_and_grads

# Small layers and networks: N examples, N_IN inputs, N_HIDDEN hidden units, N_OUT classes.
N, N_IN, N_HIDDEN, N_OUT = 16, 9, 7, 4
# Centered differences of the student's own functions: step, fixed inputs, shifted entries.
H = 1e-5
NUMERIC_SEED = 2025
LAYER_ENTRIES = (("W", (2, 3)), ("W", (8, 0)), ("X", (5, 4)))
MLP_ENTRIES = (("W1", (4, 2)), ("b1", (5,)), ("W2", (3, 1)))
MLP_NAMES = ("W1", "b1", "W2", "b2")
# Statistics of a Glorot draw of at least 300 x 300 entries: the largest |W| reaches 0.95 a,
# the variance is within 5 % of a^2 / 3 and the mean within 0.01 a of 0 (by far, at this size).
NEAR_BOUND, VARIANCE_SPREAD, MEAN_SPREAD = 0.95, 0.05, 0.01
ACTIVATION = {"HiddenLayer": "tanh", "SigmoidLayer": "sigmoid"}
# The pinned draw is compared entry by entry, relative to the bound a.
DRAW_TOLERANCE = 1e-12


def _layer_inputs(rng: np.random.Generator, n: int = N) -> dict[str, list[Any]]:
    """init [n_in, n_out, rng, W, b], forward [X], backward [dout]: pre-activations of about +-2."""
    W = 0.5 * rng.standard_normal((N_IN, N_OUT))
    b = 0.5 * rng.standard_normal(N_OUT)
    return {"init": [N_IN, N_OUT, 0, W, b], "forward": [rng.standard_normal((n, N_IN))],
            "backward": [rng.standard_normal((n, N_OUT))]}


def _mlp_params(rng: np.random.Generator) -> list[np.ndarray]:
    """[W1, b1, W2, b2], with a few entries of W2 exactly 0 (where the L1 subgradient is pinned to 0)."""
    W2 = rng.standard_normal((N_HIDDEN, N_OUT))
    W2[rng.random(W2.shape) < 0.2] = 0.0
    return [0.5 * rng.standard_normal((N_IN, N_HIDDEN)), 0.5 * rng.standard_normal(N_HIDDEN), W2,
            0.5 * rng.standard_normal(N_OUT)]


def _mlp_init(rng: np.random.Generator) -> list[Any]:
    """[n_in, n_hidden, n_out, rng, L1_reg, L2_reg] with both penalties on."""
    return [N_IN, N_HIDDEN, N_OUT, 0, float(rng.uniform(0.01, 0.1)), float(rng.uniform(0.01, 0.1))]


def _glorot_probe(rng: np.random.Generator) -> dict[str, list[Any]]:
    """A layer of 300..800 inputs and units from a seed; one forward call (a class probe calls a method)."""
    n_in = int(rng.integers(300, 800))
    return {"init": [n_in, int(rng.integers(300, 800)), int(rng.integers(0, 2**31))],
            "forward": [rng.standard_normal((2, n_in))]}


@probe("HiddenLayer", methods=("forward",), attrs=("W", "b"))
def hidden_init(rng):
    return _glorot_probe(rng)


@probe("SigmoidLayer", methods=("forward",), attrs=("W", "b"))
def sigmoid_init(rng):
    return _glorot_probe(rng)


@probe("HiddenLayer", methods=("forward", "backward"))
def hidden_values(rng):
    return _layer_inputs(rng)


@probe("SigmoidLayer", methods=("forward", "backward"))
def sigmoid_values(rng):
    return _layer_inputs(rng)


@probe("HiddenLayer", methods=("forward", "backward"))
def hidden_batch_of_one(rng):
    return _layer_inputs(rng, n=1)


def _layer_numeric_inputs() -> dict[str, list[Any]]:
    return _layer_inputs(np.random.default_rng(NUMERIC_SEED))


@probe("HiddenLayer", methods=("forward", "backward"))
def hidden_numeric_base(rng):
    return _layer_numeric_inputs()


def _register_layer_shift(k: int, sign: int) -> None:
    """The student's forward pass with entry k of LAYER_ENTRIES shifted by sign * H."""

    def make(rng: np.random.Generator) -> dict[str, list[Any]]:
        inputs = _layer_numeric_inputs()
        name, index = LAYER_ENTRIES[k]
        (inputs["init"][3] if name == "W" else inputs["forward"][0])[index] += sign * H
        return {"init": inputs["init"], "forward": inputs["forward"]}

    make.__name__ = f"hidden_numeric_{k}_{'plus' if sign > 0 else 'minus'}"
    probe("HiddenLayer", methods=("forward",))(make)


@probe("MLP", methods=("get_params",))
def mlp_init(rng):
    return {"init": [int(rng.integers(300, 800)), int(rng.integers(300, 800)), 10, int(rng.integers(0, 2**31))]}


@probe("MLP", methods=("set_params", "L1", "L2_sqr", "negative_log_likelihood", "cost", "gradients", "p_y_given_x"))
def mlp_values(rng):
    X, y = rng.standard_normal((N, N_IN)), rng.integers(0, N_OUT, N)
    return {"init": _mlp_init(rng), "set_params": _mlp_params(rng), "negative_log_likelihood": [X, y],
            "cost": [X, y], "gradients": [X, y], "p_y_given_x": [X]}


@probe("MLP", methods=("set_params", "cost", "gradients"))
def mlp_batch_of_one(rng):
    X, y = rng.standard_normal((1, N_IN)), rng.integers(0, N_OUT, 1)
    return {"init": _mlp_init(rng), "set_params": _mlp_params(rng), "cost": [X, y], "gradients": [X, y]}


@probe("MLP", methods=("set_params", "sgd_step", "get_params"))
def mlp_sgd_step(rng):
    X, y = rng.standard_normal((N, N_IN)), rng.integers(0, N_OUT, N)
    return {"init": _mlp_init(rng), "set_params": _mlp_params(rng), "sgd_step": [X, y, float(rng.uniform(0.05, 0.5))]}


def _mlp_numeric_inputs() -> tuple[list[Any], list[np.ndarray], list[np.ndarray]]:
    """Fixed init, parameters (no W entry near 0, so the L1 kink is out of reach) and batch."""
    rng = np.random.default_rng(NUMERIC_SEED)
    params = _mlp_params(rng)
    params[2][params[2] == 0.0] = 0.5
    return _mlp_init(rng), params, [rng.standard_normal((N, N_IN)), rng.integers(0, N_OUT, N)]


@probe("MLP", methods=("set_params", "gradients"))
def mlp_numeric_base(rng):
    init, params, batch = _mlp_numeric_inputs()
    return {"init": init, "set_params": params, "gradients": batch}


def _register_mlp_shift(k: int, sign: int) -> None:
    """The student's cost with entry k of MLP_ENTRIES shifted by sign * H."""

    def make(rng: np.random.Generator) -> dict[str, list[Any]]:
        init, params, batch = _mlp_numeric_inputs()
        name, index = MLP_ENTRIES[k]
        params[MLP_NAMES.index(name)][index] += sign * H
        return {"init": init, "set_params": params, "cost": batch}

    make.__name__ = f"mlp_numeric_{k}_{'plus' if sign > 0 else 'minus'}"
    probe("MLP", methods=("set_params", "cost"))(make)


for _k in range(3):
    for _sign in (1, -1):
        _register_layer_shift(_k, _sign)
        _register_mlp_shift(_k, _sign)


# --- helpers ---------------------------------------------------------------------------------------


def _check_glorot(W: np.ndarray, b: np.ndarray, n_in: int, n_out: int, activation: str, what: str) -> None:
    """Shape, dtype, zero bias and the statistics of a uniform draw in [-a, a]."""
    check_shape(f"{what} W", W, (n_in, n_out))
    check_shape(f"{what} b", b, (n_out,))
    check_true(W.dtype == np.float64, f"{what} W has dtype {W.dtype}, expected float64.")
    check_true(bool(np.all(b == 0)), f"{what} b does not start at zero.")
    a = glorot_bound(n_in, n_out, activation)
    largest = float(np.max(np.abs(W)))
    check_true(largest <= a, f"{what} W: the largest |W| is {largest / a:.3f} times the Glorot bound a for "
               f"{activation} units; every entry must lie in [-a, a].")
    check_true(largest >= NEAR_BOUND * a, f"{what} W: the largest |W| is only {largest / a:.3f} times the Glorot bound a "
               f"for {activation} units (a uniform draw in [-a, a] of this size reaches at least {NEAR_BOUND} a).")
    ratio = float(W.var() / (a**2 / 3))
    check_true(abs(ratio - 1) <= VARIANCE_SPREAD, f"{what} W: the variance is {ratio:.3f} times a^2 / 3, the variance "
               f"of a uniform draw in [-a, a] (allowed: within {VARIANCE_SPREAD:.0%}).")
    check_true(abs(float(W.mean())) <= MEAN_SPREAD * a, f"{what} W: the mean is {float(W.mean()) / a:.3f} a, not close to 0.")


def _check_pinned_draw(W: np.ndarray, n_in: int, n_out: int, seed: int, activation: str, what: str) -> None:
    a = glorot_bound(n_in, n_out, activation)
    expected = np.random.default_rng(seed).uniform(-a, a, size=(n_in, n_out))
    check_shape(f"{what} W", W, (n_in, n_out))
    # Not bit for bit: the bound may be computed another way (sqrt(6) / sqrt(n) differs in the last bit).
    differ = int(np.sum(np.abs(W - expected) > DRAW_TOLERANCE * a))
    check_true(differ == 0, f"{what} W: {differ} of {W.size} entries are not the draw the notebook pins "
               "(rng = np.random.default_rng(rng), then one call rng.uniform(-a, a, size=(n_in, n_out))).")


def _check_layer(run, call: str, tol_value: float, tol_gradient: float, label: str) -> None:
    """Forward output against reference.numpy, backward's (dX, dW, db) against autograd."""
    n_in, n_out, _, W, b = run.inputs["init"]
    X, dout = run.inputs["forward"][0], run.inputs["backward"][0]
    activation = ACTIVATION[call]
    out, _ = HiddenLayer(np.random.default_rng(0), n_in, n_out, W=W, b=b, activation=activation).forward(X)
    check_close(f"{call}.forward ({label})", run.method("forward"), out, tol_value)
    _, (dX, dW, db) = value_and_grads(hidden_layer, [X, W, b], wrt=[0, 1, 2], dout=dout, activation=activation)
    for i, (name, expected) in enumerate((("dX", dX), ("dW", dW), ("db", db))):
        check_close(f"{call}.backward ({label}): {name}", run.method("backward", i), expected, tol_gradient)


def _reference_mlp(run) -> tuple[MLP, float, float]:
    n_in, n_hidden, n_out, _, L1_reg, L2_reg = run.inputs["init"]
    model = MLP(np.random.default_rng(0), n_in, n_hidden, n_out)
    W1, b1, W2, b2 = (np.array(p, dtype=np.float64) for p in run.inputs["set_params"])
    model.hiddenLayer.W, model.hiddenLayer.b = W1, b1
    model.logRegressionLayer.W, model.logRegressionLayer.b = W2, b2
    return model, L1_reg, L2_reg


def _check_mlp_gradients(run, tol: float, label: str) -> None:
    _, _, _, _, L1_reg, L2_reg = run.inputs["init"]
    X, y = run.inputs["gradients"]
    _, grads = value_and_grads(mlp_cost, [X, y, *run.inputs["set_params"]], wrt=[2, 3, 4, 5], L1_reg=L1_reg, L2_reg=L2_reg)
    for i, (name, expected) in enumerate(zip(MLP_NAMES, grads)):
        check_close(f"MLP.gradients ({label}): d{name}", run.method("gradients", i), expected, tol)


# --- HiddenLayer and SigmoidLayer ------------------------------------------------------------------


@points(1, cell="check_hidden_layer")
def test_hidden_glorot_statistics(result):
    """HiddenLayer.__init__: W uniform in [-a, a] with a = sqrt(6 / (n_in + n_out)), b = 0 (tanh units)."""
    run = result("hidden_init")
    n_in, n_out, _ = run.inputs["init"]
    _check_glorot(run.attr("W"), run.attr("b"), n_in, n_out, "tanh", "HiddenLayer.__init__:")


@points(1, cell="check_hidden_layer")
def test_sigmoid_glorot_statistics(result):
    """HiddenLayer.__init__ with activation="sigmoid" (SigmoidLayer): the Glorot interval is 4 times wider."""
    run = result("sigmoid_init")
    n_in, n_out, _ = run.inputs["init"]
    _check_glorot(run.attr("W"), run.attr("b"), n_in, n_out, "sigmoid",
                  'SigmoidLayer (HiddenLayer.__init__ with activation="sigmoid"):')


@points(1, cell="check_hidden_layer")
def test_hidden_init_honours_the_seed(result):
    """HiddenLayer.__init__ and SigmoidLayer: W is the pinned draw from np.random.default_rng(rng), tanh and sigmoid units."""
    for name, call, activation in (("hidden_init", "HiddenLayer", "tanh"), ("sigmoid_init", "SigmoidLayer", "sigmoid")):
        run = result(name)
        n_in, n_out, seed = run.inputs["init"]
        _check_pinned_draw(run.attr("W"), n_in, n_out, seed, activation,
                           f'{call} (HiddenLayer.__init__ with activation="{activation}"):')


@points(2, cell="check_hidden_layer")
def test_hidden_forward_backward(result, tolerance):
    """HiddenLayer.forward and HiddenLayer.backward (tanh): output against the reference, gradients against autograd."""
    _check_layer(result("hidden_values"), "HiddenLayer", tolerance("value"), tolerance("gradient"), "tanh, 16 examples")


@points(1, cell="check_hidden_layer")
def test_sigmoid_forward_backward(result, tolerance):
    """HiddenLayer.forward and HiddenLayer.backward with activation="sigmoid" (SigmoidLayer), against the reference and autograd."""
    _check_layer(result("sigmoid_values"), "SigmoidLayer", tolerance("value"), tolerance("gradient"),
                 'HiddenLayer with activation="sigmoid", 16 examples')


@points(1, cell="check_hidden_layer")
def test_hidden_batch_of_one(result, tolerance):
    """HiddenLayer.forward and HiddenLayer.backward on a batch of a single example."""
    _check_layer(result("hidden_batch_of_one"), "HiddenLayer", tolerance("value"), tolerance("gradient"), "batch of one")


@points(1, cell="check_hidden_layer")
def test_hidden_inputs_unmodified(result):
    """HiddenLayer.forward leaves X and HiddenLayer.backward leaves dout as they were (tanh and sigmoid)."""
    for name, call in (("hidden_values", "HiddenLayer"), ("sigmoid_values", "SigmoidLayer")):
        run = result(name)
        check_unmodified(f"X, in {call}.forward", run, 0, section="forward")
        check_unmodified(f"dout, in {call}.backward (HiddenLayer.backward)", run, 0, section="backward")


@points(1, cell="check_hidden_layer")
def test_hidden_own_numeric_gradient(result, tolerance):
    """HiddenLayer.backward agrees with centered differences of your own HiddenLayer.forward."""
    base = result("hidden_numeric_base")
    dout = base.inputs["backward"][0]
    for i, (name, value) in enumerate((("dX", base.inputs["forward"][0]), ("dW", base.inputs["init"][3]))):
        check_shape(f"HiddenLayer.backward's {name}", base.method("backward", i), np.shape(value))
    analytic, numeric = [], []
    for k, (name, index) in enumerate(LAYER_ENTRIES):
        plus = float(np.sum(dout * result(f"hidden_numeric_{k}_plus").method("forward")))
        minus = float(np.sum(dout * result(f"hidden_numeric_{k}_minus").method("forward")))
        numeric.append((plus - minus) / (2 * H))
        analytic.append(float(np.asarray(base.method("backward", 1 if name == "W" else 0))[index]))
    check_close("HiddenLayer.backward against your own numeric gradient", np.array(analytic), np.array(numeric),
                tolerance("numeric_gradient"))


# --- MLP ---------------------------------------------------------------------------------------------


@points(1, cell="check_mlp")
def test_mlp_init(result):
    """MLP.__init__: a Glorot tanh hidden layer drawn from the seed, and a zero output layer."""
    run = result("mlp_init")
    n_in, n_hidden, n_out, seed = run.inputs["init"]
    W1, b1, W2, b2 = (run.method("get_params", i) for i in range(4))
    _check_glorot(W1, b1, n_in, n_hidden, "tanh", "MLP.__init__: the hidden layer's")
    _check_pinned_draw(W1, n_in, n_hidden, seed, "tanh", "MLP.__init__: the hidden layer's")
    check_shape("MLP.__init__: the output layer's W", W2, (n_hidden, n_out))
    check_shape("MLP.__init__: the output layer's b", b2, (n_out,))
    check_true(bool(np.all(W2 == 0) and np.all(b2 == 0)), "MLP.__init__: the output layer does not start at zero.")


@points(1, cell="check_mlp")
def test_mlp_penalties(result, tolerance):
    """MLP.L1 and MLP.L2_sqr: sums over both weight matrices, never the biases."""
    run = result("mlp_values")
    model, _, _ = _reference_mlp(run)
    check_close("MLP.L1", run.method("L1"), model.L1(), tolerance("value"))
    check_close("MLP.L2_sqr", run.method("L2_sqr"), model.L2_sqr(), tolerance("value"))


@points(2, cell="check_mlp")
def test_mlp_cost(result, tolerance):
    """MLP.negative_log_likelihood, MLP.cost (with L1 and L2 penalties) and p_y_given_x on a random batch."""
    run = result("mlp_values")
    model, L1_reg, L2_reg = _reference_mlp(run)
    X, y = run.inputs["cost"]
    check_close("MLP.negative_log_likelihood", run.method("negative_log_likelihood"), model.negative_log_likelihood(X, y),
                tolerance("value"))
    check_close("MLP.cost", run.method("cost"), model.cost(X, y, L1_reg, L2_reg), tolerance("value"))
    params = run.inputs["set_params"]
    X_t, W1, b1, W2, b2 = (to_tensor(a) for a in (X, *params))
    probabilities = to_numpy(mlp_p_y_given_x(X_t, W1, b1, W2, b2))
    check_close("MLP.p_y_given_x", run.method("p_y_given_x"), probabilities, tolerance("value"))


@points(2, cell="check_mlp")
def test_mlp_gradients(result, tolerance):
    """MLP.gradients: dW1, db1, dW2, db2 of the cost with L1 and L2 penalties, against autograd (some W2 entries 0)."""
    _check_mlp_gradients(result("mlp_values"), tolerance("gradient"), "random batch")


@points(1, cell="check_mlp")
def test_mlp_batch_of_one(result, tolerance):
    """MLP.cost and MLP.gradients on a batch of a single example."""
    run = result("mlp_batch_of_one")
    model, L1_reg, L2_reg = _reference_mlp(run)
    X, y = run.inputs["cost"]
    check_close("MLP.cost (batch of one)", run.method("cost"), model.cost(X, y, L1_reg, L2_reg), tolerance("value"))
    _check_mlp_gradients(run, tolerance("gradient"), "batch of one")


@points(1, cell="check_mlp")
def test_mlp_sgd_step(result, tolerance):
    """MLP.sgd_step: returns the cost before the step and moves all four parameters by -learning_rate * gradient."""
    run = result("mlp_sgd_step")
    model, L1_reg, L2_reg = _reference_mlp(run)
    X, y, learning_rate = run.inputs["sgd_step"]
    check_close("MLP.sgd_step's returned cost", run.method("sgd_step"), model.cost(X, y, L1_reg, L2_reg), tolerance("value"))
    model.sgd_step(X, y, learning_rate, L1_reg=L1_reg, L2_reg=L2_reg)
    for i, name in enumerate(MLP_NAMES):
        check_close(f"MLP {name} after sgd_step", run.method("get_params", i), model.params[name], tolerance("value"))


@points(1, cell="check_mlp")
def test_mlp_inputs_unmodified(result):
    """MLP: negative_log_likelihood, cost, gradients and sgd_step leave X and y as they were."""
    run = result("mlp_values")
    for method in ("negative_log_likelihood", "cost", "gradients"):
        check_unmodified(f"X, in MLP.{method}", run, 0, section=method)
        check_unmodified(f"y, in MLP.{method}", run, 1, section=method)
    step = result("mlp_sgd_step")
    check_unmodified("X, in MLP.sgd_step", step, 0, section="sgd_step")
    check_unmodified("y, in MLP.sgd_step", step, 1, section="sgd_step")


@points(1, cell="check_mlp")
def test_mlp_own_numeric_gradient(result, tolerance):
    """MLP.gradients agrees with centered differences of your own MLP.cost."""
    base = result("mlp_numeric_base")
    for i, (name, param) in enumerate(zip(MLP_NAMES, base.inputs["set_params"])):
        check_shape(f"MLP.gradients' d{name}", base.method("gradients", i), np.shape(param))
    analytic, numeric = [], []
    for k, (name, index) in enumerate(MLP_ENTRIES):
        plus = float(result(f"mlp_numeric_{k}_plus").method("cost"))
        minus = float(result(f"mlp_numeric_{k}_minus").method("cost"))
        numeric.append((plus - minus) / (2 * H))
        analytic.append(float(np.asarray(base.method("gradients", MLP_NAMES.index(name)))[index]))
    check_close("MLP.gradients against your own numeric gradient", np.array(analytic), np.array(numeric),
                tolerance("numeric_gradient"))


# --- MNIST -------------------------------------------------------------------------------------------


@points(2, cell="mlp_test_error")
def test_mlp_test_error(exported, heldout, threshold, note):
    """MLP trained by sgd_optimize: error of the exported MNIST test predictions."""
    y_test = heldout("mnist", "y_test")
    y_pred = exported("mlp_test_predictions")
    check_shape("the exported 'mlp_test_predictions'", y_pred, y_test.shape)
    error = float(np.mean(y_pred != y_test))
    maximum = threshold("mlp_test_error")
    check_true(error <= maximum, f"test error {100 * error:.2f} % is above the allowed {100 * maximum:.1f} %.")
    note(f"test error {100 * error:.2f} % (allowed {100 * maximum:.1f} %)")

"""Hidden graders of a02's ``HiddenLayer`` (and its sigmoid subclass), ``MLP`` and the MLP test error.

Why these checks: the Glorot initialisation is checked two ways, by its statistics (bounds, zero
biases, variance, the factor 4 for sigmoid units), which explain a failure, and by reproducing the
draw the notebook pins (``np.random.default_rng(rng).uniform(-a, a, size=(n_in, n_out))``), which
proves the seed is honoured. Forward values are compared with ``reference.numpy`` and every
backward gradient with torch autograd, on random layers set explicitly (never the random start);
the MLP's L1 penalty is probed with some weights exactly zero, where its subgradient is pinned to 0.
Centered differences of the student's own forward pass or cost catch a gradient that disagrees with
the student's own function (one probe per shifted parameter: a class probe calls each method once).
Leaving X and dout alone is part of the value tests (a layer that does nothing leaves them alone too).

The MLP is graded on its own (issue #21: a doubled dW in LogisticRegression.gradients used to cost
the MLP's points too). Its output layer is replaced by a model of the grader's (``trusted_model
("least_squares")``, which has LogisticRegression's method names: a least-squares classifier), and
its hidden layer is the student's, so its values are checked against the composition of the student's
own hidden layer (read in the same chain: forward, and backward of the grader's model's dh) with the
grader's output layer and the penalties, or against the reference hidden layer: either passes. What
the MLP adds is the student's: the penalties, the cost, the wiring of the gradients, the SGD step.
Its constructor and its given methods are not graded (they are the notebook's code).

The MNIST test error comes from the exported predictions and the held-out labels.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from pipelines.grade.api import (
    StudentCheckFailed,
    assign,
    check_close,
    check_shape,
    check_true,
    check_unmodified,
    numgrad,
    points,
    probe,
    ref,
    step,
    trusted_model,
)
from reference.numpy import HiddenLayer, glorot_bound
from reference.torch import hidden_layer, value_and_grads

# Small layers and networks: N examples, N_IN inputs, N_HIDDEN hidden units, N_OUT classes.
N, N_IN, N_HIDDEN, N_OUT = 16, 9, 7, 4
# Centered differences of the student's own functions: step, fixed inputs, shifted entries.
H = 1e-5
NUMERIC_SEED = 2025
LAYER_ENTRIES = (("W", (2, 3)), ("W", (8, 0)), ("X", (5, 4)))
MLP_NAMES = ("W1", "b1", "W2", "b2")
MLP_NUMERIC_CHECKS = 8
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


def _mlp_steps(rng: np.random.Generator, n: int, *calls: Any, numeric: bool = False) -> dict[str, Any]:
    """The student's MLP with the grader's output layer and the grader's parameters, the student's own
    hidden layer read on the same batch (its forward pass, and its backward pass of the grader's dh),
    then ``calls`` (steps on the MLP, named after its methods; ``"sgd_step"`` adds the learning rate)."""
    init, (W1, b1, W2, b2) = _mlp_init(rng), _mlp_params(rng)
    X, y = rng.standard_normal((n, N_IN)), rng.integers(0, N_OUT, n)
    mlp = ref("mlp")
    steps = [
        step("mlp", "MLP", *init),
        assign("output", mlp, {"logRegressionLayer": trusted_model("least_squares", W=W2, b=b2)}),
        assign("hidden", mlp.attr("hiddenLayer"), {"W": W1, "b": b1}),
        step("own_h", mlp.attr("hiddenLayer").attr("forward"), X),
        step("own_dh", mlp.attr("logRegressionLayer").attr("gradients"), ref("own_h"), y),
        step("own_back", mlp.attr("hiddenLayer").attr("backward"), ref("own_dh").out(2)),
    ]
    for call in calls:
        args = [X] if call == "p_y_given_x" else [] if call in ("L1", "L2_sqr") else [X, y]
        if call == "sgd_step":
            args.append(float(rng.uniform(0.05, 0.5)))
        steps.append(step(call, mlp.attr(call), *args))
    if "sgd_step" in calls:
        steps.append(step("get_params", mlp.attr("get_params")))
    if numeric:
        # The output layer's weights as an argument of a step (the grader's own set_params, no student
        # code), so that the numeric gradient can shift them: dW2 does not go through the hidden layer's
        # backward pass, so this check holds the MLP to its own cost whatever that layer does.
        steps.insert(3, step("set_W2", mlp.attr("logRegressionLayer").attr("set_params"), W2, b2))
    probe: dict[str, Any] = {"steps": steps}
    if numeric:
        probe["numeric_grad"] = numgrad(of=("cost", 0), wrt=("set_W2", 0), k=MLP_NUMERIC_CHECKS)
    return probe


@probe("MLP")
def mlp_values(rng):
    return _mlp_steps(rng, N, "L1", "L2_sqr", "cost", "gradients", numeric=True)


@probe("MLP")
def mlp_batch_of_one(rng):
    return _mlp_steps(rng, 1, "cost", "gradients")


@probe("MLP")
def mlp_sgd_step(rng):
    return _mlp_steps(rng, N, "sgd_step")


for _k in range(3):
    for _sign in (1, -1):
        _register_layer_shift(_k, _sign)


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


def _mlp_expected(run) -> list[dict[str, Any]]:
    """What the MLP of a probe should give (cost before any step, the gradients), two ways: from the
    student's own hidden layer as read in the chain, and from the reference hidden layer; each with the
    grader's output layer and the penalties. The MLP passes when it matches either."""
    n_in, n_hidden, n_out, _, L1_reg, L2_reg = run.step("mlp").args
    W1, b1 = (np.asarray(run.step("hidden").args[1][k], dtype=np.float64) for k in ("W", "b"))
    output = run.step("output").args[1]["logRegressionLayer"]
    W2, b2 = output.build().get_params()
    X = np.asarray(run.step("own_h").args[0], dtype=np.float64)
    y = np.asarray(run.step("own_dh").args[1])
    penalty = L1_reg * (np.abs(W1).sum() + np.abs(W2).sum()) + L2_reg * (np.sum(W1 ** 2) + np.sum(W2 ** 2))
    reference_h = HiddenLayer(np.random.default_rng(0), n_in, n_hidden, W=W1, b=b1, activation="tanh")
    ways = []
    for how in ("own", "reference"):
        if how == "own":
            h = np.asarray(run.step("own_h").returned(0), dtype=np.float64)
        else:
            h, _ = reference_h.forward(X)
        layer = output.build()
        dW2, db2, dh = layer.gradients(h, y)
        if how == "own":
            _, dW1, db1 = (np.asarray(run.step("own_back").returned(i), dtype=np.float64) for i in range(3))
        else:
            _, (_, dW1, db1) = value_and_grads(hidden_layer, [X, W1, b1], wrt=[0, 1, 2], dout=dh, activation="tanh")
        ways.append({"cost": layer.negative_log_likelihood(h, y) + penalty,
                     "gradients": [dW1 + L1_reg * np.sign(W1) + 2 * L2_reg * W1, db1,
                                   dW2 + L1_reg * np.sign(W2) + 2 * L2_reg * W2, db2]})
    return ways


def _check_either(what: str, got: np.ndarray, expected: list[np.ndarray], tol: float) -> None:
    """``got`` against the first expectation (the student's own parts), or the second (the reference)."""
    try:
        check_close(f"{what} (with your own HiddenLayer)", got, expected[0], tol)
    except StudentCheckFailed:
        check_close(f"{what} (with your own HiddenLayer, or the reference one)", got, expected[1], tol)


def _check_mlp_gradients(run, tol: float, label: str) -> None:
    ways = _mlp_expected(run)
    for i, name in enumerate(MLP_NAMES):
        _check_either(f"MLP.gradients ({label}): d{name}", run.step("gradients").returned(i),
                      [way["gradients"][i] for way in ways], tol)


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


@points(3, cell="check_hidden_layer")
def test_hidden_forward_backward(result, tolerance):
    """HiddenLayer.forward and HiddenLayer.backward (tanh): output against the reference, gradients against autograd,
    with X and dout left as they were (tanh and sigmoid)."""
    _check_layer(result("hidden_values"), "HiddenLayer", tolerance("value"), tolerance("gradient"), "tanh, 16 examples")
    for name, call in (("hidden_values", "HiddenLayer"), ("sigmoid_values", "SigmoidLayer")):
        run = result(name)
        check_unmodified(f"X, in {call}.forward", run, 0, section="forward")
        check_unmodified(f"dout, in {call}.backward (HiddenLayer.backward)", run, 0, section="backward")


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
def test_mlp_penalties(result, tolerance):
    """MLP.L1 and MLP.L2_sqr: sums over both weight matrices, never the biases."""
    run = result("mlp_values")
    W1 = run.step("hidden").args[1]["W"]
    W2, _ = run.step("output").args[1]["logRegressionLayer"].build().get_params()
    check_close("MLP.L1", run.step("L1").returned(0), np.abs(W1).sum() + np.abs(W2).sum(), tolerance("value"))
    check_close("MLP.L2_sqr", run.step("L2_sqr").returned(0), np.sum(W1 ** 2) + np.sum(W2 ** 2), tolerance("value"))


@points(3, cell="check_mlp")
def test_mlp_cost(result, tolerance):
    """MLP.cost: the output layer's negative log-likelihood plus the L1 and L2 penalties on a random batch, with X and
    y left as they were (an output layer of the grader's under your hidden layer)."""
    run = result("mlp_values")
    _check_either("MLP.cost", run.step("cost").returned(0), [way["cost"] for way in _mlp_expected(run)], tolerance("value"))
    for name in ("cost", "gradients"):
        check_unmodified(f"X, in MLP.{name}", run.step(name), 0)
        check_unmodified(f"y, in MLP.{name}", run.step(name), 1)


@points(3, cell="check_mlp")
def test_mlp_gradients(result, tolerance):
    """MLP.gradients: dW1, db1, dW2, db2 of the cost with L1 and L2 penalties (some W2 entries 0), the output layer's
    gradients passed back through your hidden layer."""
    _check_mlp_gradients(result("mlp_values"), tolerance("gradient"), "random batch")


@points(1, cell="check_mlp")
def test_mlp_batch_of_one(result, tolerance):
    """MLP.cost and MLP.gradients on a batch of a single example."""
    run = result("mlp_batch_of_one")
    _check_either("MLP.cost (batch of one)", run.step("cost").returned(0), [way["cost"] for way in _mlp_expected(run)],
                  tolerance("value"))
    _check_mlp_gradients(run, tolerance("gradient"), "batch of one")


@points(1, cell="check_mlp")
def test_mlp_sgd_step(result, tolerance):
    """MLP.sgd_step: returns the cost before the step and moves all four parameters by -learning_rate * gradient,
    leaving X and y alone."""
    run = result("mlp_sgd_step")
    ways = _mlp_expected(run)
    _check_either("MLP.sgd_step's returned cost", run.step("sgd_step").returned(0), [way["cost"] for way in ways],
                  tolerance("value"))
    learning_rate = run.step("sgd_step").args[2]
    W1, b1 = (run.step("hidden").args[1][k] for k in ("W", "b"))
    W2, b2 = run.step("output").args[1]["logRegressionLayer"].build().get_params()
    for i, (name, before) in enumerate(zip(MLP_NAMES, (W1, b1, W2, b2))):
        _check_either(f"MLP {name} after sgd_step", run.step("get_params").returned(i),
                      [before - learning_rate * way["gradients"][i] for way in ways], tolerance("value"))
    check_unmodified("X, in MLP.sgd_step", run.step("sgd_step"), 0)
    check_unmodified("y, in MLP.sgd_step", run.step("sgd_step"), 1)


@points(1, cell="check_mlp")
def test_mlp_own_numeric_gradient(result, tolerance):
    """MLP.gradients' dW2 agrees with centered differences of your own MLP.cost."""
    run = result("mlp_values")
    dW2 = run.step("gradients").returned(2)
    check_shape("MLP.gradients' dW2", dW2, (N_HIDDEN, N_OUT))
    check_close("MLP.gradients' dW2 against your own numeric gradient", dW2[run.numeric_grad_index], run.numeric_grad,
                tolerance("numeric_gradient"))


# --- MNIST -------------------------------------------------------------------------------------------


@points(2, cell="mlp_test_error")
def test_mlp_test_error(exported, heldout, threshold, measured, note):
    """MLP you trained with sgd_optimize: error of the exported MNIST test predictions."""
    y_test = heldout("mnist", "y_test")
    y_pred = exported("mlp_test_predictions")
    check_shape("the exported 'mlp_test_predictions'", y_pred, y_test.shape)
    error = float(np.mean(y_pred != y_test))
    measured("mlp_test_error", error)
    maximum = threshold("mlp_test_error")
    check_true(error <= maximum, f"test error {100 * error:.2f} % is above the allowed {100 * maximum:.1f} %.")
    note(f"test error {100 * error:.2f} % (allowed {100 * maximum:.1f} %)")

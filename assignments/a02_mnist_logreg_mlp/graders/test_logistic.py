"""Hidden graders of a02's ``LogisticRegression``, ``sgd_optimize`` and the logistic-regression test error.

Why these checks: every method is compared with ``reference.numpy`` (values) and torch autograd
(gradients) on fresh random batches, with the parameters set through ``set_params`` so that nothing
depends on the zero start; the edge cases where softmax code breaks get their own probes (a batch of
one, a class absent from the batch, scores in the thousands, float32 inputs). The student's gradient
is also compared with centered differences of their own ``negative_log_likelihood`` (one probe per
shifted parameter: a class probe calls each method once). Leaving X and y alone is part of the
value tests (a method that does nothing leaves them alone too).

``sgd_optimize`` is called directly, on a linear model of the grader's (``trusted_model
("least_squares")``: a least-squares classifier with LogisticRegression's method names), never on the
student's LogisticRegression, so a bug of the model costs the model's points only (issue #21: a
doubled ``dW`` used to cost sgd_optimize's points too). The problem is small and deterministic, drawn
so that every rule of the tutorial's patience bookkeeping changes the outcome, and the whole trace
is compared with the reference loop driving the same model. The MNIST test error of the logistic
regression is a note worth no points: the training cell is given, so it measures the student's
LogisticRegression and sgd_optimize a second time.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

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
from reference.numpy import LogisticRegression, sgd_optimize
from reference.torch import logistic_nll, value_and_grads

# Random batches: N examples, D features, C classes.
N, D, C = 30, 12, 5
# Centered differences of the student's own loss: step, fixed inputs (shared by the shifted probes,
# each of which has its own generator) and the shifted entries, as (parameter, index).
H = 1e-5
NUMERIC_SEED = 2024
NUMERIC_ENTRIES = (("W", (3, 1)), ("W", (7, 4)), ("b", (2,)))


def _params(rng: np.random.Generator, scale: float = 0.5) -> list[np.ndarray]:
    """[W (D, C), b (C,)]: scores X @ W + b have a standard deviation of about 3.5 * scale."""
    return [scale * rng.standard_normal((D, C)), scale * rng.standard_normal(C)]


def _batch(rng: np.random.Generator, n: int = N, classes: int = C) -> list[np.ndarray]:
    """[X (n, D), y (n,)] with labels drawn from the first ``classes`` classes."""
    return [rng.standard_normal((n, D)), rng.integers(0, classes, n)]


def _values_probe(rng: np.random.Generator, n: int = N, classes: int = C, scale: float = 0.5,
                  dtype: type = np.float64) -> dict[str, list[Any]]:
    X, y = _batch(rng, n, classes)
    X = X.astype(dtype)
    return {"init": [D, C], "set_params": _params(rng, scale), "p_y_given_x": [X], "y_pred": [X],
            "negative_log_likelihood": [X, y], "errors": [X, y], "gradients": [X, y]}


METHODS = ("set_params", "p_y_given_x", "y_pred", "negative_log_likelihood", "errors", "gradients")


@probe("LogisticRegression", methods=("get_params",), attrs=("W", "b"))
def lr_init(rng):
    return {"init": [int(rng.integers(20, 60)), int(rng.integers(3, 11))]}


@probe("LogisticRegression", methods=METHODS)
def lr_values(rng):
    return _values_probe(rng)


@probe("LogisticRegression", methods=METHODS)
def lr_batch_of_one(rng):
    return _values_probe(rng, n=1)


@probe("LogisticRegression", methods=METHODS)
def lr_absent_class(rng):
    return _values_probe(rng, classes=C - 2)


@probe("LogisticRegression", methods=METHODS)
def lr_huge_scores(rng):
    return _values_probe(rng, scale=500.0)


@probe("LogisticRegression", methods=METHODS)
def lr_float32(rng):
    return _values_probe(rng, dtype=np.float32)


@probe("LogisticRegression", methods=("set_params", "sgd_step", "get_params"))
def lr_sgd_step(rng):
    X, y = _batch(rng)
    return {"init": [D, C], "set_params": _params(rng), "sgd_step": [X, y, float(rng.uniform(0.05, 0.5))]}


def _numeric_inputs() -> tuple[list[np.ndarray], list[np.ndarray]]:
    rng = np.random.default_rng(NUMERIC_SEED)
    return _params(rng), _batch(rng)


@probe("LogisticRegression", methods=("set_params", "gradients"))
def lr_numeric_base(rng):
    params, batch = _numeric_inputs()
    return {"init": [D, C], "set_params": params, "gradients": batch}


def _register_shifted(k: int, sign: int) -> None:
    """A probe of the student's NLL with entry k of NUMERIC_ENTRIES shifted by sign * H."""

    def make(rng: np.random.Generator) -> dict[str, list[Any]]:
        (W, b), batch = _numeric_inputs()
        name, index = NUMERIC_ENTRIES[k]
        (W if name == "W" else b)[index] += sign * H
        return {"init": [D, C], "set_params": [W, b], "negative_log_likelihood": batch}

    make.__name__ = f"lr_numeric_{k}_{'plus' if sign > 0 else 'minus'}"
    probe("LogisticRegression", methods=("set_params", "negative_log_likelihood"))(make)


for _k in range(len(NUMERIC_ENTRIES)):
    for _sign in (1, -1):
        _register_shifted(_k, _sign)


# --- the patience bookkeeping problem, on a model of the grader's ----------------------------------

ES_D, ES_C, ES_TRAIN, ES_VALID, ES_BATCH, ES_EPOCHS = 10, 3, 205, 1000, 20, 40


def _es_draw(rng: np.random.Generator) -> tuple[list[np.ndarray], dict[str, Any]]:
    """Overlapping Gaussian classes: validation error plateaus quickly, so patience decides the end.

    205 training rows make 10 batches of 20 and a dropped remainder of 5; patience 12..16 makes the
    validation frequency patience // 2 (not once an epoch)."""
    centres = rng.standard_normal((ES_C, ES_D))

    def draw(n: int) -> tuple[np.ndarray, np.ndarray]:
        y = rng.integers(0, ES_C, n)
        return 0.5 * centres[y] + rng.standard_normal((n, ES_D)), y

    (X, y), (Xv, yv) = draw(ES_TRAIN), draw(ES_VALID)
    settings = {"learning_rate": float(rng.uniform(0.02, 0.1)), "n_epochs": ES_EPOCHS, "batch_size": ES_BATCH,
                "patience": int(rng.integers(12, 17))}
    return [X, y, Xv, yv], settings


def _es_model() -> Any:
    """The grader's model the student's sgd_optimize trains: least squares on one-hot targets, from zero."""
    return trusted_model("least_squares", W=np.zeros((ES_D, ES_C)), b=np.zeros(ES_C))


def _es_reference(data: list[np.ndarray], settings: dict[str, Any], threshold: float = 0.995):
    """The reference loop driving the same model: its result and the model as it ends."""
    X, y, Xv, yv = data
    model = _es_model().build()
    result = sgd_optimize(model, ((X, y), (Xv, yv), (Xv, yv)), improvement_threshold=threshold, **settings)
    return result, model


def _es_discriminating(data: list[np.ndarray], settings: dict[str, Any], rule: str) -> bool:
    """Whether the rules matter here: patience ends the run early and the best validation is not the
    last step, and ``rule`` decides the outcome: "significance" (an improvement below the 0.5 %
    bar happens where extending patience would change the end) or "tie" (a later validation ties
    the best: `<` versus `<=` moves best_iter). Each holds for about one draw in ten."""
    result, _ = _es_reference(data, settings)
    if result.iterations >= ES_EPOCHS * (ES_TRAIN // ES_BATCH) or result.best_iter >= result.iterations - 1:
        return False
    if rule == "tie":
        return [h["validation_error"] for h in result.history].count(result.best_validation_error) >= 2
    return _es_reference(data, settings, threshold=1.0)[0].iterations != result.iterations


def _es_probe(rng: np.random.Generator, rule: str) -> dict[str, Any]:
    while True:
        data, settings = _es_draw(rng)
        if _es_discriminating(data, settings, rule):
            break
    args = [*data, settings["learning_rate"], settings["n_epochs"], settings["batch_size"], settings["patience"], 2, 0.995]
    return {"steps": [step("fit", "sgd_optimize", _es_model(), *args),
                      read("params", ref("fit").arg(0).attr("params"))]}


@probe("sgd_optimize")
def es_significance(rng):
    return _es_probe(rng, "significance")


@probe("sgd_optimize")
def es_tie(rng):
    return _es_probe(rng, "tie")


ES_PROBES = ("es_significance", "es_tie")


# --- helpers ---------------------------------------------------------------------------------------


def _reference_model(run) -> LogisticRegression:
    W, b = run.inputs["set_params"]
    return LogisticRegression(D, C, W=np.array(W, dtype=np.float64), b=np.array(b, dtype=np.float64))


def _check_values(run, tol: float, label: str) -> None:
    """p_y_given_x, y_pred, negative_log_likelihood and errors of one values probe."""
    model = _reference_model(run)
    X, y = run.inputs["negative_log_likelihood"]
    X = np.asarray(X, dtype=np.float64)
    check_close(f"LogisticRegression.p_y_given_x ({label})", run.method("p_y_given_x"), model.p_y_given_x(X), tol)
    check_close(f"LogisticRegression.negative_log_likelihood ({label})", run.method("negative_log_likelihood"),
                model.negative_log_likelihood(X, y), tol)
    check_close(f"LogisticRegression.errors ({label})", run.method("errors"), model.errors(X, y), tol)


def _check_gradients(run, tol: float, label: str) -> None:
    X, y = run.inputs["gradients"]
    W, b = run.inputs["set_params"]
    args = [np.asarray(X, dtype=np.float64), np.asarray(y), np.asarray(W, dtype=np.float64), np.asarray(b, dtype=np.float64)]
    _, (dX, dW, db) = value_and_grads(logistic_nll, args, wrt=[0, 2, 3])
    for i, (name, expected) in enumerate((("dW", dW), ("db", db), ("dX", dX))):
        check_close(f"LogisticRegression.gradients ({label}): {name}", run.method("gradients", i), expected, tol)


# --- LogisticRegression ----------------------------------------------------------------------------


@points(1, cell="check_logistic_regression")
def test_lr_init(result):
    """LogisticRegression.__init__: W (n_in, n_out) and b (n_out,) are float64 zeros."""
    run = result("lr_init")
    n_in, n_out = run.inputs["init"]
    for name, shape in (("W", (n_in, n_out)), ("b", (n_out,))):
        value = run.attr(name)
        check_shape(f"LogisticRegression.{name} after construction", value, shape)
        check_true(value.dtype == np.float64, f"LogisticRegression.{name} has dtype {value.dtype}, expected float64.")
        check_true(bool(np.all(value == 0)), f"LogisticRegression.{name} does not start at zero.")


@points(3, cell="check_logistic_regression")
def test_lr_probabilities_and_loss(result, tolerance):
    """LogisticRegression.p_y_given_x, negative_log_likelihood and errors on a random 30x12 batch (5 classes), with
    X and y left as they were (also by gradients)."""
    run = result("lr_values")
    _check_values(run, tolerance("value"), "random batch")
    for method in ("p_y_given_x", "negative_log_likelihood", "errors", "gradients"):
        check_unmodified(f"X, in LogisticRegression.{method}", run, 0, section=method)
    for method in ("negative_log_likelihood", "errors", "gradients"):
        check_unmodified(f"y, in LogisticRegression.{method}", run, 1, section=method)


@points(1, cell="check_logistic_regression")
def test_lr_y_pred(result):
    """LogisticRegression.y_pred: one integer label per row, the most probable class."""
    run = result("lr_values")
    X = run.inputs["y_pred"][0]
    y_pred = run.method("y_pred")
    check_shape("LogisticRegression.y_pred's output", y_pred, (X.shape[0],))
    check_true(y_pred.dtype.kind in "iu", f"LogisticRegression.y_pred returned dtype {y_pred.dtype}, expected integers.")
    wrong = int(np.sum(y_pred != _reference_model(run).y_pred(X)))
    check_true(wrong == 0, f"LogisticRegression.y_pred: {wrong} of {X.shape[0]} labels are not the most probable class.")


@points(2, cell="check_logistic_regression")
def test_lr_gradients(result, tolerance):
    """LogisticRegression.gradients: dW, db and dX on a random 30x12 batch, against autograd."""
    _check_gradients(result("lr_values"), tolerance("gradient"), "random batch")


@points(1, cell="check_logistic_regression")
def test_lr_batch_of_one(result, tolerance):
    """LogisticRegression.negative_log_likelihood and gradients on a batch of a single example."""
    run = result("lr_batch_of_one")
    _check_values(run, tolerance("value"), "batch of one")
    _check_gradients(run, tolerance("gradient"), "batch of one")


@points(1, cell="check_logistic_regression")
def test_lr_absent_class(result, tolerance):
    """LogisticRegression.gradients when two of the five classes do not occur in the batch."""
    run = result("lr_absent_class")
    _check_values(run, tolerance("value"), "classes absent from the batch")
    _check_gradients(run, tolerance("gradient"), "classes absent from the batch")


@points(1, cell="check_logistic_regression")
def test_lr_huge_scores(result, tolerance):
    """LogisticRegression.p_y_given_x, negative_log_likelihood and gradients with scores in the thousands."""
    run = result("lr_huge_scores")
    _check_values(run, tolerance("value"), "scores in the thousands")
    _check_gradients(run, tolerance("gradient"), "scores in the thousands")


@points(1, cell="check_logistic_regression")
def test_lr_float32_inputs(result, tolerance):
    """LogisticRegression: float32 inputs give float64 probabilities and gradients (the parameters are float64)."""
    run = result("lr_float32")
    for what, value in (("p_y_given_x", run.method("p_y_given_x")), ("gradients' dW", run.method("gradients", 0))):
        check_true(value.dtype == np.float64, f"LogisticRegression.{what} has dtype {value.dtype} for float32 X, expected float64.")
    _check_values(run, tolerance("value"), "float32 inputs")


@points(1, cell="check_logistic_regression")
def test_lr_sgd_step(result, tolerance):
    """LogisticRegression.sgd_step: returns the cost before the step and moves W and b by -learning_rate * gradient,
    leaving X and y alone."""
    run = result("lr_sgd_step")
    model = _reference_model(run)
    X, y, learning_rate = run.inputs["sgd_step"]
    check_close("LogisticRegression.sgd_step's returned cost", run.method("sgd_step"), model.negative_log_likelihood(X, y),
                tolerance("value"))
    model.sgd_step(X, y, learning_rate)
    check_close("LogisticRegression W after sgd_step", run.method("get_params", 0), model.W, tolerance("value"))
    check_close("LogisticRegression b after sgd_step", run.method("get_params", 1), model.b, tolerance("value"))
    check_unmodified("X, in LogisticRegression.sgd_step", run, 0, section="sgd_step")
    check_unmodified("y, in LogisticRegression.sgd_step", run, 1, section="sgd_step")


@points(1, cell="check_logistic_regression")
def test_lr_own_numeric_gradient(result, tolerance):
    """LogisticRegression.gradients agrees with centered differences of your own negative_log_likelihood."""
    base = result("lr_numeric_base")
    for i, (name, param) in enumerate(zip(("dW", "db"), base.inputs["set_params"])):
        check_shape(f"LogisticRegression.gradients' {name}", base.method("gradients", i), np.shape(param))
    analytic, numeric = [], []
    for k, (name, index) in enumerate(NUMERIC_ENTRIES):
        plus = float(result(f"lr_numeric_{k}_plus").method("negative_log_likelihood"))
        minus = float(result(f"lr_numeric_{k}_minus").method("negative_log_likelihood"))
        numeric.append((plus - minus) / (2 * H))
        analytic.append(float(np.asarray(base.method("gradients", 0 if name == "W" else 1))[index]))
    check_close("LogisticRegression.gradients against your own numeric gradient", np.array(analytic), np.array(numeric),
                tolerance("numeric_gradient"))


# --- sgd_optimize (on the grader's model) -----------------------------------------------------------


def _es_expected(run):
    _, X, y, Xv, yv, learning_rate, n_epochs, batch_size, patience, _, _ = run.step("fit").args
    settings = {"learning_rate": learning_rate, "n_epochs": n_epochs, "batch_size": batch_size, "patience": patience}
    return _es_reference([X, y, Xv, yv], settings)


WHERE = "on a small deterministic problem (a linear model of the grader's, trained from zero)"


def _fit(run, i: int) -> np.ndarray:
    return run.step("fit").returned(i)


@points(2, cell="check_sgd_optimize")
def test_sgd_optimize_minibatches(result, tolerance):
    """sgd_optimize: one cost per SGD step, minibatches taken in order and the incomplete last one skipped, the
    training and validation arrays left as they were (no shuffling or scaling in place)."""
    for run in map(result, ES_PROBES):
        expected, _ = _es_expected(run)
        costs = np.asarray(_fit(run, 4), dtype=np.float64)
        check_true(costs.ndim == 1, f"sgd_optimize's costs should be a flat list of numbers, got shape {costs.shape}.")
        steps = min(len(costs), len(expected.costs))
        check_true(steps > 0, f"sgd_optimize returned no costs {WHERE}.")
        check_close(f"sgd_optimize's costs of the first {steps} steps {WHERE}", costs[:steps], np.array(expected.costs[:steps]),
                    tolerance("value"))
        for i, name in enumerate(("X_train", "y_train", "X_valid", "y_valid"), start=1):
            check_unmodified(f"{name}, in sgd_optimize", run.step("fit"), i)


@points(1, cell="check_sgd_optimize")
def test_sgd_optimize_validation_schedule(result, tolerance):
    """sgd_optimize: the validation error is measured every min(n_train_batches, patience // 2) steps."""
    for run in map(result, ES_PROBES):
        expected, _ = _es_expected(run)
        errors = np.asarray(_fit(run, 3), dtype=np.float64)
        reference = np.array([h["validation_error"] for h in expected.history])
        n = min(len(errors), len(reference))
        check_true(n > 0, f"sgd_optimize returned no validation errors {WHERE}.")
        check_close(f"sgd_optimize's first {n} validation errors {WHERE}", errors[:n], reference[:n], tolerance("value"))


@points(1, cell="check_sgd_optimize")
def test_sgd_optimize_patience(result):
    """sgd_optimize: training stops as soon as patience <= iteration, patience growing only on significant improvements."""
    for run in map(result, ES_PROBES):
        expected, _ = _es_expected(run)
        steps = int(np.asarray(_fit(run, 2)))
        validations = len(np.atleast_1d(_fit(run, 3)))
        check_true(
            steps == expected.iterations and validations == len(expected.history),
            f"sgd_optimize stopped after {steps} SGD steps and {validations} validations {WHERE}, "
            "which is not where the tutorial's patience rule stops.",
        )


@points(1, cell="check_sgd_optimize")
def test_sgd_optimize_best(result, tolerance):
    """sgd_optimize: returns the best validation error and the 0-based iteration where it was first reached."""
    for run in map(result, ES_PROBES):
        expected, _ = _es_expected(run)
        check_close(f"sgd_optimize's best validation error {WHERE}", _fit(run, 0), expected.best_validation_error,
                    tolerance("value"))
        best_iter = int(np.asarray(_fit(run, 1)))
        check_true(best_iter == expected.best_iter,
                   f"sgd_optimize's best_iter {best_iter} is not the first iteration that reached the best validation error {WHERE}.")


@points(1, cell="check_sgd_optimize")
def test_sgd_optimize_keeps_best_params(result, tolerance):
    """sgd_optimize: the model ends with the parameters of its best validation error, not its last ones."""
    for run in map(result, ES_PROBES):
        _, model = _es_expected(run)
        check_close(f"W after sgd_optimize {WHERE}", run.step("params").entry(0, "W"), model.W, tolerance("value"))
        check_close(f"b after sgd_optimize {WHERE}", run.step("params").entry(0, "b"), model.b, tolerance("value"))


# --- MNIST -----------------------------------------------------------------------------------------


def check_test_error(exported: Callable, heldout: Callable, measured: Callable, note: Callable, name: str, maximum: float,
                     key: str) -> None:
    """The exported predictions of all 10,000 MNIST test images against the held-out labels."""
    y_test = heldout("mnist", "y_test")
    y_pred = exported(name)
    check_shape(f"the exported '{name}'", y_pred, y_test.shape)
    error = float(np.mean(y_pred != y_test))
    measured(key, error)
    check_true(error <= maximum, f"test error {100 * error:.2f} % is above the allowed {100 * maximum:.1f} %.")
    note(f"test error {100 * error:.2f} % (allowed {100 * maximum:.1f} %)")


@points(0, cell="lr_test_error")
def test_lr_test_error(exported, heldout, threshold, measured, note):
    """LogisticRegression trained by sgd_optimize (a note, no points: the training cell is given): error of the
    exported MNIST test predictions."""
    check_test_error(exported, heldout, measured, note, "lr_test_predictions", threshold("lr_test_error"), "lr_test_error")

"""Hidden graders of the a01 classifiers: SGD training, prediction, and CIFAR-10 test accuracy.

Why these checks: training is checked on a small, clearly separable problem (fresh every run) where
any correct minibatch SGD drives the loss down and fits the data, whatever the random
initialisation; ``predict`` is checked against the weights the student's model ended with; the
accuracy on CIFAR-10 is computed here from the exported test predictions and the held-out labels
the notebook never saw.
"""

from __future__ import annotations

import numpy as np

from pipelines.grade.api import check_shape, check_true, points, probe

# The separable problem: N points in D - 1 dimensions (plus the bias column), C Gaussian clusters
# whose centres are far apart compared with the unit noise.
N, D, C = 400, 11, 4
CENTRE_SPREAD = 4.0
# SGD settings that fit it in a fraction of a second: (learning_rate, reg, num_iters, batch_size).
SGD = {"Softmax": (0.05, 1e-3, 200, 64), "LinearSVM": (0.01, 1e-3, 200, 64)}


def _separable(rng: np.random.Generator, cls: str) -> dict:
    centres = CENTRE_SPREAD * rng.standard_normal((C, D - 1))
    y = rng.integers(0, C, N)
    X = np.hstack([centres[y] + rng.standard_normal((N, D - 1)), np.ones((N, 1))])
    learning_rate, reg, num_iters, batch_size = SGD[cls]
    return {"init": [], "train": [X, y, learning_rate, reg, num_iters, batch_size], "predict": [X]}


@probe("Softmax", methods=("train", "predict"), attrs=("W",))
def softmax_separable(rng):
    return _separable(rng, "Softmax")


@probe("LinearSVM", methods=("train", "predict"), attrs=("W",))
def svm_separable(rng):
    return _separable(rng, "LinearSVM")


# predict on rows whose bias feature dominates the scores (30 instead of 1): labels that ignore a
# row of W, such as the bias row, differ from argmax(X @ W) on most of them.
BIAS_FEATURE = 30.0


@probe("Softmax", methods=("train", "predict"), attrs=("W",))
def softmax_predict_bias(rng):
    made = _separable(rng, "Softmax")
    made["predict"] = [np.hstack([rng.standard_normal((N, D - 1)), np.full((N, 1), BIAS_FEATURE)])]
    return made


def _check_history(run, cls: str, drop: float) -> None:
    num_iters = SGD[cls][2]
    history = np.asarray(run.method("train"), dtype=np.float64)
    check_shape(f"{cls}.train's loss history", history, (num_iters,))
    check_true(bool(np.all(np.isfinite(history))), f"{cls}.train's loss history contains NaN or infinity.")
    tenth = num_iters // 10
    first, last = float(np.mean(history[:tenth])), float(np.mean(history[-tenth:]))
    check_true(
        last <= drop * first,
        f"{cls}.train: on an easy separable problem the mean loss of the last tenth of the steps is "
        f"{last:.3g}, more than {drop:g} times that of the first tenth ({first:.3g}).",
    )


def _check_fit(run, cls: str, min_accuracy: float, note) -> None:
    y = run.inputs["train"][1]
    y_pred = run.method("predict")
    check_shape(f"{cls}.predict's output", y_pred, y.shape)
    accuracy = float(np.mean(y_pred == y))
    check_true(
        accuracy >= min_accuracy,
        f"{cls}: after training on an easy separable problem the training accuracy is {accuracy:.3f} "
        f"(at least {min_accuracy:g} expected).",
    )
    note(f"training accuracy {accuracy:.3f}")


@points(1, cell="linear_classifier")
def test_softmax_training_lowers_the_loss(result, threshold):
    """Softmax.train: returns one loss per step, and the loss falls on an easy separable problem."""
    _check_history(result("softmax_separable"), "Softmax", threshold("separable_loss_drop"))


@points(1, cell="linear_classifier")
def test_softmax_training_fits(result, threshold, note):
    """Softmax: after train, predict fits an easy separable training set."""
    _check_fit(result("softmax_separable"), "Softmax", threshold("separable_train_acc"), note)


@points(1, cell="linear_classifier")
def test_predict_uses_the_weights(result):
    """Softmax.predict: the class with the highest score X @ W, with W of shape (D, C), bias row included."""
    run = result("softmax_predict_bias")
    W = run.attr("W")
    check_shape("Softmax.W after training", W, (D, C))
    X = run.inputs["predict"][0]
    y_pred = run.method("predict")
    check_shape("Softmax.predict's output", y_pred, (N,))
    mismatches = int(np.sum(y_pred != np.argmax(X @ W, axis=1)))
    check_true(mismatches == 0, f"Softmax.predict: {mismatches} of {N} labels are not the argmax of X @ self.W.")


@points(1, cell="linear_classifier")
def test_svm_training_lowers_the_loss(result, threshold):
    """LinearSVM.train: returns one loss per step, and the loss falls on an easy separable problem."""
    _check_history(result("svm_separable"), "LinearSVM", threshold("separable_loss_drop"))


@points(1, cell="linear_classifier")
def test_svm_training_fits(result, threshold, note):
    """LinearSVM: after train, predict fits an easy separable training set."""
    _check_fit(result("svm_separable"), "LinearSVM", threshold("separable_train_acc"), note)


def _check_test_accuracy(exported, heldout, measured, note, name: str, key: str, minimum: float) -> None:
    y_test = heldout("cifar10", "y_test")
    y_pred = exported(name)
    check_shape(f"the exported '{name}'", y_pred, y_test.shape)
    accuracy = float(np.mean(y_pred == y_test))
    measured(key, accuracy)
    check_true(accuracy >= minimum, f"test accuracy {accuracy:.3f} is below the required {minimum:.2f}.")
    note(f"test accuracy {accuracy:.3f} (required {minimum:.2f})")


@points(2, cell="svm_accuracy")
def test_svm_test_accuracy(exported, heldout, threshold, measured, note):
    """best_svm: accuracy of the exported CIFAR-10 test predictions."""
    _check_test_accuracy(exported, heldout, measured, note, "svm_test_predictions", "svm_test_acc", threshold("svm_test_acc"))


@points(2, cell="softmax_accuracy")
def test_softmax_test_accuracy(exported, heldout, threshold, measured, note):
    """best_softmax: accuracy of the exported CIFAR-10 test predictions."""
    _check_test_accuracy(exported, heldout, measured, note, "softmax_test_predictions", "softmax_test_acc",
                         threshold("softmax_test_acc"))

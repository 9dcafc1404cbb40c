"""Hidden graders of a09's softmax regression: SoftmaxRegression, mnist_loss and the trained model.

Why these checks: the module is built with the student's constructor (its initial parameters are
read back: zeros, float32, nn.Linear's (out, in) shape), then converted to float64 on the job's
device (``model.to(tensor)``) and given the grader's weights by name with ``load_state_dict`` (which
also fails on any other parameter name), so its logits can be compared with the reference to 1e-7:
for rows, for the same rows as images, for one row. The loss is checked on its own, on logits of the
grader's: value and autograd gradient against the reference (a class absent from the batch), logits
spread over hundreds (a log of a softmax underflows there), float32 logits (the loss keeps their
dtype). Both run once on torch's meta device, where a tensor created on a fixed device fails: the
device-agnostic rule, checkable without a GPU; those points need correct values too. Finally the
trained model's predictions on the held-out test labels, against a per-profile bar.
"""

from __future__ import annotations

import numpy as np
import torch

from pipelines.grade.api import check_close, check_shape, check_true, check_unmodified, points, probe, read, ref, step, tensor
from reference.torch.mnist_models import SoftmaxRegression, mnist_loss

N, C, D = 6, 10, 784


def _meta(name: str, call_ref, args: list) -> list:
    """Steps that move ``args`` (refs to tensors) to the meta device and call ``call_ref`` on them there."""
    moved = [step(f"{name}_arg{i}", a.attr("to"), "meta") for i, a in enumerate(args)]
    return [*moved, step(name, call_ref, *(ref(s.name) for s in moved)),
            read(f"{name}_shape", ref(name).attr("shape")), read(f"{name}_is_meta", ref(name).attr("is_meta"))]


# --- probes --------------------------------------------------------------------------------------


@probe("SoftmaxRegression")
def softmax_init(rng):
    return {"steps": [step("net", "SoftmaxRegression"),
                      read("weight", ref("net").attr("linear").attr("weight")),
                      read("bias", ref("net").attr("linear").attr("bias"))]}


@probe("SoftmaxRegression")
def softmax_forward(rng):
    weights = {"linear.weight": 0.1 * rng.standard_normal((C, D)), "linear.bias": rng.standard_normal(C)}
    X = rng.random((N, D))
    return {"steps": [
        step("net", "SoftmaxRegression"),
        step("to64", ref("net").attr("to"), tensor(np.zeros(1), "float64")),
        step("load", ref("net").attr("load_state_dict"), {k: tensor(v, "float64") for k, v in weights.items()}),
        step("rows", ref("net"), tensor(X, "float64")),
        step("images", ref("net"), tensor(X.reshape(N, 1, 28, 28), "float64")),
        step("one", ref("net"), tensor(X[:1], "float64")),
    ]}


@probe("SoftmaxRegression")
def softmax_meta(rng):
    return {"steps": [step("net", "SoftmaxRegression"), step("to_meta", ref("net").attr("to"), "meta"),
                      read("x", tensor(rng.random((N, D)), "float32")),
                      *_meta("fwd", ref("net"), [ref("x")])]}


def _loss_steps(logits: np.ndarray, y: np.ndarray, dtype: str = "float64") -> list:
    return [step("loss", "mnist_loss", tensor(logits, dtype, requires_grad=True), tensor(y, "int64")),
            step("backward", ref("loss").attr("backward")),
            read("grad", ref("loss").arg(0).attr("grad"))]


@probe("mnist_loss")
def loss_random(rng):
    """Logits of a few units' size; the last class is absent from the labels."""
    return {"steps": _loss_steps(3 * rng.standard_normal((8, C)), rng.integers(0, C - 1, 8))}


@probe("mnist_loss")
def loss_far_apart(rng):
    """Each row's logits spread over hundreds, the label's far below the largest in some rows."""
    logits = rng.uniform(-400, 400, (5, C)) + rng.uniform(-1000, 1000, (5, 1))
    return {"steps": _loss_steps(logits, rng.integers(0, C, 5))}


@probe("mnist_loss")
def loss_float32_and_meta(rng):
    logits, y = rng.standard_normal((N, C)), rng.integers(0, C, N)
    return {"steps": [step("loss32", "mnist_loss", tensor(logits, "float32"), tensor(y, "int64")),
                      read("logits", tensor(logits, "float32")), read("y", tensor(y, "int64")),
                      *_meta("loss_meta", "mnist_loss", [ref("logits"), ref("y")]),
                      step("loss_meta_dim", ref("loss_meta").attr("dim"))]}


# --- helpers -------------------------------------------------------------------------------------


def _reference_logits(run, name: str) -> np.ndarray:
    model = SoftmaxRegression()
    model.load_state_dict({k: torch.from_numpy(v.array) for k, v in run.step("load").args[0].items()})
    with torch.no_grad():
        return model(torch.from_numpy(run.step(name).args[0].array)).numpy()


def _check_forward(result, tolerance) -> None:
    run = result("softmax_forward")
    check_close("SoftmaxRegression: logits of 6 rows (float64, the grader's weights)", run.step("rows").returned(0),
                _reference_logits(run, "rows"), tolerance("value"))
    check_unmodified("SoftmaxRegression.forward: x", run.step("rows"), 0)


def _reference_loss(run, name: str = "loss") -> tuple[np.ndarray, np.ndarray]:
    logits = torch.from_numpy(run.step(name).args[0].array).requires_grad_(True)
    loss = mnist_loss(logits, torch.from_numpy(run.step(name).args[1].array))
    loss.backward()
    return loss.detach().numpy(), logits.grad.numpy()


def _check_meta(run, name: str, what: str, shape: tuple[int, ...]) -> None:
    check_true(bool(run.step(f"{name}_is_meta").returned(0)),
               f"{what} on the meta device returned a tensor on another device: no tensor may be moved to a fixed device.")
    check_shape(f"{what} on the meta device: the shape of the result", run.step(f"{name}_shape").returned(0), (len(shape),))
    check_true(tuple(int(s) for s in run.step(f"{name}_shape").returned(0)) == shape,
               f"{what} on the meta device: the result has shape {tuple(run.step(f'{name}_shape').returned(0))}, expected {shape}.")


# --- SoftmaxRegression ---------------------------------------------------------------------------


@points(1, cell="check_softmax_regression")
def test_softmax_regression_starts_at_zero(result):
    """SoftmaxRegression(): linear.weight (10, 784) and linear.bias (10,), zeros, in float32 (torch's default)."""
    run = result("softmax_init")
    weight, bias = run.step("weight").returned(0), run.step("bias").returned(0)
    check_shape("SoftmaxRegression: linear.weight (nn.Linear's (out, in))", weight, (C, D))
    check_shape("SoftmaxRegression: linear.bias", bias, (C,))
    check_true(weight.dtype == np.float32 and bias.dtype == np.float32,
               f"SoftmaxRegression: the parameters are {weight.dtype}; build the module in float32, torch's default.")
    check_true(bool(np.all(weight == 0) and np.all(bias == 0)), "SoftmaxRegression: the weight and bias must start at zero.")


@points(2, cell="check_softmax_regression")
def test_softmax_regression_logits(result, tolerance):
    """SoftmaxRegression.forward: the logits of rows (N, 784), in float64 with the grader's weights, against the
    reference; x left as it was."""
    _check_forward(result, tolerance)


@points(1, cell="check_softmax_regression")
def test_softmax_regression_images_and_one_row(result, tolerance):
    """SoftmaxRegression.forward: images (N, 1, 28, 28) and a single row give the reference's logits."""
    run = result("softmax_forward")
    check_close("SoftmaxRegression: logits of 6 images (N, 1, 28, 28)", run.step("images").returned(0),
                _reference_logits(run, "images"), tolerance("value"))
    check_close("SoftmaxRegression: logits of one row", run.step("one").returned(0), _reference_logits(run, "one"),
                tolerance("value"))


@points(1, cell="check_softmax_regression")
def test_softmax_regression_runs_on_the_meta_device(result, tolerance):
    """SoftmaxRegression.forward runs on the meta device (no tensor created on a fixed device), and its logits
    are right."""
    try:
        run = result("softmax_meta")
    except AssertionError as exc:
        raise type(exc)(f"SoftmaxRegression on the meta device: {exc}") from None
    _check_meta(run, "fwd", "SoftmaxRegression.forward", (N, C))
    _check_forward(result, tolerance)


# --- mnist_loss ----------------------------------------------------------------------------------


@points(2, cell="check_mnist_loss")
def test_mnist_loss_value(result, tolerance):
    """mnist_loss: the mean cross-entropy of random float64 logits (one class absent from the labels), against
    the reference; the logits and labels left as they were."""
    run = result("loss_random")
    loss, _ = _reference_loss(run)
    check_close("mnist_loss: the loss", run.step("loss").returned(0), loss, tolerance("value"))
    check_unmodified("mnist_loss: logits", run.step("loss"), 0)
    check_unmodified("mnist_loss: y", run.step("loss"), 1)


@points(2, cell="check_mnist_loss")
def test_mnist_loss_gradient(result, tolerance):
    """mnist_loss: the gradient autograd gives for the logits (loss.backward()), against the reference's."""
    run = result("loss_random")
    _, grad = _reference_loss(run)
    check_close("mnist_loss: the gradient for the logits", run.step("grad").returned(0), grad, tolerance("gradient"))


@points(1, cell="check_mnist_loss")
def test_mnist_loss_logits_far_apart(result, tolerance):
    """mnist_loss: logits spread over hundreds in every row give the reference's finite loss and gradient."""
    run = result("loss_far_apart")
    loss, grad = _reference_loss(run)
    check_close("mnist_loss: the loss of logits hundreds apart (use log-softmax, not the log of a softmax)",
                run.step("loss").returned(0), loss, tolerance("value"))
    check_close("mnist_loss: the gradient for logits hundreds apart", run.step("grad").returned(0), grad,
                tolerance("gradient"))


@points(1, cell="check_mnist_loss")
def test_mnist_loss_float32_and_meta(result, tolerance):
    """mnist_loss: float32 logits give a float32 loss (the reference's value), and the loss runs on the meta
    device, a 0-d tensor."""
    run = result("loss_float32_and_meta")
    got = run.step("loss32").returned(0)
    logits, y = (torch.from_numpy(a.array) for a in run.step("loss32").args)
    check_true(got.dtype == np.float32, f"mnist_loss: float32 logits gave a {got.dtype} loss; keep the logits' dtype.")
    check_close("mnist_loss: the loss of float32 logits", got, mnist_loss(logits.double(), y).item(), tolerance("float32"))
    _check_meta(run, "loss_meta", "mnist_loss", ())
    check_true(int(run.step("loss_meta_dim").returned(0)) == 0, "mnist_loss must return a 0-d tensor.")


# --- trained -------------------------------------------------------------------------------------


@points(3, cell="softmax_accuracy")
def test_softmax_regression_test_accuracy(exported, heldout, threshold, measured, note):
    """SoftmaxRegression trained: accuracy of the exported predictions on the held-out MNIST test labels."""
    y_test = heldout("mnist", "y_test")
    pred = exported("softmax_test_predictions")
    check_shape("the exported 'softmax_test_predictions'", pred, y_test.shape)
    acc = float(np.mean(pred == y_test))
    measured("softmax_test_acc", acc)
    required = threshold("softmax_test_acc")
    check_true(acc >= required, f"softmax regression: test accuracy {acc:.3f} is below the required {required:.2f}.")
    note(f"test accuracy {acc:.4f} (required {required:.2f}; the book: 0.918)")

"""Hidden graders of a09's CNN: MnistCNN, its numpy forward pass numpy_cnn_forward, the trained network,
and the notes a GPU run adds.

Why these checks: the book's network is built once at its full size to read every parameter's shape
and the statistics of its initial values (truncated normal, std 0.1, cut at 0.2; biases 0.1). Values
are checked on small copies (the constructor takes the map and hidden sizes), converted to float64 on
the job's device (``model.to(tensor)``) and given the grader's weights with ``load_state_dict``
(names conv1, conv2, fc1, fc2, nothing else): logits in evaluation mode against the reference (the
(C, H, W) flatten order, 'same' padding, nn.Linear's (out, in)), for rows, images, one row and
float32 rows; two calls alike (dropout off in evaluation mode); every parameter's gradient when the
grader's output gradient is backpropagated through the student's forward pass, against autograd. In
training mode, dropout is checked on weights that keep every unit of fc1 active and make fc2 the
identity plus a bias: each logit must be the bias (unit dropped) or the bias plus the unit scaled by
1 / keep_prob, with about keep_prob of the units kept (keep_prob = 0.8, so a drop probability passed
as keep_prob is seen; the bias tells dropout on fc1 from dropout on the logits). The forward pass runs
once on the meta device (a tensor made on a fixed device fails there). numpy_cnn_forward is compared
with the reference's numpy forward on random weights of two small networks. The trained network's
test predictions are scored on held-out labels. On a GPU, zero-point notes: the CUDA results against
the CPU reference in float64 and in float32 (TF32 off), and the time of a training step.
"""

from __future__ import annotations

import numpy as np
import torch

from pipelines.grade.api import (
    check_close,
    check_shape,
    check_true,
    check_unmodified,
    gpu_check,
    points,
    probe,
    read,
    ref,
    step,
    tensor,
)
from reference.numpy import mnist_cnn_forward
from reference.torch.mnist_models import MnistCNN

LAYERS = ("conv1", "conv2", "fc1", "fc2")
BOOK = {"conv1.weight": (32, 1, 5, 5), "conv1.bias": (32,), "conv2.weight": (64, 32, 5, 5), "conv2.bias": (64,),
        "fc1.weight": (1024, 3136), "fc1.bias": (1024,), "fc2.weight": (10, 1024), "fc2.bias": (10,)}
SMALL = ([3, 4], 12)  # channels, hidden of the value probes
N = 5
DROPOUT_ROWS, KEEP = 300, 0.8


def _shapes(channels, hidden) -> dict[str, tuple[int, ...]]:
    c1, c2 = channels
    return {"conv1.weight": (c1, 1, 5, 5), "conv1.bias": (c1,), "conv2.weight": (c2, c1, 5, 5), "conv2.bias": (c2,),
            "fc1.weight": (hidden, 49 * c2), "fc1.bias": (hidden,), "fc2.weight": (10, hidden), "fc2.bias": (10,)}


def _weights(rng: np.random.Generator, channels, hidden) -> dict[str, np.ndarray]:
    """Random weights scaled by 1/sqrt(fan-in), so every layer's activations stay of order one."""
    out = {}
    for name, shape in _shapes(channels, hidden).items():
        fan_in = int(np.prod(shape[1:])) if name.endswith("weight") else 1
        out[name] = rng.standard_normal(shape) / np.sqrt(fan_in) if name.endswith("weight") else 0.1 * rng.standard_normal(shape)
    return out


def _reference(channels, hidden, weights: dict[str, np.ndarray], keep_prob: float = 0.5) -> MnistCNN:
    model = MnistCNN(keep_prob=keep_prob, channels=tuple(channels), hidden=hidden, device="cpu")
    model.load_state_dict({k: torch.from_numpy(np.asarray(v, dtype=np.float64)) for k, v in weights.items()})
    return model.eval()


def _loaded(run) -> dict[str, np.ndarray]:
    return {k: v.array for k, v in run.step("load").args[0].items()}


def _net_steps(channels, hidden, weights, dtype: str = "float64", keep_prob: float = 0.5) -> list:
    return [step("net", "MnistCNN", keep_prob=keep_prob, channels=list(channels), hidden=hidden),
            step("to", ref("net").attr("to"), tensor(np.zeros(1), dtype)),
            step("load", ref("net").attr("load_state_dict"), {k: tensor(v, dtype) for k, v in weights.items()})]


# --- probes --------------------------------------------------------------------------------------


@probe("MnistCNN")
def cnn_book(rng):
    """The book's network as the constructor builds it: shapes, and statistics of the initial values."""
    steps = [step("net", "MnistCNN")]
    for name in BOOK:
        layer, kind = name.split(".")
        tensor_ref = ref("net").attr(layer).attr(kind)
        steps.append(read(f"{name}:shape", tensor_ref.attr("shape")))
        if kind == "bias":
            steps.append(read(f"{name}:values", tensor_ref))
        else:
            steps += [step(f"{name}:{stat}", tensor_ref.attr(stat)) for stat in ("mean", "std", "min", "max")]
    return {"steps": steps}


@probe("MnistCNN")
def cnn_forward(rng):
    channels, hidden = SMALL
    X = rng.random((N, 784))
    return {"steps": [
        *_net_steps(channels, hidden, _weights(rng, channels, hidden)),
        step("eval", ref("net").attr("eval")),
        step("rows", ref("net"), tensor(X, "float64")),
        step("again", ref("net"), tensor(X, "float64")),
        step("images", ref("net"), tensor(X.reshape(N, 1, 28, 28), "float64")),
        step("one", ref("net"), tensor(X[:1], "float64")),
        step("backward", ref("rows").attr("backward"), tensor(rng.standard_normal((N, 10)), "float64")),
        *(read(f"grad:{name}", ref("net").attr(name.split(".")[0]).attr(name.split(".")[1]).attr("grad"))
          for name in _shapes(channels, hidden)),
    ]}


@probe("MnistCNN")
def cnn_float32(rng):
    channels, hidden = [2, 5], 7
    return {"steps": [*_net_steps(channels, hidden, _weights(rng, channels, hidden), dtype="float32"),
                      step("eval", ref("net").attr("eval")),
                      step("rows", ref("net"), tensor(rng.random((N, 784)), "float32"))]}


@probe("MnistCNN")
def cnn_dropout(rng):
    """fc1's units all active (small weights, biases 1 to 2), fc2 the identity plus a bias in [0.5, 1.5]."""
    channels, hidden = [2, 3], 10
    weights = _weights(rng, channels, hidden)
    weights["fc1.weight"] *= 0.05
    weights["fc1.bias"] = rng.uniform(1.0, 2.0, hidden)
    weights["fc2.weight"] = np.eye(10)
    weights["fc2.bias"] = rng.uniform(0.5, 1.5, 10)
    return {"steps": [*_net_steps(channels, hidden, weights, keep_prob=KEEP),
                      step("train", ref("net").attr("train")),
                      step("dropped", ref("net"), tensor(rng.random((DROPOUT_ROWS, 784)), "float64"))]}


@probe("MnistCNN")
def cnn_meta(rng):
    channels, hidden = SMALL
    return {"steps": [step("net", "MnistCNN", channels=list(channels), hidden=hidden),
                      step("to_meta", ref("net").attr("to"), "meta"),
                      read("x", tensor(rng.random((N, 784)), "float32")),
                      step("x_meta", ref("x").attr("to"), "meta"),
                      step("eval", ref("net").attr("eval")),
                      step("fwd", ref("net"), ref("x_meta")),
                      read("shape", ref("fwd").attr("shape")),
                      read("is_meta", ref("fwd").attr("is_meta")),
                      step("train", ref("net").attr("train")),
                      step("fwd_train", ref("net"), ref("x_meta")),
                      read("shape_train", ref("fwd_train").attr("shape"))]}


@probe("numpy_cnn_forward")
def numpy_rows(rng):
    channels, hidden = SMALL
    return {"steps": [step("fwd", "numpy_cnn_forward", _weights(rng, channels, hidden), rng.random((N, 784))),
                      read("weights", ref("fwd").arg(0))]}


@probe("numpy_cnn_forward")
def numpy_images(rng):
    channels, hidden = [5, 2], 9
    return {"steps": [step("fwd", "numpy_cnn_forward", _weights(rng, channels, hidden), rng.random((2, 1, 28, 28))),
                      read("weights", ref("fwd").arg(0))]}


# --- helpers -------------------------------------------------------------------------------------


def _logits(run, name: str) -> np.ndarray:
    """The reference's logits (float64, evaluation mode) for the input of step ``name``."""
    channels, hidden = run.step("net").kwargs["channels"], run.step("net").kwargs["hidden"]
    with torch.no_grad():
        x = torch.from_numpy(np.asarray(run.step(name).args[0].array, dtype=np.float64))
        return _reference(channels, hidden, _loaded(run))(x).numpy()


def _scaled_error(got: np.ndarray, expected: np.ndarray) -> float:
    """The largest error relative to the largest entry: entrywise relative errors of entries near 0 (a logit
    or a gradient entry that happens to be tiny) only measure rounding."""
    return float(np.max(np.abs(np.asarray(got, dtype=np.float64) - expected))) / max(1e-12, float(np.max(np.abs(expected))))


def _check_scaled(what: str, got: np.ndarray, expected: np.ndarray, tol: float) -> None:
    check_shape(what, got, expected.shape)
    check_true(bool(np.all(np.isfinite(got))), f"{what}: contains NaN or infinity.")
    error = _scaled_error(got, expected)
    check_true(error <= tol, f"{what}: largest error {error:.2e} relative to the largest entry, above the tolerance {tol:.0e}.")


def _check_rows(result, tolerance) -> None:
    run = result("cnn_forward")
    check_close("MnistCNN: logits of 5 rows in evaluation mode (float64, the grader's weights)",
                run.step("rows").returned(0), _logits(run, "rows"), tolerance("value"))
    check_unmodified("MnistCNN.forward: x", run.step("rows"), 0)


# --- MnistCNN ------------------------------------------------------------------------------------


@points(2, cell="check_cnn")
def test_cnn_parameters_have_the_books_shapes(result):
    """MnistCNN(): conv1, conv2, fc1, fc2 with the book's shapes (nn.Linear weights (out, in): fc1 (1024, 3136))."""
    run = result("cnn_book")
    for name, shape in BOOK.items():
        got = tuple(int(s) for s in run.step(f"{name}:shape").returned(0))
        check_true(got == shape, f"MnistCNN(): {name} has shape {got}, expected {shape}.")


@points(2, cell="check_cnn")
def test_cnn_initialisation(result, tolerance):
    """MnistCNN(): weights from a normal of standard deviation 0.1 truncated at 0.2, biases 0.1 (the book's)."""
    run = result("cnn_book")
    spread = tolerance("init_std")
    for name in BOOK:
        if name.endswith("bias"):
            values = run.step(f"{name}:values").returned(0)
            check_true(values.shape == BOOK[name] and bool(np.all(np.abs(values - 0.1) < 1e-7)),
                       f"MnistCNN(): {name} must start at 0.1 everywhere.")
            continue
        count = int(np.prod(BOOK[name]))
        mean, std, low, high = (float(run.step(f"{name}:{stat}").returned(0)) for stat in ("mean", "std", "min", "max"))
        # float32's nearest value to 0.2 is 0.2 + 3e-9, where trunc_normal_ clamps a draw that rounds beyond it
        check_true(-0.2 - 1e-8 <= low and high <= 0.2 + 1e-8,
                   f"MnistCNN(): {name} has values in [{low:.3f}, {high:.3f}]; the book's normal is truncated at +-0.2.")
        # standard errors of the mean and standard deviation of `count` draws; `spread` of them allowed
        check_true(abs(std - 0.08796) <= spread * 0.08796 / np.sqrt(2 * count) + 1e-4 and abs(mean) <= spread * 0.088 / np.sqrt(count),
                   f"MnistCNN(): {name} has mean {mean:.4f} and standard deviation {std:.4f}; a normal of standard "
                   f"deviation 0.1 truncated at 0.2 has mean 0 and standard deviation 0.088.")
    check_true(float(run.step("fc1.weight:max").returned(0)) > 0.199,
               "MnistCNN(): fc1.weight never comes near 0.2: draw from a normal of standard deviation 0.1 truncated at 0.2.")


@points(3, cell="check_cnn")
def test_cnn_logits(result, tolerance):
    """MnistCNN.forward: logits of rows in evaluation mode (a small copy in float64 with the grader's weights),
    against the reference; x left as it was."""
    _check_rows(result, tolerance)


@points(1, cell="check_cnn")
def test_cnn_images_one_row_and_float32(result, tolerance):
    """MnistCNN.forward: images (N, 1, 28, 28), a single row, and float32 rows (float32 logits) give the
    reference's logits."""
    run = result("cnn_forward")
    check_close("MnistCNN: logits of 5 images (N, 1, 28, 28)", run.step("images").returned(0), _logits(run, "images"),
                tolerance("value"))
    check_close("MnistCNN: logits of one row", run.step("one").returned(0), _logits(run, "one"), tolerance("value"))
    run32 = result("cnn_float32")
    got = run32.step("rows").returned(0)
    check_true(got.dtype == np.float32, f"MnistCNN: a float32 network on float32 rows gave {got.dtype} logits.")
    _check_scaled("MnistCNN: logits of float32 rows", got, _logits(run32, "rows"), tolerance("float32"))


@points(1, cell="check_cnn")
def test_cnn_evaluation_mode_is_deterministic(result, tolerance):
    """MnistCNN in evaluation mode: two calls on the same rows give the same (right) logits: dropout is off."""
    run = result("cnn_forward")
    check_true(bool(np.array_equal(run.step("again").returned(0), run.step("rows").returned(0))),
               "MnistCNN: in evaluation mode two calls on the same rows gave different logits: dropout must be off "
               "after model.eval() (nn.Dropout, or F.dropout(..., training=self.training)).")
    _check_rows(result, tolerance)


@points(2, cell="check_cnn")
def test_cnn_gradients(result, tolerance):
    """MnistCNN: the gradient of every parameter when a random output gradient is backpropagated through your
    forward pass, against the reference's autograd."""
    run = result("cnn_forward")
    channels, hidden = run.step("net").kwargs["channels"], run.step("net").kwargs["hidden"]
    model = _reference(channels, hidden, _loaded(run))
    model(torch.from_numpy(run.step("rows").args[0].array)).backward(torch.from_numpy(run.step("backward").args[0].array))
    for name, param in model.named_parameters():
        _check_scaled(f"MnistCNN: the gradient of {name}", run.step(f"grad:{name}").returned(0), param.grad.numpy(),
                      tolerance("gradient"))


@points(2, cell="check_cnn")
def test_cnn_dropout_keeps_units_with_keep_prob(result, tolerance, threshold):
    """MnistCNN in training mode (keep_prob = 0.8): each unit of fc1 is dropped or kept and scaled by 1 / keep_prob,
    and about keep_prob of the units are kept."""
    run = result("cnn_dropout")
    weights = _loaded(run)
    got = run.step("dropped").returned(0)
    check_shape("MnistCNN: logits in training mode", got, (DROPOUT_ROWS, 10))
    with torch.no_grad():  # fc1's units: the logits of the same network in evaluation mode, less fc2's bias
        units = _reference([2, 3], 10, weights)(torch.from_numpy(run.step("dropped").args[0].array)).numpy() - weights["fc2.bias"]
    bias = weights["fc2.bias"]
    scale = float(np.max(np.abs(units)))
    dropped = np.abs(got - bias) <= 1e-9 * scale
    kept = np.abs(got - bias - units / KEEP) <= 1e-9 * scale
    check_true(bool(np.all(dropped | kept)),
               f"MnistCNN: in training mode {int(np.sum(~(dropped | kept)))} of {got.size} units of fc1 are neither "
               "dropped (0) nor kept and scaled by 1 / keep_prob (dropout acts on fc1's units only, p = 1 - keep_prob).")
    share = float(np.mean(kept))
    margin = threshold("dropout_share_margin")
    check_true(abs(share - KEEP) <= margin,
               f"MnistCNN(keep_prob={KEEP}): {share:.3f} of the units were kept in training mode, not within {margin} of "
               f"{KEEP}: keep_prob is the probability of KEEPING a unit (nn.Dropout(p) takes p = 1 - keep_prob).")


@points(1, cell="check_cnn")
def test_cnn_runs_on_the_meta_device(result, tolerance):
    """MnistCNN.forward runs on the meta device, in evaluation and training mode (no tensor created on a fixed
    device), and its logits are right."""
    try:
        run = result("cnn_meta")
    except AssertionError as exc:
        raise type(exc)(f"MnistCNN on the meta device: {exc}") from None
    check_true(bool(run.step("is_meta").returned(0)),
               "MnistCNN.forward on the meta device returned a tensor on another device: move nothing to a fixed device.")
    for name in ("shape", "shape_train"):
        got = tuple(int(s) for s in run.step(name).returned(0))
        check_true(got == (N, 10), f"MnistCNN.forward on the meta device: logits of shape {got}, expected {(N, 10)}.")
    _check_rows(result, tolerance)


# --- numpy_cnn_forward ---------------------------------------------------------------------------


def _check_numpy(result, tolerance, probe_name: str, what: str) -> None:
    run = result(probe_name)
    weights, X = run.step("fwd").args
    check_close(f"numpy_cnn_forward: logits of {what}", run.step("fwd").returned(0), mnist_cnn_forward(weights, X),
                tolerance("value"))
    check_unmodified("numpy_cnn_forward: X", run.step("fwd"), 1)
    after = run.step("weights").entries(0)
    check_true(set(after) == set(weights) and all(np.array_equal(after[k], v) for k, v in weights.items()),
               "numpy_cnn_forward modified the weights it was given (work on copies; a transpose is a view).")


@points(4, cell="check_numpy_forward")
def test_numpy_forward_rows(result, tolerance):
    """numpy_cnn_forward: logits of rows (N, 784) for random weights of a small network, against the reference's
    numpy forward pass; the inputs left as they were."""
    _check_numpy(result, tolerance, "numpy_rows", "5 rows (channels (3, 4), hidden 12)")


@points(2, cell="check_numpy_forward")
def test_numpy_forward_images_other_sizes(result, tolerance):
    """numpy_cnn_forward: logits of images (N, 1, 28, 28) for a network of other sizes, against the reference's."""
    _check_numpy(result, tolerance, "numpy_images", "2 images (channels (5, 2), hidden 9)")


# --- trained -------------------------------------------------------------------------------------


@points(4, cell="cnn_accuracy")
def test_cnn_test_accuracy(exported, heldout, threshold, measured, note):
    """MnistCNN trained: accuracy of the exported predictions on the first test images, against held-out labels."""
    y_test = heldout("mnist", "y_test")
    pred = exported("cnn_test_predictions")
    count = min(int(threshold("cnn_test_images")), y_test.shape[0])
    check_shape("the exported 'cnn_test_predictions'", pred, (count,))
    acc = float(np.mean(pred == y_test[:count]))
    measured("cnn_test_acc", acc)
    required = threshold("cnn_test_acc")
    check_true(acc >= required, f"the CNN: test accuracy {acc:.3f} on {count} images is below the required {required:.2f}.")
    note(f"test accuracy {acc:.4f} on {count} images (required {required:.2f}; the book: 0.9922 after 10,000 steps)")


# --- on a GPU (zero-point notes) -----------------------------------------------------------------


@gpu_check(cell="check_cnn")
def test_cnn_on_the_gpu_agrees_with_the_cpu(result, tolerance, device, note):
    """MnistCNN on the GPU against the CPU reference: float64 logits and gradients, and float32 logits (TF32 off)."""
    run = result("cnn_forward")
    error64 = max(_scaled_error(run.step(name).returned(0), _logits(run, name)) for name in ("rows", "images", "one"))
    run32 = result("cnn_float32")
    error32 = _scaled_error(run32.step("rows").returned(0), _logits(run32, "rows"))
    check_true(error32 <= tolerance("float32"),
               f"MnistCNN on {device}: float32 logits differ from the CPU's float64 by {error32:.1e} relative to the "
               f"largest, above {tolerance('float32'):.0e} (TF32 left on?).")
    note(f"on {device}: float64 logits within {error64:.1e} of the CPU reference, float32 within {error32:.1e} "
         "(relative to the largest logit)")


@gpu_check(cell="cnn_accuracy")
def test_cnn_training_step_time_on_the_gpu(exported, threshold, device, note):
    """The CNN's training step on the GPU: its mean time (a note, worth no points)."""
    seconds = float(exported("cnn_seconds_per_step"))
    most = threshold("gpu_seconds_per_step")
    check_true(seconds <= most, f"a training step of the CNN took {seconds * 1000:.1f} ms on {device}; up to "
                                f"{most * 1000:.0f} ms was expected (batches moved to the GPU? the model too?)")
    note(f"a training step of the CNN took {seconds * 1000:.2f} ms on {device}")

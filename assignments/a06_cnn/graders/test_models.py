"""Hidden graders of a06's networks: ``ThreeLayerConvNet`` (CIFAR-10) and ``LeNet`` (MNIST, also the
network3 experiment).

Why these checks: each model is built by the student's class, given parameters of the grader's (drawn
large enough that no ReLU input or pooling window sits within 1e-3 of a kink where a numeric gradient
is taken) and asked for its scores, loss and every gradient in float64, on non-square images, with and
without L2 regularization; values are compared with ``reference.numpy`` and gradients with torch
autograd, and one gradient with the student's own centered differences. The initialisation is
checked by its statistics (shapes, dtype, zero biases, the weights' scale or Glorot bounds), and the
float32 default by the dtype of what a float32 model returns.

One bug costs its points once. A model runs on the student's layers, so each model chain also runs
those layers on the same inputs, composed with the given layers as the reference model composes them
(``conv_relu_pool`` for ThreeLayerConvNet; the fast convolution and pooling for LeNet, whose bias
after pooling equals a bias inside the convolution). Every quantity the given layers hand from one of
the student's layers to the next is recomputed here and must agree, so the composition is the
reference model on the student's own layers; a model that matches it (and not the reference) is
correct, and its layers lost their points where they are graded. The overfitting check trains the
student's model with the given ``Trainer`` and Adam (restored from the source, the grader's code) on
random images of the grader's, independent of the notebook's own run; it is not held against a model
whose sandwich layer is wrong. Trained accuracies are scored on held-out test labels per profile.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from gradcheck import rel_error
from pipelines.grade.api import (
    StudentCheckFailed,
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
from reference.numpy import (
    LeNet,
    ThreeLayerConvNet,
    affine_relu_backward,
    affine_relu_forward,
    conv_forward_fast,
    dropout_mask,
    max_pool_forward_fast,
    softmax_loss,
)
from reference.torch import lenet, three_layer_convnet
from reference.torch.autograd import to_tensor, value_and_grads

GAP = 1e-3  # least distance of a ReLU input or a pooling window's runner-up from the kink
NUMERIC_CHECKS = 10
POOL = {"pool_height": 2, "pool_width": 2, "stride": 2}
CONVNET = {"input_dim": [3, 8, 10], "num_filters": 4, "filter_size": 5, "hidden_dim": 12, "num_classes": 7}
CONVNET_REG = 0.7
OVERFIT = {"input_dim": [3, 12, 12], "num_filters": 8, "filter_size": 3, "hidden_dim": 50, "num_classes": 10}
OVERFIT_N, OVERFIT_BATCH, OVERFIT_EPOCHS, OVERFIT_LR, OVERFIT_SCALE = 50, 25, 25, 5e-3, 5e-2
OVERFIT_TIMEOUT = 60  # 50 iterations take 0.2 s of CPU time (the reference); a loaded machine stretches the wall clock
LENET = {"input_dim": [1, 14, 15], "nkerns": [2, 3], "filter_size": 3, "hidden_dim": 6, "num_classes": 4}
LENET_SEED = 7


def _window_gaps(a: np.ndarray, relu: bool = False) -> float:
    """Least gap between the largest and the second largest entry of the 2 x 2 / 2 pooling windows of ``a``;
    with ``relu``, of ``max(a, 0)`` and only over windows whose maximum is positive (an all-zero window's
    gradient is zero whatever the tie rule)."""
    n, c, h, w = a.shape
    win = a[:, :, : h // 2 * 2, : w // 2 * 2].reshape(n, c, h // 2, 2, w // 2, 2).transpose(0, 1, 2, 4, 3, 5)
    top2 = np.sort(win.reshape(n, c, h // 2, w // 2, 4), axis=-1)[..., -2:]
    if relu:
        positive = top2[..., 1] > 0
        return float(np.min(top2[..., 1][positive] - np.maximum(top2[..., 0][positive], 0), initial=np.inf))
    return float(np.min(top2[..., 1] - top2[..., 0]))


# --- ThreeLayerConvNet ---------------------------------------------------------------------------


def _convnet_inputs(rng: np.random.Generator, n: int = 2) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    """X, y and parameters whose conv outputs, pooling windows and hidden inputs are all at least GAP
    from a kink (redrawn until they are)."""
    c, h, w = CONVNET["input_dim"]
    f, k, hidden, classes = CONVNET["num_filters"], CONVNET["filter_size"], CONVNET["hidden_dim"], CONVNET["num_classes"]
    while True:
        X = rng.standard_normal((n, c, h, w))
        params = {"W1": 0.3 * rng.standard_normal((f, c, k, k)), "b1": 0.1 * rng.standard_normal(f),
                  "W2": 0.3 * rng.standard_normal((f * (h // 2) * (w // 2), hidden)), "b2": 0.1 * rng.standard_normal(hidden),
                  "W3": 0.3 * rng.standard_normal((hidden, classes)), "b3": 0.1 * rng.standard_normal(classes)}
        a = conv_forward_fast(X, params["W1"], params["b1"], {"stride": 1, "pad": (k - 1) // 2})[0]
        pooled = max_pool_forward_fast(np.maximum(a, 0), POOL)[0]
        hidden_in = pooled.reshape(n, -1) @ params["W2"] + params["b2"]
        if min(np.abs(a).min(), _window_gaps(a, relu=True), np.abs(hidden_in).min()) >= GAP:
            return X, rng.integers(classes, size=n), params


@probe("ThreeLayerConvNet")
def convnet_init(rng):
    return {"steps": [step("default", "ThreeLayerConvNet"),
                      read("default_params", ref("default").attr("params")),
                      step("small", "ThreeLayerConvNet", **CONVNET, weight_scale=2e-2, dtype=dtype("float64")),
                      read("small_params", ref("small").attr("params"))]}


@probe("ThreeLayerConvNet")
def convnet_loss(rng):
    """The student's conv_relu_pool composed with the given layers, then the model without and with reg."""
    X, y, params = _convnet_inputs(rng)
    k = CONVNET["filter_size"]
    conv_param = {"stride": 1, "pad": (k - 1) // 2}
    return {
        "steps": [
            step("c1", "conv_relu_pool_forward", X, params["W1"], params["b1"], conv_param, dict(POOL)),
            step("a2", "affine_relu_forward", ref("c1").out(0), params["W2"], params["b2"]),
            step("s3", "affine_forward", ref("a2").out(0), params["W3"], params["b3"]),
            step("sm", "softmax_loss", ref("s3").out(0), y),
            step("g3", "affine_backward", ref("sm").out(1), ref("s3").out(1)),
            step("g2", "affine_relu_backward", ref("g3").out(0), ref("a2").out(1)),
            step("g1", "conv_relu_pool_backward", ref("g2").out(0), ref("c1").out(1)),
            step("net", "ThreeLayerConvNet", **CONVNET, weight_scale=1e-2, dtype=dtype("float64")),
            assign("set", ref("net").attr("params"), params),
            step("scores", ref("net").attr("loss"), X),
            step("lg", ref("net").attr("loss"), X, y),
            step("net_reg", "ThreeLayerConvNet", **CONVNET, weight_scale=1e-2, reg=CONVNET_REG, dtype=dtype("float64")),
            assign("set_reg", ref("net_reg").attr("params"), params),
            step("lg_reg", ref("net_reg").attr("loss"), X, y),
        ],
        "numeric_grad": numgrad(of=("lg", 0), wrt=("set", 1, "W1"), k=NUMERIC_CHECKS),
    }


@probe("ThreeLayerConvNet")
def convnet_float32(rng):
    """A float32 model on float64 images; positive images and parameters, so that no score is a sum that
    cancels to near 0 (float32 rounding then stays ~1e-7 relative)."""
    X, _, params = _convnet_inputs(rng)
    params32 = {k: np.abs(v).astype(np.float32) for k, v in params.items()}
    k = CONVNET["filter_size"]
    return {"steps": [step("net", "ThreeLayerConvNet", **CONVNET),
                      assign("set", ref("net").attr("params"), params32),
                      step("scores", ref("net").attr("loss"), np.abs(X)),
                      # the student's sandwich on the same float32 input: the composition candidate
                      step("c1", "conv_relu_pool_forward", np.abs(X).astype(np.float32), params32["W1"], params32["b1"],
                           {"stride": 1, "pad": (k - 1) // 2}, dict(POOL))]}


@probe("ThreeLayerConvNet", timeout=OVERFIT_TIMEOUT)
def convnet_overfit(rng):
    """The student's model, the grader's starting parameters and 50 random images with random labels,
    trained by the given Trainer with Adam; the scores on those images afterwards."""
    c, h, w = OVERFIT["input_dim"]
    f, k, hidden, classes = OVERFIT["num_filters"], OVERFIT["filter_size"], OVERFIT["hidden_dim"], OVERFIT["num_classes"]
    X, y = rng.standard_normal((OVERFIT_N, c, h, w)), rng.integers(classes, size=OVERFIT_N)
    s = OVERFIT_SCALE
    params = {"W1": s * rng.standard_normal((f, c, k, k)), "b1": np.zeros(f),
              "W2": s * rng.standard_normal((f * (h // 2) * (w // 2), hidden)), "b2": np.zeros(hidden),
              "W3": s * rng.standard_normal((hidden, classes)), "b3": np.zeros(classes)}
    data = {"X_train": X, "y_train": y, "X_val": X, "y_val": y}
    return {"steps": [
        step("net", "ThreeLayerConvNet", **OVERFIT, weight_scale=OVERFIT_SCALE, dtype=dtype("float64")),
        assign("set", ref("net").attr("params"), params),
        step("trainer", "Trainer", ref("net"), data, update_rule="adam", updater_config={"learning_rate": OVERFIT_LR},
             batch_size=OVERFIT_BATCH, num_epochs=OVERFIT_EPOCHS, verbose=False, seed=0),
        step("train", ref("trainer").attr("train")),
        read("history", ref("trainer").attr("loss_history")),
        step("scores", ref("net").attr("loss"), X),
    ]}


def _convnet_reference(run) -> dict[str, Any]:
    """Scores, losses and gradients (reg 0 and CONVNET_REG) of the reference model on the probe's inputs."""
    params, X, y = run.step("set").args[1], run.step("lg").args[0], run.step("lg").args[1]
    model = ThreeLayerConvNet(**{**CONVNET, "input_dim": tuple(CONVNET["input_dim"])}, dtype=np.float64)
    model.params = {k: v.copy() for k, v in params.items()}
    out: dict[str, Any] = {"scores": model.loss(X)}
    names = sorted(params)
    for key, reg in (("lg", 0.0), ("lg_reg", CONVNET_REG)):
        model.reg = reg
        out[f"{key}/loss"] = model.loss(X, y)[0]
        _, grads = value_and_grads(lambda *ps, reg=reg: three_layer_convnet(dict(zip(names, ps)), to_tensor(X),
                                                                            to_tensor(y), reg),
                                   [params[n] for n in names], wrt=list(range(len(names))))
        out.update({f"{key}/{n}": g for n, g in zip(names, grads, strict=True)})
    return out


def _convnet_composed(run) -> dict[str, Any] | None:
    """The same quantities through the student's conv_relu_pool layer (run in the chain), or None when the
    gradient the given layers handed to its backward pass is not the one the reference computes."""
    params, y = run.step("set").args[1], run.step("lg").args[1]
    h1 = run.step("c1").returned(0)
    a2, cache2 = affine_relu_forward(h1, params["W2"], params["b2"])
    scores = a2 @ params["W3"] + params["b3"]
    loss, dscores = softmax_loss(scores, y)
    dh1, dW2, db2 = affine_relu_backward(dscores @ params["W3"].T, cache2)
    if rel_error(run.step("g2").returned(0), dh1) > 1e-10:
        return None
    grads = {"W1": run.step("g1").returned(1), "b1": run.step("g1").returned(2), "W2": dW2, "b2": db2,
             "W3": a2.T @ dscores, "b3": dscores.sum(axis=0)}
    penalty = 0.5 * CONVNET_REG * sum(float(np.sum(params[n] ** 2)) for n in ("W1", "W2", "W3"))
    out: dict[str, Any] = {"scores": scores, "lg/loss": loss, "lg_reg/loss": loss + penalty}
    for name, g in grads.items():
        out[f"lg/{name}"] = g
        out[f"lg_reg/{name}"] = g + CONVNET_REG * params[name] if name.startswith("W") else g
    return out


def _got(run, key: str) -> np.ndarray:
    step_name, _, what = key.partition("/")
    if step_name == "scores":
        return run.step("scores").returned(0)
    if what == "loss":
        return run.step(step_name).returned(0)
    return run.step(step_name).entry(1, what)


def _describe(fn: str, key: str, reg: float) -> str:
    step_name, _, what = key.partition("/")
    if step_name == "scores":
        return f"{fn}.loss(X): the scores"
    regularized = f", reg {reg:g}" if step_name.endswith("reg") else ""
    return f"{fn}.loss(X, y){regularized}: " + ("the loss" if what == "loss" else f"grads['{what}']")


def _check_model(run, fn: str, keys: list[str], candidates: list[dict[str, Any] | None], tolerance, reg: float) -> bool:
    """Pass when every key agrees with one candidate (the reference first); else fail with the reference's
    message. Returns whether the reference itself agreed."""
    first_failure: StudentCheckFailed | None = None
    for i, expected in enumerate(candidates):
        if expected is None:
            continue
        try:
            for key in keys:
                tol = tolerance("value") if key == "scores" or key.endswith("/loss") else tolerance("gradient")
                check_close(_describe(fn, key, reg) + (" against the reference" if key == "scores" or key.endswith("/loss")
                                                       else " against autograd"), _got(run, key), expected[key], tol)
            return i == 0
        except StudentCheckFailed as failure:
            first_failure = first_failure or failure
    assert first_failure is not None
    raise first_failure


CONVNET_GRADS = [f"{step_name}/{n}" for step_name in ("lg", "lg_reg") for n in ("loss", "W1", "b1", "W2", "b2", "W3", "b3")]


def _convnet_candidates(run) -> list[dict[str, Any] | None]:
    return [_convnet_reference(run), _convnet_composed(run)]


def _check_init(entries: dict[str, np.ndarray], shapes: dict[str, tuple[int, ...]], dt: type, scale: float,
                spread: float, label: str) -> None:
    check_true(set(entries) == set(shapes),
               f"ThreeLayerConvNet{label}: params has the keys {sorted(entries)}, expected {sorted(shapes)}.")
    for name, shape in shapes.items():
        value = entries[name]
        check_shape(f"ThreeLayerConvNet{label}: params['{name}']", value, shape)
        check_true(value.dtype == dt, f"ThreeLayerConvNet{label}: params['{name}'] is {value.dtype}, expected "
                                      f"{np.dtype(dt).name}.")
        if name.startswith("b"):
            check_true(not np.any(value), f"ThreeLayerConvNet{label}: params['{name}'] should start at zero.")
        else:
            std = float(np.std(value.astype(np.float64)))
            check_true(abs(std / scale - 1) <= spread,
                       f"ThreeLayerConvNet{label}: params['{name}'] has standard deviation {std:.3g}; weights are "
                       f"weight_scale ({scale:g}) times standard normal draws.")


@points(2, cell="check_three_layer_convnet")
def test_convnet_init(result):
    """ThreeLayerConvNet: parameter shapes, dtype (float32 by default, float64 when asked), zero biases and weights
    of standard deviation weight_scale, for the default network and a small float64 one on 3 x 8 x 10 images."""
    run = result("convnet_init")
    _check_init(run.step("default_params").entries(0),
                {"W1": (32, 3, 7, 7), "b1": (32,), "W2": (8192, 100), "b2": (100,), "W3": (100, 10), "b3": (10,)},
                np.float32, 1e-3, 0.15, " (default arguments)")
    c, h, w = CONVNET["input_dim"]
    f, k, hidden, classes = CONVNET["num_filters"], CONVNET["filter_size"], CONVNET["hidden_dim"], CONVNET["num_classes"]
    _check_init(run.step("small_params").entries(0),
                {"W1": (f, c, k, k), "b1": (f,), "W2": (f * (h // 2) * (w // 2), hidden), "b2": (hidden,),
                 "W3": (hidden, classes), "b3": (classes,)}, np.float64, 2e-2, 0.5,
                " (input_dim (3, 8, 10), 4 filters of 5 x 5, 12 hidden units, 7 classes, dtype float64)")


@points(2, cell="check_three_layer_convnet")
def test_convnet_scores(result, tolerance):
    """ThreeLayerConvNet.loss(X): the scores of a float64 model on 3 x 8 x 10 images, with the grader's
    parameters."""
    run = result("convnet_loss")
    _check_model(run, "ThreeLayerConvNet", ["scores"], _convnet_candidates(run), tolerance, CONVNET_REG)


@points(5, cell="check_three_layer_convnet")
def test_convnet_loss_and_gradients(result, tolerance):
    """ThreeLayerConvNet.loss(X, y): the loss and every gradient, without and with reg = 0.7, against the reference
    and autograd."""
    run = result("convnet_loss")
    _check_model(run, "ThreeLayerConvNet", CONVNET_GRADS, _convnet_candidates(run), tolerance, CONVNET_REG)


@points(1, cell="check_three_layer_convnet")
def test_convnet_own_numeric_gradient(result, tolerance, note):
    """ThreeLayerConvNet.loss: grads['W1'] agrees with centered differences of your own loss."""
    run = result("convnet_loss")
    try:
        check_close("ThreeLayerConvNet.loss(X, y): grads['W1'] against your own numeric gradient (centered "
                    "differences of your loss)", run.step("lg").entry(1, "W1")[run.numeric_grad_index], run.numeric_grad,
                    tolerance("numeric_gradient"))
    except StudentCheckFailed:
        # A conv_relu_pool whose forward and backward passes disagree (charged in its own cell) makes the
        # model's loss and gradient disagree too: not held against a model that composes it correctly.
        try:
            layers_wrong = not _check_model(run, "ThreeLayerConvNet", ["scores", *CONVNET_GRADS],
                                            _convnet_candidates(run), tolerance, CONVNET_REG)
        except StudentCheckFailed:
            layers_wrong = False
        if not layers_wrong:
            raise
        note("grads['W1'] disagrees with the numeric gradient of your loss, as your conv_relu_pool layer's do: "
             "not held against the model")


@points(1, cell="check_three_layer_convnet")
def test_convnet_leaves_X(result, tolerance):
    """ThreeLayerConvNet.loss: X is left as it was given (counted with correct scores, loss and gradients)."""
    run = result("convnet_loss")
    _check_model(run, "ThreeLayerConvNet", ["scores", *CONVNET_GRADS], _convnet_candidates(run), tolerance, CONVNET_REG)
    check_unmodified("ThreeLayerConvNet.loss(X): X", run.step("scores"), 0)
    check_unmodified("ThreeLayerConvNet.loss(X, y): X", run.step("lg"), 0)


@points(1, cell="check_three_layer_convnet")
def test_convnet_float32(result, tolerance):
    """ThreeLayerConvNet: a model with the default dtype computes in float32 (the scores of float64 images are
    float32 and correct to float32's precision)."""
    run = result("convnet_float32")
    params = {k: v.astype(np.float64) for k, v in run.step("set").args[1].items()}
    model = ThreeLayerConvNet(**{**CONVNET, "input_dim": tuple(CONVNET["input_dim"])}, dtype=np.float64)
    model.params = params
    scores = run.step("scores").returned(0)
    # Against the reference, or else against the student's own conv_relu_pool composed with the given
    # layers (a sandwich or fast-layer bug is charged where those are graded).
    h1 = np.asarray(run.step("c1").returned(0), dtype=np.float64)
    composed = None
    if h1.ndim == 4 and h1.shape[0] == scores.shape[0] and h1[0].size == params["W2"].shape[0]:
        composed = affine_relu_forward(h1, params["W2"], params["b2"])[0] @ params["W3"] + params["b3"]
    if not (composed is not None and np.shape(scores) == composed.shape and rel_error(scores, composed) <= tolerance("float32")):
        check_close("ThreeLayerConvNet.loss(X) of a float32 model: the scores", scores,
                    model.loss(run.step("scores").args[0]), tolerance("float32"))
    check_true(scores.dtype == np.float32, f"ThreeLayerConvNet.loss(X) of a float32 model returned {scores.dtype} scores; "
                                           "cast X to the model's dtype.")


@points(3, cell="check_overfit")
def test_convnet_overfits(result, threshold, tolerance, note):
    """ThreeLayerConvNet: trained by the given Trainer with Adam on 50 random images with random labels (the
    grader's), the training accuracy reaches the threshold and the minibatch loss falls below half its start."""
    run = result("convnet_overfit")
    scores, labels = run.step("scores").returned(0), run.step("trainer").args[1]["y_train"]
    history = run.step("history").returned(0)
    check_shape("ThreeLayerConvNet.loss(X) after training: the scores", scores, (OVERFIT_N, OVERFIT["num_classes"]))
    accuracy = float(np.mean(np.argmax(scores, axis=1) == labels))
    needed = threshold("overfit_train_acc")
    fitted = accuracy >= needed and history.size > 0 and history[-1] < 0.5 * history[0]
    if not fitted:
        try:
            layers_wrong = not _check_model(result("convnet_loss"), "ThreeLayerConvNet", ["scores", *CONVNET_GRADS],
                                            _convnet_candidates(result("convnet_loss")), tolerance, CONVNET_REG)
        except StudentCheckFailed:
            layers_wrong = False
        if layers_wrong:
            note(f"training accuracy {accuracy:.2f}: not held against the model, whose conv_relu_pool layer is wrong")
            return
    check_true(accuracy >= needed, f"ThreeLayerConvNet: after {OVERFIT_EPOCHS} epochs of Adam (learning rate "
                                   f"{OVERFIT_LR:g}) on 50 images the training accuracy is {accuracy:.2f}; at least "
                                   f"{needed:g} was expected: check the loss, the gradients and that loss() reads "
                                   "self.params (the Trainer updates that dict).")
    check_true(history.size > 0 and history[-1] < 0.5 * history[0],
               f"ThreeLayerConvNet: the minibatch loss went from {history[0]:.3f} to {history[-1]:.3f}; it should fall "
               "below half its start.")
    note(f"training accuracy {accuracy:.2f}, minibatch loss {history[0]:.3f} -> {history[-1]:.3f}")


def _accuracy_check(exported, heldout, threshold, note, *, name: str, dataset: str, key: str, fn: str,
                    error: bool) -> None:
    predictions = exported(name)
    labels = heldout(dataset, "y_test")
    check_shape(f"{fn}: the exported test predictions", predictions, labels.shape)
    accuracy = float(np.mean(predictions == labels))
    bar = threshold(key)
    if error:
        check_true(1 - accuracy <= bar, f"{fn}: test error {100 * (1 - accuracy):.2f} % on {labels.size} test images; "
                                        f"at most {100 * bar:g} % was required.")
        note(f"test error {100 * (1 - accuracy):.2f} % on {labels.size} test images (at most {100 * bar:g} %)")
    else:
        check_true(accuracy >= bar, f"{fn}: test accuracy {accuracy:.3f} on {labels.size} test images; at least "
                                    f"{bar:g} was required.")
        note(f"test accuracy {accuracy:.3f} on {labels.size} test images (at least {bar:g})")


@points(4, cell="convnet_accuracy")
def test_convnet_accuracy(exported, heldout, threshold, note):
    """ThreeLayerConvNet: the CIFAR-10 test accuracy of your trained convnet."""
    _accuracy_check(exported, heldout, threshold, note, name="convnet_test_predictions", dataset="cifar10",
                    key="convnet_test_acc", fn="ThreeLayerConvNet (convnet)", error=False)


# --- LeNet ---------------------------------------------------------------------------------------


def _act(activation: str, a: np.ndarray) -> np.ndarray:
    return np.tanh(a) if activation == "tanh" else np.maximum(a, 0)


def _act_grad(activation: str, out: np.ndarray) -> np.ndarray:
    return 1 - out * out if activation == "tanh" else (out > 0).astype(out.dtype)


def _lenet_inputs(rng: np.random.Generator, activation: str, n: int = 3) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    """X, y and parameters (every entry drawn, the output layer and biases too) whose pooling windows in both
    conv-pool layers keep a gap of GAP (and, for ReLU, whose activations stay GAP from 0)."""
    c, h, w = LENET["input_dim"]
    (f1, f2), k, hidden, classes = LENET["nkerns"], LENET["filter_size"], LENET["hidden_dim"], LENET["num_classes"]
    h2, w2 = ((h - k + 1) // 2 - k + 1) // 2, ((w - k + 1) // 2 - k + 1) // 2
    shapes = {"W1": (f1, c, k, k), "b1": (f1,), "W2": (f2, f1, k, k), "b2": (f2,), "W3": (f2 * h2 * w2, hidden),
              "b3": (hidden,), "W4": (hidden, classes), "b4": (classes,)}
    while True:
        X = rng.standard_normal((n, c, h, w))
        params = {name: 0.5 * rng.standard_normal(shape) for name, shape in shapes.items()}
        conv1 = conv_forward_fast(X, params["W1"], params["b1"], {"stride": 1, "pad": 0})[0]
        a1 = _act(activation, max_pool_forward_fast(conv1, POOL)[0])
        conv2 = conv_forward_fast(a1, params["W2"], params["b2"], {"stride": 1, "pad": 0})[0]
        pre3 = _act(activation, max_pool_forward_fast(conv2, POOL)[0]).reshape(n, -1) @ params["W3"] + params["b3"]
        kinks = [_window_gaps(conv1), _window_gaps(conv2)]
        if activation == "relu":
            kinks += [float(np.abs(max_pool_forward_fast(conv1, POOL)[0]).min()),
                      float(np.abs(max_pool_forward_fast(conv2, POOL)[0]).min()), float(np.abs(pre3).min())]
        if min(kinks) >= GAP:
            return X, rng.integers(classes, size=n), params


def _lenet_chain(rng: np.random.Generator, activation: str, keep_prob: float, reg: float,
                 numeric: bool = False) -> dict[str, Any]:
    """The student's fast layers composed with the given ones as the tutorial's network, then the model."""
    X, y, p = _lenet_inputs(rng, activation)
    fwd, bwd = f"{activation}_forward", f"{activation}_backward"
    valid = {"stride": 1, "pad": 0}
    steps = [
        step("c1", "conv_forward_fast", X, p["W1"], p["b1"], dict(valid)),
        step("p1", "max_pool_forward_fast", ref("c1").out(0), dict(POOL)),
        step("a1", fwd, ref("p1").out(0)),
        step("c2", "conv_forward_fast", ref("a1").out(0), p["W2"], p["b2"], dict(valid)),
        step("p2", "max_pool_forward_fast", ref("c2").out(0), dict(POOL)),
        step("a2", fwd, ref("p2").out(0)),
        step("f3", "affine_forward", ref("a2").out(0), p["W3"], p["b3"]),
        step("a3", fwd, ref("f3").out(0)),
        step("d", "dropout_forward", ref("a3").out(0), {"mode": "train", "p": keep_prob, "seed": LENET_SEED}),
        step("f4", "affine_forward", ref("d").out(0), p["W4"], p["b4"]),
        step("sm", "softmax_loss", ref("f4").out(0), y),
        step("g4", "affine_backward", ref("sm").out(1), ref("f4").out(1)),
        step("gd", "dropout_backward", ref("g4").out(0), ref("d").out(1)),
        step("ga3", bwd, ref("gd").out(0), ref("a3").out(1)),
        step("g3", "affine_backward", ref("ga3").out(0), ref("f3").out(1)),
        step("ga2", bwd, ref("g3").out(0), ref("a2").out(1)),
        step("gp2", "max_pool_backward_fast", ref("ga2").out(0), ref("p2").out(1)),
        step("gc2", "conv_backward_fast", ref("gp2").out(0), ref("c2").out(1)),
        step("ga1", bwd, ref("gc2").out(0), ref("a1").out(1)),
        step("gp1", "max_pool_backward_fast", ref("ga1").out(0), ref("p1").out(1)),
        step("gc1", "conv_backward_fast", ref("gp1").out(0), ref("c1").out(1)),
        step("net", "LeNet", **LENET, activation=activation, keep_prob=keep_prob, reg=reg, dtype=dtype("float64"),
             seed=LENET_SEED),
        assign("set", ref("net").attr("params"), p),
        step("scores", ref("net").attr("loss"), X),
        step("lg", ref("net").attr("loss"), X, y),
    ]
    spec: dict[str, Any] = {"steps": steps}
    if numeric:
        spec["numeric_grad"] = numgrad(of=("lg", 0), wrt=("set", 1, "W3"), k=NUMERIC_CHECKS)
    return spec


@probe("LeNet")
def lenet_init(rng):
    return {"steps": [step("default", "LeNet"),
                      read("default_params", ref("default").attr("params")),
                      step("small", "LeNet", **LENET, dtype=dtype("float64")),
                      read("small_params", ref("small").attr("params"))]}


@probe("LeNet")
def lenet_tanh(rng):
    return _lenet_chain(rng, "tanh", 1.0, 0.0, numeric=True)


@probe("LeNet")
def lenet_relu(rng):
    return _lenet_chain(rng, "relu", 1.0, 0.3)


@probe("LeNet")
def lenet_dropout(rng):
    return _lenet_chain(rng, "relu", 0.6, 0.1)


def _lenet_setup(run) -> tuple[str, float, float, np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    kwargs = run.step("net").kwargs
    return (kwargs["activation"], kwargs["keep_prob"], kwargs["reg"], run.step("lg").args[0], run.step("lg").args[1],
            run.step("set").args[1])


def _lenet_reference(run) -> dict[str, Any]:
    activation, keep_prob, reg, X, y, params = _lenet_setup(run)
    model = LeNet(**{**LENET, "input_dim": tuple(LENET["input_dim"])}, activation=activation, keep_prob=keep_prob,
                  reg=reg, dtype=np.float64, seed=LENET_SEED)
    model.params = {k: v.copy() for k, v in params.items()}
    mask = dropout_mask((X.shape[0], LENET["hidden_dim"]), keep_prob, LENET_SEED)
    names = sorted(params)
    _, grads = value_and_grads(lambda *ps: lenet(dict(zip(names, ps)), to_tensor(X), to_tensor(y), activation, reg,
                                                 to_tensor(mask)), [params[n] for n in names], wrt=list(range(len(names))))
    return {"scores": model.loss(X), "lg/loss": model.loss(X, y)[0], **{f"lg/{n}": g for n, g in zip(names, grads, strict=True)}}


def _lenet_composed(run) -> dict[str, Any] | None:
    """The tutorial's network on the student's fast convolution and pooling (run in the chain); None when a
    value the given layers passed between them disagrees with what is computed here."""
    activation, keep_prob, reg, X, y, p = _lenet_setup(run)
    n = X.shape[0]
    a1 = _act(activation, run.step("p1").returned(0))
    a2 = _act(activation, run.step("p2").returned(0))
    mask = dropout_mask((n, LENET["hidden_dim"]), keep_prob, LENET_SEED)
    flat = a2.reshape(n, -1)
    h3 = _act(activation, flat @ p["W3"] + p["b3"])
    scores = (h3 * mask) @ p["W4"] + p["b4"]
    loss, dscores = softmax_loss(scores, y)
    dh3 = (dscores @ p["W4"].T) * mask
    da3 = dh3 * _act_grad(activation, h3)
    dpre2 = (da3 @ p["W3"].T).reshape(a2.shape) * _act_grad(activation, a2)
    dpre1 = run.step("gc2").returned(0) * _act_grad(activation, a1)
    handed = [("a1", a1), ("a2", a2), ("ga2", dpre2), ("ga1", dpre1)]
    if any(rel_error(run.step(name).returned(0), value) > 1e-10 for name, value in handed):
        return None
    grads = {"W1": run.step("gc1").returned(1), "b1": run.step("gc1").returned(2), "W2": run.step("gc2").returned(1),
             "b2": run.step("gc2").returned(2), "W3": flat.T @ da3, "b3": da3.sum(axis=0), "W4": (h3 * mask).T @ dscores,
             "b4": dscores.sum(axis=0)}
    out: dict[str, Any] = {"scores": h3 @ p["W4"] + p["b4"],
                           "lg/loss": loss + 0.5 * reg * sum(float(np.sum(p[f"W{i}"] ** 2)) for i in range(1, 5))}
    for name, g in grads.items():
        out[f"lg/{name}"] = g + reg * p[name] if name.startswith("W") else g
    return out


LENET_GRADS = [f"lg/{n}" for n in ("loss", "W1", "b1", "W2", "b2", "W3", "b3", "W4", "b4")]


def _lenet_candidates(run) -> list[dict[str, Any] | None]:
    return [_lenet_reference(run), _lenet_composed(run)]


@points(2, cell="check_lenet")
def test_lenet_init(result):
    """LeNet: parameter shapes, dtype (float32 by default, float64 when asked), zero biases and output layer, and
    conv and hidden weights uniform within the tutorial's Glorot bounds, for the default network and a small one."""
    run = result("lenet_init")
    for probe_step, setup, dt in (("default_params", {"input_dim": (1, 28, 28), "nkerns": (20, 50), "filter_size": 5,
                                                       "hidden_dim": 500, "num_classes": 10}, np.float32),
                                  ("small_params", LENET, np.float64)):
        entries = run.step(probe_step).entries(0)
        c, h, w = setup["input_dim"]
        (f1, f2), k, hidden, classes = setup["nkerns"], setup["filter_size"], setup["hidden_dim"], setup["num_classes"]
        h2, w2 = ((h - k + 1) // 2 - k + 1) // 2, ((w - k + 1) // 2 - k + 1) // 2
        shapes = {"W1": (f1, c, k, k), "b1": (f1,), "W2": (f2, f1, k, k), "b2": (f2,), "W3": (f2 * h2 * w2, hidden),
                  "b3": (hidden,), "W4": (hidden, classes), "b4": (classes,)}
        label = "LeNet (default arguments)" if dt == np.float32 else "LeNet (a small float64 network)"
        check_true(set(entries) == set(shapes), f"{label}: params has the keys {sorted(entries)}, expected {sorted(shapes)}.")
        bounds = {"W1": np.sqrt(6 / (c * k * k + f1 * k * k / 4)), "W2": np.sqrt(6 / (f1 * k * k + f2 * k * k / 4)),
                  "W3": np.sqrt(6 / (f2 * h2 * w2 + hidden))}
        for name, shape in shapes.items():
            value = entries[name]
            check_shape(f"{label}: params['{name}']", value, shape)
            check_true(value.dtype == dt, f"{label}: params['{name}'] is {value.dtype}, expected {np.dtype(dt).name}.")
            if name in bounds:
                top, spread = float(np.abs(value).max()), float(np.std(value.astype(np.float64)))
                check_true(top <= bounds[name] * (1 + 1e-6) and (value.size < 500 or top > 0.9 * bounds[name])
                           and (value.size < 500 or abs(spread * np.sqrt(3) / bounds[name] - 1) < 0.1),
                           f"{label}: params['{name}'] should be uniform in +-{bounds[name]:.4g} (Glorot, fan_out of "
                           "a conv layer divided by the pooling area 4); its largest magnitude is "
                           f"{top:.4g} and standard deviation {spread:.4g}.")
            else:
                check_true(not np.any(value), f"{label}: params['{name}'] should start at zero.")


@points(1, cell="check_lenet")
def test_lenet_scores(result, tolerance):
    """LeNet.loss(X): the scores of float64 models (tanh; ReLU) on 1 x 14 x 15 images with the grader's parameters."""
    for name in ("lenet_tanh", "lenet_relu"):
        run = result(name)
        _check_model(run, "LeNet", ["scores"], _lenet_candidates(run), tolerance, run.step("net").kwargs["reg"])


@points(5, cell="check_lenet")
def test_lenet_loss_and_gradients(result, tolerance):
    """LeNet.loss(X, y): the loss and every gradient of a tanh model, a ReLU model with reg 0.3, and a ReLU model
    with dropout (keep_prob 0.6, seed 7) and reg 0.1, against the reference and autograd."""
    for name in ("lenet_tanh", "lenet_relu", "lenet_dropout"):
        run = result(name)
        _check_model(run, "LeNet", LENET_GRADS, _lenet_candidates(run), tolerance, run.step("net").kwargs["reg"])


@points(1, cell="check_lenet")
def test_lenet_no_dropout_at_test_time(result, tolerance):
    """LeNet.loss(X) of a model with dropout (keep_prob 0.6) uses no dropout: the scores of the whole network."""
    run = result("lenet_dropout")
    _check_model(run, "LeNet", ["scores"], _lenet_candidates(run), tolerance, run.step("net").kwargs["reg"])


@points(1, cell="check_lenet")
def test_lenet_own_numeric_gradient(result, tolerance):
    """LeNet.loss: grads['W3'] of the tanh model agrees with centered differences of your own loss."""
    run = result("lenet_tanh")
    check_close("LeNet.loss(X, y): grads['W3'] against your own numeric gradient (centered differences of your loss)",
                run.step("lg").entry(1, "W3")[run.numeric_grad_index], run.numeric_grad, tolerance("numeric_gradient"))


@points(4, cell="lenet_accuracy")
def test_lenet_accuracy(exported, heldout, threshold, note):
    """LeNet: the MNIST test error of your trained lenet (all test images)."""
    _accuracy_check(exported, heldout, threshold, note, name="lenet_test_predictions", dataset="mnist",
                    key="lenet_test_error", fn="LeNet (lenet)", error=True)


@points(4, cell="network3_accuracy")
def test_network3_accuracy(exported, heldout, threshold, note):
    """LeNet: the MNIST test error of your network3 experiment (ReLU and dropout; all test images)."""
    _accuracy_check(exported, heldout, threshold, note, name="network3_test_predictions", dataset="mnist",
                    key="network3_test_error", fn="LeNet (network3)", error=True)

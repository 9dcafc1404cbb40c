"""Hidden graders of a08's denoising autoencoder (``dA``) and stacked denoising autoencoder (``SdA``),
and of the two trained models.

Why these checks: every random draw is pinned (one ``rng.random(x.shape)`` per corruption, an entry
kept where it is below ``1 - level``), so the masking noise is compared exactly with the reference
driven by the grader's own generator, over two calls that continue one stream, with levels 0 and 1
on fresh generators. The cost is compared with ``reference.numpy`` (also where the decoder saturates
and a naive ``log`` gives inf), its gradients with torch autograd of the same cross-entropy and with
the student's own centered differences through the tied ``W``. Composite methods are graded so that
one bug costs its own points once: ``dA.train_step`` and ``SdA.pretraining_step`` pass when they
match the reference driven by the same generator *or* what the student's own pieces (corruption,
cost and gradients, the dA) do in a twin built from the same seed; ``SdA.finetune_step`` runs on the
grader's least-squares output layer (``trusted_model``) and the given ``HiddenLayer``. Sharing is
checked by behaviour: writing into a dA's ``W``/``bhid`` must show in its sigmoid layer, and
``train_step`` must update the very arrays the dA was given. The trained dA and SdA are scored on
the held-out MNIST test images from the weights the notebook exports.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from pipelines.grade.api import (
    assign,
    check_close,
    check_close_to_one_of,
    check_shape,
    check_true,
    check_unmodified,
    generator,
    numgrad,
    points,
    probe,
    read,
    ref,
    step,
    trusted_model,
)
from reference.numpy import SdA, dA
from reference.numpy.mlp import glorot_bound
from reference.torch import da_cost as torch_da_cost
from reference.torch import sda_top, value_and_grads

# dA probes: N rows of N_VISIBLE inputs, N_HIDDEN hidden units (all different: a W where W^T belongs fails).
N, N_VISIBLE, N_HIDDEN = 6, 10, 7
NUMERIC_CHECKS = 10
# SdA probes: D inputs, two hidden layers, C classes.
D, SIZES, C = 12, [9, 7], 4
LEVEL, LEARNING_RATE = 0.3, 0.5
DA_PARAMS = ("W", "bhid", "bvis")


def _seed(rng: np.random.Generator) -> int:
    return int(rng.integers(2**62))


def _pixels(rng: np.random.Generator, rows: int = N, cols: int = N_VISIBLE) -> np.ndarray:
    """Inputs in [0.05, 0.95]: never 0, so a zeroed entry is always the corruption's."""
    return 0.05 + 0.9 * rng.random((rows, cols))


def _da_params(rng: np.random.Generator, scale: float = 1.0) -> dict[str, np.ndarray]:
    return {"W": scale * rng.uniform(-1, 1, (N_VISIBLE, N_HIDDEN)), "bhid": rng.standard_normal(N_HIDDEN),
            "bvis": rng.standard_normal(N_VISIBLE)}


def _reference_da(run, name: str = "da") -> dA:
    """The reference dA with the probe's parameters and a generator in the state the student's started in."""
    spec = run.step(name)
    return dA(N_VISIBLE, N_HIDDEN, seed=spec.args[0].build(), **{k: v.copy() for k, v in spec.kwargs.items()})


# --- dA probes -----------------------------------------------------------------------------------


@probe("dA")
def da_corruption(rng):
    x, params = _pixels(rng), _da_params(rng)
    return {"steps": [
        step("da", "dA", generator(_seed(rng)), N_VISIBLE, N_HIDDEN, **params),
        step("c1", ref("da").attr("get_corrupted_input"), x, LEVEL),
        step("c2", ref("da").attr("get_corrupted_input"), x, 0.6),
        step("da0", "dA", generator(_seed(rng)), N_VISIBLE, N_HIDDEN, **params),
        step("c0", ref("da0").attr("get_corrupted_input"), x, 0.0),
        step("da1", "dA", generator(_seed(rng)), N_VISIBLE, N_HIDDEN, **params),
        step("c_all", ref("da1").attr("get_corrupted_input"), x, 1.0),
    ]}


@probe("dA")
def da_encode_decode(rng):
    params = _da_params(rng)
    return {"steps": [
        step("da", "dA", generator(_seed(rng)), N_VISIBLE, N_HIDDEN, **params),
        step("code", ref("da").attr("get_hidden_values"), _pixels(rng)),
        step("rec", ref("da").attr("get_reconstructed_input"), rng.random((N, N_HIDDEN))),
        # Pre-activations of tens to hundreds: the sigmoid saturates to exactly 0 or 1.
        step("code_big", ref("da").attr("get_hidden_values"), 80 * (rng.random((N, N_VISIBLE)) - 0.5)),
        step("rec_big", ref("da").attr("get_reconstructed_input"), 60 * (rng.random((N, N_HIDDEN)) - 0.5)),
    ]}


def _cost_steps(rng: np.random.Generator, scale: float) -> list[Any]:
    x = _pixels(rng)
    x_tilde = x * (rng.random(x.shape) < 0.7)
    return [step("da", "dA", generator(_seed(rng)), N_VISIBLE, N_HIDDEN, **_da_params(rng, scale)),
            step("cg", ref("da").attr("cost_and_gradients"), x, x_tilde)]


@probe("dA")
def da_cost(rng):
    return {"steps": _cost_steps(rng, 1.0), "numeric_grad": numgrad(of=("cg", 0), wrt=("da", "W"), k=NUMERIC_CHECKS)}


@probe("dA")
def da_cost_saturated(rng):
    """Weights of tens: decoder pre-activations of hundreds, reconstructions of exactly 0 or 1."""
    return {"steps": _cost_steps(rng, 40.0)}


@probe("dA")
def da_train_step(rng):
    """Two training steps, and a twin from the same seed replaying them with the student's own pieces
    (its parameters tied, before the second step, to those the first step left)."""
    seed, params = _seed(rng), _da_params(rng)
    x1, x2 = _pixels(rng), _pixels(rng)
    da, twin = ref("da"), ref("twin")
    return {"steps": [
        step("da", "dA", generator(seed), N_VISIBLE, N_HIDDEN, **params),
        step("t1", da.attr("train_step"), x1, LEVEL, LEARNING_RATE),
        *(read(f"{p}_1", da.attr(p)) for p in DA_PARAMS),
        read("W_given_1", da.kwarg("W")),
        step("twin", "dA", generator(seed), N_VISIBLE, N_HIDDEN, **params),
        step("tc1", twin.attr("get_corrupted_input"), x1, LEVEL),
        step("tg1", twin.attr("cost_and_gradients"), x1, ref("tc1")),
        assign("tie", twin, {p: da.attr(p) for p in DA_PARAMS}),
        step("tc2", twin.attr("get_corrupted_input"), x2, LEVEL),
        step("tg2", twin.attr("cost_and_gradients"), x2, ref("tc2")),
        step("t2", da.attr("train_step"), x2, LEVEL, LEARNING_RATE),
        *(read(f"{p}_2", da.attr(p)) for p in DA_PARAMS),
    ]}


# --- dA tests ------------------------------------------------------------------------------------


def _check_corruption(run, name: str, level: float, tolerance, expected: np.ndarray) -> None:
    got = run.step(name).returned(0)
    check_close(f"dA.get_corrupted_input: x~ at corruption level {level:g}", got, expected, tolerance("value"))
    check_true(np.asarray(got).dtype == np.float64, f"dA.get_corrupted_input: x~ is {np.asarray(got).dtype}; "
                                                    "expected float64.")


@points(3, cell="check_da_corruption")
def test_corruption_draws(result, tolerance):
    """dA.get_corrupted_input: two calls on one generator (levels 0.3 and 0.6) keep exactly the entries where
    rng.random(x.shape) < 1 - level, and leave x as it was given."""
    run = result("da_corruption")
    model = _reference_da(run)
    for name in ("c1", "c2"):
        x, level = run.step(name).args
        _check_corruption(run, name, level, tolerance, model.get_corrupted_input(x, level))
        check_unmodified(f"dA.get_corrupted_input: x (call {name[1]})", run.step(name), 0)


@points(1, cell="check_da_corruption")
def test_corruption_levels_zero_and_one(result, tolerance):
    """dA.get_corrupted_input: level 0 keeps every entry, level 1 zeroes every entry (and the draws at 0.3 are right)."""
    run = result("da_corruption")
    model = _reference_da(run)
    x, level = run.step("c1").args
    _check_corruption(run, "c1", level, tolerance, model.get_corrupted_input(x, level))
    _check_corruption(run, "c0", 0.0, tolerance, x)
    _check_corruption(run, "c_all", 1.0, tolerance, np.zeros_like(x))


@points(1, cell="check_da_encode_decode")
def test_hidden_values(result, tolerance):
    """dA.get_hidden_values: sigmoid(x W + bhid) on a batch of 6, leaving x as it was given."""
    run = result("da_encode_decode")
    expected = _reference_da(run).get_hidden_values(run.step("code").args[0])
    check_close("dA.get_hidden_values: the code", run.step("code").returned(0), expected, tolerance("value"))
    check_unmodified("dA.get_hidden_values: x", run.step("code"), 0)


@points(1, cell="check_da_encode_decode")
def test_reconstructed_input(result, tolerance):
    """dA.get_reconstructed_input: sigmoid(y W^T + bvis) with the tied weights, leaving y as it was given."""
    run = result("da_encode_decode")
    expected = _reference_da(run).get_reconstructed_input(run.step("rec").args[0])
    check_close("dA.get_reconstructed_input: the reconstruction", run.step("rec").returned(0), expected,
                tolerance("value"))
    check_unmodified("dA.get_reconstructed_input: the code", run.step("rec"), 0)


@points(1, cell="check_da_encode_decode")
def test_encode_decode_saturated(result, tolerance):
    """dA.get_hidden_values and dA.get_reconstructed_input with pre-activations of tens to hundreds."""
    run = result("da_encode_decode")
    model = _reference_da(run)
    check_close("dA.get_hidden_values: the code (saturated)", run.step("code_big").returned(0),
                model.get_hidden_values(run.step("code_big").args[0]), tolerance("value"))
    check_close("dA.get_reconstructed_input: the reconstruction (saturated)", run.step("rec_big").returned(0),
                model.get_reconstructed_input(run.step("rec_big").args[0]), tolerance("value"))


def _expected_cost(run) -> tuple[float, dict[str, np.ndarray]]:
    return _reference_da(run).cost_and_gradients(*run.step("cg").args)


@points(2, cell="check_da_cost")
def test_cost(result, tolerance):
    """dA.cost_and_gradients: the mean cross-entropy of the clean x against the reconstruction of x~, on a batch
    of 6, leaving x and x~ as they were given."""
    run = result("da_cost")
    cost, _ = _expected_cost(run)
    check_close("dA.cost_and_gradients: the cost", run.step("cg").returned(0), cost, tolerance("value"))
    check_unmodified("dA.cost_and_gradients: x", run.step("cg"), 0)
    check_unmodified("dA.cost_and_gradients: x_tilde", run.step("cg"), 1)


def _check_autograd(run, tolerance, label: str = "") -> None:
    spec = run.step("da")
    x, x_tilde = run.step("cg").args
    _, grads = value_and_grads(torch_da_cost, [x, x_tilde, *(spec.kwargs[p] for p in DA_PARAMS)], wrt=[2, 3, 4])
    for name, expected in zip(DA_PARAMS, grads, strict=True):
        check_close(f"dA.cost_and_gradients: grads['{name}']{label} (against autograd)", run.step("cg").entry(1, name),
                    expected, tolerance("gradient"))


@points(3, cell="check_da_cost")
def test_gradients_autograd(result, tolerance):
    """dA.cost_and_gradients: grads['W'] (both uses of the tied W), grads['bhid'] and grads['bvis'] against autograd."""
    _check_autograd(result("da_cost"), tolerance)


@points(2, cell="check_da_cost")
def test_gradient_own_numeric(result, tolerance):
    """dA.cost_and_gradients: grads['W'] agrees with centered differences of your own cost."""
    run = result("da_cost")
    dW = run.step("cg").entry(1, "W")
    check_shape("dA.cost_and_gradients: grads['W']", dW, (N_VISIBLE, N_HIDDEN))
    check_close("dA.cost_and_gradients: grads['W'] against your own numeric gradient", dW[run.numeric_grad_index],
                run.numeric_grad, tolerance("numeric_gradient"))


@points(1, cell="check_da_cost")
def test_cost_saturated(result, tolerance):
    """dA.cost_and_gradients: finite and right when the decoder saturates (pre-activations of hundreds)."""
    run = result("da_cost_saturated")
    cost, _ = _expected_cost(run)
    check_close("dA.cost_and_gradients: the cost (saturated decoder)", run.step("cg").returned(0), cost,
                tolerance("value"))
    _check_autograd(run, tolerance, " (saturated decoder)")


def _train_paths(run) -> tuple[list[Any], dict[str, list[np.ndarray]]]:
    """The student's two costs and parameters after each step, and what the reference and the twin expect."""
    got: list[Any] = [run.step("t1").returned(0), *(run.step(f"{p}_1").returned(0) for p in DA_PARAMS),
                      run.step("t2").returned(0), *(run.step(f"{p}_2").returned(0) for p in DA_PARAMS)]
    model = _reference_da(run)
    reference: list[np.ndarray] = []
    for name in ("t1", "t2"):
        x, level, lr = run.step(name).args
        reference += [np.asarray(model.train_step(x, level, lr)), *(getattr(model, p).copy() for p in DA_PARAMS)]
    start = run.step("da").kwargs
    own: list[np.ndarray] = []
    for call, before in (("1", start), ("2", {p: run.step(f"{p}_1").returned(0) for p in DA_PARAMS})):
        lr = run.step(f"t{call}").args[2]
        grads = {p: run.step(f"tg{call}").entry(1, p) for p in DA_PARAMS}
        own += [run.step(f"tg{call}").returned(0), *(before[p] - lr * grads[p] for p in DA_PARAMS)]
    return got, {"the reference driven by the same generator": reference,
                 "your own get_corrupted_input and cost_and_gradients": own}


@points(3, cell="check_da_train_step")
def test_train_step(result, tolerance):
    """dA.train_step: two steps on one generator: the costs returned and W, bhid, bvis after each, against the
    reference and against your own corruption, cost and gradients replayed on a twin."""
    got, paths = _train_paths(result("da_train_step"))
    check_close_to_one_of("dA.train_step: the costs and the parameters after two steps", got, paths, tolerance("value"))


@points(1, cell="check_da_train_step")
def test_train_step_in_place(result, tolerance):
    """dA.train_step: updates the very W the dA was given (in place: the SdA shares it), with the right values."""
    run = result("da_train_step")
    got, paths = _train_paths(run)
    check_close_to_one_of("dA.train_step: the costs and the parameters after two steps", got, paths, tolerance("value"))
    check_true(bool(np.array_equal(run.step("W_given_1").returned(0), run.step("W_1").returned(0))),
               "dA.train_step: the W array the dA was given did not change with self.W: update it in place "
               "(self.W -= ...), so that an SdA's sigmoid layer sees the change.")


# --- SdA probes ----------------------------------------------------------------------------------


def _layer(i: int):
    return ref("sda").attr("sigmoid_layers").item(i)


def _dA_layer(i: int, name: str = "sda"):
    return ref(name).attr("dA_layers").item(i)


@probe("SdA")
def sda_init(rng):
    seed = _seed(rng)
    return {"steps": [
        step("sda", "SdA", generator(seed), D, SIZES, C),
        *(read(f"{p}{i}", _layer(i).attr(p)) for i in range(2) for p in ("W", "b")),
        *(read(f"bvis{i}", _dA_layer(i).attr("bvis")) for i in range(2)),
        read("out_W", ref("sda").attr("logLayer").attr("W")),
        # Writing into dA 1's arrays must show in sigmoid layer 1 (shared), its visible bias in no layer.
        step("fill_W", _dA_layer(1).attr("W").attr("fill"), 0.25),
        step("fill_bhid", _dA_layer(1).attr("bhid").attr("fill"), -0.5),
        step("fill_bvis", _dA_layer(1).attr("bvis").attr("fill"), 3.0),
        *(read(f"{p}{i}_after", _layer(i).attr(p)) for i in range(2) for p in ("W", "b")),
    ]}


@probe("SdA")
def sda_pretrain(rng):
    """Layer 0, then layer 1; a twin from the same seed replays both with the student's own dA layers."""
    seed, X = _seed(rng), _pixels(rng, N, D)
    levels = (0.2, LEVEL)
    return {"steps": [
        step("sda", "SdA", generator(seed), D, SIZES, C),
        *(read(f"{p}_start{i}", _dA_layer(i).attr(p)) for i in range(2) for p in DA_PARAMS),
        step("p0", ref("sda").attr("pretraining_step"), 0, X, levels[0], LEARNING_RATE),
        step("p1", ref("sda").attr("pretraining_step"), 1, X, levels[1], LEARNING_RATE),
        *(read(f"{p}{i}", _dA_layer(i).attr(p)) for i in range(2) for p in DA_PARAMS),
        step("twin", "SdA", generator(seed), D, SIZES, C),
        step("tp0", _dA_layer(0, "twin").attr("train_step"), X, levels[0], LEARNING_RATE),
        step("clean", ref("twin").attr("sigmoid_layers").item(0).attr("forward"), X),
        step("tp1", _dA_layer(1, "twin").attr("train_step"), ref("clean"), levels[1], LEARNING_RATE),
        *(read(f"{p}{i}_twin", _dA_layer(i, "twin").attr(p)) for i in range(2) for p in DA_PARAMS),
    ]}


@probe("SdA")
def sda_finetune(rng):
    """Two fine-tuning steps with the grader's least-squares output layer in place of the logistic one."""
    head = trusted_model("least_squares", W=rng.standard_normal((SIZES[-1], C)), b=rng.standard_normal(C))
    X1, X2 = _pixels(rng, N, D), _pixels(rng, N, D)
    y1, y2 = rng.integers(0, C, N), rng.integers(0, C, N)
    out = ref("sda").attr("logLayer")
    return {"steps": [
        step("sda", "SdA", generator(_seed(rng)), D, SIZES, C),
        assign("head", ref("sda"), {"logLayer": head}),
        *(read(f"{p}{i}_0", _layer(i).attr(p)) for i in range(2) for p in ("W", "b")),
        step("f1", ref("sda").attr("finetune_step"), X1, y1, LEARNING_RATE),
        *(read(f"{p}{i}_1", _layer(i).attr(p)) for i in range(2) for p in ("W", "b")),
        read("out_W_1", out.attr("W")), read("out_b_1", out.attr("b")),
        step("f2", ref("sda").attr("finetune_step"), X2, y2, LEARNING_RATE),
        *(read(f"{p}{i}_2", _layer(i).attr(p)) for i in range(2) for p in ("W", "b")),
        read("out_W_2", out.attr("W")), read("out_b_2", out.attr("b")),
    ]}


# --- SdA tests -----------------------------------------------------------------------------------


@points(1, cell="check_sda")
def test_sda_layers(result, tolerance):
    """SdA.__init__: sigmoid layers of the right shapes whose W are the SdA generator's draws (bottom layer first),
    zero biases, a visible bias per dA, the output layer on top."""
    run = result("sda_init")
    replay = run.step("sda").args[0].build()
    dims = [D, *SIZES]
    for i, (n_in, n_out) in enumerate(zip(dims[:-1], dims[1:], strict=True)):
        bound = glorot_bound(n_in, n_out, "sigmoid")
        check_close(f"SdA.__init__: sigmoid layer {i}'s W (one rng.uniform of the SdA's generator per layer)",
                    run.step(f"W{i}").returned(0), replay.uniform(-bound, bound, (n_in, n_out)), tolerance("value"))
        check_close(f"SdA.__init__: sigmoid layer {i}'s b", run.step(f"b{i}").returned(0), np.zeros(n_out),
                    tolerance("value"))
        check_shape(f"SdA.__init__: dA {i}'s bvis", run.step(f"bvis{i}").returned(0), (n_in,))
    check_shape("SdA.__init__: the output layer's W", run.step("out_W").returned(0), (SIZES[-1], C))


@points(2, cell="check_sda")
def test_sda_shares_parameters(result):
    """SdA.__init__: dA i's W and bhid are sigmoid layer i's W and b (writing into one changes the other); a dA's
    visible bias is its own."""
    run = result("sda_init")
    W1, b1 = run.step("W1_after").returned(0), run.step("b1_after").returned(0)
    check_shape("SdA.__init__: sigmoid layer 1's W", W1, (SIZES[0], SIZES[1]))
    check_true(bool(np.all(W1 == 0.25)), "SdA.__init__: filling dA 1's W did not change sigmoid layer 1's W: "
                                         "give the dA the layer's own array (W=layer.W), not a copy.")
    check_true(bool(np.all(b1 == -0.5)), "SdA.__init__: filling dA 1's bhid did not change sigmoid layer 1's b: "
                                         "give the dA the layer's own bias (bhid=layer.b).")
    check_true(bool(np.array_equal(run.step("W0_after").returned(0), run.step("W0").returned(0))),
               "SdA.__init__: writing into dA 1's W changed sigmoid layer 0.")
    check_true(not any(np.any(run.step(f"b{i}_after").returned(0) == 3.0) for i in range(2)),
               "SdA.__init__: a dA's visible bias is shared with a sigmoid layer's bias; it must be the dA's own.")


def _pretrain_paths(run) -> tuple[list[Any], dict[str, list[np.ndarray]]]:
    got: list[Any] = [run.step("p0").returned(0), run.step("p1").returned(0),
                      *(run.step(f"{p}{i}").returned(0) for i in range(2) for p in DA_PARAMS)]
    model = SdA(D, SIZES, C, seed=run.step("sda").args[0].build())
    costs = [model.pretraining_step(*run.step(name).args) for name in ("p0", "p1")]
    reference = [np.asarray(c) for c in costs] + [getattr(model.dA_layers[i], p).copy() for i in range(2)
                                                  for p in DA_PARAMS]
    own = [run.step("tp0").returned(0), run.step("tp1").returned(0),
           *(run.step(f"{p}{i}_twin").returned(0) for i in range(2) for p in DA_PARAMS)]
    return got, {"the reference driven by the same generator": reference,
                 "your own dA layers on the clean input of each layer": own}


@points(3, cell="check_sda")
def test_pretraining_step(result, tolerance):
    """SdA.pretraining_step: layer 0, then layer 1: the costs and each dA's W, bhid, bvis after, against the reference
    and against your own dA's train_step on the clean output of the layer below (a twin from the same seed)."""
    got, paths = _pretrain_paths(result("sda_pretrain"))
    check_close_to_one_of("SdA.pretraining_step: the costs and the dA parameters after pretraining layers 0 and 1", got, paths,
                          tolerance("value"))


def _reference_sda(run, call: str) -> SdA:
    """The reference SdA with the parameters the student's had before fine-tuning step ``call`` and the grader's
    output layer as it was then."""
    model = SdA(D, SIZES, C, seed=0)
    for i, layer in enumerate(model.sigmoid_layers):
        layer.W[...] = run.step(f"W{i}_{call}").returned(0)
        layer.b[...] = run.step(f"b{i}_{call}").returned(0)
    model.logLayer = run.step("head").args[1]["logLayer"].build()
    if call == "1":
        model.logLayer.set_params(run.step("out_W_1").returned(0), run.step("out_b_1").returned(0))
    return model


def _finetune_names(call: str) -> list[str]:
    return [*(f"{p}{i}_{call}" for i in range(2) for p in ("W", "b")), f"out_W_{call}", f"out_b_{call}"]


@points(3, cell="check_sda_finetune")
def test_finetune_step(result, tolerance):
    """SdA.finetune_step: two steps through the given sigmoid layers and an output layer of the grader's: the costs
    and every parameter after each step against the reference."""
    run = result("sda_finetune")
    for call, before in (("1", "0"), ("2", "1")):
        model = _reference_sda(run, before)
        cost = model.finetune_step(*run.step(f"f{call}").args)
        check_close(f"SdA.finetune_step: the cost returned by step {call}", run.step(f"f{call}").returned(0), cost,
                    tolerance("value"))
        expected = [*(getattr(layer, p) for layer in model.sigmoid_layers for p in ("W", "b")),
                    model.logLayer.W, model.logLayer.b]
        for name, value in zip(_finetune_names(call), expected, strict=True):
            check_close(f"SdA.finetune_step: {name.rsplit('_', 1)[0]} after step {call}", run.step(name).returned(0),
                        value, tolerance("value"))


def _least_squares_cost(X, y, W_out, b_out, *hidden):
    """The grader's output layer on the SdA's top layer: ½ Σ‖S − onehot(y)‖² / N with S = top W_out + b_out."""
    scores = sda_top(X, *hidden) @ W_out + b_out
    target = torch.nn.functional.one_hot(y, scores.shape[1]).to(scores.dtype)
    return 0.5 * ((scores - target) ** 2).sum() / X.shape[0]


@points(2, cell="check_sda_finetune")
def test_finetune_gradients_autograd(result, tolerance):
    """SdA.finetune_step: the first step moves every parameter by -learning_rate times its gradient by autograd."""
    run = result("sda_finetune")
    X, y, lr = run.step("f1").args
    head = run.step("head").args[1]["logLayer"]
    hidden = [run.step(f"{p}{i}_0").returned(0) for i in range(2) for p in ("W", "b")]
    _, grads = value_and_grads(_least_squares_cost, [X, y, head.params["W"], head.params["b"], *hidden],
                               wrt=[4, 5, 6, 7, 2, 3])
    before = [*hidden, head.params["W"], head.params["b"]]
    for name, start, grad in zip(_finetune_names("1"), before, grads, strict=True):
        step_taken = (start - np.asarray(run.step(name).returned(0), dtype=np.float64)) / lr
        check_close(f"SdA.finetune_step: the step of {name.rsplit('_', 1)[0]} / -learning_rate (against autograd)",
                    step_taken, grad, tolerance("finetune_step"))


# --- the trained models --------------------------------------------------------------------------


def independent_pixel_cost(X: np.ndarray) -> float:
    """The reconstruction cost of the best model that ignores every other pixel: each pixel's cross-entropy
    against its own mean over the images ``X`` (N, D), summed over pixels, averaged over images."""
    p = np.clip(X.mean(axis=0), 1e-6, 1 - 1e-6)
    return float(np.mean(-(X * np.log(p) + (1 - X) * np.log(1 - p)).sum(axis=1)))


@points(2, cell="da_trained")
def test_da_test_reconstruction(exported, heldout, threshold, note):
    """The trained dA (30 % noise): its reconstruction cost of the held-out MNIST test images (clean, no noise),
    as a fraction of the cost of the best independent-pixel model of those images."""
    W, bhid, bvis = (np.asarray(exported(f"da_{p}"), dtype=np.float64) for p in DA_PARAMS)
    X = np.asarray(heldout("mnist", "X_test"), dtype=np.float64)
    check_true(W.ndim == 2 and W.shape[0] == X.shape[1] and bhid.shape == (W.shape[1],) and bvis.shape == (X.shape[1],),
               f"the exported dA has the shapes W {W.shape}, bhid {bhid.shape}, bvis {bvis.shape}; expected W "
               f"({X.shape[1]}, n_hidden), bhid (n_hidden,), bvis ({X.shape[1]},).")
    cost, baseline = dA(W.shape[0], W.shape[1], W=W, bhid=bhid, bvis=bvis, seed=0).cost(X), independent_pixel_cost(X)
    most = threshold("da_cost_vs_independent")
    measured = (f"reconstruction cost {cost:.2f} on the test images, {cost / baseline:.3f} times that of the best "
                f"model of independent pixels ({baseline:.2f})")
    check_true(bool(np.isfinite(cost)) and cost <= most * baseline, f"{measured}; at most {most:g} times expected.")
    note(f"{measured} (at most {most:g} times)")


@points(2, cell="sda_trained")
def test_sda_test_error(exported, heldout, threshold, note):
    """The fine-tuned SdA: its error rate on the held-out MNIST test images."""
    layers = int(np.asarray(exported("sda_n_hidden_layers")))
    check_true(1 <= layers <= 10, f"the exported SdA has {layers} hidden layers.")
    X = np.asarray(heldout("mnist", "X_test"), dtype=np.float64)
    h = X
    for i in range(layers):
        W, b = (np.asarray(exported(f"sda_{p}{i}"), dtype=np.float64) for p in ("W", "b"))
        check_true(W.ndim == 2 and W.shape[0] == h.shape[1] and b.shape == (W.shape[1],),
                   f"the exported SdA layer {i} has the shapes W {W.shape}, b {b.shape}.")
        h = 0.5 * (1.0 + np.tanh(0.5 * (h @ W + b)))
    W, b = (np.asarray(exported(f"sda_{p}_out"), dtype=np.float64) for p in ("W", "b"))
    check_true(W.shape == (h.shape[1], 10) and b.shape == (10,),
               f"the exported output layer has the shapes W {W.shape}, b {b.shape}; expected ({h.shape[1]}, 10), (10,).")
    error = float(np.mean(np.argmax(h @ W + b, axis=1) != heldout("mnist", "y_test")))
    most = threshold("sda_test_error")
    check_true(error <= most, f"test error {100 * error:.2f} %; at most {100 * most:g} % expected.")
    note(f"test error {100 * error:.2f} % (at most {100 * most:g} %)")

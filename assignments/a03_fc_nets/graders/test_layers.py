"""Hidden graders of the a03 layers: affine, ReLU and the affine-ReLU sandwich, forward and backward.

Why these checks: forward values are compared with ``reference.numpy`` and backward passes with torch
autograd (an independent derivation), on fresh random inputs every run; the student's own centered
differences catch a backward pass that disagrees with their own forward pass. Backward passes run in
chained probes: the student's forward pass, then their backward pass twice on its cache (graders
never see a cache; the second call must give the same result). Edge cases where
real bugs hide: inputs of several shapes and a batch of one (flattening and reshaping back), float32
inputs (the layers keep the input dtype), ReLU inputs just either side of the kink and exactly on it
(the notebook pins a derivative of 0 there), and inputs or ``dout`` modified in place (the book's
``relu_backward`` writes into ``dout``): leaving them alone is part of the value tests, since a layer
that does nothing leaves them alone too.
"""

from __future__ import annotations

import numpy as np

from pipelines.grade.api import check_close, check_shape, check_true, check_unmodified, numgrad, points, probe, ref, step
from reference.numpy import affine_forward, affine_relu_forward, relu_forward
from reference.torch import affine, affine_relu, relu, value_and_grads

# A batch of N examples of shape (3, 4, 2) (D = 24) mapped to M outputs.
N, SHAPE, M = 6, (3, 4, 2), 5
D = int(np.prod(SHAPE))
# Inputs of the ReLU stay at least KINK_MARGIN away from 0 in the smooth probes, so a centered
# difference (h = 1e-5, times weights below ~5 in the sandwich) never crosses the kink; a share of
# them lies just either side, between KINK_MARGIN and NEAR_KINK.
KINK_MARGIN, NEAR_KINK = 1e-3, 1e-2
NUMERIC_CHECKS = 10


def _push_off_kink(a: np.ndarray, rng: np.random.Generator, share: float = 0.2) -> np.ndarray:
    """``a`` with every entry at least KINK_MARGIN from 0 and about ``share`` of them just either side."""
    a = a.copy()
    near = rng.random(a.shape) < share
    a[near] = rng.choice([-1.0, 1.0], size=int(near.sum())) * rng.uniform(KINK_MARGIN, NEAR_KINK, int(near.sum()))
    small = np.abs(a) < KINK_MARGIN
    a[small] = np.where(a[small] < 0, -KINK_MARGIN, KINK_MARGIN)
    return a


def _affine_args(rng: np.random.Generator, n: int = N, shape: tuple[int, ...] = SHAPE) -> list[np.ndarray]:
    """[x (n, *shape), w (D, M), b (M,)], standard normal."""
    d = int(np.prod(shape))
    return [rng.standard_normal((n, *shape)), rng.standard_normal((d, M)), rng.standard_normal(M)]


def _positive_affine_args(rng: np.random.Generator) -> list[np.ndarray]:
    """[x, w, b, dout] of the float32 probes, all positive: no cancellation, so float32 results
    differ from the float64 reference by a few float32 rounding errors only."""
    x, w, b = (rng.uniform(0.5, 1.5, np.shape(a)) for a in _affine_args(rng))
    return [x, w, b, rng.uniform(0.5, 1.5, (N, M))]


def _affine_relu_args(rng: np.random.Generator, n: int = N) -> list[np.ndarray]:
    """[x, w, b] whose pre-activations x w + b all sit at least KINK_MARGIN from 0 (some just beside it):
    b is drawn, then each pre-activation that came out too close is moved by shifting its example."""
    x, w, b = _affine_args(rng, n)
    w = w / np.sqrt(D)  # pre-activations of order 1
    while True:
        a = x.reshape(n, -1) @ w + b
        if np.min(np.abs(a)) >= KINK_MARGIN:
            return [x, w, b]
        x, _, b = _affine_args(rng, n)


# --- probes --------------------------------------------------------------------------------------


def _forward(call: str, args: list[np.ndarray]) -> dict:
    return {"steps": [step("fwd", call, *args)]}


def _backward(layer: str, args: list[np.ndarray], dout: np.ndarray, numeric_wrt: int | None = None) -> dict:
    """``<layer>_forward`` on ``args``, then ``<layer>_backward`` twice on its cache; optionally the student's
    centered differences of sum(dout * out) with respect to forward argument ``numeric_wrt``."""
    cache = ref("fwd").out(1)
    chain: dict = {"steps": [step("fwd", f"{layer}_forward", *args), step("bwd", f"{layer}_backward", dout, cache),
                             step("again", f"{layer}_backward", dout, cache)]}
    if numeric_wrt is not None:
        chain["numeric_grad"] = numgrad(of=("fwd", 0), wrt=("fwd", numeric_wrt), weights=dout, k=NUMERIC_CHECKS)
    return chain


@probe("affine_forward")
def affine_fwd(rng):
    return _forward("affine_forward", _affine_args(rng))


@probe("affine_forward")
def affine_fwd_one(rng):
    return _forward("affine_forward", _affine_args(rng, n=1, shape=(5, 4)))


@probe("affine_forward")
def affine_fwd_float32(rng):
    return _forward("affine_forward", [a.astype(np.float32) for a in _positive_affine_args(rng)[:3]])


@probe("affine_backward")
def affine_bwd(rng):
    return _backward("affine", _affine_args(rng), rng.standard_normal((N, M)), numeric_wrt=0)


@probe("affine_backward")
def affine_bwd_numeric_w(rng):
    return _backward("affine", _affine_args(rng), rng.standard_normal((N, M)), numeric_wrt=1)


@probe("affine_backward")
def affine_bwd_one(rng):
    return _backward("affine", _affine_args(rng, n=1, shape=(5, 4)), rng.standard_normal((1, M)))


@probe("affine_backward")
def affine_bwd_float32(rng):
    *args, dout = (a.astype(np.float32) for a in _positive_affine_args(rng))
    return _backward("affine", args, dout)


@probe("relu_forward")
def relu_fwd(rng):
    return _forward("relu_forward", [_push_off_kink(rng.standard_normal((N, *SHAPE)), rng)])


@probe("relu_forward")
def relu_fwd_float32(rng):
    return _forward("relu_forward", [_push_off_kink(rng.standard_normal((2, 7)), rng).astype(np.float32)])


@probe("relu_backward")
def relu_bwd(rng):
    x = _push_off_kink(rng.standard_normal((N, *SHAPE)), rng)
    return _backward("relu", [x], rng.standard_normal(x.shape), numeric_wrt=0)


@probe("relu_backward")
def relu_bwd_at_kink(rng):
    x = rng.standard_normal((N, 7))
    x[rng.random(x.shape) < 0.3] = 0.0
    return _backward("relu", [x], rng.standard_normal(x.shape))


@probe("relu_backward")
def relu_bwd_float32(rng):
    x = _push_off_kink(rng.standard_normal((N, 7)), rng)
    return _backward("relu", [x.astype(np.float32)], rng.standard_normal(x.shape).astype(np.float32))


@probe("affine_relu_forward")
def affine_relu_fwd(rng):
    return _forward("affine_relu_forward", _affine_relu_args(rng))


@probe("affine_relu_backward")
def affine_relu_bwd(rng):
    return _backward("affine_relu", _affine_relu_args(rng), rng.standard_normal((N, M)), numeric_wrt=0)


@probe("affine_relu_backward")
def affine_relu_bwd_numeric_w(rng):
    return _backward("affine_relu", _affine_relu_args(rng), rng.standard_normal((N, M)), numeric_wrt=1)


@probe("affine_relu_backward")
def affine_relu_bwd_one(rng):
    return _backward("affine_relu", _affine_relu_args(rng, n=1), rng.standard_normal((1, M)))


# --- helpers -------------------------------------------------------------------------------------


def _inputs(run) -> tuple[list[np.ndarray], np.ndarray]:
    """The forward pass's inputs and the backward pass's dout of a backward probe."""
    return run.step("fwd").args, run.step("bwd").args[0]


def _grads(run, name: str, i: int) -> list[np.ndarray]:
    """Gradient ``i`` of both backward calls on the one cache (a single array for relu_backward)."""
    return [run.step(call).returned(i) for call in ("bwd", "again")]


def _check_grads(run, torch_fn, fn: str, names: tuple[str, ...], tol: float, label: str = "") -> None:
    """Both backward calls' gradients against autograd of ``torch_fn`` at the probe's inputs, and the
    inputs (x, w, b, dout) left as they were given."""
    inputs, dout = _inputs(run)
    _, grads = value_and_grads(torch_fn, inputs, wrt=list(range(len(inputs))), dout=dout)
    for i, (name, expected) in enumerate(zip(names, grads, strict=True)):
        first, second = _grads(run, name, i)
        check_close(f"{fn}: {name}{label}", first, expected, tol)
        check_close(f"{fn}: {name}{label}, called a second time on the same cache", second, expected, tol)
    _check_unmodified(run, fn)


def _check_own_numeric(run, fn: str, name: str, arg: int, tol: float) -> None:
    """The gradient of forward argument ``arg`` against the student's own centered differences of
    sum(out * dout) at a few random entries."""
    analytic = run.step("bwd").returned(arg)
    check_shape(f"{fn}: {name}", analytic, np.shape(run.step("fwd").args[arg]))
    check_close(f"{fn}: {name} against your own numeric gradient", analytic[run.numeric_grad_index], run.numeric_grad, tol)


def _check_float32(what: str, got: np.ndarray, expected: np.ndarray, tol: float) -> None:
    got = np.asarray(got)
    check_true(got.dtype == np.float32, f"{what}: float32 inputs gave {got.dtype} values, expected float32.")
    check_close(what, got, expected, tol)


def _check_unmodified(run, fn: str) -> None:
    """The forward pass's inputs and, in a backward probe, dout left as they were given."""
    names = ("x", "w", "b")[:len(run.step("fwd").args)]
    for i, name in enumerate(names):
        check_unmodified(f"{fn}: {name}", run.step("fwd"), i)
    if "bwd" in {s.name for s in run.inputs["steps"]}:
        check_unmodified(f"{fn}: dout", run.step("bwd"), 0)


def _check_forward(run, fn: str, expected: np.ndarray, tol: float, label: str = "") -> None:
    check_close(f"{fn}: out{label}", run.step("fwd").returned(0), expected, tol)
    _check_unmodified(run, fn)


# --- affine_forward ------------------------------------------------------------------------------


@points(3, cell="check_affine_forward")
def test_affine_forward_values(result, tolerance):
    """affine_forward: out on a random batch of 6 examples of shape (3, 4, 2), with x, w and b left as they were
    given."""
    run = result("affine_fwd")
    _check_forward(run, "affine_forward", affine_forward(*run.step("fwd").args)[0], tolerance("value"))


@points(1, cell="check_affine_forward")
def test_affine_forward_batch_of_one(result, tolerance):
    """affine_forward: out for a batch of one example of shape (5, 4)."""
    run = result("affine_fwd_one")
    _check_forward(run, "affine_forward", affine_forward(*run.step("fwd").args)[0], tolerance("value"), " (batch of one)")


@points(1, cell="check_affine_forward")
def test_affine_forward_float32(result, tolerance):
    """affine_forward: float32 inputs give a float32 output with the right values."""
    run = result("affine_fwd_float32")
    _check_float32("affine_forward: out", run.step("fwd").returned(0), affine_forward(*run.step("fwd").args)[0],
                   tolerance("float32"))


# --- affine_backward -----------------------------------------------------------------------------


@points(3, cell="check_affine_backward")
def test_affine_backward_gradients(result, tolerance):
    """affine_backward: dx, dw and db on a random batch (x of shape (6, 3, 4, 2)), called twice on the cache of its
    own forward pass, against autograd, with dout and the forward inputs left as they were given."""
    _check_grads(result("affine_bwd"), affine, "affine_backward", ("dx", "dw", "db"), tolerance("gradient"))


@points(1, cell="check_affine_backward")
def test_affine_backward_own_numeric_gradient(result, tolerance):
    """affine_backward: dx and dw agree with centered differences of your own affine_forward."""
    _check_own_numeric(result("affine_bwd"), "affine_backward", "dx", 0, tolerance("numeric_gradient"))
    _check_own_numeric(result("affine_bwd_numeric_w"), "affine_backward", "dw", 1, tolerance("numeric_gradient"))


@points(1, cell="check_affine_backward")
def test_affine_backward_batch_of_one(result, tolerance):
    """affine_backward: dx, dw and db for a batch of one example of shape (5, 4)."""
    _check_grads(result("affine_bwd_one"), affine, "affine_backward", ("dx", "dw", "db"), tolerance("gradient"),
                 " (batch of one)")


@points(1, cell="check_affine_backward")
def test_affine_backward_float32(result, tolerance):
    """affine_backward: float32 inputs give float32 gradients with the right values."""
    run = result("affine_bwd_float32")
    inputs, dout = _inputs(run)
    _, grads = value_and_grads(affine, [a.astype(np.float64) for a in inputs], wrt=[0, 1, 2], dout=dout.astype(np.float64))
    for i, (name, expected) in enumerate(zip(("dx", "dw", "db"), grads, strict=True)):
        _check_float32(f"affine_backward: {name}", run.step("bwd").returned(i), expected, tolerance("float32"))


# --- relu_forward --------------------------------------------------------------------------------


@points(2, cell="check_relu_forward")
def test_relu_forward_values(result, tolerance):
    """relu_forward: out on random inputs of shape (6, 3, 4, 2), some just either side of 0, with x left as it was
    given."""
    run = result("relu_fwd")
    _check_forward(run, "relu_forward", relu_forward(*run.step("fwd").args)[0], tolerance("value"))


@points(1, cell="check_relu_forward")
def test_relu_forward_float32(result, tolerance):
    """relu_forward: a float32 input gives a float32 output with the right values."""
    run = result("relu_fwd_float32")
    _check_float32("relu_forward: out", run.step("fwd").returned(0), relu_forward(*run.step("fwd").args)[0],
                   tolerance("float32"))


# --- relu_backward -------------------------------------------------------------------------------


@points(3, cell="check_relu_backward")
def test_relu_backward_gradient(result, tolerance):
    """relu_backward: dx on random inputs, some just either side of 0, called twice on the cache of its own forward
    pass, against autograd, with dout (the book's version writes into it) and x left as they were given."""
    _check_grads(result("relu_bwd"), relu, "relu_backward", ("dx",), tolerance("gradient"))


@points(1, cell="check_relu_backward")
def test_relu_backward_own_numeric_gradient(result, tolerance):
    """relu_backward: dx agrees with centered differences of your own relu_forward (inputs off the kink)."""
    _check_own_numeric(result("relu_bwd"), "relu_backward", "dx", 0, tolerance("numeric_gradient"))


@points(1, cell="check_relu_backward")
def test_relu_backward_at_the_kink(result, tolerance):
    """relu_backward: where x is exactly 0 the gradient is 0 (as the notebook pins it)."""
    run = result("relu_bwd_at_kink")
    (x,), dout = _inputs(run)
    for got in _grads(run, "dx", 0):
        check_close("relu_backward: dx where some x are exactly 0", got, np.where(x > 0, dout, 0.0), tolerance("gradient"))
    _check_unmodified(run, "relu_backward")


@points(1, cell="check_relu_backward")
def test_relu_backward_float32(result, tolerance):
    """relu_backward: float32 inputs give a float32 dx with the right values."""
    run = result("relu_bwd_float32")
    (x,), dout = _inputs(run)
    _check_float32("relu_backward: dx", run.step("bwd").returned(0), np.where(x > 0, dout, 0.0), tolerance("float32"))


# --- affine_relu_forward / affine_relu_backward ----------------------------------------------


@points(2, cell="check_affine_relu")
def test_affine_relu_forward_values(result, tolerance):
    """affine_relu_forward: out on a random batch, some pre-activations just either side of 0, with x, w and b
    left as they were given."""
    run = result("affine_relu_fwd")
    _check_forward(run, "affine_relu_forward", affine_relu_forward(*run.step("fwd").args)[0], tolerance("value"))


@points(2, cell="check_affine_relu")
def test_affine_relu_backward_gradients(result, tolerance):
    """affine_relu_backward: dx, dw and db on a random batch, called twice on the cache of its own forward pass,
    against autograd, with dout and the forward inputs left as they were given."""
    _check_grads(result("affine_relu_bwd"), affine_relu, "affine_relu_backward", ("dx", "dw", "db"), tolerance("gradient"))


@points(1, cell="check_affine_relu")
def test_affine_relu_backward_own_numeric_gradient(result, tolerance):
    """affine_relu_backward: dx and dw agree with centered differences of your own affine_relu_forward."""
    _check_own_numeric(result("affine_relu_bwd"), "affine_relu_backward", "dx", 0, tolerance("numeric_gradient"))
    _check_own_numeric(result("affine_relu_bwd_numeric_w"), "affine_relu_backward", "dw", 1,
                       tolerance("numeric_gradient"))


@points(1, cell="check_affine_relu")
def test_affine_relu_batch_of_one(result, tolerance):
    """affine_relu_backward: dx, dw and db for a batch of one example."""
    _check_grads(result("affine_relu_bwd_one"), affine_relu, "affine_relu_backward", ("dx", "dw", "db"),
                 tolerance("gradient"), " (batch of one)")

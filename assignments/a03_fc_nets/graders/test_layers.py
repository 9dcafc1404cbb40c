"""Hidden graders of the a03 layers: affine, ReLU and the affine-ReLU sandwich, forward and backward.

Why these checks: forward values are compared with ``reference.numpy`` and backward passes with torch
autograd (an independent derivation), on fresh random inputs every run; the student's own centered
differences catch a backward pass that disagrees with their own forward pass. Backward passes are
reached through the notebook's read-only ``*_backward_grads`` functions, which run the student's
forward pass and hand its cache to their backward pass (graders never see a cache). Edge cases where
real bugs hide: inputs of several shapes and a batch of one (flattening and reshaping back), float32
inputs (the layers keep the input dtype), ReLU inputs just either side of the kink and exactly on it
(the notebook pins a derivative of 0 there), and inputs or ``dout`` modified in place (the book's
``relu_backward`` writes into ``dout``).
"""

from __future__ import annotations

import numpy as np

from pipelines.grade.api import check_close, check_shape, check_true, check_unmodified, points, probe
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


@probe("affine_forward_out")
def affine_fwd(rng):
    return {"args": _affine_args(rng)}


@probe("affine_forward_out")
def affine_fwd_one(rng):
    return {"args": _affine_args(rng, n=1, shape=(5, 4))}


@probe("affine_forward_out")
def affine_fwd_float32(rng):
    return {"args": [a.astype(np.float32) for a in _positive_affine_args(rng)[:3]]}


@probe("affine_backward_grads", numeric_grad=(0, 0, NUMERIC_CHECKS))
def affine_bwd(rng):
    return {"args": [*_affine_args(rng), rng.standard_normal((N, M))]}


@probe("affine_backward_grads", numeric_grad=(1, 0, NUMERIC_CHECKS))
def affine_bwd_numeric_w(rng):
    return {"args": [*_affine_args(rng), rng.standard_normal((N, M))]}


@probe("affine_backward_grads")
def affine_bwd_one(rng):
    return {"args": [*_affine_args(rng, n=1, shape=(5, 4)), rng.standard_normal((1, M))]}


@probe("affine_backward_grads")
def affine_bwd_float32(rng):
    return {"args": [a.astype(np.float32) for a in _positive_affine_args(rng)]}


@probe("relu_forward_out")
def relu_fwd(rng):
    return {"args": [_push_off_kink(rng.standard_normal((N, *SHAPE)), rng)]}


@probe("relu_forward_out")
def relu_fwd_float32(rng):
    return {"args": [_push_off_kink(rng.standard_normal((2, 7)), rng).astype(np.float32)]}


@probe("relu_backward_grads", numeric_grad=(0, 0, NUMERIC_CHECKS))
def relu_bwd(rng):
    x = _push_off_kink(rng.standard_normal((N, *SHAPE)), rng)
    return {"args": [x, rng.standard_normal(x.shape)]}


@probe("relu_backward_grads")
def relu_bwd_at_kink(rng):
    x = rng.standard_normal((N, 7))
    x[rng.random(x.shape) < 0.3] = 0.0
    return {"args": [x, rng.standard_normal(x.shape)]}


@probe("relu_backward_grads")
def relu_bwd_float32(rng):
    x = _push_off_kink(rng.standard_normal((N, 7)), rng)
    return {"args": [x.astype(np.float32), rng.standard_normal(x.shape).astype(np.float32)]}


@probe("affine_relu_forward_out")
def affine_relu_fwd(rng):
    return {"args": _affine_relu_args(rng)}


@probe("affine_relu_backward_grads", numeric_grad=(0, 0, NUMERIC_CHECKS))
def affine_relu_bwd(rng):
    return {"args": [*_affine_relu_args(rng), rng.standard_normal((N, M))]}


@probe("affine_relu_backward_grads", numeric_grad=(1, 0, NUMERIC_CHECKS))
def affine_relu_bwd_numeric_w(rng):
    return {"args": [*_affine_relu_args(rng), rng.standard_normal((N, M))]}


@probe("affine_relu_backward_grads")
def affine_relu_bwd_one(rng):
    return {"args": [*_affine_relu_args(rng, n=1), rng.standard_normal((1, M))]}


# --- helpers -------------------------------------------------------------------------------------


def _check_grads(run, torch_fn, names: tuple[str, ...], tol: float) -> None:
    """Returned values 1.. (the gradients) against autograd of ``torch_fn`` at the probe's inputs."""
    *inputs, dout = run.args
    _, grads = value_and_grads(torch_fn, inputs, wrt=list(range(len(inputs))), dout=dout)
    for i, (name, expected) in enumerate(zip(names, grads, strict=True)):
        check_close(name, run.returned(i + 1), expected, tol)


def _check_own_numeric(run, name: str, arg: int, tol: float) -> None:
    """The gradient of argument ``arg`` (returned at position ``arg + 1``) against the student's own
    centered differences of sum(out * dout) at a few random entries."""
    analytic = run.returned(arg + 1)
    check_shape(name, analytic, np.shape(run.args[arg]))
    check_close(f"{name} against your own numeric gradient", analytic[run.numeric_grad_index], run.numeric_grad, tol)


def _check_float32(what: str, got: np.ndarray, expected: np.ndarray, tol: float) -> None:
    got = np.asarray(got)
    check_true(got.dtype == np.float32, f"{what}: float32 inputs gave {got.dtype} values, expected float32.")
    check_close(what, got, expected, tol)


def _check_unmodified(run, names: tuple[str, ...]) -> None:
    for i, name in enumerate(names):
        check_unmodified(name, run, i)


# --- affine_forward ------------------------------------------------------------------------------


@points(2, cell="check_affine_forward")
def test_affine_forward_values(result, tolerance):
    """affine_forward: out on a random batch of 6 examples of shape (3, 4, 2)."""
    run = result("affine_fwd")
    check_close("out", run.returned(0), affine_forward(*run.args)[0], tolerance("value"))


@points(1, cell="check_affine_forward")
def test_affine_forward_batch_of_one(result, tolerance):
    """affine_forward: out for a batch of one example of shape (5, 4)."""
    run = result("affine_fwd_one")
    check_close("out", run.returned(0), affine_forward(*run.args)[0], tolerance("value"))


@points(1, cell="check_affine_forward")
def test_affine_forward_float32(result, tolerance):
    """affine_forward: float32 inputs give a float32 output with the right values."""
    run = result("affine_fwd_float32")
    _check_float32("out", run.returned(0), affine_forward(*run.args)[0], tolerance("float32"))


@points(1, cell="check_affine_forward")
def test_affine_forward_leaves_its_inputs(result):
    """affine_forward: x, w and b are left as they were given."""
    _check_unmodified(result("affine_fwd"), ("x", "w", "b"))


# --- affine_backward -----------------------------------------------------------------------------


@points(2, cell="check_affine_backward")
def test_affine_backward_gradients(result, tolerance):
    """affine_backward: dx, dw and db on a random batch (x of shape (6, 3, 4, 2)), against autograd."""
    _check_grads(result("affine_bwd"), affine, ("dx", "dw", "db"), tolerance("gradient"))


@points(1, cell="check_affine_backward")
def test_affine_backward_own_numeric_gradient(result, tolerance):
    """affine_backward: dx and dw agree with centered differences of your own affine_forward."""
    _check_own_numeric(result("affine_bwd"), "dx", 0, tolerance("numeric_gradient"))
    _check_own_numeric(result("affine_bwd_numeric_w"), "dw", 1, tolerance("numeric_gradient"))


@points(1, cell="check_affine_backward")
def test_affine_backward_batch_of_one(result, tolerance):
    """affine_backward: dx, dw and db for a batch of one example of shape (5, 4)."""
    _check_grads(result("affine_bwd_one"), affine, ("dx", "dw", "db"), tolerance("gradient"))


@points(1, cell="check_affine_backward")
def test_affine_backward_float32(result, tolerance):
    """affine_backward: float32 inputs give float32 gradients with the right values."""
    run = result("affine_bwd_float32")
    *inputs, dout = (a.astype(np.float64) for a in run.args)
    _, grads = value_and_grads(affine, inputs, wrt=[0, 1, 2], dout=dout)
    for i, (name, expected) in enumerate(zip(("dx", "dw", "db"), grads, strict=True)):
        _check_float32(name, run.returned(i + 1), expected, tolerance("float32"))


@points(1, cell="check_affine_backward")
def test_affine_backward_leaves_dout_and_inputs(result):
    """affine_backward: dout, and the x, w, b of the forward pass, are left as they were given."""
    _check_unmodified(result("affine_bwd"), ("x", "w", "b", "dout"))


# --- relu_forward --------------------------------------------------------------------------------


@points(1, cell="check_relu_forward")
def test_relu_forward_values(result, tolerance):
    """relu_forward: out on random inputs of shape (6, 3, 4, 2), some just either side of 0."""
    run = result("relu_fwd")
    check_close("out", run.returned(0), relu_forward(*run.args)[0], tolerance("value"))


@points(1, cell="check_relu_forward")
def test_relu_forward_float32(result, tolerance):
    """relu_forward: a float32 input gives a float32 output with the right values."""
    run = result("relu_fwd_float32")
    _check_float32("out", run.returned(0), relu_forward(*run.args)[0], tolerance("float32"))


@points(1, cell="check_relu_forward")
def test_relu_forward_leaves_its_input(result):
    """relu_forward: x is left as it was given."""
    _check_unmodified(result("relu_fwd"), ("x",))


# --- relu_backward -------------------------------------------------------------------------------


@points(2, cell="check_relu_backward")
def test_relu_backward_gradient(result, tolerance):
    """relu_backward: dx on random inputs, some just either side of 0, against autograd."""
    _check_grads(result("relu_bwd"), relu, ("dx",), tolerance("gradient"))


@points(1, cell="check_relu_backward")
def test_relu_backward_own_numeric_gradient(result, tolerance):
    """relu_backward: dx agrees with centered differences of your own relu_forward (inputs off the kink)."""
    _check_own_numeric(result("relu_bwd"), "dx", 0, tolerance("numeric_gradient"))


@points(1, cell="check_relu_backward")
def test_relu_backward_at_the_kink(result, tolerance):
    """relu_backward: where x is exactly 0 the gradient is 0 (as the notebook pins it)."""
    run = result("relu_bwd_at_kink")
    x, dout = run.args
    check_close("dx where some x are exactly 0", run.returned(1), np.where(x > 0, dout, 0.0), tolerance("gradient"))


@points(1, cell="check_relu_backward")
def test_relu_backward_leaves_dout(result):
    """relu_backward: dout (and the x of the forward pass) are left as they were given."""
    _check_unmodified(result("relu_bwd"), ("x", "dout"))
    _check_unmodified(result("relu_bwd_at_kink"), ("x", "dout"))


@points(1, cell="check_relu_backward")
def test_relu_backward_float32(result, tolerance):
    """relu_backward: float32 inputs give a float32 dx with the right values."""
    run = result("relu_bwd_float32")
    x, dout = run.args
    _check_float32("dx", run.returned(1), np.where(x > 0, dout, 0.0), tolerance("float32"))


# --- affine_relu_forward / affine_relu_backward ----------------------------------------------


@points(1, cell="check_affine_relu")
def test_affine_relu_forward_values(result, tolerance):
    """affine_relu_forward: out on a random batch, some pre-activations just either side of 0."""
    run = result("affine_relu_fwd")
    check_close("out", run.returned(0), affine_relu_forward(*run.args)[0], tolerance("value"))


@points(2, cell="check_affine_relu")
def test_affine_relu_backward_gradients(result, tolerance):
    """affine_relu_backward: dx, dw and db on a random batch, against autograd."""
    _check_grads(result("affine_relu_bwd"), affine_relu, ("dx", "dw", "db"), tolerance("gradient"))


@points(1, cell="check_affine_relu")
def test_affine_relu_backward_own_numeric_gradient(result, tolerance):
    """affine_relu_backward: dx and dw agree with centered differences of your own affine_relu_forward."""
    _check_own_numeric(result("affine_relu_bwd"), "dx", 0, tolerance("numeric_gradient"))
    _check_own_numeric(result("affine_relu_bwd_numeric_w"), "dw", 1, tolerance("numeric_gradient"))


@points(1, cell="check_affine_relu")
def test_affine_relu_batch_of_one(result, tolerance):
    """affine_relu_backward: dx, dw and db for a batch of one example."""
    _check_grads(result("affine_relu_bwd_one"), affine_relu, ("dx", "dw", "db"), tolerance("gradient"))


@points(1, cell="check_affine_relu")
def test_affine_relu_leaves_dout_and_inputs(result):
    """affine_relu_forward and affine_relu_backward: x, w, b and dout are left as they were given."""
    _check_unmodified(result("affine_relu_fwd"), ("x", "w", "b"))
    _check_unmodified(result("affine_relu_bwd"), ("x", "w", "b", "dout"))

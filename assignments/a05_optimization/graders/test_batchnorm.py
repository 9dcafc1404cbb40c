"""Hidden graders of the a05 batch normalization layer: ``batchnorm_forward``, ``batchnorm_backward``
and ``batchnorm_backward_alt``.

Why these checks: train-mode outputs are compared with ``reference.numpy`` and both backward passes
with torch autograd (an independent derivation) and with the student's own centered differences, on
inputs with large, unequal means and scales and N != D (so a statistic over the wrong axis cannot
pass). Each backward pass runs twice on the cache of its own train-mode forward pass (the second call
must give the same result, so a backward pass that spoils its cache is caught); the closed form is
compared with autograd and with the reference's staged pass, never with the student's staged version,
so a bug in one costs that one's points only. The running averages are followed through
three train-mode calls that pass the same ``bn_param`` dict along, as a network does, with a
non-default momentum and eps and non-zero starting values; a test-mode call on that dict must then
normalize with the running averages (also for a batch of one) and leave them unchanged; a first
call with only ``mode`` set must use the defaults (eps 1e-5, momentum 0.9, zero running averages).
The speed of the closed form is measured from outside the sandbox against the student's own staged
version; only a closed form markedly slower than the staged one loses the point (the ratio depends
on the machine, so it is reported, never required). Properties that a function doing nothing also
has (inputs left alone, speed) earn their points only together with the same function's values.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from pipelines.grade.api import (
    assign,
    check_close,
    check_shape,
    check_true,
    check_unmodified,
    numgrad,
    points,
    probe,
    read,
    ref,
    step,
)
from reference.numpy import batchnorm_backward, batchnorm_forward
from reference.torch import batchnorm, value_and_grads

# Train-mode probes: N examples of D features (N != D), features with means ~ 12 and scales 1..5.
N, D = 8, 6
NUMERIC_CHECKS = 10
# Running-average probes: non-default momentum and eps, small-variance inputs so that eps matters.
MOMENTUM, EPS = 0.7, 1e-3
# Timed probes: the book's speed comparison on a batch forty times the book's 100 x 500, one forward
# pass, then BACKWARD_CALLS backward passes on its cache, so that the backward passes (tens of
# milliseconds each) dominate the measured time rather than the fork's noise.
TIMED_N, TIMED_D, BACKWARD_CALLS = 2000, 500, 5


def _inputs(rng: np.random.Generator, n: int = N, d: int = D) -> list[np.ndarray]:
    """[x (n, d), gamma (d,), beta (d,)]: x with per-feature means near 12 and scales from 1 to 5."""
    x = rng.uniform(1, 5, d) * rng.standard_normal((n, d)) + 12 + rng.standard_normal(d)
    return [x, rng.uniform(0.5, 2.0, d) * rng.choice([-1.0, 1.0], d), rng.standard_normal(d)]


# --- probes --------------------------------------------------------------------------------------


def _backward_chain(rng: np.random.Generator, backward: str, n: int = N) -> dict[str, Any]:
    """A train-mode forward pass, then ``backward`` twice on its cache; the student's numeric gradient of
    sum(dout * out) w.r.t. x."""
    x, gamma, beta = _inputs(rng, n)
    dout = rng.standard_normal((n, D))
    return {
        "steps": [
            step("fwd", "batchnorm_forward", x, gamma, beta, {"mode": "train"}),
            step("bwd", backward, dout, ref("fwd").out(1)),
            step("again", backward, dout, ref("fwd").out(1)),
        ],
        "numeric_grad": numgrad(of=("fwd", 0), wrt=("fwd", 0), weights=dout, k=NUMERIC_CHECKS),
    }


@probe("batchnorm_forward")
def bn_forward(rng):
    x, gamma, beta = _inputs(rng)
    x2, gamma2, beta2 = _inputs(rng, n=2)
    return {
        "steps": [
            step("fwd", "batchnorm_forward", x, gamma, beta, {"mode": "train"}),
            read("running_mean", ref("fwd").arg(3).item("running_mean")),
            read("running_var", ref("fwd").arg(3).item("running_var")),
            step("fwd_two", "batchnorm_forward", x2, gamma2, beta2, {"mode": "train"}),
        ],
    }


@probe("batchnorm_backward")
def bn_train(rng):
    return _backward_chain(rng, "batchnorm_backward")


@probe("batchnorm_backward")
def bn_batch_of_two(rng):
    return _backward_chain(rng, "batchnorm_backward", n=2)


@probe("batchnorm_backward_alt")
def bn_alt(rng):
    return _backward_chain(rng, "batchnorm_backward_alt")


@probe("batchnorm_backward_alt")
def bn_alt_batch_of_two(rng):
    return _backward_chain(rng, "batchnorm_backward_alt", n=2)


@probe("batchnorm_forward")
def bn_running(rng):
    gamma, beta = _inputs(rng)[1:]
    xs = [0.05 * rng.standard_normal((N, D)) + rng.standard_normal(D) for _ in range(4)]
    bn_param: dict[str, Any] = {"mode": "train", "momentum": MOMENTUM, "eps": EPS,
                                "running_mean": rng.standard_normal(D), "running_var": rng.uniform(0.5, 1.5, D)}
    bn = ref("f1").arg(3)
    return {
        "steps": [
            step("f1", "batchnorm_forward", xs[0], gamma, beta, bn_param),
            step("f2", "batchnorm_forward", xs[1], gamma, beta, bn),
            step("f3", "batchnorm_forward", xs[2], gamma, beta, bn),
            read("mean_after_train", bn.item("running_mean")),
            read("var_after_train", bn.item("running_var")),
            # The network's way to switch modes: the same dict, its mode changed.
            assign("to_test", bn, {"mode": "test"}),
            step("test", "batchnorm_forward", xs[3], gamma, beta, bn),
            step("test_one", "batchnorm_forward", xs[3][:1], gamma, beta, bn),
            read("mean_after_test", bn.item("running_mean")),
            read("var_after_test", bn.item("running_var")),
        ],
    }


def _timed(rng: np.random.Generator, backward: str) -> dict[str, Any]:
    x, gamma, beta = _inputs(rng, TIMED_N, TIMED_D)
    dout = rng.standard_normal((TIMED_N, TIMED_D))
    return {
        "steps": [
            step("fwd", "batchnorm_forward", x, gamma, beta, {"mode": "train"}),
            *(step(f"b{k}", backward, dout, ref("fwd").out(1)) for k in range(BACKWARD_CALLS)),
        ],
    }


@probe("batchnorm_backward", timed=True, timeout=15)
def bn_staged_timed(rng):
    return _timed(rng, "batchnorm_backward")


@probe("batchnorm_backward_alt", timed=True, timeout=15)
def bn_alt_timed(rng):
    return _timed(rng, "batchnorm_backward_alt")


# --- helpers -------------------------------------------------------------------------------------


def _torch_grads(x: np.ndarray, gamma: np.ndarray, beta: np.ndarray, dout: np.ndarray) -> list[np.ndarray]:
    """dx, dgamma, dbeta of train-mode batch normalization by autograd."""
    _, grads = value_and_grads(batchnorm, [x, gamma, beta, {"mode": "train"}], wrt=[0, 1, 2], dout=dout)
    return grads


def _check_backward(run, fn: str, tolerance, label: str = "") -> None:
    """Both backward calls on the probe's cache (the second one too: a cache may be used twice) against autograd."""
    x, gamma, beta, _ = run.step("fwd").args
    dout = run.step("bwd").args[0]
    expected = _torch_grads(x, gamma, beta, dout)
    for name, call in (("bwd", ""), ("again", ", called a second time on the same cache")):
        for i, (what, grad) in enumerate(zip(("dx", "dgamma", "dbeta"), expected, strict=True)):
            check_close(f"{fn}{label}{call}: {what} (against autograd)", run.step(name).returned(i), grad,
                        tolerance("gradient"))


def _check_own_numeric(run, fn: str, tolerance) -> None:
    dx = run.step("bwd").returned(0)
    check_shape(f"{fn}: dx", dx, (N, D))
    check_close(f"{fn}: dx against your own numeric gradient (centered differences of your batchnorm_forward)",
                dx[run.numeric_grad_index], run.numeric_grad, tolerance("numeric_gradient"))


# --- batchnorm_forward ---------------------------------------------------------------------------


@points(3, cell="check_batchnorm_forward")
def test_forward_train_mode(result, tolerance):
    """batchnorm_forward: train-mode output on a batch of 8 examples of 6 features (means ~12, unequal scales)
    and on a batch of two, with x, gamma and beta left as they were given."""
    run = result("bn_forward")
    for name, label in (("fwd", ""), ("fwd_two", ", a batch of two")):
        x, gamma, beta, _ = run.step(name).args
        expected, _ = batchnorm_forward(x, gamma, beta, {"mode": "train"})
        check_close(f"batchnorm_forward: out (train mode{label})", run.step(name).returned(0), expected,
                    tolerance("value"))
    for i, what in enumerate(("x", "gamma", "beta")):
        check_unmodified(f"batchnorm_forward: {what}", run.step("fwd"), i)


@points(1, cell="check_batchnorm_forward")
def test_forward_default_running_averages(result, tolerance):
    """batchnorm_forward: one train-mode call with only bn_param['mode'] set stores the running averages of the
    defaults (momentum 0.9 from zero: 0.1 * the batch mean and 0.1 * the biased batch variance)."""
    run = result("bn_forward")
    x, gamma, beta, _ = run.step("fwd").args
    expected: dict[str, Any] = {"mode": "train"}
    batchnorm_forward(x, gamma, beta, expected)
    for key in ("running_mean", "running_var"):
        got = run.step(key).returned(0)
        check_close(f"batchnorm_forward: bn_param['{key}'] after one train-mode call", got, expected[key],
                    tolerance("value"))


@points(2, cell="check_batchnorm_forward")
def test_forward_running_averages(result, tolerance):
    """batchnorm_forward: three train-mode calls passing one bn_param along (momentum 0.7, eps 1e-3, non-zero
    running averages to start from): the outputs and the running averages after them."""
    run = result("bn_running")
    bn_param = dict(run.step("f1").args[3])
    for name in ("f1", "f2", "f3"):
        x, gamma, beta, _ = run.step(name).args
        expected, _ = batchnorm_forward(x, gamma, beta, bn_param)
        check_close(f"batchnorm_forward: out of train-mode call {name[1]} (momentum 0.7, eps 1e-3)",
                    run.step(name).returned(0), expected, tolerance("value"))
    check_close("batchnorm_forward: bn_param['running_mean'] after three train-mode calls",
                run.step("mean_after_train").returned(0), bn_param["running_mean"], tolerance("value"))
    check_close("batchnorm_forward: bn_param['running_var'] after three train-mode calls",
                run.step("var_after_train").returned(0), bn_param["running_var"], tolerance("value"))


@points(2, cell="check_batchnorm_forward")
def test_forward_test_mode(result, tolerance):
    """batchnorm_forward: test mode, after three train-mode calls, normalizes with the running averages (a batch
    of one too) and leaves them unchanged."""
    run = result("bn_running")
    bn_param = dict(run.step("f1").args[3])
    for name in ("f1", "f2", "f3"):
        x, gamma, beta, _ = run.step(name).args
        batchnorm_forward(x, gamma, beta, bn_param)
    bn_param["mode"] = "test"
    for name, label in (("test", "a batch of 8"), ("test_one", "a batch of one")):
        x, gamma, beta, _ = run.step(name).args
        expected, _ = batchnorm_forward(x, gamma, beta, dict(bn_param))
        check_close(f"batchnorm_forward: out in test mode ({label})", run.step(name).returned(0), expected,
                    tolerance("value"))
    for key, name in (("running_mean", "mean"), ("running_var", "var")):
        before, after = run.step(f"{name}_after_train").returned(0), run.step(f"{name}_after_test").returned(0)
        check_true(bool(np.array_equal(before, after)),
                   f"batchnorm_forward: test mode changed bn_param['{key}'] (test mode only reads the running averages).")


# --- batchnorm_backward --------------------------------------------------------------------------


@points(4, cell="check_batchnorm_backward")
def test_backward_gradients(result, tolerance):
    """batchnorm_backward: dx, dgamma and dbeta on a batch of 8 and a batch of 2, called twice on the cache of its
    own forward pass, against autograd, with dout left as it was given."""
    _check_backward(result("bn_train"), "batchnorm_backward", tolerance)
    _check_backward(result("bn_batch_of_two"), "batchnorm_backward", tolerance, " (a batch of two)")
    check_unmodified("batchnorm_backward: dout", result("bn_train").step("bwd"), 0)


@points(2, cell="check_batchnorm_backward")
def test_backward_own_numeric_gradient(result, tolerance):
    """batchnorm_backward: dx agrees with centered differences of your own batchnorm_forward."""
    _check_own_numeric(result("bn_train"), "batchnorm_backward", tolerance)


# --- batchnorm_backward_alt ----------------------------------------------------------------------


@points(3, cell="check_batchnorm_backward_alt")
def test_alt_gradients(result, tolerance):
    """batchnorm_backward_alt: dx, dgamma and dbeta on a batch of 8 and a batch of 2, called twice on the cache of
    its own forward pass, against autograd, with dout left as it was given."""
    _check_backward(result("bn_alt"), "batchnorm_backward_alt", tolerance)
    _check_backward(result("bn_alt_batch_of_two"), "batchnorm_backward_alt", tolerance, " (a batch of two)")
    check_unmodified("batchnorm_backward_alt: dout", result("bn_alt").step("bwd"), 0)


@points(1, cell="check_batchnorm_backward_alt")
def test_alt_matches_staged(result, tolerance):
    """batchnorm_backward_alt: the same dx, dgamma and dbeta as the staged backward pass (the course's
    batchnorm_backward) to rounding, on a batch of 8."""
    run = result("bn_alt")
    x, gamma, beta, _ = run.step("fwd").args
    _, cache = batchnorm_forward(x, gamma, beta, {"mode": "train"})
    expected = batchnorm_backward(run.step("bwd").args[0], cache)
    for i, what in enumerate(("dx", "dgamma", "dbeta")):
        check_close(f"batchnorm_backward_alt: {what} against the staged backward pass", run.step("bwd").returned(i),
                    expected[i], tolerance("value"))


@points(1, cell="check_batchnorm_backward_alt")
def test_alt_speed(result, tolerance, threshold, note):
    """batchnorm_backward_alt: on a 2000 x 500 batch, not markedly slower than your batchnorm_backward (the
    speed-up is measured and reported), when its gradients are right."""
    _check_backward(result("bn_alt"), "batchnorm_backward_alt", tolerance)
    staged, alt = result("bn_staged_timed").seconds, result("bn_alt_timed").seconds
    slowest = threshold("bn_alt_max_slowdown")
    # Each timed chain is one forward pass and BACKWARD_CALLS backward passes; the forward pass is the same in both.
    speedup = staged / alt
    check_true(speedup >= 1 / slowest,
               f"batchnorm_backward_alt: a forward pass and {BACKWARD_CALLS} closed-form backward passes took "
               f"{1e3 * alt:.1f} ms, {1 / speedup:.2f} times your staged version's {1e3 * staged:.1f} ms (at most "
               f"{slowest:g} times allowed): the closed form should need fewer operations, not more.")
    note(f"forward + {BACKWARD_CALLS} backward passes: staged {1e3 * staged:.1f} ms, closed form {1e3 * alt:.1f} ms, "
         f"speed-up {speedup:.2f}x")

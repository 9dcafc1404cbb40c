"""Hidden graders of a06's spatial batch normalization: ``spatial_batchnorm_forward`` and
``spatial_batchnorm_backward``.

Why these checks: the inputs have channels with different means (about 10 + 3c) and scales (1 to 4)
and N, C, H, W all different, so statistics over the wrong axes, or a reshape that mixes channels
(``x.reshape(-1, C)`` without moving C last), cannot pass. The running averages are followed as a
network uses them: three train-mode calls passing one ``bn_param`` along (non-default momentum and
eps, non-zero running averages to start from), then test mode on the same dict, which must use the
running averages and leave them alone. The backward pass runs twice on one train-mode cache and is
compared with torch autograd and with the student's own centered differences. Property checks count
only with correct values.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from pipelines.grade.api import assign, check_close, check_true, check_unmodified, numgrad, points, probe, read, ref, step
from reference.numpy import spatial_batchnorm_forward
from reference.torch import spatial_batchnorm
from reference.torch.autograd import value_and_grads

SHAPE = (3, 4, 2, 5)  # N, C, H, W
MOMENTUM, EPS = 0.8, 1e-3
NUMERIC_CHECKS = 10


def _inputs(rng: np.random.Generator, shape: tuple[int, ...] = SHAPE) -> list[np.ndarray]:
    """[x, gamma, beta]: channel c of x has mean about 10 + 3c and scale between 1 and 4."""
    n, c, h, w = shape
    scale, mean = rng.uniform(1, 4, c), 10 + 3 * np.arange(c) + rng.standard_normal(c)
    x = scale[None, :, None, None] * rng.standard_normal(shape) + mean[None, :, None, None]
    return [x, rng.uniform(0.5, 2.0, c) * rng.choice([-1.0, 1.0], c), rng.standard_normal(c)]


@probe("spatial_batchnorm_forward")
def sbn_forward(rng):
    x, gamma, beta = _inputs(rng)
    return {"steps": [step("fwd", "spatial_batchnorm_forward", x, gamma, beta, {"mode": "train"}),
                      read("running_mean", ref("fwd").arg(3).item("running_mean")),
                      read("running_var", ref("fwd").arg(3).item("running_var"))]}


@probe("spatial_batchnorm_forward")
def sbn_running(rng):
    _, gamma, beta = _inputs(rng)
    xs = [_inputs(rng)[0] for _ in range(4)]
    c = SHAPE[1]
    bn_param: dict[str, Any] = {"mode": "train", "momentum": MOMENTUM, "eps": EPS,
                                "running_mean": 10 + rng.standard_normal(c), "running_var": rng.uniform(1, 5, c)}
    bn = ref("f1").arg(3)
    return {"steps": [step("f1", "spatial_batchnorm_forward", xs[0], gamma, beta, bn_param),
                      step("f2", "spatial_batchnorm_forward", xs[1], gamma, beta, bn),
                      step("f3", "spatial_batchnorm_forward", xs[2], gamma, beta, bn),
                      read("mean_after_train", bn.item("running_mean")),
                      read("var_after_train", bn.item("running_var")),
                      assign("to_test", bn, {"mode": "test"}),
                      step("test", "spatial_batchnorm_forward", xs[3], gamma, beta, bn),
                      read("mean_after_test", bn.item("running_mean")),
                      read("var_after_test", bn.item("running_var"))]}


@probe("spatial_batchnorm_backward")
def sbn_backward(rng):
    x, gamma, beta = _inputs(rng)
    dout = rng.standard_normal(SHAPE)
    return {"steps": [step("fwd", "spatial_batchnorm_forward", x, gamma, beta, {"mode": "train"}),
                      step("bwd", "spatial_batchnorm_backward", dout, ref("fwd").out(1)),
                      step("again", "spatial_batchnorm_backward", dout, ref("fwd").out(1))],
            "numeric_grad": numgrad(of=("fwd", 0), wrt=("fwd", 0), weights=dout, k=NUMERIC_CHECKS)}


def _check_train_output(run, tolerance) -> None:
    x, gamma, beta, _ = run.step("fwd").args
    expected, _ = spatial_batchnorm_forward(x, gamma, beta, {"mode": "train"})
    check_close("spatial_batchnorm_forward: out in train mode (statistics per channel over N, H and W)",
                run.step("fwd").returned(0), expected, tolerance("value"))


def _running_expected(run) -> tuple[dict[str, Any], list[np.ndarray]]:
    """The reference's bn_param after the three train-mode calls, and its test-mode output."""
    bn_param = dict(run.step("f1").args[3])
    for name in ("f1", "f2", "f3"):
        x, gamma, beta, _ = run.step(name).args
        spatial_batchnorm_forward(x, gamma, beta, bn_param)
    after_train = dict(bn_param)
    bn_param["mode"] = "test"
    x, gamma, beta, _ = run.step("test").args
    return after_train, [spatial_batchnorm_forward(x, gamma, beta, bn_param)[0]]


def _check_running(run, tolerance) -> None:
    bn_param = dict(run.step("f1").args[3])
    for name in ("f1", "f2", "f3"):
        x, gamma, beta, _ = run.step(name).args
        expected, _ = spatial_batchnorm_forward(x, gamma, beta, bn_param)
        check_close(f"spatial_batchnorm_forward: out of train-mode call {name[1]} (momentum 0.8, eps 1e-3)",
                    run.step(name).returned(0), expected, tolerance("value"))
    for key, name in (("running_mean", "mean_after_train"), ("running_var", "var_after_train")):
        check_close(f"spatial_batchnorm_forward: bn_param['{key}'] after three train-mode calls",
                    run.step(name).returned(0), bn_param[key], tolerance("value"))
    after_train, (test_out,) = _running_expected(run)
    check_close("spatial_batchnorm_forward: out in test mode (with the running averages)",
                run.step("test").returned(0), test_out, tolerance("value"))


@points(2, cell="check_spatial_batchnorm")
def test_forward_train(result, tolerance):
    """spatial_batchnorm_forward: train-mode output on channels with different means and scales, and the running
    averages one call stores from the defaults (momentum 0.9, zero to start)."""
    run = result("sbn_forward")
    _check_train_output(run, tolerance)
    x, gamma, beta, _ = run.step("fwd").args
    expected: dict[str, Any] = {"mode": "train"}
    spatial_batchnorm_forward(x, gamma, beta, expected)
    for key in ("running_mean", "running_var"):
        check_close(f"spatial_batchnorm_forward: bn_param['{key}'] after one train-mode call (one entry per channel)",
                    run.step(key).returned(0), expected[key], tolerance("value"))


@points(2, cell="check_spatial_batchnorm")
def test_forward_running_averages_and_test_mode(result, tolerance):
    """spatial_batchnorm_forward: three train-mode calls passing one bn_param along (momentum 0.8, eps 1e-3,
    non-zero running averages to start from), the running averages after them, then test mode on that dict."""
    _check_running(result("sbn_running"), tolerance)


@points(1, cell="check_spatial_batchnorm")
def test_test_mode_keeps_running_averages(result, tolerance):
    """spatial_batchnorm_forward: test mode leaves the running averages unchanged (counted with correct values)."""
    run = result("sbn_running")
    _check_running(run, tolerance)
    for key, name in (("running_mean", "mean"), ("running_var", "var")):
        before, after = run.step(f"{name}_after_train").returned(0), run.step(f"{name}_after_test").returned(0)
        check_true(bool(np.array_equal(before, after)),
                   f"spatial_batchnorm_forward: test mode changed bn_param['{key}'] (it only reads the running averages).")


def _check_backward(run, tolerance) -> None:
    x, gamma, beta, _ = run.step("fwd").args
    dout = run.step("bwd").args[0]
    _, grads = value_and_grads(spatial_batchnorm, [x, gamma, beta, {"mode": "train"}], wrt=[0, 1, 2], dout=dout)
    for name, call in (("bwd", ""), ("again", ", called a second time on the same cache")):
        for i, (what, grad) in enumerate(zip(("dx", "dgamma", "dbeta"), grads, strict=True)):
            check_close(f"spatial_batchnorm_backward{call}: {what} against autograd", run.step(name).returned(i),
                        grad, tolerance("gradient"))


@points(3, cell="check_spatial_batchnorm")
def test_backward_gradients(result, tolerance):
    """spatial_batchnorm_backward: dx, dgamma and dbeta of both calls on the cache of one train-mode forward pass,
    against autograd."""
    _check_backward(result("sbn_backward"), tolerance)


@points(1, cell="check_spatial_batchnorm")
def test_backward_own_numeric_gradient(result, tolerance):
    """spatial_batchnorm_backward: dx agrees with centered differences of your own spatial_batchnorm_forward."""
    run = result("sbn_backward")
    check_close("spatial_batchnorm_backward: dx against your own numeric gradient (centered differences of your "
                "spatial_batchnorm_forward)", run.step("bwd").returned(0)[run.numeric_grad_index], run.numeric_grad,
                tolerance("numeric_gradient"))


@points(1, cell="check_spatial_batchnorm")
def test_leaves_inputs(result, tolerance):
    """spatial_batchnorm_forward, spatial_batchnorm_backward: x, gamma, beta and dout are left as they were given
    (counted with correct values and gradients)."""
    run = result("sbn_backward")
    _check_train_output(run, tolerance)
    _check_backward(run, tolerance)
    for i, what in enumerate(("x", "gamma", "beta")):
        check_unmodified(f"spatial_batchnorm_forward: {what}", run.step("fwd"), i)
    for name in ("bwd", "again"):
        check_unmodified("spatial_batchnorm_backward: dout", run.step(name), 0)

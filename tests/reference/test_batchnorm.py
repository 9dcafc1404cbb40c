"""Checks of reference/numpy/bn_layers.py and the affine_bn_relu sandwich: normalization in train
mode, the book's running statistics (momentum 0.9, biased variance) and their use in test mode,
both backward passes against numeric gradients and torch autograd, and the spatial form."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from gradcheck import eval_numerical_gradient_array, rel_error
from reference.numpy.bn_layers import (
    batchnorm_backward,
    batchnorm_backward_alt,
    batchnorm_forward,
    spatial_batchnorm_backward,
    spatial_batchnorm_forward,
)
from reference.numpy.layer_utils import affine_bn_relu_backward, affine_bn_relu_forward
from reference.torch import bn_layers as t_bn
from reference.torch import layer_utils as t_layer_utils
from reference.torch.autograd import to_numpy, value_and_grads
from tests.reference.conftest import TOL_EXACT, TOL_NUMERIC_GRAD

TOL64 = TOL_EXACT[np.float64]
BACKWARDS = [batchnorm_backward, batchnorm_backward_alt]
BACKWARD_IDS = ["graph", "alt"]


def _two_layer_activations(rng: np.random.Generator, w1: np.ndarray, w2: np.ndarray, n: int) -> np.ndarray:
    """The book's BN test data: ``relu(X @ W1) @ W2`` for a fresh ``X ~ randn(n, D1)``."""
    return np.maximum(0, rng.standard_normal((n, w1.shape[0])) @ w1) @ w2


def test_train_mode_normalizes_then_scales_and_shifts(rng: np.random.Generator) -> None:
    """The book's check (seed-003 part 2, section 2.5): means -> beta, stds -> gamma (up to eps)."""
    w1, w2 = rng.standard_normal((50, 60)), rng.standard_normal((60, 3))
    a = _two_layer_activations(rng, w1, w2, 200)
    gamma, beta = np.array([1.0, 2.0, 3.0]), np.array([11.0, 12.0, 13.0])
    out, _ = batchnorm_forward(a, gamma, beta, {"mode": "train"})
    np.testing.assert_allclose(out.mean(axis=0), beta, rtol=1e-12)
    expected_std = gamma * np.sqrt(a.var(axis=0) / (a.var(axis=0) + 1e-5))
    np.testing.assert_allclose(out.std(axis=0), expected_std, rtol=1e-10)


def test_running_statistics_follow_the_book_formula(rng: np.random.Generator) -> None:
    """running = 0.9 * running + 0.1 * batch, with the BIASED batch variance, from zeros."""
    param = {"mode": "train"}
    gamma, beta = np.ones(4), np.zeros(4)
    expected_mean, expected_var = np.zeros(4), np.zeros(4)
    for _ in range(3):
        x = 3 * rng.standard_normal((16, 4)) + 5
        batchnorm_forward(x, gamma, beta, param)
        expected_mean = 0.9 * expected_mean + 0.1 * x.mean(axis=0)
        expected_var = 0.9 * expected_var + 0.1 * x.var(axis=0)
    np.testing.assert_allclose(param["running_mean"], expected_mean, rtol=1e-12)
    np.testing.assert_allclose(param["running_var"], expected_var, rtol=1e-12)


def test_running_mean_matches_torch_batchnorm1d(rng: np.random.Generator) -> None:
    """torch's BatchNorm1d(momentum=0.1) keeps the same running mean (its variance is unbiased)."""
    param = {"mode": "train", "momentum": 0.9}
    bn = torch.nn.BatchNorm1d(6, momentum=0.1, dtype=torch.float64)
    for _ in range(5):
        x = rng.standard_normal((10, 6)) + 2
        batchnorm_forward(x, np.ones(6), np.zeros(6), param)
        bn(torch.from_numpy(x))
    np.testing.assert_allclose(param["running_mean"], bn.running_mean.numpy(), rtol=1e-12)


def test_test_mode_after_many_train_batches(rng: np.random.Generator) -> None:
    """The book's test-mode check: 50 train batches, then a fresh batch in test mode.

    The running statistics estimate the population, so the output's mean and std approach beta
    and gamma; the book printed means within 0.23 of 0 and stds within 0.07 of 1, and the bounds
    here are looser than that for sampling noise.
    """
    w1, w2 = rng.standard_normal((50, 60)), rng.standard_normal((60, 3))
    gamma, beta = np.array([1.0, 2.0, 3.0]), np.array([-1.0, 0.0, 4.0])
    param = {"mode": "train"}
    for _ in range(50):
        batchnorm_forward(_two_layer_activations(rng, w1, w2, 200), gamma, beta, param)
    param["mode"] = "test"
    running_mean = param["running_mean"].copy()
    out, _ = batchnorm_forward(_two_layer_activations(rng, w1, w2, 200), gamma, beta, param)
    np.testing.assert_array_equal(param["running_mean"], running_mean)  # test mode does not update
    assert np.all(np.abs(out.mean(axis=0) - beta) < 0.3 * gamma)
    assert np.all(np.abs(out.std(axis=0) / gamma - 1) < 0.2)


def test_test_mode_uses_running_statistics_exactly(rng: np.random.Generator) -> None:
    x = rng.standard_normal((7, 3))
    gamma, beta = rng.standard_normal(3), rng.standard_normal(3)
    rm, rv = rng.standard_normal(3), rng.random(3) + 0.5
    out, _ = batchnorm_forward(x, gamma, beta, {"mode": "test", "running_mean": rm, "running_var": rv, "eps": 1e-3})
    np.testing.assert_allclose(out, gamma * (x - rm) / np.sqrt(rv + 1e-3) + beta, rtol=1e-13)


def test_bad_mode_is_rejected() -> None:
    with pytest.raises(ValueError):
        batchnorm_forward(np.ones((2, 2)), np.ones(2), np.zeros(2), {"mode": "eval"})


@pytest.mark.parametrize("mode", ["train", "test"])
@pytest.mark.parametrize("backward", BACKWARDS, ids=BACKWARD_IDS)
def test_backward_numeric_gradient(backward, mode: str, rng: np.random.Generator) -> None:
    """The book's setup (section 2.6): N, D = 4, 5, x = 5 randn + 12."""
    x = 5 * rng.standard_normal((4, 5)) + 12
    gamma, beta, dout = rng.standard_normal(5), rng.standard_normal(5), rng.standard_normal((4, 5))
    stats = {"running_mean": rng.standard_normal(5) + 12, "running_var": rng.random(5) * 20 + 5}

    def param() -> dict:
        return {"mode": mode, **{k: v.copy() for k, v in stats.items()}}

    _, cache = batchnorm_forward(x, gamma, beta, param())
    dx, dgamma, dbeta = backward(dout, cache)
    assert (dx.shape, dgamma.shape, dbeta.shape) == ((4, 5), (5,), (5,))
    num = {
        "dx": eval_numerical_gradient_array(lambda v: batchnorm_forward(v, gamma, beta, param())[0], x, dout),
        "dgamma": eval_numerical_gradient_array(lambda v: batchnorm_forward(x, v, beta, param())[0], gamma, dout),
        "dbeta": eval_numerical_gradient_array(lambda v: batchnorm_forward(x, gamma, v, param())[0], beta, dout),
    }
    for name, g in zip(("dx", "dgamma", "dbeta"), (dx, dgamma, dbeta)):
        assert rel_error(g, num[name]) < TOL_NUMERIC_GRAD, name


def test_graph_and_closed_form_backward_agree(rng: np.random.Generator) -> None:
    """The book's comparison (section 2.7): N, D = 100, 500."""
    x = 5 * rng.standard_normal((100, 500)) + 12
    gamma, beta, dout = rng.standard_normal(500), rng.standard_normal(500), rng.standard_normal((100, 500))
    _, cache = batchnorm_forward(x, gamma, beta, {"mode": "train"})
    graph, alt = batchnorm_backward(dout, cache), batchnorm_backward_alt(dout, cache)
    for name, a, b in zip(("dx", "dgamma", "dbeta"), graph, alt):
        assert rel_error(a, b) < TOL64, name


@pytest.mark.parametrize("backward", BACKWARDS, ids=BACKWARD_IDS)
def test_matches_torch_in_train_mode(backward, rng: np.random.Generator, device: str) -> None:
    x = 2 * rng.standard_normal((12, 6)) + 1
    gamma, beta, dout = rng.standard_normal(6), rng.standard_normal(6), rng.standard_normal((12, 6))
    start = {"mode": "train", "running_mean": rng.standard_normal(6), "running_var": rng.random(6)}
    np_param, t_param = dict(start), dict(start)
    out, cache = batchnorm_forward(x, gamma, beta, np_param)
    t_out, t_grads = value_and_grads(t_bn.batchnorm, [x, gamma, beta, t_param], wrt=[0, 1, 2], dout=dout, device=device)
    assert rel_error(out, t_out) < TOL64
    for name, g, tg in zip(("dx", "dgamma", "dbeta"), backward(dout, cache), t_grads):
        assert rel_error(g, tg) < TOL64, name
    for key in ("running_mean", "running_var"):
        assert rel_error(np_param[key], to_numpy(t_param[key])) < TOL64, key


def test_matches_torch_in_test_mode(rng: np.random.Generator, device: str) -> None:
    x = rng.standard_normal((9, 4))
    gamma, beta, dout = rng.standard_normal(4), rng.standard_normal(4), rng.standard_normal((9, 4))
    param = {"mode": "test", "running_mean": rng.standard_normal(4), "running_var": rng.random(4) + 0.1}
    out, cache = batchnorm_forward(x, gamma, beta, dict(param))
    t_out, t_grads = value_and_grads(
        t_bn.batchnorm, [x, gamma, beta, dict(param)], wrt=[0, 1, 2], dout=dout, device=device
    )
    assert rel_error(out, t_out) < TOL64
    for name, g, tg in zip(("dx", "dgamma", "dbeta"), batchnorm_backward(dout, cache), t_grads):
        assert rel_error(g, tg) < TOL64, name


def test_spatial_train_mode_statistics_per_channel(rng: np.random.Generator) -> None:
    """The book's check (section 4.8): means over (N, H, W) -> beta, stds -> gamma."""
    x = 4 * rng.standard_normal((2, 3, 4, 5)) + 10
    gamma, beta = np.array([3.0, 4.0, 5.0]), np.array([6.0, 7.0, 8.0])
    param = {"mode": "train"}
    out, _ = spatial_batchnorm_forward(x, gamma, beta, param)
    assert out.shape == x.shape
    np.testing.assert_allclose(out.mean(axis=(0, 2, 3)), beta, rtol=1e-12)
    var = x.var(axis=(0, 2, 3))
    np.testing.assert_allclose(out.std(axis=(0, 2, 3)), gamma * np.sqrt(var / (var + 1e-5)), rtol=1e-10)
    np.testing.assert_allclose(param["running_mean"], 0.1 * x.mean(axis=(0, 2, 3)), rtol=1e-12)
    np.testing.assert_allclose(param["running_var"], 0.1 * var, rtol=1e-12)


def test_spatial_test_mode_after_many_train_batches(rng: np.random.Generator) -> None:
    """The book's check: N, C, H, W = 10, 4, 11, 12, x = 2.3 randn + 13, 50 train batches, then test."""
    gamma, beta = np.ones(4), np.zeros(4)
    param = {"mode": "train"}
    for _ in range(50):
        spatial_batchnorm_forward(2.3 * rng.standard_normal((10, 4, 11, 12)) + 13, gamma, beta, param)
    param["mode"] = "test"
    out, _ = spatial_batchnorm_forward(2.3 * rng.standard_normal((10, 4, 11, 12)) + 13, gamma, beta, param)
    assert np.all(np.abs(out.mean(axis=(0, 2, 3))) < 0.15)
    assert np.all(np.abs(out.std(axis=(0, 2, 3)) - 1) < 0.1)


def test_spatial_backward_numeric_gradient(rng: np.random.Generator) -> None:
    """The book's setup: N, C, H, W = 2, 3, 4, 5, x = 5 randn + 12."""
    x = 5 * rng.standard_normal((2, 3, 4, 5)) + 12
    gamma, beta, dout = rng.standard_normal(3), rng.standard_normal(3), rng.standard_normal((2, 3, 4, 5))
    _, cache = spatial_batchnorm_forward(x, gamma, beta, {"mode": "train"})
    dx, dgamma, dbeta = spatial_batchnorm_backward(dout, cache)
    assert (dx.shape, dgamma.shape, dbeta.shape) == (x.shape, (3,), (3,))
    args = {"x": x, "gamma": gamma, "beta": beta}
    for (name, arr), g in zip(args.items(), (dx, dgamma, dbeta)):

        def f(v, name=name):
            return spatial_batchnorm_forward(**{**args, name: v}, bn_param={"mode": "train"})[0]

        assert rel_error(g, eval_numerical_gradient_array(f, arr, dout)) < TOL_NUMERIC_GRAD, name


@pytest.mark.parametrize("mode", ["train", "test"])
def test_spatial_matches_torch(mode: str, rng: np.random.Generator, device: str) -> None:
    x = 3 * rng.standard_normal((3, 2, 4, 5)) - 1
    gamma, beta, dout = rng.standard_normal(2), rng.standard_normal(2), rng.standard_normal(x.shape)
    start = {"mode": mode, "running_mean": rng.standard_normal(2), "running_var": rng.random(2) + 0.1}
    np_param, t_param = dict(start), dict(start)
    out, cache = spatial_batchnorm_forward(x, gamma, beta, np_param)
    t_out, t_grads = value_and_grads(
        t_bn.spatial_batchnorm, [x, gamma, beta, t_param], wrt=[0, 1, 2], dout=dout, device=device
    )
    assert rel_error(out, t_out) < TOL64
    for name, g, tg in zip(("dx", "dgamma", "dbeta"), spatial_batchnorm_backward(dout, cache), t_grads):
        assert rel_error(g, tg) < TOL64, name
    for key in ("running_mean", "running_var"):
        assert rel_error(np_param[key], to_numpy(t_param[key])) < TOL64, key


def test_affine_bn_relu_numeric_gradient(rng: np.random.Generator) -> None:
    x = rng.standard_normal((6, 2, 3))
    w = rng.standard_normal((6, 4))
    b, gamma, beta = rng.standard_normal(4), rng.standard_normal(4), rng.standard_normal(4)
    dout = rng.standard_normal((6, 4))
    args = {"x": x, "w": w, "b": b, "gamma": gamma, "beta": beta}
    _, cache = affine_bn_relu_forward(**args, bn_param={"mode": "train"})
    grads = affine_bn_relu_backward(dout, cache)
    for (name, arr), g in zip(args.items(), grads):

        def f(v, name=name):
            return affine_bn_relu_forward(**{**args, name: v}, bn_param={"mode": "train"})[0]

        num = eval_numerical_gradient_array(f, arr, dout)
        if name == "b":
            # A bias right before batchnorm is cancelled by the mean subtraction: its gradient is 0.
            assert np.max(np.abs(g)) < 1e-12 and np.max(np.abs(num)) < 1e-8
        else:
            assert rel_error(g, num) < TOL_NUMERIC_GRAD, name


def test_affine_bn_relu_matches_torch(rng: np.random.Generator, device: str) -> None:
    x = rng.standard_normal((8, 5))
    w = rng.standard_normal((5, 4))
    b, gamma, beta = rng.standard_normal(4), rng.standard_normal(4), rng.standard_normal(4)
    dout = rng.standard_normal((8, 4))
    out, cache = affine_bn_relu_forward(x, w, b, gamma, beta, {"mode": "train"})
    dx, dw, _, dgamma, dbeta = affine_bn_relu_backward(dout, cache)
    t_out, t_grads = value_and_grads(
        t_layer_utils.affine_bn_relu,
        [x, w, b, gamma, beta, {"mode": "train"}],
        wrt=[0, 1, 3, 4],
        dout=dout,
        device=device,
    )
    assert rel_error(out, t_out) < TOL64
    for name, g, tg in zip(("dx", "dw", "dgamma", "dbeta"), (dx, dw, dgamma, dbeta), t_grads):
        assert rel_error(g, tg) < TOL64, name

"""reference.numpy.cnn_layers against the book's fixed values, torch autograd and numeric gradients.

Naive and fast versions must agree with each other and with ``F.conv2d`` / ``F.max_pool2d`` on every
shape a grader may probe: strides 1-3, non-square inputs and kernels, pad 0-2, non-tiling and
overlapping pooling windows, ties in pooling windows.
"""

from __future__ import annotations

import numpy as np
import pytest

from gradcheck import eval_numerical_gradient_array, rel_error
from reference.numpy.cnn_layers import (
    conv_backward_fast,
    conv_backward_naive,
    conv_forward_fast,
    conv_forward_naive,
    conv_relu_backward,
    conv_relu_forward,
    conv_relu_pool_backward,
    conv_relu_pool_forward,
    max_pool_backward_fast,
    max_pool_backward_naive,
    max_pool_forward_fast,
    max_pool_forward_naive,
)
from reference.torch import cnn_layers as tcnn
from reference.torch.autograd import value_and_grads
from tests.reference.conftest import TOL_EXACT, TOL_NUMERIC_GRAD

TOL = TOL_EXACT[np.float64]

CONV = {"naive": (conv_forward_naive, conv_backward_naive), "fast": (conv_forward_fast, conv_backward_fast)}
POOL = {
    "naive": (max_pool_forward_naive, max_pool_backward_naive),
    "fast": (max_pool_forward_fast, max_pool_backward_fast),
}

# (x shape, w shape, stride, pad)
CONV_CASES = [
    ((2, 3, 4, 4), (3, 3, 4, 4), 2, 1),
    ((3, 2, 8, 8), (5, 2, 3, 3), 1, 0),
    ((2, 3, 7, 9), (4, 3, 3, 2), 2, 1),
    ((2, 3, 5, 6), (2, 3, 1, 1), 1, 2),
    ((2, 1, 9, 7), (3, 1, 4, 3), 3, 2),
    ((1, 4, 6, 5), (2, 4, 5, 5), 1, 2),
]
# (x shape, pool_height, pool_width, stride)
POOL_CASES = [
    ((2, 3, 8, 8), 2, 2, 2),
    ((2, 3, 9, 7), 3, 3, 2),
    ((2, 2, 7, 10), 2, 3, 1),
    ((1, 2, 10, 11), 3, 2, 3),
    ((2, 2, 5, 5), 2, 2, 2),
]


def _pool_param(ph: int, pw: int, stride: int) -> dict[str, int]:
    return {"pool_height": ph, "pool_width": pw, "stride": stride}


def test_conv_forward_book_values():
    """The book's fixed-input test (seed-003-part2 §4.1): printed to 8 digits, so ~1e-8 agreement."""
    x_shape, w_shape = (2, 3, 4, 4), (3, 3, 4, 4)
    x = np.linspace(-0.1, 0.5, num=np.prod(x_shape)).reshape(x_shape)
    w = np.linspace(-0.2, 0.3, num=np.prod(w_shape)).reshape(w_shape)
    b = np.linspace(-0.1, 0.2, num=3)
    correct_out = np.array(
        [
            [
                [[-0.08759809, -0.10987781], [-0.18387192, -0.2109216]],
                [[0.21027089, 0.21661097], [0.22847626, 0.23004637]],
                [[0.50813986, 0.54309974], [0.64082444, 0.67101435]],
            ],
            [
                [[-0.98053589, -1.03143541], [-1.19128892, -1.24695841]],
                [[0.69108355, 0.66880383], [0.59480972, 0.56776003]],
                [[2.36270298, 2.36904306], [2.38090835, 2.38247847]],
            ],
        ]
    )
    for forward, _ in CONV.values():
        out, _ = forward(x, w, b, {"stride": 2, "pad": 1})
        assert out.shape == (2, 3, 2, 2)
        assert rel_error(out, correct_out) < 1e-7


def test_max_pool_forward_book_values():
    """The book's fixed-input test (seed-003-part2 §4.3)."""
    x_shape = (2, 3, 4, 4)
    x = np.linspace(-0.3, 0.4, num=np.prod(x_shape)).reshape(x_shape)
    correct_out = np.array(
        [
            [
                [[-0.26315789, -0.24842105], [-0.20421053, -0.18947368]],
                [[-0.14526316, -0.13052632], [-0.08631579, -0.07157895]],
                [[-0.02736842, -0.01263158], [0.03157895, 0.04631579]],
            ],
            [
                [[0.09052632, 0.10526316], [0.14947368, 0.16421053]],
                [[0.20842105, 0.22315789], [0.26736842, 0.28210526]],
                [[0.32631579, 0.34105263], [0.38526316, 0.4]],
            ],
        ]
    )
    for forward, _ in POOL.values():
        out, _ = forward(x, _pool_param(2, 2, 2))
        assert rel_error(out, correct_out) < 1e-7


def test_max_pool_tutorial_golden_vectors():
    """deeplearning.net's max_pool_2d example (seed-000_002 §6.3), ignore_border=True = floor sizes."""
    x = np.random.RandomState(1).rand(3, 2, 5, 5)
    expected = np.array([[0.72032449, 0.39676747], [0.6852195, 0.87811744]])
    for forward, _ in POOL.values():
        out, _ = forward(x, _pool_param(2, 2, 2))
        assert out.shape == (3, 2, 2, 2)
        assert rel_error(out[0, 0], expected) < 1e-7


@pytest.mark.parametrize("x_shape,w_shape,stride,pad", CONV_CASES)
def test_conv_matches_torch(x_shape, w_shape, stride, pad, device, rng):
    x, w, b = rng.standard_normal(x_shape), rng.standard_normal(w_shape), rng.standard_normal(w_shape[0])
    conv_param = {"stride": stride, "pad": pad}
    h_out = 1 + (x_shape[2] + 2 * pad - w_shape[2]) // stride
    w_out = 1 + (x_shape[3] + 2 * pad - w_shape[3]) // stride
    dout = rng.standard_normal((x_shape[0], w_shape[0], h_out, w_out))
    out_t, grads_t = value_and_grads(tcnn.conv, [x, w, b, conv_param], [0, 1, 2], dout=dout, device=device)
    for name, (forward, backward) in CONV.items():
        out, cache = forward(x, w, b, conv_param)
        assert out.shape == out_t.shape and out.dtype == np.float64, name
        assert rel_error(out, out_t) < TOL, name
        for grad, grad_t, arg in zip(backward(dout, cache), grads_t, (x, w, b)):
            assert grad.shape == arg.shape, name
            assert rel_error(grad, grad_t) < TOL, name


@pytest.mark.parametrize("x_shape,ph,pw,stride", POOL_CASES)
def test_max_pool_matches_torch(x_shape, ph, pw, stride, device, rng):
    x = rng.standard_normal(x_shape)
    pool_param = _pool_param(ph, pw, stride)
    out_shape = (*x_shape[:2], 1 + (x_shape[2] - ph) // stride, 1 + (x_shape[3] - pw) // stride)
    dout = rng.standard_normal(out_shape)
    out_t, (dx_t,) = value_and_grads(tcnn.max_pool, [x, pool_param], [0], dout=dout, device=device)
    for name, (forward, backward) in POOL.items():
        out, cache = forward(x, pool_param)
        assert out.shape == out_shape, name
        assert rel_error(out, out_t) < TOL, name
        assert rel_error(backward(dout, cache), dx_t) < TOL, name


@pytest.mark.parametrize("x_shape,ph,pw,stride", POOL_CASES)
def test_max_pool_ties_go_to_first_max(x_shape, ph, pw, stride, device, rng):
    """Small integers make ties in most windows; the gradient goes to the first max, as in torch."""
    x = rng.integers(0, 3, size=x_shape).astype(np.float64)
    pool_param = _pool_param(ph, pw, stride)
    out_shape = (*x_shape[:2], 1 + (x_shape[2] - ph) // stride, 1 + (x_shape[3] - pw) // stride)
    dout = rng.standard_normal(out_shape)
    _, (dx_t,) = value_and_grads(tcnn.max_pool, [x, pool_param], [0], dout=dout, device=device)
    for name, (forward, backward) in POOL.items():
        _, cache = forward(x, pool_param)
        dx = backward(dout, cache)
        assert rel_error(dx, dx_t) < TOL, name
        assert np.count_nonzero(dx) <= dout.size, name


@pytest.mark.parametrize("name", CONV)
@pytest.mark.parametrize("stride,pad", [(1, 1), (2, 0), (2, 2)])
def test_conv_numeric_gradient(name, stride, pad, rng):
    forward, backward = CONV[name]
    x, w, b = rng.standard_normal((2, 3, 5, 5)), rng.standard_normal((2, 3, 3, 3)), rng.standard_normal(2)
    conv_param = {"stride": stride, "pad": pad}
    out, cache = forward(x, w, b, conv_param)
    dout = rng.standard_normal(out.shape)
    dx, dw, db = backward(dout, cache)
    dx_num = eval_numerical_gradient_array(lambda v: forward(v, w, b, conv_param)[0], x, dout)
    dw_num = eval_numerical_gradient_array(lambda v: forward(x, v, b, conv_param)[0], w, dout)
    db_num = eval_numerical_gradient_array(lambda v: forward(x, w, v, conv_param)[0], b, dout)
    assert rel_error(dx, dx_num) < TOL_NUMERIC_GRAD
    assert rel_error(dw, dw_num) < TOL_NUMERIC_GRAD
    assert rel_error(db, db_num) < TOL_NUMERIC_GRAD


@pytest.mark.parametrize("name", POOL)
@pytest.mark.parametrize("ph,pw,stride", [(2, 2, 2), (3, 2, 1)])
def test_max_pool_numeric_gradient(name, ph, pw, stride, rng):
    forward, backward = POOL[name]
    x = rng.standard_normal((3, 2, 8, 7))
    pool_param = _pool_param(ph, pw, stride)
    out, cache = forward(x, pool_param)
    dout = rng.standard_normal(out.shape)
    dx_num = eval_numerical_gradient_array(lambda v: forward(v, pool_param)[0], x, dout)
    assert rel_error(backward(dout, cache), dx_num) < TOL_NUMERIC_GRAD


def test_conv_relu_matches_torch(device, rng):
    x, w, b = rng.standard_normal((2, 3, 6, 6)), rng.standard_normal((4, 3, 3, 3)), rng.standard_normal(4)
    conv_param = {"stride": 1, "pad": 1}
    out, cache = conv_relu_forward(x, w, b, conv_param)
    dout = rng.standard_normal(out.shape)
    out_t, grads_t = value_and_grads(tcnn.conv_relu, [x, w, b, conv_param], [0, 1, 2], dout=dout, device=device)
    assert rel_error(out, out_t) < TOL
    for grad, grad_t in zip(conv_relu_backward(dout, cache), grads_t):
        assert rel_error(grad, grad_t) < TOL


def test_conv_relu_pool_book_check(device, rng):
    """The book's sandwich check (seed-003-part2 §4.6) against numeric gradients and torch."""
    x, w, b = rng.standard_normal((2, 3, 16, 16)), rng.standard_normal((3, 3, 3, 3)), rng.standard_normal(3)
    conv_param, pool_param = {"stride": 1, "pad": 1}, _pool_param(2, 2, 2)
    dout = rng.standard_normal((2, 3, 8, 8))
    out, cache = conv_relu_pool_forward(x, w, b, conv_param, pool_param)
    assert out.shape == dout.shape
    grads = conv_relu_pool_backward(dout, cache)
    out_t, grads_t = value_and_grads(
        tcnn.conv_relu_pool, [x, w, b, conv_param, pool_param], [0, 1, 2], dout=dout, device=device
    )
    assert rel_error(out, out_t) < TOL
    for grad, grad_t in zip(grads, grads_t):
        assert rel_error(grad, grad_t) < TOL
    numeric = [
        eval_numerical_gradient_array(lambda v: conv_relu_pool_forward(v, w, b, conv_param, pool_param)[0], x, dout),
        eval_numerical_gradient_array(lambda v: conv_relu_pool_forward(x, v, b, conv_param, pool_param)[0], w, dout),
        eval_numerical_gradient_array(lambda v: conv_relu_pool_forward(x, w, v, conv_param, pool_param)[0], b, dout),
    ]
    for grad, grad_num in zip(grads, numeric):
        assert rel_error(grad, grad_num) < 1e-5


def test_fast_layers_keep_float32(rng):
    x = rng.standard_normal((2, 3, 8, 8)).astype(np.float32)
    w = rng.standard_normal((4, 3, 3, 3)).astype(np.float32)
    b = np.zeros(4, dtype=np.float32)
    out, cache = conv_forward_fast(x, w, b, {"stride": 1, "pad": 1})
    assert out.dtype == np.float32
    assert all(g.dtype == np.float32 for g in conv_backward_fast(np.ones_like(out), cache))
    pooled, pool_cache = max_pool_forward_fast(out, _pool_param(2, 2, 2))
    assert pooled.dtype == np.float32
    assert max_pool_backward_fast(np.ones_like(pooled), pool_cache).dtype == np.float32


@pytest.mark.parametrize("name", CONV)
def test_conv_rejects_a_kernel_larger_than_the_input(name, rng):
    forward, _ = CONV[name]
    with pytest.raises(ValueError, match="does not fit"):
        x, w = rng.standard_normal((1, 1, 3, 3)), rng.standard_normal((1, 1, 5, 5))
        forward(x, w, np.zeros(1), {"stride": 1, "pad": 0})

"""Checks of reference/numpy/layers.py and the affine_relu sandwich against fixed values, numeric
gradients and the torch twins (autograd), on every available device."""

from __future__ import annotations

import numpy as np
import pytest

import reference.numpy as ref_np
import reference.torch as ref_t
from gradcheck import eval_numerical_gradient, eval_numerical_gradient_array, rel_error
from reference.numpy.layer_utils import affine_relu_backward, affine_relu_forward
from reference.numpy.layers import (
    affine_backward,
    affine_forward,
    relu_backward,
    relu_forward,
    sigmoid_backward,
    sigmoid_forward,
    softmax_loss,
    svm_loss,
    tanh_backward,
    tanh_forward,
)
from reference.torch import layer_utils as t_layer_utils
from reference.torch import layers as t_layers
from reference.torch.autograd import value_and_grads
from tests.reference.conftest import TOL_EXACT, TOL_NUMERIC_GRAD

TOL64 = TOL_EXACT[np.float64]

# The book's fixture tolerances (seed-003 part 1, sections 5.2 and 5.4): the expected outputs are
# printed to 8 significant digits, so the achievable relative error is about 1e-9 / 5e-8.
BOOK_AFFINE_TOL = 1e-9
BOOK_RELU_TOL = 1e-7

# Elementwise (forward, backward) pairs with their torch twins.
ACTIVATIONS = [
    (relu_forward, relu_backward, t_layers.relu),
    (sigmoid_forward, sigmoid_backward, t_layers.sigmoid),
    (tanh_forward, tanh_backward, t_layers.tanh),
]
ACTIVATION_IDS = ["relu", "sigmoid", "tanh"]


def test_affine_forward_book_fixture() -> None:
    x = np.linspace(-0.1, 0.5, num=2 * 120).reshape(2, 4, 5, 6)
    w = np.linspace(-0.2, 0.3, num=3 * 120).reshape(120, 3)
    b = np.linspace(-0.3, 0.1, num=3)
    correct_out = np.array([[1.49834967, 1.70660132, 1.91485297], [3.25553199, 3.5141327, 3.77273342]])
    out, _ = affine_forward(x, w, b)
    assert out.shape == (2, 3)
    assert rel_error(out, correct_out) < BOOK_AFFINE_TOL


def test_relu_forward_book_fixture() -> None:
    x = np.linspace(-0.5, 0.5, num=12).reshape(3, 4)
    correct_out = np.array(
        [[0.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.04545455, 0.13636364], [0.22727273, 0.31818182, 0.40909091, 0.5]]
    )
    out, _ = relu_forward(x)
    assert rel_error(out, correct_out) < BOOK_RELU_TOL


def test_sigmoid_neuron_of_the_notes() -> None:
    """The 2-D sigmoid neuron f = sigmoid(w0*x0 + w1*x1 + w2) with w = (2, -3, -3), x = (-1, -2)."""
    x = np.array([[-1.0, -2.0]])
    w = np.array([[2.0], [-3.0]])
    b = np.array([-3.0])
    dot, fc_cache = affine_forward(x, w, b)
    f, sig_cache = sigmoid_forward(dot)
    assert f[0, 0] == pytest.approx(0.7310585786300049, abs=1e-15)
    ddot = sigmoid_backward(np.ones_like(f), sig_cache)
    assert ddot[0, 0] == pytest.approx(0.19661193324148185, abs=1e-15)
    dx, dw, db = affine_backward(ddot, fc_cache)
    np.testing.assert_allclose(dx[0], [0.3932238664829637, -0.5898357997244456], rtol=1e-14)
    np.testing.assert_allclose(dw[:, 0], [-0.19661193324148185, -0.3932238664829637], rtol=1e-14)
    np.testing.assert_allclose(db, [0.19661193324148185], rtol=1e-14)


def test_svm_and_softmax_examples_of_the_notes() -> None:
    """Worked examples of CS231n's linear-classification notes (seed-001_004 section 2.2)."""
    loss, _ = svm_loss(np.array([[13.0, -7.0, 11.0]]), np.array([0]), delta=10.0)
    assert loss == pytest.approx(8.0, abs=1e-12)
    loss, _ = svm_loss(np.array([[10.0, -2.0, 3.0]]), np.array([0]))
    assert loss == 0.0
    assert softmax_loss(np.array([[10.0, 9.0, 9.0]]), np.array([0]))[0] == pytest.approx(0.5514447139, abs=1e-10)
    assert softmax_loss(np.array([[10.0, -2.0, 3.0]]), np.array([0]))[0] == pytest.approx(0.000917605, rel=1e-6)


def test_softmax_loss_book_check(rng: np.random.Generator) -> None:
    """Small random scores over 10 classes give a loss near log(10) = 2.3026 (book section 5.7)."""
    x = 0.001 * rng.standard_normal((50, 10))
    y = rng.integers(10, size=50)
    loss, dx = softmax_loss(x, y)
    assert abs(loss - np.log(10)) < 1e-2
    dx_num = eval_numerical_gradient(lambda z: softmax_loss(z, y)[0], x, verbose=False)
    assert rel_error(dx, dx_num) < TOL_NUMERIC_GRAD


def test_losses_are_stable_for_large_scores() -> None:
    x = np.array([[1e4, 0.0, -1e4], [-1e4, 1e4, 5e3]])
    y = np.array([1, 1])
    with np.errstate(over="raise", divide="raise", invalid="raise"):
        loss, dx = softmax_loss(x, y)
        out, _ = sigmoid_forward(np.array([-1000.0, 0.0, 1000.0]))
    assert loss == pytest.approx(1e4 / 2, rel=1e-12)
    assert np.all(np.isfinite(dx))
    np.testing.assert_array_equal(out, [0.0, 0.5, 1.0])


def test_svm_loss_hand_computed() -> None:
    """Two examples, margins computed by hand: row 0 has margins (-, 2, 0.5), row 1 (0, -, 3)."""
    x = np.array([[1.0, 2.0, 0.5], [0.0, 2.0, 4.0]])
    y = np.array([0, 1])
    loss, dx = svm_loss(x, y)
    assert loss == pytest.approx((2.0 + 0.5 + 3.0) / 2)
    np.testing.assert_allclose(dx, np.array([[-2.0, 1.0, 1.0], [0.0, -1.0, 1.0]]) / 2)


@pytest.mark.parametrize("loss_fn", [svm_loss, softmax_loss], ids=["svm", "softmax"])
def test_loss_numeric_gradient(loss_fn, rng: np.random.Generator) -> None:
    x = rng.standard_normal((20, 7))
    y = rng.integers(7, size=20)
    loss, dx = loss_fn(x, y)
    assert isinstance(loss, float)
    assert dx.shape == x.shape
    dx_num = eval_numerical_gradient(lambda z: loss_fn(z, y)[0], x, verbose=False)
    assert rel_error(dx, dx_num) < TOL_NUMERIC_GRAD


@pytest.mark.parametrize(
    "np_fn,t_fn", [(svm_loss, t_layers.svm_loss), (softmax_loss, t_layers.softmax_loss)], ids=["svm", "softmax"]
)
def test_loss_matches_torch(np_fn, t_fn, rng: np.random.Generator, device: str) -> None:
    x = 3 * rng.standard_normal((30, 10))
    y = rng.integers(10, size=30)
    loss, dx = np_fn(x, y)
    t_loss, (t_dx,) = value_and_grads(t_fn, [x, y], wrt=[0], device=device)
    assert rel_error(loss, t_loss) < TOL64
    assert rel_error(dx, t_dx) < TOL64


def test_affine_numeric_gradient(rng: np.random.Generator) -> None:
    """The book's reconstructed setup (section 5.3): x (10, 2, 3), w (6, 5), b (5,)."""
    x = rng.standard_normal((10, 2, 3))
    w = rng.standard_normal((6, 5))
    b = rng.standard_normal(5)
    dout = rng.standard_normal((10, 5))
    _, cache = affine_forward(x, w, b)
    dx, dw, db = affine_backward(dout, cache)
    assert (dx.shape, dw.shape, db.shape) == (x.shape, w.shape, b.shape)
    dx_num = eval_numerical_gradient_array(lambda v: affine_forward(v, w, b)[0], x, dout)
    dw_num = eval_numerical_gradient_array(lambda v: affine_forward(x, v, b)[0], w, dout)
    db_num = eval_numerical_gradient_array(lambda v: affine_forward(x, w, v)[0], b, dout)
    assert rel_error(dx, dx_num) < TOL_NUMERIC_GRAD
    assert rel_error(dw, dw_num) < TOL_NUMERIC_GRAD
    assert rel_error(db, db_num) < TOL_NUMERIC_GRAD


def test_affine_matches_torch(rng: np.random.Generator, device: str) -> None:
    x = rng.standard_normal((4, 3, 2, 2))
    w = rng.standard_normal((12, 6))
    b = rng.standard_normal(6)
    dout = rng.standard_normal((4, 6))
    out, cache = affine_forward(x, w, b)
    grads = affine_backward(dout, cache)
    t_out, t_grads = value_and_grads(t_layers.affine, [x, w, b], wrt=[0, 1, 2], dout=dout, device=device)
    assert rel_error(out, t_out) < TOL64
    for name, g, tg in zip(("dx", "dw", "db"), grads, t_grads):
        assert rel_error(g, tg) < TOL64, name


@pytest.mark.parametrize("fwd,bwd,_t", ACTIVATIONS, ids=ACTIVATION_IDS)
def test_activation_numeric_gradient(fwd, bwd, _t, rng: np.random.Generator) -> None:
    x = rng.standard_normal((10, 10))
    dout = rng.standard_normal((10, 10))
    dout_before = dout.copy()
    out, cache = fwd(x)
    dx = bwd(dout, cache)
    np.testing.assert_array_equal(dout, dout_before)  # the book's relu_backward wrote into dout
    assert out.shape == dx.shape == x.shape
    dx_num = eval_numerical_gradient_array(lambda v: fwd(v)[0], x, dout)
    assert rel_error(dx, dx_num) < TOL_NUMERIC_GRAD


@pytest.mark.parametrize("fwd,bwd,t_fn", ACTIVATIONS, ids=ACTIVATION_IDS)
def test_activation_matches_torch(fwd, bwd, t_fn, rng: np.random.Generator, device: str) -> None:
    x = 3 * rng.standard_normal((6, 5, 4))
    dout = rng.standard_normal((6, 5, 4))
    out, cache = fwd(x)
    t_out, (t_dx,) = value_and_grads(t_fn, [x], wrt=[0], dout=dout, device=device)
    assert rel_error(out, t_out) < TOL64
    assert rel_error(bwd(dout, cache), t_dx) < TOL64


def test_relu_gradient_at_zero_is_zero(device: str) -> None:
    """The book's reference zeroes dx where x <= 0, as torch's relu does. Exact zeros do reach a
    ReLU (any input that is itself a ReLU output), so the convention is pinned."""
    x = np.array([[-1.0, 0.0, 2.0], [0.0, 3.0, -0.5]])
    dout = np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    _, cache = relu_forward(x)
    dx = relu_backward(dout, cache)
    np.testing.assert_array_equal(dx, [[0.0, 0.0, 3.0], [0.0, 5.0, 0.0]])
    _, (t_dx,) = value_and_grads(t_layers.relu, [x], wrt=[0], dout=dout, device=device)
    np.testing.assert_array_equal(dx, t_dx)


def test_svm_gradient_at_a_zero_margin_is_zero(device: str) -> None:
    """Margins of exactly 0 add nothing to the SVM loss or its gradient, in numpy as in torch's
    multi_margin_loss: a03's graders compare students with autograd on integer scores, where many
    margins are exactly 0, so the two must agree there."""
    x = np.array([[1.0, 0.0, 2.0], [2.0, 1.0, 1.0], [0.0, -1.0, 3.0]])
    y = np.array([0, 0, 2])
    loss, dx = svm_loss(x, y)
    assert loss == pytest.approx(2.0 / 3)
    np.testing.assert_array_equal(dx * 3, [[-1.0, 0.0, 1.0], [0.0, 0.0, 0.0], [0.0, 0.0, 0.0]])
    t_loss, (t_dx,) = value_and_grads(t_layers.svm_loss, [x, y], wrt=[0], device=device)
    assert float(t_loss) == pytest.approx(loss, rel=1e-12)
    np.testing.assert_allclose(dx, t_dx, rtol=0, atol=1e-15)


def test_softmax_loss_with_an_offset_per_row(device: str) -> None:
    """Scores in the thousands with a different offset per example (a03's huge-score probe): finite,
    and equal to torch's cross-entropy."""
    rng = np.random.default_rng(3)
    x = rng.uniform(-3000, 3000, (6, 1)) + 10 * rng.standard_normal((6, 5))
    y = rng.integers(0, 5, 6)
    with np.errstate(over="raise", divide="raise", invalid="raise"):
        loss, dx = softmax_loss(x, y)
    t_loss, (t_dx,) = value_and_grads(t_layers.softmax_loss, [x, y], wrt=[0], device=device)
    assert loss == pytest.approx(float(t_loss), rel=1e-12)
    assert rel_error(dx, t_dx) < TOL64


def test_layers_and_losses_leave_their_inputs(rng: np.random.Generator) -> None:
    """No forward or backward pass writes into its inputs, dout or its cache (the book's relu_backward
    writes into dout): backward twice on one cache gives the same gradients."""
    x, w, b = rng.standard_normal((4, 3, 2)), rng.standard_normal((6, 5)), rng.standard_normal(5)
    dout, scores, y = rng.standard_normal((4, 5)), rng.standard_normal((4, 5)), rng.integers(0, 5, 4)
    given = [a.copy() for a in (x, w, b, dout, scores)]
    for forward, backward, args in ((affine_forward, affine_backward, (x, w, b)), (relu_forward, relu_backward, (dout,)),
                                    (affine_relu_forward, affine_relu_backward, (x, w, b))):
        _, cache = forward(*args)
        first = backward(dout, cache)
        second = backward(dout, cache)
        for g1, g2 in zip(first if isinstance(first, tuple) else (first,), second if isinstance(second, tuple) else (second,)):
            np.testing.assert_array_equal(g1, g2)
    for loss_fn in (svm_loss, softmax_loss):
        loss_fn(scores, y)
    for before, after in zip(given, (x, w, b, dout, scores)):
        np.testing.assert_array_equal(before, after)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_layers_keep_dtype(dtype, rng: np.random.Generator) -> None:
    x = rng.standard_normal((4, 3)).astype(dtype)
    w = rng.standard_normal((3, 2)).astype(dtype)
    b = np.zeros(2, dtype=dtype)
    out, cache = affine_forward(x, w, b)
    assert out.dtype == dtype
    assert all(g.dtype == dtype for g in affine_backward(out, cache))
    for fwd, bwd, _ in ACTIVATIONS:
        out, cache = fwd(x)
        assert out.dtype == dtype
        assert bwd(out, cache).dtype == dtype


def test_affine_relu_numeric_gradient(rng: np.random.Generator) -> None:
    """The book's setup (section 5.6): x (2, 3, 4), w (12, 10), b (10,)."""
    x = rng.standard_normal((2, 3, 4))
    w = rng.standard_normal((12, 10))
    b = rng.standard_normal(10)
    dout = rng.standard_normal((2, 10))
    _, cache = affine_relu_forward(x, w, b)
    dx, dw, db = affine_relu_backward(dout, cache)
    for name, arr, g in (("x", x, dx), ("w", w, dw), ("b", b, db)):
        args = {"x": x, "w": w, "b": b}

        def f(v, name=name, args=args):
            return affine_relu_forward(**{**args, name: v})[0]

        assert rel_error(g, eval_numerical_gradient_array(f, arr, dout)) < TOL_NUMERIC_GRAD, name


def test_affine_relu_matches_torch(rng: np.random.Generator, device: str) -> None:
    x = rng.standard_normal((5, 3, 4))
    w = rng.standard_normal((12, 8))
    b = rng.standard_normal(8)
    dout = rng.standard_normal((5, 8))
    out, cache = affine_relu_forward(x, w, b)
    grads = affine_relu_backward(dout, cache)
    t_out, t_grads = value_and_grads(t_layer_utils.affine_relu, [x, w, b], wrt=[0, 1, 2], dout=dout, device=device)
    assert rel_error(out, t_out) < TOL64
    for name, g, tg in zip(("dx", "dw", "db"), grads, t_grads):
        assert rel_error(g, tg) < TOL64, name


def test_package_exports() -> None:
    names = [
        "affine_forward", "affine_backward", "relu_forward", "relu_backward", "sigmoid_forward",
        "sigmoid_backward", "tanh_forward", "tanh_backward", "svm_loss", "softmax_loss",
        "affine_relu_forward", "affine_relu_backward", "affine_bn_relu_forward", "affine_bn_relu_backward",
        "affine_relu_dropout_forward", "affine_relu_dropout_backward", "dropout_forward", "dropout_backward",
        "batchnorm_forward", "batchnorm_backward", "batchnorm_backward_alt", "spatial_batchnorm_forward",
        "spatial_batchnorm_backward", "ShallowLayerNet", "TwoLayerNet", "FullyConnectedNet",
    ]
    missing = [n for n in names if not hasattr(ref_np, n)]
    assert not missing
    torch_names = [
        "affine", "relu", "sigmoid", "tanh", "svm_loss", "softmax_loss", "affine_relu", "affine_relu_dropout",
        "affine_bn_relu", "dropout", "batchnorm", "spatial_batchnorm", "shallow_layer_net_loss",
        "fully_connected_net_loss",
    ]
    assert not [n for n in torch_names if not hasattr(ref_t, n)]

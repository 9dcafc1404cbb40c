"""Checks of reference/numpy/dropout_layers.py (inverted dropout, p = KEEP probability) and of the
affine_relu_dropout sandwich: statistics of the mask, test-mode identity, numeric gradients with a
fixed seed, and the torch twins given the same mask."""

from __future__ import annotations

import numpy as np
import pytest

from gradcheck import eval_numerical_gradient_array, rel_error
from reference.numpy.dropout_layers import dropout_backward, dropout_forward, dropout_mask
from reference.numpy.layer_utils import affine_relu_dropout_backward, affine_relu_dropout_forward
from reference.torch import dropout_layers as t_dropout
from reference.torch import layer_utils as t_layer_utils
from reference.torch.autograd import value_and_grads
from tests.reference.conftest import TOL_EXACT, TOL_NUMERIC_GRAD

TOL64 = TOL_EXACT[np.float64]


@pytest.mark.parametrize("p", [0.3, 0.6, 0.75])
def test_train_mode_keeps_mean_and_drops_one_minus_p(p: float, rng: np.random.Generator) -> None:
    """The book's check (seed-003 section 6.1): randn(500, 500) + 10 through dropout.

    Bounds are about six standard errors: the zero fraction has sd sqrt(p(1-p)/250000) <= 0.001,
    the output mean sd sqrt(100 (1-p)/p / 250000) <= 0.031.
    """
    x = rng.standard_normal((500, 500)) + 10
    out, (_, mask) = dropout_forward(x, {"mode": "train", "p": p})
    assert abs(np.mean(out == 0) - (1 - p)) < 0.006
    assert abs(out.mean() - x.mean()) < 0.2
    assert set(np.unique(mask)) == {0.0, 1.0 / p}


@pytest.mark.parametrize("p", [0.3, 1.0])
def test_test_mode_is_identity(p: float, rng: np.random.Generator) -> None:
    x = rng.standard_normal((50, 40)) + 10
    out, cache = dropout_forward(x, {"mode": "test", "p": p})
    np.testing.assert_array_equal(out, x)
    assert cache[1] is None
    dout = rng.standard_normal(x.shape)
    np.testing.assert_array_equal(dropout_backward(dout, cache), dout)


def test_keep_probability_one_keeps_everything(rng: np.random.Generator) -> None:
    x = rng.standard_normal((20, 30))
    out, _ = dropout_forward(x, {"mode": "train", "p": 1.0})
    np.testing.assert_array_equal(out, x)


def test_seed_makes_masks_repeatable_without_touching_global_state(rng: np.random.Generator) -> None:
    """A seeded call gives the book's mask (np.random.seed(seed); rand) but leaves np.random alone."""
    x = rng.standard_normal((30, 20))
    param = {"mode": "train", "p": 0.5, "seed": 7}
    state = np.random.get_state()
    out1, _ = dropout_forward(x, param)
    out2, _ = dropout_forward(x, param)
    after = np.random.get_state()
    assert after[0] == state[0] and np.array_equal(after[1], state[1]) and after[2:] == state[2:]
    np.testing.assert_array_equal(out1, out2)
    np.random.seed(7)
    book_mask = (np.random.rand(*x.shape) < 0.5) / 0.5
    np.random.set_state(state)
    np.testing.assert_array_equal(out1, x * book_mask)


def test_unseeded_masks_differ(rng: np.random.Generator) -> None:
    x = np.ones((30, 20))
    out1, _ = dropout_forward(x, {"mode": "train", "p": 0.5})
    out2, _ = dropout_forward(x, {"mode": "train", "p": 0.5})
    assert not np.array_equal(out1, out2)


@pytest.mark.parametrize("bad", [{"mode": "eval", "p": 0.5}, {"mode": "train", "p": 0.0}, {"mode": "train", "p": 1.5}])
def test_bad_parameters_are_rejected(bad: dict) -> None:
    with pytest.raises(ValueError):
        dropout_forward(np.ones((2, 2)), bad)


def test_dtype_is_kept() -> None:
    x = np.ones((10, 10), dtype=np.float32)
    out, cache = dropout_forward(x, {"mode": "train", "p": 0.5, "seed": 0})
    assert out.dtype == np.float32
    assert dropout_backward(np.ones_like(x), cache).dtype == np.float32


def test_backward_numeric_gradient(rng: np.random.Generator) -> None:
    """The book's check (section 6.2): p 0.8 with seed 123 so every evaluation uses one mask."""
    x = rng.standard_normal((10, 10)) + 10
    dout = rng.standard_normal((10, 10))
    param = {"mode": "train", "p": 0.8, "seed": 123}
    _, cache = dropout_forward(x, param)
    dx = dropout_backward(dout, cache)
    dx_num = eval_numerical_gradient_array(lambda v: dropout_forward(v, param)[0], x, dout)
    assert rel_error(dx, dx_num) < TOL_NUMERIC_GRAD


@pytest.mark.parametrize("mode", ["train", "test"])
def test_matches_torch_given_the_mask(mode: str, rng: np.random.Generator, device: str) -> None:
    x = rng.standard_normal((8, 6, 3))
    dout = rng.standard_normal(x.shape)
    out, cache = dropout_forward(x, {"mode": mode, "p": 0.4})
    mask = cache[1]
    t_out, (t_dx,) = value_and_grads(t_dropout.dropout, [x, mask], wrt=[0], dout=dout, device=device)
    assert rel_error(out, t_out) < TOL64
    assert rel_error(dropout_backward(dout, cache), t_dx) < TOL64


def test_dropout_mask_is_scaled_keep_mask() -> None:
    mask = dropout_mask((1000, 100), 0.25, seed=3)
    assert set(np.unique(mask)) == {0.0, 4.0}
    assert abs(np.mean(mask > 0) - 0.25) < 0.01


def test_affine_relu_dropout_numeric_gradient(rng: np.random.Generator) -> None:
    x = rng.standard_normal((4, 3, 2))
    w = rng.standard_normal((6, 7))
    b = rng.standard_normal(7)
    dout = rng.standard_normal((4, 7))
    param = {"mode": "train", "p": 0.6, "seed": 5}
    _, cache = affine_relu_dropout_forward(x, w, b, param)
    grads = affine_relu_dropout_backward(dout, cache)
    args = {"x": x, "w": w, "b": b}
    for (name, arr), g in zip(args.items(), grads):

        def f(v, name=name):
            return affine_relu_dropout_forward(**{**args, name: v}, dropout_param=param)[0]

        assert rel_error(g, eval_numerical_gradient_array(f, arr, dout)) < TOL_NUMERIC_GRAD, name


def test_affine_relu_dropout_matches_torch(rng: np.random.Generator, device: str) -> None:
    x = rng.standard_normal((6, 5))
    w = rng.standard_normal((5, 9))
    b = rng.standard_normal(9)
    dout = rng.standard_normal((6, 9))
    out, cache = affine_relu_dropout_forward(x, w, b, {"mode": "train", "p": 0.5})
    mask = cache[1][1]
    grads = affine_relu_dropout_backward(dout, cache)
    t_out, t_grads = value_and_grads(
        t_layer_utils.affine_relu_dropout, [x, w, b, mask], wrt=[0, 1, 2], dout=dout, device=device
    )
    assert rel_error(out, t_out) < TOL64
    for name, g, tg in zip(("dx", "dw", "db"), grads, t_grads):
        assert rel_error(g, tg) < TOL64, name

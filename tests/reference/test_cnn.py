"""ThreeLayerConvNet: the book's sanity losses, torch autograd, numeric gradients, overfitting."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from gradcheck import eval_numerical_gradient, rel_error
from reference.numpy.cnn import ThreeLayerConvNet
from reference.torch.autograd import to_numpy, to_tensor
from reference.torch.cnn import three_layer_convnet
from tests.reference.conftest import TOL_EXACT

SMALL = dict(input_dim=(3, 8, 8), num_filters=3, filter_size=3, hidden_dim=7, num_classes=10)


def test_param_shapes_and_dtype():
    model = ThreeLayerConvNet(seed=0)
    shapes = {name: p.shape for name, p in model.params.items()}
    assert shapes == {
        "W1": (32, 3, 7, 7),
        "b1": (32,),
        "W2": (32 * 16 * 16, 100),
        "b2": (100,),
        "W3": (100, 10),
        "b3": (10,),
    }
    assert all(p.dtype == np.float32 for p in model.params.values())
    assert not any(model.params[b].any() for b in ("b1", "b2", "b3"))
    assert model.loss(np.zeros((4, 3, 32, 32))).shape == (4, 10)


def test_even_filter_size_is_rejected():
    with pytest.raises(ValueError, match="odd"):
        ThreeLayerConvNet(filter_size=4)


def test_initial_loss_book_sanity(rng):
    """seed-003-part2 §4.7: tiny weights give loss ~ log(10) (book: exp(loss) = 9.99998941); with
    reg = 0.5 the penalty is ~ 0.5 * 0.5 * weight_scale**2 * (number of weights) (book: 2.5085)."""
    model = ThreeLayerConvNet(dtype=np.float64, seed=0)
    X = rng.standard_normal((50, 3, 32, 32))
    y = rng.integers(10, size=50)
    loss, _ = model.loss(X, y)
    assert abs(loss - math.log(10)) < 1e-4
    model.reg = 0.5
    loss_reg, _ = model.loss(X, y)
    n_weights = 32 * 3 * 7 * 7 + 32 * 16 * 16 * 100 + 100 * 10
    assert abs(loss_reg - (math.log(10) + 0.5 * 0.5 * 1e-3**2 * n_weights)) < 2e-3


@pytest.mark.parametrize("reg", [0.0, 0.7])
def test_matches_torch(reg, device, rng):
    model = ThreeLayerConvNet(**SMALL, weight_scale=0.3, reg=reg, dtype=np.float64, seed=1)
    for name in ("b1", "b2", "b3"):
        model.params[name] = 0.1 * rng.standard_normal(model.params[name].shape)
    X = rng.standard_normal((4, 3, 8, 8))
    y = rng.integers(10, size=4)
    params_t = {k: to_tensor(v, device, requires_grad=True) for k, v in model.params.items()}
    X_t, y_t = to_tensor(X, device), to_tensor(y, device)

    scores_t = three_layer_convnet(params_t, X_t)
    assert rel_error(model.loss(X), to_numpy(scores_t)) < TOL_EXACT[np.float64]

    loss_t = three_layer_convnet(params_t, X_t, y_t, reg=reg)
    loss_t.backward()
    loss, grads = model.loss(X, y)
    assert rel_error(loss, to_numpy(loss_t)) < TOL_EXACT[np.float64]
    for name, grad in grads.items():
        assert grad.shape == model.params[name].shape
        assert rel_error(grad, to_numpy(params_t[name].grad)) < TOL_EXACT[np.float64], name


@pytest.mark.parametrize("reg", [0.0, 0.5])
def test_numeric_gradient(reg, rng):
    """The book's check (2 inputs, 3 filters of 3x3, hidden 7), in float64 with weights large enough
    that no activation sits within h of a ReLU or max-pool kink."""
    model = ThreeLayerConvNet(**SMALL, weight_scale=0.3, reg=reg, dtype=np.float64, seed=2)
    X = rng.standard_normal((2, 3, 8, 8))
    y = rng.integers(10, size=2)
    _, grads = model.loss(X, y)
    for name, param in model.params.items():
        numeric = eval_numerical_gradient(lambda _: model.loss(X, y)[0], param, h=1e-6)
        assert rel_error(grads[name], numeric) < 1e-6, name


def test_overfits_50_examples(rng):
    """Adam on 50 random 'images' with random labels reaches 100 % train accuracy."""
    X = rng.standard_normal((50, 3, 8, 8))
    y = rng.integers(10, size=50)
    model = ThreeLayerConvNet(
        input_dim=(3, 8, 8), num_filters=8, filter_size=3, hidden_dim=50, weight_scale=0.1, dtype=np.float64, seed=3
    )
    lr, beta1, beta2, eps = 1e-2, 0.9, 0.999, 1e-8
    m = {k: np.zeros_like(v) for k, v in model.params.items()}
    v = {k: np.zeros_like(p) for k, p in model.params.items()}
    first_loss = None
    for t in range(1, 41):
        loss, grads = model.loss(X, y)
        first_loss = loss if first_loss is None else first_loss
        for k, p in model.params.items():
            m[k] = beta1 * m[k] + (1 - beta1) * grads[k]
            v[k] = beta2 * v[k] + (1 - beta2) * grads[k] ** 2
            p -= lr * (m[k] / (1 - beta1**t)) / (np.sqrt(v[k] / (1 - beta2**t)) + eps)
    accuracy = np.mean(np.argmax(model.loss(X), axis=1) == y)
    assert accuracy == 1.0
    assert loss < 0.1 * first_loss


def test_float32_model_trains_in_float32(rng):
    model = ThreeLayerConvNet(**SMALL, seed=4)
    loss, grads = model.loss(rng.standard_normal((3, 3, 8, 8)), np.array([0, 1, 2]))
    assert np.isfinite(loss)
    assert all(g.dtype == np.float32 for g in grads.values())


def test_torch_loss_is_cross_entropy_at_reg_zero():
    """A guard on the torch side itself: zero weights give uniform scores, hence loss log(classes)."""
    params = {
        "W1": torch.zeros(2, 3, 3, 3, dtype=torch.float64),
        "b1": torch.zeros(2, dtype=torch.float64),
        "W2": torch.zeros(2 * 4 * 4, 5, dtype=torch.float64),
        "b2": torch.zeros(5, dtype=torch.float64),
        "W3": torch.zeros(5, 4, dtype=torch.float64),
        "b3": torch.zeros(4, dtype=torch.float64),
    }
    loss = three_layer_convnet(params, torch.ones(3, 3, 8, 8, dtype=torch.float64), torch.tensor([0, 1, 3]))
    assert abs(loss.item() - math.log(4)) < 1e-12

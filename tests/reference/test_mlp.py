"""MLP (a02): Glorot bounds from the source, hand gradients with L1/L2 vs autograd and numeric
gradients, penalties on weights only, and overfitting a tiny set with early-stopped SGD."""

from __future__ import annotations

import numpy as np
import pytest

from gradcheck import eval_numerical_gradient, eval_numerical_gradient_array, rel_error
from reference.numpy.logistic import sgd_optimize
from reference.numpy.mlp import MLP, HiddenLayer, glorot_bound
from reference.torch.autograd import to_numpy, to_tensor, value_and_grads
from reference.torch.mlp import hidden_layer, mlp_cost, mlp_p_y_given_x
from tests.reference.conftest import TOL_EXACT, TOL_NUMERIC_GRAD


def random_mlp(rng: np.random.Generator, n_in: int = 5, n_hidden: int = 7, n_out: int = 3,
               activation: str = "tanh") -> MLP:
    model = MLP(rng, n_in, n_hidden, n_out, activation=activation)
    model.logRegressionLayer.W[...] = rng.normal(size=(n_hidden, n_out))
    model.logRegressionLayer.b[...] = rng.normal(size=n_out)
    model.hiddenLayer.b[...] = rng.normal(size=n_hidden)
    return model


@pytest.mark.parametrize(
    "n_in, n_out, activation, expected",
    [(784, 500, "tanh", 0.0683586), (800, 500, "tanh", 0.0679366), (784, 500, "sigmoid", 0.2734344),
     (784, 1000, "sigmoid", 0.2319734), (1000, 1000, "sigmoid", 0.2190890)],
)
def test_glorot_bounds_from_the_source(n_in, n_out, activation, expected):
    assert glorot_bound(n_in, n_out, activation) == pytest.approx(expected, abs=1e-7)


@pytest.mark.parametrize("activation", ["tanh", "sigmoid"])
def test_hidden_layer_init_statistics(activation):
    layer = HiddenLayer(np.random.RandomState(1234), 784, 500, activation=activation)
    a = glorot_bound(784, 500, activation)
    assert layer.W.shape == (784, 500) and np.all(layer.b == 0)
    assert np.abs(layer.W).max() <= a and np.abs(layer.W).max() > 0.95 * a
    assert layer.W.var() == pytest.approx(a**2 / 3, rel=0.05)
    assert abs(layer.W.mean()) < 0.01 * a


@pytest.mark.parametrize("activation", ["tanh", "sigmoid", None])
def test_hidden_layer_matches_torch_and_numeric(rng, device, activation):
    layer = HiddenLayer(rng, 4, 3, b=rng.normal(size=3), activation=activation)
    X = rng.normal(size=(5, 4))
    out, cache = layer.forward(X)
    dout = rng.normal(size=out.shape)
    dX, grads = layer.backward(dout, cache)
    value, (gX, gW, gb) = value_and_grads(hidden_layer, [X, layer.W, layer.b], wrt=[0, 1, 2], dout=dout,
                                          device=device, activation=activation)
    assert rel_error(out, value) < TOL_EXACT[np.float64]
    for mine, theirs in ((dX, gX), (grads["W"], gW), (grads["b"], gb)):
        assert rel_error(mine, theirs) < TOL_EXACT[np.float64]
    num = eval_numerical_gradient_array(lambda x: layer.forward(x)[0], X, dout)
    assert rel_error(dX, num) < TOL_NUMERIC_GRAD


def test_penalties_cover_weights_only(rng):
    model = random_mlp(rng)
    W1, W2 = model.hiddenLayer.W, model.logRegressionLayer.W
    assert model.L1() == pytest.approx(np.abs(W1).sum() + np.abs(W2).sum())
    assert model.L2_sqr() == pytest.approx((W1**2).sum() + (W2**2).sum())
    X = rng.normal(size=(6, 5))
    y = rng.integers(0, 3, size=6)
    plain = model.gradients(X, y)
    reg = model.gradients(X, y, L1_reg=0.01, L2_reg=0.001)
    assert np.array_equal(plain["b1"], reg["b1"]) and np.array_equal(plain["b2"], reg["b2"])
    assert np.allclose(reg["W1"] - plain["W1"], 0.01 * np.sign(W1) + 0.002 * W1)


@pytest.mark.parametrize("activation", ["tanh", "sigmoid"])
def test_cost_and_gradients_match_autograd(rng, device, activation):
    model = random_mlp(rng, activation=activation)
    X = rng.normal(size=(6, 5))
    y = rng.integers(0, 3, size=6)
    cost, grads = model.cost_and_gradients(X, y, L1_reg=0.01, L2_reg=0.001)
    names = ["W1", "b1", "W2", "b2"]
    value, tgrads = value_and_grads(mlp_cost, [X, y] + [model.params[n] for n in names], wrt=[2, 3, 4, 5],
                                    device=device, L1_reg=0.01, L2_reg=0.001, activation=activation)
    assert rel_error(cost, value) < TOL_EXACT[np.float64]
    for name, g in zip(names, tgrads):
        assert rel_error(grads[name], g) < TOL_EXACT[np.float64], name
    t_args = [to_tensor(model.params[n], device) for n in names]
    p = to_numpy(mlp_p_y_given_x(to_tensor(X, device), *t_args, activation=activation))
    assert rel_error(model.p_y_given_x(X), p) < TOL_EXACT[np.float64]


def test_gradients_match_numeric(rng):
    """784 -> 20 -> 10 on 5 examples, the source's suggested full-network check (W1 sampled by rows)."""
    model = random_mlp(rng, 784, 20, 10)
    model.logRegressionLayer.W *= 0.1  # moderate logits keep the centered differences accurate
    X = rng.random((5, 784))
    y = rng.integers(0, 10, size=5)
    grads = model.gradients(X, y, L1_reg=0.0, L2_reg=1e-4)
    params = model.params
    for name in ("b1", "W2", "b2"):
        num = eval_numerical_gradient(lambda _: model.cost(X, y, 0.0, 1e-4), params[name])
        assert rel_error(grads[name], num) < TOL_NUMERIC_GRAD, name
    rows = params["W1"][:12]  # a view: perturbing it perturbs W1
    num = eval_numerical_gradient(lambda _: model.cost(X, y, 0.0, 1e-4), rows)
    assert rel_error(grads["W1"][:12], num) < TOL_NUMERIC_GRAD


def test_overfits_fifty_examples(rng):
    X = rng.normal(size=(50, 10))
    y = rng.integers(0, 4, size=50)  # random labels: only memorisation fits them
    model = MLP(np.random.RandomState(1234), 10, 64, 4)
    sgd_optimize(model, ((X, y), (X, y), (X, y)), learning_rate=0.5, n_epochs=400, batch_size=10,
                 patience=100_000, step_kwargs={"L1_reg": 0.0, "L2_reg": 1e-4})
    assert model.errors(X, y) == 0.0

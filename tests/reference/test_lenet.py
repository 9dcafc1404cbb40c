"""LeNet (a06, MNIST part): the source's init bounds, shape trace and parameter count, the
convolution convention vs Theano's true convolution, gradients vs autograd and numeric gradients,
and overfitting a tiny learnable image set."""

from __future__ import annotations

import numpy as np
import pytest

from gradcheck import eval_numerical_gradient, eval_numerical_gradient_array, rel_error
from reference.numpy.lenet import LeNet, LeNetConvPoolLayer
from reference.numpy.logistic import sgd_optimize
from reference.torch.autograd import to_numpy, to_tensor, value_and_grads
from reference.torch.lenet import lenet_conv_pool, lenet_cost, lenet_p_y_given_x
from tests.reference.conftest import TOL_EXACT, TOL_NUMERIC_GRAD

TINY = dict(nkerns=(2, 3), image_shape=(1, 10, 10), filter_size=3, n_hidden=5, n_out=3)  # 10->8->4->2->1


def tiny_lenet(rng: np.random.Generator) -> LeNet:
    model = LeNet(rng, **TINY)
    for name, p in model.params.items():
        if name.startswith("b") or name == "W3":
            p[...] = 0.5 * rng.normal(size=p.shape)
    return model


@pytest.mark.parametrize("filter_shape, image_shape, bound", [
    ((20, 1, 5, 5), (1, 28, 28), 0.2), ((50, 20, 5, 5), (20, 12, 12), 0.0859338),
])
def test_conv_init_bounds_from_the_source(filter_shape, image_shape, bound):
    layer = LeNetConvPoolLayer(np.random.RandomState(23455), filter_shape, image_shape)
    assert np.abs(layer.W).max() <= bound + 1e-7 and np.abs(layer.W).max() > 0.9 * bound
    assert np.all(layer.b == 0) and layer.b.shape == (filter_shape[0],)


def test_default_network_shapes_and_parameter_count():
    model = LeNet(np.random.RandomState(23455))
    assert model.layer0.output_shape == (20, 12, 12) and model.layer1.output_shape == (50, 4, 4)
    assert model.layer2.W.shape == (800, 500) and model.layer3.W.shape == (500, 10)
    assert sum(p.size for p in model.params.values()) == 431_080
    X = np.random.default_rng(0).random((2, 784))
    assert model.p_y_given_x(X).shape == (2, 10)


def test_bias_after_pooling_equals_pooling_after_tanh(rng):
    layer = LeNetConvPoolLayer(rng, (3, 2, 3, 3), (2, 8, 8), b=rng.normal(size=3))
    x = rng.normal(size=(4, 2, 8, 8))
    out = layer.forward(x)[0]
    conv = np.array([[[[np.sum(x[n, :, i:i + 3, j:j + 3] * layer.W[f]) for j in range(6)] for i in range(6)]
                      for f in range(3)] for n in range(4)])
    act = np.tanh(conv + layer.b[None, :, None, None])
    pooled = act.reshape(4, 3, 3, 2, 3, 2).max(axis=(3, 5))
    assert rel_error(out, pooled) < TOL_EXACT[np.float64]


def test_theano_true_convolution_is_ours_with_flipped_kernels(rng):
    """o[m, n] = sum_{u, v} f[u, v] g[m - u, n - v] ('valid'): our layer reproduces it with W[..., ::-1, ::-1]."""
    x = rng.normal(size=(1, 1, 6, 6))
    w = rng.normal(size=(1, 1, 3, 3))
    true_conv = np.array([[sum(w[0, 0, u, v] * x[0, 0, m + 2 - u, n + 2 - v] for u in range(3) for v in range(3))
                           for n in range(4)] for m in range(4)])
    layer = LeNetConvPoolLayer(rng, (1, 1, 3, 3), (1, 6, 6), W=w[:, :, ::-1, ::-1].copy())
    expected = np.tanh(true_conv.reshape(2, 2, 2, 2).max(axis=(1, 3)))
    assert rel_error(layer.forward(x)[0][0, 0], expected) < TOL_EXACT[np.float64]


def test_conv_pool_layer_matches_torch_and_numeric(rng, device):
    layer = LeNetConvPoolLayer(rng, (3, 2, 3, 3), (2, 8, 8), b=0.1 * rng.normal(size=3))
    x = 0.5 * rng.normal(size=(2, 2, 8, 8))  # tanh away from saturation: no vanishing entries
    out, cache = layer.forward(x)
    dout = rng.normal(size=out.shape)
    dx, grads = layer.backward(dout, cache)
    value, (gx, gW, gb) = value_and_grads(lenet_conv_pool, [x, layer.W, layer.b], wrt=[0, 1, 2], dout=dout,
                                          device=device)
    assert rel_error(out, value) < TOL_EXACT[np.float64]
    for mine, theirs in ((dx, gx), (grads["W"], gW), (grads["b"], gb)):
        assert rel_error(mine, theirs) < TOL_EXACT[np.float64]
    num = eval_numerical_gradient_array(lambda w: layer.forward(x)[0], layer.W, dout)
    assert rel_error(grads["W"], num) < TOL_NUMERIC_GRAD


def test_network_matches_autograd(rng, device):
    model = tiny_lenet(rng)
    X = rng.normal(size=(4, 100))
    y = rng.integers(0, 3, size=4)
    names = [f"{k}{i}" for i in range(4) for k in ("W", "b")]
    args = [X, y] + [model.params[n] for n in names]
    cost, grads = model.cost_and_gradients(X, y)
    value, tgrads = value_and_grads(lenet_cost, args, wrt=list(range(2, 10)), device=device,
                                    image_shape=TINY["image_shape"])
    assert rel_error(cost, value) < TOL_EXACT[np.float64]
    for name, g in zip(names, tgrads):
        assert rel_error(grads[name], g) < TOL_EXACT[np.float64], name
    p = lenet_p_y_given_x(*(to_tensor(a, device) for a in [X] + args[2:]), image_shape=TINY["image_shape"])
    assert rel_error(model.p_y_given_x(X), to_numpy(p)) < TOL_EXACT[np.float64]


def test_network_gradients_match_numeric(rng):
    model = tiny_lenet(rng)
    X = rng.normal(size=(3, 1, 10, 10))
    y = rng.integers(0, 3, size=3)
    grads = model.gradients(X, y)
    for name, p in model.params.items():
        num = eval_numerical_gradient(lambda _: model.negative_log_likelihood(X, y), p)
        assert rel_error(grads[name], num) < TOL_NUMERIC_GRAD, name


def bar_images(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    """12x12 noise images with a bright horizontal bar (class 0), vertical bar (1) or diagonal (2)."""
    y = rng.integers(0, 3, size=n)
    X = 0.3 * rng.random((n, 1, 12, 12))
    for i, label in enumerate(y):
        r = rng.integers(2, 10)
        if label == 0:
            X[i, 0, r, 2:10] += 1.0
        elif label == 1:
            X[i, 0, 2:10, r] += 1.0
        else:
            X[i, 0, np.arange(2, 10), np.arange(2, 10)] += 1.0
    return X.reshape(n, -1), y


def test_overfits_fifty_images(rng):
    X, y = bar_images(rng, 50)
    model = LeNet(np.random.RandomState(23455), nkerns=(4, 6), image_shape=(1, 12, 12), filter_size=3,
                  n_hidden=20, n_out=3)
    sgd_optimize(model, ((X, y), (X, y), (X, y)), learning_rate=0.1, n_epochs=60, batch_size=10,
                 patience=100_000)
    assert model.errors(X, y) == 0.0

"""LeNet (a06, MNIST part): the source's init bounds, shape trace and parameter count, the
convolution convention vs Theano's true convolution, the bias after pooling, gradients vs autograd
(tanh and ReLU, dropout, L2) and numeric gradients, and overfitting a tiny learnable image set."""

from __future__ import annotations

import numpy as np
import pytest

from gradcheck import eval_numerical_gradient, eval_numerical_gradient_array, rel_error
from reference.numpy.dropout_layers import dropout_mask
from reference.numpy.lenet import LeNet, LeNetConvPoolLayer
from reference.numpy.trainer import Trainer
from reference.torch.autograd import to_numpy, to_tensor, value_and_grads
from reference.torch.lenet import lenet, lenet_conv_pool
from tests.reference.conftest import TOL_EXACT, TOL_NUMERIC_GRAD

TINY = dict(input_dim=(1, 10, 11), nkerns=(2, 3), filter_size=3, hidden_dim=5, num_classes=3)  # 10x11->8x9->4x4->2x2->1x1


def tiny_lenet(rng: np.random.Generator, **kwargs) -> LeNet:
    """A float64 LeNet whose zero-initialised parameters (biases, output layer) are drawn too."""
    model = LeNet(**TINY, dtype=np.float64, seed=3, **kwargs)
    for name, p in model.params.items():
        if name.startswith("b") or name == "W4":
            p[...] = 0.5 * rng.normal(size=p.shape)
    return model


@pytest.mark.parametrize("filter_shape, image_shape, bound", [
    ((20, 1, 5, 5), (1, 28, 28), 0.2), ((50, 20, 5, 5), (20, 12, 12), 0.0859338),
])
def test_conv_init_bounds_from_the_source(filter_shape, image_shape, bound):
    layer = LeNetConvPoolLayer(np.random.RandomState(23455), filter_shape, image_shape)
    assert np.abs(layer.W).max() <= bound + 1e-7 and np.abs(layer.W).max() > 0.9 * bound
    assert np.all(layer.b == 0) and layer.b.shape == (filter_shape[0],)


def test_default_network_shapes_init_and_parameter_count():
    model = LeNet(seed=0)
    shapes = {name: p.shape for name, p in model.params.items()}
    assert shapes == {"W1": (20, 1, 5, 5), "b1": (20,), "W2": (50, 20, 5, 5), "b2": (50,), "W3": (800, 500),
                      "b3": (500,), "W4": (500, 10), "b4": (10,)}
    assert sum(p.size for p in model.params.values()) == 431_080
    assert all(p.dtype == np.float32 for p in model.params.values())
    for name, bound in (("W1", 0.2), ("W2", 0.0859338), ("W3", np.sqrt(6 / 1300))):
        w = model.params[name]
        assert np.abs(w).max() <= bound + 1e-7 and np.abs(w).max() > 0.9 * bound, name
    assert not model.params["W4"].any() and not any(model.params[f"b{i}"].any() for i in range(1, 5))
    assert model.loss(np.random.default_rng(0).random((2, 1, 28, 28))).shape == (2, 10)


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


@pytest.mark.parametrize("activation, keep_prob, reg", [("tanh", 1.0, 0.0), ("relu", 1.0, 0.3), ("tanh", 0.6, 0.1)])
def test_network_matches_autograd(rng, device, activation, keep_prob, reg):
    model = tiny_lenet(rng, activation=activation, keep_prob=keep_prob, reg=reg)
    X = rng.normal(size=(4, 1, 10, 11))
    y = rng.integers(0, 3, size=4)
    loss, grads = model.loss(X, y)
    mask = None if keep_prob == 1 else dropout_mask((4, 5), keep_prob, seed=3)
    names = sorted(model.params)
    value, tgrads = value_and_grads(
        lambda *ps: lenet(dict(zip(names, ps)), to_tensor(X, device), to_tensor(y, device), activation, reg,
                          None if mask is None else to_tensor(mask, device)),
        [model.params[n] for n in names], wrt=list(range(len(names))), device=device)
    assert rel_error(loss, value) < TOL_EXACT[np.float64]
    for name, g in zip(names, tgrads):
        assert rel_error(grads[name], g) < TOL_EXACT[np.float64], name
    scores = lenet({n: to_tensor(model.params[n], device) for n in names}, to_tensor(X, device), activation=activation)
    assert rel_error(model.loss(X), to_numpy(scores)) < TOL_EXACT[np.float64]  # test mode: no dropout


@pytest.mark.parametrize("activation", ["tanh", "relu"])
def test_network_gradients_match_numeric(rng, activation):
    model = tiny_lenet(rng, activation=activation, keep_prob=0.7, reg=0.2)
    X = rng.normal(size=(3, 1, 10, 11))
    y = rng.integers(0, 3, size=3)
    _, grads = model.loss(X, y)
    for name, p in model.params.items():
        num = eval_numerical_gradient(lambda _: model.loss(X, y)[0], p)
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
    return X, y


@pytest.mark.parametrize("activation, keep_prob", [("tanh", 1.0), ("relu", 0.5)])
def test_overfits_fifty_images(rng, activation, keep_prob):
    X, y = bar_images(rng, 50)
    model = LeNet(input_dim=(1, 12, 12), nkerns=(4, 6), filter_size=3, hidden_dim=20, num_classes=3,
                  activation=activation, keep_prob=keep_prob, dtype=np.float64, seed=0)
    trainer = Trainer(model, {"X_train": X, "y_train": y, "X_val": X, "y_val": y}, update_rule="sgd",
                      updater_config={"learning_rate": 0.1}, batch_size=10, num_epochs=60, verbose=False, seed=0)
    trainer.train()
    assert np.mean(np.argmax(model.loss(X), axis=1) == y) == 1.0

"""a09 torch models: shapes and parameter counts of the book's networks, initialisation, the CNN's
forward pass against the a03/a06 numpy layers, dropout's keep-probability convention, the optimisers,
and training steps that learn (softmax overfits a separable set; the CNN's loss falls)."""

from __future__ import annotations

import copy
import math

import numpy as np
import pytest
import torch

from gradcheck import rel_error
from reference.numpy.cnn_layers import conv_forward_fast, max_pool_forward_fast
from reference.numpy.layers import affine_forward, relu_forward
from reference.torch.autograd import to_numpy, to_tensor
from reference.torch.mnist_models import (
    MnistCNN,
    SoftmaxRegression,
    cnn_optimizer,
    mnist_accuracy,
    mnist_train,
    mnist_train_step,
    softmax_optimizer,
)
from tests.reference.conftest import TOL_EXACT

KEEP_PROB = 0.8


@pytest.fixture(scope="module")
def cnn() -> MnistCNN:
    """One float64 CNN per module (3.3 M truncated-normal draws are slow on a busy CPU); tests copy it."""
    torch.manual_seed(0)
    return MnistCNN(keep_prob=KEEP_PROB)


def test_parameter_counts(cnn):
    assert sum(p.numel() for p in SoftmaxRegression().parameters()) == 784 * 10 + 10
    expected = (25 * 32 + 32) + (25 * 32 * 64 + 64) + (7 * 7 * 64 * 1024 + 1024) + (1024 * 10 + 10)
    assert sum(p.numel() for p in cnn.parameters()) == expected


def test_shapes_and_dtype(cnn, device):
    x = torch.rand(3, 784, dtype=torch.float64, device=device)
    for model in (SoftmaxRegression(device=device), copy.deepcopy(cnn).to(device)):
        out = model(x)
        assert out.shape == (3, 10) and out.dtype == torch.float64 and out.device.type == device
        assert torch.equal(model.eval()(x.reshape(3, 1, 28, 28)), model.eval()(x))


def test_initialisation(cnn):
    soft = SoftmaxRegression()
    x = torch.rand(4, 784, dtype=torch.float64)
    loss = torch.nn.functional.cross_entropy(soft(x), torch.tensor([0, 3, 5, 9]))
    assert loss.item() == pytest.approx(math.log(10))
    w = cnn.fc1.weight
    assert w.abs().max() <= 0.2 and w.abs().max() > 0.19
    assert w.std().item() == pytest.approx(0.1 * 0.8796, rel=0.01)  # normal cut at 2 sigma
    assert all(torch.all(layer.bias == 0.1) for layer in (cnn.conv1, cnn.conv2, cnn.fc1, cnn.fc2))


def test_cnn_eval_forward_matches_numpy_layers(cnn, device):
    """Same weights through the a03/a06 numpy layers: 'same' conv (pad 2), ReLU, 2x2 pool, (C, H, W) flatten."""
    model = copy.deepcopy(cnn).to(device).eval()
    x = np.random.default_rng(2).random((2, 1, 28, 28))
    w = {name: to_numpy(p) for name, p in model.named_parameters()}
    pool = {"pool_height": 2, "pool_width": 2, "stride": 2}
    h = relu_forward(conv_forward_fast(x, w["conv1.weight"], w["conv1.bias"], {"stride": 1, "pad": 2})[0])[0]
    h = max_pool_forward_fast(h, pool)[0]
    h = relu_forward(conv_forward_fast(h, w["conv2.weight"], w["conv2.bias"], {"stride": 1, "pad": 2})[0])[0]
    h = max_pool_forward_fast(h, pool)[0]
    h = relu_forward(affine_forward(h, w["fc1.weight"].T, w["fc1.bias"])[0])[0]
    logits = affine_forward(h, w["fc2.weight"].T, w["fc2.bias"])[0]
    assert rel_error(to_numpy(model(to_tensor(x, device))), logits) < TOL_EXACT[np.float64]


def test_dropout_uses_keep_probability(cnn):
    keep_prob = KEEP_PROB
    assert cnn.dropout.p == pytest.approx(1 - keep_prob)  # nn.Dropout takes the drop probability
    torch.manual_seed(3)
    model = copy.deepcopy(cnn)
    seen = {}
    model.dropout.register_forward_hook(lambda mod, inp, out: seen.update(inp=inp[0], out=out))
    x = torch.rand(8, 784, dtype=torch.float64)
    model.train()(x)
    active = seen["inp"] > 0
    kept = (seen["out"][active] != 0).double().mean().item()
    assert kept == pytest.approx(keep_prob, abs=0.02)
    assert torch.allclose(seen["out"][seen["out"] != 0], (seen["inp"] / keep_prob)[seen["out"] != 0])
    model.eval()(x)
    assert torch.equal(seen["out"], seen["inp"])


def test_optimisers_follow_the_book():
    soft = softmax_optimizer(SoftmaxRegression())
    assert isinstance(soft, torch.optim.SGD) and soft.defaults["lr"] == 0.5
    adam = cnn_optimizer(SoftmaxRegression())
    assert isinstance(adam, torch.optim.Adam) and adam.defaults["lr"] == 1e-4
    assert adam.defaults["betas"] == (0.9, 0.999) and adam.defaults["eps"] == 1e-8


def test_softmax_regression_overfits_separable_data(device):
    g = torch.Generator().manual_seed(4)
    X = torch.rand(50, 784, generator=g, dtype=torch.float64)
    y = (X @ torch.randn(784, 10, generator=g, dtype=torch.float64)).argmax(dim=1)
    X, y = X.to(device), y.to(device)
    model = SoftmaxRegression(device=device)
    losses = mnist_train(model, softmax_optimizer(model), X, y, steps=40, batch_size=25, seed=0)
    assert mnist_accuracy(model, X, y) == 1.0
    assert losses[-1] < losses[0]


def test_train_is_reproducible_from_its_seed():
    X = torch.rand(30, 784, dtype=torch.float64)
    y = torch.randint(0, 10, (30,))
    runs = []
    for _ in range(2):
        model = SoftmaxRegression()
        runs.append(mnist_train(model, softmax_optimizer(model), X, y, steps=7, batch_size=8, seed=5))
    assert runs[0] == runs[1]


@pytest.mark.slow
def test_cnn_steps_at_the_book_rate_reduce_the_loss(cnn, device):
    torch.manual_seed(6)
    model = copy.deepcopy(cnn).to(device)
    opt = cnn_optimizer(model)
    X = torch.rand(10, 784, dtype=torch.float64, device=device)
    y = torch.arange(10, device=device)
    first = mnist_train_step(model, opt, X, y)
    for _ in range(3):
        last = mnist_train_step(model, opt, X, y)
    assert last < first

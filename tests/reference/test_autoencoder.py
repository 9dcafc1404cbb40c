"""Denoising autoencoder and SdA (a08): masking-noise statistics, the tied-weight cost and gradients
vs torch and numeric gradients, stability when saturated, shared parameters in the SdA, training."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from gradcheck import eval_numerical_gradient, rel_error
from reference.numpy.autoencoder import SdA, dA
from reference.numpy.logistic import sgd_optimize
from reference.torch.autoencoder import da_cost, da_hidden, da_reconstruction, sda_finetune_cost
from reference.torch.autograd import to_numpy, to_tensor, value_and_grads
from tests.reference.conftest import TOL_EXACT, TOL_NUMERIC_GRAD


def small_da(rng: np.random.Generator, n_visible: int = 6, n_hidden: int = 4) -> dA:
    return dA(n_visible, n_hidden, bhid=rng.normal(size=n_hidden), bvis=rng.normal(size=n_visible), seed=0)


def prototypes(rng: np.random.Generator, n: int, dim: int = 16, k: int = 4) -> tuple[np.ndarray, np.ndarray]:
    """Binary vectors near ``k`` random prototypes (5 % of bits flipped) and their prototype index."""
    protos = rng.random((k, dim)) < 0.5
    flips = rng.random((n, dim)) < 0.05
    labels = rng.integers(0, k, size=n)
    return (protos[labels] ^ flips).astype(np.float64), labels


def test_init_bound_and_zero_biases():
    model = dA(784, 500, seed=123)
    assert np.abs(model.W).max() <= 0.2734344 and np.abs(model.W).max() > 0.95 * 0.2734344
    assert np.all(model.bhid == 0) and np.all(model.bvis == 0)


@pytest.mark.parametrize("level", [0.0, 0.3, 0.7, 1.0])
def test_masking_noise_statistics(level):
    model = dA(4, 2, seed=0)
    x = np.random.default_rng(5).random((1000, 1000)) + 0.1  # no zeros before corruption
    x_tilde = model.get_corrupted_input(x, level, np.random.default_rng(6))
    zeroed = x_tilde == 0
    assert zeroed.mean() == pytest.approx(level, abs=0.005)
    assert np.array_equal(x_tilde[~zeroed], x[~zeroed])  # kept entries are untouched, never rescaled


def test_masking_noise_is_the_pinned_draw():
    """One ``rng.random(x.shape)`` per call; an entry is kept where it is below 1 - level."""
    model = dA(5, 3, seed=np.random.default_rng(3))
    replay = np.random.default_rng(3)
    replay.uniform(-1, 1, size=(5, 3))  # the initial weights came first
    x = np.random.default_rng(4).random((6, 5)) + 0.1
    for level in (0.3, 0.7):
        assert np.array_equal(model.get_corrupted_input(x, level), x * (replay.random(x.shape) < 1 - level))


def test_sda_shares_its_generator():
    gen = np.random.default_rng(5)
    model = SdA(10, (8, 6), 3, seed=gen)
    assert model.rng is gen and all(d.rng is gen for d in model.dA_layers)
    replay = np.random.default_rng(5)
    for layer, (n_in, n_out) in zip(model.sigmoid_layers, ((10, 8), (8, 6))):
        bound = 4 * np.sqrt(6 / (n_in + n_out))
        assert np.array_equal(layer.W, replay.uniform(-bound, bound, size=(n_in, n_out)))


def test_hidden_and_reconstruction_match_torch(rng, device):
    model = small_da(rng)
    x = rng.random((5, 6))
    h = model.get_hidden_values(x)
    th = to_numpy(da_hidden(*(to_tensor(a, device) for a in (x, model.W, model.bhid))))
    assert rel_error(h, th) < TOL_EXACT[np.float64]
    z = model.get_reconstructed_input(h)
    tz = to_numpy(da_reconstruction(*(to_tensor(a, device) for a in (h, model.W, model.bvis))))
    assert rel_error(z, tz) < TOL_EXACT[np.float64]


def test_cost_is_mean_binary_cross_entropy_of_clean_input(rng):
    model = small_da(rng)
    x = rng.random((5, 6))
    x_tilde = model.get_corrupted_input(x, 0.5)
    z = model.get_reconstructed_input(model.get_hidden_values(x_tilde))
    expected = F.binary_cross_entropy(torch.tensor(z), torch.tensor(x), reduction="sum").item() / 5
    assert rel_error(model.cost(x, x_tilde), expected) < TOL_EXACT[np.float64]


def test_cost_and_gradients_match_autograd(rng, device):
    model = small_da(rng)
    x = rng.random((5, 6))
    x_tilde = model.get_corrupted_input(x, 0.4)
    cost, grads = model.cost_and_gradients(x, x_tilde)
    value, (gW, gh, gv) = value_and_grads(da_cost, [x, x_tilde, model.W, model.bhid, model.bvis],
                                          wrt=[2, 3, 4], device=device)
    assert rel_error(cost, value) < TOL_EXACT[np.float64]
    for mine, theirs in ((grads["W"], gW), (grads["bhid"], gh), (grads["bvis"], gv)):
        assert rel_error(mine, theirs) < TOL_EXACT[np.float64]


def test_gradients_match_numeric(rng):
    model = small_da(rng)
    x = rng.random((5, 6))
    x_tilde = model.get_corrupted_input(x, 0.3)
    grads = model.gradients(x, x_tilde)
    for name, p in model.params.items():
        num = eval_numerical_gradient(lambda _: model.cost(x, x_tilde), p)
        assert rel_error(grads[name], num) < TOL_NUMERIC_GRAD, name


def test_saturated_units_give_finite_cost(rng):
    model = dA(3, 2, W=np.full((3, 2), 25.0), bvis=np.array([50.0, -50.0, 0.0]), seed=0)
    x = np.array([[0.0, 1.0, 1.0], [1.0, 0.0, 1.0]])
    cost, grads = model.cost_and_gradients(x)
    assert np.isfinite(cost) and cost > 50  # log(1 + e^50) per mismatched unit, not inf
    assert all(np.all(np.isfinite(g)) for g in grads.values())


def test_reconstruction_cost_decreases_with_training(rng):
    X, _ = prototypes(rng, 200)
    model = dA(16, 8, seed=1)
    epoch_costs = []
    for _ in range(30):
        costs = [model.train_step(X[i:i + 20], 0.3, 0.1) for i in range(0, 200, 20)]
        epoch_costs.append(np.mean(costs))
    assert epoch_costs[-1] < 0.7 * epoch_costs[0]
    assert model.cost(X) < epoch_costs[0]


def test_sda_layers_share_parameters(rng):
    model = SdA(10, (8, 6), 3, seed=2)
    for layer, da_layer in zip(model.sigmoid_layers, model.dA_layers):
        assert da_layer.W is layer.W and da_layer.bhid is layer.b
    assert not any(any(p is d.bvis for d in model.dA_layers) for p in model.params.values())
    X = rng.random((20, 10))
    before = {k: v.copy() for k, v in model.params.items()}
    model.pretraining_step(1, X, corruption_level=0.2, learning_rate=0.5)
    after = model.params
    assert np.array_equal(before["W0"], after["W0"]) and np.array_equal(before["b0"], after["b0"])
    assert not np.array_equal(before["W1"], after["W1"])  # the dA's update shows in the MLP view
    assert np.array_equal(before["W2"], after["W2"])


def test_sda_dA_input_is_clean_lower_layer_output(rng):
    model = SdA(10, (8, 6), 3, seed=2)
    X = rng.random((4, 10))
    expected = 1.0 / (1.0 + np.exp(-(X @ model.sigmoid_layers[0].W + model.sigmoid_layers[0].b)))
    assert rel_error(model.layer_input(X, 1), expected) < TOL_EXACT[np.float64]


def test_sda_finetune_gradients_match_autograd_and_numeric(rng, device):
    model = SdA(7, (5, 4), 3, seed=3)
    model.logLayer.W[...] = rng.normal(size=(4, 3))
    X = rng.random((6, 7))
    y = rng.integers(0, 3, size=6)
    cost, grads = model.finetune_cost_and_gradients(X, y)
    names = list(model.params)
    value, tgrads = value_and_grads(sda_finetune_cost, [X, y] + [model.params[n] for n in names],
                                    wrt=list(range(2, 2 + len(names))), device=device)
    assert rel_error(cost, value) < TOL_EXACT[np.float64]
    for name, g in zip(names, tgrads):
        assert rel_error(grads[name], g) < TOL_EXACT[np.float64], name
    for name in ("W0", "b1"):
        num = eval_numerical_gradient(lambda _: model.negative_log_likelihood(X, y), model.params[name])
        assert rel_error(grads[name], num) < TOL_NUMERIC_GRAD, name


def test_sda_pretrain_then_finetune_overfits_fifty_examples(rng):
    X, y = prototypes(rng, 50, dim=20, k=3)
    model = SdA(20, (32, 32), 3, seed=4)
    history = model.pretrain(X, corruption_levels=(0.1, 0.2), learning_rate=0.1, epochs=10, batch_size=10)
    assert len(history) == 2 and all(h[-1] < h[0] for h in history)
    sgd_optimize(model, ((X, y), (X, y), (X, y)), learning_rate=0.5, n_epochs=600, batch_size=10,
                 patience=100_000)
    assert model.errors(X, y) == 0.0

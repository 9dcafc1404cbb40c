"""Checks of reference/numpy/fc_net.py: the book's fixed-value tests of ShallowLayerNet, numeric
gradient checks of FullyConnectedNet with and without dropout, batchnorm and L2, agreement with the
torch twins (autograd) in train and test mode, dtype handling, and overfitting 50 examples."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from gradcheck import eval_numerical_gradient, rel_error
from reference.numpy.dropout_layers import dropout_mask
from reference.numpy.fc_net import FullyConnectedNet, ShallowLayerNet, TwoLayerNet
from reference.torch import fc_net as t_fc_net
from reference.torch.autograd import to_numpy, to_tensor, value_and_grads
from tests.reference.conftest import TOL_EXACT

TOL64 = TOL_EXACT[np.float64]

# Whole-network numeric checks compare every entry, including small ones that sit close to a
# ReLU kink, so they get the tolerances recommended by seed-003 part 1 (errata 18): 1e-5 for a
# network, 1e-4 for dropout or batchnorm nets. The book's fixtures keep their own tolerances.
TOL_NET = 1e-5
TOL_NET_NOISY = 1e-4
BOOK_SCORES_TOL = 1e-6  # sum of absolute differences, as printed to 8 decimals
BOOK_LOSS_TOL = 1e-10


def _book_shallow_net() -> tuple[ShallowLayerNet, np.ndarray, np.ndarray]:
    """The book's fixture (seed-003 part 1, section 5.8): N, D, H, C = 3, 5, 50, 7 and linspace parameters."""
    n, d, h, c = 3, 5, 50, 7
    model = ShallowLayerNet(input_dim=d, hidden_dim=h, num_classes=c, weight_scale=1e-2)
    model.params["W1"] = np.linspace(-0.7, 0.3, num=d * h).reshape(d, h)
    model.params["b1"] = np.linspace(-0.1, 0.9, num=h)
    model.params["W2"] = np.linspace(-0.3, 0.4, num=h * c).reshape(h, c)
    model.params["b2"] = np.linspace(-0.9, 0.1, num=c)
    X = np.linspace(-5.5, 4.5, num=n * d).reshape(d, n).T
    return model, X, np.array([0, 5, 1])


def _numeric_errors(model: Any, X: np.ndarray, y: np.ndarray) -> dict[str, float]:
    """rel_error between ``model.loss``'s gradients and centered differences, per parameter."""
    _, grads = model.loss(X, y)
    return {
        name: rel_error(grads[name], eval_numerical_gradient(lambda _: model.loss(X, y)[0], param, verbose=False))
        for name, param in model.params.items()
    }


def _torch_eval(fn: Any, args: list, device: str) -> np.ndarray:
    """``fn`` of the torch twin evaluated on ``args`` (arrays become tensors on ``device``), as numpy."""
    return to_numpy(fn(*(to_tensor(a, device) if isinstance(a, np.ndarray) else a for a in args)))


def _torch_loss_and_grads(
    model: FullyConnectedNet,
    X: np.ndarray,
    y: np.ndarray,
    device: str,
    bn_params: list | None = None,
    dropout_masks: list | None = None,
) -> tuple[float, dict[str, np.ndarray]]:
    """The torch twin's loss and autograd gradients at the model's current parameters."""
    names = list(model.params)

    def fn(X, y, *values):
        params = dict(zip(names, values))
        return t_fc_net.fully_connected_net_loss(X, y, params, model.reg, bn_params, dropout_masks)

    values = [model.params[n] for n in names]
    loss, grads = value_and_grads(fn, [X, y, *values], wrt=list(range(2, 2 + len(names))), device=device)
    return float(loss), dict(zip(names, grads))


def test_shallow_net_initialization() -> None:
    """The book's init check: weight std within a tenth of weight_scale, zero biases."""
    np.random.seed(0)
    std = 1e-2
    model = ShallowLayerNet(input_dim=5, hidden_dim=50, num_classes=7, weight_scale=std)
    assert abs(model.params["W1"].std() - std) < std / 10
    assert abs(model.params["W2"].std() - std) < std / 10
    assert model.params["W1"].shape == (5, 50) and model.params["W2"].shape == (50, 7)
    assert model.params["b1"].shape == (50,) and not model.params["b1"].any()
    assert model.params["b2"].shape == (7,) and not model.params["b2"].any()
    assert TwoLayerNet is ShallowLayerNet


def test_shallow_net_book_scores_and_losses() -> None:
    model, X, y = _book_shallow_net()
    correct_scores = np.array(
        [
            [11.53165108, 12.2917344, 13.05181771, 13.81190102, 14.57198434, 15.33206765, 16.09215096],
            [12.05769098, 12.74614105, 13.43459113, 14.1230412, 14.81149128, 15.49994135, 16.18839143],
            [12.58373087, 13.20054771, 13.81736455, 14.43418138, 15.05099822, 15.66781506, 16.2846319],
        ]
    )
    scores = model.loss(X)
    assert np.sum(np.abs(scores - correct_scores)) < BOOK_SCORES_TOL
    loss, _ = model.loss(X, y)
    assert abs(loss - 3.4702243556) < BOOK_LOSS_TOL
    model.reg = 1.0
    loss, _ = model.loss(X, y)
    assert abs(loss - 26.5948426952) < BOOK_LOSS_TOL
    np.testing.assert_array_equal(model.predict(X), np.argmax(correct_scores, axis=1))


@pytest.mark.parametrize("reg", [0.0, 0.7])
def test_shallow_net_numeric_gradient(reg: float) -> None:
    model, X, y = _book_shallow_net()
    model.reg = reg
    errors = _numeric_errors(model, X, y)
    assert max(errors.values()) < TOL_NET, errors


@pytest.mark.parametrize("reg", [0.0, 0.7])
def test_shallow_net_matches_torch(reg: float, device: str) -> None:
    model, X, y = _book_shallow_net()
    model.reg = reg
    loss, grads = model.loss(X, y)
    names = ["W1", "b1", "W2", "b2"]
    args = [X, y, *(model.params[n] for n in names)]
    t_loss, t_grads = value_and_grads(t_fc_net.shallow_layer_net_loss, args, wrt=[2, 3, 4, 5], device=device, reg=reg)
    assert rel_error(loss, t_loss) < TOL64
    for name, tg in zip(names, t_grads):
        assert rel_error(grads[name], tg) < TOL64, name
    t_scores = _torch_eval(t_fc_net.shallow_layer_net_scores, args[:1] + args[2:], device)
    assert rel_error(model.loss(X), t_scores) < TOL64


def test_fc_net_parameters() -> None:
    np.random.seed(1)
    model = FullyConnectedNet([20, 30], input_dim=15, num_classes=10, weight_scale=5e-2, normalization="batchnorm")
    shapes = {name: p.shape for name, p in model.params.items()}
    assert shapes == {
        "W1": (15, 20), "b1": (20,), "gamma1": (20,), "beta1": (20,),
        "W2": (20, 30), "b2": (30,), "gamma2": (30,), "beta2": (30,),
        "W3": (30, 10), "b3": (10,),
    }
    assert abs(model.params["W2"].std() - 5e-2) < 5e-3
    assert np.all(model.params["gamma1"] == 1) and not model.params["beta2"].any() and not model.params["b3"].any()
    assert all(p.dtype == np.float64 for p in model.params.values())
    assert len(model.bn_params) == 2 and model.num_layers == 3


def test_fc_net_constructor_aliases_and_errors() -> None:
    assert FullyConnectedNet([5], input_dim=4, use_batchnorm=True).normalization == "batchnorm"
    assert not FullyConnectedNet([5], input_dim=4, dropout=0).use_dropout  # the book: 0 = no dropout
    assert not FullyConnectedNet([5], input_dim=4, dropout=1).use_dropout  # CS231n: 1 = no dropout
    assert FullyConnectedNet([5], input_dim=4, dropout=0.5).use_dropout
    with pytest.raises(TypeError):
        FullyConnectedNet(3072, [100, 100])
    with pytest.raises(ValueError):
        FullyConnectedNet([5], input_dim=4, normalization="layernorm")
    with pytest.raises(ValueError):
        FullyConnectedNet([5], input_dim=4, dropout=1.5)


@pytest.mark.parametrize("reg", [0.0, 0.11, 3.14])
def test_fc_net_numeric_gradient(reg: float, rng: np.random.Generator) -> None:
    """The book's check (section 5.9): three hidden layers, weight_scale 5e-2, h = 1e-5.

    A deep net: with reg > 0 the loss is ~9, and the centered difference's round-off
    (~1e-16 * 9 / 1e-5) is a sizeable fraction of the smallest W1 entries (~1e-6), hence TOL_NET_NOISY.
    """
    np.random.seed(2)
    X = rng.standard_normal((2, 15))
    y = rng.integers(10, size=2)
    model = FullyConnectedNet([20, 30, 20], input_dim=15, num_classes=10, reg=reg, weight_scale=5e-2)
    loss, _ = model.loss(X, y)
    assert 2.0 < loss - 0.5 * reg * sum(np.sum(model.params[f"W{i}"] ** 2) for i in (1, 2, 3, 4)) < 2.6
    errors = _numeric_errors(model, X, y)
    assert max(errors.values()) < TOL_NET_NOISY, errors


@pytest.mark.parametrize("dropout,reg", [(0, 0.0), (0.2, 0.0), (0.5, 0.0), (0.7, 0.0), (0.5, 0.11)])
def test_fc_net_dropout_numeric_gradient(dropout: float, reg: float, rng: np.random.Generator) -> None:
    """The book's check (section 6.4, seed 13), plus reg > 0, which the book's reference got wrong
    (it added reg * W to the hidden weights only without dropout; errata 12)."""
    np.random.seed(3)
    X = rng.standard_normal((2, 15))
    y = rng.integers(10, size=2)
    model = FullyConnectedNet(
        [20, 30], input_dim=15, num_classes=10, weight_scale=5e-2, dropout=dropout, reg=reg, seed=13
    )
    errors = _numeric_errors(model, X, y)
    assert max(errors.values()) < TOL_NET_NOISY, errors


@pytest.mark.parametrize("reg", [0.0, 3.14])
def test_fc_net_batchnorm_numeric_gradient(reg: float, rng: np.random.Generator) -> None:
    """The book's check (part 2, section 2.8) with N = 10 instead of 2, where batch statistics of two
    rows make the check ill-conditioned. Biases that feed a batchnorm layer have an exact gradient
    of 0, so they are checked with an absolute bound (the seed's grader note)."""
    np.random.seed(4)
    X = rng.standard_normal((10, 15))
    y = rng.integers(10, size=10)
    model = FullyConnectedNet([20, 30], input_dim=15, num_classes=10, weight_scale=5e-2, use_batchnorm=True, reg=reg)
    _, grads = model.loss(X, y)
    for name in ("b1", "b2"):
        num = eval_numerical_gradient(lambda _: model.loss(X, y)[0], model.params[name], verbose=False)
        assert np.max(np.abs(grads[name])) < 1e-12 and np.max(np.abs(num)) < 1e-8, name
    errors = {k: v for k, v in _numeric_errors(model, X, y).items() if k not in ("b1", "b2")}
    assert max(errors.values()) < TOL_NET_NOISY, errors


@pytest.mark.parametrize(
    "options",
    [{}, {"reg": 0.3}, {"dropout": 0.6, "seed": 5}, {"normalization": "batchnorm", "reg": 0.2},
     {"normalization": "batchnorm", "dropout": 0.7, "seed": 9, "reg": 0.05}],
    ids=["plain", "reg", "dropout", "batchnorm", "bn-dropout-reg"],
)
def test_fc_net_matches_torch(options: dict, rng: np.random.Generator, device: str) -> None:
    """Train-mode loss, gradients and running statistics, then test-mode scores, against the torch twin."""
    np.random.seed(5)
    X = rng.standard_normal((8, 3, 2, 2))
    y = rng.integers(6, size=8)
    model = FullyConnectedNet([9, 7], input_dim=12, num_classes=6, weight_scale=0.3, **options)
    masks = None
    if model.use_dropout:
        masks = [dropout_mask((8, h), model.dropout_param["p"], options["seed"]) for h in (9, 7)]
    bn_before = [dict(p) for p in model.bn_params] or None

    loss, grads = model.loss(X, y)
    t_loss, t_grads = _torch_loss_and_grads(model, X, y, device, bn_before, masks)
    assert rel_error(loss, t_loss) < TOL64
    for name in model.params:
        if name in ("b1", "b2") and model.use_batchnorm:
            assert np.max(np.abs(grads[name] - t_grads[name])) < 1e-12, name
        else:
            assert rel_error(grads[name], t_grads[name]) < TOL64, name
    for np_bn, t_bn in zip(model.bn_params, bn_before or []):
        for key in ("running_mean", "running_var"):
            assert rel_error(np_bn[key], to_numpy(t_bn[key])) < TOL64, key

    scores = model.loss(X)
    bn_test = [dict(p) for p in model.bn_params] or None
    names = list(model.params)
    t_scores = _torch_eval(
        lambda X, *v: t_fc_net.fully_connected_net_scores(X, dict(zip(names, v)), bn_test),
        [X, *(model.params[n] for n in names)],
        device,
    )
    assert rel_error(scores, t_scores) < TOL64


def test_test_mode_is_deterministic_and_drops_nothing(rng: np.random.Generator) -> None:
    np.random.seed(6)
    X = rng.standard_normal((5, 12))
    model = FullyConnectedNet([9, 7], input_dim=12, num_classes=6, dropout=0.3, weight_scale=0.3)
    plain = FullyConnectedNet([9, 7], input_dim=12, num_classes=6, weight_scale=0.3)
    plain.params = model.params
    np.testing.assert_array_equal(model.loss(X), plain.loss(X))
    np.testing.assert_array_equal(model.loss(X), model.loss(X))


def test_float32_model(rng: np.random.Generator) -> None:
    np.random.seed(7)
    X = rng.standard_normal((6, 12))
    y = rng.integers(6, size=6)
    model = FullyConnectedNet(
        [9, 7], input_dim=12, num_classes=6, weight_scale=0.3, dtype=np.float32, normalization="batchnorm"
    )
    assert all(p.dtype == np.float32 for p in model.params.values())
    loss, grads = model.loss(X, y)
    assert model.loss(X).dtype == np.float32
    assert all(g.dtype == np.float32 for g in grads.values())
    twin = FullyConnectedNet([9, 7], input_dim=12, num_classes=6, normalization="batchnorm")
    twin.params = {k: v.astype(np.float64) for k, v in model.params.items()}
    assert rel_error(loss, twin.loss(X, y)[0]) < TOL_EXACT[np.float32]


def _overfit(model: Any, X: np.ndarray, y: np.ndarray, learning_rate: float, max_iters: int) -> float:
    """Full-batch gradient descent until every training example is classified right; train accuracy."""
    for _ in range(max_iters):
        _, grads = model.loss(X, y)
        for name in model.params:
            model.params[name] -= learning_rate * grads[name]
        if np.all(model.predict(X) == y):
            break
    return float(np.mean(model.predict(X) == y))


@pytest.mark.parametrize(
    "options", [{}, {"normalization": "batchnorm"}, {"dropout": 0.8}], ids=["plain", "batchnorm", "dropout"]
)
def test_fc_net_overfits_50_examples(options: dict, rng: np.random.Generator) -> None:
    """The book's sanity check (section 5.9) on small random data: 50 examples, 100 % train accuracy."""
    np.random.seed(8)
    X = rng.standard_normal((50, 3, 4, 4))
    y = rng.integers(10, size=50)
    model = FullyConnectedNet([100, 100], input_dim=48, num_classes=10, weight_scale=5e-2, **options)
    assert _overfit(model, X, y, learning_rate=0.3, max_iters=300) == 1.0


def test_shallow_net_overfits_50_examples(rng: np.random.Generator) -> None:
    np.random.seed(9)
    X = rng.standard_normal((50, 48))
    y = rng.integers(10, size=50)
    model = ShallowLayerNet(input_dim=48, hidden_dim=100, num_classes=10, weight_scale=5e-2)
    assert _overfit(model, X, y, learning_rate=0.3, max_iters=300) == 1.0

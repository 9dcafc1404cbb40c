"""Update rules: the book's fixed values, the notes' trajectories, numpy vs torch and vs torch.optim."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import reference.numpy.updater as nu
import reference.torch.updater as tu
from gradcheck import rel_error
from reference.torch.autograd import to_numpy, to_tensor
from tests.reference.conftest import TOL_EXACT

RULES = ["sgd", "sgd_momentum", "rmsprop", "adam"]
STATE_KEYS = {"sgd": [], "sgd_momentum": ["velocity"], "rmsprop": ["cache"], "adam": ["m", "v"]}
# the book prints expected arrays to 8 decimals: a faithful result is within half a unit of the last digit
PRINTED_8_DECIMALS = 5e-9 + 1e-15

N, D = 4, 5
BOOK_W = np.linspace(-0.4, 0.6, num=N * D).reshape(N, D)
BOOK_DW = np.linspace(-0.6, 0.4, num=N * D).reshape(N, D)


def book_state(start: float, stop: float) -> np.ndarray:
    """The book's state arrays: ``linspace(start, stop, N*D).reshape(N, D)``."""
    return np.linspace(start, stop, num=N * D).reshape(N, D)


def test_sgd_momentum_book_values():
    """Book ch.5 L6242-6308: expected_next_w, expected_velocity; printed errors 8.882e-09, 4.269e-09."""
    config = {"learning_rate": 1e-3, "velocity": book_state(0.6, 0.9)}
    next_w, config = nu.sgd_momentum(BOOK_W, BOOK_DW, config)
    expected_next_w = np.asarray([
        [0.1406, 0.20738947, 0.27417895, 0.34096842, 0.40775789],
        [0.47454737, 0.54133684, 0.60812632, 0.67491579, 0.74170526],
        [0.80849474, 0.87528421, 0.94207368, 1.00886316, 1.07565263],
        [1.14244211, 1.20923158, 1.27602105, 1.34281053, 1.4096]])
    expected_velocity = np.asarray([
        [0.5406, 0.55475789, 0.56891579, 0.58307368, 0.59723158],
        [0.61138947, 0.62554737, 0.63970526, 0.65386316, 0.66802105],
        [0.68217895, 0.69633684, 0.71049474, 0.72465263, 0.73881053],
        [0.75296842, 0.76712632, 0.78128421, 0.79544211, 0.8096]])
    np.testing.assert_allclose(next_w, expected_next_w, rtol=0, atol=PRINTED_8_DECIMALS)
    np.testing.assert_allclose(config["velocity"], expected_velocity, rtol=0, atol=PRINTED_8_DECIMALS)
    assert rel_error(next_w, expected_next_w) == pytest.approx(8.88234703351e-09, rel=1e-6)
    assert rel_error(config["velocity"], expected_velocity) == pytest.approx(4.26928774328e-09, rel=1e-6)


def test_rmsprop_book_values():
    """Book ch.5 L6480-6510: expected_next_w, expected_cache; printed errors 9.503e-08, 2.648e-09."""
    config = {"learning_rate": 1e-2, "cache": book_state(0.6, 0.9)}
    next_w, config = nu.rmsprop(BOOK_W, BOOK_DW, config)
    expected_next_w = np.asarray([
        [-0.39223849, -0.34037513, -0.28849239, -0.23659121, -0.18467247],
        [-0.132737, -0.08078555, -0.02881884, 0.02316247, 0.07515774],
        [0.12716641, 0.17918792, 0.23122175, 0.28326742, 0.33532447],
        [0.38739248, 0.43947102, 0.49155973, 0.54365823, 0.59576619]])
    expected_cache = np.asarray([
        [0.5976, 0.6126277, 0.6277108, 0.64284931, 0.65804321],
        [0.67329252, 0.68859723, 0.70395734, 0.71937285, 0.73484377],
        [0.75037008, 0.7659518, 0.78158892, 0.79728144, 0.81302936],
        [0.82883269, 0.84469141, 0.86060554, 0.87657507, 0.8926]])
    np.testing.assert_allclose(next_w, expected_next_w, rtol=0, atol=PRINTED_8_DECIMALS)
    np.testing.assert_allclose(config["cache"], expected_cache, rtol=0, atol=PRINTED_8_DECIMALS)
    assert rel_error(next_w, expected_next_w) == pytest.approx(9.50264522989e-08, rel=1e-6)
    assert rel_error(config["cache"], expected_cache) == pytest.approx(2.64779558072e-09, rel=1e-6)


def test_adam_book_values():
    """Book ch.5 L6528-6558 (t = 5 -> 6): printed errors 1.1396e-07, v 4.208e-09, m 4.215e-09."""
    config = {"learning_rate": 1e-2, "m": book_state(0.6, 0.9), "v": book_state(0.7, 0.5), "t": 5}
    next_w, config = nu.adam(BOOK_W, BOOK_DW, config)
    expected_next_w = np.asarray([
        [-0.40094747, -0.34836187, -0.29577703, -0.24319299, -0.19060977],
        [-0.1380274, -0.08544591, -0.03286534, 0.01971428, 0.0722929],
        [0.1248705, 0.17744702, 0.23002243, 0.28259667, 0.33516969],
        [0.38774145, 0.44031188, 0.49288093, 0.54544852, 0.59801459]])
    expected_v = np.asarray([
        [0.69966, 0.68908382, 0.67851319, 0.66794809, 0.65738853],
        [0.64683452, 0.63628604, 0.6257431, 0.61520571, 0.60467385],
        [0.59414753, 0.58362676, 0.57311152, 0.56260183, 0.55209767],
        [0.54159906, 0.53110598, 0.52061845, 0.51013645, 0.49966]])
    expected_m = np.asarray([
        [0.48, 0.49947368, 0.51894737, 0.53842105, 0.55789474],
        [0.57736842, 0.59684211, 0.61631579, 0.63578947, 0.65526316],
        [0.67473684, 0.69421053, 0.71368421, 0.73315789, 0.75263158],
        [0.77210526, 0.79157895, 0.81105263, 0.83052632, 0.85]])
    np.testing.assert_allclose(next_w, expected_next_w, rtol=0, atol=PRINTED_8_DECIMALS)
    np.testing.assert_allclose(config["v"], expected_v, rtol=0, atol=PRINTED_8_DECIMALS)
    np.testing.assert_allclose(config["m"], expected_m, rtol=0, atol=PRINTED_8_DECIMALS)
    assert config["t"] == 6
    assert rel_error(next_w, expected_next_w) == pytest.approx(1.13956917985e-07, rel=1e-6)
    assert rel_error(config["v"], expected_v) == pytest.approx(4.20831403811e-09, rel=1e-6)
    assert rel_error(config["m"], expected_m) == pytest.approx(4.21496319311e-09, rel=1e-6)


def quadratic_grad(x: np.ndarray) -> np.ndarray:
    """The seed digest's test objective (seed 004 §2.13): g(x) = [2*x0 + 0.1, 0.5*x1 - 0.3]."""
    return np.array([2.0 * x[0] + 0.1, 0.5 * x[1] - 0.3])


@pytest.mark.parametrize(
    "rule, config, after_1, after_3",
    [
        (nu.sgd, {"learning_rate": 0.1}, [0.79, -1.87], [0.4876, -1.629175]),
        (nu.sgd_momentum, {"learning_rate": 0.1, "momentum": 0.9}, [0.79, -1.87], [0.0151, -1.301575]),
        (nu.adam, {"learning_rate": 0.1}, [0.9000000005, -1.9000000008], [0.7014778069, -1.7004521057]),
    ],
    ids=["sgd", "sgd_momentum", "adam"],
)
def test_trajectories_on_the_notes_quadratic(rule, config, after_1, after_3):
    """Seed 004 §2.13 vectors from x0 = [1, -2], printed to 10 significant digits at most."""
    x = np.array([1.0, -2.0])
    path = []
    for _ in range(3):
        x, config = rule(x, quadratic_grad(x), config)
        path.append(x)
    np.testing.assert_allclose(path[0], after_1, rtol=0, atol=1e-10)
    np.testing.assert_allclose(path[2], after_3, rtol=0, atol=1e-10)


def test_adam_first_step_is_about_the_learning_rate():
    """Seed 004 §2.13 property: the first bias-corrected Adam step moves each coordinate by ~lr."""
    w = np.array([3.0, -1.0, 0.5])
    next_w, _ = nu.adam(w, np.array([4.0, -0.02, 7.0]), {"learning_rate": 0.01})
    np.testing.assert_allclose(np.abs(next_w - w), 0.01, rtol=1e-5)


@pytest.mark.parametrize(
    "name, defaults",
    [
        ("sgd", {"learning_rate": 1e-2}),
        ("sgd_momentum", {"learning_rate": 1e-2, "momentum": 0.9}),
        ("rmsprop", {"learning_rate": 1e-2, "decay_rate": 0.99, "epsilon": 1e-8}),
        ("adam", {"learning_rate": 1e-3, "beta1": 0.9, "beta2": 0.999, "epsilon": 1e-8, "t": 1}),
    ],
)
def test_defaults_and_state_are_written_into_config(name, defaults, rng):
    """Without a config each rule fills in the book's defaults and stores its state for the next call."""
    w, dw = rng.standard_normal((3, 2)), rng.standard_normal((3, 2))
    w_before, dw_before = w.copy(), dw.copy()
    next_w, config = getattr(nu, name)(w, dw)
    for key, value in defaults.items():
        assert config[key] == value
    for key in STATE_KEYS[name]:
        assert config[key].shape == w.shape
    assert next_w.shape == w.shape and next_w.dtype == np.float64
    np.testing.assert_array_equal(w, w_before)
    np.testing.assert_array_equal(dw, dw_before)


def random_config(name: str, rng: np.random.Generator, shape: tuple[int, ...]) -> dict:
    """A mid-run state for ``name``: nonzero velocity/cache/moments, t = 7, non-default hyperparameters."""
    config = {"learning_rate": 0.03}
    if name == "sgd_momentum":
        config.update(momentum=0.8, velocity=rng.standard_normal(shape) * 0.1)
    if name == "rmsprop":
        config.update(decay_rate=0.95, cache=rng.uniform(0.1, 1.0, shape))
    if name == "adam":
        config.update(beta1=0.85, beta2=0.99, m=rng.standard_normal(shape) * 0.1, v=rng.uniform(0.01, 0.5, shape), t=7)
    return config


def config_to_torch(config: dict, device) -> dict:
    """The same config with its arrays as tensors on ``device``."""
    return {k: to_tensor(v, device) if isinstance(v, np.ndarray) else v for k, v in config.items()}


@pytest.mark.parametrize("name", RULES)
def test_numpy_matches_torch_over_several_steps(name, rng, device):
    """Ten chained steps from a mid-run state: next_w and every state array agree at each step."""
    shape = (6, 3)
    w = rng.standard_normal(shape)
    config = random_config(name, rng, shape)
    t_w, t_config = to_tensor(w, device), config_to_torch(config, device)
    for _ in range(10):
        dw = rng.standard_normal(shape)
        w, config = getattr(nu, name)(w, dw, config)
        t_w, t_config = getattr(tu, name)(t_w, to_tensor(dw, device), t_config)
        assert rel_error(w, to_numpy(t_w)) < TOL_EXACT[np.float64]
        for key in STATE_KEYS[name]:
            assert rel_error(config[key], to_numpy(t_config[key])) < TOL_EXACT[np.float64]
    if name == "adam":
        assert config["t"] == t_config["t"] == 17


@pytest.mark.parametrize(
    "name, make_optimizer",
    [
        ("sgd", lambda p: torch.optim.SGD(p, lr=0.05)),
        ("sgd_momentum", lambda p: torch.optim.SGD(p, lr=0.05, momentum=0.9)),
        ("adam", lambda p: torch.optim.Adam(p, lr=0.05, betas=(0.9, 0.999), eps=1e-8)),
    ],
)
def test_trajectory_matches_a_persistent_torch_optimizer(name, make_optimizer, rng, device):
    """Twenty steps from a zero state against one torch.optim optimizer run the usual way."""
    w = rng.standard_normal((5, 4))
    param = to_tensor(w, device, requires_grad=True)
    optimizer = make_optimizer([param])
    config = {"learning_rate": 0.05}
    for _ in range(20):
        dw = rng.standard_normal(w.shape)
        w, config = getattr(nu, name)(w, dw, config)
        param.grad = to_tensor(dw, device)
        optimizer.step()
        assert rel_error(w, to_numpy(param)) < TOL_EXACT[np.float64]


def test_rmsprop_epsilon_sits_inside_the_square_root():
    """With a zero cache and a tiny gradient, eps inside the root (book) and outside (torch.optim) part ways."""
    w, dw = np.zeros(1), np.full(1, 1e-6)
    next_w, _ = nu.rmsprop(w, dw, {"learning_rate": 1.0})
    # cache = 0.01 * 1e-12 = 1e-14: step = 1e-6 / sqrt(1e-14 + 1e-8), about 1e-2
    assert next_w[0] == pytest.approx(-1e-6 / np.sqrt(1e-14 + 1e-8), rel=1e-12)
    param = torch.zeros(1, dtype=torch.float64, requires_grad=True)
    optimizer = torch.optim.RMSprop([param], lr=1.0, alpha=0.99, eps=1e-8)
    param.grad = torch.full((1,), 1e-6, dtype=torch.float64)
    optimizer.step()
    # torch: 1e-6 / (1e-7 + 1e-8), about 9.09: the two conventions are not interchangeable here
    assert param.item() == pytest.approx(-1e-6 / (1e-7 + 1e-8), rel=1e-9)


def test_rmsprop_matches_torch_optim_when_the_cache_dwarfs_epsilon(rng):
    """Gradients of order 1 make eps negligible: then the book's RMSProp follows torch.optim.RMSprop."""
    w = rng.standard_normal(8)
    param = torch.tensor(w, requires_grad=True)
    optimizer = torch.optim.RMSprop([param], lr=0.01, alpha=0.99, eps=1e-8)
    config = {"learning_rate": 0.01}
    for _ in range(5):
        dw = rng.uniform(0.5, 2.0, 8) * rng.choice([-1.0, 1.0], 8)
        w, config = nu.rmsprop(w, dw, config)
        param.grad = torch.tensor(dw)
        optimizer.step()
    assert rel_error(w, param.detach().numpy()) < 1e-6


def test_torch_momentum_rejects_zero_learning_rate():
    """The velocity/buffer mapping divides by the learning rate."""
    with pytest.raises(ValueError, match="learning_rate"):
        tu.sgd_momentum(torch.zeros(2, dtype=torch.float64), torch.ones(2, dtype=torch.float64), {"learning_rate": 0.0})

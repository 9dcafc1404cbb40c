"""Hidden graders of the a05 update rules: ``sgd_momentum``, ``rmsprop`` and ``adam`` (the book's ``updater``).

Why these checks: each rule runs first on the book's fixed inputs (its printed values depend on the
conventions the notebook pins: ``t`` incremented before use, epsilon outside the root for Adam),
then for three chained steps from ``config=None``, each step handed the ``next_w`` and the config
the previous one returned (so the state -- velocity, cache, ``m``, ``v``, ``t`` -- must be carried
in the config), then from a config that sets every hyperparameter to a non-default value (a rule
that ignores one, or overwrites it with its default, drifts away). Leaving ``w`` and ``dw`` alone is
part of the chained-steps test (a rule that does nothing leaves them alone too). Values are compared with
``reference.numpy`` and, where the book and PyTorch use one formula (momentum and Adam), with
``torch.optim`` step by step. RMSProp is not compared with ``torch.optim.RMSprop``, which puts
epsilon outside the square root: a first step on gradients of about 1e-6 tells the placements apart
(and does the same for Adam's). ``w`` and ``dw`` must come back unmodified; the state may be updated
in place or replaced (the notebook allows both), so only the returned config is read.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import numpy as np

from pipelines.grade.api import check_close, check_true, check_unmodified, points, probe, ref, step
from reference import numpy as ref_np
from reference.torch import to_numpy, to_tensor
from reference.torch import updater as ref_torch

# Random probes: parameters of shape SHAPE and three chained steps.
SHAPE = (6, 7)
STEPS = 3
# The defaults the notebook pins, per rule (hyperparameters only; the state starts at zeros / t = 0).
DEFAULTS: dict[str, dict[str, float]] = {
    "sgd_momentum": {"learning_rate": 1e-2, "momentum": 0.9},
    "rmsprop": {"learning_rate": 1e-2, "decay_rate": 0.99, "epsilon": 1e-8},
    "adam": {"learning_rate": 1e-3, "beta1": 0.9, "beta2": 0.999, "epsilon": 1e-8},
}
# Non-default hyperparameters for the custom probes (each far enough from its default to matter).
CUSTOM: dict[str, dict[str, float]] = {
    "sgd_momentum": {"learning_rate": 0.05, "momentum": 0.6},
    "rmsprop": {"learning_rate": 0.03, "decay_rate": 0.8, "epsilon": 1e-4},
    "adam": {"learning_rate": 0.02, "beta1": 0.7, "beta2": 0.9, "epsilon": 1e-3},
}
# The state each rule keeps in its config.
STATE = {"sgd_momentum": ("velocity",), "rmsprop": ("cache",), "adam": ("m", "v", "t")}
# Gradients of the tiny-gradient probes: where the two placements of epsilon differ by orders of magnitude.
TINY = 1e-6


def _book_inputs(rule: str) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """The book's fixed check of ``rule`` (seed-003 part 2, sections 2.1-2.3): N, D = 4, 5, linspace inputs."""
    n, d = 4, 5
    w = np.linspace(-0.4, 0.6, num=n * d).reshape(n, d)
    dw = np.linspace(-0.6, 0.4, num=n * d).reshape(n, d)
    state = np.linspace(0.6, 0.9, num=n * d).reshape(n, d)
    config: dict[str, Any] = {
        "sgd_momentum": {"learning_rate": 1e-3, "velocity": state},
        "rmsprop": {"learning_rate": 1e-2, "cache": state},
        "adam": {"learning_rate": 1e-2, "m": state, "v": np.linspace(0.7, 0.5, num=n * d).reshape(n, d), "t": 5},
    }[rule]
    return w, dw, config


def _chain(rule: str, w: np.ndarray, grads: list[np.ndarray], config: dict[str, Any] | None) -> list:
    """Steps s1..sK: ``rule`` on ``w`` and ``grads[0]``, then on each previous step's next_w and config."""
    steps = [step("s1", rule, w, grads[0], config)]
    for k, g in enumerate(grads[1:], start=2):
        steps.append(step(f"s{k}", rule, ref(f"s{k - 1}").out(0), g, ref(f"s{k - 1}").out(1)))
    return steps


def _random_chain(rule: str, rng: np.random.Generator, config: dict[str, Any] | None) -> dict[str, Any]:
    w = rng.standard_normal(SHAPE)
    grads = [rng.standard_normal(SHAPE) for _ in range(STEPS)]
    return {"steps": _chain(rule, w, grads, config)}


# --- probes --------------------------------------------------------------------------------------


@probe("sgd_momentum")
def momentum_book(rng):
    return {"steps": [step("s1", "sgd_momentum", *_book_inputs("sgd_momentum"))]}


@probe("sgd_momentum")
def momentum_chain(rng):
    return _random_chain("sgd_momentum", rng, None)


@probe("sgd_momentum")
def momentum_custom(rng):
    return _random_chain("sgd_momentum", rng, dict(CUSTOM["sgd_momentum"]))


@probe("rmsprop")
def rmsprop_book(rng):
    return {"steps": [step("s1", "rmsprop", *_book_inputs("rmsprop"))]}


@probe("rmsprop")
def rmsprop_chain(rng):
    return _random_chain("rmsprop", rng, None)


@probe("rmsprop")
def rmsprop_custom(rng):
    return _random_chain("rmsprop", rng, dict(CUSTOM["rmsprop"]))


@probe("rmsprop")
def rmsprop_tiny(rng):
    w = rng.standard_normal(SHAPE)
    dw = TINY * rng.uniform(0.5, 2.0, SHAPE) * rng.choice([-1.0, 1.0], SHAPE)
    return {"steps": [step("s1", "rmsprop", w, dw, None)]}


@probe("adam")
def adam_book(rng):
    return {"steps": [step("s1", "adam", *_book_inputs("adam"))]}


@probe("adam")
def adam_chain(rng):
    return _random_chain("adam", rng, None)


@probe("adam")
def adam_custom(rng):
    return _random_chain("adam", rng, dict(CUSTOM["adam"]))


@probe("adam")
def adam_tiny(rng):
    w = rng.standard_normal(SHAPE)
    dw = TINY * rng.uniform(0.5, 2.0, SHAPE) * rng.choice([-1.0, 1.0], SHAPE)
    return {"steps": [step("s1", "adam", w, dw, {"learning_rate": 1e-2})]}


# --- helpers -------------------------------------------------------------------------------------


def _reference_steps(rule: str, run, names: list[str], *, torch: bool = False) -> list[tuple[np.ndarray, dict]]:
    """(next_w, config) after each step, by the reference rule on the probe's inputs (numpy, or the
    torch twin that runs ``torch.optim``); the state is deep-copied, so nothing the student did leaks in."""
    first = run.step(names[0])
    w, config = first.args[0], copy.deepcopy(first.args[2])
    grads = [run.step(name).args[1] for name in names]
    out = []
    if torch:
        fn: Callable = getattr(ref_torch, rule)
        w_t = to_tensor(w, "cpu")
        config_t = None if config is None else {k: to_tensor(v, "cpu") if isinstance(v, np.ndarray) else v
                                                for k, v in config.items()}
        for g in grads:
            w_t, config_t = fn(w_t, to_tensor(g, "cpu"), config_t)
            out.append((to_numpy(w_t), {k: to_numpy(v) if not isinstance(v, (int, float)) else v
                                        for k, v in config_t.items()}))
        return out
    fn = getattr(ref_np, rule)
    for g in grads:
        w, config = fn(w, g, config)
        out.append((w, copy.deepcopy(config)))
    return out


def _check_steps(rule: str, run, tolerance, label: str, *, steps: int = STEPS, torch: bool = False) -> None:
    """Every step's next_w and the final config's state against the reference run of the ``steps`` steps."""
    names = [f"s{k}" for k in range(1, steps + 1)]
    expected = _reference_steps(rule, run, names, torch=torch)
    against = "torch.optim" if torch else "the reference"
    for k, (name, (w_ref, _)) in enumerate(zip(names, expected, strict=True), start=1):
        check_close(f"{rule} ({label}): next_w after step {k} (against {against})", run.step(name).returned(0), w_ref,
                    tolerance("value"))
    for key in STATE[rule]:
        got = run.step(names[-1]).entry(1, key)
        check_close(f"{rule} ({label}): config['{key}'] after {len(names)} steps (against {against})", got,
                    expected[-1][1][key], tolerance("value"))


def _check_defaults(rule: str, run) -> None:
    """The returned config of a chain started from None holds every pinned default."""
    for key, value in DEFAULTS[rule].items():
        got = run.step(f"s{STEPS}").entry(1, key)
        check_true(bool(np.isclose(float(np.asarray(got)), value, rtol=1e-12, atol=0)),
                   f"{rule}: config['{key}'] is {float(np.asarray(got)):g} after config=None, expected the default "
                   f"{value:g}.")


def _check_inputs_left(rule: str, run, steps: int = STEPS) -> None:
    check_unmodified(f"{rule}: w", run.step("s1"), 0)
    for k in range(1, steps + 1):
        check_unmodified(f"{rule}: dw (step {k})", run.step(f"s{k}"), 1)


# --- sgd_momentum --------------------------------------------------------------------------------


@points(2, cell="check_sgd_momentum")
def test_momentum_book_values(result, tolerance):
    """sgd_momentum: next_w and config['velocity'] on the book's fixed inputs (learning rate 1e-3)."""
    _check_steps("sgd_momentum", result("momentum_book"), tolerance, "the book's check", steps=1)


@points(3, cell="check_sgd_momentum")
def test_momentum_chained_steps(result, tolerance):
    """sgd_momentum: three steps from config=None, the velocity carried in the config, against the reference
    and against torch.optim.SGD(momentum=0.9); the defaults are stored in the config; w and dw are left alone."""
    run = result("momentum_chain")
    _check_defaults("sgd_momentum", run)
    _check_steps("sgd_momentum", run, tolerance, "three steps from config=None")
    _check_inputs_left("sgd_momentum", run)
    _check_inputs_left("sgd_momentum", result("momentum_book"), steps=1)
    _check_steps("sgd_momentum", run, tolerance, "three steps from config=None", torch=True)


@points(1, cell="check_sgd_momentum")
def test_momentum_custom_hyperparameters(result, tolerance):
    """sgd_momentum: three steps with learning_rate 0.05 and momentum 0.6 given in the config."""
    run = result("momentum_custom")
    _check_steps("sgd_momentum", run, tolerance, "learning_rate 0.05, momentum 0.6")
    _check_steps("sgd_momentum", run, tolerance, "learning_rate 0.05, momentum 0.6", torch=True)


# --- rmsprop -------------------------------------------------------------------------------------


@points(2, cell="check_rmsprop")
def test_rmsprop_book_values(result, tolerance):
    """rmsprop: next_w and config['cache'] on the book's fixed inputs (learning rate 1e-2)."""
    _check_steps("rmsprop", result("rmsprop_book"), tolerance, "the book's check", steps=1)


@points(2, cell="check_rmsprop")
def test_rmsprop_chained_steps(result, tolerance):
    """rmsprop: three steps from config=None, the cache carried in the config; the defaults are stored in the config;
    w and dw are left alone."""
    run = result("rmsprop_chain")
    _check_defaults("rmsprop", run)
    _check_steps("rmsprop", run, tolerance, "three steps from config=None")
    _check_inputs_left("rmsprop", run)
    _check_inputs_left("rmsprop", result("rmsprop_book"), steps=1)


@points(1, cell="check_rmsprop")
def test_rmsprop_custom_hyperparameters(result, tolerance):
    """rmsprop: three steps with learning_rate 0.03, decay_rate 0.8 and epsilon 1e-4 given in the config."""
    _check_steps("rmsprop", result("rmsprop_custom"), tolerance, "learning_rate 0.03, decay_rate 0.8, epsilon 1e-4")


@points(1, cell="check_rmsprop")
def test_rmsprop_epsilon_inside_the_root(result, tolerance):
    """rmsprop: a first step on gradients of about 1e-6, where only epsilon inside the square root gives the
    book's step (torch.optim.RMSprop's form, epsilon outside, is 1000 times larger)."""
    _check_steps("rmsprop", result("rmsprop_tiny"), tolerance, "gradients of about 1e-6", steps=1)


# --- adam ----------------------------------------------------------------------------------------


@points(2, cell="check_adam")
def test_adam_book_values(result, tolerance):
    """adam: next_w, config['m'], config['v'] and config['t'] on the book's fixed inputs (t = 5, so this
    step uses t = 6)."""
    run = result("adam_book")
    _check_steps("adam", run, tolerance, "the book's check", steps=1)
    t = float(np.asarray(run.step("s1").entry(1, "t")))
    check_true(t == 6, f"adam: config['t'] is {t:g} after one step from t = 5, expected 6 (t counts the steps taken).")


@points(3, cell="check_adam")
def test_adam_chained_steps(result, tolerance):
    """adam: three steps from config=None, m, v and t carried in the config, against the reference and against
    torch.optim.Adam; the defaults are stored in the config; w and dw are left alone."""
    run = result("adam_chain")
    _check_defaults("adam", run)
    _check_steps("adam", run, tolerance, "three steps from config=None")
    _check_inputs_left("adam", run)
    _check_inputs_left("adam", result("adam_book"), steps=1)
    _check_steps("adam", run, tolerance, "three steps from config=None", torch=True)


@points(1, cell="check_adam")
def test_adam_custom_hyperparameters(result, tolerance):
    """adam: three steps with learning_rate 0.02, beta1 0.7, beta2 0.9 and epsilon 1e-3 given in the config."""
    run = result("adam_custom")
    _check_steps("adam", run, tolerance, "learning_rate 0.02, beta1 0.7, beta2 0.9, epsilon 1e-3")
    _check_steps("adam", run, tolerance, "learning_rate 0.02, beta1 0.7, beta2 0.9, epsilon 1e-3", torch=True)


@points(1, cell="check_adam")
def test_adam_epsilon_outside_the_root(result, tolerance):
    """adam: a first step on gradients of about 1e-6, where epsilon outside the square root (the book's code and
    torch.optim.Adam) and inside it differ by orders of magnitude."""
    run = result("adam_tiny")
    _check_steps("adam", run, tolerance, "gradients of about 1e-6", steps=1)
    _check_steps("adam", run, tolerance, "gradients of about 1e-6", steps=1, torch=True)

"""The update rules on torch tensors, computed by ``torch.optim`` wherever it uses the book's formula.

Mirrors ``reference/numpy/updater.py`` name for name (``sgd``, ``sgd_momentum``, ``rmsprop``,
``adam``) with the same signature ``rule(w, dw, config=None) -> (next_w, config)`` and the same
config keys and defaults; ``w``, ``dw`` and the state entries of ``config`` are tensors (``t`` is
an int). One call is one step from the state in ``config``, so numpy and torch can be compared
step by step:

- ``sgd``          -> ``torch.optim.SGD(lr)``.
- ``sgd_momentum`` -> ``torch.optim.SGD(lr, momentum)``; torch's buffer is ``-velocity / lr``.
- ``rmsprop``      -> a written-out formula: ``torch.optim.RMSprop`` puts eps outside the square
  root, the book inside.
- ``adam``         -> ``torch.optim.Adam(lr, betas, eps)`` with state ``step = t``,
  ``exp_avg = m``, ``exp_avg_sq = v``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

__all__ = ["sgd", "sgd_momentum", "rmsprop", "adam"]

Config = dict[str, Any]


def _optim_step(
    make_optimizer: Callable[[list[torch.Tensor]], torch.optim.Optimizer],
    w: torch.Tensor,
    dw: torch.Tensor,
    state: dict[str, Any],
) -> tuple[torch.Tensor, dict[str, Any]]:
    """One ``optimizer.step()`` on a copy of ``w`` with gradient ``dw``, starting from ``state``.

    Returns the stepped parameter and the optimizer's state for it after the step.
    """
    param = w.detach().clone().requires_grad_(True)
    param.grad = dw.detach().clone().to(param.dtype)
    optimizer = make_optimizer([param])
    optimizer.state[param].update(state)
    optimizer.step()
    return param.detach(), optimizer.state[param]


def sgd(w: torch.Tensor, dw: torch.Tensor, config: Config | None = None) -> tuple[torch.Tensor, Config]:
    """``next_w = w - learning_rate * dw`` by ``torch.optim.SGD``; config ``learning_rate`` (1e-2)."""
    if config is None:
        config = {}
    config.setdefault("learning_rate", 1e-2)
    next_w, _ = _optim_step(lambda p: torch.optim.SGD(p, lr=config["learning_rate"]), w, dw, {})
    return next_w, config


def sgd_momentum(w: torch.Tensor, dw: torch.Tensor, config: Config | None = None) -> tuple[torch.Tensor, Config]:
    """The book's momentum step by ``torch.optim.SGD(lr, momentum)``.

    config: ``learning_rate`` (1e-2), ``momentum`` (0.9), ``velocity`` (zeros like ``w``). The
    book's ``velocity`` is ``-lr`` times torch's ``momentum_buffer``, so the buffer is seeded with
    ``-velocity / lr`` and the new velocity read back as ``-lr * buffer``; hence ``lr`` must be
    nonzero.
    """
    if config is None:
        config = {}
    config.setdefault("learning_rate", 1e-2)
    config.setdefault("momentum", 0.9)
    lr = config["learning_rate"]
    if lr == 0:
        raise ValueError("sgd_momentum (torch): learning_rate 0 cannot map velocity onto torch's momentum buffer")
    velocity = config.get("velocity", torch.zeros_like(w))
    state = {"momentum_buffer": (-velocity / lr).to(w.dtype)}
    next_w, state = _optim_step(
        lambda p: torch.optim.SGD(p, lr=lr, momentum=config["momentum"]), w, dw, state
    )
    config["velocity"] = -lr * state["momentum_buffer"]
    return next_w, config


def rmsprop(w: torch.Tensor, dw: torch.Tensor, config: Config | None = None) -> tuple[torch.Tensor, Config]:
    """The book's RMSProp with epsilon INSIDE the square root (not ``torch.optim.RMSprop``'s form).

    config: ``learning_rate`` (1e-2), ``decay_rate`` (0.99), ``epsilon`` (1e-8), ``cache``
    (zeros like ``w``).
    """
    if config is None:
        config = {}
    config.setdefault("learning_rate", 1e-2)
    config.setdefault("decay_rate", 0.99)
    config.setdefault("epsilon", 1e-8)
    decay = config["decay_rate"]
    cache = config.get("cache", torch.zeros_like(w))
    cache = decay * cache + (1.0 - decay) * dw * dw
    config["cache"] = cache
    next_w = w - config["learning_rate"] * dw / torch.sqrt(cache + config["epsilon"])
    return next_w, config


def adam(w: torch.Tensor, dw: torch.Tensor, config: Config | None = None) -> tuple[torch.Tensor, Config]:
    """The book's Adam step by ``torch.optim.Adam`` (t incremented before use, eps outside the root).

    config: ``learning_rate`` (1e-3), ``beta1`` (0.9), ``beta2`` (0.999), ``epsilon`` (1e-8),
    ``m``, ``v`` (zeros like ``w``), ``t`` (0).
    """
    if config is None:
        config = {}
    config.setdefault("learning_rate", 1e-3)
    config.setdefault("beta1", 0.9)
    config.setdefault("beta2", 0.999)
    config.setdefault("epsilon", 1e-8)
    state = {
        "step": torch.tensor(float(config.get("t", 0))),
        "exp_avg": config.get("m", torch.zeros_like(w)).detach().clone().to(w.dtype),
        "exp_avg_sq": config.get("v", torch.zeros_like(w)).detach().clone().to(w.dtype),
    }
    next_w, state = _optim_step(
        lambda p: torch.optim.Adam(
            p, lr=config["learning_rate"], betas=(config["beta1"], config["beta2"]), eps=config["epsilon"]
        ),
        w,
        dw,
        state,
    )
    config["m"], config["v"], config["t"] = state["exp_avg"], state["exp_avg_sq"], int(state["step"].item())
    return next_w, config

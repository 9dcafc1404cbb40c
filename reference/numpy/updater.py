"""First-order update rules, the book's ``updater`` module (CS231n's ``optim``), units a04 and a05.

Every rule has the signature ``rule(w, dw, config=None) -> (next_w, config)``: ``w`` and ``dw``
are arrays of one shape, ``config`` is a dict of hyperparameters plus the rule's running state
(velocity, cache, moments, step count). Missing keys get the defaults below and are written into
``config``, which is returned so that the Trainer keeps one config per parameter. The input
arrays are never modified; ``next_w`` and the state arrays are new arrays.

The formulas are the book's (seed 003 ch.5 reference code), because its fixed test values depend
on them: RMSProp puts ``epsilon`` INSIDE the square root, Adam puts it OUTSIDE and increments
``t`` before the bias correction. Each docstring says how the rule relates to ``torch.optim``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["sgd", "sgd_momentum", "rmsprop", "adam"]

Config = dict[str, Any]


def sgd(w: np.ndarray, dw: np.ndarray, config: Config | None = None) -> tuple[np.ndarray, Config]:
    """Vanilla SGD: ``next_w = w - learning_rate * dw``.

    config: ``learning_rate`` (default 1e-2). Same as ``torch.optim.SGD(lr=learning_rate)``.
    """
    if config is None:
        config = {}
    config.setdefault("learning_rate", 1e-2)
    next_w = w - config["learning_rate"] * dw
    return next_w, config


def sgd_momentum(w: np.ndarray, dw: np.ndarray, config: Config | None = None) -> tuple[np.ndarray, Config]:
    """SGD with momentum: ``v = momentum * v - learning_rate * dw``, ``next_w = w + v``.

    config: ``learning_rate`` (1e-2), ``momentum`` (0.9; 0 is plain SGD), ``velocity``
    (zeros like ``w``; the new ``v`` is stored back).

    ``torch.optim.SGD(lr, momentum)`` keeps ``buf = momentum * buf + dw`` and steps
    ``w -= lr * buf``: the same trajectory for a constant learning rate, with
    ``velocity = -lr * buf``. They part ways when the learning rate changes mid-run, since the
    book's velocity carries the old rate and torch's buffer does not.
    """
    if config is None:
        config = {}
    config.setdefault("learning_rate", 1e-2)
    config.setdefault("momentum", 0.9)
    v = config.get("velocity", np.zeros_like(w, dtype=np.float64))
    v = config["momentum"] * v - config["learning_rate"] * dw
    config["velocity"] = v
    return w + v, config


def rmsprop(w: np.ndarray, dw: np.ndarray, config: Config | None = None) -> tuple[np.ndarray, Config]:
    """RMSProp: ``cache = decay_rate * cache + (1 - decay_rate) * dw**2``,
    ``next_w = w - learning_rate * dw / sqrt(cache + epsilon)`` (epsilon INSIDE the root).

    config: ``learning_rate`` (1e-2), ``decay_rate`` (0.99), ``epsilon`` (1e-8), ``cache``
    (zeros like ``w``; the new cache is stored back).

    ``torch.optim.RMSprop(lr, alpha=decay_rate, eps)`` divides by ``sqrt(cache) + eps``
    instead; the two differ wherever ``cache`` is not much larger than ``eps``, e.g. on the
    first step from a zero cache when a gradient is tiny.
    """
    if config is None:
        config = {}
    config.setdefault("learning_rate", 1e-2)
    config.setdefault("decay_rate", 0.99)
    config.setdefault("epsilon", 1e-8)
    cache = config.get("cache", np.zeros_like(w, dtype=np.float64))
    decay = config["decay_rate"]
    cache = decay * cache + (1.0 - decay) * dw * dw
    config["cache"] = cache
    next_w = w - config["learning_rate"] * dw / np.sqrt(cache + config["epsilon"])
    return next_w, config


def adam(w: np.ndarray, dw: np.ndarray, config: Config | None = None) -> tuple[np.ndarray, Config]:
    """Adam with bias correction; ``t`` is incremented BEFORE it is used:

    ``t += 1``, ``m = beta1*m + (1-beta1)*dw``, ``v = beta2*v + (1-beta2)*dw**2``,
    ``next_w = w - learning_rate * (m / (1-beta1**t)) / (sqrt(v / (1-beta2**t)) + epsilon)``
    (epsilon OUTSIDE the root).

    config: ``learning_rate`` (1e-3), ``beta1`` (0.9), ``beta2`` (0.999), ``epsilon`` (1e-8),
    ``m`` and ``v`` (zeros like ``w``), ``t`` (0, the number of steps taken so far).

    This is ``torch.optim.Adam(lr, betas=(beta1, beta2), eps)`` with state ``exp_avg = m``,
    ``exp_avg_sq = v``, ``step = t``: the same formula (torch scales ``sqrt(v)`` by the bias
    correction before adding eps too), different only in rounding.
    """
    if config is None:
        config = {}
    config.setdefault("learning_rate", 1e-3)
    config.setdefault("beta1", 0.9)
    config.setdefault("beta2", 0.999)
    config.setdefault("epsilon", 1e-8)
    m = config.get("m", np.zeros_like(w, dtype=np.float64))
    v = config.get("v", np.zeros_like(w, dtype=np.float64))
    t = config.get("t", 0) + 1
    beta1, beta2 = config["beta1"], config["beta2"]
    m = beta1 * m + (1.0 - beta1) * dw
    v = beta2 * v + (1.0 - beta2) * dw * dw
    m_hat = m / (1.0 - beta1**t)
    v_hat = v / (1.0 - beta2**t)
    next_w = w - config["learning_rate"] * m_hat / (np.sqrt(v_hat) + config["epsilon"])
    config["m"], config["v"], config["t"] = m, v, t
    return next_w, config

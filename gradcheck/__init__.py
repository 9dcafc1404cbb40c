"""Relative error and centered-difference numeric gradients, as the course defines them.

These are the yardsticks every self-check and grader uses, so they live in one place:
``rel_error(x, y) = max |x - y| / max(1e-8, |x| + |y|)`` and centered differences with h = 1e-5.

Why a package of its own: the student kit (``pipelines.kit``, installed with ``pip install
deepgrade``) hands these to students, and the reference solutions (``reference.numpy``, unit a00)
must export the same functions, yet ``reference/`` never imports ``pipelines`` and the wheel never
holds ``reference/``. Both re-export from here; the wheel ships this package beside ``pipelines``.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np


def rel_error(x: np.ndarray | float, y: np.ndarray | float) -> float:
    """Largest elementwise relative error ``|x - y| / max(1e-8, |x| + |y|)``."""
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    return float(np.max(np.abs(x - y) / np.maximum(1e-8, np.abs(x) + np.abs(y))))


def eval_numerical_gradient(
    f: Callable[[np.ndarray], float], x: np.ndarray, verbose: bool = False, h: float = 1e-5
) -> np.ndarray:
    """Numeric gradient of a scalar function ``f`` at ``x`` by centered differences.

    ``x`` is perturbed in place one entry at a time and restored, so ``f`` must read ``x``
    afresh on every call (as a closure over the array does).
    """
    grad = np.zeros_like(x, dtype=np.float64)
    it = np.nditer(x, flags=["multi_index"], op_flags=[["readwrite"]])  # type: ignore[list-item]
    while not it.finished:
        ix = it.multi_index
        old = x[ix]
        x[ix] = old + h
        fxph = f(x)
        x[ix] = old - h
        fxmh = f(x)
        x[ix] = old
        grad[ix] = (fxph - fxmh) / (2 * h)
        if verbose:
            print(ix, grad[ix])
        it.iternext()
    return grad


def eval_numerical_gradient_array(
    f: Callable[[np.ndarray], np.ndarray], x: np.ndarray, df: np.ndarray, h: float = 1e-5
) -> np.ndarray:
    """Numeric gradient of ``sum(f(x) * df)`` w.r.t. ``x``: the backward pass of an array function."""
    grad = np.zeros_like(x, dtype=np.float64)
    it = np.nditer(x, flags=["multi_index"], op_flags=[["readwrite"]])  # type: ignore[list-item]
    while not it.finished:
        ix = it.multi_index
        old = x[ix]
        x[ix] = old + h
        pos = np.array(f(x), dtype=np.float64, copy=True)
        x[ix] = old - h
        neg = np.array(f(x), dtype=np.float64, copy=True)
        x[ix] = old
        grad[ix] = np.sum((pos - neg) * df) / (2 * h)
        it.iternext()
    return grad


def grad_check_sparse(
    f: Callable[[np.ndarray], float],
    x: np.ndarray,
    analytic_grad: np.ndarray,
    num_checks: int = 10,
    h: float = 1e-5,
    seed: int | None = None,
    verbose: bool = True,
) -> list[float]:
    """Compare ``analytic_grad`` with centered differences at ``num_checks`` random entries.

    Returns the relative errors, one per sampled entry; prints them when ``verbose``.
    Used when the full numeric gradient would be too slow (e.g. W of a linear classifier).
    """
    rng = np.random.default_rng(seed)
    errors = []
    for _ in range(num_checks):
        ix = tuple(int(rng.integers(m)) for m in x.shape)
        old = x[ix]
        x[ix] = old + h
        fxph = f(x)
        x[ix] = old - h
        fxmh = f(x)
        x[ix] = old
        numeric = (fxph - fxmh) / (2 * h)
        analytic = analytic_grad[ix]
        err = abs(numeric - analytic) / max(1e-8, abs(numeric) + abs(analytic))
        errors.append(float(err))
        if verbose:
            print(f"numerical: {numeric:f} analytic: {analytic:f}, relative error: {err:e}")
    return errors

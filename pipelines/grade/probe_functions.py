"""Trusted functions that probes hand to student code which takes a callable (gradient checkers).

A grader cannot pass a Python function across the sandbox boundary, only numbers, so it names one
of these by ``fn("<name>", *params)``. The sandbox rebuilds it from this catalogue with the same
numeric parameters, and the grader rebuilds it here to compute what the student's code should
have found. Every function is pure and stateless (CONVENTIONS.md, a00: a checker may call ``f`` any
number of times), float64 throughout, and documented with its exact gradient.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Fn:
    """A catalogue function named by a probe, with its numeric parameters."""

    name: str
    params: tuple[np.ndarray, ...]

    def build(self) -> Callable[[np.ndarray], np.ndarray | float]:
        return make(self.name, self.params)


def fn(name: str, *params: np.ndarray | float) -> Fn:
    """A probe argument that the sandbox turns into the catalogue function ``name``."""
    if name not in CATALOGUE:
        raise KeyError(f"no probe function {name!r}; known: {', '.join(sorted(CATALOGUE))}")
    return Fn(name, tuple(np.asarray(p, dtype=np.float64) for p in params))


def _quadratic(a: np.ndarray, b: np.ndarray) -> Callable[[np.ndarray], float]:
    """f(x) = ½ xᵀAx + bᵀx over x flattened; ∇f = ½(A + Aᵀ)x + b."""
    return lambda x: float(0.5 * x.ravel() @ a @ x.ravel() + b @ x.ravel())


def _sum_sin(w: np.ndarray) -> Callable[[np.ndarray], float]:
    """f(x) = Σ sin(w ⊙ x); ∇f = w ⊙ cos(w ⊙ x). Smooth, curved in every coordinate."""
    return lambda x: float(np.sum(np.sin(w * x)))


def _abs_sum(c: np.ndarray) -> Callable[[np.ndarray], float]:
    """f(x) = Σ |x − c|: a kink at every c; ∇f = sign(x − c) away from the kinks."""
    return lambda x: float(np.sum(np.abs(x - c)))


def _tanh() -> Callable[[np.ndarray], np.ndarray]:
    """f(x) = tanh(x) elementwise (a new array); ∂L/∂x = df ⊙ (1 − tanh²x)."""
    return lambda x: np.tanh(x)


def _affine(w: np.ndarray, b: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
    """f(x) = x W + b (a new array); ∂L/∂x = df Wᵀ."""
    return lambda x: x @ w + b


def _scale_inplace_view(s: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
    """f(x) = s·x, returned as a view of x when s == 1 (``x`` itself), as layers in test mode do:
    a checker that keeps f's output without copying it sees it change when it perturbs x."""
    return lambda x: x if float(s) == 1.0 else x * s


CATALOGUE: dict[str, Callable[..., Callable[[np.ndarray], np.ndarray | float]]] = {
    "quadratic": _quadratic,
    "sum_sin": _sum_sin,
    "abs_sum": _abs_sum,
    "tanh": _tanh,
    "affine": _affine,
    "scale": _scale_inplace_view,
}


def make(name: str, params: tuple[np.ndarray, ...]) -> Callable[[np.ndarray], np.ndarray | float]:
    """The catalogue function ``name`` with its parameters (sandbox and trusted side alike)."""
    return CATALOGUE[name](*params)

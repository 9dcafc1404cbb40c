"""Backpropagation on tiny circuits, one gate at a time (unit a00).

Before students write layers they backpropagate by hand through the CS231n notes' two worked
examples (seed 004 L50-162): ``f(x, y, z) = (x + y) * z`` and the 2-D sigmoid neuron
``f(w, x) = sigmoid(w0*x0 + w1*x1 + w2)``. Each gate here follows the layer convention of the
whole course, ``gate_forward(...) -> (out, cache)`` and ``gate_backward(dout, cache) -> grads``,
so the later layers read as bigger gates. Inputs are floats or numpy arrays of one shape
(elementwise gates); gradients have the shapes of the inputs.

The unit's other names, the numeric-gradient yardsticks ``rel_error``, ``eval_numerical_gradient``
and ``eval_numerical_gradient_array``, live in the top-level ``gradcheck`` package (students receive
them too, through ``pipelines.kit``) and are re-exported here so that every a00 name comes from this
module. ``reference`` never imports ``pipelines``: the students' wheel holds no reference code.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from gradcheck import eval_numerical_gradient, eval_numerical_gradient_array, rel_error

__all__ = [
    "add_gate_forward",
    "add_gate_backward",
    "multiply_gate_forward",
    "multiply_gate_backward",
    "max_gate_forward",
    "max_gate_backward",
    "exp_gate_forward",
    "exp_gate_backward",
    "reciprocal_gate_forward",
    "reciprocal_gate_backward",
    "sigmoid_gate_forward",
    "sigmoid_gate_backward",
    "add_multiply_circuit_forward",
    "add_multiply_circuit_backward",
    "sigmoid_neuron_forward",
    "sigmoid_neuron_backward",
    "rel_error",
    "eval_numerical_gradient",
    "eval_numerical_gradient_array",
]


Array = np.ndarray | float


def add_gate_forward(x: Array, y: Array) -> tuple[Array, None]:
    """``out = x + y``; the cache is empty because the local gradients are constants."""
    return x + y, None


def add_gate_backward(dout: Array, cache: None) -> tuple[Array, Array]:
    """``(dx, dy)``: an add gate hands the upstream gradient unchanged to both inputs."""
    return dout * 1.0, dout * 1.0


def multiply_gate_forward(x: Array, y: Array) -> tuple[Array, tuple[Array, Array]]:
    """``out = x * y`` (elementwise); the cache keeps both inputs."""
    return x * y, (x, y)


def multiply_gate_backward(dout: Array, cache: tuple[Array, Array]) -> tuple[Array, Array]:
    """``(dx, dy) = (y * dout, x * dout)``: each input gets the other input times the upstream gradient."""
    x, y = cache
    return y * dout, x * dout


def max_gate_forward(x: Array, y: Array) -> tuple[Array, Array]:
    """``out = max(x, y)`` (elementwise); the cache is the mask ``x >= y`` (ties go to ``x``)."""
    return np.maximum(x, y), np.greater_equal(x, y)


def max_gate_backward(dout: Array, cache: Array) -> tuple[Array, Array]:
    """``(dx, dy)``: a max gate routes the whole upstream gradient to the larger input, 0 to the other."""
    x_won = cache
    return np.where(x_won, dout, 0.0), np.where(x_won, 0.0, dout)


def exp_gate_forward(x: Array) -> tuple[Array, Array]:
    """``out = exp(x)``; the cache is ``out``, which is also the local gradient."""
    out = np.exp(x)
    return out, out


def exp_gate_backward(dout: Array, cache: Array) -> Array:
    """``dx = exp(x) * dout``."""
    return cache * dout


def reciprocal_gate_forward(x: Array) -> tuple[Array, Array]:
    """``out = 1 / x``; the cache keeps ``x``."""
    return 1.0 / x, x


def reciprocal_gate_backward(dout: Array, cache: Array) -> Array:
    """``dx = -dout / x**2``."""
    x = cache
    return -dout / (x * x)


def _sigmoid(x: Array) -> Array:
    """``1 / (1 + exp(-x))`` without overflow for large ``|x|`` (the tanh identity)."""
    return 0.5 * (1.0 + np.tanh(0.5 * np.asarray(x, dtype=np.float64)))


def sigmoid_gate_forward(x: Array) -> tuple[Array, Array]:
    """``out = sigmoid(x)``; the cache is ``out``, since ``sigmoid' = sigmoid * (1 - sigmoid)``."""
    out = _sigmoid(x)
    return out, out


def sigmoid_gate_backward(dout: Array, cache: Array) -> Array:
    """``dx = (1 - s) * s * dout`` with ``s = sigmoid(x)`` from the forward pass."""
    s = cache
    return (1.0 - s) * s * dout


def add_multiply_circuit_forward(x: Array, y: Array, z: Array) -> tuple[Array, tuple[Any, Any]]:
    """``f = (x + y) * z`` as an add gate ``q = x + y`` feeding a multiply gate ``f = q * z``.

    The notes' inputs ``x = -2, y = 5, z = -4`` give ``q = 3`` and ``f = -12``.
    """
    q, add_cache = add_gate_forward(x, y)
    f, mul_cache = multiply_gate_forward(q, z)
    return f, (add_cache, mul_cache)


def add_multiply_circuit_backward(dout: Array, cache: tuple[Any, Any]) -> tuple[Array, Array, Array]:
    """``(dx, dy, dz)`` of ``f = (x + y) * z``, by the chain rule through the two gates.

    With ``dout = 1`` and the notes' inputs: ``(-4, -4, 3)``.
    """
    add_cache, mul_cache = cache
    dq, dz = multiply_gate_backward(dout, mul_cache)
    dx, dy = add_gate_backward(dq, add_cache)
    return dx, dy, dz


def sigmoid_neuron_forward(w: np.ndarray, x: np.ndarray) -> tuple[float, tuple[Any, ...]]:
    """The 2-D neuron ``f = sigmoid(w[0]*x[0] + w[1]*x[1] + w[2])`` built from gates.

    Shapes: ``w`` (3,) (two weights, then the bias), ``x`` (2,). The notes' inputs
    ``w = [2, -3, -3]``, ``x = [-1, -2]`` give ``dot = 1`` and ``f = sigmoid(1) = 0.7310585786``.
    """
    prods, mul_cache = multiply_gate_forward(w[:2], x)
    partial, add_cache = add_gate_forward(prods[0], prods[1])
    dot, bias_cache = add_gate_forward(partial, w[2])
    f, sig_cache = sigmoid_gate_forward(dot)
    return float(f), (mul_cache, add_cache, bias_cache, sig_cache)


def sigmoid_neuron_backward(dout: float, cache: tuple[Any, ...]) -> tuple[np.ndarray, np.ndarray]:
    """``(dw, dx)`` of the sigmoid neuron, shapes (3,) and (2,), in the order of the forward's arguments.

    With ``dout = 1`` and the notes' inputs: ``dw = [-0.19661193, -0.39322387, 0.19661193]``,
    ``dx = [0.39322387, -0.58983580]``.
    """
    mul_cache, add_cache, bias_cache, sig_cache = cache
    ddot = sigmoid_gate_backward(dout, sig_cache)
    dpartial, dbias = add_gate_backward(ddot, bias_cache)
    dprod0, dprod1 = add_gate_backward(dpartial, add_cache)
    dw_pair, dx = multiply_gate_backward(np.array([dprod0, dprod1]), mul_cache)
    dw = np.append(dw_pair, dbias)
    return dw, np.asarray(dx, dtype=np.float64)

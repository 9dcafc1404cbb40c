"""The a00 gates and circuits in torch, whose autograd gradients check the hand-written backward passes.

Mirrors ``reference/numpy/gates.py``; each numpy ``*_forward``/``*_backward`` pair maps to one
forward function here (gradients come from autograd):

    add_gate_forward/backward                -> add_gate
    multiply_gate_forward/backward           -> multiply_gate
    max_gate_forward/backward                -> max_gate
    exp_gate_forward/backward                -> exp_gate
    reciprocal_gate_forward/backward         -> reciprocal_gate
    sigmoid_gate_forward/backward            -> sigmoid_gate
    add_multiply_circuit_forward/backward    -> add_multiply_circuit
    sigmoid_neuron_forward/backward          -> sigmoid_neuron

Elementwise gates take tensors of one shape. At a tie ``torch.maximum`` splits the gradient
between its inputs, whereas the numpy max gate gives it all to ``x``; compare away from ties.
"""

from __future__ import annotations

import torch

__all__ = [
    "add_gate",
    "multiply_gate",
    "max_gate",
    "exp_gate",
    "reciprocal_gate",
    "sigmoid_gate",
    "add_multiply_circuit",
    "sigmoid_neuron",
]


def add_gate(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """``x + y``."""
    return x + y


def multiply_gate(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """``x * y`` (elementwise)."""
    return x * y


def max_gate(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """``max(x, y)`` (elementwise)."""
    return torch.maximum(x, y)


def exp_gate(x: torch.Tensor) -> torch.Tensor:
    """``exp(x)``."""
    return torch.exp(x)


def reciprocal_gate(x: torch.Tensor) -> torch.Tensor:
    """``1 / x``."""
    return torch.reciprocal(x)


def sigmoid_gate(x: torch.Tensor) -> torch.Tensor:
    """``1 / (1 + exp(-x))``."""
    return torch.sigmoid(x)


def add_multiply_circuit(x: torch.Tensor, y: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
    """``f = (x + y) * z``."""
    return (x + y) * z


def sigmoid_neuron(w: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """``sigmoid(w[0]*x[0] + w[1]*x[1] + w[2])`` for ``w`` (3,) and ``x`` (2,); a scalar tensor."""
    return torch.sigmoid(torch.dot(w[:2], x) + w[2])

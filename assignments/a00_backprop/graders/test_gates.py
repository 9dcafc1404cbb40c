"""Hidden graders of the a00 gates and circuits: f = (x + y) z and the 2-D sigmoid neuron.

Why these checks: a cache never leaves the student's code, so every backward pass is probed through
the notebook's locked wrappers (``probe_<function>``), which run the student's own forward pass and
then the backward pass twice on its cache (the second result is checked: a backward that writes
into its cache is caught). Values are compared with ``reference.numpy`` and gradients with torch
autograd on fresh random arrays and a random upstream gradient (a gate that ignores ``dout`` fails);
the notes' worked examples are checked at their exact values, including ``f`` itself for the neuron
(the notes' code computes ``w[0]*x[1]`` and prints the right gradients with the wrong ``f``);
saturated sigmoid inputs catch overflow to NaN; every input and ``dout`` must be left unmodified.
"""

from __future__ import annotations

import numpy as np

from pipelines.grade.api import check_close, check_shape, check_unmodified, points, probe
from reference.numpy import gates as ref
from reference.torch import gates as twin
from reference.torch import value_and_grads

SHAPE = (4, 5)
# The notes' examples (seed 004): f = (x + y) z at (-2, 5, -4), and the neuron at w, x below.
CIRCUIT_NOTES = (-2.0, 5.0, -4.0)
CIRCUIT_NOTES_F, CIRCUIT_NOTES_GRADS = -12.0, (-4.0, -4.0, 3.0)
NEURON_W, NEURON_X = [2.0, -3.0, -3.0], [-1.0, -2.0]
NEURON_F = 0.7310585786300049
NEURON_DW = [-0.19661193324148185, -0.3932238664829637, 0.19661193324148185]
NEURON_DX = [0.3932238664829637, -0.5898357997244456]
# Saturated sigmoid inputs: exp(-x) overflows for x < -709, exp(x) for x > 709.
SATURATED = [-800.0, -60.0, -30.0, 30.0, 60.0, 800.0]


def _arrays(rng: np.random.Generator, n: int) -> list[np.ndarray]:
    return [rng.standard_normal(SHAPE) for _ in range(n)]


# --- probes: the wrappers of the notebook's locked cell `probe_wrappers` -------------------------


@probe("probe_add_gate_forward")
def add_forward(rng):
    return {"args": _arrays(rng, 2)}


@probe("probe_add_gate_backward")
def add_backward(rng):
    return {"args": _arrays(rng, 3)}


@probe("probe_multiply_gate_forward")
def multiply_forward(rng):
    return {"args": _arrays(rng, 2)}


@probe("probe_multiply_gate_backward")
def multiply_backward(rng):
    return {"args": _arrays(rng, 3)}


@probe("probe_add_multiply_circuit_forward")
def circuit_notes_forward(rng):
    return {"args": list(CIRCUIT_NOTES)}


@probe("probe_add_multiply_circuit_backward")
def circuit_notes_backward(rng):
    return {"args": [*CIRCUIT_NOTES, 1.0]}


@probe("probe_add_multiply_circuit_forward")
def circuit_forward(rng):
    return {"args": _arrays(rng, 3)}


@probe("probe_add_multiply_circuit_backward")
def circuit_backward(rng):
    return {"args": _arrays(rng, 4)}


@probe("probe_sigmoid_gate_forward")
def sigmoid_notes_forward(rng):
    return {"args": [1.0]}


@probe("probe_sigmoid_gate_forward")
def sigmoid_forward(rng):
    return {"args": [rng.uniform(-6.0, 6.0, SHAPE)]}


@probe("probe_sigmoid_gate_backward")
def sigmoid_backward(rng):
    return {"args": [rng.uniform(-6.0, 6.0, SHAPE), rng.standard_normal(SHAPE)]}


@probe("probe_sigmoid_gate_forward")
def sigmoid_saturated_forward(rng):
    return {"args": [np.array(SATURATED)]}


@probe("probe_sigmoid_gate_backward")
def sigmoid_saturated_backward(rng):
    return {"args": [np.array(SATURATED), rng.standard_normal(len(SATURATED))]}


@probe("probe_sigmoid_neuron_forward")
def neuron_notes_forward(rng):
    return {"args": [np.array(NEURON_W), np.array(NEURON_X)]}


@probe("probe_sigmoid_neuron_backward")
def neuron_notes_backward(rng):
    return {"args": [np.array(NEURON_W), np.array(NEURON_X), 1.0]}


@probe("probe_sigmoid_neuron_forward")
def neuron_forward(rng):
    return {"args": [rng.standard_normal(3), rng.standard_normal(2)]}


@probe("probe_sigmoid_neuron_backward")
def neuron_backward(rng):
    return {"args": [rng.standard_normal(3), rng.standard_normal(2), float(rng.standard_normal())]}


# --- helpers -------------------------------------------------------------------------------------


def _inputs_unmodified(run, names: tuple[str, ...]) -> None:
    for i, name in enumerate(names):
        check_unmodified(name, run, i)


def _check_gradients(run, names: tuple[str, ...], expected: list, tol: float) -> None:
    for i, (name, grad) in enumerate(zip(names, expected, strict=True)):
        check_close(name, run.returned(i), grad, tol)


def _autograd(twin_fn, run, n_inputs: int) -> list[np.ndarray]:
    """Torch's gradients of ``twin_fn`` at the probe's inputs, given its upstream gradient (last arg)."""
    inputs = [np.asarray(a, dtype=np.float64) for a in run.args[:n_inputs]]
    dout = np.asarray(run.args[n_inputs], dtype=np.float64)
    _, grads = value_and_grads(twin_fn, inputs, wrt=list(range(n_inputs)), dout=dout)
    return grads


# --- add and multiply gates ----------------------------------------------------------------------


@points(1, cell="check_gates")
def test_add_gate_forward(result, tolerance):
    """add_gate_forward: out = x + y on random 4x5 arrays, x and y left unmodified."""
    run = result("add_forward")
    check_close("add_gate_forward's out", run.returned(0), ref.add_gate_forward(*run.args)[0], tolerance("value"))
    _inputs_unmodified(run, ("x", "y"))


@points(1, cell="check_gates")
def test_add_gate_backward(result, tolerance):
    """add_gate_forward then add_gate_backward: (dx, dy) against autograd for a random dout."""
    run = result("add_backward")
    _check_gradients(run, ("add_gate_backward's dx", "add_gate_backward's dy"), _autograd(twin.add_gate, run, 2),
                     tolerance("gradient"))
    _inputs_unmodified(run, ("x", "y", "dout"))


@points(1, cell="check_gates")
def test_multiply_gate_forward(result, tolerance):
    """multiply_gate_forward: out = x * y (elementwise) on random 4x5 arrays, x and y left unmodified."""
    run = result("multiply_forward")
    check_close("multiply_gate_forward's out", run.returned(0), ref.multiply_gate_forward(*run.args)[0],
                tolerance("value"))
    _inputs_unmodified(run, ("x", "y"))


@points(1, cell="check_gates")
def test_multiply_gate_backward(result, tolerance):
    """multiply_gate_forward then multiply_gate_backward: (dx, dy) against autograd for a random dout."""
    run = result("multiply_backward")
    _check_gradients(run, ("multiply_gate_backward's dx", "multiply_gate_backward's dy"),
                     _autograd(twin.multiply_gate, run, 2), tolerance("gradient"))
    _inputs_unmodified(run, ("x", "y", "dout"))


# --- the circuit f = (x + y) z -------------------------------------------------------------------


@points(1, cell="check_circuit")
def test_circuit_notes_example(result, tolerance):
    """add_multiply_circuit_forward and add_multiply_circuit_backward: the notes' example at x = -2, y = 5, z = -4."""
    check_close("add_multiply_circuit_forward's f", result("circuit_notes_forward").returned(0), CIRCUIT_NOTES_F,
                tolerance("value"))
    run = result("circuit_notes_backward")
    names = tuple(f"add_multiply_circuit_backward's d{v}" for v in "xyz")
    _check_gradients(run, names, list(CIRCUIT_NOTES_GRADS), tolerance("gradient"))


@points(1, cell="check_circuit")
def test_circuit_forward(result, tolerance):
    """add_multiply_circuit_forward: f = (x + y) * z on random 4x5 arrays, inputs left unmodified."""
    run = result("circuit_forward")
    check_close("add_multiply_circuit_forward's f", run.returned(0), ref.add_multiply_circuit_forward(*run.args)[0],
                tolerance("value"))
    _inputs_unmodified(run, ("x", "y", "z"))


@points(1, cell="check_circuit")
def test_circuit_backward(result, tolerance):
    """add_multiply_circuit_forward then add_multiply_circuit_backward: (dx, dy, dz) against autograd, random dout."""
    run = result("circuit_backward")
    names = tuple(f"add_multiply_circuit_backward's d{v}" for v in "xyz")
    _check_gradients(run, names, _autograd(twin.add_multiply_circuit, run, 3), tolerance("gradient"))
    _inputs_unmodified(run, ("x", "y", "z", "dout"))


# --- the sigmoid gate ----------------------------------------------------------------------------


@points(1, cell="check_sigmoid_gate")
def test_sigmoid_gate_forward(result, tolerance):
    """sigmoid_gate_forward: sigmoid(1) and a random 4x5 array in [-6, 6], x left unmodified."""
    check_close("sigmoid_gate_forward's out at x = 1", result("sigmoid_notes_forward").returned(0), NEURON_F,
                tolerance("value"))
    run = result("sigmoid_forward")
    check_close("sigmoid_gate_forward's out", run.returned(0), ref.sigmoid_gate_forward(run.args[0])[0],
                tolerance("value"))
    check_unmodified("x", run, 0)


@points(1, cell="check_sigmoid_gate")
def test_sigmoid_gate_backward(result, tolerance):
    """sigmoid_gate_forward then sigmoid_gate_backward: dx against autograd for a random dout."""
    run = result("sigmoid_backward")
    check_close("sigmoid_gate_backward's dx", run.returned(0), _autograd(twin.sigmoid_gate, run, 1)[0],
                tolerance("gradient"))
    _inputs_unmodified(run, ("x", "dout"))


@points(1, cell="check_sigmoid_gate")
def test_sigmoid_gate_saturated(result, tolerance):
    """sigmoid_gate_forward and sigmoid_gate_backward: finite, correct values and gradients for |x| from 30 to 800."""
    run = result("sigmoid_saturated_forward")
    check_close("sigmoid_gate_forward's out for saturated x", run.returned(0),
                ref.sigmoid_gate_forward(run.args[0])[0], tolerance("value"))
    run = result("sigmoid_saturated_backward")
    check_close("sigmoid_gate_backward's dx for saturated x", run.returned(0), _autograd(twin.sigmoid_gate, run, 1)[0],
                tolerance("gradient"))


# --- the 2-D sigmoid neuron ----------------------------------------------------------------------


@points(1, cell="check_sigmoid_neuron")
def test_sigmoid_neuron_notes_example(result, tolerance):
    """sigmoid_neuron_forward and sigmoid_neuron_backward: the notes' neuron, w = [2, -3, -3] and x = [-1, -2]."""
    check_close("sigmoid_neuron_forward's f", result("neuron_notes_forward").returned(0), NEURON_F, tolerance("value"))
    run = result("neuron_notes_backward")
    _check_gradients(run, ("sigmoid_neuron_backward's dw", "sigmoid_neuron_backward's dx"), [NEURON_DW, NEURON_DX],
                     tolerance("gradient"))


@points(1, cell="check_sigmoid_neuron")
def test_sigmoid_neuron_forward(result, tolerance):
    """sigmoid_neuron_forward: f for random w (3,) and x (2,), inputs left unmodified."""
    run = result("neuron_forward")
    f = run.returned(0)
    check_shape("sigmoid_neuron_forward's f", np.asarray(f), ())
    check_close("sigmoid_neuron_forward's f", f, ref.sigmoid_neuron_forward(*run.args)[0], tolerance("value"))
    _inputs_unmodified(run, ("w", "x"))


@points(1, cell="check_sigmoid_neuron")
def test_sigmoid_neuron_backward(result, tolerance):
    """sigmoid_neuron_forward then sigmoid_neuron_backward: dw (3,) and dx (2,) against autograd, random dout."""
    run = result("neuron_backward")
    _check_gradients(run, ("sigmoid_neuron_backward's dw", "sigmoid_neuron_backward's dx"),
                     _autograd(twin.sigmoid_neuron, run, 2), tolerance("gradient"))
    _inputs_unmodified(run, ("w", "x"))

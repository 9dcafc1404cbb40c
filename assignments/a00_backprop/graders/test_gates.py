"""Hidden graders of the a00 gates and circuits: f = (x + y) z and the 2-D sigmoid neuron.

Why these checks: a cache never leaves the student's code, so every backward pass runs in a chained
probe: the student's own forward pass, then the backward pass twice on its cache (both results are
checked: a backward that writes into its cache is caught). Values are compared with ``reference.numpy`` and gradients with torch
autograd on fresh random arrays and a random upstream gradient (a gate that ignores ``dout`` fails);
the notes' worked examples are checked at their exact values, including ``f`` itself for the neuron
(the notes' code computes ``w[0]*x[1]`` and prints the right gradients with the wrong ``f``);
saturated sigmoid inputs catch overflow to NaN; every input and ``dout`` must be left unmodified
(part of the value tests: a gate that does nothing leaves them alone too).
"""

from __future__ import annotations

import numpy as np

from pipelines.grade.api import check_close, check_shape, check_unmodified, points, probe, ref, step
from reference.numpy import gates
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


# --- probes: chained calls of the student's gates -----------------------------------------------


def _forward(gate: str, *args) -> dict:
    return {"steps": [step("fwd", f"{gate}_forward", *args)]}


def _backward(gate: str, *args) -> dict:
    """``<gate>_forward`` on all but the last argument, then ``<gate>_backward`` of the last (dout) twice on its cache."""
    *inputs, dout = args
    cache = ref("fwd").out(1)
    return {"steps": [step("fwd", f"{gate}_forward", *inputs), step("bwd", f"{gate}_backward", dout, cache),
                      step("again", f"{gate}_backward", dout, cache)]}


@probe("add_gate_forward")
def add_forward(rng):
    return _forward("add_gate", *_arrays(rng, 2))


@probe("add_gate_backward")
def add_backward(rng):
    return _backward("add_gate", *_arrays(rng, 3))


@probe("multiply_gate_forward")
def multiply_forward(rng):
    return _forward("multiply_gate", *_arrays(rng, 2))


@probe("multiply_gate_backward")
def multiply_backward(rng):
    return _backward("multiply_gate", *_arrays(rng, 3))


@probe("add_multiply_circuit_forward")
def circuit_notes_forward(rng):
    return _forward("add_multiply_circuit", *CIRCUIT_NOTES)


@probe("add_multiply_circuit_backward")
def circuit_notes_backward(rng):
    return _backward("add_multiply_circuit", *CIRCUIT_NOTES, 1.0)


@probe("add_multiply_circuit_forward")
def circuit_forward(rng):
    return _forward("add_multiply_circuit", *_arrays(rng, 3))


@probe("add_multiply_circuit_backward")
def circuit_backward(rng):
    return _backward("add_multiply_circuit", *_arrays(rng, 4))


@probe("sigmoid_gate_forward")
def sigmoid_notes_forward(rng):
    return _forward("sigmoid_gate", 1.0)


@probe("sigmoid_gate_forward")
def sigmoid_forward(rng):
    return _forward("sigmoid_gate", rng.uniform(-6.0, 6.0, SHAPE))


@probe("sigmoid_gate_backward")
def sigmoid_backward(rng):
    return _backward("sigmoid_gate", rng.uniform(-6.0, 6.0, SHAPE), rng.standard_normal(SHAPE))


@probe("sigmoid_gate_forward")
def sigmoid_saturated_forward(rng):
    return _forward("sigmoid_gate", np.array(SATURATED))


@probe("sigmoid_gate_backward")
def sigmoid_saturated_backward(rng):
    return _backward("sigmoid_gate", np.array(SATURATED), rng.standard_normal(len(SATURATED)))


@probe("sigmoid_neuron_forward")
def neuron_notes_forward(rng):
    return _forward("sigmoid_neuron", np.array(NEURON_W), np.array(NEURON_X))


@probe("sigmoid_neuron_backward")
def neuron_notes_backward(rng):
    return _backward("sigmoid_neuron", np.array(NEURON_W), np.array(NEURON_X), 1.0)


@probe("sigmoid_neuron_forward")
def neuron_forward(rng):
    return _forward("sigmoid_neuron", rng.standard_normal(3), rng.standard_normal(2))


@probe("sigmoid_neuron_backward")
def neuron_backward(rng):
    return _backward("sigmoid_neuron", rng.standard_normal(3), rng.standard_normal(2), float(rng.standard_normal()))


# --- helpers -------------------------------------------------------------------------------------


def _inputs_unmodified(run, names: tuple[str, ...]) -> None:
    """The forward pass's inputs (and, for a backward probe, dout: the last name) left as they were given."""
    steps = {s.name for s in run.inputs["steps"]}
    forward = names[:-1] if "bwd" in steps else names
    for i, name in enumerate(forward):
        check_unmodified(name, run.step("fwd"), i)
    if "bwd" in steps:
        check_unmodified(names[-1], run.step("bwd"), 0)
        check_unmodified(names[-1], run.step("again"), 0)


def _check_gradients(run, names: tuple[str, ...], expected: list, tol: float) -> None:
    """Both backward calls on the one cache against ``expected``."""
    for call, label in (("bwd", ""), ("again", ", called a second time on the same cache")):
        for i, (name, grad) in enumerate(zip(names, expected, strict=True)):
            check_close(f"{name}{label}", run.step(call).returned(i), grad, tol)


def _autograd(twin_fn, run) -> list[np.ndarray]:
    """Torch's gradients of ``twin_fn`` at the probe's forward inputs, given its upstream gradient."""
    inputs = [np.asarray(a, dtype=np.float64) for a in run.step("fwd").args]
    dout = np.asarray(run.step("bwd").args[0], dtype=np.float64)
    _, grads = value_and_grads(twin_fn, inputs, wrt=list(range(len(inputs))), dout=dout)
    return grads


def _out(run) -> np.ndarray:
    return run.step("fwd").returned(0)


# --- add and multiply gates ----------------------------------------------------------------------


@points(1, cell="check_gates")
def test_add_gate_forward(result, tolerance):
    """add_gate_forward: out = x + y on random 4x5 arrays, x and y left unmodified."""
    run = result("add_forward")
    check_close("add_gate_forward's out", _out(run), gates.add_gate_forward(*run.step("fwd").args)[0], tolerance("value"))
    _inputs_unmodified(run, ("x", "y"))


@points(1, cell="check_gates")
def test_add_gate_backward(result, tolerance):
    """add_gate_forward then add_gate_backward twice on its cache: (dx, dy) against autograd for a random dout."""
    run = result("add_backward")
    _check_gradients(run, ("add_gate_backward's dx", "add_gate_backward's dy"), _autograd(twin.add_gate, run),
                     tolerance("gradient"))
    _inputs_unmodified(run, ("x", "y", "dout"))


@points(1, cell="check_gates")
def test_multiply_gate_forward(result, tolerance):
    """multiply_gate_forward: out = x * y (elementwise) on random 4x5 arrays, x and y left unmodified."""
    run = result("multiply_forward")
    check_close("multiply_gate_forward's out", _out(run), gates.multiply_gate_forward(*run.step("fwd").args)[0],
                tolerance("value"))
    _inputs_unmodified(run, ("x", "y"))


@points(1, cell="check_gates")
def test_multiply_gate_backward(result, tolerance):
    """multiply_gate_forward then multiply_gate_backward twice on its cache: (dx, dy) against autograd for a random
    dout."""
    run = result("multiply_backward")
    _check_gradients(run, ("multiply_gate_backward's dx", "multiply_gate_backward's dy"),
                     _autograd(twin.multiply_gate, run), tolerance("gradient"))
    _inputs_unmodified(run, ("x", "y", "dout"))


# --- the circuit f = (x + y) z -------------------------------------------------------------------


@points(1, cell="check_circuit")
def test_circuit_notes_example(result, tolerance):
    """add_multiply_circuit_forward and add_multiply_circuit_backward: the notes' example at x = -2, y = 5, z = -4."""
    check_close("add_multiply_circuit_forward's f", _out(result("circuit_notes_forward")), CIRCUIT_NOTES_F,
                tolerance("value"))
    run = result("circuit_notes_backward")
    names = tuple(f"add_multiply_circuit_backward's d{v}" for v in "xyz")
    _check_gradients(run, names, list(CIRCUIT_NOTES_GRADS), tolerance("gradient"))


@points(1, cell="check_circuit")
def test_circuit_forward(result, tolerance):
    """add_multiply_circuit_forward: f = (x + y) * z on random 4x5 arrays, inputs left unmodified."""
    run = result("circuit_forward")
    check_close("add_multiply_circuit_forward's f", _out(run), gates.add_multiply_circuit_forward(*run.step("fwd").args)[0],
                tolerance("value"))
    _inputs_unmodified(run, ("x", "y", "z"))


@points(1, cell="check_circuit")
def test_circuit_backward(result, tolerance):
    """add_multiply_circuit_forward then add_multiply_circuit_backward twice on its cache: (dx, dy, dz) against
    autograd, random dout."""
    run = result("circuit_backward")
    names = tuple(f"add_multiply_circuit_backward's d{v}" for v in "xyz")
    _check_gradients(run, names, _autograd(twin.add_multiply_circuit, run), tolerance("gradient"))
    _inputs_unmodified(run, ("x", "y", "z", "dout"))


# --- the sigmoid gate ----------------------------------------------------------------------------


@points(1, cell="check_sigmoid_gate")
def test_sigmoid_gate_forward(result, tolerance):
    """sigmoid_gate_forward: sigmoid(1) and a random 4x5 array in [-6, 6], x left unmodified."""
    check_close("sigmoid_gate_forward's out at x = 1", _out(result("sigmoid_notes_forward")), NEURON_F,
                tolerance("value"))
    run = result("sigmoid_forward")
    check_close("sigmoid_gate_forward's out", _out(run), gates.sigmoid_gate_forward(run.step("fwd").args[0])[0],
                tolerance("value"))
    _inputs_unmodified(run, ("x",))


@points(1, cell="check_sigmoid_gate")
def test_sigmoid_gate_backward(result, tolerance):
    """sigmoid_gate_forward then sigmoid_gate_backward twice on its cache: dx against autograd for a random dout."""
    run = result("sigmoid_backward")
    _check_gradients(run, ("sigmoid_gate_backward's dx",), _autograd(twin.sigmoid_gate, run), tolerance("gradient"))
    _inputs_unmodified(run, ("x", "dout"))


@points(1, cell="check_sigmoid_gate")
def test_sigmoid_gate_saturated(result, tolerance):
    """sigmoid_gate_forward and sigmoid_gate_backward: finite, correct values and gradients for |x| from 30 to 800."""
    run = result("sigmoid_saturated_forward")
    check_close("sigmoid_gate_forward's out for saturated x", _out(run),
                gates.sigmoid_gate_forward(run.step("fwd").args[0])[0], tolerance("value"))
    run = result("sigmoid_saturated_backward")
    _check_gradients(run, ("sigmoid_gate_backward's dx for saturated x",), _autograd(twin.sigmoid_gate, run),
                     tolerance("gradient"))


# --- the 2-D sigmoid neuron ----------------------------------------------------------------------


@points(1, cell="check_sigmoid_neuron")
def test_sigmoid_neuron_notes_example(result, tolerance):
    """sigmoid_neuron_forward and sigmoid_neuron_backward: the notes' neuron, w = [2, -3, -3] and x = [-1, -2]."""
    check_close("sigmoid_neuron_forward's f", _out(result("neuron_notes_forward")), NEURON_F, tolerance("value"))
    run = result("neuron_notes_backward")
    _check_gradients(run, ("sigmoid_neuron_backward's dw", "sigmoid_neuron_backward's dx"), [NEURON_DW, NEURON_DX],
                     tolerance("gradient"))


@points(1, cell="check_sigmoid_neuron")
def test_sigmoid_neuron_forward(result, tolerance):
    """sigmoid_neuron_forward: f for random w (3,) and x (2,), inputs left unmodified."""
    run = result("neuron_forward")
    f = _out(run)
    check_shape("sigmoid_neuron_forward's f", np.asarray(f), ())
    check_close("sigmoid_neuron_forward's f", f, gates.sigmoid_neuron_forward(*run.step("fwd").args)[0], tolerance("value"))
    _inputs_unmodified(run, ("w", "x"))


@points(1, cell="check_sigmoid_neuron")
def test_sigmoid_neuron_backward(result, tolerance):
    """sigmoid_neuron_forward then sigmoid_neuron_backward twice on its cache: dw (3,) and dx (2,) against autograd,
    random dout."""
    run = result("neuron_backward")
    _check_gradients(run, ("sigmoid_neuron_backward's dw", "sigmoid_neuron_backward's dx"),
                     _autograd(twin.sigmoid_neuron, run), tolerance("gradient"))
    _inputs_unmodified(run, ("w", "x", "dout"))

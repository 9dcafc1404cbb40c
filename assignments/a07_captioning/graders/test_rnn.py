"""Hidden graders of a07's vanilla RNN: ``rnn_step_forward/backward`` and ``rnn_forward/backward``.

Why these checks: values are compared with ``reference.numpy`` and gradients with torch autograd
through ``torch.nn.RNNCell``/``torch.nn.RNN`` (``reference.torch``: an independent computation), and
with the student's own centered differences. Every probe keeps the tanh pre-activations within
+-LIMIT (inputs redrawn until they are), where ``1 - tanh(a)**2`` and ``1 / cosh(a)**2`` agree to
rounding. Shapes N, T, D, H all differ, so a transposed product cannot pass; a batch of one is
probed too. Every backward pass runs twice on the cache of the student's own forward pass (a cache
may be used twice). Backpropagation through time is checked with an upstream gradient at every step,
at the last step only (so the gradient must be carried back through every step: a loop that drops
``dprev_h`` loses these points) and at the first step only (so the step t = 0 must be visited). The
properties (inputs left unmodified) are asserted inside the value checks, so a function that does
nothing earns nothing.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from pipelines.grade.api import check_close, check_shape, check_true, check_unmodified, numgrad, points, probe, ref, step
from reference.numpy import rnn_forward, rnn_step_forward
from reference.torch import rnn_sequence, rnn_step, value_and_grads

N, T, D, H = 4, 5, 3, 6
LIMIT = 5.0  # largest |pre-activation| of a probe
NUMERIC_CHECKS = 10
INPUTS = ("x", "prev_h", "Wx", "Wh", "b")
SEQ_INPUTS = ("x", "h0", "Wx", "Wh", "b")


def _weights(rng: np.random.Generator) -> list[np.ndarray]:
    return [rng.standard_normal((D, H)) / np.sqrt(D), rng.standard_normal((H, H)) / np.sqrt(H), 0.5 * rng.standard_normal(H)]


def _step_inputs(rng: np.random.Generator, n: int = N) -> list[np.ndarray]:
    """[x, prev_h, Wx, Wh, b] whose pre-activations stay within +-LIMIT."""
    while True:
        x, prev_h = rng.standard_normal((n, D)), np.tanh(rng.standard_normal((n, H)))
        Wx, Wh, b = _weights(rng)
        if np.abs(x @ Wx + prev_h @ Wh + b).max() < LIMIT:
            return [x, prev_h, Wx, Wh, b]


def _sequence_inputs(rng: np.random.Generator, n: int = N) -> list[np.ndarray]:
    """[x, h0, Wx, Wh, b] whose pre-activations stay within +-LIMIT at every step."""
    while True:
        x, h0 = rng.standard_normal((n, T, D)), np.tanh(rng.standard_normal((n, H)))
        Wx, Wh, b = _weights(rng)
        h, largest = h0, 0.0
        for t in range(T):
            a = x[:, t] @ Wx + h @ Wh + b
            largest, h = max(largest, float(np.abs(a).max())), np.tanh(a)
        if largest < LIMIT:
            return [x, h0, Wx, Wh, b]


def _backward_chain(fwd: str, bwd: str, inputs: list[np.ndarray], dout: np.ndarray) -> dict[str, Any]:
    return {
        "steps": [step("fwd", fwd, *inputs), step("bwd", bwd, dout, ref("fwd").out(1)),
                  step("again", bwd, dout, ref("fwd").out(1))],
        "numeric_grad": numgrad(of=("fwd", 0), wrt=("fwd", 0), weights=dout, k=NUMERIC_CHECKS),
    }


# --- probes --------------------------------------------------------------------------------------


@probe("rnn_step_forward")
def rnn_step_values(rng):
    return {"steps": [step("fwd", "rnn_step_forward", *_step_inputs(rng)),
                      step("fwd_one", "rnn_step_forward", *_step_inputs(rng, n=1))]}


@probe("rnn_step_backward")
def rnn_step_grads(rng):
    return _backward_chain("rnn_step_forward", "rnn_step_backward", _step_inputs(rng), rng.standard_normal((N, H)))


@probe("rnn_forward")
def rnn_values(rng):
    return {"steps": [step("fwd", "rnn_forward", *_sequence_inputs(rng)),
                      step("fwd_one", "rnn_forward", *_sequence_inputs(rng, n=1))]}


@probe("rnn_backward")
def rnn_grads(rng):
    return _backward_chain("rnn_forward", "rnn_backward", _sequence_inputs(rng), rng.standard_normal((N, T, H)))


@probe("rnn_backward")
def rnn_grads_last_step(rng):
    dh = np.zeros((N, T, H))
    dh[:, -1] = rng.standard_normal((N, H))
    return _backward_chain("rnn_forward", "rnn_backward", _sequence_inputs(rng), dh)


@probe("rnn_backward")
def rnn_grads_first_step(rng):
    dh = np.zeros((N, T, H))
    dh[:, 0] = rng.standard_normal((N, H))
    return _backward_chain("rnn_forward", "rnn_backward", _sequence_inputs(rng), dh)


# --- helpers -------------------------------------------------------------------------------------


def _check_values(run, fn: str, reference, names: tuple[str, ...], tolerance) -> None:
    """Output 0 of steps fwd and fwd_one against the numpy reference, float64, inputs untouched."""
    for name, label in (("fwd", ""), ("fwd_one", ", a batch of one")):
        args = run.step(name).args
        got, expected = run.step(name).returned(0), reference(*args)[0]
        check_close(f"{fn}: output{label}", got, expected, tolerance("value"))
        check_true(np.asarray(got).dtype == np.float64, f"{fn}: float64 inputs gave a {np.asarray(got).dtype} output "
                                                        "(keep the inputs' dtype).")
    for i, what in enumerate(names):
        check_unmodified(f"{fn}: {what}", run.step("fwd"), i)


def _check_gradients(run, fn: str, torch_fn, names: tuple[str, ...], tolerance, label: str = "") -> None:
    """Both backward calls on one cache against autograd; dout left as it was given."""
    inputs, dout = run.step("fwd").args, run.step("bwd").args[0]
    _, expected = value_and_grads(torch_fn, list(inputs), wrt=list(range(len(names))), dout=dout)
    for name, call in (("bwd", ""), ("again", ", called a second time on the same cache")):
        for i, (what, grad) in enumerate(zip(names, expected, strict=True)):
            check_close(f"{fn}{label}{call}: d{what} (against autograd)", run.step(name).returned(i), grad,
                        tolerance("gradient"))
    check_unmodified(f"{fn}: the upstream gradient", run.step("bwd"), 0)


def _check_own_numeric(run, fn: str, forward: str, shape: tuple[int, ...], tolerance) -> None:
    dx = run.step("bwd").returned(0)
    check_shape(f"{fn}: dx", dx, shape)
    check_close(f"{fn}: dx against your own numeric gradient (centered differences of your {forward})",
                np.asarray(dx)[run.numeric_grad_index], run.numeric_grad, tolerance("numeric_gradient"))


# --- rnn_step_forward / rnn_step_backward --------------------------------------------------------


@points(3, cell="check_rnn_step_forward")
def test_rnn_step_forward(result, tolerance):
    """rnn_step_forward: next_h on random inputs (N, D, H = 4, 3, 6, and a batch of one), in float64, with every
    input left as it was given."""
    _check_values(result("rnn_step_values"), "rnn_step_forward", rnn_step_forward, INPUTS, tolerance)


@points(3, cell="check_rnn_step_backward")
def test_rnn_step_backward(result, tolerance):
    """rnn_step_backward: dx, dprev_h, dWx, dWh and db against autograd, called twice on the cache of your forward
    step, with dnext_h left as it was given."""
    _check_gradients(result("rnn_step_grads"), "rnn_step_backward", rnn_step, INPUTS, tolerance)


@points(1, cell="check_rnn_step_backward")
def test_rnn_step_backward_own_numeric(result, tolerance):
    """rnn_step_backward: dx agrees with centered differences of your own rnn_step_forward."""
    _check_own_numeric(result("rnn_step_grads"), "rnn_step_backward", "rnn_step_forward", (N, D), tolerance)


# --- rnn_forward / rnn_backward ------------------------------------------------------------------


@points(3, cell="check_rnn_forward")
def test_rnn_forward(result, tolerance):
    """rnn_forward: the hidden states of random sequences (N, T, D, H = 4, 5, 3, 6, and a batch of one), in float64,
    with every input left as it was given."""
    _check_values(result("rnn_values"), "rnn_forward", rnn_forward, SEQ_INPUTS, tolerance)


@points(3, cell="check_rnn_backward")
def test_rnn_backward(result, tolerance):
    """rnn_backward: dx, dh0, dWx, dWh and db against autograd with an upstream gradient at every step, called twice
    on the cache of your rnn_forward, with dh left as it was given."""
    _check_gradients(result("rnn_grads"), "rnn_backward", rnn_sequence, SEQ_INPUTS, tolerance)


@points(1, cell="check_rnn_backward")
def test_rnn_backward_last_step_only(result, tolerance):
    """rnn_backward: every gradient against autograd when only the last hidden state gets an upstream gradient (it
    must be carried back through every step)."""
    _check_gradients(result("rnn_grads_last_step"), "rnn_backward", rnn_sequence, SEQ_INPUTS, tolerance,
                     " (gradient at the last step only)")


@points(1, cell="check_rnn_backward")
def test_rnn_backward_first_step_only(result, tolerance):
    """rnn_backward: every gradient against autograd when only the first hidden state gets an upstream gradient."""
    _check_gradients(result("rnn_grads_first_step"), "rnn_backward", rnn_sequence, SEQ_INPUTS, tolerance,
                     " (gradient at the first step only)")


@points(1, cell="check_rnn_backward")
def test_rnn_backward_own_numeric(result, tolerance):
    """rnn_backward: dx agrees with centered differences of your own rnn_forward."""
    _check_own_numeric(result("rnn_grads"), "rnn_backward", "rnn_forward", (N, T, D), tolerance)

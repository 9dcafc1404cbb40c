"""Hidden graders of a07's LSTM: ``lstm_step_forward/backward`` and ``lstm_forward/backward``.

Why these checks: forward values and gradients come from ``torch.nn.LSTMCell``/``torch.nn.LSTM``
with the gate blocks reordered from the book's i, f, o, g to torch's i, f, g, o (``reference.torch``),
so the gate order is checked against an implementation that was not written for this course; the
sequence starts from c0 = 0. Every probe keeps the pre-activations within +-LIMIT (inputs redrawn
until they are), where the derivative forms of sigmoid and tanh agree to rounding. The step's backward
pass is checked with both upstream gradients non-zero, with the cell state's gradient alone (dnext_h
= 0: the path through next_c) and with dnext_c = 0, each against autograd and, for dx and dprev_c,
against the student's own centered differences. Backpropagation through time is checked with a
gradient at every step, at the last step only (it must travel back through h and c) and at the first
step only; every backward pass runs twice on one cache. The properties (inputs left unmodified,
float64 outputs) are asserted inside the value checks.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from pipelines.grade.api import check_close, check_shape, check_true, check_unmodified, numgrad, points, probe, ref, step
from reference.torch import lstm_sequence, lstm_step, value_and_grads

N, T, D, H = 4, 5, 3, 6
LIMIT = 5.0
NUMERIC_CHECKS = 10
STEP_INPUTS = ("x", "prev_h", "prev_c", "Wx", "Wh", "b")
SEQ_INPUTS = ("x", "h0", "Wx", "Wh", "b")


def _sigmoid(a: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-a))


def _weights(rng: np.random.Generator) -> list[np.ndarray]:
    return [rng.standard_normal((D, 4 * H)) / np.sqrt(D), rng.standard_normal((H, 4 * H)) / np.sqrt(H),
            0.5 * rng.standard_normal(4 * H)]


def _step(x: np.ndarray, h: np.ndarray, c: np.ndarray, Wx: np.ndarray, Wh: np.ndarray, b: np.ndarray
          ) -> tuple[np.ndarray, np.ndarray, float]:
    """(next_h, next_c, largest |pre-activation|), the tanh of next_c included."""
    a = x @ Wx + h @ Wh + b
    gates, g = _sigmoid(a[:, :3 * H]), np.tanh(a[:, 3 * H:])
    next_c = gates[:, H:2 * H] * c + gates[:, :H] * g
    return gates[:, 2 * H:] * np.tanh(next_c), next_c, max(float(np.abs(a).max()), float(np.abs(next_c).max()))


def _step_inputs(rng: np.random.Generator, n: int = N) -> list[np.ndarray]:
    while True:
        inputs = [rng.standard_normal((n, D)), np.tanh(rng.standard_normal((n, H))), rng.standard_normal((n, H)),
                  *_weights(rng)]
        if _step(*inputs)[2] < LIMIT:
            return inputs


def _sequence_inputs(rng: np.random.Generator, n: int = N) -> list[np.ndarray]:
    while True:
        x, h0 = rng.standard_normal((n, T, D)), np.tanh(rng.standard_normal((n, H)))
        Wx, Wh, b = _weights(rng)
        h, c, largest = h0, np.zeros_like(h0), 0.0
        for t in range(T):
            h, c, step_largest = _step(x[:, t], h, c, Wx, Wh, b)
            largest = max(largest, step_largest)
        if largest < LIMIT:
            return [x, h0, Wx, Wh, b]


def _step_chain(rng: np.random.Generator, dnext_h: np.ndarray, dnext_c: np.ndarray, numeric: Any = None) -> dict[str, Any]:
    chain: dict[str, Any] = {
        "steps": [step("fwd", "lstm_step_forward", *_step_inputs(rng)),
                  step("bwd", "lstm_step_backward", dnext_h, dnext_c, ref("fwd").out(2)),
                  step("again", "lstm_step_backward", dnext_h, dnext_c, ref("fwd").out(2))],
    }
    if numeric is not None:
        chain["numeric_grad"] = numeric
    return chain


def _sequence_chain(rng: np.random.Generator, dh: np.ndarray) -> dict[str, Any]:
    return {
        "steps": [step("fwd", "lstm_forward", *_sequence_inputs(rng)),
                  step("bwd", "lstm_backward", dh, ref("fwd").out(1)),
                  step("again", "lstm_backward", dh, ref("fwd").out(1))],
        "numeric_grad": numgrad(of=("fwd", 0), wrt=("fwd", 0), weights=dh, k=NUMERIC_CHECKS),
    }


# --- probes --------------------------------------------------------------------------------------


@probe("lstm_step_forward")
def lstm_step_values(rng):
    return {"steps": [step("fwd", "lstm_step_forward", *_step_inputs(rng)),
                      step("fwd_one", "lstm_step_forward", *_step_inputs(rng, n=1))]}


@probe("lstm_step_backward")
def lstm_step_grads(rng):
    return _step_chain(rng, rng.standard_normal((N, H)), rng.standard_normal((N, H)))


@probe("lstm_step_backward")
def lstm_step_cell_path(rng):
    dnext_c = rng.standard_normal((N, H))
    return _step_chain(rng, np.zeros((N, H)), dnext_c,
                       numgrad(of=("fwd", 1), wrt=("fwd", 2), weights=dnext_c, k=NUMERIC_CHECKS))


@probe("lstm_step_backward")
def lstm_step_hidden_path(rng):
    dnext_h = rng.standard_normal((N, H))
    return _step_chain(rng, dnext_h, np.zeros((N, H)),
                       numgrad(of=("fwd", 0), wrt=("fwd", 0), weights=dnext_h, k=NUMERIC_CHECKS))


@probe("lstm_forward")
def lstm_values(rng):
    return {"steps": [step("fwd", "lstm_forward", *_sequence_inputs(rng)),
                      step("fwd_one", "lstm_forward", *_sequence_inputs(rng, n=1))]}


@probe("lstm_backward")
def lstm_grads(rng):
    return _sequence_chain(rng, rng.standard_normal((N, T, H)))


@probe("lstm_backward")
def lstm_grads_last_step(rng):
    dh = np.zeros((N, T, H))
    dh[:, -1] = rng.standard_normal((N, H))
    return _sequence_chain(rng, dh)


@probe("lstm_backward")
def lstm_grads_first_step(rng):
    dh = np.zeros((N, T, H))
    dh[:, 0] = rng.standard_normal((N, H))
    return _sequence_chain(rng, dh)


# --- helpers -------------------------------------------------------------------------------------


def _step_objective(x, prev_h, prev_c, Wx, Wh, b, dnext_h, dnext_c) -> torch.Tensor:
    """sum(dnext_h * next_h + dnext_c * next_c) of torch's LSTM cell in the book's gate order."""
    next_h, next_c = lstm_step(x, prev_h, prev_c, Wx, Wh, b)
    return (dnext_h * next_h).sum() + (dnext_c * next_c).sum()


def _float64(what: str, got: np.ndarray) -> None:
    check_true(np.asarray(got).dtype == np.float64, f"{what}: float64 inputs gave {np.asarray(got).dtype} (keep the inputs' dtype).")


def _check_step_gradients(run, tolerance, label: str = "") -> None:
    inputs = list(run.step("fwd").args)
    dnext_h, dnext_c = run.step("bwd").args[:2]
    _, expected = value_and_grads(_step_objective, [*inputs, dnext_h, dnext_c], wrt=list(range(6)))
    for name, call in (("bwd", ""), ("again", ", called a second time on the same cache")):
        for i, (what, grad) in enumerate(zip(STEP_INPUTS, expected, strict=True)):
            check_close(f"lstm_step_backward{label}{call}: d{what} (against autograd)", run.step(name).returned(i), grad,
                        tolerance("gradient"))
    check_unmodified("lstm_step_backward: dnext_h", run.step("bwd"), 0)
    check_unmodified("lstm_step_backward: dnext_c", run.step("bwd"), 1)


def _check_sequence_gradients(run, tolerance, label: str = "") -> None:
    inputs, dh = run.step("fwd").args, run.step("bwd").args[0]
    _, expected = value_and_grads(lstm_sequence, list(inputs), wrt=list(range(5)), dout=dh)
    for name, call in (("bwd", ""), ("again", ", called a second time on the same cache")):
        for i, (what, grad) in enumerate(zip(SEQ_INPUTS, expected, strict=True)):
            check_close(f"lstm_backward{label}{call}: d{what} (against autograd)", run.step(name).returned(i), grad,
                        tolerance("gradient"))
    check_unmodified("lstm_backward: dh", run.step("bwd"), 0)


def _check_own_numeric(run, fn: str, output: int, what: str, shape: tuple[int, ...], forward: str, tolerance) -> None:
    got = run.step("bwd").returned(output)
    check_shape(f"{fn}: {what}", got, shape)
    check_close(f"{fn}: {what} against your own numeric gradient (centered differences of your {forward})",
                np.asarray(got)[run.numeric_grad_index], run.numeric_grad, tolerance("numeric_gradient"))


# --- lstm_step_forward / lstm_step_backward ------------------------------------------------------


@points(3, cell="check_lstm_step_forward")
def test_lstm_step_forward(result, tolerance):
    """lstm_step_forward: next_h and next_c against torch.nn.LSTMCell in the book's gate order i, f, o, g (N, D, H =
    4, 3, 6, prev_c non-zero), in float64, with every input left as it was given."""
    run = result("lstm_step_values")
    _check_step_values(run, "fwd", tolerance)
    for i, what in enumerate(STEP_INPUTS):
        check_unmodified(f"lstm_step_forward: {what}", run.step("fwd"), i)


@points(1, cell="check_lstm_step_forward")
def test_lstm_step_forward_batch_of_one(result, tolerance):
    """lstm_step_forward: next_h and next_c against torch.nn.LSTMCell for a batch of one."""
    _check_step_values(result("lstm_step_values"), "fwd_one", tolerance)


def _check_step_values(run, name: str, tolerance) -> None:
    label = "" if name == "fwd" else " (a batch of one)"
    expected = [t.detach().cpu().numpy() for t in lstm_step(*(torch.tensor(a) for a in run.step(name).args))]
    for i, what in enumerate(("next_h", "next_c")):
        got = run.step(name).returned(i)
        check_close(f"lstm_step_forward{label}: {what} (against torch's LSTM cell, gates i, f, o, g)", got, expected[i],
                    tolerance("value"))
        _float64(f"lstm_step_forward: {what}", got)


@points(3, cell="check_lstm_step_backward")
def test_lstm_step_backward(result, tolerance):
    """lstm_step_backward: all six gradients against autograd with dnext_h and dnext_c both non-zero, called twice on
    the cache of your forward step, with dnext_h and dnext_c left as they were given."""
    _check_step_gradients(result("lstm_step_grads"), tolerance)


@points(1, cell="check_lstm_step_backward")
def test_lstm_step_backward_cell_path(result, tolerance):
    """lstm_step_backward: all six gradients against autograd when only next_c gets an upstream gradient
    (dnext_h = 0)."""
    _check_step_gradients(result("lstm_step_cell_path"), tolerance, " (dnext_h = 0)")


@points(1, cell="check_lstm_step_backward")
def test_lstm_step_backward_own_numeric_dx(result, tolerance):
    """lstm_step_backward: dx agrees with centered differences of next_h of your own lstm_step_forward (dnext_c = 0)."""
    _check_own_numeric(result("lstm_step_hidden_path"), "lstm_step_backward", 0, "dx", (N, D), "lstm_step_forward",
                       tolerance)


@points(1, cell="check_lstm_step_backward")
def test_lstm_step_backward_own_numeric_dprev_c(result, tolerance):
    """lstm_step_backward: dprev_c agrees with centered differences of next_c of your own lstm_step_forward
    (dnext_h = 0)."""
    _check_own_numeric(result("lstm_step_cell_path"), "lstm_step_backward", 2, "dprev_c", (N, H), "lstm_step_forward",
                       tolerance)


# --- lstm_forward / lstm_backward ----------------------------------------------------------------


@points(3, cell="check_lstm_forward")
def test_lstm_forward(result, tolerance):
    """lstm_forward: the hidden states against torch.nn.LSTM (gates i, f, o, g, c0 = 0) on random sequences (N, T, D,
    H = 4, 5, 3, 6, and a batch of one), in float64, with every input left as it was given."""
    run = result("lstm_values")
    for name, label in (("fwd", ""), ("fwd_one", " (a batch of one)")):
        expected = lstm_sequence(*(torch.tensor(a) for a in run.step(name).args)).detach().cpu().numpy()
        got = run.step(name).returned(0)
        check_close(f"lstm_forward{label}: h (against torch's LSTM, gates i, f, o, g, c0 = 0)", got, expected,
                    tolerance("value"))
        _float64("lstm_forward: h", got)
    for i, what in enumerate(SEQ_INPUTS):
        check_unmodified(f"lstm_forward: {what}", run.step("fwd"), i)


@points(3, cell="check_lstm_backward")
def test_lstm_backward(result, tolerance):
    """lstm_backward: dx, dh0, dWx, dWh and db against autograd with an upstream gradient at every step, called twice
    on the cache of your lstm_forward, with dh left as it was given."""
    _check_sequence_gradients(result("lstm_grads"), tolerance)


@points(1, cell="check_lstm_backward")
def test_lstm_backward_last_step_only(result, tolerance):
    """lstm_backward: every gradient against autograd when only the last hidden state gets an upstream gradient (it
    must travel back through the hidden and the cell states)."""
    _check_sequence_gradients(result("lstm_grads_last_step"), tolerance, " (gradient at the last step only)")


@points(1, cell="check_lstm_backward")
def test_lstm_backward_first_step_only(result, tolerance):
    """lstm_backward: every gradient against autograd when only the first hidden state gets an upstream gradient."""
    _check_sequence_gradients(result("lstm_grads_first_step"), tolerance, " (gradient at the first step only)")


@points(1, cell="check_lstm_backward")
def test_lstm_backward_own_numeric(result, tolerance):
    """lstm_backward: dx agrees with centered differences of your own lstm_forward."""
    _check_own_numeric(result("lstm_grads"), "lstm_backward", 0, "dx", (N, T, D), "lstm_forward", tolerance)

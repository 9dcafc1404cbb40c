"""a00 gates: the CS231n notes' worked examples, gate patterns, numeric and autograd gradients."""

from __future__ import annotations

import numpy as np
import pytest

import gradcheck
import pipelines.kit as kit
import reference.numpy as ref_np
from gradcheck import eval_numerical_gradient, eval_numerical_gradient_array, rel_error
from reference.numpy import gates as g
from reference.torch import gates as tg
from reference.torch.autograd import value_and_grads
from tests.reference.conftest import TOL_EXACT, TOL_NUMERIC_GRAD

NEURON_W = np.array([2.0, -3.0, -3.0])
NEURON_X = np.array([-1.0, -2.0])


def test_add_multiply_circuit_worked_example():
    """Notes L50-85: x=-2, y=5, z=-4 -> q=3, f=-12; gradients (dx, dy, dz) = (-4, -4, 3)."""
    f, cache = g.add_multiply_circuit_forward(-2.0, 5.0, -4.0)
    assert f == -12.0
    assert g.add_multiply_circuit_backward(1.0, cache) == (-4.0, -4.0, 3.0)


def test_sigmoid_neuron_worked_example():
    """Notes L103-158 (seed 004 G2): f = sigmoid(1) = 0.7310585786300049 and its gradients."""
    f, cache = g.sigmoid_neuron_forward(NEURON_W, NEURON_X)
    assert f == pytest.approx(0.7310585786300049, rel=1e-14)
    # erratum E6: the notes' code computes w[0]*x[1] and gets sigmoid(-1) = 0.2689 with the same gradients
    dw, dx = g.sigmoid_neuron_backward(1.0, cache)
    assert dw.shape == (3,) and dx.shape == (2,)
    assert rel_error(dw, [-0.19661193324148185, -0.3932238664829637, 0.19661193324148185]) < 1e-13
    assert rel_error(dx, [0.3932238664829637, -0.5898357997244456]) < 1e-13


def test_sigmoid_neuron_gate_by_gate():
    """The notes' circuit diagram: *(-1), exp, +1, 1/x, with the values the seed digest derives."""
    dot = 1.0
    neg, neg_cache = g.multiply_gate_forward(dot, -1.0)
    e, exp_cache = g.exp_gate_forward(neg)
    denom, add_cache = g.add_gate_forward(e, 1.0)
    f, rec_cache = g.reciprocal_gate_forward(denom)
    assert (neg, e, denom, f) == pytest.approx([-1.0, 0.36787944, 1.36787944, 0.73105858], abs=1e-8)

    ddenom = g.reciprocal_gate_backward(1.0, rec_cache)
    de, _ = g.add_gate_backward(ddenom, add_cache)
    dneg = g.exp_gate_backward(de, exp_cache)
    ddot, _ = g.multiply_gate_backward(dneg, neg_cache)
    assert (ddenom, de, dneg, ddot) == pytest.approx([-0.53444665, -0.53444665, -0.19661193, 0.19661193], abs=1e-8)


def test_gate_patterns():
    """Notes L164-176: add copies the gradient, max routes it to the winner, multiply swaps the inputs."""
    dout = np.array([2.0, -3.0])
    x, y = np.array([1.0, 5.0]), np.array([4.0, -1.0])
    _, cache = g.add_gate_forward(x, y)
    for grad in g.add_gate_backward(dout, cache):
        np.testing.assert_array_equal(grad, dout)
    _, cache = g.max_gate_forward(x, y)
    dx, dy = g.max_gate_backward(dout, cache)
    np.testing.assert_array_equal(dx, [0.0, -3.0])
    np.testing.assert_array_equal(dy, [2.0, 0.0])
    _, cache = g.multiply_gate_forward(x, y)
    dx, dy = g.multiply_gate_backward(dout, cache)
    np.testing.assert_array_equal(dx, y * dout)
    np.testing.assert_array_equal(dy, x * dout)


# (numpy forward, numpy backward, torch twin, number of inputs)
GATES = [
    (g.add_gate_forward, g.add_gate_backward, tg.add_gate, 2),
    (g.multiply_gate_forward, g.multiply_gate_backward, tg.multiply_gate, 2),
    (g.max_gate_forward, g.max_gate_backward, tg.max_gate, 2),
    (g.exp_gate_forward, g.exp_gate_backward, tg.exp_gate, 1),
    (g.reciprocal_gate_forward, g.reciprocal_gate_backward, tg.reciprocal_gate, 1),
    (g.sigmoid_gate_forward, g.sigmoid_gate_backward, tg.sigmoid_gate, 1),
]
GATE_IDS = [fwd.__name__.removesuffix("_forward") for fwd, *_ in GATES]


def gate_inputs(rng: np.random.Generator, n: int) -> list[np.ndarray]:
    """``n`` arrays of shape (4, 5) with |entries| in [0.5, 2]: away from 1/x's pole and from max ties."""
    return [rng.uniform(0.5, 2.0, (4, 5)) * rng.choice([-1.0, 1.0], (4, 5)) for _ in range(n)]


def as_tuple(grads) -> tuple:
    """A backward's result as a tuple, whether it returns one gradient or several."""
    return grads if isinstance(grads, tuple) else (grads,)


@pytest.mark.parametrize("fwd, bwd, _twin, n", GATES, ids=GATE_IDS)
def test_gate_backward_matches_numeric_gradient(fwd, bwd, _twin, n, rng):
    """Each hand-written backward equals centered differences of the forward (h = 1e-5)."""
    inputs = gate_inputs(rng, n)
    out, cache = fwd(*inputs)
    dout = rng.standard_normal(out.shape)
    grads = as_tuple(bwd(dout, cache))
    assert len(grads) == n
    for i, grad in enumerate(grads):

        def f_i(v, i=i):
            args = list(inputs)
            args[i] = v
            return fwd(*args)[0]

        numeric = eval_numerical_gradient_array(f_i, inputs[i].copy(), dout)
        assert grad.shape == inputs[i].shape
        assert rel_error(grad, numeric) < TOL_NUMERIC_GRAD


@pytest.mark.parametrize("fwd, bwd, twin, n", GATES, ids=GATE_IDS)
def test_gate_matches_torch_autograd(fwd, bwd, twin, n, rng, device):
    """Forward values and backward gradients equal torch's values and autograd gradients."""
    inputs = gate_inputs(rng, n)
    out, cache = fwd(*inputs)
    dout = rng.standard_normal(out.shape)
    t_out, t_grads = value_and_grads(twin, inputs, wrt=list(range(n)), dout=dout, device=device)
    assert rel_error(out, t_out) < TOL_EXACT[np.float64]
    for grad, t_grad in zip(as_tuple(bwd(dout, cache)), t_grads):
        assert rel_error(grad, t_grad) < TOL_EXACT[np.float64]


def test_circuits_match_torch_autograd(rng, device):
    """Both worked circuits at random inputs: value and every gradient equal torch autograd."""
    x, y, z = rng.standard_normal(3)
    f, cache = g.add_multiply_circuit_forward(x, y, z)
    scalars = [np.array(x), np.array(y), np.array(z)]
    t_f, t_grads = value_and_grads(tg.add_multiply_circuit, scalars, [0, 1, 2], device=device)
    assert rel_error(f, t_f) < TOL_EXACT[np.float64]
    assert rel_error(g.add_multiply_circuit_backward(1.0, cache), t_grads) < TOL_EXACT[np.float64]

    w, v = rng.standard_normal(3), rng.standard_normal(2)
    f, cache = g.sigmoid_neuron_forward(w, v)
    t_f, (t_dw, t_dx) = value_and_grads(tg.sigmoid_neuron, [w, v], [0, 1], device=device)
    dw, dx = g.sigmoid_neuron_backward(1.0, cache)
    assert rel_error(f, t_f) < TOL_EXACT[np.float64]
    assert rel_error(dw, t_dw) < TOL_EXACT[np.float64]
    assert rel_error(dx, t_dx) < TOL_EXACT[np.float64]


def test_sigmoid_neuron_matches_numeric_gradient(rng):
    """The neuron's (dw, dx) against centered differences of its forward."""
    w, x = rng.standard_normal(3), rng.standard_normal(2)
    dw, dx = g.sigmoid_neuron_backward(1.0, g.sigmoid_neuron_forward(w, x)[1])
    numeric_dw = eval_numerical_gradient(lambda a: g.sigmoid_neuron_forward(a, x)[0], w.copy())
    numeric_dx = eval_numerical_gradient(lambda a: g.sigmoid_neuron_forward(w, a)[0], x.copy())
    assert rel_error(dw, numeric_dw) < TOL_NUMERIC_GRAD
    assert rel_error(dx, numeric_dx) < TOL_NUMERIC_GRAD


def test_sigmoid_gate_saturates_without_overflow():
    """Large |x| gives 0 or 1 and a zero gradient, with no overflow warning."""
    with np.errstate(over="raise"):
        out, cache = g.sigmoid_gate_forward(np.array([-1000.0, 0.0, 1000.0]))
    np.testing.assert_array_equal(out, [0.0, 0.5, 1.0])
    np.testing.assert_array_equal(g.sigmoid_gate_backward(np.ones(3), cache), [0.0, 0.25, 0.0])


@pytest.mark.parametrize("name", ["rel_error", "eval_numerical_gradient", "eval_numerical_gradient_array"])
def test_yardsticks_are_the_kit_functions(name):
    """The a00 yardsticks: one copy, in ``gradcheck``, that the reference and the students' kit re-export."""
    assert name in g.__all__
    assert getattr(ref_np, name) is getattr(gradcheck, name) is getattr(kit, name)


# --- the yardsticks as the a00 graders use them (assignments/a00_backprop/graders/test_gradcheck.py) ---


def ulp_sensitive(rng: np.random.Generator, h: float = 1e-5) -> np.ndarray:
    """A 3x4 x of which many entries do not survive ``x + h - 2h + h`` (CONVENTIONS.md, a00)."""
    x = rng.uniform(-2.0, 2.0, (3, 4))
    assert np.any(((x + h) - 2 * h) + h != x)
    return x


def test_eval_numerical_gradient_restores_x_bit_for_bit(rng):
    """x is given back exactly, although moving it by +h, -2h, +h would leave entries one ulp off."""
    x = ulp_sensitive(rng)
    before = x.copy()
    eval_numerical_gradient(lambda v: float(np.sum(np.sin(v))), x)
    assert np.array_equal(x, before)
    df = rng.standard_normal(x.shape)
    eval_numerical_gradient_array(np.tanh, x, df)
    assert np.array_equal(x, before)


def test_eval_numerical_gradient_uses_h_by_keyword(rng):
    """Centered differences of sum(sin(x)) are cos(x) * sin(h) / h: the step passed as h is the one used."""
    x = ulp_sensitive(rng)
    for h in (1e-5, 1e-2):
        numeric = eval_numerical_gradient(lambda v: float(np.sum(np.sin(v))), x, h=h)
        assert rel_error(numeric, np.cos(x) * np.sin(h) / h) < 1e-9


def test_eval_numerical_gradient_near_a_kink_gives_the_average_slope():
    """Within h of the kink of |x - c| the centered difference is the offset over h, on either side."""
    c = np.array([0.3, -1.2, 2.0])
    offsets = 1e-5 * np.array([0.25, -0.5, 0.75])
    numeric = eval_numerical_gradient(lambda v: float(np.sum(np.abs(v - c))), c + offsets)
    assert rel_error(numeric, offsets / 1e-5) < 1e-8


def test_eval_numerical_gradient_array_copies_the_output(rng):
    """A function that returns x itself (a layer in test mode) has the gradient df, not 0."""
    x, df = ulp_sensitive(rng), rng.standard_normal((3, 4))
    assert rel_error(eval_numerical_gradient_array(lambda v: v, x, df), df) < 1e-9


def test_rel_error_floor_and_symmetry():
    """0 against 0 is 0 (not NaN); below 1e-8 the floor decides; the sum |x| + |y| makes it symmetric."""
    assert rel_error(np.zeros(3), np.zeros(3)) == 0.0
    assert rel_error(1e-10, 3e-10) == pytest.approx(0.02)
    assert rel_error(1.0, 3.0) == rel_error(3.0, 1.0) == 0.5
    assert rel_error(-0.5, 0.5) == 1.0

"""Recurrent layers (unit a07): the book's fixed-input figures, numpy vs torch autograd, numeric gradients.

Expected arrays and printed errors come from the book's chapter 7 notebook (seed-003-part2.md §6.1-6.8,
with its erratum on ``expected_next_h[2, 4]`` = 0.858299). The torch side runs torch's own RNN/LSTM
cells, so agreement to float64 precision also pins the LSTM gate order i, f, o, g.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from gradcheck import eval_numerical_gradient, eval_numerical_gradient_array, rel_error
from reference.numpy.rnn_layers import (
    lstm_backward,
    lstm_forward,
    lstm_step_backward,
    lstm_step_forward,
    rnn_backward,
    rnn_forward,
    rnn_step_backward,
    rnn_step_forward,
    temporal_affine_backward,
    temporal_affine_forward,
    temporal_softmax_loss,
    word_embedding_backward,
    word_embedding_forward,
)
from reference.torch import rnn_layers as trl
from reference.torch.autograd import value_and_grads
from tests.reference.conftest import TOL_EXACT, TOL_NUMERIC_GRAD

TOL64 = TOL_EXACT[np.float64]


def lin(lo: float, hi: float, *shape: int) -> np.ndarray:
    """The book's way of building fixed inputs: ``np.linspace(lo, hi, size).reshape(shape)``."""
    return np.linspace(lo, hi, num=int(np.prod(shape))).reshape(*shape)


# ---------------------------------------------------------------------------------------------
# The book's fixed-input tests: each asserts the book's threshold and reproduces its printed error.


def test_rnn_step_forward_book_values() -> None:
    N, D, H = 3, 10, 4
    next_h, _ = rnn_step_forward(
        lin(-0.4, 0.7, N, D), lin(-0.2, 0.5, N, H), lin(-0.1, 0.9, D, H), lin(-0.3, 0.7, H, H), lin(-0.2, 0.4, H)
    )
    expected = np.array(
        [
            [-0.58172089, -0.50182032, -0.41232771, -0.31410098],
            [0.66854692, 0.79562378, 0.87755553, 0.92795967],
            [0.97934501, 0.99144213, 0.99646691, 0.99854353],
        ]
    )
    err = rel_error(expected, next_h)
    assert err < 1e-8
    assert err == pytest.approx(6.29242142647e-09, rel=1e-6)


def test_rnn_forward_book_values() -> None:
    N, T, D, H = 2, 3, 4, 5
    h, _ = rnn_forward(
        lin(-0.1, 0.3, N, T, D), lin(-0.3, 0.1, N, H), lin(-0.2, 0.4, D, H), lin(-0.4, 0.1, H, H), lin(-0.7, 0.1, H)
    )
    expected = np.array(
        [
            [
                [-0.42070749, -0.27279261, -0.11074945, 0.05740409, 0.22236251],
                [-0.39525808, -0.22554661, -0.0409454, 0.14649412, 0.32397316],
                [-0.42305111, -0.24223728, -0.04287027, 0.15997045, 0.35014525],
            ],
            [
                [-0.55857474, -0.39065825, -0.19198182, 0.02378408, 0.23735671],
                [-0.27150199, -0.07088804, 0.13562939, 0.33099728, 0.50158768],
                [-0.51014825, -0.30524429, -0.06755202, 0.17806392, 0.40333043],
            ],
        ]
    )
    err = rel_error(expected, h)
    assert err < 1e-7
    assert err == pytest.approx(7.72846618019e-08, rel=1e-6)


def test_word_embedding_forward_book_values() -> None:
    V, D = 5, 3
    x = np.array([[0, 3, 1, 2], [2, 1, 0, 3]])
    out, _ = word_embedding_forward(x, lin(0, 1, V, D))
    expected = np.array(
        [
            [[0.0, 0.07142857, 0.14285714], [0.64285714, 0.71428571, 0.78571429],
             [0.21428571, 0.28571429, 0.35714286], [0.42857143, 0.5, 0.57142857]],
            [[0.42857143, 0.5, 0.57142857], [0.21428571, 0.28571429, 0.35714286],
             [0.0, 0.07142857, 0.14285714], [0.64285714, 0.71428571, 0.78571429]],
        ]
    )
    # The book says "within 1e-8" and prints 1.00000000947e-08: the 8-digit rounding of 0.5/7 dominates.
    assert rel_error(expected, out) == pytest.approx(1.00000000947e-08, rel=1e-6)


def test_lstm_step_forward_book_values() -> None:
    N, D, H = 3, 4, 5
    next_h, next_c, _ = lstm_step_forward(
        lin(-0.4, 1.2, N, D),
        lin(-0.3, 0.7, N, H),
        lin(-0.4, 0.9, N, H),
        lin(-2.1, 1.3, D, 4 * H),
        lin(-0.7, 2.2, H, 4 * H),
        lin(0.3, 0.7, 4 * H),
    )
    expected_h = np.array(
        [
            [0.24635157, 0.28610883, 0.32240467, 0.35525807, 0.38474904],
            [0.49223563, 0.55611431, 0.61507696, 0.66844003, 0.7159181],
            [0.56735664, 0.66310127, 0.74419266, 0.80889665, 0.858299],  # OCR "0.858299 1" (erratum)
        ]
    )
    expected_c = np.array(
        [
            [0.32986176, 0.39145139, 0.451556, 0.51014116, 0.56717407],
            [0.66382255, 0.76674007, 0.87195994, 0.97902709, 1.08751345],
            [0.74192008, 0.90592151, 1.07717006, 1.25120233, 1.42395676],
        ]
    )
    assert rel_error(expected_h, next_h) == pytest.approx(5.70541311858e-09, rel=1e-6)
    assert rel_error(expected_c, next_c) == pytest.approx(5.81431230888e-09, rel=1e-6)


def test_lstm_forward_book_values() -> None:
    N, D, H, T = 2, 5, 4, 3
    h, _ = lstm_forward(
        lin(-0.4, 0.6, N, T, D), lin(-0.4, 0.8, N, H), lin(-0.2, 0.9, D, 4 * H), lin(-0.3, 0.6, H, 4 * H),
        lin(0.2, 0.7, 4 * H),
    )
    expected = np.array(
        [
            [[0.01764008, 0.01823233, 0.01882671, 0.0194232], [0.11287491, 0.12146228, 0.13018446, 0.13902939],
             [0.31358768, 0.33338627, 0.35304453, 0.37250975]],
            [[0.45767879, 0.4761092, 0.4936887, 0.51041945], [0.6704845, 0.69350089, 0.71486014, 0.7346449],
             [0.81733511, 0.83677871, 0.85403753, 0.86935314]],
        ]
    )
    err = rel_error(expected, h)
    assert err < 1e-7
    assert err == pytest.approx(8.61053745211e-08, rel=1e-6)


def test_lstm_gate_order_is_pinned_by_the_book() -> None:
    """Swapping the o and g blocks (torch's order) must break the book's figure, else the test above is blind to it."""
    N, D, H = 3, 4, 5
    Wx, Wh, b = lin(-2.1, 1.3, D, 4 * H), lin(-0.7, 2.2, H, 4 * H), lin(0.3, 0.7, 4 * H)
    swap = np.r_[0 : 2 * H, 3 * H : 4 * H, 2 * H : 3 * H]
    args = (lin(-0.4, 1.2, N, D), lin(-0.3, 0.7, N, H), lin(-0.4, 0.9, N, H))
    book_h, _, _ = lstm_step_forward(*args, Wx, Wh, b)
    torch_order_h, _, _ = lstm_step_forward(*args, Wx[:, swap], Wh[:, swap], b[swap])
    assert rel_error(book_h, torch_order_h) > 1e-2


@pytest.mark.parametrize(
    ("N", "T", "V", "p", "expected", "tol"),
    [
        (100, 1, 10, 1.0, np.log(10), 0.01),
        (100, 10, 10, 1.0, 10 * np.log(10), 0.05),
        (5000, 10, 10, 0.1, np.log(10), 0.1),
    ],
)
def test_temporal_softmax_loss_book_sanity(N: int, T: int, V: int, p: float, expected: float, tol: float) -> None:
    """The book's check_loss: near-zero scores give log V per unmasked step, summed over T, averaged over N."""
    rng = np.random.default_rng(231)
    x = 0.001 * rng.standard_normal((N, T, V))
    y = rng.integers(V, size=(N, T))
    mask = rng.random((N, T)) <= p
    loss, _ = temporal_softmax_loss(x, y, mask)
    assert loss == pytest.approx(expected, abs=tol)


def test_temporal_softmax_loss_divides_by_n_only() -> None:
    """Erratum 11: the loss is not normalised by T or by the mask count."""
    x = np.zeros((2, 3, 4))
    y = np.zeros((2, 3), dtype=np.int64)
    mask = np.array([[True, True, False], [True, False, False]])
    loss, dx = temporal_softmax_loss(x, y, mask)
    assert loss == pytest.approx(3 * np.log(4) / 2, rel=1e-12)
    assert np.all(dx[~mask] == 0)


# ---------------------------------------------------------------------------------------------
# numpy vs torch autograd (values and every gradient), on CPU and CUDA.


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(4)


def _rnn_args(rng: np.random.Generator, N: int, T: int, D: int, H: int, gates: int) -> dict[str, np.ndarray]:
    return {
        "x": rng.standard_normal((N, T, D)),
        "h0": rng.standard_normal((N, H)),
        "c0": rng.standard_normal((N, H)),
        "Wx": rng.standard_normal((D, gates * H)) * 0.5,
        "Wh": rng.standard_normal((H, gates * H)) * 0.5,
        "b": rng.standard_normal(gates * H),
    }


def _assert_all_close(ours: list[np.ndarray], theirs: list[np.ndarray], tol: float = TOL64) -> None:
    assert len(ours) == len(theirs)
    for k, (a, b) in enumerate(zip(ours, theirs)):
        assert a.shape == b.shape, k
        assert rel_error(a, b) < tol, (k, rel_error(a, b))


def test_rnn_step_matches_torch(rng: np.random.Generator, device: str) -> None:
    a = _rnn_args(rng, 4, 1, 5, 6, 1)
    x = a["x"][:, 0]
    out, cache = rnn_step_forward(x, a["h0"], a["Wx"], a["Wh"], a["b"])
    dout = rng.standard_normal(out.shape)
    t_out, t_grads = value_and_grads(trl.rnn_step, [x, a["h0"], a["Wx"], a["Wh"], a["b"]], range(5), dout, device)
    _assert_all_close([out, *rnn_step_backward(dout, cache)], [t_out, *t_grads])


def test_rnn_matches_torch(rng: np.random.Generator, device: str) -> None:
    a = _rnn_args(rng, 3, 7, 4, 5, 1)
    args = [a["x"], a["h0"], a["Wx"], a["Wh"], a["b"]]
    h, cache = rnn_forward(*args)
    dh = rng.standard_normal(h.shape)
    t_h, t_grads = value_and_grads(trl.rnn_sequence, args, range(5), dh, device)
    _assert_all_close([h, *rnn_backward(dh, cache)], [t_h, *t_grads])


def test_lstm_step_matches_torch(rng: np.random.Generator, device: str) -> None:
    a = _rnn_args(rng, 4, 1, 5, 6, 4)
    args = [a["x"][:, 0], a["h0"], a["c0"], a["Wx"], a["Wh"], a["b"]]
    next_h, next_c, cache = lstm_step_forward(*args)
    dh, dc = rng.standard_normal(next_h.shape), rng.standard_normal(next_c.shape)

    def both(*tensors: torch.Tensor) -> torch.Tensor:
        return torch.stack(trl.lstm_step(*tensors))

    t_out, t_grads = value_and_grads(both, args, range(6), np.stack([dh, dc]), device)
    _assert_all_close([next_h, next_c, *lstm_step_backward(dh, dc, cache)], [t_out[0], t_out[1], *t_grads])


def test_lstm_matches_torch(rng: np.random.Generator, device: str) -> None:
    a = _rnn_args(rng, 3, 7, 4, 5, 4)
    args = [a["x"], a["h0"], a["Wx"], a["Wh"], a["b"]]
    h, cache = lstm_forward(*args)
    dh = rng.standard_normal(h.shape)
    t_h, t_grads = value_and_grads(trl.lstm_sequence, args, range(5), dh, device)
    _assert_all_close([h, *lstm_backward(dh, cache)], [t_h, *t_grads])


def test_word_embedding_matches_torch(rng: np.random.Generator, device: str) -> None:
    V, D = 5, 6
    x = rng.integers(V, size=(50, 3))  # many repeated ids: their gradients must accumulate
    W = rng.standard_normal((V, D))
    out, cache = word_embedding_forward(x, W)
    dout = rng.standard_normal(out.shape)
    t_out, (t_dW,) = value_and_grads(trl.word_embedding, [x, W], [1], dout, device)
    _assert_all_close([out, word_embedding_backward(dout, cache)], [t_out, t_dW])


def test_temporal_affine_matches_torch(rng: np.random.Generator, device: str) -> None:
    x, w, b = rng.standard_normal((2, 3, 4)), rng.standard_normal((4, 5)), rng.standard_normal(5)
    out, cache = temporal_affine_forward(x, w, b)
    dout = rng.standard_normal(out.shape)
    t_out, t_grads = value_and_grads(trl.temporal_affine, [x, w, b], range(3), dout, device)
    _assert_all_close([out, *temporal_affine_backward(dout, cache)], [t_out, *t_grads])


def test_temporal_softmax_loss_matches_torch(rng: np.random.Generator, device: str) -> None:
    N, T, V = 7, 8, 9
    x = rng.standard_normal((N, T, V))
    y = rng.integers(V, size=(N, T))
    mask = rng.random((N, T)) > 0.5
    loss, dx = temporal_softmax_loss(x, y, mask)
    t_loss, (t_dx,) = value_and_grads(trl.temporal_softmax_loss, [x, y, mask], [0], None, device)
    _assert_all_close([np.asarray(loss), dx], [t_loss, t_dx])


# ---------------------------------------------------------------------------------------------
# Numeric gradients (centered differences), each gradient against its own numeric estimate
# (the book's lstm_backward check compared dx five times: erratum 10).


def test_rnn_step_backward_numeric(rng: np.random.Generator) -> None:
    a = _rnn_args(rng, 4, 1, 5, 6, 1)
    args = [a["x"][:, 0], a["h0"], a["Wx"], a["Wh"], a["b"]]
    out, cache = rnn_step_forward(*args)
    dout = rng.standard_normal(out.shape)
    numeric = [eval_numerical_gradient_array(lambda _: rnn_step_forward(*args)[0], arg, dout) for arg in args]
    _assert_all_close(list(rnn_step_backward(dout, cache)), numeric, TOL_NUMERIC_GRAD)


def test_rnn_backward_numeric(rng: np.random.Generator) -> None:
    a = _rnn_args(rng, 2, 10, 3, 5, 1)
    args = [a["x"], a["h0"], a["Wx"], a["Wh"], a["b"]]
    h, cache = rnn_forward(*args)
    dh = rng.standard_normal(h.shape)
    numeric = [eval_numerical_gradient_array(lambda _: rnn_forward(*args)[0], arg, dh) for arg in args]
    _assert_all_close(list(rnn_backward(dh, cache)), numeric, TOL_NUMERIC_GRAD)


def test_lstm_step_backward_numeric(rng: np.random.Generator) -> None:
    a = _rnn_args(rng, 4, 1, 5, 6, 4)
    args = [a["x"][:, 0], a["h0"], a["c0"], a["Wx"], a["Wh"], a["b"]]
    next_h, next_c, cache = lstm_step_forward(*args)
    dh, dc = rng.standard_normal(next_h.shape), rng.standard_normal(next_c.shape)

    def both(_):
        h, c, _ = lstm_step_forward(*args)
        return np.stack([h, c])

    numeric = [eval_numerical_gradient_array(both, arg, np.stack([dh, dc])) for arg in args]
    _assert_all_close(list(lstm_step_backward(dh, dc, cache)), numeric, TOL_NUMERIC_GRAD)


def test_lstm_backward_numeric(rng: np.random.Generator) -> None:
    a = _rnn_args(rng, 2, 10, 3, 6, 4)
    args = [a["x"], a["h0"], a["Wx"], a["Wh"], a["b"]]
    h, cache = lstm_forward(*args)
    dh = rng.standard_normal(h.shape)
    numeric = [eval_numerical_gradient_array(lambda _: lstm_forward(*args)[0], arg, dh) for arg in args]
    _assert_all_close(list(lstm_backward(dh, cache)), numeric, TOL_NUMERIC_GRAD)


def test_word_embedding_backward_numeric(rng: np.random.Generator) -> None:
    V, D = 5, 6
    x = rng.integers(V, size=(50, 3))
    W = rng.standard_normal((V, D))
    out, cache = word_embedding_forward(x, W)
    dout = rng.standard_normal(out.shape)
    numeric = eval_numerical_gradient_array(lambda _: word_embedding_forward(x, W)[0], W, dout)
    assert rel_error(word_embedding_backward(dout, cache), numeric) < TOL_NUMERIC_GRAD


def test_temporal_affine_backward_numeric(rng: np.random.Generator) -> None:
    args = [rng.standard_normal((2, 3, 4)), rng.standard_normal((4, 5)), rng.standard_normal(5)]
    out, cache = temporal_affine_forward(*args)
    dout = rng.standard_normal(out.shape)
    numeric = [eval_numerical_gradient_array(lambda _: temporal_affine_forward(*args)[0], arg, dout) for arg in args]
    _assert_all_close(list(temporal_affine_backward(dout, cache)), numeric, TOL_NUMERIC_GRAD)


def test_temporal_softmax_loss_numeric(rng: np.random.Generator) -> None:
    N, T, V = 7, 8, 9
    x = rng.standard_normal((N, T, V))
    y = rng.integers(V, size=(N, T))
    mask = rng.random((N, T)) > 0.5
    _, dx = temporal_softmax_loss(x, y, mask)
    numeric = eval_numerical_gradient(lambda _: temporal_softmax_loss(x, y, mask)[0], x)
    assert rel_error(dx, numeric) < TOL_NUMERIC_GRAD


# ---------------------------------------------------------------------------------------------
# Shapes and dtypes.


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_sequence_shapes_and_dtypes(dtype: type) -> None:
    N, T, D, H = 2, 3, 4, 5
    rng = np.random.default_rng(0)
    x = rng.standard_normal((N, T, D)).astype(dtype)
    h0 = rng.standard_normal((N, H)).astype(dtype)
    for forward, backward, gates in [(rnn_forward, rnn_backward, 1), (lstm_forward, lstm_backward, 4)]:
        Wx = rng.standard_normal((D, gates * H)).astype(dtype)
        Wh = rng.standard_normal((H, gates * H)).astype(dtype)
        b = np.zeros(gates * H, dtype=dtype)
        h, cache = forward(x, h0, Wx, Wh, b)
        assert h.shape == (N, T, H) and h.dtype == dtype
        grads = backward(np.ones_like(h), cache)
        for g, ref in zip(grads, (x, h0, Wx, Wh, b)):
            assert g.shape == ref.shape and g.dtype == dtype

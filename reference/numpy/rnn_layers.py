"""Recurrent layers for image captioning (unit a07), written as the book's chapter 7 ``rnn_layers.py``.

Graders compare student RNN/LSTM code with these functions, so each one is the plain math with the
conventions the book's fixed-value tests pin down:

* vanilla RNN: ``next_h = tanh(x @ Wx + prev_h @ Wh + b)``;
* LSTM without peepholes, pre-activation blocks in the order **i, f, o, g** (input, forget, output
  gates, then the tanh candidate); PyTorch's ``nn.LSTM`` uses i, f, g, o. The initial cell state is 0;
* ``temporal_softmax_loss`` sums the masked cross-entropy over time and divides by N only (not by
  N*T nor by the mask count); the book's expected captioning losses depend on it.

Every layer is ``name_forward(...) -> (out, cache)`` and ``name_backward(dout, cache) -> grads``
(the LSTM step returns ``(next_h, next_c, cache)``). Shapes: N batch, T time steps, D input size,
H hidden size, V vocabulary size, M output size.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = [
    "rnn_step_forward",
    "rnn_step_backward",
    "rnn_forward",
    "rnn_backward",
    "word_embedding_forward",
    "word_embedding_backward",
    "temporal_affine_forward",
    "temporal_affine_backward",
    "temporal_softmax_loss",
    "lstm_step_forward",
    "lstm_step_backward",
    "lstm_forward",
    "lstm_backward",
]


def _sigmoid(x: np.ndarray) -> np.ndarray:
    """Logistic function without overflow: ``exp`` only ever sees non-positive arguments."""
    z = np.exp(-np.abs(x))
    return np.where(x >= 0, 1.0 / (1.0 + z), z / (1.0 + z))


def rnn_step_forward(
    x: np.ndarray, prev_h: np.ndarray, Wx: np.ndarray, Wh: np.ndarray, b: np.ndarray
) -> tuple[np.ndarray, tuple]:
    """One tanh RNN step: ``next_h = tanh(x @ Wx + prev_h @ Wh + b)``.

    x (N, D), prev_h (N, H), Wx (D, H), Wh (H, H), b (H,) -> next_h (N, H).
    """
    next_h = np.tanh(x @ Wx + prev_h @ Wh + b)
    return next_h, (x, prev_h, Wx, Wh, next_h)


def rnn_step_backward(
    dnext_h: np.ndarray, cache: tuple
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Backward pass of one RNN step.

    dnext_h (N, H) -> ``(dx (N, D), dprev_h (N, H), dWx (D, H), dWh (H, H), db (H,))``.
    """
    x, prev_h, Wx, Wh, next_h = cache
    da = dnext_h * (1.0 - next_h**2)
    return da @ Wx.T, da @ Wh.T, x.T @ da, prev_h.T @ da, da.sum(axis=0)


def rnn_forward(
    x: np.ndarray, h0: np.ndarray, Wx: np.ndarray, Wh: np.ndarray, b: np.ndarray
) -> tuple[np.ndarray, list[tuple]]:
    """Run the tanh RNN over a whole sequence.

    x (N, T, D), h0 (N, H), Wx (D, H), Wh (H, H), b (H,) -> h (N, T, H), the hidden state at every step
    (h0 itself is not included). The cache is the list of per-step caches.
    """
    N, T, _ = x.shape
    h = np.empty((N, T, h0.shape[1]), dtype=np.result_type(x, h0, Wx))
    caches = []
    prev_h = h0
    for t in range(T):
        prev_h, step_cache = rnn_step_forward(x[:, t, :], prev_h, Wx, Wh, b)
        h[:, t, :] = prev_h
        caches.append(step_cache)
    return h, caches


def rnn_backward(
    dh: np.ndarray, cache: list[tuple]
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Backpropagation through time for ``rnn_forward``.

    dh (N, T, H) is the upstream gradient of every hidden state (not only the last).
    Returns ``(dx (N, T, D), dh0 (N, H), dWx (D, H), dWh (H, H), db (H,))``.
    """
    N, T, _ = dh.shape
    _, _, Wx, Wh, _ = cache[0]
    dx = np.empty((N, T, Wx.shape[0]), dtype=dh.dtype)
    dWx, dWh = np.zeros_like(Wx), np.zeros_like(Wh)
    db = np.zeros(Wx.shape[1], dtype=dh.dtype)
    dprev_h = np.zeros_like(dh[:, 0, :])
    for t in reversed(range(T)):
        dx[:, t, :], dprev_h, dWx_t, dWh_t, db_t = rnn_step_backward(dh[:, t, :] + dprev_h, cache[t])
        dWx += dWx_t
        dWh += dWh_t
        db += db_t
    return dx, dprev_h, dWx, dWh, db


def word_embedding_forward(x: np.ndarray, W: np.ndarray) -> tuple[np.ndarray, tuple]:
    """Look up word vectors: ``out[n, t] = W[x[n, t]]``.

    x (N, T) integer word ids in [0, V), W (V, D) -> out (N, T, D).
    """
    return W[x], (x, W.shape)


def word_embedding_backward(dout: np.ndarray, cache: tuple) -> np.ndarray:
    """Gradient of the embedding matrix: rows of repeated words accumulate.

    dout (N, T, D) -> dW (V, D).
    """
    x, W_shape = cache
    dW = np.zeros(W_shape, dtype=dout.dtype)
    np.add.at(dW, x, dout)
    return dW


def temporal_affine_forward(x: np.ndarray, w: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, tuple]:
    """The same affine map at every time step: ``out[:, t] = x[:, t] @ w + b``.

    x (N, T, D), w (D, M), b (M,) -> out (N, T, M).
    """
    N, T, D = x.shape
    out = (x.reshape(N * T, D) @ w).reshape(N, T, -1) + b  # one 2-D product: numpy's 3-D matmul is far slower
    return out, (x, w, b, out)


def temporal_affine_backward(dout: np.ndarray, cache: tuple) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Backward pass of ``temporal_affine_forward``.

    dout (N, T, M) -> ``(dx (N, T, D), dw (D, M), db (M,))``.
    """
    x, w, _, _ = cache
    D, M = w.shape
    flat_dout = dout.reshape(-1, M)
    dx = (flat_dout @ w.T).reshape(x.shape)
    dw = x.reshape(-1, D).T @ flat_dout
    return dx, dw, flat_dout.sum(axis=0)


def temporal_softmax_loss(
    x: np.ndarray, y: np.ndarray, mask: np.ndarray, verbose: bool = False
) -> tuple[float, np.ndarray]:
    """Masked softmax cross-entropy summed over time and averaged over the batch.

    x (N, T, V) scores, y (N, T) targets in [0, V), mask (N, T) bool (False where the target is
    ``<NULL>``). ``loss = -sum_{n,t} mask[n,t] * log softmax(x[n,t])[y[n,t]] / N`` (divided by N only,
    the book's convention). Returns ``(loss, dx (N, T, V))``; ``verbose`` prints dx's shape.
    """
    N, T, V = x.shape
    flat_x = x.reshape(N * T, V)
    flat_y = y.reshape(N * T)
    flat_mask = mask.reshape(N * T)
    shifted = flat_x - flat_x.max(axis=1, keepdims=True)
    exp_shifted = np.exp(shifted)
    sums = exp_shifted.sum(axis=1)
    rows = np.arange(N * T)
    loss = -np.sum(flat_mask * (shifted[rows, flat_y] - np.log(sums))) / N
    dx_flat = exp_shifted / sums[:, None]
    dx_flat[rows, flat_y] -= 1.0
    dx_flat *= flat_mask[:, None] / N
    if verbose:
        print("dx_flat:", dx_flat.shape)
    return float(loss), dx_flat.reshape(N, T, V)


def lstm_step_forward(
    x: np.ndarray, prev_h: np.ndarray, prev_c: np.ndarray, Wx: np.ndarray, Wh: np.ndarray, b: np.ndarray
) -> tuple[np.ndarray, np.ndarray, tuple]:
    """One LSTM step, gate blocks in the book's order i, f, o, g.

    x (N, D), prev_h (N, H), prev_c (N, H), Wx (D, 4H), Wh (H, 4H), b (4H,).
    ``a = x @ Wx + prev_h @ Wh + b``; ``i, f, o = sigmoid(a[:, :H]), sigmoid(a[:, H:2H]),
    sigmoid(a[:, 2H:3H])``; ``g = tanh(a[:, 3H:])``; ``next_c = f * prev_c + i * g``;
    ``next_h = o * tanh(next_c)``. Returns ``(next_h (N, H), next_c (N, H), cache)``.
    """
    H = prev_h.shape[1]
    a = x @ Wx + prev_h @ Wh + b
    i = _sigmoid(a[:, :H])
    f = _sigmoid(a[:, H : 2 * H])
    o = _sigmoid(a[:, 2 * H : 3 * H])
    g = np.tanh(a[:, 3 * H :])
    next_c = f * prev_c + i * g
    tanh_c = np.tanh(next_c)
    next_h = o * tanh_c
    return next_h, next_c, (x, prev_h, prev_c, Wx, Wh, i, f, o, g, tanh_c)


def lstm_step_backward(
    dnext_h: np.ndarray, dnext_c: np.ndarray, cache: tuple
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Backward pass of one LSTM step.

    dnext_h (N, H), dnext_c (N, H) -> ``(dx (N, D), dprev_h (N, H), dprev_c (N, H), dWx (D, 4H),
    dWh (H, 4H), db (4H,))``.
    """
    x, prev_h, prev_c, Wx, Wh, i, f, o, g, tanh_c = cache
    dc = dnext_c + dnext_h * o * (1.0 - tanh_c**2)
    da = np.concatenate(
        [
            (g * dc) * i * (1.0 - i),
            (prev_c * dc) * f * (1.0 - f),
            (tanh_c * dnext_h) * o * (1.0 - o),
            (i * dc) * (1.0 - g**2),
        ],
        axis=1,
    )
    return da @ Wx.T, da @ Wh.T, f * dc, x.T @ da, prev_h.T @ da, da.sum(axis=0)


def lstm_forward(
    x: np.ndarray, h0: np.ndarray, Wx: np.ndarray, Wh: np.ndarray, b: np.ndarray
) -> tuple[np.ndarray, list[Any]]:
    """Run the LSTM over a whole sequence from ``h0`` and a zero initial cell state.

    x (N, T, D), h0 (N, H), Wx (D, 4H), Wh (H, 4H), b (4H,) -> h (N, T, H). The cache is the list
    of per-step caches.
    """
    N, T, _ = x.shape
    h = np.empty((N, T, h0.shape[1]), dtype=np.result_type(x, h0, Wx))
    caches = []
    prev_h, prev_c = h0, np.zeros_like(h0)
    for t in range(T):
        prev_h, prev_c, step_cache = lstm_step_forward(x[:, t, :], prev_h, prev_c, Wx, Wh, b)
        h[:, t, :] = prev_h
        caches.append(step_cache)
    return h, caches


def lstm_backward(
    dh: np.ndarray, cache: list[Any]
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Backpropagation through time for ``lstm_forward``.

    dh (N, T, H), the upstream gradient of every hidden state. Returns ``(dx (N, T, D), dh0 (N, H),
    dWx (D, 4H), dWh (H, 4H), db (4H,))``; no gradient flows to the fixed zero initial cell state.
    """
    N, T, _ = dh.shape
    Wx, Wh = cache[0][3], cache[0][4]
    dx = np.empty((N, T, Wx.shape[0]), dtype=dh.dtype)
    dWx, dWh = np.zeros_like(Wx), np.zeros_like(Wh)
    db = np.zeros(Wx.shape[1], dtype=dh.dtype)
    dprev_h = np.zeros_like(dh[:, 0, :])
    dprev_c = np.zeros_like(dprev_h)
    for t in reversed(range(T)):
        dx[:, t, :], dprev_h, dprev_c, dWx_t, dWh_t, db_t = lstm_step_backward(
            dh[:, t, :] + dprev_h, dprev_c, cache[t]
        )
        dWx += dWx_t
        dWh += dWh_t
        db += db_t
    return dx, dprev_h, dWx, dWh, db

"""The recurrent layers of unit a07 in torch: the second, independent opinion for graders.

Forward only; gradients come from autograd. The recurrences run through torch's own cells
(``nn.RNNCell``/``nn.RNN``/``nn.LSTMCell``/``nn.LSTM`` evaluated with ``torch.func.functional_call`` on
the caller's tensors, so torch's own kernels, cuDNN's on CUDA, do the work), not a transcription of
the numpy loop.
Same conventions as ``reference.numpy.rnn_layers``:

* weights are stored as the book stores them, ``Wx`` (D, G), ``Wh`` (H, G), one bias ``b`` (G,);
  torch wants (G, D)/(G, H) and two biases, so they are transposed and ``bias_hh`` is zero;
* LSTM pre-activation blocks are in the book's order i, f, o, g; torch's cells use i, f, g, o, so
  the last two blocks are swapped before the call (``ifog_to_ifgo``); the initial cell state is 0;
* ``temporal_softmax_loss`` sums the masked cross-entropy over time and divides by N only.

Device-agnostic: results live on the inputs' device with their dtype.

Mapping to ``reference.numpy.rnn_layers`` (numpy ``*_forward`` -> torch name, backward by autograd):

| torch                   | numpy                                  |
|-------------------------|----------------------------------------|
| `rnn_step`              | `rnn_step_forward`                     |
| `rnn_sequence`          | `rnn_forward`                          |
| `word_embedding`        | `word_embedding_forward`               |
| `temporal_affine`       | `temporal_affine_forward`              |
| `temporal_softmax_loss` | `temporal_softmax_loss` (loss only)    |
| `lstm_step`             | `lstm_step_forward` -> (next_h, next_c)|
| `lstm_sequence`         | `lstm_forward`                         |

The sequence functions are not called plain ``rnn``/``lstm``: ``reference.torch.rnn`` is the module
mirroring ``reference/numpy/rnn.py``, and a package-level function of the same name would be
shadowed by it.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch.func import functional_call

__all__ = [
    "ifog_to_ifgo",
    "rnn_step",
    "rnn_sequence",
    "word_embedding",
    "temporal_affine",
    "temporal_softmax_loss",
    "lstm_step",
    "lstm_sequence",
]


def ifog_to_ifgo(w: torch.Tensor) -> torch.Tensor:
    """Reorder the four H-wide blocks of the last axis from the book's i, f, o, g to torch's i, f, g, o."""
    i, f, o, g = w.chunk(4, dim=-1)
    return torch.cat([i, f, g, o], dim=-1)


def _cell_params(Wx: torch.Tensor, Wh: torch.Tensor, b: torch.Tensor, suffix: str = "") -> dict[str, torch.Tensor]:
    """Book-layout weights as the parameter dict of a torch RNN module (``suffix`` '_l0' for nn.RNN/LSTM)."""
    return {
        f"weight_ih{suffix}": Wx.T.contiguous(),
        f"weight_hh{suffix}": Wh.T.contiguous(),
        f"bias_ih{suffix}": b,
        f"bias_hh{suffix}": torch.zeros_like(b),
    }


def _meta_module(cls: type[torch.nn.Module], D: int, H: int, dtype: torch.dtype, **kwargs: Any) -> torch.nn.Module:
    """A parameterless shell of ``cls`` whose weights ``functional_call`` supplies."""
    return cls(D, H, device="meta", dtype=dtype, **kwargs)


def rnn_step(
    x: torch.Tensor, prev_h: torch.Tensor, Wx: torch.Tensor, Wh: torch.Tensor, b: torch.Tensor
) -> torch.Tensor:
    """``tanh(x @ Wx + prev_h @ Wh + b)``: x (N, D), prev_h (N, H), Wx (D, H), Wh (H, H), b (H,) -> (N, H)."""
    cell = _meta_module(torch.nn.RNNCell, Wx.shape[0], Wx.shape[1], x.dtype, nonlinearity="tanh")
    return functional_call(cell, _cell_params(Wx, Wh, b), (x, prev_h))


def rnn_sequence(
    x: torch.Tensor, h0: torch.Tensor, Wx: torch.Tensor, Wh: torch.Tensor, b: torch.Tensor
) -> torch.Tensor:
    """The tanh RNN over a sequence: x (N, T, D), h0 (N, H) -> every hidden state (N, T, H)."""
    net = _meta_module(torch.nn.RNN, Wx.shape[0], Wx.shape[1], x.dtype, nonlinearity="tanh", batch_first=True)
    out, _ = functional_call(net, _cell_params(Wx, Wh, b, "_l0"), (x, h0.unsqueeze(0)))
    return out


def word_embedding(x: torch.Tensor, W: torch.Tensor) -> torch.Tensor:
    """``W[x]``: x (N, T) int64 ids, W (V, D) -> (N, T, D)."""
    return F.embedding(x, W)


def temporal_affine(x: torch.Tensor, w: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """``x @ w + b`` at every step: x (N, T, D), w (D, M), b (M,) -> (N, T, M)."""
    return F.linear(x, w.T, b)


def temporal_softmax_loss(x: torch.Tensor, y: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Masked cross-entropy summed over (N, T) and divided by N: x (N, T, V), y (N, T) int64, mask (N, T) bool."""
    N, T, V = x.shape
    per_step = F.cross_entropy(x.reshape(N * T, V), y.reshape(N * T), reduction="none")
    return (per_step * mask.reshape(N * T).to(x.dtype)).sum() / N


def lstm_step(
    x: torch.Tensor, prev_h: torch.Tensor, prev_c: torch.Tensor, Wx: torch.Tensor, Wh: torch.Tensor, b: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """One LSTM step in the book's gate order: x (N, D), prev_h, prev_c (N, H), Wx (D, 4H), Wh (H, 4H),
    b (4H,) -> (next_h, next_c), each (N, H)."""
    cell = _meta_module(torch.nn.LSTMCell, Wx.shape[0], Wh.shape[0], x.dtype)
    params = _cell_params(ifog_to_ifgo(Wx), ifog_to_ifgo(Wh), ifog_to_ifgo(b))
    return functional_call(cell, params, (x, (prev_h, prev_c)))


def lstm_sequence(
    x: torch.Tensor, h0: torch.Tensor, Wx: torch.Tensor, Wh: torch.Tensor, b: torch.Tensor
) -> torch.Tensor:
    """The LSTM over a sequence from h0 and c0 = 0: x (N, T, D), h0 (N, H), Wx (D, 4H), Wh (H, 4H),
    b (4H,) -> every hidden state (N, T, H)."""
    net = _meta_module(torch.nn.LSTM, Wx.shape[0], Wh.shape[0], x.dtype, batch_first=True)
    params = _cell_params(ifog_to_ifgo(Wx), ifog_to_ifgo(Wh), ifog_to_ifgo(b), "_l0")
    state = (h0.unsqueeze(0), torch.zeros_like(h0).unsqueeze(0))
    out, _ = functional_call(net, params, (x, state))
    return out

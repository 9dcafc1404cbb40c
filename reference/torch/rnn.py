"""The captioning model of unit a07 in torch, as functions of the numpy model's parameter dict.

A grader hands ``CaptioningRNN.params`` (the same names and shapes: ``W_proj``, ``b_proj``,
``W_embed``, ``Wx``, ``Wh``, ``b``, ``W_vocab``, ``b_vocab``; LSTM blocks in the book's order
i, f, o, g) to these functions as tensors, so the whole model's loss, its autograd gradients and its
greedy captions can be compared with the numpy model exactly. Device-agnostic; float64 unless the
tensors say otherwise.

Mapping to ``reference.numpy.rnn``:

| torch                   | numpy                                   |
|-------------------------|-----------------------------------------|
| `captioning_rnn_loss`   | `CaptioningRNN.loss` (loss only)        |
| `captioning_rnn_sample` | `CaptioningRNN.sample`                  |
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from reference.torch.rnn_layers import (
    lstm_sequence,
    lstm_step,
    rnn_sequence,
    rnn_step,
    temporal_affine,
    temporal_softmax_loss,
)

__all__ = ["captioning_rnn_loss", "captioning_rnn_sample"]

_SEQUENCE = {"rnn": rnn_sequence, "lstm": lstm_sequence}


def _check_cell(cell_type: str) -> None:
    """The numpy model's error for an unknown cell type."""
    if cell_type not in _SEQUENCE:
        raise ValueError(f'Invalid cell_type "{cell_type}"')


def captioning_rnn_loss(
    params: dict[str, torch.Tensor],
    features: torch.Tensor,
    captions: torch.Tensor,
    cell_type: str = "rnn",
    null: int = 0,
) -> torch.Tensor:
    """Teacher-forced loss: features (N, D), captions (N, T) int64 -> scalar.

    Reads ``captions[:, :-1]``, scores ``captions[:, 1:]``; targets equal to ``null`` are masked;
    the masked cross-entropy is summed over time and divided by N (the book's convention).
    """
    _check_cell(cell_type)
    captions_in, captions_out = captions[:, :-1], captions[:, 1:]
    h0 = F.linear(features, params["W_proj"].T, params["b_proj"])
    words = F.embedding(captions_in, params["W_embed"])
    h = _SEQUENCE[cell_type](words, h0, params["Wx"], params["Wh"], params["b"])
    scores = temporal_affine(h, params["W_vocab"], params["b_vocab"])
    return temporal_softmax_loss(scores, captions_out, captions_out != null)


@torch.no_grad()
def captioning_rnn_sample(
    params: dict[str, torch.Tensor],
    features: torch.Tensor,
    start: int,
    max_length: int = 30,
    cell_type: str = "rnn",
) -> torch.Tensor:
    """Greedy captions: features (N, D) -> (N, max_length) int64; column 0 is ``start``, column t the
    argmax word after column t - 1 (generation goes on past ``<END>``, as the numpy model's does)."""
    _check_cell(cell_type)
    N = features.shape[0]
    captions = torch.empty((N, max_length), dtype=torch.int64, device=features.device)
    captions[:, 0] = start
    h = F.linear(features, params["W_proj"].T, params["b_proj"])
    c = torch.zeros_like(h)
    for t in range(1, max_length):
        x = F.embedding(captions[:, t - 1], params["W_embed"])
        if cell_type == "lstm":
            h, c = lstm_step(x, h, c, params["Wx"], params["Wh"], params["b"])
        else:
            h = rnn_step(x, h, params["Wx"], params["Wh"], params["b"])
        captions[:, t] = F.linear(h, params["W_vocab"].T, params["b_vocab"]).argmax(dim=1)
    return captions

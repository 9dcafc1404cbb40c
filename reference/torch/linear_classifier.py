"""The a01 linear-classifier losses in torch: the independent opinion on the loss and on ``dW``.

Mirrors ``reference/numpy/linear_classifier.py``. The loop and the vectorized numpy versions of a
loss compute one function, so each pair maps to one torch loss; its gradient comes from autograd:

    numpy svm_loss_naive, svm_loss_vectorized         <-> torch svm_loss_linear
    numpy softmax_loss_naive, softmax_loss_vectorized <-> torch softmax_loss_linear

Each returns the loss tensor only. Same conventions as numpy: ``W`` (D, C), ``X`` (N, D), ``y`` (N,)
integer labels, scores ``X @ W``, mean data loss over N plus ``0.5 * reg * sum(W**2)``, SVM margin
``delta = 1``. The classifier classes have no torch twin: their training is plain SGD on these
losses, checked by the numpy tests.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = ["svm_loss_linear", "softmax_loss_linear"]


def _l2(W: torch.Tensor, reg: float) -> torch.Tensor:
    """The book's weight penalty ``0.5 * reg * sum(W**2)``."""
    return 0.5 * reg * torch.sum(W * W)


def svm_loss_linear(
    W: torch.Tensor, X: torch.Tensor, y: torch.Tensor, reg: float, delta: float = 1.0
) -> torch.Tensor:
    """Multiclass SVM loss of the scores ``X @ W`` (a scalar tensor).

    ``F.multi_margin_loss`` sums ``max(0, delta - s_y + s_j)`` over ``j != y`` but divides by the
    number of classes C as well as by N, so it is multiplied back by C here.
    """
    scores = X @ W
    num_classes = scores.shape[1]
    data_loss = F.multi_margin_loss(scores, y.long(), p=1, margin=delta, reduction="mean") * num_classes
    return data_loss + _l2(W, reg)


def softmax_loss_linear(W: torch.Tensor, X: torch.Tensor, y: torch.Tensor, reg: float) -> torch.Tensor:
    """Softmax (cross-entropy) loss of the scores ``X @ W``, mean over N (a scalar tensor)."""
    return F.cross_entropy(X @ W, y.long(), reduction="mean") + _l2(W, reg)

"""Torch mirror of ``reference/numpy/logistic.py``: the softmax-regression values, for autograd checks.

The numpy class computes gradients by hand; graders compare them with autograd of these functions.
Mapping (numpy method -> torch function):

* ``LogisticRegression.p_y_given_x`` -> ``logistic_p_y_given_x(X, W, b)``
* ``LogisticRegression.negative_log_likelihood`` -> ``logistic_nll(X, y, W, b)`` (mean, a 0-d tensor)
* ``LogisticRegression.errors`` -> ``logistic_errors(X, y, W, b)``

Shapes as in numpy: ``X`` (N, n_in), ``y`` (N,) int64, ``W`` (n_in, n_out), ``b`` (n_out,); any
device; dtype follows the inputs (float64 in the checks).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = ["logistic_p_y_given_x", "logistic_nll", "logistic_errors"]


def logistic_p_y_given_x(X: torch.Tensor, W: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """``softmax(X W + b)`` row-wise, shape (N, n_out)."""
    return torch.softmax(X @ W + b, dim=1)


def logistic_nll(X: torch.Tensor, y: torch.Tensor, W: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Mean over rows of ``-log P(Y = y_i | x_i)`` (``F.cross_entropy`` on the scores)."""
    return F.cross_entropy(X @ W + b, y)


def logistic_errors(X: torch.Tensor, y: torch.Tensor, W: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Fraction of rows whose argmax score differs from ``y`` (0-d tensor)."""
    return ((X @ W + b).argmax(dim=1) != y).double().mean()

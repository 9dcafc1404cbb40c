"""Unit a09's models: the book's TensorFlow MNIST chapter (seed 003, ch. 8) rewritten with ``torch.nn``.

Students rebuild two models in PyTorch and the graders train this reference to calibrate the
accuracy thresholds: softmax regression (zero init, SGD at 0.5, batch 100; the book reaches 0.918)
and a CNN (two 5x5 'same' convolutions with 32 and 64 maps, each ReLU + 2x2 max-pool, a 1024-unit
ReLU layer, dropout, 10 logits, Adam at 1e-4, batch 50; the book reaches 0.9922). The CNN's map and
hidden sizes are arguments (the book's by default), so that graders can probe small copies. The
numpy counterpart of the CNN's forward pass is ``reference.numpy.mnist_cnn_forward`` (the a03/a06
layers with the same weights).

Before MNIST, the book's first TensorFlow example (section 8.3): the linear model ``W x + b`` with
one weight and one bias, its sum-of-squares loss (23.66 at W = 0.3, b = -0.3 on x = [1, 2, 3, 4],
y = [0, -1, -2, -3]) and 1000 gradient-descent steps at 0.01 that reach W = -1, b = 1
(``LinearModel``, ``sum_of_squares``). ``train_step(model, loss_fn, optimizer, X, y)`` is the one
training step both examples share (PyTorch's quickstart idiom).

Conventions, and where they differ from the book's TensorFlow code:

* images are NCHW (N, 1, 28, 28) (flat (N, 784) rows are reshaped); the 3136 features entering the
  dense layer are flattened in (C, H, W) order, TensorFlow's in (H, W, C) order;
* convolution is cross-correlation (as ``tf.nn.conv2d``); 'same' padding for a 5x5 kernel at stride
  1 is 2 zeros on each side; 28 -> 14 -> 7 pooling needs no padding;
* ``keep_prob`` is the KEEP probability (the course's dropout convention and TensorFlow's);
  ``nn.Dropout`` takes the drop probability, so the module is built with ``p = 1 - keep_prob``;
  ``model.eval()`` turns dropout off (the book fed ``keep_prob = 1.0`` for evaluation);
* initialisation as the book: weights truncated normal (std 0.1, cut at 2 std), biases 0.1 for the
  CNN; zeros for softmax regression;
* ``torch.optim.Adam`` and TensorFlow's Adam differ in where epsilon enters (after vs before the
  bias correction); with eps = 1e-8 the trajectories agree to far below any accuracy threshold.

Models are float64 unless a ``dtype`` is given, and run on whatever device they are moved to.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

__all__ = [
    "LinearModel",
    "sum_of_squares",
    "train_step",
    "SoftmaxRegression",
    "MnistCNN",
    "mnist_loss",
    "softmax_optimizer",
    "cnn_optimizer",
    "mnist_train_step",
    "mnist_train",
    "mnist_accuracy",
]


class LinearModel(nn.Module):
    """The book's first model (section 8.3.3): ``y = W x + b`` elementwise, ``W`` and ``b`` of shape (1,)."""

    def __init__(self, W: float = 0.3, b: float = -0.3, dtype: torch.dtype = torch.float64,
                 device: str | torch.device | None = None) -> None:
        super().__init__()
        self.W = nn.Parameter(torch.tensor([W], dtype=dtype, device=device))
        self.b = nn.Parameter(torch.tensor([b], dtype=dtype, device=device))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``W x + b``, the shape of ``x``."""
        return self.W * x + self.b


def sum_of_squares(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """The book's ``reduce_sum(square(linear_model - y))``: a 0-d tensor."""
    return ((pred - target) ** 2).sum()


LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def train_step(model: nn.Module, loss_fn: LossFn, optimizer: torch.optim.Optimizer, X: torch.Tensor,
               y: torch.Tensor) -> float:
    """One update in train mode: gradients zeroed, ``loss_fn(model(X), y)`` back-propagated, one
    optimizer step. Returns the loss before the step as a Python float."""
    model.train()
    optimizer.zero_grad()
    loss = loss_fn(model(X), y)
    loss.backward()
    optimizer.step()
    return loss.item()


def mnist_loss(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Mean softmax cross-entropy of ``logits`` (N, C) against integer labels ``y`` (N,): a 0-d
    tensor of the logits' dtype, computed through log-softmax (finite for any finite logits)."""
    return F.cross_entropy(logits, y)


class SoftmaxRegression(nn.Module):
    """``logits = x W^T + b`` with zero-initialised ``nn.Linear(784, 10)``: (N, 784) or (N, 1, 28, 28) -> (N, 10)."""

    def __init__(self, n_in: int = 784, n_out: int = 10, dtype: torch.dtype = torch.float64,
                 device: str | torch.device | None = None) -> None:
        super().__init__()
        self.linear = nn.Linear(n_in, n_out, dtype=dtype, device=device)
        nn.init.zeros_(self.linear.weight)
        nn.init.zeros_(self.linear.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits (N, n_out)."""
        return self.linear(x.flatten(1))


class MnistCNN(nn.Module):
    """conv5x5(32)-ReLU-pool2 -> conv5x5(64)-ReLU-pool2 -> dense 1024 ReLU -> dropout -> dense 10.

    Input (N, 784) or (N, 1, 28, 28); output logits (N, 10). Shapes: (N, C1, 14, 14) after the first
    block, (N, C2, 7, 7) after the second, (N, 49 C2) flattened in (C, H, W) order, (N, hidden), with
    ``channels = (C1, C2)`` (the book's (32, 64)) and ``hidden`` (1024).
    ``keep_prob`` is the probability of KEEPING a unit in training mode.
    """

    def __init__(self, keep_prob: float = 0.5, channels: tuple[int, int] = (32, 64), hidden: int = 1024,
                 dtype: torch.dtype = torch.float64, device: str | torch.device | None = None) -> None:
        super().__init__()
        kw = {"dtype": dtype, "device": device}
        c1, c2 = channels
        self.conv1 = nn.Conv2d(1, c1, kernel_size=5, padding=2, **kw)
        self.conv2 = nn.Conv2d(c1, c2, kernel_size=5, padding=2, **kw)
        self.fc1 = nn.Linear(7 * 7 * c2, hidden, **kw)
        self.dropout = nn.Dropout(p=1.0 - keep_prob)
        self.fc2 = nn.Linear(hidden, 10, **kw)
        for layer in (self.conv1, self.conv2, self.fc1, self.fc2):
            nn.init.trunc_normal_(layer.weight, std=0.1, a=-0.2, b=0.2)
            nn.init.constant_(layer.bias, 0.1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits (N, 10)."""
        x = x.reshape(x.shape[0], 1, 28, 28)
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        x = self.dropout(F.relu(self.fc1(x.flatten(1))))
        return self.fc2(x)


def softmax_optimizer(model: nn.Module, learning_rate: float = 0.5) -> torch.optim.Optimizer:
    """The book's ``GradientDescentOptimizer(0.5)`` for softmax regression."""
    return torch.optim.SGD(model.parameters(), lr=learning_rate)


def cnn_optimizer(model: nn.Module, learning_rate: float = 1e-4) -> torch.optim.Optimizer:
    """The book's ``AdamOptimizer(1e-4)`` (betas 0.9, 0.999; eps 1e-8) for the CNN."""
    return torch.optim.Adam(model.parameters(), lr=learning_rate, betas=(0.9, 0.999), eps=1e-8)


def mnist_train_step(model: nn.Module, optimizer: torch.optim.Optimizer, X: torch.Tensor, y: torch.Tensor) -> float:
    """One update on the mean softmax cross-entropy of the minibatch (X (N, 784), y (N,) int64) in train mode."""
    return train_step(model, mnist_loss, optimizer, X, y)


def mnist_train(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    X: torch.Tensor,
    y: torch.Tensor,
    steps: int,
    batch_size: int,
    seed: int = 0,
) -> list[float]:
    """``steps`` minibatch updates, reshuffling (seeded) at every pass like ``mnist.train.next_batch``.

    ``X`` and ``y`` should already sit on the model's device. Returns the loss of every step.
    """
    gen = torch.Generator().manual_seed(seed)
    n = X.shape[0]
    losses = []
    order = torch.randperm(n, generator=gen)
    pos = 0
    for _ in range(steps):
        if pos + batch_size > n:
            order = torch.randperm(n, generator=gen)
            pos = 0
        idx = order[pos:pos + batch_size].to(X.device)
        pos += batch_size
        losses.append(mnist_train_step(model, optimizer, X[idx], y[idx]))
    return losses


@torch.no_grad()
def mnist_accuracy(model: nn.Module, X: torch.Tensor, y: torch.Tensor, batch_size: int = 1000) -> float:
    """Fraction of rows whose argmax logit equals ``y``, in eval mode (dropout off), batch by batch."""
    model.eval()
    correct = 0
    for start in range(0, X.shape[0], batch_size):
        logits = model(X[start:start + batch_size])
        correct += int((logits.argmax(dim=1) == y[start:start + batch_size]).sum())
    return correct / X.shape[0]

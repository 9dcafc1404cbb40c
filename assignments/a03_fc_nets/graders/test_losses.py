"""Hidden graders of the a03 losses on class scores: ``svm_loss(x, y)`` and ``softmax_loss(x, y)``.

Why these checks: the loss is compared with ``reference.numpy`` and ``dx`` with torch autograd, on
fresh random scores every run; the student's own centered differences catch a ``dx`` that disagrees
with their own loss. The edge cases are where real bugs hide: SVM margins just either side of the
hinge's kink and exactly on it (the notebook pins a gradient of 0 there, as PyTorch has it), huge
scores (softmax must shift before exponentiating: rows offset by thousands, and rows whose scores
spread over thousands, where a shift by anything but the row's maximum still overflows), a batch of one
and a batch missing some classes (the number of classes comes from the scores, not from the labels),
and scores modified in place (part of the value tests: a loss that does nothing leaves them alone too).
The graders call ``svm_loss(x, y)`` with two arguments, so a student's optional ``delta=1.0`` is fine.
"""

from __future__ import annotations

import numpy as np

from pipelines.grade.api import check_close, check_shape, check_unmodified, points, probe
from reference.numpy import softmax_loss as np_softmax_loss
from reference.numpy import svm_loss as np_svm_loss
from reference.torch import softmax_loss as t_softmax_loss
from reference.torch import svm_loss as t_svm_loss
from reference.torch import value_and_grads

# N examples, C classes.
N, C = 12, 7
# Every SVM margin x_ij - x_iy + 1 stays at least KINK_MARGIN away from 0 in the smooth probes, so
# no centered difference (h = 1e-5) crosses a kink; some sit just either side, below NEAR_KINK.
KINK_MARGIN, NEAR_KINK = 1e-3, 1e-2
NUMERIC_CHECKS = 10


def _svm_scores(rng: np.random.Generator, n: int = N) -> list[np.ndarray]:
    """[x (n, C), y (n,)]: every margin at least KINK_MARGIN from 0, about a fifth of the wrong-class
    margins moved just either side of 0 (between KINK_MARGIN and NEAR_KINK)."""
    x = rng.standard_normal((n, C))
    y = rng.integers(0, C, n)
    rows = np.arange(n)
    correct = x[rows, y][:, None]
    margins = x - correct + 1.0
    near = rng.random((n, C)) < 0.2
    margins[near] = rng.choice([-1.0, 1.0], int(near.sum())) * rng.uniform(KINK_MARGIN, NEAR_KINK, int(near.sum()))
    small = np.abs(margins) < KINK_MARGIN
    margins[small] = np.where(margins[small] < 0, -KINK_MARGIN, KINK_MARGIN)
    x = margins + correct - 1.0
    x[rows, y] = correct[:, 0]
    return [x, y]


def _absent_classes(rng: np.random.Generator, make) -> list[np.ndarray]:
    """A batch whose labels never take the first or the last class."""
    x, _ = make(rng)
    return [x, rng.integers(1, C - 1, len(x))]


def _softmax_scores(rng: np.random.Generator, n: int = N) -> list[np.ndarray]:
    return [rng.standard_normal((n, C)), rng.integers(0, C, n)]


def _huge_scores(rng: np.random.Generator) -> list[np.ndarray]:
    """Scores in the thousands, with an offset of its own per example (from -3000 to 3000): exp
    overflows without the shift, and a single shift for the whole batch underflows some rows. Within a
    row the scores differ by tens only, so every probability stays representable."""
    x, y = _softmax_scores(rng)
    return [rng.uniform(-3000, 3000, (len(x), 1)) + 10 * x, y]


def _wide_scores(rng: np.random.Generator) -> list[np.ndarray]:
    """Rows whose scores spread over thousands: each row has an offset of its own (-1000 to 1000), its
    classes within tens of each other, and one class (never the label) 6000 to 9000 below the rest. A
    shift by the row's mean or minimum still overflows (exp of more than 709), only the maximum keeps
    exp finite; the far class's probability underflows to 0, but every label's probability stays
    representable, so the loss and dx are finite however they are computed from the log-sum-exp."""
    x, y = _softmax_scores(rng)
    x = rng.uniform(-1000, 1000, (len(x), 1)) + 10 * x
    rows = np.arange(len(x))
    far = (y + rng.integers(1, C, len(x))) % C
    x[rows, far] -= rng.uniform(6000, 9000, len(x))
    return [x, y]


# --- probes --------------------------------------------------------------------------------------


@probe("svm_loss", numeric_grad=(0, 0, NUMERIC_CHECKS))
def svm_random(rng):
    return {"args": _svm_scores(rng)}


@probe("svm_loss")
def svm_at_kink(rng):
    # Integer scores: many margins x_ij - x_iy + 1 are exactly 0.
    return {"args": [rng.integers(-2, 3, (N, C)).astype(np.float64), rng.integers(0, C, N)]}


@probe("svm_loss")
def svm_one(rng):
    return {"args": _svm_scores(rng, n=1)}


@probe("svm_loss")
def svm_absent(rng):
    return {"args": _absent_classes(rng, _svm_scores)}


@probe("softmax_loss", numeric_grad=(0, 0, NUMERIC_CHECKS))
def softmax_random(rng):
    return {"args": _softmax_scores(rng)}


@probe("softmax_loss")
def softmax_huge(rng):
    return {"args": _huge_scores(rng)}


@probe("softmax_loss")
def softmax_wide(rng):
    return {"args": _wide_scores(rng)}


@probe("softmax_loss")
def softmax_one(rng):
    return {"args": _softmax_scores(rng, n=1)}


@probe("softmax_loss")
def softmax_absent(rng):
    return {"args": _absent_classes(rng, _softmax_scores)}


# --- helpers -------------------------------------------------------------------------------------


def _check_loss_and_dx(run, np_loss, torch_loss, tolerance, what: str = "") -> None:
    """The loss against the numpy reference and dx against autograd."""
    x, y = run.args
    check_close(f"loss{what}", run.returned(0), np_loss(x, y)[0], tolerance("value"))
    _, (dx,) = value_and_grads(torch_loss, [x, y], wrt=[0])
    check_close(f"dx{what}", run.returned(1), dx, tolerance("gradient"))


def _check_own_numeric(run, tol: float) -> None:
    dx = run.returned(1)
    check_shape("dx", dx, np.shape(run.args[0]))
    check_close("dx against your own numeric gradient", dx[run.numeric_grad_index], run.numeric_grad, tol)


# --- svm_loss ------------------------------------------------------------------------------------


@points(2, cell="check_svm_loss")
def test_svm_loss_value(result, tolerance):
    """svm_loss: the loss on random scores (12 examples, 7 classes), with the scores left as they were given."""
    run = result("svm_random")
    check_close("loss", run.returned(0), np_svm_loss(*run.args)[0], tolerance("value"))
    check_unmodified("x", run, 0)
    check_unmodified("x", result("svm_at_kink"), 0)


@points(2, cell="check_svm_loss")
def test_svm_loss_gradient(result, tolerance):
    """svm_loss: dx on random scores, some margins just either side of 0, against autograd."""
    _check_loss_and_dx(result("svm_random"), np_svm_loss, t_svm_loss, tolerance)


@points(1, cell="check_svm_loss")
def test_svm_loss_own_numeric_gradient(result, tolerance):
    """svm_loss: dx agrees with centered differences of your own loss (margins off the kink)."""
    _check_own_numeric(result("svm_random"), tolerance("numeric_gradient"))


@points(1, cell="check_svm_loss")
def test_svm_loss_at_the_kink(result, tolerance):
    """svm_loss: margins of exactly 0 add nothing to the loss or to dx (as the notebook pins it)."""
    _check_loss_and_dx(result("svm_at_kink"), np_svm_loss, t_svm_loss, tolerance, " with margins of exactly 0")


@points(1, cell="check_svm_loss")
def test_svm_loss_batch_of_one_and_absent_classes(result, tolerance):
    """svm_loss: loss and dx for a batch of one, and for a batch whose labels skip some classes."""
    _check_loss_and_dx(result("svm_one"), np_svm_loss, t_svm_loss, tolerance, " (batch of one)")
    _check_loss_and_dx(result("svm_absent"), np_svm_loss, t_svm_loss, tolerance, " (classes absent from y)")


# --- softmax_loss --------------------------------------------------------------------------------


@points(2, cell="check_softmax_loss")
def test_softmax_loss_value(result, tolerance):
    """softmax_loss: the loss on random scores (12 examples, 7 classes), with the scores left as they were given."""
    run = result("softmax_random")
    check_close("loss", run.returned(0), np_softmax_loss(*run.args)[0], tolerance("value"))
    check_unmodified("x", run, 0)
    check_unmodified("x", result("softmax_huge"), 0)


@points(2, cell="check_softmax_loss")
def test_softmax_loss_gradient(result, tolerance):
    """softmax_loss: dx on random scores, against autograd."""
    _check_loss_and_dx(result("softmax_random"), np_softmax_loss, t_softmax_loss, tolerance)


@points(1, cell="check_softmax_loss")
def test_softmax_loss_own_numeric_gradient(result, tolerance):
    """softmax_loss: dx agrees with centered differences of your own loss."""
    _check_own_numeric(result("softmax_random"), tolerance("numeric_gradient"))


@points(1, cell="check_softmax_loss")
def test_softmax_loss_huge_scores(result, tolerance):
    """softmax_loss: loss and dx for scores in the thousands, and for rows whose scores spread over thousands (no
    overflow)."""
    _check_loss_and_dx(result("softmax_huge"), np_softmax_loss, t_softmax_loss, tolerance, " for huge scores")
    _check_loss_and_dx(result("softmax_wide"), np_softmax_loss, t_softmax_loss, tolerance,
                       " for rows whose scores spread over thousands")


@points(1, cell="check_softmax_loss")
def test_softmax_loss_batch_of_one_and_absent_classes(result, tolerance):
    """softmax_loss: loss and dx for a batch of one, and for a batch whose labels skip some classes."""
    _check_loss_and_dx(result("softmax_one"), np_softmax_loss, t_softmax_loss, tolerance, " (batch of one)")
    _check_loss_and_dx(result("softmax_absent"), np_softmax_loss, t_softmax_loss, tolerance, " (classes absent from y)")

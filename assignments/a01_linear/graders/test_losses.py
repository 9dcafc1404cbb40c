"""Hidden graders of the four a01 loss functions (SVM and softmax, loops and vectorized).

Why these checks: the loss value is compared with ``reference.numpy`` and ``dW`` with torch autograd
(an independent derivation), on fresh random inputs every run so no answer can be memorised; the
student's own centered differences catch a ``dW`` that disagrees with their own loss; a batch shaped
like CIFAR-10 data and a batch of huge scores catch dtype and overflow mistakes; a batch of one and
a batch where a class is absent catch shape and indexing slips of the vectorized versions; W and X
must come back unmodified; a timing pair checks that the vectorized versions really avoid Python loops.
"""

from __future__ import annotations

import numpy as np

from pipelines.grade.api import StudentCheckFailed, check_close, check_shape, check_true, check_unmodified, points, probe
from reference.numpy import softmax_loss_vectorized, svm_loss_vectorized
from reference.torch import softmax_loss_linear, svm_loss_linear, value_and_grads

# Small batches: N examples, D features, C classes.
N, D, C = 40, 25, 5
# SVM inputs keep every margin at least this far from the hinge's kink, so a centered difference
# (h = 1e-5 times entries of X below ~5) never crosses it and must match the analytic gradient.
MIN_MARGIN = 1e-3
# The timing batch: many examples and few features, so a Python loop over examples costs far
# more than the matrix products of a vectorized version, whatever the machine's BLAS.
TIMING_N, TIMING_D = 5000, 20
# The vectorized versions take about a millisecond: timed over several calls so that the fork of the
# probe process (subtracted, but noisy) is small beside them.
TIMING_REPEATS = 20
# A batch shaped like preprocessed CIFAR-10: centered pixels (std ~60) and a bias column.
CIFAR_N, CIFAR_D, CIFAR_C = 200, 3073, 10
NUMERIC_CHECKS = 10


def _svm_inputs(rng: np.random.Generator, n: int = N, labels: int = C) -> list:
    """[W (D, C), X (n, D), y (n,) in 0..labels-1, reg] with every SVM margin at least MIN_MARGIN
    away from 0 (labels < C leaves the last classes out of the batch)."""
    rows = np.arange(n)
    while True:
        W = 0.1 * rng.standard_normal((D, C))
        X = rng.standard_normal((n, D))
        y = rng.integers(0, labels, n)
        scores = X @ W
        margins = scores - scores[rows, y][:, None] + 1.0
        margins[rows, y] = np.inf
        if np.min(np.abs(margins)) > MIN_MARGIN:
            return [W, X, y, float(rng.uniform(0.05, 0.5))]


def _softmax_inputs(rng: np.random.Generator, weight_scale: float = 0.5, n: int = N, labels: int = C) -> list:
    """[W (D, C), X (n, D), y (n,) in 0..labels-1, reg]; scores have a standard deviation of about
    5 * weight_scale."""
    W = weight_scale * rng.standard_normal((D, C))
    X = rng.standard_normal((n, D))
    return [W, X, rng.integers(0, labels, n), float(rng.uniform(0.05, 0.5))]


def _wide_inputs(rng: np.random.Generator) -> list:
    """[W, X, y, reg] whose scores are in the thousands and spread over thousands within a row: a
    feature whose row of W is 1000 gives every example an offset of its own (-1000 to 1000), a bias
    feature puts one class (never a label) 7000 below the others, the rest stay within tens. A shift
    by the row's mean or minimum still overflows; only the maximum keeps exp finite. Every label's
    probability stays representable, so the loss and dW are finite however they are computed from a
    max-shifted softmax."""
    far = int(rng.integers(0, C))
    W = 0.5 * rng.standard_normal((D, C))
    W[-2, :] = 1000.0
    W[-1, :] = 0.0
    W[-1, far] = -7000.0
    X = rng.standard_normal((N, D))
    X[:, -2] = rng.uniform(-1.0, 1.0, N)
    X[:, -1] = 1.0
    y = (far + rng.integers(1, C, N)) % C
    return [W, X, y, float(rng.uniform(0.05, 0.5))]


def _timing_inputs(rng: np.random.Generator) -> list:
    """[W, X, y, reg] of the timing batch (TIMING_N x TIMING_D, 10 classes)."""
    W = 0.01 * rng.standard_normal((TIMING_D, 10))
    X = rng.standard_normal((TIMING_N, TIMING_D))
    return [W, X, rng.integers(0, 10, TIMING_N), 0.1]


def _cifar_like_inputs(rng: np.random.Generator) -> list:
    """[W, X, y, reg] shaped like the notebook's data: centered pixels, bias column, W ~ 1e-4."""
    X = np.hstack([60.0 * rng.standard_normal((CIFAR_N, CIFAR_D - 1)), np.ones((CIFAR_N, 1))])
    W = 1e-4 * rng.standard_normal((CIFAR_D, CIFAR_C))
    return [W, X, rng.integers(0, CIFAR_C, CIFAR_N), float(rng.uniform(1e3, 5e4))]


@probe("svm_loss_naive", numeric_grad=(0, 0, NUMERIC_CHECKS))
def svm_naive_small(rng):
    return {"args": _svm_inputs(rng)}


@probe("svm_loss_vectorized")
def svm_vectorized_small(rng):
    return {"args": _svm_inputs(rng)}


@probe("svm_loss_vectorized")
def svm_vectorized_one(rng):
    return {"args": _svm_inputs(rng, n=1)}


@probe("svm_loss_vectorized")
def svm_vectorized_absent_class(rng):
    return {"args": _svm_inputs(rng, labels=C - 2)}


@probe("svm_loss_vectorized")
def svm_vectorized_cifar(rng):
    return {"args": _cifar_like_inputs(rng)}


@probe("svm_loss_naive", timed=True)
def svm_naive_timing(rng):
    return {"args": _timing_inputs(rng)}


@probe("svm_loss_vectorized", timed=True, repeats=TIMING_REPEATS)
def svm_vectorized_timing(rng):
    return {"args": _timing_inputs(rng)}


@probe("softmax_loss_naive", numeric_grad=(0, 0, NUMERIC_CHECKS))
def softmax_naive_small(rng):
    return {"args": _softmax_inputs(rng)}


@probe("softmax_loss_naive")
def softmax_naive_huge_scores(rng):
    return {"args": _wide_inputs(rng)}


@probe("softmax_loss_vectorized")
def softmax_vectorized_small(rng):
    return {"args": _softmax_inputs(rng)}


@probe("softmax_loss_vectorized")
def softmax_vectorized_one(rng):
    return {"args": _softmax_inputs(rng, n=1)}


@probe("softmax_loss_vectorized")
def softmax_vectorized_absent_class(rng):
    return {"args": _softmax_inputs(rng, labels=C - 2)}


@probe("softmax_loss_vectorized")
def softmax_vectorized_huge_scores(rng):
    return {"args": _wide_inputs(rng)}


@probe("softmax_loss_vectorized")
def softmax_vectorized_cifar(rng):
    return {"args": _cifar_like_inputs(rng)}


@probe("softmax_loss_naive", timed=True)
def softmax_naive_timing(rng):
    return {"args": _timing_inputs(rng)}


@probe("softmax_loss_vectorized", timed=True, repeats=TIMING_REPEATS)
def softmax_vectorized_timing(rng):
    return {"args": _timing_inputs(rng)}


def _check_loss(run, reference, tol: float) -> None:
    expected, _ = reference(*run.args)
    check_close("loss", run.returned(0), expected, tol)


def _check_dW(run, torch_loss, tol: float) -> None:
    _, (dW,) = value_and_grads(torch_loss, run.args, wrt=[0])
    check_close("dW", run.returned(1), dW, tol)
    check_unmodified("W", run, 0)
    check_unmodified("X", run, 1)


def _check_edges(result, name: str, check) -> None:
    """``check(run)`` on a batch of one example and on a batch where two classes never occur."""
    for probe_name, what in ((f"{name}_one", "a batch of one example"), (f"{name}_absent_class", "a batch missing two classes")):
        try:
            check(result(probe_name))
        except StudentCheckFailed as exc:
            raise StudentCheckFailed(f"on {what}: {exc}") from None


def _check_own_numeric(run, tol: float) -> None:
    check_shape("dW", run.returned(1), np.shape(run.args[0]))
    check_close("dW against your own numeric gradient", run.returned(1)[run.numeric_grad_index], run.numeric_grad, tol)


def _check_speedup(naive_run, vectorized_run, factor: float, name: str, note) -> None:
    speedup = naive_run.seconds / max(vectorized_run.seconds, 1e-9)
    check_true(
        speedup >= factor,
        f"{name}: on a {TIMING_N}x{TIMING_D} batch the vectorized version was only {speedup:.1f} times faster "
        f"than your loop version (at least {factor:g} expected): avoid Python loops over examples or classes.",
    )
    note(f"{speedup:.0f} times faster than your loop version")


# --- svm_loss_naive ------------------------------------------------------------------------------


@points(2, cell="svm_loss_naive")
def test_svm_naive_loss(result, tolerance):
    """svm_loss_naive: the loss on a random 40x25 batch (5 classes, reg > 0)."""
    _check_loss(result("svm_naive_small"), svm_loss_vectorized, tolerance("value"))


@points(2, cell="svm_loss_naive")
def test_svm_naive_gradient(result, tolerance):
    """svm_loss_naive: dW on a random 40x25 batch, against autograd."""
    _check_dW(result("svm_naive_small"), svm_loss_linear, tolerance("gradient"))


@points(1, cell="svm_loss_naive")
def test_svm_naive_own_numeric_gradient(result, tolerance):
    """svm_loss_naive: dW agrees with centered differences of your own loss (inputs away from kinks)."""
    _check_own_numeric(result("svm_naive_small"), tolerance("numeric_gradient_svm"))


# --- svm_loss_vectorized -------------------------------------------------------------------------


@points(1, cell="svm_loss_vectorized")
def test_svm_vectorized_loss(result, tolerance):
    """svm_loss_vectorized: the loss on a random 40x25 batch (5 classes, reg > 0), a batch of one and a batch missing a class."""
    _check_loss(result("svm_vectorized_small"), svm_loss_vectorized, tolerance("value"))
    _check_edges(result, "svm_vectorized", lambda run: _check_loss(run, svm_loss_vectorized, tolerance("value")))


@points(2, cell="svm_loss_vectorized")
def test_svm_vectorized_gradient(result, tolerance):
    """svm_loss_vectorized: dW on a random 40x25 batch, a batch of one and a batch missing a class, against autograd."""
    _check_dW(result("svm_vectorized_small"), svm_loss_linear, tolerance("gradient"))
    _check_edges(result, "svm_vectorized", lambda run: _check_dW(run, svm_loss_linear, tolerance("gradient")))


@points(1, cell="svm_loss_vectorized")
def test_svm_vectorized_cifar_sized(result, tolerance):
    """svm_loss_vectorized: loss and dW on a 200x3073 batch shaped like the preprocessed CIFAR-10 data."""
    run = result("svm_vectorized_cifar")
    _check_loss(run, svm_loss_vectorized, tolerance("value"))
    _check_dW(run, svm_loss_linear, tolerance("gradient"))


@points(1, cell="svm_loss_vectorized")
def test_svm_vectorized_speed(result, tolerance, threshold, note):
    """svm_loss_vectorized: much faster than svm_loss_naive on a 5000x20 batch, when its loss is right."""
    _check_loss(result("svm_vectorized_small"), svm_loss_vectorized, tolerance("value"))
    _check_speedup(
        result("svm_naive_timing"), result("svm_vectorized_timing"), threshold("speedup"), "svm_loss_vectorized", note
    )


# --- softmax_loss_naive --------------------------------------------------------------------------


@points(2, cell="softmax_loss_naive")
def test_softmax_naive_loss(result, tolerance):
    """softmax_loss_naive: the loss on a random 40x25 batch (5 classes, reg > 0), and finite and correct for scores in
    the thousands that spread over thousands within a row."""
    _check_loss(result("softmax_naive_small"), softmax_loss_vectorized, tolerance("value"))
    _check_loss(result("softmax_naive_huge_scores"), softmax_loss_vectorized, tolerance("value"))


@points(2, cell="softmax_loss_naive")
def test_softmax_naive_gradient(result, tolerance):
    """softmax_loss_naive: dW on a random 40x25 batch, against autograd."""
    _check_dW(result("softmax_naive_small"), softmax_loss_linear, tolerance("gradient"))


@points(1, cell="softmax_loss_naive")
def test_softmax_naive_own_numeric_gradient(result, tolerance):
    """softmax_loss_naive: dW agrees with centered differences of your own loss."""
    _check_own_numeric(result("softmax_naive_small"), tolerance("numeric_gradient_softmax"))


# --- softmax_loss_vectorized ---------------------------------------------------------------------


@points(1, cell="softmax_loss_vectorized")
def test_softmax_vectorized_loss(result, tolerance):
    """softmax_loss_vectorized: the loss on a random 40x25 batch (5 classes, reg > 0), a batch of one and a batch missing a class."""
    _check_loss(result("softmax_vectorized_small"), softmax_loss_vectorized, tolerance("value"))
    _check_edges(result, "softmax_vectorized", lambda run: _check_loss(run, softmax_loss_vectorized, tolerance("value")))


@points(2, cell="softmax_loss_vectorized")
def test_softmax_vectorized_gradient(result, tolerance):
    """softmax_loss_vectorized: dW on a random 40x25 batch, a batch of one and a batch missing a class, against autograd."""
    _check_dW(result("softmax_vectorized_small"), softmax_loss_linear, tolerance("gradient"))
    _check_edges(result, "softmax_vectorized", lambda run: _check_dW(run, softmax_loss_linear, tolerance("gradient")))


@points(1, cell="softmax_loss_vectorized")
def test_softmax_vectorized_huge_scores(result, tolerance):
    """softmax_loss_vectorized: finite and correct loss and dW for scores in the thousands that spread over thousands
    within a row."""
    run = result("softmax_vectorized_huge_scores")
    _check_loss(run, softmax_loss_vectorized, tolerance("value"))
    _check_dW(run, softmax_loss_linear, tolerance("gradient"))


@points(1, cell="softmax_loss_vectorized")
def test_softmax_vectorized_cifar_sized(result, tolerance):
    """softmax_loss_vectorized: loss and dW on a 200x3073 batch shaped like the preprocessed CIFAR-10 data."""
    run = result("softmax_vectorized_cifar")
    _check_loss(run, softmax_loss_vectorized, tolerance("value"))
    _check_dW(run, softmax_loss_linear, tolerance("gradient"))


@points(1, cell="softmax_loss_vectorized")
def test_softmax_vectorized_speed(result, tolerance, threshold, note):
    """softmax_loss_vectorized: much faster than softmax_loss_naive on a 5000x20 batch, when its loss is right."""
    _check_loss(result("softmax_vectorized_small"), softmax_loss_vectorized, tolerance("value"))
    _check_speedup(
        result("softmax_naive_timing"),
        result("softmax_vectorized_timing"),
        threshold("speedup"),
        "softmax_loss_vectorized",
        note,
    )

"""a01 linear classifiers: the sources' figures, naive vs vectorized, numpy vs torch, numeric gradients, SGD."""

from __future__ import annotations

import ast
import inspect
import math

import numpy as np
import pytest

from gradcheck import eval_numerical_gradient, grad_check_sparse, rel_error
from reference.numpy.linear_classifier import (
    LinearClassifier,
    LinearSVM,
    Softmax,
    softmax_loss_naive,
    softmax_loss_vectorized,
    svm_loss_naive,
    svm_loss_vectorized,
)
from reference.torch.autograd import value_and_grads
from reference.torch.linear_classifier import softmax_loss_linear, svm_loss_linear
from tests.reference.conftest import TOL_EXACT, TOL_NUMERIC_GRAD

SVM_LOSSES = [svm_loss_naive, svm_loss_vectorized]
SOFTMAX_LOSSES = [softmax_loss_naive, softmax_loss_vectorized]
ALL_LOSSES = SVM_LOSSES + SOFTMAX_LOSSES
PAIRS = [(svm_loss_naive, svm_loss_vectorized), (softmax_loss_naive, softmax_loss_vectorized)]
TORCH_TWIN = {
    svm_loss_naive: svm_loss_linear,
    svm_loss_vectorized: svm_loss_linear,
    softmax_loss_naive: softmax_loss_linear,
    softmax_loss_vectorized: softmax_loss_linear,
}


def one_example(scores: list[float]) -> tuple[np.ndarray, np.ndarray]:
    """``(W, X)`` with ``X @ W == [scores]``: one example, one feature equal to 1."""
    return np.array([scores], dtype=np.float64), np.ones((1, 1))


def problem(rng: np.random.Generator, N: int = 40, D: int = 12, C: int = 5, w_scale: float = 0.5):
    """A random ``(W, X, y)`` with scores of order 1, so margins sit far from the hinge's kink."""
    return rng.standard_normal((D, C)) * w_scale, rng.standard_normal((N, D)), rng.integers(C, size=N)


@pytest.mark.parametrize("loss_fn", SVM_LOSSES)
def test_svm_worked_example_from_the_notes(loss_fn):
    """CS231n notes (seed 004 L213-217): scores [13, -7, 11], correct class 0, delta 10 -> loss 8."""
    W, X = one_example([13.0, -7.0, 11.0])
    loss, dW = loss_fn(W, X, np.array([0]), 0.0, delta=10.0)
    assert loss == pytest.approx(8.0, abs=1e-12)
    # only class 2 violates the margin: it pulls W[:, 2] up and W[:, 0] down by x = 1
    np.testing.assert_array_equal(dW, [[-1.0, 0.0, 1.0]])


@pytest.mark.parametrize("loss_fn", SVM_LOSSES)
def test_svm_zero_loss_when_margins_are_met(loss_fn):
    """Seed 004 L278: scores [10, -2, 3], correct class first, delta 1 -> loss 0 and no gradient."""
    W, X = one_example([10.0, -2.0, 3.0])
    loss, dW = loss_fn(W, X, np.array([0]), 0.0)
    assert loss == 0.0
    np.testing.assert_array_equal(dW, np.zeros_like(W))


@pytest.mark.parametrize("loss_fn", SOFTMAX_LOSSES)
@pytest.mark.parametrize(
    "scores, expected",
    [([10.0, 9.0, 9.0], 0.5514447139), ([10.0, -2.0, 3.0], 0.000917605)],
)
def test_softmax_values_from_the_notes(loss_fn, scores, expected):
    """Seed 004 §2.3 (derived there): softmax losses of [10, 9, 9] and [10, -2, 3] for class 0."""
    W, X = one_example(scores)
    loss, _ = loss_fn(W, X, np.array([0]), 0.0)
    assert loss == pytest.approx(expected, rel=1e-6)


@pytest.mark.parametrize("loss_fn", SOFTMAX_LOSSES)
def test_softmax_is_stable_for_large_scores(loss_fn):
    """Seed 004 G8: scores [123, 456, 789] overflow a naive exp; shifted, p = [5.753e-290, 2.398e-145, 1]."""
    W, X = one_example([123.0, 456.0, 789.0])
    loss, dW = loss_fn(W, X, np.array([2]), 0.0)
    assert loss == pytest.approx(0.0, abs=1e-15)
    # with x = 1 and y = 2 the gradient is p - onehot(2)
    np.testing.assert_allclose(dW[0, :2], [5.75274406e-290, 2.39848787e-145], rtol=1e-8)
    assert dW[0, 2] == pytest.approx(0.0, abs=1e-15)
    loss_mid, _ = loss_fn(W, X, np.array([1]), 0.0)
    assert loss_mid == pytest.approx(333.0, rel=1e-12)


@pytest.mark.parametrize("loss_fn, chance", [(softmax_loss_vectorized, math.log(10)), (svm_loss_vectorized, 9.0)])
def test_initial_loss_at_chance(rng, loss_fn, chance):
    """Small W on 10 classes: softmax -ln(0.1) = 2.302585 (book L1681-1719), SVM C - 1 = 9 (notes)."""
    W = rng.standard_normal((3073, 10)) * 1e-4
    X = rng.standard_normal((50, 3073))
    y = rng.integers(10, size=50)
    loss, _ = loss_fn(W, X, y, 0.0)
    assert loss == pytest.approx(chance, abs=0.05)


@pytest.mark.parametrize("loss_fn", ALL_LOSSES)
def test_regularization_is_half_reg_sum_of_squares(loss_fn, rng):
    """The book's convention: loss(reg) - loss(0) = 0.5 * reg * sum(W**2) and dW gains reg * W."""
    W, X, y = problem(rng)
    reg = 3.7
    loss0, dW0 = loss_fn(W, X, y, 0.0)
    loss1, dW1 = loss_fn(W, X, y, reg)
    assert loss1 - loss0 == pytest.approx(0.5 * reg * np.sum(W**2), rel=1e-12)
    assert rel_error(dW1 - dW0, reg * W) < TOL_EXACT[np.float64]


@pytest.mark.parametrize("naive, vectorized", PAIRS)
@pytest.mark.parametrize("reg", [0.0, 1e-5, 0.5])
def test_naive_and_vectorized_agree(naive, vectorized, reg, rng):
    """Book L1808-1835: both versions give the same loss and gradient."""
    W, X, y = problem(rng, N=60, D=30, C=7)
    loss_n, dW_n = naive(W, X, y, reg)
    loss_v, dW_v = vectorized(W, X, y, reg)
    assert rel_error(loss_n, loss_v) < TOL_EXACT[np.float64]
    assert rel_error(dW_n, dW_v) < TOL_EXACT[np.float64]
    assert dW_v.shape == W.shape and dW_v.dtype == np.float64


def _loops_in(fn) -> int:
    """How many ``for``/``while`` statements and comprehensions the function's source holds."""
    tree = ast.parse(inspect.getsource(fn))
    kinds = (ast.For, ast.While, ast.ListComp, ast.GeneratorExp, ast.SetComp, ast.DictComp)
    return sum(isinstance(node, kinds) for node in ast.walk(tree))


@pytest.mark.parametrize("naive, vectorized", PAIRS)
def test_naive_loops_and_vectorized_does_not(naive, vectorized):
    """The exercise is to see the same math with and without Python loops."""
    assert _loops_in(naive) >= 2
    assert _loops_in(vectorized) == 0


@pytest.mark.parametrize("loss_fn", ALL_LOSSES)
@pytest.mark.parametrize("reg", [0.1, 1e2])
def test_gradient_matches_centered_differences(loss_fn, reg, rng):
    """Every entry of dW against the numeric gradient (h = 1e-5), as the book checks with reg 0 and 1e2."""
    W, X, y = problem(rng)
    _, dW = loss_fn(W, X, y, reg)
    numeric = eval_numerical_gradient(lambda w: loss_fn(w, X, y, reg)[0], W)
    assert rel_error(dW, numeric) < TOL_NUMERIC_GRAD


@pytest.mark.parametrize("loss_fn", [svm_loss_vectorized, softmax_loss_vectorized])
def test_sparse_gradient_check_at_zero_reg(loss_fn, rng):
    """The book's grad_check_sparse at reg = 0 on a wider W, where most entries are data-driven."""
    W, X, y = problem(rng, N=100, D=200, C=10)
    _, dW = loss_fn(W, X, y, 0.0)
    errors = grad_check_sparse(lambda w: loss_fn(w, X, y, 0.0)[0], W, dW, num_checks=20, seed=0, verbose=False)
    assert max(errors) < 1e-5


@pytest.mark.parametrize("loss_fn", ALL_LOSSES)
@pytest.mark.parametrize("reg", [0.0, 0.7])
def test_numpy_matches_torch_autograd(loss_fn, reg, rng, device):
    """Loss and dW equal the torch loss and its autograd gradient."""
    W, X, y = problem(rng)
    loss, dW = loss_fn(W, X, y, reg)
    t_loss, (t_dW,) = value_and_grads(TORCH_TWIN[loss_fn], [W, X, y, reg], wrt=[0], device=device)
    assert rel_error(loss, t_loss) < TOL_EXACT[np.float64]
    assert rel_error(dW, t_dW) < TOL_EXACT[np.float64]


def teacher_problem(rng: np.random.Generator, N: int = 50, D: int = 20, C: int = 3):
    """``(X, y)`` labelled by a random linear teacher, so a linear classifier can fit every example."""
    X = rng.standard_normal((N, D))
    y = np.argmax(X @ rng.standard_normal((D, C)), axis=1)
    return X, y


@pytest.mark.parametrize("cls", [Softmax, LinearSVM])
def test_classifier_fits_a_separable_set(cls, rng):
    """Minibatch SGD drives the loss down and reaches 100 % train accuracy on 50 separable examples."""
    X, y = teacher_problem(rng)
    clf = cls()
    history = clf.train(X, y, learning_rate=0.5, reg=0.0, num_iters=1000, batch_size=50, seed=1)
    assert len(history) == 1000
    assert np.mean(history[-20:]) < 0.5 * history[0]
    assert np.mean(clf.predict(X) == y) == 1.0


def test_train_is_seeded_and_initialises_small_weights(rng):
    """The same seed gives the same run; W starts as 0.001 * randn(D, C) with C = max(y) + 1."""
    X, y = teacher_problem(rng, N=80, D=300, C=4)
    first, second = Softmax(), Softmax()
    h1 = first.train(X, y, num_iters=5, batch_size=10, seed=7)
    h2 = second.train(X, y, num_iters=5, batch_size=10, seed=7)
    assert h1 == h2 and np.array_equal(first.W, second.W)
    fresh = Softmax()
    assert fresh.train(X, y, num_iters=0, seed=3) == []
    assert fresh.W.shape == (300, 4)
    assert np.std(fresh.W) == pytest.approx(1e-3, rel=0.1)


def test_first_loss_is_dominated_by_the_half_l2_term(rng):
    """Book L1914-1936: reg 5e4 on 3073x10 weights of scale 1e-3 starts near 0.5*5e4*30730*1e-6 = 768."""
    X = rng.standard_normal((200, 3073)) * 0.01
    y = rng.integers(10, size=200)
    history = Softmax().train(X, y, learning_rate=1e-7, reg=5e4, num_iters=1, seed=0)
    assert history[0] == pytest.approx(768.25 + math.log(10), rel=0.03)


def test_predict_is_the_argmax_of_the_scores(rng):
    """``predict`` returns integer labels of shape (N,), the argmax of X @ W."""
    clf = LinearSVM()
    clf.W = rng.standard_normal((6, 4))
    X = rng.standard_normal((9, 6))
    pred = clf.predict(X)
    assert pred.shape == (9,) and np.issubdtype(pred.dtype, np.integer)
    np.testing.assert_array_equal(pred, np.argmax(X @ clf.W, axis=1))


def test_base_class_needs_a_loss(rng):
    """The base class has no loss of its own, and predict() needs trained weights."""
    with pytest.raises(NotImplementedError):
        LinearClassifier().train(rng.standard_normal((4, 3)), np.array([0, 1, 0, 1]), num_iters=1)
    with pytest.raises(RuntimeError):
        Softmax().predict(np.zeros((2, 3)))

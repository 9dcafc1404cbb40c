"""Hidden graders of a07's word-level layers: ``word_embedding_forward/backward``,
``temporal_affine_forward/backward`` and ``temporal_softmax_loss``.

Why these checks: values against ``reference.numpy``, gradients against torch autograd
(``reference.torch``: ``F.embedding``, ``F.linear``, ``F.cross_entropy``) and against the student's own
centered differences. The embedding's ids repeat within a minibatch and leave some rows unused, so a
gradient written with fancy-index assignment (which keeps one of the repeated additions) fails. Every
backward pass runs twice on the cache of the student's forward pass. The loss is checked with the mask
as bool (``verbose=False`` passed by name, as the book's signature has it) and as 0/1 integers (where
``x[mask]`` selects rows 0 and 1 instead of masking), with a caption whose every target is ``<NULL>``
(the loss divided by N only, never by a count of unmasked targets, which can be 0), and on huge scores
(rows moved by +-1e4, spread over hundreds within a row, every probability still representable), where
an unshifted softmax overflows.
Shapes N, T, D, M, V all differ. The properties (inputs left unmodified, float64 outputs) are
asserted inside the value checks.
"""

from __future__ import annotations

import numpy as np

from pipelines.grade.api import check_close, check_true, check_unmodified, numgrad, points, probe, ref, step
from reference.numpy import temporal_affine_forward, temporal_softmax_loss, word_embedding_forward
from reference.torch import temporal_affine, value_and_grads, word_embedding
from reference.torch import temporal_softmax_loss as torch_temporal_softmax_loss

N, T, V, D, M = 3, 5, 8, 4, 6
NUMERIC_CHECKS = 10


def _float64(what: str, got: np.ndarray) -> None:
    check_true(np.asarray(got).dtype == np.float64, f"{what}: float64 inputs gave {np.asarray(got).dtype} (keep the inputs' dtype).")


# --- probes --------------------------------------------------------------------------------------


@probe("word_embedding_forward")
def embedding_values(rng):
    return {"steps": [step("fwd", "word_embedding_forward", rng.integers(V, size=(N, T)), rng.standard_normal((V, D)))]}


@probe("word_embedding_backward")
def embedding_grads(rng):
    x = rng.integers(V - 2, size=(N, T))  # the last two rows of W are never read
    x[0, :3] = x[1, 1]  # and one id is read at least four times
    dout = rng.standard_normal((N, T, D))
    return {
        "steps": [step("fwd", "word_embedding_forward", x, rng.standard_normal((V, D))),
                  step("bwd", "word_embedding_backward", dout, ref("fwd").out(1)),
                  step("again", "word_embedding_backward", dout, ref("fwd").out(1))],
        "numeric_grad": numgrad(of=("fwd", 0), wrt=("fwd", 1), weights=dout, k=NUMERIC_CHECKS),
    }


@probe("temporal_affine_forward")
def affine_values(rng):
    return {"steps": [step("fwd", "temporal_affine_forward", rng.standard_normal((N, T, D)), rng.standard_normal((D, M)),
                           rng.standard_normal(M))]}


@probe("temporal_affine_backward")
def affine_grads(rng):
    x, w, b = rng.standard_normal((N, T, D)), rng.standard_normal((D, M)), rng.standard_normal(M)
    dout = rng.standard_normal((N, T, M))
    return {
        "steps": [step("fwd", "temporal_affine_forward", x, w, b),
                  step("bwd", "temporal_affine_backward", dout, ref("fwd").out(1)),
                  step("again", "temporal_affine_backward", dout, ref("fwd").out(1))],
        "numeric_grad": numgrad(of=("fwd", 0), wrt=("fwd", 0), weights=dout, k=NUMERIC_CHECKS),
    }


def _loss_inputs(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Scores (N, T, V), targets, and a bool mask with some targets masked in every row and row 1 fully masked."""
    x = 2.0 * rng.standard_normal((N, T, V))
    y = rng.integers(V, size=(N, T))
    mask = rng.random((N, T)) < 0.6
    mask[:, 0], mask[:, -1], mask[1] = True, False, False
    return x, y, mask


@probe("temporal_softmax_loss")
def loss_bool_mask(rng):
    x, y, mask = _loss_inputs(rng)
    return {"steps": [step("loss", "temporal_softmax_loss", x, y, mask, verbose=False)],
            "numeric_grad": numgrad(of=("loss", 0), wrt=("loss", 0), k=NUMERIC_CHECKS)}


@probe("temporal_softmax_loss")
def loss_int_mask(rng):
    x, y, mask = _loss_inputs(rng)
    return {"steps": [step("loss", "temporal_softmax_loss", x, y, mask.astype(np.int64))]}


@probe("temporal_softmax_loss")
def loss_all_null(rng):
    x, y = rng.standard_normal((1, T, V)), rng.integers(V, size=(1, T))
    return {"steps": [step("loss", "temporal_softmax_loss", x, y, np.zeros((1, T), dtype=bool))]}


@probe("temporal_softmax_loss")
def loss_huge(rng):
    x, y, mask = _loss_inputs(rng)
    offsets = 1e4 * rng.choice([-1.0, 1.0], size=(N, T, 1))
    return {"steps": [step("loss", "temporal_softmax_loss", offsets + 50.0 * x, y, mask)]}


# --- word_embedding ------------------------------------------------------------------------------


@points(2, cell="check_word_embedding")
def test_word_embedding_forward(result, tolerance):
    """word_embedding_forward: the word vectors of random ids (N, T, V, D = 3, 5, 8, 4), in float64, with x and W left
    as they were given."""
    run = result("embedding_values").step("fwd")
    got = run.returned(0)
    check_close("word_embedding_forward: out", got, word_embedding_forward(*run.args)[0], tolerance("value"))
    _float64("word_embedding_forward: out", got)
    check_unmodified("word_embedding_forward: x", run, 0)
    check_unmodified("word_embedding_forward: W", run, 1)


@points(2, cell="check_word_embedding")
def test_word_embedding_backward(result, tolerance):
    """word_embedding_backward: dW against autograd on ids that repeat and rows never read, called twice on the cache
    of your forward pass, with dout left as it was given."""
    run = result("embedding_grads")
    x, W = run.step("fwd").args
    dout = run.step("bwd").args[0]
    _, (dW,) = value_and_grads(word_embedding, [x, W], wrt=[1], dout=dout)
    for name, call in (("bwd", ""), ("again", ", called a second time on the same cache")):
        check_close(f"word_embedding_backward{call}: dW (against autograd)", run.step(name).returned(0), dW,
                    tolerance("gradient"))
    check_unmodified("word_embedding_backward: dout", run.step("bwd"), 0)


@points(1, cell="check_word_embedding")
def test_word_embedding_backward_own_numeric(result, tolerance):
    """word_embedding_backward: dW agrees with centered differences of your own word_embedding_forward."""
    run = result("embedding_grads")
    dW = np.asarray(run.step("bwd").returned(0))
    check_close("word_embedding_backward: dW against your own numeric gradient", dW[run.numeric_grad_index],
                run.numeric_grad, tolerance("numeric_gradient"))


# --- temporal_affine -----------------------------------------------------------------------------


@points(2, cell="check_temporal_affine")
def test_temporal_affine_forward(result, tolerance):
    """temporal_affine_forward: out on random inputs (N, T, D, M = 3, 5, 4, 6), in float64, with x, w and b left as
    they were given."""
    run = result("affine_values").step("fwd")
    got = run.returned(0)
    check_close("temporal_affine_forward: out", got, temporal_affine_forward(*run.args)[0], tolerance("value"))
    _float64("temporal_affine_forward: out", got)
    for i, what in enumerate(("x", "w", "b")):
        check_unmodified(f"temporal_affine_forward: {what}", run, i)


@points(2, cell="check_temporal_affine")
def test_temporal_affine_backward(result, tolerance):
    """temporal_affine_backward: dx, dw and db against autograd, called twice on the cache of your forward pass, with
    dout left as it was given."""
    run = result("affine_grads")
    inputs, dout = run.step("fwd").args, run.step("bwd").args[0]
    _, expected = value_and_grads(temporal_affine, list(inputs), wrt=[0, 1, 2], dout=dout)
    for name, call in (("bwd", ""), ("again", ", called a second time on the same cache")):
        for i, (what, grad) in enumerate(zip(("dx", "dw", "db"), expected, strict=True)):
            check_close(f"temporal_affine_backward{call}: {what} (against autograd)", run.step(name).returned(i), grad,
                        tolerance("gradient"))
    check_unmodified("temporal_affine_backward: dout", run.step("bwd"), 0)


@points(1, cell="check_temporal_affine")
def test_temporal_affine_backward_own_numeric(result, tolerance):
    """temporal_affine_backward: dx agrees with centered differences of your own temporal_affine_forward."""
    run = result("affine_grads")
    dx = np.asarray(run.step("bwd").returned(0))
    check_close("temporal_affine_backward: dx against your own numeric gradient", dx[run.numeric_grad_index],
                run.numeric_grad, tolerance("numeric_gradient"))


# --- temporal_softmax_loss -----------------------------------------------------------------------


def _check_loss(run, tolerance, label: str, *, bool_mask: np.ndarray | None = None) -> None:
    """The loss against the numpy reference and dx against autograd (the mask taken as bool)."""
    x, y, mask = run.step("loss").args
    mask = np.asarray(mask).astype(bool) if bool_mask is None else bool_mask
    expected_loss, _ = temporal_softmax_loss(x, y, mask)
    _, (dx,) = value_and_grads(torch_temporal_softmax_loss, [x, y, mask], wrt=[0])
    check_close(f"temporal_softmax_loss{label}: the loss", run.step("loss").returned(0), expected_loss, tolerance("value"))
    got_dx = run.step("loss").returned(1)
    check_close(f"temporal_softmax_loss{label}: dx (against autograd)", got_dx, dx, tolerance("gradient"))
    _float64(f"temporal_softmax_loss{label}: dx", got_dx)
    for i, what in enumerate(("x", "y", "mask")):
        check_unmodified(f"temporal_softmax_loss{label}: {what}", run.step("loss"), i)


@points(2, cell="check_temporal_softmax_loss")
def test_temporal_softmax_loss(result, tolerance):
    """temporal_softmax_loss: the loss (summed over time, divided by N) and dx against autograd with a bool mask
    (verbose=False passed by name; one caption fully masked), with x, y and mask left as they were given."""
    _check_loss(result("loss_bool_mask"), tolerance, " (bool mask)")


@points(1, cell="check_temporal_softmax_loss")
def test_temporal_softmax_loss_integer_mask(result, tolerance):
    """temporal_softmax_loss: the same loss and dx when the mask is given as 0/1 integers."""
    _check_loss(result("loss_int_mask"), tolerance, " (0/1 integer mask)")


@points(1, cell="check_temporal_softmax_loss")
def test_temporal_softmax_loss_all_null(result, tolerance):
    """temporal_softmax_loss: a batch of one caption whose every target is <NULL> gives loss 0 and dx 0."""
    _check_loss(result("loss_all_null"), tolerance, " (every target masked)")


@points(1, cell="check_temporal_softmax_loss")
def test_temporal_softmax_loss_huge_scores(result, tolerance):
    """temporal_softmax_loss: scores moved by +-1e4 and spread over hundreds within a row (a stable softmax)."""
    _check_loss(result("loss_huge"), tolerance, " (huge scores)")


@points(1, cell="check_temporal_softmax_loss")
def test_temporal_softmax_loss_own_numeric(result, tolerance):
    """temporal_softmax_loss: dx agrees with centered differences of your own loss."""
    run = result("loss_bool_mask")
    dx = np.asarray(run.step("loss").returned(1))
    check_close("temporal_softmax_loss: dx against your own numeric gradient", dx[run.numeric_grad_index],
                run.numeric_grad, tolerance("numeric_gradient"))

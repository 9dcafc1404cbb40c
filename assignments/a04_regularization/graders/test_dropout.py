"""Hidden graders of inverted dropout: dropout_forward and dropout_backward.

Why these checks: ``p`` is the KEEP probability and the mask is ``(U < p) / p`` (the notebook pins
both, and the book's recipe for seeded masks), so an unseeded call is judged by its statistics on a
large input (kept fraction about ``p``, kept units exactly ``x / p``, the mean preserved) and a seeded
call against the book's mask exactly, which is also how "the seed is honoured" is checked. Test mode
must be the identity. The backward pass is chained to the student's own forward pass, so the cache
never leaves the sandbox: ``dx`` must be ``dout`` times the forward pass's mask (``out / x``, with x
far from 0), agree with torch autograd through that mask and with the student's own centered
differences, work twice on one cache and leave ``dout`` alone. The mode is never flipped between
forward and backward (CONVENTIONS.md).
"""

from __future__ import annotations

import numpy as np

from pipelines.grade.api import (
    check_close,
    check_shape,
    check_true,
    check_unmodified,
    numgrad,
    points,
    probe,
    read,
    ref,
    step,
)
from reference.numpy import dropout_forward as reference_dropout_forward
from reference.torch import dropout as torch_dropout
from reference.torch import value_and_grads

# Statistics probe: 200,000 entries of mean about 10. The kept fraction has a standard deviation of at
# most sqrt(0.25 / 200,000) = 0.0011, so FRACTION_TOL is 9 of them; mean(out) / mean(x) - 1 has one of
# about sqrt((1 - p) / (p n)) = 0.0034 at p = 0.3, so MEAN_TOL is 7 of them.
STATS_SHAPE, KEEP = (400, 500), (0.3, 0.6, 0.75)
FRACTION_TOL, MEAN_TOL = 0.01, 0.025
# Chained forward/backward probes: inputs of mean 10, so no entry of x is near 0 and out / x is the mask.
SHAPE = (40, 30)
NUMERIC_CHECKS = 8


def _seed(rng: np.random.Generator) -> int:
    return int(rng.integers(2**31 - 1))


# --- probes --------------------------------------------------------------------------------------


@probe("dropout_forward")
def dropout_statistics(rng):
    x = rng.standard_normal(STATS_SHAPE) + 10
    steps = []
    for p in KEEP:
        steps.append(step(f"train_{p}", "dropout_forward", x, {"p": p, "mode": "train"}))
        steps.append(step(f"test_{p}", "dropout_forward", x, {"p": p, "mode": "test"}))
    return {"steps": steps}


@probe("dropout_forward")
def dropout_seeded(rng):
    x = rng.standard_normal(SHAPE) + 10
    p = float(rng.uniform(0.3, 0.8))
    seed, other = _seed(rng), _seed(rng)
    return {"steps": [
        step("first", "dropout_forward", x, {"p": p, "mode": "train", "seed": seed}),
        step("again", "dropout_forward", x, {"p": p, "mode": "train", "seed": seed}),
        step("other", "dropout_forward", x, {"p": p, "mode": "train", "seed": other}),
        step("float32", "dropout_forward", x.astype(np.float32), {"p": p, "mode": "train", "seed": seed}),
        read("param_after", ref("first").arg(1)),
    ]}


@probe("dropout_backward")
def dropout_train(rng):
    x = rng.standard_normal(SHAPE) + 10
    dout, dout2 = rng.standard_normal(SHAPE), rng.standard_normal(SHAPE)
    param = {"p": float(rng.uniform(0.3, 0.8)), "mode": "train", "seed": _seed(rng)}
    return {
        "steps": [
            step("fwd", "dropout_forward", x, param),
            step("bwd", "dropout_backward", dout, ref("fwd").out(1)),
            step("bwd_again", "dropout_backward", dout2, ref("fwd").out(1)),
        ],
        "numeric_grad": numgrad(of=("fwd", 0), wrt=("fwd", 0), weights=dout, k=NUMERIC_CHECKS),
    }


@probe("dropout_backward")
def dropout_test(rng):
    x = rng.standard_normal(SHAPE) + 10
    dout = rng.standard_normal(SHAPE)
    return {"steps": [
        step("fwd", "dropout_forward", x, {"p": float(rng.uniform(0.3, 0.8)), "mode": "test"}),
        step("bwd", "dropout_backward", dout, ref("fwd").out(1)),
    ]}


# --- dropout_forward -----------------------------------------------------------------------------


@points(1, cell="check_dropout_forward")
def test_dropout_keeps_a_fraction_p(result):
    """dropout_forward: in train mode about a fraction p (the KEEP probability) of 200,000 units survive."""
    run = result("dropout_statistics")
    for p in KEEP:
        out = run.step(f"train_{p}").returned(0)
        check_shape(f"dropout_forward's out (train mode, p = {p})", out, STATS_SHAPE)
        kept = float(np.mean(out != 0))
        check_true(abs(kept - p) <= FRACTION_TOL,
                   f"dropout_forward: in train mode with p = {p} a fraction {kept:.3f} of the units was kept "
                   f"(p +- {FRACTION_TOL} expected; p is the probability of KEEPING a unit).")


@points(1, cell="check_dropout_forward")
def test_dropout_scales_the_kept_units(result, tolerance):
    """dropout_forward: kept units are x / p (inverted dropout), so the mean of the output stays the input's."""
    run = result("dropout_statistics")
    for p in KEEP:
        fwd = run.step(f"train_{p}")
        x, out = fwd.args[0], fwd.returned(0)
        kept = out != 0
        check_close(f"dropout_forward: the kept units in train mode (p = {p}) against x / p", out[kept], x[kept] / p,
                    tolerance("value"))
        ratio = float(np.mean(out) / np.mean(x))
        check_true(abs(ratio - 1) <= MEAN_TOL,
                   f"dropout_forward: in train mode with p = {p} the mean of the output is {ratio:.3f} times the "
                   f"input's (1 +- {MEAN_TOL} expected: divide the kept units by p).")
        check_unmodified("x", fwd, 0)


@points(1, cell="check_dropout_forward")
def test_dropout_test_mode_is_the_identity(result):
    """dropout_forward: in test mode out equals x exactly (nothing dropped, nothing scaled)."""
    run = result("dropout_statistics")
    for p in KEEP:
        fwd = run.step(f"test_{p}")
        out = fwd.returned(0)
        check_shape(f"dropout_forward's out (test mode, p = {p})", out, STATS_SHAPE)
        changed = int(np.sum(out != fwd.args[0]))
        check_true(changed == 0, f"dropout_forward: in test mode (p = {p}) {changed} of {out.size} outputs differ from x.")


@points(2, cell="check_dropout_forward")
def test_dropout_honours_the_seed(result, tolerance):
    """dropout_forward: with a seed the mask is the book's (np.random.seed(seed), then np.random.rand(*x.shape) < p),
    the same on every call, and another seed gives another mask."""
    run = result("dropout_seeded")
    first = run.step("first")
    x, param = first.args[0], first.args[1]
    expected, _ = reference_dropout_forward(x, dict(param))
    check_close("dropout_forward: out with a seed against the book's mask", first.returned(0), expected,
                tolerance("value"))
    check_true(bool(np.array_equal(run.step("again").returned(0), first.returned(0))),
               "dropout_forward: two calls with the same seed gave different masks.")
    check_true(not np.array_equal(run.step("other").returned(0), first.returned(0)),
               "dropout_forward: two different seeds gave the same mask (is the seed used?).")


@points(1, cell="check_dropout_forward")
def test_dropout_keeps_the_dtype_and_its_inputs(result):
    """dropout_forward: float32 in, float32 out, and x and dropout_param left as they were given."""
    run = result("dropout_seeded")
    out = run.step("float32").returned(0)
    check_true(out.dtype == np.float32, f"dropout_forward: a float32 x gave a {out.dtype} output (float32 expected).")
    check_unmodified("x", run.step("first"), 0)
    given, after = run.step("first").args[1], run.step("param_after").entries(0)
    for key in ("p", "seed"):
        check_true(key in after and float(after[key]) == given[key],
                   f"dropout_forward changed dropout_param[{key!r}] (or removed it): leave dropout_param as it was given.")


# --- dropout_backward ----------------------------------------------------------------------------


@points(2, cell="check_dropout_backward")
def test_dropout_backward_uses_the_forward_mask(result, tolerance):
    """dropout_backward: dx is dout times the mask of your forward pass (train mode, seeded), as torch autograd finds."""
    run = result("dropout_train")
    fwd, bwd = run.step("fwd"), run.step("bwd")
    x, out, dout = fwd.args[0], fwd.returned(0), bwd.args[0]
    mask = out / x
    _, (expected,) = value_and_grads(torch_dropout, [x, mask], wrt=[0], dout=dout)
    check_close("dropout_backward: dx (train mode) against autograd through your forward pass's mask",
                bwd.returned(0), expected, tolerance("gradient"))


@points(1, cell="check_dropout_backward")
def test_dropout_backward_own_numeric_gradient(result, tolerance):
    """dropout_backward: dx agrees with centered differences of your own dropout_forward (seeded)."""
    run = result("dropout_train")
    dx = run.step("bwd").returned(0)
    check_shape("dropout_backward's dx", dx, SHAPE)
    check_close("dropout_backward: dx against your own numeric gradient", dx[run.numeric_grad_index],
                run.numeric_grad, tolerance("numeric_gradient"))


@points(1, cell="check_dropout_backward")
def test_dropout_backward_test_mode(result, tolerance):
    """dropout_backward: in test mode dx equals dout."""
    run = result("dropout_test")
    bwd = run.step("bwd")
    check_close("dropout_backward: dx in test mode against dout", bwd.returned(0), bwd.args[0], tolerance("value"))


@points(1, cell="check_dropout_backward")
def test_dropout_backward_leaves_dout_and_can_repeat(result, tolerance):
    """dropout_backward: dout is left as it was given, and a second call on the same cache uses the same mask."""
    run = result("dropout_train")
    check_unmodified("dout", run.step("bwd"), 0)
    fwd, again = run.step("fwd"), run.step("bwd_again")
    mask = fwd.returned(0) / fwd.args[0]
    check_close("dropout_backward: dx of a second call on the same cache", again.returned(0), again.args[0] * mask,
                tolerance("value"))
    check_unmodified("dout", again, 0)

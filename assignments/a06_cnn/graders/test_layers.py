"""Hidden graders of a06's convolution and max-pooling layers: the naive and fast versions and the
conv - ReLU - pool sandwich.

Why these checks: every layer is run on the shape cases where convolution and pooling bugs hide
(stride 1 and 2, pad 0 to 2, H != W and HH != WW, one filter, one channel, a batch of one, a 1 x 1
output, windows that do not tile the input, overlapping and non-square pooling windows, float32), its
forward output compared with ``reference.numpy`` and its backward pass, called twice on its own
forward cache, with torch autograd (an independent derivation) and with the student's own centered
differences. Max-pooling inputs have distinct values at least 1e-2 apart, so no numeric difference
can move a window's maximum; a separate input full of exact ties checks the course's rule (the first
maximum in row-major order gets the gradient). A naive cache is never handed to a fast backward pass
nor the reverse. Property checks (dtype kept, inputs left unmodified, speed) count only together with
correct values, so code that does nothing earns nothing.

The fast convolution's speed is the CPU time of one forward and one backward pass, measured from
outside the sandboxed child (``timed`` probes), against the student's own naive pair on the same
inputs, both taken the same way, and against the course's fast pair timed here, so that a
deliberately slow naive version cannot make a slow fast version pass. The sandwich layer passes when
it agrees with the reference or with the composition of the student's own fast layers and the given
ReLU run in the same chain (a bug in a fast layer costs its points once, where that layer is graded).
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from gradcheck import rel_error
from pipelines.grade.api import (
    StudentCheckFailed,
    check_close,
    check_true,
    check_unmodified,
    numgrad,
    points,
    probe,
    read,
    ref,
    step,
)
from reference.numpy import (
    conv_backward_fast,
    conv_forward_fast,
    conv_forward_naive,
    conv_relu_pool_forward,
    max_pool_backward_naive,
    max_pool_forward_naive,
    relu_backward,
    relu_forward,
)
from reference.torch import cnn_layers as tcnn
from reference.torch.autograd import value_and_grads

# (x shape, w shape, stride, pad): non-square input and kernel; stride 2 with windows that do not tile
# the padded input (6 + 2 - 3 = 5 is odd); a batch of one with one channel and one filter (7 - 3 = 4
# rows tile, 6 - 3 = 3 columns do not); a 1 x 1 output; a 1 x 1 kernel with pad 2.
CONV_CASES = [((2, 3, 5, 7), (4, 3, 3, 2), 1, 1), ((2, 3, 6, 6), (2, 3, 3, 3), 2, 1), ((1, 1, 7, 6), (1, 1, 3, 3), 2, 0),
              ((2, 2, 4, 5), (3, 2, 4, 5), 2, 0), ((2, 3, 4, 3), (2, 3, 1, 1), 1, 2)]
CONV_FLOAT32 = ((2, 3, 6, 5), (3, 3, 3, 2), 1, 1)
# (x shape, pool_height, pool_width, stride): tiling 2 x 2; overlapping 3 x 3 with stride 2 on an odd
# input; non-square 2 x 3 windows with stride 1; 3 x 2 windows with stride 3 that leave rows and
# columns over; one window covering (almost) the whole input, a 1 x 1 output.
POOL_CASES = [((2, 3, 8, 6), 2, 2, 2), ((2, 2, 7, 9), 3, 3, 2), ((1, 2, 5, 7), 2, 3, 1), ((1, 1, 8, 7), 3, 2, 3),
              ((2, 2, 3, 5), 3, 4, 2)]
POOL_FLOAT32 = ((2, 2, 6, 7), 2, 2, 2)
NUMERIC_CHECKS = 10
# The timed convolution: naive loops over 8,192 output values (about 0.1 s of CPU time for a forward and
# a backward pass; a fully scalar naive version, seven nested loops, 0.3 s, well inside TIMED_TIMEOUT);
# fast pairs take 0.3 to 1.3 ms, so they run FAST_REPEATS times in their child and the time per pair is
# reported (loading the export cells, which the child also does, then adds about 0.1 ms per pair).
TIMED_X, TIMED_W, TIMED_PARAM = (4, 3, 16, 16), (8, 3, 3, 3), {"stride": 1, "pad": 1}
FAST_REPEATS, TIMED_TIMEOUT = 100, 60
CRP_CASES = [((2, 3, 8, 8), (4, 3, 3, 3), {"stride": 1, "pad": 1}, {"pool_height": 2, "pool_width": 2, "stride": 2}),
             ((2, 2, 9, 11), (3, 2, 5, 3), {"stride": 2, "pad": 1}, {"pool_height": 3, "pool_width": 3, "stride": 2})]


def _pool(ph: int, pw: int, stride: int) -> dict[str, int]:
    return {"pool_height": ph, "pool_width": pw, "stride": stride}


def _out_hw(h: int, w: int, wh: int, ww: int, stride: int, pad: int = 0) -> tuple[int, int]:
    return 1 + (h + 2 * pad - wh) // stride, 1 + (w + 2 * pad - ww) // stride


def _distinct(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """Values 1e-2 apart in random order: every pooling window has a unique maximum with a gap of at
    least 1e-2 to the runner-up, far above a numeric gradient's step of 1e-5."""
    size = int(np.prod(shape))
    return ((rng.permutation(size) - size / 2) * 1e-2).reshape(shape) + rng.uniform(-1e-3, 1e-3)


# --- probes --------------------------------------------------------------------------------------


def _conv_chain(rng: np.random.Generator, kind: str) -> dict[str, Any]:
    """Forward, then backward twice on its cache, for every shape case and the float32 case."""
    steps = []
    for k, (xs, ws, stride, pad) in enumerate([*CONV_CASES, CONV_FLOAT32]):
        shapes = (xs, ws, (ws[0],), (xs[0], ws[0], *_out_hw(*xs[2:], *ws[2:], stride, pad)))
        if k < len(CONV_CASES):
            x, w, b, dout = (rng.standard_normal(shape) for shape in shapes)
        else:  # float32: positive values, so no sum cancels to near 0 (float32 rounding stays ~1e-7 relative)
            x, w, b, dout = (rng.uniform(0.5, 1.5, shape).astype(np.float32) for shape in shapes)
        steps += [step(f"f{k}", f"conv_forward_{kind}", x, w, b, {"stride": stride, "pad": pad}),
                  read(f"param{k}", ref(f"f{k}").arg(3)),
                  step(f"b{k}", f"conv_backward_{kind}", dout, ref(f"f{k}").out(1)),
                  step(f"a{k}", f"conv_backward_{kind}", dout, ref(f"f{k}").out(1))]
    return {"steps": steps}


def _conv_numeric(rng: np.random.Generator, kind: str, wrt: int) -> dict[str, Any]:
    """The student's own numeric gradient of sum(dout * out) w.r.t. x (wrt=0) or w (wrt=1), case 0."""
    xs, ws, stride, pad = CONV_CASES[0]
    x, w, b = rng.standard_normal(xs), rng.standard_normal(ws), rng.standard_normal(ws[0])
    dout = rng.standard_normal((xs[0], ws[0], *_out_hw(*xs[2:], *ws[2:], stride, pad)))
    return {"steps": [step("f", f"conv_forward_{kind}", x, w, b, {"stride": stride, "pad": pad}),
                      step("b", f"conv_backward_{kind}", dout, ref("f").out(1))],
            "numeric_grad": numgrad(of=("f", 0), wrt=("f", wrt), weights=dout, k=NUMERIC_CHECKS)}


def _pool_chain(rng: np.random.Generator, kind: str) -> dict[str, Any]:
    steps = []
    for k, (xs, ph, pw, stride) in enumerate([*POOL_CASES, POOL_FLOAT32]):
        dt = np.float32 if k == len(POOL_CASES) else np.float64
        x = _distinct(rng, xs).astype(dt)
        dout = rng.standard_normal((*xs[:2], *_out_hw(*xs[2:], ph, pw, stride))).astype(dt)
        steps += [step(f"f{k}", f"max_pool_forward_{kind}", x, _pool(ph, pw, stride)),
                  read(f"param{k}", ref(f"f{k}").arg(1)),
                  step(f"b{k}", f"max_pool_backward_{kind}", dout, ref(f"f{k}").out(1)),
                  step(f"a{k}", f"max_pool_backward_{kind}", dout, ref(f"f{k}").out(1))]
    return {"steps": steps}


def _pool_ties(rng: np.random.Generator, kind: str) -> dict[str, Any]:
    """Small integers: most windows hold tied maxima (and all-zero windows, as after a ReLU)."""
    x = rng.integers(0, 3, (2, 3, 7, 8)).astype(np.float64)
    dout = rng.standard_normal((2, 3, 3, 4))
    return {"steps": [step("f", f"max_pool_forward_{kind}", x, _pool(3, 2, 2)),
                      step("b", f"max_pool_backward_{kind}", dout, ref("f").out(1))]}


def _pool_numeric(rng: np.random.Generator, kind: str) -> dict[str, Any]:
    xs, ph, pw, stride = POOL_CASES[1]
    x = _distinct(rng, xs)
    dout = rng.standard_normal((*xs[:2], *_out_hw(*xs[2:], ph, pw, stride)))
    return {"steps": [step("f", f"max_pool_forward_{kind}", x, _pool(ph, pw, stride)),
                      step("b", f"max_pool_backward_{kind}", dout, ref("f").out(1))],
            "numeric_grad": numgrad(of=("f", 0), wrt=("f", 0), weights=dout, k=NUMERIC_CHECKS)}


def _timed_conv(rng: np.random.Generator, kind: str) -> dict[str, Any]:
    x, w, b = rng.standard_normal(TIMED_X), rng.standard_normal(TIMED_W), rng.standard_normal(TIMED_W[0])
    dout = rng.standard_normal((TIMED_X[0], TIMED_W[0], *TIMED_X[2:]))
    return {"steps": [step("f", f"conv_forward_{kind}", x, w, b, dict(TIMED_PARAM)),
                      step("b", f"conv_backward_{kind}", dout, ref("f").out(1))]}


@probe("conv_forward_naive")
def conv_naive(rng):
    return _conv_chain(rng, "naive")


@probe("conv_backward_naive")
def conv_naive_numeric_x(rng):
    return _conv_numeric(rng, "naive", 0)


@probe("conv_backward_naive")
def conv_naive_numeric_w(rng):
    return _conv_numeric(rng, "naive", 1)


@probe("conv_backward_fast")  # forward, then backward twice on its cache (the timed probe calls the forward pass)
def conv_fast(rng):
    return _conv_chain(rng, "fast")


@probe("max_pool_forward_naive")
def pool_naive(rng):
    return _pool_chain(rng, "naive")


@probe("max_pool_backward_naive")
def pool_naive_ties(rng):
    return _pool_ties(rng, "naive")


@probe("max_pool_backward_naive")
def pool_naive_numeric(rng):
    return _pool_numeric(rng, "naive")


@probe("max_pool_forward_fast")
def pool_fast(rng):
    return _pool_chain(rng, "fast")


@probe("max_pool_backward_fast")
def pool_fast_ties(rng):
    return _pool_ties(rng, "fast")


@probe("conv_forward_naive", timed=True, timeout=TIMED_TIMEOUT)
def conv_naive_timed(rng):
    return _timed_conv(rng, "naive")


@probe("conv_forward_fast", timed=True, repeats=FAST_REPEATS, timeout=TIMED_TIMEOUT)
def conv_fast_timed(rng):
    return _timed_conv(rng, "fast")


@probe("conv_relu_pool_forward")
def conv_relu_pool(rng):
    """The sandwich chain below, read by the forward pass's tests."""
    return _crp_chain(rng)


@probe("conv_relu_pool_backward")
def conv_relu_pool_grads(rng):
    """The same chain on inputs of its own, read by the backward pass's test."""
    return _crp_chain(rng)


def _crp_chain(rng: np.random.Generator) -> dict[str, Any]:
    """For each case: the sandwich forward and backward (twice), then the same through the student's fast
    layers and the given ReLU (the composition a correct sandwich of a buggy fast layer agrees with)."""
    main, composed = [], []
    for k, (xs, ws, conv_param, pool_param) in enumerate(CRP_CASES):
        x, w, b = rng.standard_normal(xs), rng.standard_normal(ws), rng.standard_normal(ws[0])
        dout = rng.standard_normal(conv_relu_pool_forward(x, w, b, conv_param, pool_param)[0].shape)
        main += [step(f"f{k}", "conv_relu_pool_forward", x, w, b, dict(conv_param), dict(pool_param)),
                 step(f"b{k}", "conv_relu_pool_backward", dout, ref(f"f{k}").out(1)),
                 step(f"a{k}", "conv_relu_pool_backward", dout, ref(f"f{k}").out(1))]
        composed += [step(f"conv{k}", "conv_forward_fast", x, w, b, dict(conv_param)),
                     step(f"relu{k}", "relu_forward", ref(f"conv{k}").out(0)),
                     step(f"pool{k}", "max_pool_forward_fast", ref(f"relu{k}").out(0), dict(pool_param)),
                     step(f"poolb{k}", "max_pool_backward_fast", dout, ref(f"pool{k}").out(1)),
                     step(f"relub{k}", "relu_backward", ref(f"poolb{k}").out(0), ref(f"relu{k}").out(1)),
                     step(f"convb{k}", "conv_backward_fast", ref(f"relub{k}").out(0), ref(f"conv{k}").out(1))]
    return {"steps": main + composed}


# --- helpers -------------------------------------------------------------------------------------


def _conv_label(run, name: str) -> str:
    x, w, _, param = run.step(name).args
    return f"x {x.shape} {x.dtype}, w {w.shape}, stride {param['stride']}, pad {param['pad']}"


def _pool_label(run, name: str) -> str:
    x, param = run.step(name).args
    return f"x {x.shape} {x.dtype}, {param['pool_height']} x {param['pool_width']} windows, stride {param['stride']}"


def _check_forward(run, fn: str, cases: int, reference, label, tolerance) -> None:
    """Output of every case (float64 and float32) against the reference."""
    for k in range(cases):
        args = run.step(f"f{k}").args
        expected = reference(*(a.astype(np.float64) if isinstance(a, np.ndarray) else a for a in args))[0]
        tol = tolerance("float32") if args[0].dtype == np.float32 else tolerance("value")
        check_close(f"{fn}: out ({label(run, f'f{k}')})", run.step(f"f{k}").returned(0), expected, tol)


def _conv_autograd(run, name: str) -> list[np.ndarray]:
    x, w, b, param = (a.astype(np.float64) if isinstance(a, np.ndarray) else a for a in run.step(name).args)
    dout = run.step(name.replace("f", "b", 1)).args[0].astype(np.float64)
    return value_and_grads(tcnn.conv, [x, w, b, param], wrt=[0, 1, 2], dout=dout)[1]


def _pool_autograd(run, name: str) -> list[np.ndarray]:
    x, param = run.step(name).args
    dout = run.step(name.replace("f", "b", 1)).args[0].astype(np.float64)
    return value_and_grads(tcnn.max_pool, [x.astype(np.float64), param], wrt=[0], dout=dout)[1]


def _check_backward(run, fn: str, cases: int, grads_of, label, names: tuple[str, ...], tolerance) -> None:
    """Both backward calls on each case's cache against autograd."""
    for k in range(cases):
        expected = grads_of(run, f"f{k}")
        float32 = run.step(f"f{k}").args[0].dtype == np.float32
        tol = tolerance("float32") if float32 else tolerance("gradient")
        for name, call in ((f"b{k}", ""), (f"a{k}", ", called a second time on the same cache")):
            for i, (what, grad) in enumerate(zip(names, expected, strict=True)):
                check_close(f"{fn}{call}: {what} against autograd ({label(run, f'f{k}')})",
                            run.step(name).returned(i), grad, tol)


def _check_dtype(run, fns: tuple[str, str], cases: int, outputs: int) -> None:
    """The float32 case (the last) returns float32 from the forward and the backward pass."""
    k = cases - 1
    got = run.step(f"f{k}").returned(0).dtype
    check_true(got == np.float32, f"{fns[0]}: float32 inputs gave {got} outputs; the dtype of x must be kept.")
    for i in range(outputs):
        got = run.step(f"b{k}").returned(i).dtype
        check_true(got == np.float32, f"{fns[1]}: float32 inputs gave a {got} gradient (output {i}); keep float32.")


def _check_forward_inputs(run, fn: str, cases: int, names: tuple[str, ...], param: dict[str, str]) -> None:
    """Array inputs and the parameter dict of every forward call left as given."""
    for k in range(cases):
        for i, what in enumerate(names):
            check_unmodified(f"{fn}: {what}", run.step(f"f{k}"), i)
        given, after = run.step(f"f{k}").args[len(names)], run.step(f"param{k}").entries(0)
        check_true(set(after) == set(given) and all(float(after[key]) == given[key] for key in given),
                   f"{fn}: {param[fn]} was modified (it must be left as it was given).")


def _check_dout(run, fn: str, cases: int) -> None:
    for k in range(cases):
        check_unmodified(f"{fn}: dout", run.step(f"b{k}"), 0)
        check_unmodified(f"{fn}: dout (second call on the same cache)", run.step(f"a{k}"), 0)


CONV_PARAMS = {"conv_forward_naive": "conv_param", "conv_forward_fast": "conv_param",
               "max_pool_forward_naive": "pool_param", "max_pool_forward_fast": "pool_param"}
N_CONV, N_POOL = len(CONV_CASES) + 1, len(POOL_CASES) + 1


# --- naive convolution ---------------------------------------------------------------------------


@points(4, cell="check_conv_forward_naive")
def test_conv_forward_naive_values(result, tolerance):
    """conv_forward_naive: out on every shape case (stride 1 and 2, pad 0 to 2, non-square inputs and kernels,
    one filter and one channel, a batch of one, a 1 x 1 output, windows that do not tile the input)."""
    _check_forward(result("conv_naive"), "conv_forward_naive", N_CONV, conv_forward_naive, _conv_label, tolerance)


@points(2, cell="check_conv_forward_naive")
def test_conv_forward_naive_float32(result, tolerance):
    """conv_forward_naive: float32 inputs give float32 outputs (counted with correct values)."""
    run = result("conv_naive")
    _check_forward(run, "conv_forward_naive", N_CONV, conv_forward_naive, _conv_label, tolerance)
    got = run.step(f"f{N_CONV - 1}").returned(0).dtype
    check_true(got == np.float32, f"conv_forward_naive: float32 inputs gave {got} outputs; the dtype of x must be kept.")


@points(2, cell="check_conv_forward_naive")
def test_conv_forward_naive_leaves_inputs(result, tolerance):
    """conv_forward_naive: x, w, b and conv_param are left as they were given (counted with correct values)."""
    run = result("conv_naive")
    _check_forward(run, "conv_forward_naive", N_CONV, conv_forward_naive, _conv_label, tolerance)
    _check_forward_inputs(run, "conv_forward_naive", N_CONV, ("x", "w", "b"), CONV_PARAMS)


@points(5, cell="check_conv_backward_naive")
def test_conv_backward_naive_gradients(result, tolerance):
    """conv_backward_naive: dx, dw and db on every shape case, called twice on the cache of conv_forward_naive,
    against autograd."""
    _check_backward(result("conv_naive"), "conv_backward_naive", N_CONV, _conv_autograd, _conv_label,
                    ("dx", "dw", "db"), tolerance)


@points(3, cell="check_conv_backward_naive")
def test_conv_backward_naive_own_numeric(result, tolerance):
    """conv_backward_naive: dx and dw agree with centered differences of your own conv_forward_naive."""
    for probe_name, i, what in (("conv_naive_numeric_x", 0, "dx"), ("conv_naive_numeric_w", 1, "dw")):
        run = result(probe_name)
        grad = run.step("b").returned(i)
        check_close(f"conv_backward_naive: {what} against your own numeric gradient (centered differences of "
                    "your conv_forward_naive)", grad[run.numeric_grad_index], run.numeric_grad,
                    tolerance("numeric_gradient"))


@points(1, cell="check_conv_backward_naive")
def test_conv_backward_naive_float32(result, tolerance):
    """conv_backward_naive: float32 inputs give float32 gradients (counted with correct gradients)."""
    run = result("conv_naive")
    _check_backward(run, "conv_backward_naive", N_CONV, _conv_autograd, _conv_label, ("dx", "dw", "db"), tolerance)
    _check_dtype(run, ("conv_forward_naive", "conv_backward_naive"), N_CONV, 3)


@points(1, cell="check_conv_backward_naive")
def test_conv_backward_naive_leaves_dout(result, tolerance):
    """conv_backward_naive: dout is left as it was given, in both calls (counted with correct gradients)."""
    run = result("conv_naive")
    _check_backward(run, "conv_backward_naive", N_CONV, _conv_autograd, _conv_label, ("dx", "dw", "db"), tolerance)
    _check_dout(run, "conv_backward_naive", N_CONV)


# --- naive max pooling ---------------------------------------------------------------------------


@points(2, cell="check_max_pool_forward_naive")
def test_pool_forward_naive_values(result, tolerance):
    """max_pool_forward_naive: out on every shape case (tiling, overlapping, non-square and non-tiling windows,
    a 1 x 1 output, a batch of one)."""
    _check_forward(result("pool_naive"), "max_pool_forward_naive", N_POOL, max_pool_forward_naive, _pool_label,
                   tolerance)


@points(1, cell="check_max_pool_forward_naive")
def test_pool_forward_naive_float32(result, tolerance):
    """max_pool_forward_naive: float32 inputs give float32 outputs (counted with correct values)."""
    run = result("pool_naive")
    _check_forward(run, "max_pool_forward_naive", N_POOL, max_pool_forward_naive, _pool_label, tolerance)
    got = run.step(f"f{N_POOL - 1}").returned(0).dtype
    check_true(got == np.float32, f"max_pool_forward_naive: float32 inputs gave {got} outputs; keep the dtype of x.")


@points(1, cell="check_max_pool_forward_naive")
def test_pool_forward_naive_leaves_inputs(result, tolerance):
    """max_pool_forward_naive: x and pool_param are left as they were given (counted with correct values)."""
    run = result("pool_naive")
    _check_forward(run, "max_pool_forward_naive", N_POOL, max_pool_forward_naive, _pool_label, tolerance)
    _check_forward_inputs(run, "max_pool_forward_naive", N_POOL, ("x",), CONV_PARAMS)


@points(3, cell="check_max_pool_backward_naive")
def test_pool_backward_naive_gradients(result, tolerance):
    """max_pool_backward_naive: dx on every shape case, called twice on the cache of max_pool_forward_naive,
    against autograd."""
    _check_backward(result("pool_naive"), "max_pool_backward_naive", N_POOL, _pool_autograd, _pool_label, ("dx",),
                    tolerance)


@points(1, cell="check_max_pool_backward_naive")
def test_pool_backward_naive_own_numeric(result, tolerance):
    """max_pool_backward_naive: dx agrees with centered differences of your own max_pool_forward_naive (overlapping
    3 x 3 windows)."""
    run = result("pool_naive_numeric")
    check_close("max_pool_backward_naive: dx against your own numeric gradient (centered differences of your "
                "max_pool_forward_naive)", run.step("b").returned(0)[run.numeric_grad_index], run.numeric_grad,
                tolerance("numeric_gradient"))


def _check_ties(run, fn: str) -> None:
    x, param = run.step("f").args
    dout = run.step("b").args[0]
    expected = max_pool_backward_naive(dout, max_pool_forward_naive(x, param)[1])
    check_close(f"{fn}: dx on windows with tied maxima (the first maximum in row-major order gets the gradient)",
                run.step("b").returned(0), expected, 1e-12)


@points(1, cell="check_max_pool_backward_naive")
def test_pool_backward_naive_ties(result):
    """max_pool_backward_naive: on windows with tied maxima, the first maximum in row-major order gets the gradient."""
    _check_ties(result("pool_naive_ties"), "max_pool_backward_naive")


@points(1, cell="check_max_pool_backward_naive")
def test_pool_backward_naive_dtype_and_dout(result, tolerance):
    """max_pool_backward_naive: float32 stays float32 and dout is left as it was given (counted with correct
    gradients)."""
    run = result("pool_naive")
    _check_backward(run, "max_pool_backward_naive", N_POOL, _pool_autograd, _pool_label, ("dx",), tolerance)
    _check_dtype(run, ("max_pool_forward_naive", "max_pool_backward_naive"), N_POOL, 1)
    _check_dout(run, "max_pool_backward_naive", N_POOL)


# --- fast convolution ----------------------------------------------------------------------------


def _fast_conv_correct(run, tolerance) -> None:
    _check_forward(run, "conv_forward_fast", N_CONV, conv_forward_naive, _conv_label, tolerance)
    _check_backward(run, "conv_backward_fast", N_CONV, _conv_autograd, _conv_label, ("dx", "dw", "db"), tolerance)


@points(2, cell="check_conv_fast")
def test_conv_forward_fast_values(result, tolerance):
    """conv_forward_fast: out on every shape case of the naive checks."""
    _check_forward(result("conv_fast"), "conv_forward_fast", N_CONV, conv_forward_naive, _conv_label, tolerance)


@points(3, cell="check_conv_fast")
def test_conv_backward_fast_gradients(result, tolerance):
    """conv_backward_fast: dx, dw and db on every shape case, called twice on the cache of conv_forward_fast,
    against autograd."""
    _check_backward(result("conv_fast"), "conv_backward_fast", N_CONV, _conv_autograd, _conv_label,
                    ("dx", "dw", "db"), tolerance)


@points(1, cell="check_conv_fast")
def test_conv_fast_dtype_and_inputs(result, tolerance):
    """conv_forward_fast, conv_backward_fast: float32 stays float32, and x, w, b, conv_param and dout are left as
    they were given (counted with correct values and gradients)."""
    run = result("conv_fast")
    _fast_conv_correct(run, tolerance)
    _check_dtype(run, ("conv_forward_fast", "conv_backward_fast"), N_CONV, 3)
    _check_forward_inputs(run, "conv_forward_fast", N_CONV, ("x", "w", "b"), CONV_PARAMS)
    _check_dout(run, "conv_backward_fast", N_CONV)


def _reference_fast_seconds(run) -> float:
    """CPU seconds of the course's fast forward + backward pair on the timed inputs, here: the least
    of three rounds of FAST_REPEATS pairs, per pair."""
    x, w, b, param = run.step("f").args
    dout = run.step("b").args[0]
    rounds = []
    for _ in range(3):
        start = time.process_time()
        for _ in range(FAST_REPEATS):
            conv_backward_fast(dout, conv_forward_fast(x, w, b, param)[1])
        rounds.append((time.process_time() - start) / FAST_REPEATS)
    return min(rounds)


@points(4, cell="check_conv_fast")
def test_conv_fast_speed(result, tolerance, threshold, note):
    """conv_forward_fast, conv_backward_fast: on x (4, 3, 16, 16), w (8, 3, 3, 3), stride 1, pad 1, a forward and
    a backward pass take much less CPU time than your naive pair and not much more than the course's fast pair
    (counted with correct values and gradients)."""
    _fast_conv_correct(result("conv_fast"), tolerance)
    fast_run = result("conv_fast_timed")
    fast = fast_run.seconds
    course = _reference_fast_seconds(fast_run)
    slowest = threshold("conv_fast_max_slowdown")
    check_true(fast <= slowest * course,
               f"conv_forward_fast, conv_backward_fast: a forward and a backward pass took {1e3 * fast:.2f} ms of CPU "
               f"time, {fast / course:.1f} times the course's fast version timed on the grading machine "
               f"({1e3 * course:.2f} ms; at most {slowest:g} times allowed): vectorize over images and output "
               "positions (a loop over the kernel offsets is fine).")
    try:
        naive_run = result("conv_naive")
        _check_forward(naive_run, "conv_forward_naive", N_CONV, conv_forward_naive, _conv_label, tolerance)
        _check_backward(naive_run, "conv_backward_naive", N_CONV, _conv_autograd, _conv_label, ("dx", "dw", "db"),
                        tolerance)
        naive = result("conv_naive_timed").seconds
    except StudentCheckFailed:
        note(f"fast pair {1e3 * fast:.2f} ms of CPU time ({fast / course:.1f} x the course's fast version); your naive "
             "functions are not correct, so the speed-up over them was not required")
        return
    needed = threshold("conv_speedup")
    check_true(naive >= needed * fast,
               f"conv_forward_fast, conv_backward_fast: a forward and a backward pass took {1e3 * fast:.2f} ms of CPU "
               f"time, only {naive / fast:.1f} times faster than your naive pair ({1e3 * naive:.1f} ms; at least "
               f"{needed:g} times required).")
    note(f"forward + backward: naive {1e3 * naive:.1f} ms, fast {1e3 * fast:.2f} ms of CPU time, speed-up "
         f"{naive / fast:.0f}x ({fast / course:.1f} x the course's fast version)")


# --- fast max pooling ----------------------------------------------------------------------------


@points(2, cell="check_max_pool_fast")
def test_pool_forward_fast_values(result, tolerance):
    """max_pool_forward_fast: out on every shape case of the naive checks (tiling, overlapping, non-square and
    non-tiling windows)."""
    _check_forward(result("pool_fast"), "max_pool_forward_fast", N_POOL, max_pool_forward_naive, _pool_label,
                   tolerance)


@points(3, cell="check_max_pool_fast")
def test_pool_backward_fast_gradients(result, tolerance):
    """max_pool_backward_fast: dx on every shape case, called twice on the cache of max_pool_forward_fast, against
    autograd."""
    _check_backward(result("pool_fast"), "max_pool_backward_fast", N_POOL, _pool_autograd, _pool_label, ("dx",),
                    tolerance)


@points(1, cell="check_max_pool_fast")
def test_pool_backward_fast_ties(result):
    """max_pool_backward_fast: on windows with tied maxima, the first maximum in row-major order gets the gradient."""
    _check_ties(result("pool_fast_ties"), "max_pool_backward_fast")


@points(2, cell="check_max_pool_fast")
def test_pool_fast_dtype_and_inputs(result, tolerance):
    """max_pool_forward_fast, max_pool_backward_fast: float32 stays float32, and x, pool_param and dout are left as
    they were given (counted with correct values and gradients)."""
    run = result("pool_fast")
    _check_forward(run, "max_pool_forward_fast", N_POOL, max_pool_forward_naive, _pool_label, tolerance)
    _check_backward(run, "max_pool_backward_fast", N_POOL, _pool_autograd, _pool_label, ("dx",), tolerance)
    _check_dtype(run, ("max_pool_forward_fast", "max_pool_backward_fast"), N_POOL, 1)
    _check_forward_inputs(run, "max_pool_forward_fast", N_POOL, ("x",), CONV_PARAMS)
    _check_dout(run, "max_pool_backward_fast", N_POOL)


# --- conv - relu - pool --------------------------------------------------------------------------


def _crp_expected(run, k: int) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """(reference: [out, dx, dw, db] by numpy and autograd; composition: the same through the student's fast
    layers and the given ReLU in this chain, with the given steps verified here)."""
    x, w, b, conv_param, pool_param = run.step(f"f{k}").args
    dout = run.step(f"b{k}").args[0]
    out = conv_relu_pool_forward(x, w, b, conv_param, pool_param)[0]
    grads = value_and_grads(tcnn.conv_relu_pool, [x, w, b, conv_param, pool_param], wrt=[0, 1, 2], dout=dout)[1]
    conv = run.step(f"conv{k}").returned(0)
    relu = run.step(f"relu{k}").returned(0)
    drelu = run.step(f"relub{k}").returned(0)
    given_ok = (np.array_equal(relu, relu_forward(conv)[0])
                and np.array_equal(drelu, relu_backward(run.step(f"poolb{k}").returned(0), conv)))
    composed = [run.step(f"pool{k}").returned(0), *(run.step(f"convb{k}").returned(i) for i in range(3))]
    return [out, *grads], composed if given_ok else []


def _check_crp(run, what: str, indices: tuple[int, ...], tolerance) -> None:
    """``indices`` of (out, dx, dw, db) of every case and both backward calls: against the reference, or else
    against the composition of the student's own fast layers (all of them, within the same tolerance)."""
    names = ("out", "dx", "dw", "db")
    for k in range(len(CRP_CASES)):
        reference, composed = _crp_expected(run, k)
        for call in (f"b{k}", f"a{k}"):
            got = [run.step(f"f{k}").returned(0), *(run.step(call).returned(i) for i in range(3))]
            tols = [tolerance("value" if i == 0 else "gradient") for i in range(4)]
            # the composition counts only where it has the reference's shapes: layers that return
            # scalars (a do-nothing submission) compose to scalars, which prove nothing
            if composed and all(np.shape(got[i]) == np.shape(composed[i]) == np.shape(reference[i])
                                and rel_error(got[i], composed[i]) <= tols[i] for i in indices):
                continue
            for i in indices:
                fn = "conv_relu_pool_forward" if i == 0 else "conv_relu_pool_backward"
                again = ", called a second time on the same cache" if call.startswith("a") and i else ""
                check_close(f"{fn}{again}: {names[i]} against {what} (case {k + 1})", got[i], reference[i], tols[i])


@points(2, cell="check_conv_relu_pool")
def test_conv_relu_pool_forward(result, tolerance):
    """conv_relu_pool_forward: out on a 3 x 3 convolution with 2 x 2 pooling and on a 5 x 3 kernel with stride 2
    and overlapping 3 x 3 pooling (or the same as your fast layers and the ReLU give)."""
    _check_crp(result("conv_relu_pool"), "the reference", (0,), tolerance)


@points(3, cell="check_conv_relu_pool")
def test_conv_relu_pool_backward(result, tolerance):
    """conv_relu_pool_backward: dx, dw and db of both calls on one cache against autograd (or the same as your
    fast layers and the ReLU give)."""
    _check_crp(result("conv_relu_pool_grads"), "autograd", (1, 2, 3), tolerance)


@points(1, cell="check_conv_relu_pool")
def test_conv_relu_pool_leaves_inputs(result, tolerance):
    """conv_relu_pool_forward, conv_relu_pool_backward: x, w, b and dout are left as they were given (counted with
    correct values and gradients)."""
    run = result("conv_relu_pool")
    _check_crp(run, "the reference", (0, 1, 2, 3), tolerance)
    for k in range(len(CRP_CASES)):
        for i, what in enumerate(("x", "w", "b")):
            check_unmodified(f"conv_relu_pool_forward: {what}", run.step(f"f{k}"), i)
        check_unmodified("conv_relu_pool_backward: dout", run.step(f"b{k}"), 0)

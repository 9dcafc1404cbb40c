"""Hidden graders of the a00 yardsticks: rel_error, eval_numerical_gradient(_array) and the h sweep.

Why these checks: a gradient checker is graded on functions whose gradient is known exactly (the
catalogue of ``pipelines/grade/probe_functions.py``, rebuilt here with ``run.args[0].build()``) and
against the course's own checker (``gradcheck``) at the same ``h``, which is always passed by keyword.
Quadratics and affine maps make centered differences exact, so only a wrong formula misses them;
curved functions at a large ``h`` catch a checker that ignores ``h`` or differences one-sidedly;
points within ``h`` of a kink of ``|x - c|`` have a centered value that no other formula gives.
``x`` must come back bit for bit (inputs are drawn so that restoring by ``+h, -2h, +h`` is an ulp
off), ``df`` untouched, and the array version must copy ``f``'s output (``scale`` with factor 1
returns ``x`` itself). No check counts calls to ``f``; every ``f`` is pure.
"""

from __future__ import annotations

import numpy as np

import gradcheck
from pipelines.grade.api import check_close, check_shape, check_true, check_unmodified, fn, points, probe

H = 1e-5
# A large step: centered differences of the curved probes then differ from their value at H by
# 1e-5 or more (relative), far above the tolerance, so a checker that ignores `h` is caught.
LARGE_H = 1e-2
# Every probed gradient entry is at least this large, so relative errors measure the checker's
# formula, not the rounding of a near-zero entry.
MIN_GRAD = 0.2
# The h sweep: the notebook's locked cell `h_sweep_setup` pins the function, the point and the steps.
SWEEP_X0, SWEEP_W = 0.7, 3.0
SWEEP_HS = np.logspace(-14, -1, 27)
SWEEP_TRUNCATION = SWEEP_HS >= 1e-3  # where rounding is negligible, so every correct sweep agrees


def _ulp_sensitive(rng: np.random.Generator, shape: tuple[int, ...], h: float) -> np.ndarray:
    """A random x of which at least a quarter of the entries do not survive ``x + h - 2h + h``."""
    while True:
        x = rng.uniform(-2.0, 2.0, shape)
        if np.mean(((x + h) - 2 * h) + h != x) >= 0.25:
            return x


def _quadratic(rng: np.random.Generator) -> dict:
    shape = (3, 4)
    n = int(np.prod(shape))
    a = 0.5 * rng.standard_normal((n, n))
    while True:
        x = _ulp_sensitive(rng, shape, H)
        b = rng.standard_normal(n)
        if np.min(np.abs(0.5 * (a + a.T) @ x.ravel() + b)) >= MIN_GRAD:
            return {"args": [fn("quadratic", a, b), x], "kwargs": {"h": H}}


def _sum_sin(rng: np.random.Generator, h: float) -> dict:
    """sum(sin(w x)) on a 3-D x, every gradient entry w cos(w x) at least MIN_GRAD in size.

    Its centered difference is the gradient times sin(w h) / (w h): at LARGE_H it is off by
    (w h)^2 / 6 >= 3.7e-5 in every entry, which only a checker that uses its h reproduces."""
    shape = (2, 3, 2)
    while True:
        w = rng.uniform(1.5, 3.0, shape) * rng.choice([-1.0, 1.0], shape)
        x = _ulp_sensitive(rng, shape, h)
        cos = np.cos(w * x)
        if np.min(np.abs(w * cos)) >= MIN_GRAD:
            return {"args": [fn("sum_sin", w), x], "kwargs": {"h": h}}


def _near_kinks(rng: np.random.Generator, h: float) -> dict:
    """sum|x - c| with half the entries within h of their kink (never on it), the others far from it."""
    shape = (3, 4)
    c = rng.standard_normal(shape)
    near = rng.random(shape) < 0.5
    near.flat[:2] = (True, False)
    offset = np.where(near, h * rng.uniform(0.2, 0.8, shape), rng.uniform(0.1, 1.0, shape))
    return {"args": [fn("abs_sum", c), c + offset * rng.choice([-1.0, 1.0], shape)], "kwargs": {"h": h}}


def _tanh(rng: np.random.Generator, h: float) -> dict:
    shape = (3, 4)
    x = _ulp_sensitive(rng, shape, h)
    df = rng.uniform(0.5, 2.0, shape) * rng.choice([-1.0, 1.0], shape)
    return {"args": [fn("tanh"), x, df], "kwargs": {"h": h}}


def _affine(rng: np.random.Generator) -> dict:
    while True:
        x, w, b = _ulp_sensitive(rng, (2, 4), H), rng.standard_normal((4, 3)), rng.standard_normal(3)
        df = rng.standard_normal((2, 3))
        if np.min(np.abs(df @ w.T)) >= MIN_GRAD:
            return {"args": [fn("affine", w, b), x, df], "kwargs": {"h": H}}


# --- probes --------------------------------------------------------------------------------------


@probe("rel_error")
def rel_error_arrays(rng):
    """Mixed signs: the largest relative error sits where x - y < 0 and x, y have opposite signs,
    the next where both are negative."""
    x = rng.uniform(0.5, 2.0, (4, 5)) * rng.choice([-1.0, 1.0], (4, 5))
    y = x + 1e-3 * np.abs(x) * rng.uniform(-1.0, 1.0, (4, 5))
    x[0, 0] = -abs(x[0, 0])
    y[0, 0] = 0.8 * x[0, 0]
    x[0, 1] = -abs(x[0, 1])
    y[0, 1] = -x[0, 1]
    return {"args": [x, y]}


@probe("rel_error")
def rel_error_scalars(rng):
    return {"args": [1.0, 1.001]}


@probe("rel_error")
def rel_error_tiny(rng):
    """Values of order 1e-10, where the 1e-8 floor of the denominator decides the result."""
    x = 1e-10 * rng.uniform(1.0, 2.0, 6)
    return {"args": [x, 3.0 * x]}


@probe("rel_error")
def rel_error_zeros(rng):
    """Some entries are 0 in both arrays (a ReLU's gradient), the others differ slightly."""
    x = rng.uniform(0.5, 2.0, 6)
    x[:3] = 0.0
    y = x * (1.0 + 1e-4 * rng.uniform(-1.0, 1.0, 6))
    return {"args": [x, y]}


@probe("eval_numerical_gradient")
def numgrad_quadratic(rng):
    return _quadratic(rng)


@probe("eval_numerical_gradient")
def numgrad_sum_sin(rng):
    return _sum_sin(rng, H)


@probe("eval_numerical_gradient")
def numgrad_sum_sin_large_h(rng):
    return _sum_sin(rng, LARGE_H)


@probe("eval_numerical_gradient")
def numgrad_kinks(rng):
    return _near_kinks(rng, H)


@probe("eval_numerical_gradient")
def numgrad_kinks_large_h(rng):
    return _near_kinks(rng, LARGE_H)


@probe("eval_numerical_gradient_array")
def numgrad_array_tanh(rng):
    return _tanh(rng, H)


@probe("eval_numerical_gradient_array")
def numgrad_array_tanh_large_h(rng):
    return _tanh(rng, LARGE_H)


@probe("eval_numerical_gradient_array")
def numgrad_array_affine(rng):
    return _affine(rng)


@probe("eval_numerical_gradient_array")
def numgrad_array_identity(rng):
    """scale with factor 1: f returns x itself, as a layer in test mode may."""
    x = _ulp_sensitive(rng, (3, 4), H)
    return {"args": [fn("scale", 1.0), x, rng.uniform(0.5, 2.0, (3, 4))], "kwargs": {"h": H}}


# --- helpers -------------------------------------------------------------------------------------


def _course_checker(run) -> np.ndarray:
    """What ``gradcheck`` finds for the probe's function, x (a copy), [df] and h."""
    f, x, *rest = run.args
    h = run.kwargs["h"]
    if rest:
        return gradcheck.eval_numerical_gradient_array(f.build(), np.array(x), rest[0], h=h)
    return gradcheck.eval_numerical_gradient(f.build(), np.array(x), h=h)


def _exact_gradient(run) -> np.ndarray:
    """The analytic gradient of the probe's catalogue function (times df for array functions)."""
    f, x, *rest = run.args
    name, params = f.name, f.params
    if name == "quadratic":
        a, b = params
        return (0.5 * (a + a.T) @ x.ravel() + b).reshape(x.shape)
    if name == "sum_sin":
        (w,) = params
        return w * np.cos(w * x)
    df = rest[0]
    if name == "tanh":
        return df * (1.0 - np.tanh(x) ** 2)
    if name == "affine":
        return df @ params[0].T
    if name == "scale":
        return float(params[0]) * df
    raise ValueError(f"no exact gradient for {name}")


def _returned_gradient(run, who: str) -> np.ndarray:
    grad = run.returned(0)
    check_shape(f"{who}'s gradient", grad, np.shape(run.args[1]))
    return grad


def _against_exact(result, tolerance, who: str, probes: tuple[str, ...]) -> None:
    for name in probes:
        run = result(name)
        grad = _returned_gradient(run, who)
        check_close(f"{who}'s gradient of {run.args[0].name}", grad, _exact_gradient(run), tolerance("gradient"))


def _against_checker(result, tolerance, who: str, probes: tuple[str, ...]) -> None:
    for name in probes:
        run = result(name)
        grad = _returned_gradient(run, who)
        what = f"{who}'s gradient of {run.args[0].name} with h = {run.kwargs['h']:g}"
        check_close(what, grad, _course_checker(run), tolerance("checker"))


# --- rel_error -----------------------------------------------------------------------------------


def _check_rel_error(run, tol: float) -> None:
    got = run.returned(0)
    check_shape("rel_error's result (one number)", got, ())
    check_close("rel_error's result", got, gradcheck.rel_error(*run.args), tol)
    for i, name in enumerate(("x", "y")):
        check_unmodified(name, run, i)


@points(1, cell="check_rel_error")
def test_rel_error_values(result, tolerance):
    """rel_error: one number, the largest |x - y| / max(1e-8, |x| + |y|), on arrays of mixed signs and on floats."""
    for name in ("rel_error_arrays", "rel_error_scalars"):
        _check_rel_error(result(name), tolerance("value"))


@points(1, cell="check_rel_error")
def test_rel_error_floor(result, tolerance):
    """rel_error: the 1e-8 floor of the denominator, for tiny values and for entries that are 0 in both."""
    for name in ("rel_error_tiny", "rel_error_zeros"):
        _check_rel_error(result(name), tolerance("value"))


# --- eval_numerical_gradient ---------------------------------------------------------------------


@points(1, cell="check_eval_numerical_gradient")
def test_eval_numerical_gradient_exact(result, tolerance):
    """eval_numerical_gradient: a quadratic on a 3x4 x and sum(sin(w x)) on a 2x3x2 x, against their exact gradients."""
    _against_exact(result, tolerance, "eval_numerical_gradient", ("numgrad_quadratic", "numgrad_sum_sin"))


@points(1, cell="check_eval_numerical_gradient")
def test_eval_numerical_gradient_step(result, tolerance):
    """eval_numerical_gradient: centered differences with the h it is given (h = 1e-5 and h = 1e-2)."""
    _against_checker(result, tolerance, "eval_numerical_gradient",
                     ("numgrad_quadratic", "numgrad_sum_sin", "numgrad_sum_sin_large_h"))


@points(1, cell="check_eval_numerical_gradient")
def test_eval_numerical_gradient_kinks(result, tolerance):
    """eval_numerical_gradient: centered differences of sum|x - c| with entries within h of a kink (h = 1e-5 and 1e-2)."""
    _against_checker(result, tolerance, "eval_numerical_gradient", ("numgrad_kinks", "numgrad_kinks_large_h"))


@points(2, cell="check_eval_numerical_gradient")
def test_eval_numerical_gradient_restores_x(result, tolerance):
    """eval_numerical_gradient: x is given back exactly as it came, bit for bit, by calls whose gradients are right
    (a checker that does nothing leaves x alone too)."""
    names = ("numgrad_quadratic", "numgrad_sum_sin", "numgrad_sum_sin_large_h", "numgrad_kinks")
    _against_checker(result, tolerance, "eval_numerical_gradient", names)
    for name in names:
        check_unmodified("eval_numerical_gradient: x", result(name), 1)


# --- eval_numerical_gradient_array ---------------------------------------------------------------


@points(1, cell="check_eval_numerical_gradient_array")
def test_eval_numerical_gradient_array_exact(result, tolerance):
    """eval_numerical_gradient_array: tanh and an affine map x W + b, against their exact gradients."""
    _against_exact(result, tolerance, "eval_numerical_gradient_array", ("numgrad_array_tanh", "numgrad_array_affine"))


@points(1, cell="check_eval_numerical_gradient_array")
def test_eval_numerical_gradient_array_step(result, tolerance):
    """eval_numerical_gradient_array: centered differences with the h it is given (h = 1e-5 and h = 1e-2)."""
    _against_checker(result, tolerance, "eval_numerical_gradient_array",
                     ("numgrad_array_tanh", "numgrad_array_tanh_large_h", "numgrad_array_affine"))


@points(1, cell="check_eval_numerical_gradient_array")
def test_eval_numerical_gradient_array_copies_output(result, tolerance):
    """eval_numerical_gradient_array: correct when f returns x itself (f's output must be copied)."""
    _against_exact(result, tolerance, "eval_numerical_gradient_array", ("numgrad_array_identity",))


@points(1, cell="check_eval_numerical_gradient_array")
def test_eval_numerical_gradient_array_leaves_inputs(result, tolerance):
    """eval_numerical_gradient_array: x is given back exactly as it came, bit for bit, and df is not modified, by
    calls whose gradients are right (a checker that does nothing leaves them alone too)."""
    names = ("numgrad_array_tanh", "numgrad_array_tanh_large_h", "numgrad_array_affine", "numgrad_array_identity")
    _against_checker(result, tolerance, "eval_numerical_gradient_array", names)
    for name in names:
        run = result(name)
        check_unmodified("eval_numerical_gradient_array: x", run, 1)
        check_unmodified("eval_numerical_gradient_array: df", run, 2)


# --- the h sweep ---------------------------------------------------------------------------------


def _sweep_errors(step: str) -> np.ndarray:
    """rel_error of the centered or forward difference of sin(w x) at x0, for every h of the sweep."""
    def g(v: float) -> float:
        return float(np.sin(SWEEP_W * v))

    exact = SWEEP_W * np.cos(SWEEP_W * SWEEP_X0)
    errors = []
    for h in SWEEP_HS:
        if step == "centered":
            numeric = (g(SWEEP_X0 + h) - g(SWEEP_X0 - h)) / (2 * h)
        else:
            numeric = (g(SWEEP_X0 + h) - g(SWEEP_X0)) / h
        errors.append(gradcheck.rel_error(numeric, exact))
    return np.array(errors)


@points(2, cell="check_h_sweep")
def test_h_sweep(exported, tolerance):
    """h sweep: centered_errors and forward_errors where rounding is negligible (h >= 1e-3)."""
    for step in ("centered", "forward"):
        errors = np.asarray(exported(f"{step}_errors"), dtype=np.float64)
        check_shape(f"the exported {step}_errors", errors, SWEEP_HS.shape)
        check_true(bool(np.all(np.isfinite(errors))), f"the exported {step}_errors contain NaN or infinity.")
        check_close(f"{step}_errors for h >= 1e-3", errors[SWEEP_TRUNCATION], _sweep_errors(step)[SWEEP_TRUNCATION],
                    tolerance("sweep"))

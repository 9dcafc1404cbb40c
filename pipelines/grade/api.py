"""What a grader module (``assignments/<unit>/graders/test_*.py``) uses: probes, points, checks.

A grader is a plain pytest module. It declares *probes* -- seeded inputs on which the sandbox calls
the student's exported functions -- and *tests* that compare the returned plain arrays with the
reference. Tests never see student objects, only numbers the sandbox wrote to ``.npz``.

    @probe("svm_loss_naive")
    def svm_small(rng):                       # seeded per student and submission
        return {"args": [W, X, y, 0.1]}

    @points(3, cell="svm_loss_naive")         # counts towards that nbgrader grade cell
    def test_svm_naive_loss(result, tolerance):
        \"\"\"svm_loss_naive: the loss on a seeded 50x3073 batch matches the reference.\"\"\"
        run = result("svm_small")
        loss, _ = reference.numpy.svm_loss_vectorized(*run.args)
        check_close("loss", run.returned(0), loss, tolerance("value"))

The docstring's first paragraph (up to a blank line) is what the student reads as "what was checked".
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

import numpy as np
import pytest

from gradcheck import rel_error
from pipelines.grade.chain import assign, numgrad, read, ref, step
from pipelines.grade.probe_functions import fn
from pipelines.grade.probe_models import trusted_model
from pipelines.grade.probe_values import dtype, generator, tensor

__all__ = [
    "Probe",
    "StudentCheckFailed",
    "StudentTimeout",
    "assign",
    "check_close",
    "check_shape",
    "check_true",
    "check_unmodified",
    "declared_probes",
    "dtype",
    "fn",
    "generator",
    "gpu_check",
    "numgrad",
    "points",
    "probe",
    "read",
    "ref",
    "step",
    "tensor",
    "trusted_model",
]

# Each grader module keeps the probes it declares in its own namespace, under this name: a unit's
# probes are then those of the grader modules it imports now, and a probe renamed or deleted in an
# edited grader file is gone with the module of the old text (no registry outlives an edit).
_PROBES = "__deepgrade_probes__"


@dataclass(frozen=True)
class Probe:
    """One seeded call (or object recipe) the sandbox runs on the student's exported code.

    ``call`` names an exported function or class. For a function, ``make(rng)`` returns
    ``{"args": [...]}``. For a class, ``methods`` lists the methods to call in order on one
    instance and ``make`` returns ``{"init": [...], "<method>": [...], ...}``; ``attrs`` names
    attributes read off the instance afterwards (e.g. learned weights).
    """

    name: str
    call: str
    make: Callable[[np.random.Generator], dict[str, Any]]
    methods: tuple[str, ...] = ()
    attrs: tuple[str, ...] = ()
    timeout: float | None = None
    numeric_grad: tuple[int, int, int] | None = None
    module: str = field(default="", compare=False)
    timed: bool = False
    repeats: int = 1


def probe(
    call: str,
    *,
    methods: tuple[str, ...] = (),
    attrs: tuple[str, ...] = (),
    timeout: float | None = None,
    numeric_grad: tuple[int, int, int] | None = None,
    timed: bool = False,
    repeats: int = 1,
) -> Callable[[Callable[[np.random.Generator], dict[str, Any]]], Callable]:
    """Register the decorated input builder as a probe named after the function.

    ``timed`` probes report ``seconds``: the CPU time of the student's code (every process it started
    included) as the sandbox's engine process took it from the kernel's accounting, minus the same run
    without student code, so student code cannot change the figure except by doing more work, and a
    loaded machine changes it far less than it changes the wall clock. ``repeats`` calls the
    function that many times in one process (fresh copies of the inputs each time) and reports the
    seconds per call: a fast function's time is then measured well above the fork's noise."""

    def register(make: Callable[[np.random.Generator], dict[str, Any]]) -> Callable:
        name = make.__name__
        make.__globals__.setdefault(_PROBES, {})[name] = Probe(
            name, call, make, tuple(methods), tuple(attrs), timeout, numeric_grad, make.__module__, timed, repeats
        )
        return make

    return register


def declared_probes(module: ModuleType) -> list[Probe]:
    """The probes ``module`` (a grader module) declared when it was imported, in declaration order."""
    return list(vars(module).get(_PROBES, {}).values())


def points(value: float, *, cell: str) -> pytest.MarkDecorator:
    """Mark a grader test as worth ``value`` points towards the nbgrader grade cell ``cell``."""
    return pytest.mark.points(value=value, cell=cell)


def gpu_check(*, cell: str) -> pytest.MarkDecorator:
    """Mark a grader test that only a GPU can run (instead of ``points``): it is worth no points, so
    a unit's score and max_score never depend on the machine that grades it. Where the unit is graded
    on CPU it does not run, and the student reads "not run: no GPU here" (status ``not_run``), never
    a failure; on CUDA it runs as a zero-point note. The ``device`` fixture says which."""
    return pytest.mark.points(value=0, cell=cell, gpu=True)


class StudentCheckFailed(AssertionError):
    """A check failed; the message is written for the student (what, tolerance, by how much)."""


class StudentTimeout(StudentCheckFailed):
    """The student's code ran out of time on the inputs this check needs."""


def check_shape(what: str, got: np.ndarray, expected_shape: tuple[int, ...]) -> None:
    """Fail unless ``got`` is a numeric array of exactly ``expected_shape``."""
    got = np.asarray(got)
    if got.dtype.kind not in "biuf":
        raise StudentCheckFailed(f"{what}: expected numbers, got values of dtype {got.dtype}.")
    if got.shape != tuple(expected_shape):
        raise StudentCheckFailed(f"{what}: expected shape {tuple(expected_shape)}, got {got.shape}.")


def check_close(what: str, got: np.ndarray | float, expected: np.ndarray | float, tol: float) -> None:
    """Fail unless ``rel_error(got, expected) <= tol``, after checking shape and finiteness.

    The message gives the tolerance and the observed relative error, never the expected values.
    """
    expected = np.asarray(expected, dtype=np.float64)
    check_shape(what, np.asarray(got), expected.shape)
    got = np.asarray(got, dtype=np.float64)
    if not np.all(np.isfinite(got)):
        raise StudentCheckFailed(f"{what}: contains NaN or infinity.")
    err = rel_error(got, expected)
    if not err <= tol:
        raise StudentCheckFailed(
            f"{what}: relative error {err:.2e} is above the tolerance {tol:.0e} "
            f"(rel_error(a, b) = max|a-b| / max(1e-8, |a|+|b|))."
        )


def check_close_to_one_of(what: str, got: list[Any], paths: dict[str, list[np.ndarray]], tol: float) -> None:
    """Pass when the outputs ``got`` match every expected value of one of the ``paths`` within ``tol``:
    the reference's, or what the student's own pieces give when composed correctly, so that a bug in a
    piece costs the points of the piece's check and not those of everything built on it. The message
    names the nearest path and its error, never an expected value."""
    errors = {}
    for label, expected in paths.items():
        for g, e in zip(got, expected, strict=True):
            check_shape(what, np.asarray(g), np.shape(e))
            if not np.all(np.isfinite(np.asarray(g, dtype=np.float64))):
                raise StudentCheckFailed(f"{what}: contains NaN or infinity.")
        errors[label] = max(rel_error(np.asarray(g, dtype=np.float64), np.asarray(e, dtype=np.float64))
                            for g, e in zip(got, expected, strict=True))
    best = min(errors, key=lambda label: errors[label])
    check_true(errors[best] <= tol, f"{what}: relative error {errors[best]:.2e} against {best}, above the tolerance "
                                    f"{tol:.0e} (rel_error(a, b) = max|a-b| / max(1e-8, |a|+|b|)).")


def check_true(condition: bool, message: str) -> None:
    """Fail with a student-facing ``message`` unless ``condition`` holds."""
    if not condition:
        raise StudentCheckFailed(message)


def check_unmodified(what: str, run: Any, i: int, section: str = "args") -> None:
    """Fail unless the student's call left array argument ``i`` of probe ``run`` as it was given
    (``run`` is a ``result(...)`` probe; the sandbox compares each array input after the call)."""
    if run.modified(i, section):
        before = np.asarray(run.inputs[section][i], dtype=np.float64)
        after = np.asarray(run.arg_after(i, section), dtype=np.float64)
        if after.shape != before.shape:
            raise StudentCheckFailed(f"{what} was reshaped in place (from {before.shape} to {after.shape}); "
                                     "inputs must be left as they were given (work on a copy).")
        changed = int(np.sum(after != before) - np.sum(np.isnan(after) & np.isnan(before)))
        raise StudentCheckFailed(
            f"{what} was modified in place ({changed} of {before.size} entries changed); "
            "inputs must be left as they were given (work on a copy)."
        )

"""Chained probes end to end: through the real sandbox, in grading and in the fidelity harness.

The toy unit gets one more grader whose probe calls ``quad`` twice, the second time on the gradient
the first call returned (a reference that never leaves the sandbox). The source must keep its
points, a gradient bug must lose this test too (so the harness re-ran the chain for a variant of a
function the chain reaches), and a value-only bug must not (the chain reads only the value of the
second call, so re-scoring found exactly what changed).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from pipelines.grade.fidelity import check_fidelity
from pipelines.grade.unit import Unit
from tests.grading import toy
from tests.grading.conftest import FAST_LIMITS, REPO

CHAIN_GRADER = '''
"""A chained probe: quad, then quad of the gradient it returned."""
import numpy as np

from pipelines.grade.api import check_close, points, probe, ref, step


@probe("quad")
def quad_twice(rng):
    x, w = rng.standard_normal(5), rng.random(5) + 0.5
    return {"steps": [step("first", "quad", x, w), step("second", "quad", ref("first").out(1), w)]}


@points(1, cell="check_quad")
def test_quad_of_its_own_gradient(result, tolerance):
    """quad: applied to the gradient it returned for random inputs."""
    run = result("quad_twice")
    x, w = run.step("first").args
    g = w * x
    check_close("value of the second call", run.step("second").returned(0), 0.5 * np.sum(w * g * g), tolerance("value"))
'''

VALUE = "return 0.5 * float(np.sum(w * x * x)), w * x"
FIDELITY = {"functions": {"quad": {
    "cell": "quad_impl",
    "bugs": [
        {"name": "gradient_sign", "why": "minus the gradient (the second call then sees -g: same value)",
         "replace": VALUE, "with": "return 0.5 * float(np.sum(w * x * x)), -w * x"},
        {"name": "gradient_double", "why": "twice the gradient", "replace": VALUE,
         "with": "return 0.5 * float(np.sum(w * x * x)), 2 * w * x"},
    ],
    "correct": [],
}}}


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    root = tmp_path_factory.mktemp("chains")
    unit = toy.make_project(root, yaml.safe_load((REPO / "params.yaml").read_text()), FAST_LIMITS)
    (unit / "graders" / "test_chain.py").write_text(CHAIN_GRADER)
    (unit / "fidelity.yaml").write_text(yaml.safe_dump(FIDELITY))
    with toy.engine_at(root):
        yield root


def test_a_chain_runs_in_the_sandbox_and_its_variants_are_rerun(project: Path) -> None:
    report = check_fidelity(Unit.load(toy.UNIT), workers=1)
    baseline = {t.name: t.status for t in report.baseline}
    assert baseline["test_quad_of_its_own_gradient"] == "passed"
    lost = {v.variant.name: {t.name for t in v.lost} for v in report.verdicts}
    # The value of quad(-g) equals that of quad(g): the chain cannot see the sign, the direct test can.
    assert "test_quad_of_its_own_gradient" not in lost["gradient_sign"] and "test_gradient" in lost["gradient_sign"]
    assert "test_quad_of_its_own_gradient" in lost["gradient_double"]

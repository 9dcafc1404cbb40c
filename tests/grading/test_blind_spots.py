"""Grader blind spots: a visible self-check that fails although no function it names lost points.

Found on a05: a wrong ``dbeta`` in the staged ``batchnorm_backward`` (caught by that cell's graders)
also failed ``check_batchnorm_backward_alt``, whose self-check compares the closed form with the
student's staged pass, and that cell was listed as a blind spot although the graders had caught the
bug where it was. Here the toy unit gets the same shape: ``quad_alt``, checked against ``quad``.
"""

from __future__ import annotations

import copy
import json
import textwrap
from pathlib import Path

import nbformat
import pytest

from pipelines.grade.batch import autograde
from pipelines.grade.notebook import load_source, self_check_uses
from pipelines.grade.submission import caught_functions
from pipelines.results import TestResult as Graded  # (a name pytest does not collect)
from tests.grading import toy

REPO = Path(__file__).resolve().parents[2]

CHECK_QUAD = """\
import numpy as np
value, grad = quad(np.ones(3), np.arange(3.0))
assert abs(value - 1.5) < 1e-12 and np.allclose(grad, np.arange(3.0))
"""
ALT_SOLUTION = """\
import numpy as np


def quad_alt(x, w):
    \"\"\"quad, written another way.\"\"\"
    ### BEGIN SOLUTION
    grad = w * x
    return 0.5 * float(grad @ x), grad
    ### END SOLUTION
"""
# Like a05's check of the closed form: the alternative must agree with the student's first version.
CHECK_ALT = """\
x, w = np.ones(3), np.arange(3.0)
assert np.allclose(quad_alt(x, w)[1], quad(x, w)[1]), "quad_alt disagrees with your quad"
"""
ALT_GRADER = '''
from pipelines.grade.api import check_close, points, probe


@probe("quad_alt")
def quad_alt_random(rng):
    return {"args": [rng.standard_normal(6), rng.random(6)]}


@points(1, cell="check_quad_alt")
def test_alt_gradient(result, tolerance):
    """quad_alt: the gradient on random inputs."""
    run = result("quad_alt_random")
    x, w = run.args
    check_close("gradient", run.returned(1), w * x, tolerance("gradient"))
'''
SUBMISSIONS = {
    # quad's gradient is wrong (its own graders catch it); quad_alt is right, but its self-check
    # compares it with quad and fails: no blind spot.
    "wrong_quad": {"quad_impl": """
        import numpy as np
        def quad(x, w):
            return 0.5 * float(np.sum(w * x * x)), 2 * w * x
        """},
    # quad_alt is wrong only where the self-check looks (x all ones), where no probe goes: a blind spot.
    "alt_wrong_at_ones": {"quad_alt_impl": """
        import numpy as np
        def quad_alt(x, w):
            grad = w * x
            return 0.5 * float(grad @ x), 0 * grad if np.all(x == 1) else grad
        """},
}


def source_notebook() -> nbformat.NotebookNode:
    """The toy notebook with a second graded function, ``quad_alt``, and its self-check after ``quad``'s."""
    nb = toy.source_notebook()
    nb.cells[3].source = CHECK_QUAD
    alt, check = copy.deepcopy(nb.cells[2]), copy.deepcopy(nb.cells[3])
    alt.id, alt.source, alt.metadata["nbgrader"]["grade_id"] = "quad-alt-impl", ALT_SOLUTION, "quad_alt_impl"
    check.id = "check-quad-alt"
    check.source, check.metadata["nbgrader"]["grade_id"], check.metadata["nbgrader"]["points"] = CHECK_ALT, "check_quad_alt", 1
    nb.cells[4:4] = [alt, check]
    return nb


def submit(root: Path, student: str, answers: dict[str, str]) -> None:
    nb = source_notebook()
    for cell in nb.cells:
        gid = cell.metadata["nbgrader"]["grade_id"]
        if gid in answers:
            cell.source = textwrap.dedent(answers[gid])
    folder = root / "submitted" / student / toy.UNIT
    folder.mkdir(parents=True)
    nbformat.write(nb, folder / f"{toy.UNIT}.ipynb")


@pytest.fixture(scope="module")
def graded(toy_root: Path) -> Path:
    unit = toy_root / "assignments" / toy.UNIT
    nbformat.write(source_notebook(), unit / f"{toy.UNIT}.ipynb")
    (unit / "graders" / "test_alt.py").write_text(ALT_GRADER)
    for student, answers in SUBMISSIONS.items():
        submit(toy_root, student, answers)
    out = toy_root / "graded-blind-spots"
    assert autograde(toy.UNIT, toy_root / "submitted", out, workers=2).failed == 0
    return out


def results(out: Path, student: str) -> dict:
    return json.loads((out / student / "results.json").read_text())


def test_a_self_check_failing_for_a_function_that_lost_points_elsewhere_is_no_blind_spot(graded: Path) -> None:
    r = results(graded, "wrong_quad")
    tests = {t["name"]: t["status"] for t in r["tests"]}
    assert tests["test_gradient"] == "failed" and tests["test_alt_gradient"] == "passed"
    assert "quad_alt disagrees with your quad" in " ".join(r["messages"])  # its self-check did fail
    assert r["blind_spots"] == []


def test_a_self_check_whose_functions_all_kept_their_points_is_a_blind_spot(graded: Path) -> None:
    r = results(graded, "alt_wrong_at_ones")
    assert r["score"] == r["max_score"]
    assert [s["cell"] for s in r["blind_spots"]] == ["check_quad_alt"]
    summary = json.loads((graded / "summary.json").read_text())
    assert summary["blind_spots"] == {"check_quad_alt": ["alt_wrong_at_ones"]}


def test_a_self_checks_functions_are_the_exported_names_its_code_uses() -> None:
    """On a05 itself: the closed form's check also runs the forward and the staged backward pass; names
    in its comments and strings, and the kit's helpers, are not exported functions."""
    uses = self_check_uses(load_source(REPO / "assignments" / "a05_optimization" / "a05_optimization.ipynb"))
    assert uses["check_batchnorm_backward_alt"] == {"batchnorm_forward", "batchnorm_backward", "batchnorm_backward_alt"}


def test_a_test_that_failed_catches_every_name_its_probes_call() -> None:
    """A chained probe calls several exported names; a failing test that read it reaches them all."""
    specs = [{"name": "bn_chain", "calls": ["batchnorm_backward_alt", "batchnorm_forward"]},
             {"name": "relu", "calls": ["relu_forward"]}, {"name": "affine", "calls": ["affine_forward"]}]
    tests = [Graded("test_alt", 0.0, 1.0, "failed", "", "check_alt", ""),
             Graded("test_relu", 1.0, 1.0, "passed", "", "check_relu", ""),
             Graded("test_affine_fast", 0.0, 1.0, "timeout", "", "check_affine", "")]
    used = {"test_alt": {"bn_chain"}, "test_relu": {"relu"}, "test_affine_fast": {"affine"}}
    assert caught_functions(tests, used, specs) == {"batchnorm_backward_alt", "batchnorm_forward", "affine_forward"}

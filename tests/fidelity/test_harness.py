"""The fidelity harness itself, on the toy unit: each verdict it can give, and the file's checks.

The toy graders check ``quad``'s value, its gradient against the formula, and the gradient against the
student's own centered differences; the variants below are chosen so that each rule of the harness
(killed, survived, equivalent, wrongly equivalent, correct kept, correct failed, malformed edit,
coverage) decides one of them, and the test fails if the harness decides it otherwise.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from pipelines.errors import DeepgradeError
from pipelines.grade.fidelity import Variant, affected_names, apply_variant, check_fidelity
from pipelines.grade.unit import Unit
from tests.grading import toy

VALUE = "return 0.5 * float(np.sum(w * x * x)), w * x"

FIDELITY = {
    "functions": {
        "quad": {
            "cell": "quad_impl",
            "bugs": [
                {"name": "no_half", "why": "value without the 1/2", "replace": VALUE,
                 "with": "return float(np.sum(w * x * x)), w * x"},
                {"name": "gradient_sign", "why": "minus the gradient", "replace": VALUE,
                 "with": "return 0.5 * float(np.sum(w * x * x)), -w * x"},
                {"name": "not_a_bug", "why": "the same value written another way, wrongly listed as a bug",
                 "replace": VALUE, "with": "return float(np.sum(w * x * x)) / 2, w * x"},
                {"name": "equivalent", "why": "a rewrite", "equivalent": True, "replace": VALUE,
                 "with": "return float(0.5 * np.dot(w, x * x)), x * w"},
                {"name": "falsely_equivalent", "why": "drops w from the gradient", "equivalent": True,
                 "replace": VALUE, "with": "return 0.5 * float(np.sum(w * x * x)), x"},
                {"name": "missing_text", "why": "a replace text that is not in the cell", "replace": "no such text",
                 "with": "x"},
            ],
            "correct": [
                {"name": "einsum", "why": "einsum", "define": (
                    "def quad(x, w):\n    return 0.5 * float(np.einsum('i,i,i->', w, x, x)), np.einsum('i,i->i', w, x)\n")},
                {"name": "wrong_correct", "why": "listed as correct but doubles the gradient", "define": (
                    "def quad(x, w):\n    return 0.5 * float(np.sum(w * x * x)), 2 * w * x\n")},
            ],
        }
    }
}


@pytest.fixture(scope="module")
def report(toy_root: Path):
    (toy_root / "assignments" / toy.UNIT / "fidelity.yaml").write_text(yaml.safe_dump(FIDELITY))
    return check_fidelity(Unit.load(toy.UNIT), workers=2)


def _verdict(report, name: str):
    return next(v for v in report.verdicts if v.variant.name == name)


def test_bugs_that_lose_points_with_a_message_naming_the_function_are_killed(report) -> None:
    for name in ("no_half", "gradient_sign"):
        verdict = _verdict(report, name)
        assert verdict.ok and verdict.lost and verdict.names_function, verdict.problem()


def test_a_bug_the_graders_miss_is_a_problem(report) -> None:
    verdict = _verdict(report, "not_a_bug")
    assert not verdict.ok and "survived" in verdict.problem()


def test_equivalent_variants_must_keep_every_point(report) -> None:
    assert _verdict(report, "equivalent").ok
    falsely = _verdict(report, "falsely_equivalent")
    assert not falsely.ok and "lost points it should keep" in falsely.problem()


def test_correct_alternatives_must_keep_every_point(report) -> None:
    assert _verdict(report, "einsum").ok
    assert not _verdict(report, "wrong_correct").ok


def test_an_edit_that_does_not_apply_is_reported_not_skipped(report) -> None:
    verdict = _verdict(report, "missing_text")
    assert not verdict.ok and "occurs 0 times" in (verdict.error or "")


def test_the_table_counts_and_the_standards_minimum(report) -> None:
    assert list(report.rows()) == [("quad", 2, 4, 2, 1, 2)]
    problems = "\n".join(report.problems())
    assert "quad has 4 buggy variants (at least 5)" in problems
    # The export test needs the executed notebook: it fails on the source and is left out.
    assert "test_exported_answer" not in report.applicable and "test_value" in report.applicable


def test_probes_the_graders_call_must_be_listed(toy_root: Path) -> None:
    (toy_root / "assignments" / toy.UNIT / "fidelity.yaml").write_text(yaml.safe_dump({"functions": {}}))
    from pipelines.grade.fidelity import coverage_problems, load_variants

    unit = Unit.load(toy.UNIT)
    assert any("probes call quad" in p for p in coverage_problems(unit, load_variants(unit)))


def test_define_replaces_a_method_and_keeps_its_indentation() -> None:
    cell = "class A:\n    def f(self):\n        return 1\n\n    def g(self):\n        return 2\n"
    variant = Variant("A.f", "v", "correct", "", "c", define="def f(self):\n    return 3\n")
    assert apply_variant(cell, variant) == "class A:\n    def f(self):\n        return 3\n\n    def g(self):\n        return 2\n"
    with pytest.raises(DeepgradeError, match="class B is not defined"):
        apply_variant(cell, Variant("B.f", "v", "correct", "", "c", define="def f(self): pass"))


def test_an_edit_reaches_every_name_that_uses_what_it_changed() -> None:
    before = "import numpy as np\ndef f(x):\n    return x\ndef g(x):\n    return f(x)\nclass K(object):\n    pass\nclass L(K):\n    pass\n"
    assert affected_names(before, before.replace("return x", "return -x")) == {"f", "g"}
    assert affected_names(before, before.replace("pass\nclass L", "z = 1\nclass L")) == {"K", "L"}
    assert affected_names(before, before + "def broken(:\n") is None


def test_define_replaces_a_top_level_class() -> None:
    cell = "import numpy as np\n\n\nclass Sig(Base):\n    act = 'sigmoid'\n\n\ndef f():\n    return 1\n"
    variant = Variant("Sig", "v", "correct", "", "c", define="class Sig(Base):\n    act = 'logistic'\n")
    assert apply_variant(cell, variant) == "import numpy as np\n\n\nclass Sig(Base):\n    act = 'logistic'\n\n\ndef f():\n    return 1\n"


def test_a_variant_that_stops_the_shared_sandbox_costs_no_other_variant_its_verdict(toy_root: Path) -> None:
    """Variants share one probe sandbox (``fidelity.BATCH`` at a time); one that kills the probe worker
    leaves the others of its batch unreported, and they are probed again alone."""
    from pipelines.grade import fidelity

    killer = "def quad(x, w):\n    import os, signal\n    os.kill(os.getppid(), signal.SIGKILL)\n"
    functions = {"quad": {"cell": "quad_impl", "bugs": [
        {"name": "kills_the_checker", "why": "kills its parent process", "define": killer},
        {"name": "gradient_sign", "why": "minus the gradient", "replace": VALUE, "with": "return 0.5 * float(np.sum(w * x * x)), -w * x"},
    ], "correct": [{"name": "einsum", "why": "einsum", "define": (
        "def quad(x, w):\n    return 0.5 * float(np.einsum('i,i,i->', w, x, x)), np.einsum('i,i->i', w, x)\n")}]}}
    (toy_root / "assignments" / toy.UNIT / "fidelity.yaml").write_text(yaml.safe_dump({"functions": functions}))
    assert fidelity.BATCH >= 3
    report = check_fidelity(Unit.load(toy.UNIT), workers=1)
    verdicts = {v.variant.name: v for v in report.verdicts}
    assert verdicts["kills_the_checker"].ok and verdicts["kills_the_checker"].lost
    assert verdicts["gradient_sign"].ok, verdicts["gradient_sign"].problem()
    assert verdicts["einsum"].ok, verdicts["einsum"].problem()


def test_each_bug_has_a_cost_and_the_report_names_the_largest(report) -> None:
    """Issue #21 §2: the harness reports what one bug costs, and where."""
    for verdict in report.bugs:
        assert verdict.cost == sum(t.max_points for t in verdict.lost)
        assert verdict.cells == sorted({t.cell for t in verdict.lost})
    worst = report.largest_cost()
    assert worst is not None and worst.cost == max(v.cost for v in report.bugs) > 0
    summary = report.cost_summary()
    assert summary[0].startswith(f"largest cost of one bug: {worst.cost:g} points ({worst.variant.label}: check_quad)")
    assert summary[1] == f"bugs reaching more than one graded function: 0 of {len(report.bugs)}"


def test_a_bound_on_one_bugs_cost_is_enforced(report) -> None:
    from dataclasses import replace

    worst = report.largest_cost()
    assert replace(report, max_bug_cost=worst.cost).cost_problems() == []
    assert any(f"{worst.variant.label} costs {worst.cost:g} points" in p
               for p in replace(report, max_bug_cost=worst.cost - 1).cost_problems())


def test_a_bug_reaching_two_graded_functions_is_listed(report) -> None:
    """A bug whose lost tests lie in two self-check cells reaches two graded functions (one cell listing two
    functions on its Graded line is one reach, not two)."""
    from dataclasses import replace

    from pipelines.grade.fidelity import Verdict
    from pipelines.results import TestResult

    variant = next(v for v in report.bugs if v.lost).variant
    lost = [TestResult("test_value", 0, 1, "failed", "", "check_quad"), TestResult("test_answer", 0, 2, "failed", "", "check_results")]
    two_cells = replace(report, verdicts=[Verdict(variant, lost)], graded={"check_quad": ["quad"], "check_results": ["answer"]})
    assert two_cells.spreading() == two_cells.bugs
    assert f"  {variant.label}: 3 points in quad, answer" in two_cells.cost_summary()
    one_cell = replace(report, graded={"check_quad": ["quad", "other_function"]})
    assert one_cell.spreading() == []


def test_every_self_check_cell_needs_a_graded_line_that_matches_its_probes(report, toy_root: Path) -> None:
    """The toy's cells have no `# Graded:` line; a line naming another exported function disagrees with the
    probes; a cell scored on exported results may name what the notebook made (`answer`)."""
    import nbformat

    from pipelines.grade.fidelity import graded_line_problems

    assert "self-check cell 'check_quad' has no `# Graded: <functions>` line" in report.problems()
    reads = {t.name: {"quad_random"} for t in report.baseline if t.cell == "check_quad"}
    path = toy_root / "assignments" / toy.UNIT / f"{toy.UNIT}.ipynb"
    original = path.read_text()

    def problems(check_quad_line: str) -> list[str]:
        nb = toy.source_notebook()
        nb.cells[2].source += "\n\ndef quad_twice(x, w):\n    return quad(x, w)\n"
        nb.cells[3].source = f"# Graded: {check_quad_line}\n" + nb.cells[3].source
        nb.cells[4].source = "# Graded: answer\n" + nb.cells[4].source
        nbformat.write(nb, path)
        return graded_line_problems(Unit.load(toy.UNIT), report.baseline, reads, {"quad_random": "quad"})

    try:
        assert problems("quad") == []
        assert problems("quad_twice") == ["self-check cell 'check_quad' says `Graded: quad_twice`, but its probes call quad"]
        assert problems("quad, quad_twice") == [
            "self-check cell 'check_quad' says `Graded: quad, quad_twice`, but its probes call quad"]
        # A remark may name what a check compares with; every probed function must be named somewhere.
        assert problems("quad_twice (against your quad)") == [
            "self-check cell 'check_quad' says `Graded: quad_twice (against your quad)`, but its probes call quad"]
        assert problems("quad (compared with nothing else)") == []
    finally:
        path.write_text(original)

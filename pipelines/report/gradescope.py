"""A student's grade as Gradescope's autograder ``results.json``, so a course can run deepgrade inside
a Gradescope autograder image (``scripts/gradescope/run_autograder``).

The format is Gradescope's "Autograder Specifications" (gradescope-autograders.readthedocs.io/en/latest/specs):
a top-level ``score`` (here the score after the late policy, which overrides the sum of the tests),
``execution_time`` (the notebook runs' seconds), ``output`` and ``stdout_visibility``, and ``tests[]``
of ``name``, ``score``, ``max_score``, ``status`` (``passed`` or ``failed``; left out when unknown),
``output``, ``visibility`` and ``tags``.

Two kinds of tests: each visible self-check cell of the notebook (worth 0 points: its points are the
hidden graders'), as the student saw it run, and each hidden grader, with its points and its
student-facing message. Their visibility is set per kind (``params.yaml: exports.gradescope``: self-checks
``visible``, hidden graders ``after_published``) and a unit may say otherwise
(``exports.gradescope.units.<unit>``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pipelines.errors import DeepgradeError
from pipelines.execute import statuses
from pipelines.report.feedback import feedback_text
from pipelines.results import NOT_RUN, StudentResult, TestResult

VISIBILITIES = ("hidden", "after_due_date", "after_published", "visible")
# Runs in which every cell ran (errors do not stop a notebook): a self-check that did not fail passed.
_RAN_TO_THE_END = (statuses.OK, statuses.ERROR, statuses.TAMPERED)


@dataclass(frozen=True)
class GradescopeSettings:
    """Visibility of the self-check tests, of the hidden graders' tests and of the autograder's stdout."""

    self_check: str = "visible"
    hidden: str = "after_published"
    stdout: str = "hidden"

    @classmethod
    def from_params(cls, params: dict[str, Any], unit: str) -> GradescopeSettings:
        section = dict((params.get("exports") or {}).get("gradescope") or {})
        chosen = {**{k: v for k, v in section.items() if k != "units"}, **((section.get("units") or {}).get(unit) or {})}
        unknown = set(chosen) - {"self_check", "hidden", "stdout"}
        if unknown:
            raise DeepgradeError(f"params.yaml: exports.gradescope: unknown key(s) {', '.join(sorted(unknown))}")
        for key, value in chosen.items():
            if value not in VISIBILITIES:
                raise DeepgradeError(f"params.yaml: exports.gradescope ({unit}): {key}: {value!r} is not one of "
                                     f"{', '.join(VISIBILITIES)}")
        return cls(**chosen)


def gradescope_results(result: StudentResult, self_checks: list[str], settings: GradescopeSettings) -> dict[str, Any]:
    """results.json for Gradescope of one student's grade; ``self_checks``: the unit's self-check cells in order."""
    tests = [_self_check(cell, result, settings.self_check) for cell in self_checks]
    tests += [_hidden(t, settings.hidden) for t in result.tests]
    data: dict[str, Any] = {"score": result.score, "output": feedback_text(result), "stdout_visibility": settings.stdout,
                            "tests": tests}
    if "notebook_seconds" in result.resources:
        data["execution_time"] = round(result.resources["notebook_seconds"], 1)
    return data


def _self_check(cell: str, result: StudentResult, visibility: str) -> dict[str, Any]:
    test: dict[str, Any] = {"name": f"self-check {cell}", "score": 0.0, "max_score": 0.0, "visibility": visibility,
                            "tags": [cell, "self-check"]}
    if cell in result.failed_self_checks:
        test.update(status="failed", output=f"This check failed in your notebook: {result.failed_self_checks[cell]}")
    elif result.status in _RAN_TO_THE_END:
        test.update(status="passed", output="This check passed in your notebook.")
    else:
        test["output"] = f"Your notebook stopped early ({result.status}), so whether this check passed is not known."
    return test


def _hidden(t: TestResult, visibility: str) -> dict[str, Any]:
    test: dict[str, Any] = {"name": t.description or t.name, "score": t.points, "max_score": t.max_points,
                            "output": t.message, "visibility": visibility, "tags": [t.cell, "hidden"]}
    if t.status != NOT_RUN:
        test["status"] = "passed" if t.status == "passed" else "failed"
    return test

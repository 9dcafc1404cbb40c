"""Every unit's graders against its own fidelity.yaml (UNIT_STANDARD.md, "Grader fidelity").

Each unit's variants run through the probe and scoring steps only (no notebook execution): every
bug must lose points with a message naming its function, every correct alternative and every
equivalent variant must keep every point, and each graded function needs at least five bugs and
two correct alternatives; each self-check cell's `Graded:` line names what its probes call. The
failure message lists each problem; `deepgrade fidelity <unit>` prints the same verdicts as a table,
with the per-bug cost report.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from pipelines.grade.fidelity import FIDELITY_FILE, check_fidelity
from pipelines.grade.unit import Unit

REPO = Path(__file__).resolve().parents[2]
UNITS = sorted(p.parent.name for p in (REPO / "assignments").glob("*/assignment.yaml"))


def test_there_are_units_to_check() -> None:
    assert UNITS, "no assignments/*/assignment.yaml found"


@pytest.mark.parametrize("unit", UNITS)
def test_every_unit_lists_the_variants_of_its_graded_functions(unit: str) -> None:
    assert (REPO / "assignments" / unit / FIDELITY_FILE).is_file(), f"assignments/{unit}/{FIDELITY_FILE} is missing"


@pytest.mark.parametrize("unit", UNITS)
def test_graders_kill_every_bug_and_keep_every_correct_variant(unit: str) -> None:
    """Also the per-bug cost report (printed with ``-s``, and in every failure): the largest cost of one
    bug and the bugs that reach more than one graded function; a unit's ``max_bug_cost`` bounds them."""
    report = check_fidelity(Unit.load(unit))
    counts = "; ".join(f"{f}: {k}/{b} bugs killed, {e} equivalent, {c}/{n} correct kept" for f, k, b, e, c, n in report.rows())
    costs = "\n".join(report.cost_summary())
    print(f"{unit}: {costs}")
    problems = report.problems()
    assert not problems, f"{unit} ({counts}):\n{costs}\n" + "\n".join(problems)

"""No points for doing nothing (issue #21 §3): in every unit, a submission whose answer cells are left as
released, or whose every function just returns 0.0 or a junk object, scores 0.

Each lazy submission is the unit's export cells with every solution region replaced (the release's
stub, ``return 0.0``, ``return 0.0, 0.0, 0.0``, ``return object()``; ``pass`` in a constructor), graded through the probe and
scoring steps (``fidelity.score_sources``). Its notebook is not run: the training cells of such a
notebook fail (its models cannot be built or return nothing usable), so nothing is exported, and every
check of exported results fails as it does here. A property a do-nothing function also has (inputs
left unmodified, fast enough) must award its points only together with correct values.
"""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest

from pipelines.grade import notebook as nbtools
from pipelines.grade.fidelity import score_sources
from pipelines.grade.unit import Unit

REPO = Path(__file__).resolve().parents[2]
UNITS = sorted(p.parent.name for p in (REPO / "assignments").glob("*/assignment.yaml"))
REGION = re.compile(r"^( *)### BEGIN SOLUTION\n.*?^ *### END SOLUTION\n?", re.MULTILINE | re.DOTALL)


def lazy_cell(source: str, body: str) -> str:
    """An export cell with each solution region replaced by ``body`` (``pass`` inside ``__init__``)."""
    def replace(found: re.Match[str]) -> str:
        indent = found.group(1)
        enclosing = re.findall(r"^ *def (\w+)\(", source[:found.start()], re.MULTILINE)
        return f"{indent}{'pass' if enclosing and enclosing[-1] == '__init__' else body}\n"

    return REGION.sub(replace, source)


def lazy_sources(unit: str) -> dict[str, str]:
    """The unit's export source as released (stubs), and with every answer returning zeros or a junk object."""
    nb = nbformat.read(REPO / "assignments" / unit / f"{unit}.ipynb", as_version=4)
    exports = [c for c in nb.cells if nbtools.is_export(c)]
    blank = [nbtools.release_stub(c).source if nbtools.is_solution(c) else c.source for c in exports]
    return {"blank": "\n\n".join(blank) + "\n",
            **{label: "\n\n".join(lazy_cell(c.source, body) if nbtools.is_solution(c) else c.source for c in exports) + "\n"
               for label, body in (("zeros", "return 0.0"), ("zero_tuples", "return 0.0, 0.0, 0.0"),
                                   ("junk", "return object()"))}}


@pytest.mark.parametrize("unit", UNITS)
def test_blank_and_junk_submissions_score_nothing(unit: str) -> None:
    scored = score_sources(Unit.load(unit), lazy_sources(unit))
    earned = {label: {t.name: t.points for t in tests if t.points} for label, tests in scored.items()}
    assert earned == {"blank": {}, "zeros": {}, "zero_tuples": {}, "junk": {}}, earned

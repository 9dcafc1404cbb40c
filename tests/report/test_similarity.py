"""The similarity report: near-copies are flagged however they were disguised (renamed, reformatted,
reordered), independently written correct solutions are not, and starter code counts for nothing.

Near-copies are generated from every unit's source export cells; the independent solutions are each
unit's correct alternatives written as whole definitions (``fidelity.yaml``, ``define``), compared
with the source's definition of the same function. (Alternatives given as a one-line ``replace`` of
the source are the source with one edit: near-copies by construction, so not used here.)
"""

from __future__ import annotations

import ast
import json
import textwrap
from collections.abc import Callable
from pathlib import Path

import nbformat
import pytest
import yaml

from pipelines.cli import main
from pipelines.grade import notebook as nbtools
from pipelines.grade.fidelity import apply_variant, load_variants
from pipelines.grade.unit import Unit
from pipelines.params import _load, load_params
from pipelines.similarity import Settings, compare, fingerprint, starter_hashes
from pipelines.similarity_report import starter_code
from tests.grading import toy
from tests.grading.conftest import FAST_LIMITS
from tests.report.copies import ANN, CID, disguised, reformatted, renamed, reordered

REPO = Path(__file__).resolve().parents[2]
UNITS = sorted(p.parent.name for p in (REPO / "assignments").glob("*/fidelity.yaml"))
def settings() -> Settings:
    return Settings.from_params(load_params(REPO / "params.yaml"))


def export_cells(unit: Unit) -> dict[str, str]:
    return {str(nbtools.grade_id(c)): c.source for _, c in unit.source_cells() if nbtools.is_export(c)}


def definition(code: str, function: str) -> str:
    """The source text of the top-level def or class (or ``Class.method``) named ``function``."""
    tree = ast.parse(code)
    *owner, name = function.split(".")
    body = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == owner[0]).body if owner else tree.body
    node = next(n for n in body if isinstance(n, ast.FunctionDef | ast.ClassDef) and n.name == name)
    return textwrap.dedent(str(ast.get_source_segment(code, node)))


@pytest.mark.parametrize("disguise", [renamed, reformatted, reordered, disguised], ids=lambda f: f.__name__)
@pytest.mark.parametrize("unit_name", UNITS)
def test_a_near_copy_of_a_whole_solution_is_flagged(unit_name: str, disguise: Callable[[str], str]) -> None:
    unit, s = Unit.load(unit_name), settings()
    original = "\n\n".join(export_cells(unit).values())
    starter = starter_hashes(starter_code(unit), s)
    pair = compare("original", fingerprint(original, starter, s), "copy", fingerprint(disguise(original), starter, s))
    assert pair.flagged(s), f"{unit_name}: {pair.score:.2f} with {pair.shared} shared"


@pytest.mark.parametrize("unit_name", UNITS)
def test_independently_written_functions_are_not_flagged(unit_name: str) -> None:
    unit, s = Unit.load(unit_name), settings()
    cells, starter = export_cells(unit), starter_hashes(starter_code(unit), s)
    alternatives = [v for v in load_variants(unit) if v.kind == "correct" and v.define]
    assert alternatives, f"{unit_name} has no correct alternative written as a whole definition"
    flagged = []
    for v in alternatives:
        ours = definition(cells[v.cell], v.function)
        theirs = definition(apply_variant(cells[v.cell], v), v.function)
        pair = compare("source", fingerprint(ours, starter, s), v.label, fingerprint(theirs, starter, s))
        if pair.flagged(s):
            flagged.append(f"{v.label}: {pair.score:.2f} with {pair.shared} shared")
    assert not flagged


def test_the_starter_code_counts_for_nothing() -> None:
    """Two students who answered nothing share the whole starter and nothing else: no fingerprint."""
    unit, s = Unit.load("a03_fc_nets"), settings()
    starter = starter_code(unit)
    assert fingerprint(starter, set(), s).functions  # without the exclusion the stubs would match
    assert fingerprint(starter, starter_hashes(starter, s), s).functions == {}


def test_code_that_does_not_tokenize_is_compared_up_to_the_error() -> None:
    s = settings()
    code = "def f(x):\n    total = 0\n    for i in range(len(x)):\n        total += x[i] * x[i] - 1\n    return total\n"
    broken = fingerprint(code + 'def g(:\n    """never closed\n', set(), s).functions
    assert broken["f"] == fingerprint(code, set(), s).functions["f"]


@pytest.fixture
def toy_class(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A toy course: ann, bob (ann's work disguised), cid (independent), dan (the starter), eve (no notebook)."""
    toy.make_project(tmp_path, yaml.safe_load((REPO / "params.yaml").read_text()), FAST_LIMITS)
    monkeypatch.setenv("DEEPGRADE_ROOT", str(tmp_path))
    _load.cache_clear()
    for student, body in (("ann", ANN), ("bob", disguised(ANN)), ("cid", CID)):
        toy.submission(tmp_path, student, body)
    toy.submission(tmp_path, "dan", nbtools.release_stub(toy.source_notebook().cells[2]).source)
    toy.submission(tmp_path, "eve", raw=b"{not json")
    yield tmp_path
    _load.cache_clear()


def test_the_report_ranks_pairs_and_shows_flagged_ones_side_by_side(toy_class: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = toy_class / "staff"
    assert main(["similarity", toy.UNIT, str(toy_class / "submitted"), "--out", str(out)]) == 0
    assert "ann & bob" in capsys.readouterr().out
    report = json.loads((out / "similarity.json").read_text())
    assert report["students"] == 5 and len(report["pairs"]) == 10
    assert [(p["a"], p["b"]) for p in report["pairs"] if p["flagged"]] == [("ann", "bob")]
    assert (report["pairs"][0]["a"], report["pairs"][0]["b"]) == ("ann", "bob")
    assert all(p["score"] == 0 for p in report["pairs"] if "dan" in (p["a"], p["b"]) or "eve" in (p["a"], p["b"]))
    html = (out / "similarity.html").read_text()
    assert "Staff only" in html and "<mark>" in html and "_weighted_squares" in html and "w_" in html
    assert "np.multiply" not in html  # cid is in no flagged pair: their code is not shown
    written = {p.relative_to(toy_class).as_posix() for p in toy_class.rglob("*") if p.is_file()}
    assert not {w for w in written if w.startswith("submitted/") and not w.endswith(f"{toy.UNIT}.ipynb")}


def test_a_notebook_with_export_cells_retagged_is_still_compared(toy_class: Path) -> None:
    """Cells are found by the source's grade ids, not by the tags a student can remove."""

    def untag(nb: nbformat.NotebookNode) -> None:
        nb.cells[2].source = disguised(ANN)
        nb.cells[2].metadata["tags"] = []

    toy.submission(toy_class, "bob", mutate=untag)
    out = toy_class / "staff"
    main(["similarity", toy.UNIT, str(toy_class / "submitted"), "--out", str(out)])
    report = json.loads((out / "similarity.json").read_text())
    assert [(p["a"], p["b"]) for p in report["pairs"] if p["flagged"]] == [("ann", "bob")]

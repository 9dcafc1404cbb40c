"""docs/curriculum.md is a contract: every name in its contract table is exported by ``reference.numpy``.

The names are read from the table itself (not copied here), so a name added to the curriculum without
a reference implementation fails this test. The course's specification holds the same list
(``../shared/spec/CURRICULUM.md``, beside the checkout on course machines, or ``$DEEPGRADE_SPEC_DIR``);
when it is there, the two lists must match exactly, so the project's copy cannot drift.
"""

from __future__ import annotations

import inspect
import os
import re
from pathlib import Path

import pytest

import reference.numpy as ref

REPO = Path(__file__).resolve().parents[2]
CURRICULUM = REPO / "docs" / "curriculum.md"
SPEC = Path(os.environ.get("DEEPGRADE_SPEC_DIR", REPO.parent / "shared" / "spec")) / "CURRICULUM.md"
CONTRACT_HEADING = "## Contract names"

# Backticked words in the specification's table that are not implementations: parameters, dict keys,
# libraries, devices, the book's module names (the modules exist as ``reference.numpy.updater`` etc.) and
# CS231n's names the specification gives in parentheses (`Solver`: the notebooks define `Trainer` only).
SPEC_NOT_NAMES = {"config", "cuda", "optim", "Solver", "t", "torch", "y", "updater"}


def table_rows(text: str) -> list[list[str]]:
    """The cells of each unit row (``| aNN_... |``) of a markdown table."""
    return [[cell.strip() for cell in line.split("|")[1:-1]] for line in text.splitlines() if line.startswith("| a0")]


def curriculum_names() -> dict[str, set[str]]:
    """Unit -> contract names, from the contract table of docs/curriculum.md (names written in full)."""
    section = CURRICULUM.read_text(encoding="utf-8").split(CONTRACT_HEADING, 1)[1].split("\n## ", 1)[0]
    return {unit: set(re.findall(r"`([A-Za-z_]\w*)`", names)) for unit, names in table_rows(section)}


def spec_names() -> set[str]:
    """Every name in the specification's 'students implement' column, ``a_forward/backward`` expanded."""
    names: set[str] = set()
    for row in table_rows(SPEC.read_text(encoding="utf-8")):
        for span in re.findall(r"`([^`]+)`", row[1]):
            match = re.match(r"([A-Za-z_]\w*)((?:/[A-Za-z_]+)*)", span)
            if not match:
                continue
            base, alternatives = match.groups()
            names.add(base)
            stem = base.rsplit("_", 1)[0]
            names.update(f"{stem}_{alt}" for alt in alternatives.split("/") if alt)
    return names - SPEC_NOT_NAMES


def all_curriculum_names() -> set[str]:
    return set().union(*curriculum_names().values())


def exported_methods() -> set[str]:
    """Method names of the classes ``reference.numpy`` exports (``RBM.propup``, ``LinearClassifier.train``...)."""
    return {
        name
        for _, cls in inspect.getmembers(ref, inspect.isclass)
        if cls.__module__.startswith("reference.numpy")
        for name, _ in inspect.getmembers(cls, callable)
    }


def test_the_contract_table_is_readable():
    units = curriculum_names()
    assert len(units) == 10, sorted(units)
    assert {"svm_loss_naive", "CaptioningRNN", "lstm_step_backward", "adam"} <= all_curriculum_names()


@pytest.mark.skipif(not SPEC.exists(), reason=f"no course specification at {SPEC} to compare with")
def test_the_contract_table_matches_the_specification():
    ours, theirs = all_curriculum_names(), spec_names()
    assert ours == theirs, (
        f"docs/curriculum.md and {SPEC} list different contract names: only in docs: {sorted(ours - theirs)}, "
        f"only in the specification: {sorted(theirs - ours)}. Update the contract table of docs/curriculum.md."
    )


@pytest.mark.parametrize("name", sorted(all_curriculum_names()))
def test_every_curriculum_name_is_exported(name):
    """Functions and classes at package level; methods (``propup``, ``sample``) on an exported class."""
    assert hasattr(ref, name) or name in exported_methods(), (
        f"docs/curriculum.md names {name!r} but reference.numpy neither exports it nor has a class with that method"
    )

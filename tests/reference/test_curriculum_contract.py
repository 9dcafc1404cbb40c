"""CURRICULUM.md is a contract: every name it lists is exported by ``reference.numpy``.

The names are read from the curriculum table itself (not copied here), so a name added to the
spec without a reference implementation fails this test.
"""

from __future__ import annotations

import inspect
import os
import re
from pathlib import Path

import pytest

import reference.numpy as ref

SPEC = Path(os.environ.get("DEEPGRADE_SPEC_DIR", Path(__file__).resolve().parents[3] / "shared" / "spec"))

# Backticked words in the table that are not implementations: parameters, dict keys, libraries,
# devices and the book's module names (the modules exist as ``reference.numpy.updater`` etc.).
NOT_NAMES = {"config", "cuda", "optim", "t", "torch", "y", "updater"}


def curriculum_names() -> set[str]:
    """Every name in the 'students implement' column, with ``a_forward/backward`` expanded to both."""
    table = (SPEC / "CURRICULUM.md").read_text(encoding="utf-8")
    names: set[str] = set()
    for row in (line for line in table.splitlines() if line.startswith("| a0")):
        for span in re.findall(r"`([^`]+)`", row.split("|")[2]):
            match = re.match(r"([A-Za-z_]\w*)((?:/[A-Za-z_]+)*)", span)
            if not match:
                continue
            base, alternatives = match.groups()
            names.add(base)
            stem = base.rsplit("_", 1)[0]
            names.update(f"{stem}_{alt}" for alt in alternatives.split("/") if alt)
    return names - NOT_NAMES


def exported_methods() -> set[str]:
    """Method names of the classes ``reference.numpy`` exports (``RBM.propup``, ``LinearClassifier.train``...)."""
    return {
        name
        for _, cls in inspect.getmembers(ref, inspect.isclass)
        if cls.__module__.startswith("reference.numpy")
        for name, _ in inspect.getmembers(cls, callable)
    }


def test_the_curriculum_table_is_readable():
    names = curriculum_names()
    assert {"svm_loss_naive", "CaptioningRNN", "lstm_step_backward", "adam"} <= names, sorted(names)


@pytest.mark.parametrize("name", sorted(curriculum_names()) if (SPEC / "CURRICULUM.md").exists() else [])
def test_every_curriculum_name_is_exported(name):
    """Functions and classes at package level; methods (``propup``, ``sample``) on an exported class."""
    assert hasattr(ref, name) or name in exported_methods(), (
        f"CURRICULUM.md names {name!r} but reference.numpy neither exports it nor has a class with that method"
    )

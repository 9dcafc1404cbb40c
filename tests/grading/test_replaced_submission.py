"""A submission replaced while its batch runs: a grade is stored under the key of the bytes graded.

The batch looks at every submission first (is its grade cached?) and the grading reads it again,
later, in a worker. A student who replaces the notebook in between must get the grade of what was
graded, and that grade must never be served for the other content.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import pipelines.grade.batch as batch
from tests.grading import toy

WRONG = """
import numpy as np
def quad(x, w):
    return 0.5 * float(np.sum(w * x * x)) + 1.0, w * x + 1.0
"""


def _score(out: Path) -> float:
    return float(json.loads((out / "replaced" / "results.json").read_text())["score"])


def test_a_submission_replaced_mid_batch_is_graded_and_keyed_as_it_was_read(
        toy_root: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    notebook = toy.submission(toy_root, "replaced", body=WRONG)
    wrong = notebook.read_bytes()
    right = toy.submission(toy_root, "replaced").read_bytes()  # the solution: 5 points
    looked = batch.scores_key

    def replaced_after_the_look(*args: object) -> str:  # the batch has read the solution; the student resubmits
        key = looked(*args)
        notebook.write_bytes(wrong)
        return key

    with monkeypatch.context() as patched:
        patched.setattr(batch, "scores_key", replaced_after_the_look)
        first = batch.autograde(toy.UNIT, toy_root / "submitted", tmp_path / "first")
    assert (first.graded, _score(tmp_path / "first")) == (1, 0.0)  # what was there when it was graded

    notebook.write_bytes(right)
    back = batch.autograde(toy.UNIT, toy_root / "submitted", tmp_path / "back")
    assert (back.graded, _score(tmp_path / "back")) == (1, 5.0)  # never the wrong work's grade, cached under its key

    notebook.write_bytes(wrong)
    again = batch.autograde(toy.UNIT, toy_root / "submitted", tmp_path / "again")
    assert (again.graded, again.cached, _score(tmp_path / "again")) == (0, 1, 0.0)  # stored under its own key

"""Generate example submissions of an assignment from its source notebook.

Why: the grader must be exercised end to end on realistic submissions (a perfect one, a half-done
one, a subtly wrong one, one that never finishes, one that is not even JSON), and hand-written
notebooks would drift from the assignment. Each example is derived from the source with nbformat,
so it follows every edit of the unit. The unit says how its students differ in the ``examples``
section of its ``assignment.yaml``::

    examples:
      half_done: [impl_softmax_loss_naive, ...]       # answer cells left as the release stub
      wrong_gradient: {cell: impl_x, replace: "dW = a + b", with: "dW = a"}   # a one-line bug
      timeout: tune_svm                               # answer cell that starts with an endless loop

``deepgrade examples <unit> [--out DIR]`` writes ``<out>/<student>/<unit>/<notebook>.ipynb`` for the
students in ``STUDENTS``; ``<out>`` defaults to ``examples/<unit>/submitted`` (``paths.examples_dir``),
the output of the unit's DVC stage ``examples@<unit>``.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nbformat
import yaml
from nbformat import NotebookNode

from pipelines.errors import DeepgradeError
from pipelines.grade import notebook as nbtools
from pipelines.paths import project_root

STUDENTS = ("full", "half_done", "wrong_gradient", "timeout", "invalid_json")
# What a notebook cut off mid-save looks like: the start of a JSON document.
TRUNCATED_JSON = '{"cells": [{"cell_type": "code", "source": "cut off mid-save'


@dataclass(frozen=True)
class Recipe:
    """How the example students of one assignment differ from the source solution."""

    unanswered: tuple[str, ...]
    bug_cell: str
    bug_text: str
    bug_replacement: str
    endless: str

    @classmethod
    def from_config(cls, unit: str, config: dict[str, Any]) -> Recipe:
        section = config.get("examples")
        if not section:
            raise DeepgradeError(f"assignments/{unit}/assignment.yaml has no 'examples' section (see pipelines/examples.py)")
        try:
            bug = section["wrong_gradient"]
            return cls(tuple(section["half_done"]), bug["cell"], bug["replace"], bug["with"], section["timeout"])
        except (KeyError, TypeError) as exc:
            raise DeepgradeError(
                f"assignments/{unit}/assignment.yaml: the 'examples' section needs half_done (a list of cells), "
                f"wrong_gradient (cell, replace, with) and timeout (a cell); missing {exc}"
            ) from exc


def solved(cell: NotebookNode) -> NotebookNode:
    """The answer cell as a student who solved it hands it in: the solution, without the markers."""
    cell = copy.deepcopy(cell)
    cell.source = "\n".join(line for line in cell.source.split("\n") if line.strip() not in (nbtools.BEGIN_SOLUTION, nbtools.END_SOLUTION))
    return cell


def _with_bug(cell: NotebookNode, recipe: Recipe) -> NotebookNode:
    count = cell.source.count(recipe.bug_text)
    if count != 1:
        raise DeepgradeError(
            f"examples recipe: {recipe.bug_text!r} occurs {count} times in cell '{recipe.bug_cell}' (expected once)"
        )
    cell.source = cell.source.replace(recipe.bug_text, recipe.bug_replacement)
    return cell


def _endless(cell: NotebookNode) -> NotebookNode:
    cell.source = "while True:  # an endless loop: the grader must stop it\n    pass\n" + cell.source
    return cell


def _writer(student: str, recipe: Recipe | None) -> Callable[[NotebookNode], NotebookNode]:
    """How ``student`` writes one answer cell of the source (``full`` needs no recipe)."""

    def write(cell: NotebookNode) -> NotebookNode:
        gid = nbtools.grade_id(cell)
        if recipe is None:
            return solved(cell)
        if student == "half_done" and gid in recipe.unanswered:
            return nbtools.release_stub(cell)
        answer = solved(cell)
        if student == "wrong_gradient" and gid == recipe.bug_cell:
            return _with_bug(answer, recipe)
        if student == "timeout" and gid == recipe.endless:
            return _endless(answer)
        return answer

    return write


def submitted_notebook(source: NotebookNode, student: str, recipe: Recipe | None) -> NotebookNode:
    """The source notebook as ``student`` hands it in (no outputs, like a fresh save)."""
    if recipe is None and student != "full":
        raise ValueError(f"the example student {student!r} needs the unit's examples recipe")
    nb = copy.deepcopy(source)
    write = _writer(student, recipe)
    nb.cells = [write(cell) if nbtools.is_solution(cell) else cell for cell in nb.cells]
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    return nb


def write_solution(source: NotebookNode, path: Path) -> None:
    """The ``full`` example: the solution as a student hands it in. ``deepgrade validate`` grades the
    very same bytes, so its run of the notebook is the ``full`` example's (the execution cache is keyed
    by the submitted bytes) and the grade stage does not run it again."""
    nb = submitted_notebook(source, "full", None)
    nbformat.validate(nb)
    nbformat.write(nb, path)


def make_examples(unit: str, out: Path) -> list[Path]:
    """Write every example student's submission of ``unit`` under ``out``; returns the files written."""
    folder = project_root() / "assignments" / unit
    config = yaml.safe_load((folder / "assignment.yaml").read_text()) or {}
    recipe = Recipe.from_config(unit, config)
    names = list(config.get("notebooks", []))
    sources = [nbtools.load_source(folder / name) for name in names]
    answers = {nbtools.grade_id(c) for nb in sources for c in nb.cells if nbtools.is_solution(c)}
    missing = sorted((set(recipe.unanswered) | {recipe.bug_cell, recipe.endless}) - answers)
    if missing:
        raise DeepgradeError(f"assignments/{unit}/assignment.yaml: examples name cells that are not answer cells: {missing}")
    written = []
    for student in STUDENTS:
        target = out / student / unit
        target.mkdir(parents=True, exist_ok=True)
        for name, source in zip(names, sources):
            path = target / name
            if student == "invalid_json":
                path.write_text(TRUNCATED_JSON)
            elif student == "full":
                write_solution(source, path)
            else:
                nb = submitted_notebook(source, student, recipe)
                nbformat.validate(nb)
                nbformat.write(nb, path)
            written.append(path)
    return written

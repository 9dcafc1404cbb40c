"""Restoring protected cells from the source notebook: what students may and may not change."""

from __future__ import annotations

import copy

import nbformat

from pipelines.grade.notebook import export_source, restore
from tests.grading import toy


def source() -> nbformat.NotebookNode:
    return toy.source_notebook()


def ids(nb: nbformat.NotebookNode) -> list[str | None]:
    return [c.metadata.get("nbgrader", {}).get("grade_id") for c in nb.cells]


def test_an_untouched_notebook_needs_no_restoring() -> None:
    done = restore(source(), source())
    assert done.tampering == [] and ids(done.notebook) == ids(source())


def test_a_deleted_test_cell_is_put_back_in_its_place() -> None:
    nb = source()
    del nb.cells[3]
    done = restore(nb, source())
    assert ids(done.notebook) == ids(source())
    assert done.tampering == ["the protected cell 'check_quad' was deleted; it was put back"]


def test_an_edited_or_retyped_test_cell_gets_its_source_back() -> None:
    for change in ("edit", "retype"):
        nb = source()
        if change == "edit":
            nb.cells[3].source = "assert True"
        else:
            nb.cells[3] = nbformat.v4.new_markdown_cell(nb.cells[3].source, metadata=nb.cells[3].metadata)
        done = restore(nb, source())
        assert done.notebook.cells[3].source == source().cells[3].source
        assert done.notebook.cells[3].cell_type == "code"
        assert "check_quad" in done.tampering[0]


def test_reordered_cells_come_back_in_source_order() -> None:
    nb = source()
    nb.cells = list(reversed(nb.cells))
    assert ids(restore(nb, source()).notebook) == ids(source())


def test_a_deleted_answer_is_graded_as_unanswered() -> None:
    nb = source()
    del nb.cells[2]
    done = restore(nb, source())
    assert "raise NotImplementedError" in done.notebook.cells[2].source
    assert "your answer cell 'quad_impl' was deleted" in done.tampering[0]


def test_student_cells_stay_after_the_answer_they_followed_and_answers_keep_their_metadata() -> None:
    nb = source()
    nb.cells[2].source = "def quad(x, w):\n    return helper(x, w)"
    nb.cells[2].metadata["nbgrader"]["locked"] = True  # edited metadata does not stick
    nb.cells.insert(3, nbformat.v4.new_code_cell("def helper(x, w):\n    return 0.0, x"))
    done = restore(nb, source())
    assert done.notebook.cells[3].source.startswith("def helper")
    assert done.notebook.cells[2].metadata == source().cells[2].metadata
    assert "return helper(x, w)" in export_source(done.notebook)


def test_a_duplicated_test_cell_does_not_replace_the_original() -> None:
    nb = source()
    twin = copy.deepcopy(nb.cells[3])
    twin.source = "pass"
    nb.cells.insert(4, twin)
    done = restore(nb, source())
    assert [c.source for c in done.notebook.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "check_quad"][0] \
        == source().cells[3].source

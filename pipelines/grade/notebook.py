"""Read a submitted notebook and restore what students may not change, from the source notebook.

Protected cells are the source's nbgrader cells that are locked or are autograded tests: a
protected cell that was deleted is put back where it belongs, one that was edited gets its source
text back, and each case is reported (status ``tampered``) instead of crashing the batch.
"""

from __future__ import annotations

import ast
import io
import re
import tokenize
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
from nbformat import NotebookNode

from pipelines.errors import DeepgradeError

EXPORT_TAG = "export"
# nbgrader's solution region markers in source notebooks.
BEGIN_SOLUTION, END_SOLUTION = "### BEGIN SOLUTION", "### END SOLUTION"


@dataclass
class Restored:
    """A submission ready to run, and what had to be restored in it."""

    notebook: NotebookNode
    tampering: list[str] = field(default_factory=list)


def read_notebook(path: Path) -> NotebookNode:
    """Parse ``path`` as a v4 notebook; raises ``DeepgradeError`` with the reason if it cannot."""
    try:
        nb = nbformat.read(path, as_version=4)
        nbformat.validate(nb)
    except (OSError, ValueError, nbformat.ValidationError, UnicodeDecodeError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DeepgradeError(f"{path.name} is not a valid Jupyter notebook ({first[:200]})") from exc
    return nb


def nbgrader_meta(cell: NotebookNode) -> dict:
    """The cell's nbgrader metadata (empty for a plain cell): the one place that reads it."""
    return cell.get("metadata", {}).get("nbgrader", {}) or {}


def grade_id(cell: NotebookNode) -> str | None:
    return nbgrader_meta(cell).get("grade_id")


def is_protected(cell: NotebookNode) -> bool:
    """Locked cells and autograded-test cells must be exactly as in the source."""
    return bool(nbgrader_meta(cell).get("locked")) or is_autograded_test(cell)


def is_solution(cell: NotebookNode) -> bool:
    return bool(nbgrader_meta(cell).get("solution"))


def is_autograded_test(cell: NotebookNode) -> bool:
    """A visible self-check cell whose points the hidden graders award."""
    m = nbgrader_meta(cell)
    return bool(m.get("grade")) and not m.get("solution")


def is_manually_graded(cell: NotebookNode) -> bool:
    """A written answer: graded by hand in nbgrader's formgrader."""
    m = nbgrader_meta(cell)
    return bool(m.get("grade")) and bool(m.get("solution"))


def cell_points(cell: NotebookNode) -> float:
    return float(nbgrader_meta(cell).get("points", 0) or 0)


def restore(submitted: NotebookNode, source: NotebookNode) -> Restored:
    """Rebuild the notebook in source order: protected cells from the source, answers from the student.

    Student cells are matched by ``grade_id``; a solution cell the student deleted comes back as
    the source cell with its solution removed (the release stub), so the notebook still runs.
    Cells the student added after an answer cell are kept right after it.
    """
    by_id: dict[str, NotebookNode] = {}
    extra_after: dict[str | None, list[NotebookNode]] = {}
    last_id: str | None = None
    tampering: list[str] = []
    protected = {grade_id(c) for c in source.cells if is_protected(c)} - {None}
    for cell in submitted.cells:
        gid = grade_id(cell)
        if gid is not None and gid not in by_id:
            by_id[gid] = cell
            last_id = gid
        elif gid in protected:
            tampering.append(f"the protected cell '{gid}' was duplicated; the copy was removed")
        else:
            extra_after.setdefault(last_id, []).append(cell)

    cells: list[NotebookNode] = list(extra_after.get(None, []))
    for src in source.cells:
        gid = grade_id(src)
        theirs = by_id.get(gid) if gid else None
        if gid is None:
            cells.append(src)
        elif is_protected(src):
            if theirs is None:
                tampering.append(f"the protected cell '{gid}' was deleted; it was put back")
            elif theirs.source != src.source or theirs.cell_type != src.cell_type:
                tampering.append(f"the protected cell '{gid}' was edited; the original was restored")
            cells.append(src)
        elif theirs is None:
            tampering.append(f"your answer cell '{gid}' was deleted; it was graded as unanswered")
            cells.append(release_stub(src))
        else:
            answer = nbformat.v4.new_code_cell(theirs.source) if src.cell_type == "code" else nbformat.v4.new_markdown_cell(theirs.source)
            answer.metadata = src.metadata
            cells.append(answer)
        if gid is not None:
            cells.extend(extra_after.get(gid, []))

    nb = nbformat.v4.new_notebook(metadata=source.metadata)
    for i, cell in enumerate(cells):
        cell = nbformat.from_dict(dict(cell))
        cell["id"] = f"cell-{i}"
        if cell.cell_type == "code":
            cell["outputs"], cell["execution_count"] = [], None
        cells[i] = cell
    nb.cells = cells
    return Restored(nb, tampering)


def release_stub(cell: NotebookNode) -> NotebookNode:
    """The released form of a solution cell (nbgrader's ClearSolutions): what an unanswered cell looks like."""
    from nbgrader.preprocessors import ClearSolutions

    nb = nbformat.v4.new_notebook(cells=[nbformat.from_dict(dict(cell))])
    nb.metadata["kernelspec"] = {"name": "python3", "language": "python", "display_name": "Python 3"}
    nb.metadata["language_info"] = {"name": "python"}
    cleared, _ = ClearSolutions().preprocess(nb, {})
    return cleared.cells[0]


def is_export(cell: NotebookNode) -> bool:
    """A code cell tagged ``export``: one the grader imports (and the only kind it imports)."""
    return cell.cell_type == "code" and EXPORT_TAG in cell.get("metadata", {}).get("tags", [])


def export_source(nb: NotebookNode) -> str:
    """The code of every cell tagged ``export``, in order: what the probe worker imports."""
    return "\n\n".join(cell.source for cell in nb.cells if is_export(cell)) + "\n"


def self_check_uses(nb: NotebookNode) -> dict[str, frozenset[str]]:
    """Per self-check cell of a source notebook (by ``grade_id``), the functions and classes defined at
    the top level of its export cells that the check's code names: what a failure of it can be down to."""
    tree = ast.parse(export_source(nb))
    exported = {n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))}
    return {str(grade_id(c)): frozenset(_code_names(c.source) & exported)
            for c in nb.cells if c.cell_type == "code" and is_autograded_test(c)}


def _code_names(source: str) -> set[str]:
    """The identifiers of a cell's code, comments and strings left out; a line Python cannot read (an
    IPython magic) still leaves the names of the others."""
    names: set[str] = set()
    try:
        for token in tokenize.generate_tokens(io.StringIO(source).readline):
            if token.type == tokenize.NAME:
                names.add(token.string)
    except (tokenize.TokenError, SyntaxError):
        pass
    return names


# A self-check cell names the functions its points cover: `# Graded: batchnorm_backward_alt, Trainer`.
GRADED_LINE = re.compile(r"^#\s*Graded:\s*(.+?)\s*$", re.MULTILINE)


def graded_line(cell: NotebookNode) -> str:
    """The text of a self-check cell's ``Graded:`` line ("" without one)."""
    found = GRADED_LINE.search(cell.source) if cell.cell_type == "code" else None
    return found.group(1) if found else ""


def graded_names(cell: NotebookNode) -> list[str]:
    """The names a self-check cell's ``Graded:`` line lists, in order ([] without one): the name that
    starts each comma-separated item (``Class`` or ``Class.method``); what follows it in parentheses is
    a remark (``batchnorm_backward_alt (timed against your batchnorm_backward)``)."""
    names = []
    for item in re.sub(r"\([^)]*\)", "", graded_line(cell)).split(","):
        found = re.match(r"\s*([A-Za-z_][\w.]*)", item)
        if found:
            names.append(found.group(1))
    return names


# The rubric of a hand-graded answer: in the answer cell's solution region, after the model answer, from
# a line starting `**Rubric` (`# **Rubric` in a code cell, its lines comments) to the end of the region,
# so that nbgrader strips it from the release.
RUBRIC_START = re.compile(r"^(# )?\*\*Rubric", re.MULTILINE)


def rubric(cell: NotebookNode) -> str | None:
    """The rubric of a hand-graded answer cell of a source notebook, or None when it has none."""
    if not is_manually_graded(cell) or BEGIN_SOLUTION not in cell.source:
        return None
    region = cell.source.split(BEGIN_SOLUTION, 1)[1].split(END_SOLUTION, 1)[0]
    found = RUBRIC_START.search(region)
    if not found:
        return None
    text = region[found.start():].strip()
    if cell.cell_type == "code":
        text = "\n".join(line.removeprefix("#").removeprefix(" ") for line in text.splitlines())
    return text


def load_source(path: Path) -> NotebookNode:
    """The instructor's source notebook (a missing or broken one is an instructor error)."""
    if not path.exists():
        raise DeepgradeError(f"source notebook {path} is missing")
    return read_notebook(path)

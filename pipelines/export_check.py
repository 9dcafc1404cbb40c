"""What the grader will see of a notebook: its ``export`` cells, on their own.

The grader imports only the cells tagged ``export`` (``pipelines.grade.probe_worker.load_exports``),
in a fresh process. A helper function or an import that a student put in any other cell works in
Jupyter, where every cell shares one namespace, but does not exist when the functions are graded, and
the functions that need it lose their points. ``deepgrade check`` uses this module to warn the student
first, in two ways: it runs the export cells alone exactly as the grader does (any error, with the
student's line), and it lists every name the export cells use that only a cell the grader skips
defines; that second part is static, because a missing helper only fails when the function that
calls it is called.
"""

from __future__ import annotations

import ast
import builtins
import json
import os
import subprocess
import symtable
import sys
from dataclasses import dataclass
from pathlib import Path

from nbformat import NotebookNode

import pipelines
from pipelines.execute.run_notebook import first_code_line
from pipelines.grade.notebook import export_source, is_export

BUILTINS = frozenset(dir(builtins))
# Marks the child's verdict on stdout, apart from anything the export cells print there.
VERDICT = "deepgrade-export-check: "


@dataclass(frozen=True)
class Borrowed:
    """A name the export cells use that only a cell outside them defines (so the grader lacks it)."""

    name: str
    cell: int  # position in the notebook, counting from 1 as a student counts cells
    starts: str  # the cell's first line of code, since Jupyter shows no cell numbers
    imported: bool

    def message(self) -> str:
        verb, fix = ("imported", "Put the import in the export cell that needs it") if self.imported else (
            "defined", "Move it into an export cell (one of the cells that hold your functions)")
        return (f"your export cells use `{self.name}`, but it is {verb} only in cell {self.cell} (the one starting "
                f"`{self.starts}`), which is not an export cell. The grader runs only the export cells, so "
                f"`{self.name}` will not exist when your functions are graded. {fix}.")


@dataclass(frozen=True)
class ExportCheck:
    """The verdict on a notebook's export cells: why they fail to run alone, and what they borrow."""

    error: str | None
    borrowed: list[Borrowed]

    def problems(self) -> list[str]:
        return ([self.error] if self.error else []) + [b.message() for b in self.borrowed]


def _tables(table: symtable.SymbolTable) -> list[symtable.SymbolTable]:
    return [table] + [t for child in table.get_children() for t in _tables(child)]


class _Reachable(ast.NodeTransformer):
    """Drops the statements that follow a ``raise``, ``return``, ``break`` or ``continue`` in the same
    block: they never run, so what they read is never looked up. A released stub is
    ``raise NotImplementedError()`` followed by the given ``return out, cache``, whose names are not
    uses of another cell's ``out`` or ``cache``."""

    def generic_visit(self, node: ast.AST) -> ast.AST:
        super().generic_visit(node)
        for name in ("body", "orelse", "finalbody"):
            block = getattr(node, name, None)
            if isinstance(block, list) and block and isinstance(block[0], ast.stmt):
                ends = [i for i, stmt in enumerate(block) if isinstance(stmt, (ast.Raise, ast.Return, ast.Break, ast.Continue))]
                if ends:
                    del block[ends[0] + 1:]
        return node


def reachable(source: str) -> str:
    """``source`` without its unreachable statements (``_Reachable``); raises ``SyntaxError``."""
    return ast.unparse(_Reachable().visit(ast.parse(source)))


def _symbols(source: str) -> tuple[set[str], dict[str, bool]]:
    """(names read from the module's globals, names bound at module level -> bound by an import)."""
    tables = _tables(symtable.symtable(reachable(source), "<cell>", "exec"))
    reads = {s.get_name() for t in tables for s in t.get_symbols() if s.is_referenced() and s.is_global()}
    bound = {s.get_name(): s.is_imported() for s in tables[0].get_symbols() if s.is_local()}
    # `global x` followed by `x = ...` inside a function binds a module-level name too.
    bound.update({s.get_name(): s.is_imported() for t in tables[1:] for s in t.get_symbols()
                  if s.is_declared_global() and (s.is_assigned() or s.is_imported())})
    return reads, bound


def _python(cell: NotebookNode) -> str:
    """A code cell as plain Python: IPython's magics (``%matplotlib``, ``!pip``) rewritten to calls."""
    from IPython.core.inputtransformer2 import TransformerManager

    return TransformerManager().transform_cell(cell.source)


def borrowed_names(nb: NotebookNode) -> list[Borrowed]:
    """Names the export cells read but do not define, that a non-export code cell defines.

    Names defined nowhere are left out (running the notebook reports those itself), and so are the
    export cells' own names, wherever they are used. Cells that are not valid Python are skipped:
    the run of the export cells, or of the notebook, reports them.
    """
    try:
        reads, bound = _symbols(export_source(nb))
    except SyntaxError:
        return []
    missing = reads - set(bound) - BUILTINS
    found: dict[str, Borrowed] = {}
    for position, cell in enumerate(nb.cells, start=1):
        if cell.cell_type != "code" or is_export(cell):
            continue
        try:
            _, defined = _symbols(_python(cell))
        except SyntaxError:
            continue
        for name in sorted(missing & set(defined) - set(found)):
            found[name] = Borrowed(name, position, first_code_line(cell), defined[name])
    return sorted(found.values(), key=lambda b: (b.cell, b.name))


def run_alone(nb: NotebookNode, cwd: Path, timeout: float) -> str | None:
    """Run the export cells as the grader does; the student-facing error, or None if they ran.

    A fresh process, so that nothing of this one (or of the notebook's kernel) is there to hide a
    missing name, and export cells that hang or exit cannot take the check down with them.
    """
    # The very pipelines package running this check, however it was installed (as in the sandbox).
    path = os.pathsep.join(p for p in (str(Path(pipelines.__file__).parents[1]), os.environ.get("PYTHONPATH")) if p)
    try:
        done = subprocess.run([sys.executable, "-m", "pipelines.export_check"], check=False,
                              input=export_source(nb), capture_output=True, text=True, cwd=cwd,
                              env={**os.environ, "PYTHONPATH": path}, timeout=timeout)
    except subprocess.TimeoutExpired:
        return f"your export cells did not finish within {timeout:g} s (they should only define functions and classes)"
    verdicts = [line[len(VERDICT):] for line in done.stdout.splitlines() if line.startswith(VERDICT)]
    if done.returncode != 0 or not verdicts:
        said = done.stderr.strip()[-300:]
        return f"your export cells stopped Python itself (exit code {done.returncode}){': ' + said if said else ''}"
    return json.loads(verdicts[-1])["error"]


def check_exports(nb: NotebookNode, cwd: Path, timeout: float) -> ExportCheck:
    """Both checks of the module docstring, for the notebook ``nb`` that lives in folder ``cwd``."""
    return ExportCheck(run_alone(nb, cwd, timeout), borrowed_names(nb))


def _main() -> int:
    """The fresh process of ``run_alone``: export source on stdin, the VERDICT line on stdout."""
    from contextlib import redirect_stdout

    from pipelines.grade.probe_worker import ProbeFailed, load_exports

    source = sys.stdin.read()
    error = None
    with redirect_stdout(sys.stderr):  # what the cells print goes to stderr
        try:
            load_exports(source)
        except ProbeFailed as exc:
            error = str(exc)
    print(VERDICT + json.dumps({"error": error}))
    return 0


if __name__ == "__main__":
    sys.exit(_main())

"""``deepgrade check``: a student runs their notebook's visible self-checks, on their own machine.

No sandbox and no hidden graders: the notebook is executed as it is (every cell, errors allowed)
and each self-check cell is reported as passed or failed, with the error it raised. Then the export
cells are checked the way the grader will see them, alone (``pipelines.export_check``). The
notebook file itself is not modified.
"""

from __future__ import annotations

from pathlib import Path

from nbformat import NotebookNode
from rich.console import Console
from rich.markup import escape

from pipelines.errors import DeepgradeError
from pipelines.export_check import check_exports
from pipelines.grade import notebook as nbtools
from pipelines.params import load_params

console = Console()


def check_notebook(path: Path, timeout: int = 600) -> int:
    """Execute ``path`` and print one line per self-check; exit code 0 only if all pass."""
    from nbclient import NotebookClient
    from nbclient.exceptions import CellTimeoutError, DeadKernelError

    nb = nbtools.read_notebook(path)
    client = NotebookClient(nb, timeout=timeout, kernel_name="python3", allow_errors=True,
                            resources={"metadata": {"path": str(path.parent.resolve())}})
    console.print(f"running {path.name} (every cell; this can take a minute)...")
    try:
        client.execute()
    except (CellTimeoutError, DeadKernelError) as exc:
        raise DeepgradeError(f"{path}: the notebook stopped early ({type(exc).__name__}); fix the cell that hangs or crashes") from exc

    checks = passed = 0
    total = 0.0
    for i, cell in enumerate(nb.cells):
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if cell.cell_type != "code" or not meta.get("grade") or meta.get("solution"):
            continue
        checks += 1
        points = float(meta.get("points", 0))
        total += points
        errors = [o for o in cell.get("outputs", []) if o.get("output_type") == "error"]
        if cell.get("execution_count") is None:
            console.print(f"  [yellow]not run[/] {meta.get('grade_id')} (cell {i + 1})")
        elif errors:
            err = errors[0]
            console.print(f"  [red]FAILED[/] {meta.get('grade_id')} (cell {i + 1}): {err['ename']}: {err['evalue'][:300]}")
        else:
            passed += 1
            console.print(f"  [green]passed[/] {meta.get('grade_id')}")
    if checks == 0:
        raise DeepgradeError(f"{path} has no self-check cells; is it a deepgrade assignment notebook?")
    console.print(f"{passed}/{checks} self-checks pass. The hidden graders test more cases than these "
                  f"({total:g} autograded points in all), so passing here is necessary, not sufficient.")
    exports_ok = report_exports(nb, path)
    return 0 if passed == checks and exports_ok else 1


def report_exports(nb: NotebookNode, path: Path) -> bool:
    """Print what the grader will make of the export cells run alone; True if nothing is wrong."""
    if not any(nbtools.is_export(cell) for cell in nb.cells):
        return True
    console.print("The grader imports only your cells tagged `export` (those of your functions), alone, in a fresh Python:")
    # The grader's own limit for importing the export cells.
    problems = check_exports(nb, path.parent, float(load_params()["grading"]["probe_timeout"])).problems()
    for problem in problems:
        console.print(f"  [red]PROBLEM[/] {escape(problem)}", highlight=False)
    if problems:
        console.print("Fix these, or the functions that need them lose their points when graded.")
        return False
    console.print("  [green]passed[/] your export cells run on their own and use nothing from other cells")
    return True

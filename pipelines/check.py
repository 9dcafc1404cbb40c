"""``deepgrade check``: a student runs their notebook's visible self-checks, on their own machine.

No sandbox and no hidden graders: the notebook is executed as it is (every cell, errors allowed)
and each self-check cell is reported with its points and the functions they cover (its ``Graded:``
line) as passed, failed (with the error it raised) or not implemented yet. Then the export cells are
checked the way the grader will see them, alone (``pipelines.export_check``), and against the
assignment's integrity rule (the modules they may import). The notebook file itself is not modified.
"""

from __future__ import annotations

from pathlib import Path

from nbformat import NotebookNode
from rich.console import Console
from rich.markup import escape

from pipelines.errors import DeepgradeError
from pipelines.execute.integrity import RELEASE_METADATA, rule_text, static_violations
from pipelines.execute.run_notebook import first_code_line
from pipelines.export_check import check_exports
from pipelines.grade import notebook as nbtools
from pipelines.params import load_params

console = Console()


def check_notebook(path: Path, timeout: int = 600) -> int:
    """Execute ``path`` and print one line per self-check; exit code 0 only if all pass."""
    from nbclient import NotebookClient
    from nbclient.exceptions import CellTimeoutError, DeadKernelError

    nb = nbtools.read_notebook(path)
    # The kernel's own log (ipykernel warns that it "is running over TCP without encryption", which is
    # about Jupyter's sockets on this machine, not the student's work) stays out of the student's way.
    client = NotebookClient(nb, timeout=timeout, kernel_name="python3", allow_errors=True,
                            extra_arguments=["--IPKernelApp.log_level=ERROR"],
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
        graded = nbtools.graded_names(cell)
        label = escape(f"{meta.get('grade_id')} ({points:g} points" + (f": {', '.join(graded)})" if graded else ")"))
        errors = [o for o in cell.get("outputs", []) if o.get("output_type") == "error"]
        if cell.get("execution_count") is None:
            console.print(f"  [yellow]not run[/] {label}, cell {i + 1}", highlight=False)
        elif errors and errors[0]["ename"] == "NotImplementedError":
            console.print(f"  [yellow]not implemented yet[/] {label}, cell {i + 1}", highlight=False)
        elif errors:
            err = errors[0]
            console.print(f"  [red]FAILED[/] {label}, cell {i + 1}: {escape(err['ename'])}: {escape(err['evalue'][:300])}",
                          highlight=False)
        else:
            passed += 1
            console.print(f"  [green]passed[/] {label}", highlight=False)
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
    problems += forbidden_imports(nb)
    for problem in problems:
        console.print(f"  [red]PROBLEM[/] {escape(problem)}", highlight=False)
    if problems:
        console.print("Fix these, or the functions that need them lose their points when graded.")
        return False
    console.print("  [green]passed[/] your export cells run on their own and use nothing from other cells")
    return True


def forbidden_imports(nb: NotebookNode) -> list[str]:
    """The export cells' imports that the assignment's integrity rule refuses, as the grader will
    (``pipelines.execute.integrity``). The rule travels in the released notebook's metadata
    (``pipelines.release``); a notebook without it is checked for nothing."""
    allowed = nb.metadata.get(RELEASE_METADATA, {}).get("export_modules")
    if allowed is None:
        return []
    problems = []
    for position, cell in enumerate(nb.cells, start=1):
        if not nbtools.is_export(cell):
            continue
        for v in static_violations(cell.source, allowed):
            problems.append(f"cell {position} (the one starting `{first_code_line(cell)}`) uses `{v.what}` (its line "
                            f"{v.line}), which this assignment does not allow in export cells: the functions that use "
                            f"it get no points. Allowed: {rule_text(allowed)}.")
    return problems

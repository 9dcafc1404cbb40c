"""``deepgrade check``: a student runs their notebook's visible self-checks, on their own machine.

No sandbox and no hidden graders: the notebook is executed as it is (every cell, errors allowed)
and each self-check cell is reported as passed or failed, with the error it raised. The notebook
file itself is not modified.
"""

from __future__ import annotations

from pathlib import Path

from rich.console import Console

from pipelines.errors import DeepgradeError
from pipelines.grade import notebook as nbtools

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
    return 0 if passed == checks else 1

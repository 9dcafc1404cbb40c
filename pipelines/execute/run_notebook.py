"""Runs INSIDE the sandbox: execute one notebook with papermill and say how it ended.

Every cell is run even after an error (as nbgrader does), so a half-done notebook still produces
what it can. The outcome goes to ``execution.json``; oversized outputs are cut before the executed
notebook is written back, so a student printing gigabytes cannot flood the grader.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import nbformat

from pipelines.execute import statuses

_MARK = "\n[deepgrade: output truncated]\n"


def cap_outputs(nb: nbformat.NotebookNode, max_bytes: int) -> None:
    """Truncate text outputs and drop rich outputs larger than ``max_bytes`` per cell output."""
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            if out.get("output_type") == "stream" and len(out.get("text", "")) > max_bytes:
                out["text"] = out["text"][:max_bytes] + _MARK
            for mime, value in list(out.get("data", {}).items()):
                if len(str(value)) > max_bytes:
                    out["data"] = {"text/plain": _MARK.strip()}
                    break


def classify(exc: BaseException, cell_timeout: int) -> tuple[str, str]:
    """Map what papermill/nbclient raised to a status and a one-line message."""
    name = type(exc).__name__
    ename = getattr(exc, "ename", "") or ""
    text = str(exc).strip().splitlines()
    detail = text[-1] if text else name
    if name in ("CellTimeoutError", "TimeoutError") or "timed out" in str(exc).lower():
        return statuses.TIMEOUT, f"the cell ran longer than the per-cell limit of {cell_timeout} s and was stopped"
    if name == "DeadKernelError":
        return statuses.KERNEL_DIED, "the Python kernel exited (os._exit, a crash, or the CPU-time limit)"
    if ename == "MemoryError" or name == "MemoryError":
        return statuses.OOM, "a cell ran out of memory (MemoryError under the sandbox's memory limit)"
    return statuses.ERROR, detail[:500]


def first_error_cell(nb: nbformat.NotebookNode) -> int | None:
    for i, cell in enumerate(nb.cells):
        for out in cell.get("outputs", []):
            if out.get("output_type") == "error":
                return i
    return None


def first_code_line(cell: nbformat.NotebookNode) -> str:
    """How a student recognises a cell (Jupyter shows no cell numbers): its first line of code."""
    lines = [ln.strip() for ln in cell.source.splitlines()]
    return next((ln for ln in lines if ln and not ln.startswith("#")), "")[:80]


def where(nb: nbformat.NotebookNode, index: int) -> dict[str, object]:
    """The failed cell as the student knows it: its position in THEIR notebook (papermill's injected
    parameters cell does not count) and its first line of code."""
    injected = sum("injected-parameters" in c.get("metadata", {}).get("tags", []) for c in nb.cells[:index])
    return {"failed_cell": index - injected, "cell_starts": first_code_line(nb.cells[index])}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("notebook")
    ap.add_argument("output")
    ap.add_argument("--parameters", default="{}")
    ap.add_argument("--cell-timeout", type=int, required=True)
    ap.add_argument("--output-cap", type=int, required=True)
    args = ap.parse_args(argv)

    import papermill

    status, message = statuses.OK, ""
    try:
        papermill.execute_notebook(
            args.notebook,
            args.output,
            parameters=json.loads(args.parameters),
            kernel_name="python3",
            execution_timeout=args.cell_timeout,
            cwd=str(Path(args.notebook).parent),
            progress_bar=False,
            log_output=False,
            allow_errors=True,
        )
    except BaseException as exc:  # noqa: BLE001 - every ending must be reported, none may escape
        status, message = classify(exc, args.cell_timeout)
    out = Path(args.output)
    outcome: dict[str, object] = {"failed_cell": None, "cell_starts": ""}
    if out.exists():
        nb = nbformat.read(out, as_version=4)
        cap_outputs(nb, args.output_cap)
        failed = first_error_cell(nb)
        nbformat.write(nb, out)
        if failed is not None:
            outcome = where(nb, failed)
            if status == statuses.OK:
                err = next(o for o in nb.cells[failed].outputs if o.output_type == "error")
                status = statuses.OOM if err.ename == "MemoryError" else statuses.ERROR
                message = f"{err.ename}: {err.evalue}"[:500]
    Path("execution.json").write_text(json.dumps({"status": status, "message": message, **outcome}))
    return 0


if __name__ == "__main__":
    sys.exit(main())

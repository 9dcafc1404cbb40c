"""Turn how a sandboxed notebook run ended into statuses and student messages (trusted side).

Inputs are only what the student cannot write: the sandbox's exit (the wall clock measured here,
the signal that ended the runner) and the typed records the runner sent over the report channel.
Student-influenced text (an exception's message) is quoted in messages but never decides a status.
"""

from __future__ import annotations

import signal
from dataclasses import dataclass, field
from typing import Any

from pipelines.execute import statuses
from pipelines.execute.cell_limits import CellTimeouts
from pipelines.execute.channel import ChannelError, Message, parse
from pipelines.execute.sandbox import Limits, SandboxRun


@dataclass
class NotebookOutcome:
    """Statuses and messages of one executed notebook, plus what the instructor may need."""

    flags: list[tuple[str, str]] = field(default_factory=list)
    failed_grade_cells: dict[str, str] = field(default_factory=dict)
    internal: list[str] = field(default_factory=list)

    def flag(self, status: str, message: str) -> None:
        self.flags.append((status, message))


def where(cell: dict[str, Any] | None) -> str:
    """`` (cell 7, the one starting `loss = ...`)`` for a cell record of the runner."""
    if not cell or not isinstance(cell.get("position"), int):
        return ""
    starts = f", the one starting `{cell['starts']}`" if cell.get("starts") else ""
    return f" (cell {cell['position']}{starts})"


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


def notebook_outcome(name: str, run: SandboxRun, limits: Limits, timeouts: CellTimeouts) -> NotebookOutcome:
    """Decide the statuses of one notebook run from the sandbox's exit and the runner's records."""
    outcome = NotebookOutcome()
    if run.report_overflow:
        outcome.internal.append(f"{name}: the runner's report passed its size cap and was cut")
    try:
        messages = parse(run.report)
    except ChannelError as exc:
        messages = []
        outcome.internal.append(f"{name}: the runner's report could not be read ({exc})")
    cells = [m.header for m in messages if m.header.get("event") == "cell"]
    last = cells[-1] if cells else None
    end = next((m.header for m in reversed(messages) if m.header.get("event") == "end"), None)

    for bound in run.exceeded:
        outcome.flag(*bound_passed(bound, limits, f"{name}{where(last)}: your notebook"))
    if run.timed_out:
        outcome.flag(statuses.TIMEOUT, f"{name}{where(last)}: the notebook ran longer than the whole-notebook limit "
                                        f"of {limits.wall_seconds:g} s and was stopped there.")
    elif {"cpu", "disk"} & set(run.exceeded):
        pass  # stopped by the grader for a bound passed, said above
    elif end is None:
        _runner_without_report(name, run, limits, last, outcome)
    if end is not None:
        _cells(name, end, timeouts, limits, outcome)
    return outcome


def bound_passed(bound: str, limits: Limits, who: str) -> tuple[str, str]:
    """Status and message for a whole-run bound that was passed (``SandboxRun.exceeded``)."""
    if bound == "memory":
        return statuses.OOM, (f"{who} used more than {limits.total_memory_bytes >> 20} MB of memory in all its "
                              "processes together, so the largest of them was stopped.")
    if bound == "processes":
        return statuses.ERROR, (f"{who} tried to run more than {limits.max_processes} processes and threads at once; "
                                "the extra ones were refused.")
    if bound == "cpu":
        return statuses.TIMEOUT, (f"{who} used more than {limits.cpu_seconds} s of CPU time in all its processes "
                                  "together and was stopped.")
    return statuses.ERROR, (f"{who} wrote more than {limits.disk_mb} MB (or too many files) to disk and was stopped; "
                            "the cells after that point did not run.")


def _runner_without_report(name: str, run: SandboxRun, limits: Limits, last: dict | None, outcome: NotebookOutcome) -> None:
    killed = run.killed_by
    if killed == "SIGXCPU":
        outcome.flag(statuses.TIMEOUT, f"{name}{where(last)}: the notebook used more than {limits.cpu_seconds} s "
                                        "of CPU time and was stopped.")
    elif killed is not None:
        outcome.flag(statuses.KERNEL_DIED, f"{name}{where(last)}: the process running your notebook was killed by "
                                            f"{killed}. If your code kills processes or sends signals, remove that.")
    else:
        outcome.flag(statuses.KERNEL_DIED, f"{name}{where(last)}: the notebook runner stopped without saying how the "
                                            "run ended; your instructor has the details.")
        outcome.internal.append(f"{name}: runner exited with {run.returncode} and no report:\n{run.output[-3000:]}")


def _cells(name: str, end: dict[str, Any], timeouts: CellTimeouts, limits: Limits, outcome: NotebookOutcome) -> None:
    """Each failing cell with its own error, then how the run ended, then cut outputs."""
    for cell in end.get("errors", []):
        status = statuses.OOM if cell.get("ename") == "MemoryError" else statuses.ERROR
        error = f"{cell.get('ename')}: {cell.get('evalue')}".rstrip(": ")
        if cell.get("ename") == "NotImplementedError" and not cell.get("evalue"):
            error += " (a function this cell uses is still the unanswered stub)"
        if status == statuses.OOM:
            error = f"the cell ran out of memory (the limit is {limits.memory_mb} MB): {error}"
        outcome.flag(status, f"{name}{where(cell)}: {error}")
        if cell.get("grade_id"):
            outcome.failed_grade_cells[str(cell["grade_id"])] = error
    ending = end.get("ending", {})
    kind, cell = ending.get("kind"), ending.get("cell")
    if kind == "cell_timeout":
        gid = cell.get("grade_id") if isinstance(cell, dict) else None
        outcome.flag(statuses.TIMEOUT, f"{name}{where(cell)}: the cell ran longer than its per-cell limit of "
                                        f"{timeouts.of(gid if isinstance(gid, str) else None)} s and was stopped; "
                                        "the cells after it did not run.")
    elif kind == "kernel_died":
        outcome.flag(*_kernel_death(name, cell, end.get("kernel_exit"), limits))
    elif kind == "output_too_large":
        outcome.flag(statuses.ERROR, f"{name}: the executed notebook grew past the {limits.file_mb} MB file limit, "
                                      "so it could not be saved; print less (graded checks still ran).")
    elif kind == "output_replaced":
        outcome.flag(statuses.ERROR, f"{name}: your code replaced the file the grader saves the executed notebook to; "
                                      "it was saved again. Leave the grader's files in the working folder alone.")
    elif kind == "runner_error":
        outcome.flag(statuses.KERNEL_DIED, f"{name}: the notebook could not be run; your instructor has the details.")
        outcome.internal.append(f"{name}: runner error: {ending.get('detail')}")
    for capped in end.get("capped", []):
        # The cell the run stopped in did not run to the end; that it was stopped is said above.
        stopped = cell is not None and capped.get("position") == cell.get("position")
        outcome.flag(statuses.OK, f"{name}{where(capped)}: the cell printed more than the output limit; the rest of "
                                   f"its output was cut{'' if stopped else ' (the cell itself ran to the end)'}.")


def _kernel_death(name: str, cell: dict | None, code: Any, limits: Limits) -> tuple[str, str]:
    """Why the kernel died, from its exit status as the runner saw it."""
    after = "; the cells after it did not run."
    if isinstance(code, int) and code < 0:
        sig = _signal_name(-code)
        if sig == "SIGXCPU":
            return statuses.TIMEOUT, f"{name}{where(cell)}: your code used more than {limits.cpu_seconds} s of CPU time{after}"
        if sig == "SIGKILL":
            return statuses.KERNEL_DIED, (f"{name}{where(cell)}: the Python kernel was killed (SIGKILL): a process "
                                          f"limit was hit or your code killed it{after}")
        return statuses.KERNEL_DIED, f"{name}{where(cell)}: the Python kernel crashed ({sig}){after}"
    if isinstance(code, int):
        return statuses.KERNEL_DIED, (f"{name}{where(cell)}: the Python kernel exited with code {code} (os._exit or "
                                      f"a crash in a library){after}")
    return statuses.KERNEL_DIED, f"{name}{where(cell)}: the Python kernel stopped{after}"


def messages(report: bytes) -> list[Message]:
    """A runner's records, or none when they cannot be read (the caller reports what is missing)."""
    try:
        return parse(report)
    except ChannelError:
        return []

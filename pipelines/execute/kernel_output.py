"""The notebook kernel's own output cap, so that a cell printing gigabytes cannot fill the kernel.

The runner caps what reaches the notebook (``run_notebook.WatchedClient.output``), but a kernel
queues output faster than the runner reads it: printed text piles up in its stream's buffer until
the next flush, displays in its IOPub thread's queue, until the kernel runs out of memory (a
``MemoryError`` in that thread, after which no output of the notebook arrives at all, or SIGSEGV).
So the kernel itself publishes, per cell, at most one unit past the runner's cap and drops the
rest: the runner still sees the cell pass its cap and reports the cut (the one account of it the
student gets), and nothing dropped here could have reached the notebook.

A cell is the request whose header the output carries (a thread started by a cell counts for it).
Sizes are counted as the runner counts them: characters of text, the length of each rich value.
The per-notebook cap bounds each cell too, but is not summed here: the kernel cannot know how much
of a cell's output the runner kept, so a sum could drop output the runner would have kept without
the runner knowing. This is no defence against student code, which runs in this very process: it
keeps the kernel alive for code that merely prints too much; the runner's count is the one trusted.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping
from typing import Any

from ipykernel.iostream import OutStream
from ipykernel.ipkernel import IPythonKernel
from ipykernel.zmqshell import ZMQDisplayPublisher, ZMQInteractiveShell
from traitlets import Type


class CellBudget:
    """How much output each cell may still publish."""

    def __init__(self) -> None:
        self.limit: int | None = None  # per cell; None: no cap (``kernel.py`` sets it from its arguments)
        self._used: dict[str, int] = {}
        self._lock = threading.Lock()

    def set_caps(self, output_cap: int, total_cap: int) -> None:
        """The runner's caps: ``output_cap`` per cell and ``total_cap`` per notebook."""
        self.limit = min(output_cap, total_cap)

    def take(self, parent: Mapping[str, Any], size: int) -> int:
        """How much of ``size`` the cell of request header ``parent`` may publish: all of it while
        the cell has published at most its limit, then nothing (the first output that passes the
        limit keeps one unit more, so that the runner sees it passed)."""
        if self.limit is None:
            return size
        cell = str(parent.get("msg_id", ""))
        with self._lock:
            used = self._used.get(cell, 0)
            granted = max(0, min(size, self.limit + 1 - used))
            self._used[cell] = used + granted
        return granted


BUDGET = CellBudget()


def rich_size(data: Mapping[str, Any]) -> int:
    """The size of a mime bundle as the runner counts it (images, still bytes here, count less)."""
    return sum(len(v) if isinstance(v, (str, bytes)) else len(json.dumps(v, default=str)) for v in data.values())


class CappedOutStream(OutStream):
    """``sys.stdout`` and ``sys.stderr`` of the kernel (with what is written to file descriptors 1
    and 2): text past the cell's budget is dropped before it is buffered."""

    def write(self, string: str) -> int | None:  # type: ignore[override]
        if not isinstance(string, str):
            return super().write(string)  # ipykernel's own TypeError
        granted = BUDGET.take(self.parent_header, len(string))
        if granted:
            super().write(string[:granted])
        return len(string)


class CappedDisplayPublisher(ZMQDisplayPublisher):
    """``display()`` and its updates: a bundle past the cell's budget is dropped whole."""

    def publish(self, data: Any, metadata: Any = None, **kwargs: Any) -> None:  # type: ignore[override]
        if BUDGET.take(self.parent_header, rich_size(data) if isinstance(data, Mapping) else 1):
            super().publish(data, metadata, **kwargs)


class CappedShell(ZMQInteractiveShell):
    display_pub_class = Type(CappedDisplayPublisher)


class CappedKernel(IPythonKernel):
    shell_class = Type(CappedShell)

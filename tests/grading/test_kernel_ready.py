"""The runner's readiness handshake with the kernel (``run_notebook._ReadyOnIdle``), on a scripted kernel.

A real kernel's timing cannot be forced, so these drive the handshake with one that answers the way
a slow or late-subscribed kernel does; the end-to-end check that no output is lost is in
tests/grading/test_statuses.py.
"""

from __future__ import annotations

import asyncio
from queue import Empty
from typing import Any

import pytest

from pipelines.execute.run_notebook import _ReadyOnIdle


class _Channel:
    def __init__(self) -> None:
        self.messages: list[dict[str, Any]] = []
        self.read: list[dict[str, Any]] = []
        self.before_read = lambda: None

    async def get_msg(self, timeout: float | None = None) -> dict[str, Any]:
        self.before_read()
        if not self.messages:
            raise Empty
        self.read.append(self.messages.pop(0))
        return self.read[-1]


class ScriptedKernel(_ReadyOnIdle):
    """Silent for the first ``silent_polls`` reads of its shell channel (still starting), then it
    answers every request sent so far, in order, with a reply on shell and busy/idle on IOPub. IOPub
    messages of the first ``missed`` requests never reach the client (subscribed too late)."""

    def __init__(self, silent_polls: int, missed: int) -> None:
        self.sent: list[str] = []
        self.answered = 0
        self.silent_polls, self.missed = silent_polls, missed
        self.shell_channel, self.iopub_channel = _Channel(), _Channel()
        self.shell_channel.before_read = self._work
        self.ready_with: str | None = None

    def kernel_info(self) -> str:
        self.sent.append(f"request-{len(self.sent) + 1}")
        return self.sent[-1]

    def _work(self) -> None:
        if self.silent_polls:
            self.silent_polls -= 1
            return
        for request in self.sent[self.answered:]:
            self.answered += 1
            self.shell_channel.messages.append({"msg_type": "kernel_info_reply", "parent_header": {"msg_id": request},
                                                "content": {"protocol_version": "5.3"}})
            if self.answered > self.missed:
                for state in ("busy", "idle"):
                    self.iopub_channel.messages.append({"msg_type": "status", "parent_header": {"msg_id": request},
                                                        "content": {"execution_state": state}})

    async def is_alive(self) -> bool:
        return True

    def _handle_kernel_info_reply(self, msg: dict[str, Any]) -> None:
        self.ready_with = msg["parent_header"]["msg_id"]


@pytest.mark.parametrize(("silent_polls", "missed"), [(0, 0), (1, 0), (3, 0), (0, 1), (2, 2)],
                         ids=["at-once", "one-poll-late", "three-polls-late", "iopub-late", "both-late"])
def test_the_runner_knows_when_the_kernel_is_ready(silent_polls: int, missed: int) -> None:
    """A kernel slower than one poll answers each request after the next one was sent: its replies
    arrive one behind, and the handshake must still end (it once waited for a reply to the newest)."""
    kernel = ScriptedKernel(silent_polls, missed)
    asyncio.run(kernel.wait_for_ready(timeout=3))
    assert kernel.ready_with in kernel.sent  # the protocol version of a real reply was taken
    last_read = kernel.iopub_channel.read[-1]  # the handshake ended on an idle that reached IOPub
    assert last_read["content"]["execution_state"] == "idle" and last_read["parent_header"]["msg_id"] in kernel.sent

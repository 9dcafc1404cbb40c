"""The report channel: how the engine's code inside the sandbox tells the trusted process what happened.

Statuses, timings and probe results must never come from a file or text that student code could
have written (the job folder is writable by it). So the trusted process hands the sandboxed runner
one end of a pipe, inherited as a file descriptor that only the engine's own process holds:

- the notebook kernel and every probe child close it (or never inherit it) before student code runs;
- the runner makes itself non-dumpable, so a process of the same sandbox user cannot open
  ``/proc/<runner>/fd/<n>`` or ptrace it to write into the pipe (the sandbox runs as an
  unprivileged user without capabilities, see ``sandbox.build_command``).

Messages are a JSON header line followed by ``header["nbytes"]`` raw bytes (arrays as ``.npz``).
The reading side caps the total size and turns anything malformed into a ``ChannelError``.
"""

from __future__ import annotations

import ctypes
import json
import os
from dataclasses import dataclass
from typing import Any, BinaryIO

REPORT_FD_ENV = "DEEPGRADE_REPORT_FD"
MAX_HEADER_BYTES = 64 * 1024
_PR_SET_DUMPABLE = 4


class ChannelError(ValueError):
    """The report could not be parsed (a crashed or hijacked runner): the run has no trusted outcome."""


@dataclass(frozen=True)
class Message:
    """One record the sandboxed engine sent: a small JSON header and an optional binary payload."""

    header: dict[str, Any]
    payload: bytes = b""


def make_non_dumpable() -> None:
    """Forbid other processes of the sandbox user to open our ``/proc`` entries or ptrace us."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(_PR_SET_DUMPABLE, 0, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_DUMPABLE, 0) failed")


class Reporter:
    """Sandbox side: the writing end, opened from the inherited descriptor."""

    def __init__(self, stream: BinaryIO) -> None:
        self._stream = stream

    @classmethod
    def from_environment(cls) -> Reporter:
        """Open the descriptor named by ``DEEPGRADE_REPORT_FD`` (and hide this process first)."""
        make_non_dumpable()
        fd = int(os.environ.pop(REPORT_FD_ENV))
        os.set_inheritable(fd, False)
        return cls(os.fdopen(fd, "wb", buffering=0))

    @property
    def fd(self) -> int:
        return self._stream.fileno()

    def send(self, header: dict[str, Any], payload: bytes = b"") -> None:
        self._stream.write(encode(Message(header, payload)))


def encode(message: Message) -> bytes:
    """One message as it travels: its header line (with ``nbytes``), then its payload."""
    line = json.dumps({**message.header, "nbytes": len(message.payload)}).encode() + b"\n"
    if len(line) > MAX_HEADER_BYTES:
        raise ValueError(f"report header too long ({len(line)} bytes)")
    return line + message.payload


def parse(data: bytes) -> list[Message]:
    """Trusted side: split everything the runner sent into messages (raises ``ChannelError``)."""
    messages: list[Message] = []
    pos = 0
    while pos < len(data):
        end = data.find(b"\n", pos, pos + MAX_HEADER_BYTES)
        if end < 0:
            raise ChannelError("a report header is cut off or too long")
        try:
            header = json.loads(data[pos:end])
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ChannelError(f"a report header is not JSON ({exc})") from exc
        if not isinstance(header, dict) or not isinstance(header.get("nbytes"), int) or header["nbytes"] < 0:
            raise ChannelError("a report header has no valid size")
        start, pos = end + 1, end + 1 + header["nbytes"]
        if pos > len(data):
            raise ChannelError("a report payload is cut off")
        messages.append(Message(header, data[start:pos]))
    return messages

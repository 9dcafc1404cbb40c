"""The per-student statuses of docs/design.md §3 and which one wins when several apply."""

from __future__ import annotations

OK = "ok"
ERROR = "error"
TIMEOUT = "timeout"
OOM = "oom"
KERNEL_DIED = "kernel_died"
INVALID_NOTEBOOK = "invalid_notebook"
TAMPERED = "tampered"
MISSING = "missing"

# Most severe first: a submission that both timed out and was tampered with reports `timeout`
# (its messages still mention the tampering).
SEVERITY = (INVALID_NOTEBOOK, MISSING, TIMEOUT, OOM, KERNEL_DIED, TAMPERED, ERROR, OK)


def worst(*statuses: str) -> str:
    """The most severe of ``statuses`` (``ok`` when none is given)."""
    return min(statuses or (OK,), key=SEVERITY.index)

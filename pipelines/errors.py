"""User-facing errors: each names the file (or student) at fault and the fix.

The CLI prints a ``DeepgradeError`` as one clear message and exits 2, instead of a traceback.
"""

from __future__ import annotations


class DeepgradeError(Exception):
    """An error the user can fix; the message says what, where, and how."""


class DataError(DeepgradeError):
    """A raw or prepared data file is missing, corrupt or does not match its pinned checksum."""

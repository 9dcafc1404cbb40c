"""How a notebook hands plain results (predictions, loss curves) to the grader.

While grading, the sandbox sets ``DEEPGRADE_EXPORT_DIR``; ``export`` writes each value there as a
plain numeric ``.npy`` file that the trusted process reads with ``allow_pickle=False``. Outside
grading (a student running the notebook) it only says what would be exported.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import numpy as np

EXPORT_DIR_ENV = "DEEPGRADE_EXPORT_DIR"
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")


def export(name: str, value: Any) -> None:
    """Record ``value`` (numbers or an array of numbers) under ``name`` for the graders."""
    if not _NAME.match(name):
        raise ValueError(f"export name {name!r} must be a short identifier")
    array = np.asarray(value)
    if array.dtype.kind not in "biuf":
        raise TypeError(f"export {name!r}: expected numbers, got dtype {array.dtype}")
    target = os.environ.get(EXPORT_DIR_ENV)
    if not target:
        print(f"[deepgrade] {name}: shape {array.shape} would be handed to the graders.")
        return
    path = Path(target) / f"{name}.npy"
    np.save(path, np.array(array, order="C"), allow_pickle=False)

"""Per-cell time limits of a notebook run: a short one for quick cells, a long one for training cells.

One limit for every cell must fit the slowest cell (training a network for minutes), so an endless
loop in a plot cell ran for minutes too before it was stopped, and the course's CI waited that long
for every unit's example endless loop. A unit declares its limits per cell instead
(``params.yaml: units.<unit>.sandbox.notebook``): ``cell_timeout`` for every cell, and
``cell_timeouts`` naming the slow cells by nbgrader grade id or by tag. The trusted process resolves
them against the SOURCE notebook (a student cannot lengthen a limit by re-tagging a cell) into a
table keyed by grade id, which the runner applies through nbclient's per-cell ``timeout_func`` and
which the trusted process reads again to name the limit of the cell that was stopped.

This module is imported by the runner inside the sandbox: standard library only.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class CellTimeouts:
    """Seconds each cell may run: ``cells[grade_id]`` where a cell is named, else ``default``."""

    default: int
    cells: Mapping[str, int] = field(default_factory=dict)

    def of(self, grade_id: str | None) -> int:
        """The limit of the cell with this nbgrader grade id (None: a cell without one)."""
        return int(self.cells.get(grade_id, self.default)) if grade_id is not None else self.default

    def for_cell(self, cell: Mapping[str, Any]) -> int:
        """nbclient's ``timeout_func``: the limit of a notebook cell, by its nbgrader grade id."""
        meta = cell.get("metadata", {}).get("nbgrader", {}) or {}
        return self.of(meta.get("grade_id"))

    def to_json(self) -> str:
        return json.dumps({"default": self.default, "cells": dict(sorted(self.cells.items()))})

    @classmethod
    def from_json(cls, text: str) -> CellTimeouts:
        data = json.loads(text)
        return cls(int(data["default"]), {str(k): int(v) for k, v in data["cells"].items()})


def resolve(default: int, named: Mapping[str, int], cells: Iterable[tuple[str | None, Iterable[str]]]) -> CellTimeouts:
    """The table for source cells given as ``(grade_id, tags)``: a key of ``named`` that is a grade id
    sets that cell's limit; a key that is a tag sets the limit of every cell carrying it (the longest
    when several apply; a grade id wins over tags)."""
    by_id: dict[str, int] = {}
    for gid, tags in cells:
        if gid is None:
            continue
        from_tags = [int(named[t]) for t in tags if t in named]
        if gid in named:
            by_id[gid] = int(named[gid])
        elif from_tags:
            by_id[gid] = max(from_tags)
    return CellTimeouts(int(default), by_id)


def unmatched(named: Iterable[str], cells: Iterable[tuple[str | None, Iterable[str]]]) -> list[str]:
    """Keys that are neither the grade id nor a tag of any cell with a grade id: a typo would otherwise
    leave a training cell on the short limit."""
    known: set[str] = set()
    for gid, tags in cells:
        if gid is not None:
            known |= {gid, *tags}
    return sorted(set(named) - known)

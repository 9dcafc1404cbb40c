"""Everything the engine knows about one assignment: its files, its knobs, its held-out data.

Built once per batch from ``assignments/<unit>/assignment.yaml`` and ``params.yaml`` so every
later step reads settings from one object instead of re-reading files.
"""

from __future__ import annotations

import hashlib
import importlib.util
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

import yaml
from nbformat import NotebookNode

from pipelines.errors import DeepgradeError
from pipelines.execute import cell_limits
from pipelines.execute.cell_limits import CellTimeouts
from pipelines.execute.device import resolve_device
from pipelines.execute.sandbox import Limits
from pipelines.grade import data_view
from pipelines.grade.heldout import Entry, declared, value_of
from pipelines.grade.notebook import grade_id, load_source, self_check_uses
from pipelines.params import is_provisional, load_params, profiled, resolve_profile
from pipelines.paths import ensure_reference_importable, project_root

if TYPE_CHECKING:
    from pipelines.grade.api import Probe


@dataclass
class Unit:
    """One assignment as the grader sees it."""

    name: str
    root: Path
    config: dict[str, Any]
    params: dict[str, Any]
    profile: str
    notebooks: list[str] = field(default_factory=list)

    @classmethod
    def load(cls, name: str) -> Unit:
        root = project_root() / "assignments" / name
        config_path = root / "assignment.yaml"
        if not config_path.exists():
            known = sorted(p.parent.name for p in (project_root() / "assignments").glob("*/assignment.yaml"))
            raise DeepgradeError(f"no assignment '{name}' (no {config_path}); known assignments: {', '.join(known) or 'none'}")
        config = yaml.safe_load(config_path.read_text()) or {}
        params = load_params()
        return cls(name, root, config, params, resolve_profile(params), list(config.get("notebooks", [])))

    # --- knobs -------------------------------------------------------------------------
    @property
    def grading(self) -> dict[str, Any]:
        return self.params["grading"]

    @property
    def unit_params(self) -> dict[str, Any]:
        return self.params.get("units", {}).get(self.name, {})

    def tolerance(self, key: str) -> float:
        """A comparison tolerance: the unit's own, else the course-wide default."""
        for table in (self.unit_params.get("tolerances", {}), self.grading.get("tolerances", {})):
            if key in table:
                return float(profiled(table[key], self.profile))
        raise KeyError(f"params.yaml has no tolerance '{key}' for {self.name} (units.{self.name}.tolerances)")

    def threshold(self, key: str) -> float:
        table = self.unit_params.get("thresholds", {})
        if key not in table:
            raise KeyError(f"params.yaml has no threshold '{key}' for {self.name} (units.{self.name}.thresholds)")
        return float(profiled(table[key], self.profile))

    def provisional(self, key: str) -> bool:
        """Whether threshold ``key`` is provisional on this profile: not calibrated on its data yet
        (``deepgrade calibrate``)."""
        return is_provisional(self.unit_params.get("thresholds", {}).get(key), self.profile)

    def sandbox(self, kind: str) -> dict[str, Any]:
        """Sandbox settings for ``notebook`` or ``probes`` runs, most specific last:
        ``grading.sandbox``, its ``<kind>`` table, then ``units.<unit>.sandbox`` and its ``<kind>``
        table, each value resolved for the profile (a unit trains for minutes on ``full`` data but
        seconds on ``ci``, and its cell timeout should say so)."""
        settings: dict[str, Any] = {}
        for section in (self.grading.get("sandbox", {}), self.unit_params.get("sandbox", {})):
            settings.update({k: v for k, v in section.items() if k not in ("notebook", "probes")})
            settings.update(section.get(kind, {}))
        return {k: profiled(v, self.profile) for k, v in settings.items()}

    @property
    def preload(self) -> list[str]:
        """Modules the probe worker imports once, before it forks a child per probe
        (``assignment.yaml: preload``, e.g. ``[torch]``)."""
        return [str(m) for m in self.config.get("preload") or []]

    def limits(self, kind: str) -> Limits:
        """Sandbox resource limits for ``notebook`` or ``probes`` runs, on the unit's device."""
        return Limits.from_params(self.sandbox(kind), device=self.device)

    @cached_property
    def device(self) -> str:
        """``cpu`` or ``cuda``: ``units.<unit>.device``, else ``grading.device``, resolved on this
        machine (``auto``: CUDA when it can run in the sandbox here)."""
        if "device" in self.unit_params:
            return resolve_device(self.unit_params["device"], f"units.{self.name}.device")
        return resolve_device(self.grading["device"], "grading.device")

    def cell_timeouts(self, notebook: str) -> CellTimeouts:
        """Each cell's time limit in ``notebook``: ``cell_timeout``, and ``cell_timeouts`` by grade id or
        tag, resolved for the profile against the source notebooks (``pipelines.execute.cell_limits``)."""
        settings = self.sandbox("notebook")
        named = {key: int(profiled(value, self.profile)) for key, value in (settings.get("cell_timeouts") or {}).items()}

        def cells(name: str) -> list[tuple[str | None, list[str]]]:
            return [(grade_id(c), list(c.get("metadata", {}).get("tags", []))) for c in load_source(self.source_notebook(name)).cells]

        unknown = cell_limits.unmatched(named, [c for name in self.notebooks for c in cells(name)])
        if unknown:
            raise DeepgradeError(f"params.yaml, units.{self.name}.sandbox.notebook.cell_timeouts names {', '.join(unknown)}: "
                                 f"no cell of {', '.join(self.notebooks)} has that grade id or tag")
        return cell_limits.resolve(int(settings["cell_timeout"]), named, cells(notebook))

    # --- files ---------------------------------------------------------------------------
    @property
    def graders_dir(self) -> Path:
        return self.root / "graders"

    def source_notebook(self, notebook: str) -> Path:
        return self.root / notebook

    def source_cells(self) -> Iterator[tuple[str, NotebookNode]]:
        """(notebook name, cell) for every cell of the unit's source notebooks, in order."""
        for name in self.notebooks:
            for cell in load_source(self.source_notebook(name)).cells:
                yield name, cell

    @cached_property
    def self_check_uses(self) -> dict[str, frozenset[str]]:
        """Per self-check cell (``grade_id``), the exported functions and classes its code names."""
        uses: dict[str, frozenset[str]] = {}
        for name in self.notebooks:
            uses.update(self_check_uses(load_source(self.source_notebook(name))))
        return uses

    @cached_property
    def probes(self) -> list[Probe]:
        """The probes this unit's grader files declare as they are now, in a stable order. (The graders'
        API, which imports pytest, is loaded here: a batch whose grades are all cached never needs it.)"""
        from pipelines.grade.api import declared_probes

        ensure_reference_importable()  # graders compare with the checkout's reference/ (no wheel holds it)
        probes: dict[str, Probe] = {}
        for path in sorted(self.graders_dir.glob("test_*.py")):
            for p in declared_probes(_grader_module(path)):
                if p.name in probes:
                    raise DeepgradeError(f"{self.graders_dir}: the probe name '{p.name}' is used in two grader files")
                probes[p.name] = p
        return [probes[name] for name in sorted(probes)]

    # --- data ----------------------------------------------------------------------------
    @property
    def datasets(self) -> list[str]:
        return list(self.config.get("datasets", []))

    @cached_property
    def heldout_entries(self) -> dict[str, list[Entry]]:
        """``assignment.yaml: heldout``, each entry checked against the prepared data (``pipelines.grade.heldout``)."""
        return declared(self.config.get("heldout") or {}, self.root / "assignment.yaml")

    def heldout(self, dataset: str, entry: str) -> Any:
        """A held-out key or file (``y_test``, ``captions.h5:val_captions``), read in the trusted process only."""
        return value_of(dataset, entry, self.heldout_entries.get(dataset, []), self.root / "assignment.yaml")

    def student_data_view(self, cache_dir: Path) -> Path:
        """A data folder for the sandbox: the unit's prepared datasets without the held-out entries
        (``pipelines.grade.data_view``; rebuilt only when the prepared data or the entries change)."""
        return data_view.build(self.name, self.datasets, self.heldout_entries, cache_dir)


def _grader_module(path: Path) -> ModuleType:
    """The grader module of ``path`` as the file is now: imported under a name keyed by its path and
    content, so a grader edited mid-term is imported afresh, even in one process, and an unchanged
    one is imported once."""
    digest = hashlib.sha1(str(path.resolve()).encode() + path.read_bytes()).hexdigest()[:12]
    mod_name = f"deepgrade_graders_{digest}.{path.stem}"
    if mod_name in sys.modules:
        return sys.modules[mod_name]
    spec = importlib.util.spec_from_file_location(mod_name, path)
    if spec is None or spec.loader is None:
        raise DeepgradeError(f"{path}: cannot be imported as a grader module")
    module = importlib.util.module_from_spec(spec)
    sys.modules[mod_name] = module
    spec.loader.exec_module(module)
    return module

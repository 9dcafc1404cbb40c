"""Everything the engine knows about one assignment: its files, its knobs, its held-out data.

Built once per batch from ``assignments/<unit>/assignment.yaml`` and ``params.yaml`` so every
later step reads settings from one object instead of re-reading files.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import shutil
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import yaml
from nbformat import NotebookNode

from pipelines.atomic import atomic_path
from pipelines.errors import DeepgradeError
from pipelines.execute.sandbox import Limits
from pipelines.grade.notebook import load_source
from pipelines.params import load_params, profiled, resolve_profile
from pipelines.paths import ensure_reference_importable, prepared_dir, project_root

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
        """Sandbox resource limits for ``notebook`` or ``probes`` runs."""
        return Limits.from_params(self.sandbox(kind))

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
    def probes(self) -> list[Probe]:
        """The probes declared by this unit's grader modules, in a stable order. (The graders' API,
        which imports pytest, is loaded here: a batch whose grades are all cached never needs it.)"""
        from pipelines.grade.api import registered_probes

        ensure_reference_importable()  # graders compare with the checkout's reference/ (no wheel holds it)
        for path in sorted(self.graders_dir.glob("test_*.py")):
            # Keyed by path and content: a grader edited mid-term is imported afresh, even in one process.
            digest = hashlib.sha1(str(path.resolve()).encode() + path.read_bytes()).hexdigest()[:12]
            mod_name = f"deepgrade_graders_{digest}.{path.stem}"
            if mod_name in sys.modules:
                continue
            spec = importlib.util.spec_from_file_location(mod_name, path)
            if spec is None or spec.loader is None:
                raise DeepgradeError(f"{path}: cannot be imported as a grader module")
            module = importlib.util.module_from_spec(spec)
            sys.modules[mod_name] = module
            spec.loader.exec_module(module)
        mine = self.graders_dir.resolve()
        probes: dict[str, Probe] = {}
        for p in registered_probes():
            if mine in Path(p.make.__code__.co_filename).resolve().parents:
                if p.name in probes and probes[p.name].make.__code__.co_filename != p.make.__code__.co_filename:
                    raise DeepgradeError(f"{self.graders_dir}: the probe name '{p.name}' is used in two grader files")
                probes[p.name] = p
        return [probes[name] for name in sorted(probes)]

    # --- data ----------------------------------------------------------------------------
    @property
    def datasets(self) -> list[str]:
        return list(self.config.get("datasets", []))

    @property
    def heldout_keys(self) -> dict[str, list[str]]:
        return {ds: list(keys) for ds, keys in (self.config.get("heldout") or {}).items()}

    def heldout(self, dataset: str, key: str) -> np.ndarray:
        """Held-out labels, read in the trusted process only."""
        if key not in self.heldout_keys.get(dataset, []):
            raise KeyError(f"{dataset}.{key} is not declared held out in {self.root / 'assignment.yaml'}")
        with np.load(prepared_dir() / f"{dataset}.npz", allow_pickle=False) as data:
            return np.array(data[key])

    def student_data_view(self, cache_dir: Path) -> Path:
        """A data folder for the sandbox: the unit's prepared datasets minus the held-out keys.

        Rebuilt only when a prepared file changes (keyed by its size and mtime).
        """
        view = cache_dir / "sandbox-data" / self.name
        (view / "prepared").mkdir(parents=True, exist_ok=True)
        for ds in self.datasets:
            if (prepared_dir() / ds).is_dir():
                self._link_folder_dataset(ds, view)
                continue
            src = prepared_dir() / f"{ds}.npz"
            if not src.exists():
                raise DeepgradeError(f"{src} is missing: run `dvc repro prepare_{ds}` first")
            st = src.stat()
            stamp = f"{st.st_size}-{st.st_mtime_ns}"
            dst = view / "prepared" / f"{ds}.npz"
            stamp_file = dst.with_suffix(".stamp")
            if dst.exists() and stamp_file.exists() and stamp_file.read_text() == stamp:
                continue
            withheld = set(self.heldout_keys.get(ds, []))
            with np.load(src, allow_pickle=False) as data:
                kept = {k: data[k] for k in data.files if k not in withheld}
            with atomic_path(dst) as tmp, open(tmp, "wb") as fh:
                np.savez(fh, **kept)
            for extra in prepared_dir().glob(f"{ds}*.json"):
                (dst.parent / extra.name).write_bytes(extra.read_bytes())
            stamp_file.write_text(stamp)
        return view

    def _link_folder_dataset(self, ds: str, view: Path) -> None:
        """Datasets prepared as a folder (COCO) are shared read-only as they are (hard links)."""
        if self.heldout_keys.get(ds):
            raise DeepgradeError(
                f"{self.root / 'assignment.yaml'}: held-out keys are supported for .npz datasets only, not {ds}/"
            )
        dst = view / "prepared" / ds
        shutil.rmtree(dst, ignore_errors=True)
        shutil.copytree(prepared_dir() / ds, dst, copy_function=os.link)

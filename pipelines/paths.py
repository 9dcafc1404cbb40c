"""Where the project's folders are, in one place.

Every stage reads and writes below the project root, which is the checkout holding ``dvc.yaml``.
``DEEPGRADE_ROOT`` overrides it so tests can run stages against a throwaway tree.
"""

from __future__ import annotations

import importlib
import os
import sys
from pathlib import Path
from types import ModuleType

from pipelines.errors import DeepgradeError


def project_root() -> Path:
    """The project root: ``$DEEPGRADE_ROOT`` if set, else the checkout this package lives in."""
    env = os.environ.get("DEEPGRADE_ROOT")
    if env:
        return Path(env).resolve()
    return Path(__file__).resolve().parents[1]


def data_dir() -> Path:
    """Root of raw and prepared data (``data/raw/<dataset>``, ``data/prepared/...``)."""
    env = os.environ.get("DEEPGRADE_DATA_DIR")
    return Path(env).resolve() if env else project_root() / "data"


def raw_dir(dataset: str) -> Path:
    return data_dir() / "raw" / dataset


def prepared_dir() -> Path:
    return data_dir() / "prepared"


def cache_root() -> Path:
    """The grade cache and job folders: ``$DEEPGRADE_CACHE_DIR``, else ``.cache/deepgrade`` in the project."""
    env = os.environ.get("DEEPGRADE_CACHE_DIR")
    return Path(env).resolve() if env else project_root() / ".cache" / "deepgrade"


def gradebook_path(params: dict) -> Path:
    """The course's nbgrader gradebook (``params.yaml: grading.gradebook``, relative to the project)."""
    return project_root() / params["grading"]["gradebook"]


def roster_path(params: dict) -> Path | None:
    """The course roster (``params.yaml: exports.roster``, relative to the project); None when not set."""
    name = (params.get("exports") or {}).get("roster")
    return project_root() / name if name else None


def examples_dir(unit: str) -> Path:
    """Where a unit's generated example submissions go (nbgrader layout below it).

    One folder per unit, so each unit's DVC ``examples`` stage owns an output no other unit's touches.
    """
    return project_root() / "examples" / unit / "submitted"


def ensure_reference_importable() -> ModuleType:
    """The ``reference`` package, taken from the project root's ``reference/`` when not installed.

    The wheel (``pip install deepgrade``, what students get) holds no reference solutions, so the
    instructor's tools find them in the checkout they run from: the project root is appended to
    ``sys.path`` (after everything installed, so it never shadows another package).
    """
    try:
        return importlib.import_module("reference")
    except ModuleNotFoundError as exc:
        if exc.name != "reference":
            raise
    folder = project_root() / "reference"
    if not (folder / "__init__.py").is_file():
        raise DeepgradeError(
            f"the reference solutions are not installed and {folder} is not a package: run deepgrade "
            "from the course checkout that holds reference/ (or set DEEPGRADE_ROOT to that checkout)"
        )
    sys.path.append(str(project_root()))
    return importlib.import_module("reference")

"""Reads ``params.yaml``, the one home of every knob (tolerances, thresholds, limits, seeds).

Profiles: ``full`` (official data) and ``ci`` (the mirror's declared subsets). ``profile: auto``
resolves to ``ci`` when the prepared data records that it came from subsets, else ``full``, so
thresholds can never be applied to data they were not calibrated on.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from pipelines.paths import prepared_dir, project_root

PROFILES = ("full", "ci")


@lru_cache(maxsize=8)
def _load(path: Path) -> dict[str, Any]:
    with open(path, encoding="utf-8") as fh:
        return yaml.safe_load(fh) or {}


def load_params(path: Path | None = None) -> dict[str, Any]:
    """The parsed ``params.yaml`` (cached; callers must not mutate it)."""
    return _load((path or project_root() / "params.yaml").resolve())


def resolve_profile(params: dict[str, Any] | None = None) -> str:
    """``full`` or ``ci``: the configured profile, or for ``auto`` the one the prepared data implies."""
    params = params if params is not None else load_params()
    profile = params.get("profile", "auto")
    if profile in PROFILES:
        return profile
    if profile != "auto":
        raise ValueError(f"params.yaml: profile must be one of auto, full, ci (got {profile!r})")
    for provenance in sorted(prepared_dir().glob("*provenance.json")):
        if json.loads(provenance.read_text()).get("subset"):
            return "ci"
    return "full"


# Keys a per-profile threshold may carry beside its values (``deepgrade calibrate``): the profiles whose
# value is not calibrated on that profile's data yet, and what the reference measured there.
PROVISIONAL, MEASURED = "provisional", "measured"


def profiled(value: Any, profile: str) -> Any:
    """Pick ``value[profile]`` when ``value`` is a per-profile mapping, else ``value`` itself."""
    if isinstance(value, dict):
        values = set(value) - {PROVISIONAL, MEASURED}
        if values and values <= set(PROFILES):
            return value[profile]
    return value


def is_provisional(value: Any, profile: str) -> bool:
    """Whether a per-profile value is marked provisional for ``profile`` (``provisional: [full]``)."""
    return isinstance(value, dict) and profile in (value.get(PROVISIONAL) or [])

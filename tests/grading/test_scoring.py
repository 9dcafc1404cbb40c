"""Scoring runs each unit's own hidden graders, whatever this process scored before."""

from __future__ import annotations

from pathlib import Path


def test_two_units_graders_of_one_file_name_are_not_mixed_up(tmp_path: Path) -> None:
    """Every unit's graders folder may hold a test_losses.py; scoring one unit after another in one
    process must run each unit's own file (pytest's importlib mode reuses a module of the same name)."""
    import sys
    from types import SimpleNamespace

    from pipelines.grade.score import _forget_other_units_graders

    for name in ("u1", "u2"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "test_losses.py").write_text(f"UNIT = {name!r}\n")
    stale = type(sys)("test_losses")
    stale.__file__ = str(tmp_path / "u1" / "test_losses.py")
    sys.modules["test_losses"] = stale
    try:
        _forget_other_units_graders(SimpleNamespace(graders_dir=tmp_path / "u1"))  # type: ignore[arg-type]
        assert sys.modules.get("test_losses") is stale  # its own file: kept
        _forget_other_units_graders(SimpleNamespace(graders_dir=tmp_path / "u2"))  # type: ignore[arg-type]
        assert "test_losses" not in sys.modules
    finally:
        sys.modules.pop("test_losses", None)

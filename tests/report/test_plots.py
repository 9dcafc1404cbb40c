"""Report plots are redrawn only when what they show changes."""

from __future__ import annotations

from pathlib import Path

from pipelines.report.plots import kept_png


def test_a_plot_is_drawn_once_per_data(tmp_path: Path) -> None:
    drawn: list[str] = []

    def draw(tag: str) -> str:
        drawn.append(tag)
        return f"png-{tag}"

    assert kept_png(tmp_path, "curve", b"1,2,3", lambda: draw("a")) == "png-a"
    assert kept_png(tmp_path, "curve", b"1,2,3", lambda: draw("b")) == "png-a"
    assert kept_png(tmp_path, "curve", b"1,2,4", lambda: draw("c")) == "png-c"
    assert drawn == ["a", "c"]
    assert len(list(tmp_path.glob(".curve.*.b64"))) == 1

"""Figures for the HTML reports, embedded as base64 PNG so a report is one self-contained file."""

from __future__ import annotations

import base64
import hashlib
import io
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pipelines.atomic import atomic_path


def preload_matplotlib() -> None:
    """Import matplotlib (about 0.5 s) in a background thread, so that a report drawn later does not
    wait for it; a later ``import`` in another thread waits for this one to finish, never repeats it."""

    def load() -> None:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot  # noqa: F401

    threading.Thread(target=load, name="preload-matplotlib").start()


def figure(width: float = 6, height: float = 3) -> tuple[Any, Any]:
    """A new matplotlib figure and axes on the file-only Agg backend (reports run headless)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt.subplots(figsize=(width, height))


def png_base64(fig: Any) -> str:
    """The figure as a base64 PNG (for ``<img src="data:image/png;base64,...">``); closes it."""
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buf, format="png", dpi=80)
    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode()


def kept_png(folder: Path, name: str, data: bytes, draw: Callable[[], str]) -> str:
    """``draw()``'s base64 PNG, kept in ``folder`` under a hash of the ``data`` it shows. Reports are
    rebuilt on every run; an unchanged plot is read back instead of importing matplotlib to redraw it."""
    key = hashlib.sha256(data).hexdigest()[:16]
    kept = folder / f".{name}.{key}.b64"
    if kept.is_file():
        return kept.read_text()
    png = draw()
    for old in folder.glob(f".{name}.*.b64"):
        old.unlink()
    folder.mkdir(parents=True, exist_ok=True)
    with atomic_path(kept) as tmp:
        tmp.write_text(png)
    return png

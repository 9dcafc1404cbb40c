"""Figures for the HTML reports, embedded as base64 PNG so a report is one self-contained file."""

from __future__ import annotations

import base64
import io
from typing import Any


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

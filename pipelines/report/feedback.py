"""Per-student feedback.html: what was checked, with which tolerance, and by how much it missed.

Built from results.json and the arrays the notebook exported (e.g. a loss curve), never from
grader code or expected arrays, so nothing hidden can leak into it.
"""

from __future__ import annotations

from datetime import datetime
from functools import partial
from pathlib import Path

import jinja2
import numpy as np

from pipelines.atomic import atomic_path
from pipelines.execute import statuses
from pipelines.report.plots import figure, kept_png, png_base64
from pipelines.results import Late, StudentResult

STATUS_HELP = {
    statuses.OK: "Every cell of your notebook ran and every check below was graded.",
    statuses.ERROR: "Some cells raised errors; everything that could still be checked was graded.",
    statuses.TIMEOUT: "Your code ran out of time; checks that needed it got no points. Look for an endless loop or very slow code.",
    statuses.OOM: "Your code ran out of memory; checks that needed it got no points. Look for a very large array.",
    statuses.KERNEL_DIED: "The Python kernel stopped (for example os._exit or a crash); checks that needed it got no points.",
    statuses.INVALID_NOTEBOOK: "Your file could not be read as a notebook, so nothing could be graded.",
    statuses.TAMPERED: "Some protected cells were changed or deleted; the originals were restored and your work was graded with them.",
    statuses.MISSING: "No notebook was found, so nothing could be graded.",
}

_env = jinja2.Environment(
    loader=jinja2.FileSystemLoader(Path(__file__).parent / "templates"),
    autoescape=jinja2.select_autoescape(["html", "j2"]),
)


def _curve_png(values: np.ndarray, title: str) -> str:
    fig, ax = figure()
    ax.plot(np.asarray(values, dtype=float).ravel())
    ax.set_xlabel("iteration")
    ax.set_ylabel("loss")
    ax.set_title(title)
    return png_base64(fig)


def plots_from_exports(export_dir: Path | None, folder: Path) -> list[dict[str, str]]:
    """Loss curves the notebook exported (any ``*loss_history`` array), kept in ``folder`` while unchanged."""
    plots: list[dict[str, str]] = []
    if export_dir is None or not export_dir.is_dir():
        return plots
    for path in sorted(export_dir.glob("*loss_history.npy")):
        try:
            values = np.load(path, allow_pickle=False)
        except (ValueError, OSError):
            continue
        if values.dtype.kind in "biuf" and 1 < values.size <= 1_000_000:
            title = path.stem.replace("_", " ")
            png = kept_png(folder, path.stem, values.tobytes() + title.encode(), partial(_curve_png, values, title))
            plots.append({"title": title, "png": png})
    return plots


def late_summary(late: Late) -> str:
    """One sentence for the student and the LMS: when it was due and submitted, and what it cost."""
    extension = f" (your extension of {late.extension_hours:g} h included)" if late.extension_hours else ""
    due = f"Due {_shown(late.due_at)}{extension}"
    if late.submitted_at is None:
        return f"{due}; no submission time was recorded, so no late penalty was applied."
    if late.hours_late <= 0:
        return f"{due}; submitted {_shown(late.submitted_at)}: on time."
    return (f"{due}; submitted {_shown(late.submitted_at)}: {late.hours_late:.1f} h late, so {late.penalty_percent:g} % "
            f"of the points earned were deducted ({late.score_before:g} - {late.points_deducted:g} points).")


def _shown(iso: str) -> str:
    return datetime.fromisoformat(iso).strftime("%Y-%m-%d %H:%M UTC")


def feedback_text(result: StudentResult) -> str:
    """The plain-text summary an LMS shows beside the score (Gradescope's output, Moodle's feedback):
    the status and what it means, what was said about the submission, and the late policy's verdict.
    Built from the same results.json fields as feedback.html, so it holds nothing hidden either."""
    lines = [f"{result.assignment}: {result.score:g} / {result.max_score:g} autograded points, status {result.status}. "
             f"{STATUS_HELP.get(result.status, '')}".strip()]
    if result.manual_points_pending:
        lines.append(f"{result.manual_points_pending:g} more points are graded by hand.")
    if result.late:
        lines.append(late_summary(result.late))
    lines.extend(result.messages)
    return "\n".join(lines)


def write_feedback(out_dir: Path, result: StudentResult, export_dir: Path | None) -> Path:
    folder = out_dir / result.student_id
    folder.mkdir(parents=True, exist_ok=True)
    html = _env.get_template("feedback.html.j2").render(
        r=result, status_help=STATUS_HELP.get(result.status, ""), plots=plots_from_exports(export_dir, folder),
        late=late_summary(result.late) if result.late else "",
    )
    path = folder / "feedback.html"
    with atomic_path(path) as tmp:
        tmp.write_text(html, encoding="utf-8")
    return path

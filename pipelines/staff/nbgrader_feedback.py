"""Feedback in nbgrader's release layout, so nbgrader courses keep ``nbgrader release_feedback``.

``nbgrader generate_feedback`` writes ``feedback/<student_id>/<assignment>/<notebook>.html`` beside
the submission's ``timestamp.txt`` and ``submission_secret.txt``, and ``release_feedback`` reads all
three: the secret names the file in the exchange where only that student's ``fetch_feedback`` finds it
(nbgrader.utils.notebook_hash). Here each notebook of a unit gets the student's deepgrade feedback
(one page covers the unit), and the two text files are copied from the submitted folder, read as
plain files only (``intake.read_submitted``: a link there is not followed). A student whose folder
lacks them still gets the page; ``release_feedback`` cannot release it, and the export says so.
"""

from __future__ import annotations

from pathlib import Path

from pipelines.atomic import atomic_path
from pipelines.grade.intake import Rejected, read_submitted

RELEASE_FILES = ("timestamp.txt", "submission_secret.txt")


def write_nbgrader_feedback(feedback_dir: Path, unit: str, notebooks: list[str], student_id: str, page: Path,
                            submitted: Path | None) -> list[str]:
    """Write one student's feedback of ``unit`` below ``feedback_dir``; the release files it lacks."""
    folder = feedback_dir / student_id / unit
    html = page.read_bytes()
    for name in notebooks:
        with atomic_path(folder / f"{Path(name).stem}.html") as tmp:
            tmp.write_bytes(html)
    lacking = []
    for name in RELEASE_FILES:
        try:
            data = read_submitted(submitted / student_id / unit, name) if submitted else None
        except Rejected:
            data = None
        if data is None:
            lacking.append(name)
            continue
        with atomic_path(folder / name) as tmp:
            tmp.write_bytes(data)
    return lacking

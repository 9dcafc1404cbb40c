"""Put autograded scores into nbgrader's gradebook, so the formgrader shows them beside manual grading.

The assignment's cells are registered with nbgrader's own preprocessors (ComputeChecksums,
SaveCells), exactly as ``nbgrader generate_assignment`` does; each student's submission is then
(re)created and every autograded cell gets the points its hidden graders awarded. Cells graded by
hand are left ``needs_manual_grade`` for the formgrader, with their rubric (``notebook.rubric``) as the
comment the formgrader shows beside the answer.

nbgrader is imported only when the gradebook is written, and without the Jupyter server
extensions its package ``__init__`` loads (``bare_nbgrader``), which a rerun whose results the
gradebook already holds does not need at all.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import json
import os
import sys
import warnings
from collections import defaultdict
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from pipelines.atomic import atomic_path
from pipelines.grade import notebook as nbtools
from pipelines.grade.unit import Unit
from pipelines.results import StudentResult

# ``record(results, register)``: what ``recorder`` yields for a batch.
Recorder = Callable[[list[StudentResult], bool], None]


def bare_nbgrader() -> None:
    """Make ``import nbgrader.<module>`` load that module and what it imports, not nbgrader's package
    ``__init__``, which loads its Jupyter server extensions (jupyter_server, tornado handlers: about
    0.5 s of every batch) that the gradebook and preprocessors never use. The package object keeps
    ``__version__``, the one attribute nbgrader's own modules read from it (``nbgrader.apps``).
    Nothing changes in a process that imported nbgrader already."""
    if "nbgrader" in sys.modules:
        return
    spec = importlib.util.find_spec("nbgrader")
    if spec is None or spec.submodule_search_locations is None:
        return  # not installed: the import below says so
    package = importlib.util.module_from_spec(spec)
    sys.modules["nbgrader"] = package
    from nbgrader._version import __version__

    package.__version__ = __version__  # type: ignore[attr-defined]


def use_own_alembic() -> None:
    """nbgrader creates a new gradebook by running the ``alembic`` command found on PATH; make it
    the one of the environment deepgrade runs in, whether or not that environment is activated."""
    bin_dir = str(Path(sys.executable).parent)
    if bin_dir not in os.environ.get("PATH", "").split(os.pathsep):
        os.environ["PATH"] = bin_dir + os.pathsep + os.environ.get("PATH", "")


def register_assignment(unit: Unit, db_url: str) -> None:
    """Create or update the assignment, its notebooks and grade cells in the gradebook."""
    bare_nbgrader()
    from nbgrader.api import Gradebook
    from nbgrader.preprocessors import ComputeChecksums, SaveCells

    with Gradebook(db_url) as gb:
        gb.update_or_create_assignment(unit.name)
    for name in unit.notebooks:
        nb = nbtools.load_source(unit.source_notebook(name))
        resources = {"nbgrader": {"notebook": Path(name).stem, "assignment": unit.name, "db_url": db_url}}
        nb, resources = ComputeChecksums().preprocess(nb, resources)
        SaveCells().preprocess(nb, resources)


def sources_digest(unit: Unit) -> str:
    """What registering the assignment depends on: its source notebooks."""
    h = hashlib.sha256()
    for name in unit.notebooks:
        h.update(unit.source_notebook(name).read_bytes())
    return h.hexdigest()


def results_digest(unit: Unit, results: list[StudentResult]) -> str:
    """What a gradebook write depends on: the assignment's source notebooks and every result."""
    h = hashlib.sha256(sources_digest(unit).encode())
    h.update(json.dumps([r.to_json() for r in results], sort_keys=True).encode())
    return h.hexdigest()


def _stamp(db_path: Path) -> list[int] | None:
    try:
        st = db_path.stat()
    except OSError:
        return None
    return [st.st_size, st.st_mtime_ns]


def _marked(marker: Path) -> dict[str, Any]:
    try:
        recorded = json.loads(marker.read_text())
    except (OSError, ValueError):
        return {}
    return recorded if isinstance(recorded, dict) else {}


def holds(db_path: Path, marker: Path, digest: str) -> bool:
    """Whether the gradebook still holds exactly what was last recorded with ``digest``: the marker
    says so and the database file has not changed since (a TA's edit in the formgrader changes it)."""
    recorded = _marked(marker)
    return recorded.get("digest") == digest and recorded.get("db") == _stamp(db_path)


def registered(db_path: Path, marker: Path, unit: Unit) -> bool:
    """Whether the assignment's cells are registered as its source notebooks are now: the last batch
    registered them from these very sources and the database file has not changed since. A batch
    then skips registering, and importing nbgrader's preprocessors for it (about 0.3 s)."""
    recorded = _marked(marker)
    return recorded.get("sources") == sources_digest(unit) and recorded.get("db") == _stamp(db_path)


def mark(db_path: Path, marker: Path, digest: str, sources: str) -> None:
    """Remember that the gradebook now holds the results of ``digest``, registered from ``sources``."""
    marker.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(marker) as tmp:
        tmp.write_text(json.dumps({"digest": digest, "sources": sources, "db": _stamp(db_path)}))


@contextlib.contextmanager
def recorder(unit: Unit, db_path: Path) -> Iterator[Recorder]:
    """One open gradebook for a whole batch, yielding ``record(results, register)``: write those
    students' autograded cell scores, keeping any manual grading already done, and commit.
    ``register=True`` first (re)registers the assignment's cells. Opening nbgrader's ``Gradebook``
    anew for each student cost about 70 ms (a new engine compiles every query again); one session
    keeps the compiled queries while still committing after each student."""
    bare_nbgrader()
    from nbgrader.api import Gradebook
    from sqlalchemy.exc import SAWarning

    from pipelines.execute.sandbox import UNSAFE_NOTE, unsafe_no_sandbox

    use_own_alembic()
    db_url = f"sqlite:///{db_path.resolve()}"
    manual = manual_cells(unit)
    rubrics = {str(nbtools.grade_id(cell)): text for _, cell in unit.source_cells() if (text := nbtools.rubric(cell))}
    unsafe = unsafe_no_sandbox()
    with warnings.catch_warnings():
        # nbgrader's add_submission builds a SubmittedAssignment while a query autoflushes, and
        # SQLAlchemy 2 warns "not in session, add operation ... will not proceed"; nbgrader adds the
        # object right after and its own `nbgrader autograde` prints the same warnings. The scores
        # land (tests/grading check them in the gradebook), so the noise is kept off the console.
        warnings.filterwarnings("ignore", message=".*not in session, add operation.*", category=SAWarning)
        with Gradebook(db_url) as gb:

            def record(results: list[StudentResult], register: bool = False) -> None:
                if register:
                    register_assignment(unit, db_url)
                for result in results:
                    _record_one(gb, unit, result, manual, rubrics, unsafe, UNSAFE_NOTE)
                gb.db.commit()

            yield record


def _record_one(gb: Any, unit: Unit, result: StudentResult, manual: set[str], rubrics: dict[str, str], unsafe: bool,
                unsafe_note: str) -> None:
    gb.update_or_create_student(result.student_id)
    # Updated in place, as `nbgrader autograde` does: a regrade must not erase the scores and
    # comments a TA already gave in the formgrader.
    gb.update_or_create_submission(unit.name, result.student_id)
    per_cell: dict[str, float] = defaultdict(float)
    for test in result.tests:
        per_cell[test.cell] += test.points
    for name in unit.notebooks:
        submitted = gb.find_submission_notebook(Path(name).stem, unit.name, result.student_id)
        for grade in submitted.grades:
            if grade.cell.name not in manual:
                grade.auto_score = min(per_cell.get(grade.cell.name, 0.0), grade.max_score)
                grade.needs_manual_grade = False
            else:
                grade.auto_score = None
                grade.needs_manual_grade = grade.manual_score is None
        # nbgrader's schema has no field for how a submission was graded, nor for a rubric; its cell
        # comments are what the formgrader shows beside every answer (a TA's own comment wins there):
        # how the batch ran, and the rubric of a written answer (from the source notebook, never released).
        for comment in submitted.comments:
            parts = [unsafe_note] if unsafe else []
            if comment.cell.name in rubrics:
                parts.append(rubrics[comment.cell.name])
            comment.auto_comment = "\n\n".join(parts) or None


def manual_cells(unit: Unit) -> set[str]:
    """Written answers graded by hand in the formgrader (grade cells that are also solution cells)."""
    return {str(nbtools.grade_id(cell)) for _, cell in unit.source_cells() if nbtools.is_manually_graded(cell)}

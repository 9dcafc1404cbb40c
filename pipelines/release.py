"""``deepgrade release``: the student version of an assignment, made by nbgrader's generate_assignment.

nbgrader replaces every solution region with a stub, clears outputs, locks cells and records the
assignment's cells in the gradebook. The hidden graders, ``assignment.yaml`` and ``fidelity.yaml`` (its
buggy and correct variants) are in nbgrader's ignore list, so they never reach ``release/``. The
integrity rule of ``assignment.yaml`` goes into the released notebooks' metadata (``deepgrade check``).
"""

from __future__ import annotations

import shutil
from pathlib import Path

from traitlets.config import Config

from pipelines.errors import DeepgradeError
from pipelines.execute.integrity import RELEASE_METADATA, allowed_modules
from pipelines.grade.unit import Unit
from pipelines.leaks import find_leaks
from pipelines.paths import project_root

NEVER_RELEASED = ["graders", "assignment.yaml", "fidelity.yaml"]


def nbgrader_config(gradebook: Path) -> Config:
    """nbgrader's course layout mapped onto ours: sources in assignments/, student versions in release/."""
    from nbgrader.coursedir import CourseDirectory

    c = Config()
    c.CourseDirectory.root = str(project_root())
    c.CourseDirectory.source_directory = "assignments"
    c.CourseDirectory.release_directory = "release"
    c.CourseDirectory.ignore = list(CourseDirectory().ignore) + NEVER_RELEASED
    c.CourseDirectory.db_url = f"sqlite:///{gradebook.resolve()}"
    return c


def release(assignment: str) -> Path:
    """Generate ``release/<assignment>/``; raises ``DeepgradeError`` with nbgrader's log on failure."""
    from nbgrader.apps import NbGraderAPI
    from nbgrader.coursedir import CourseDirectory

    from pipelines.grade.gradebook import use_own_alembic
    from pipelines.params import load_params
    from pipelines.paths import gradebook_path

    use_own_alembic()
    config = nbgrader_config(gradebook_path(load_params()))
    api = NbGraderAPI(coursedir=CourseDirectory(config=config), config=config)
    outcome = api.generate_assignment(assignment, force=True, create=True)
    if not outcome.get("success"):
        raise DeepgradeError(
            f"nbgrader could not release {assignment}:\n{outcome.get('error') or outcome.get('log', '')}"
        )
    target = project_root() / "release" / assignment
    unit = Unit.load(assignment)
    leaks = find_leaks(target, [unit.source_notebook(nb) for nb in unit.notebooks], project_root() / "reference")
    if leaks:
        shutil.rmtree(target)
        shown = "\n  ".join(leaks[:20])
        raise DeepgradeError(
            f"the release of {assignment} would contain solution code, so it was removed:\n  {shown}\n"
            "Put these lines inside ### BEGIN SOLUTION / ### END SOLUTION in the source notebook."
        )
    mark_rule(unit, target)
    print(f"released {assignment} -> {target}")
    return target


def mark_rule(unit: Unit, target: Path) -> None:
    """Write the unit's integrity rule (the modules export cells may import) into each released
    notebook's metadata, where ``deepgrade check`` reads it on the student's machine, which has no
    ``assignment.yaml``."""
    import nbformat

    allowed = allowed_modules(unit.config)
    if allowed is None:
        return
    for name in unit.notebooks:
        nb = nbformat.read(target / name, as_version=4)
        nb.metadata[RELEASE_METADATA] = {"export_modules": allowed}
        nbformat.write(nb, target / name)

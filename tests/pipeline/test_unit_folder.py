"""A unit is one folder plus its ``params.yaml`` section: DVC plans its stages with no other edit.

``dvc.yaml`` generates ``examples@<unit>``, ``validate@<unit>``, ``release@<unit>`` and ``grade@<unit>``
for every key of ``units:`` in ``params.yaml``. These tests copy the tracked project into a throwaway
git repository, add a unit there the way a course author would, and ask DVC what it would run.
``dvc repro --dry`` cannot answer without the datasets (it hashes every upstream output), so the plan
is read from ``dvc dag`` (the stages and their edges: what ``dvc repro`` orders) and ``dvc status``
(which of them are out of date, i.e. would run).
"""

from __future__ import annotations

import json
import re
import shutil
import sys
from pathlib import Path

import nbformat
import pytest
import yaml

from pipelines.examples import STUDENTS as EXAMPLE_STUDENTS
from tests.checkout import REPO, copy_project, run
from tests.grading import toy

UNIT = "zz_throwaway"
STAGES = ("examples", "validate", "release", "grade")
EDGE = re.compile(r'^"([^"]+)" -> "([^"]+)";$')


def dvc(project: Path, *args: str) -> str:
    return run([sys.executable, "-m", "dvc", *args], project)


def add_unit(project: Path, unit: str) -> None:
    """What a course author adds: ``assignments/<unit>/`` and a ``units.<unit>`` section, nothing else."""
    folder = project / "assignments" / unit
    (folder / "graders").mkdir(parents=True)
    nbformat.write(toy.source_notebook(), folder / f"{unit}.ipynb")
    (folder / "graders" / "test_x.py").write_text(toy.GRADERS)
    (folder / "assignment.yaml").write_text(
        yaml.safe_dump({"title": "Throwaway", "notebooks": [f"{unit}.ipynb"], "datasets": []})
    )
    params = yaml.safe_load((project / "params.yaml").read_text())
    params["units"][unit] = {"tolerances": {"numeric": 1e-6}}
    (project / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))


def dag_edges(project: Path) -> set[tuple[str, str]]:
    return {m.groups() for line in dvc(project, "dag", "--dot").splitlines() if (m := EDGE.match(line.strip()))}


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = copy_project(tmp_path_factory.mktemp("clone"))
    run(["git", "init", "-q"], root)  # DVC wants a git repository (or core.no_scm)
    return root


def test_the_repository_plans_its_own_units_only(project: Path) -> None:
    """Without the new unit, no stage of it exists (the check below could not pass by accident)."""
    stages = set(dvc(project, "stage", "list", "--name-only").split())
    assert not any(name.endswith(f"@{UNIT}") for name in stages), sorted(stages)
    assert {f"{stage}@a01_linear" for stage in STAGES} <= stages, sorted(stages)


def test_a_new_unit_folder_and_params_section_get_every_stage(project: Path, tmp_path: Path) -> None:
    project = Path(shutil.copytree(project, tmp_path / "clone", symlinks=True))
    add_unit(project, UNIT)
    edges = dag_edges(project)
    prepares = {a for a, _ in edges if a.startswith("prepare_")}
    assert prepares, f"no prepare_<ds> stage in the DAG: {sorted(edges)}"
    expected = {
        (f"examples@{UNIT}", f"grade@{UNIT}"),
        (f"validate@{UNIT}", f"grade@{UNIT}"),
        (f"validate@{UNIT}", f"release@{UNIT}"),
        *((prepare, f"validate@{UNIT}") for prepare in prepares),
        *((prepare, f"grade@{UNIT}") for prepare in prepares),
    }
    assert expected <= edges, f"missing edges: {sorted(expected - edges)}"
    # dvc status lists the stages `dvc repro` would run: all four are new, hence out of date.
    status = json.loads(dvc(project, "status", "--json"))
    assert {f"{stage}@{UNIT}" for stage in STAGES} <= set(status), sorted(status)


def course_units() -> set[str]:
    return {path.parent.name for path in (REPO / "assignments").glob("*/assignment.yaml")}


def params_units() -> set[str]:
    return set(yaml.safe_load((REPO / "params.yaml").read_text()).get("units") or {})


@pytest.mark.parametrize("unit", sorted(course_units()))
def test_every_unit_folder_has_a_params_section(unit: str) -> None:
    """A folder without a section would get no DVC stage: it would silently never be validated or graded."""
    assert unit in params_units(), (
        f"assignments/{unit}/ has no section in params.yaml, so dvc.yaml generates no stage for it: "
        f"add `{unit}:` (its tolerances, thresholds and sandbox limits, or {{}}) under `units:` in params.yaml"
    )


@pytest.mark.parametrize("unit", sorted(params_units()))
def test_every_params_section_has_a_unit_folder(unit: str) -> None:
    """A section without a folder would make DVC plan stages that fail on a missing assignment."""
    assert unit in course_units(), (
        f"params.yaml has `units.{unit}` but there is no assignments/{unit}/assignment.yaml: "
        f"add the unit's folder, or remove its section from params.yaml"
    )


def test_examples_default_to_the_units_own_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`deepgrade examples <unit>` writes where `examples@<unit>` declares its output, nowhere shared."""
    from pipelines.cli import main

    shutil.copytree(REPO / "assignments" / "a01_linear", tmp_path / "assignments" / "a01_linear")
    monkeypatch.setenv("DEEPGRADE_ROOT", str(tmp_path))
    assert main(["examples", "a01_linear"]) == 0
    written = {p.relative_to(tmp_path).as_posix() for p in tmp_path.joinpath("examples").rglob("*.ipynb")}
    assert written == {f"examples/a01_linear/submitted/{s}/a01_linear/a01_linear.ipynb" for s in EXAMPLE_STUDENTS}

"""The throwaway project every unit's end-to-end test grades its example submissions in.

Each ``tests/units/test_<unit>.py`` copies its unit, the reference code and ``params.yaml`` (with a
shorter per-cell limit) into a temporary project, writes the datasets it needs as small *learnable*
fixtures in the official file formats into a mirror that declares them as subsets (so the profile
resolves to ``ci``), fetches and prepares them through the real data stages, and grades the example
submissions with the real batch. The fixtures are learnable (classes drawn around fixed templates) so
the accuracy thresholds mean something on a few hundred rows.
"""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import nbformat
import numpy as np
import pytest
import yaml

from pipelines.data.fetch import fetch
from pipelines.data.prepare import prepare
from pipelines.examples import make_examples
from pipelines.grade.batch import autograde
from pipelines.grade.notebook import grade_id, is_export
from tests.data import fixtures

REPO = Path(__file__).resolve().parents[2]
MNIST_TRAIN_ROWS, MNIST_TEST_ROWS = 1800, 400  # 1,500 train and 300 validation rows after the 1/6 split


def learnable_cifar(root: Path, rng: np.random.Generator) -> None:
    """Official-format CIFAR-10 batches (uneven sizes, like the mirror) drawn around ten class templates."""
    templates = rng.choice([-1.0, 1.0], size=(10, 3072))
    for name, rows in {**{f"data_batch_{i}": 230 + 10 * i for i in range(1, 6)}, "test_batch": 300}.items():
        labels = rng.integers(0, 10, rows)
        pixels = 128 + 10 * templates[labels] + rng.normal(0, 40, (rows, 3072))
        fixtures.write_cifar_batch(root / "cifar-10-batches-py" / name, np.clip(pixels, 0, 255), labels.tolist())
    fixtures.write_cifar_meta(root / "cifar-10-batches-py" / "batches.meta")


def learnable_mnist(root: Path, rng: np.random.Generator) -> None:
    """Official-format MNIST IDX files drawn around ten random 28x28 templates."""
    templates = rng.random((10, 28, 28)) < 0.3
    for images, labels, rows in (("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz", MNIST_TRAIN_ROWS),
                                 ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz", MNIST_TEST_ROWS)):
        y = rng.integers(0, 10, rows)
        pixels = 200 * templates[y] + rng.normal(0, 50, (rows, 28, 28))
        fixtures.write_idx_gz(root / "mnist" / images, np.clip(pixels, 0, 255))
        fixtures.write_idx_gz(root / "mnist" / labels, y)


WRITERS: dict[str, Callable[[Path, np.random.Generator], None]] = {"cifar10": learnable_cifar, "mnist": learnable_mnist}


def unit_project(tmp_path_factory: pytest.TempPathFactory, unit: str, *, cell_timeout: float,
                 datasets: tuple[str, ...] = ()) -> Iterator[Path]:
    """Yield a throwaway project holding ``unit`` with its ``datasets`` fetched and prepared from a
    fixture mirror; the environment points at it meanwhile (so the unit's loaders, here and in a kernel
    started from here, read the fixtures). Use it in a module fixture with ``yield from``."""
    root = tmp_path_factory.mktemp("project")
    shutil.copytree(REPO / "assignments" / unit, root / "assignments" / unit)
    shutil.copytree(REPO / "reference", root / "reference", ignore=shutil.ignore_patterns("__pycache__"))
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    params["units"][unit].setdefault("sandbox", {}).setdefault("notebook", {})["cell_timeout"] = cell_timeout
    (root / "params.yaml").write_text(yaml.safe_dump(params))
    mirror = root / "mirror"
    for dataset in datasets:
        WRITERS[dataset](mirror, np.random.default_rng(7))
    if datasets:
        fixtures.write_manifest(mirror)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DEEPGRADE_ROOT", str(root))
        mp.setenv("DEEPGRADE_DATA_DIR", str(root / "data"))
        if datasets:
            mp.setenv("DEEPGRADE_DATA_MIRROR", str(mirror))
        else:
            mp.delenv("DEEPGRADE_DATA_MIRROR", raising=False)
        mp.delenv("DEEPGRADE_CACHE_DIR", raising=False)
        from pipelines.params import _load

        _load.cache_clear()
        for dataset in datasets:
            fetch(dataset)
            prepare(dataset)
        yield root
        _load.cache_clear()


def grade_examples(unit: str, project: Path) -> Path:
    """Generate and grade the unit's example submissions in ``project``; the folder of the grades."""
    make_examples(unit, project / "submitted")
    assert autograde(unit, project / "submitted", project / "graded", workers=2).failed == 0
    return project / "graded"


def results(graded: Path, student: str) -> dict:
    """One example student's ``results.json``."""
    return json.loads((graded / student / "results.json").read_text())


def failed(result: dict) -> set[str]:
    """The grader tests that did not give full points."""
    return {t["name"] for t in result["tests"] if t["points"] < t["max_points"]}


def in_cells(result: dict, cells: set[str]) -> set[str]:
    """The grader tests that count towards the given self-check cells."""
    return {t["name"] for t in result["tests"] if t["cell"] in cells}


TIMES = re.compile(r"\d+\.\d+ s\b")  # what a self-check may print that differs from run to run


def self_checks_over_global_states(project: Path, unit: str, checks: tuple[str, ...], states: range, workdir: Path,
                                   *, before: tuple[str, ...] = ("parameters", "setup"), timeout: int = 120,
                                   mask: re.Pattern[str] = TIMES) -> tuple[list[str], dict[str, set[str]]]:
    """Run the source notebook's ``before`` cells and export cells, then, for each ``k`` of ``states``,
    ``np.random.seed(k)`` followed by the visible ``checks``. Returns every error a check raised and,
    per check, the distinct texts it printed (``mask`` replaced by ``<t>``): correct work must pass
    each check whatever the global random state, and print the same every time."""
    from nbclient import NotebookClient

    source = nbformat.read(project / "assignments" / unit / f"{unit}.ipynb", as_version=4)
    cells = {grade_id(cell): cell for cell in source.cells}
    nb = nbformat.v4.new_notebook(metadata=source.metadata)
    nb.cells = [*(cells[name] for name in before), *filter(is_export, source.cells)]
    for k in states:
        nb.cells.append(nbformat.v4.new_code_cell(f"np.random.seed({k})"))
        nb.cells.extend(nbformat.from_dict(dict(cells[check])) for check in checks)
    for i, cell in enumerate(nb.cells):
        cell["id"] = f"cell-{i}"
    NotebookClient(nb, timeout=timeout, kernel_name="python3", allow_errors=True,
                   resources={"metadata": {"path": str(workdir)}}).execute()
    failures: list[str] = []
    printed: dict[str, set[str]] = {}
    for cell in nb.cells:
        check = grade_id(cell)
        if check not in checks:
            continue
        failures += [f"{check}: {o.ename}: {o.evalue}" for o in cell.outputs if o.output_type == "error"]
        text = "".join(o.get("text", "") for o in cell.outputs if o.output_type == "stream")
        printed.setdefault(check, set()).add(mask.sub("<t>", text))
    return failures, printed

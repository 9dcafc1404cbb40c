"""What every unit's end-to-end test (``tests/units/test_<unit>.py``) asserts on: its example
submissions graded as ``dvc repro`` grades them, and a project with its data for the visible checks.

Where ``dvc repro`` already did the work on the checkout as it is now (CI runs it before pytest), the
tests read its outputs: ``graded/<unit>`` and ``data/prepared`` are fresh when ``dvc status`` reports
their stages unchanged, so nothing is graded twice. Otherwise (a developer's checkout without data, or
with edits since the last ``dvc repro``) they build a throwaway project: the unit, the reference code and
``params.yaml`` copied, the datasets written as small *learnable* fixtures in the official file formats
into a mirror that declares them as subsets (so the profile resolves to ``ci``), fetched and prepared
through the real data stages, and the examples graded with the real batch. The fixtures are learnable
(classes drawn around fixed templates) so the accuracy thresholds mean something on a few hundred rows.
Neither path is ever skipped.
"""

from __future__ import annotations

import csv
import json
import re
import shutil
import subprocess
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import lru_cache
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
from pipelines.grade.unit import Unit
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


COCO_IMAGES = 2500  # 2,000 train images (10,000 captions: 100 minibatches of 100), 250 val, 250 test
COCO_GRAMMAR = {
    "subject": ["man", "woman", "dog", "cat", "bird", "horse", "child", "giraffe", "elephant", "bear"],
    "place": ["table", "street", "field", "beach", "bed", "grass", "water", "road", "snow", "kitchen"],
    "adjective": ["white", "black", "small", "large", "young", "old", "brown", "red"],
    "verb": ["sitting", "standing", "walking", "running", "lying", "eating"],
    "preposition": ["on", "in", "near", "next to"],
}
COCO_TEMPLATES = ["a {adjective} {subject} {verb} {preposition} the {place}", "A {subject} is {verb} {preposition} a {place}.",
                  "the {adjective} {subject} {verb} {preposition} a {place} with a zebra",
                  "two {subject}s {verb} {preposition} the {adjective} {place}"]


def learnable_coco(root: Path, rng: np.random.Generator) -> None:
    """Official-format COCO caption JSON (tests.data.fixtures.write_coco_json) and CS231n's vocabulary
    layout (fixtures.write_vocab): COCO_IMAGES images with five captions each, drawn from a small grammar
    in which each image has its own subject and place (its "content") and the other words vary, so that
    a language model learns it. A word outside the vocabulary ("zebra", the plurals) becomes <UNK>."""
    images = [(100000 + i, f"http://farm.example/{i}.jpg") for i in range(COCO_IMAGES)]
    picks = {key: rng.integers(len(values), size=(COCO_IMAGES, 5)) for key, values in COCO_GRAMMAR.items()}
    templates = rng.integers(len(COCO_TEMPLATES), size=(COCO_IMAGES, 5))
    annotations = []
    for row, (image, _) in enumerate(images):
        for k in range(5):
            # subject and place are the image's (its first draw), the rest varies from caption to caption
            words = {key: COCO_GRAMMAR[key][picks[key][row, 0 if key in ("subject", "place") else k]] for key in COCO_GRAMMAR}
            annotations.append((len(annotations) + 1, image, COCO_TEMPLATES[templates[row, k]].format(**words)))
    fixtures.write_coco_json(root / "coco_captioning" / "captions_val2014_learnable.json", images, annotations)
    vocabulary = sorted({w for values in COCO_GRAMMAR.values() for v in values for w in v.split()} | {"a", "the", "is", "with", "two"})
    fixtures.write_vocab(root / "coco_captioning" / "coco2014_vocab.json", vocabulary)


WRITERS: dict[str, Callable[[Path, np.random.Generator], None]] = {
    "cifar10": learnable_cifar, "mnist": learnable_mnist, "coco": learnable_coco}


def unit_project(tmp_path_factory: pytest.TempPathFactory, unit: str, *, datasets: tuple[str, ...] = ()) -> Iterator[Path]:
    """Yield a throwaway project holding ``unit`` with its ``datasets`` fetched and prepared from a
    fixture mirror; the environment points at it meanwhile (so the unit's loaders, here and in a kernel
    started from here, read the fixtures). Use it in a module fixture with ``yield from``."""
    root = tmp_path_factory.mktemp("project")
    shutil.copytree(REPO / "assignments" / unit, root / "assignments" / unit)
    shutil.copytree(REPO / "reference", root / "reference", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy2(REPO / "params.yaml", root / "params.yaml")
    mirror = root / "mirror"
    for dataset in datasets:
        WRITERS[dataset](mirror, np.random.default_rng(7))
    if datasets:
        fixtures.write_manifest(mirror)
    with _pointed_at(root, root / "data", mirror if datasets else None):
        for dataset in datasets:
            fetch(dataset)
            prepare(dataset)
        yield root


@contextmanager
def _pointed_at(root: Path, data: Path | None, mirror: Path | None) -> Iterator[None]:
    """The environment of the project at ``root`` (its data folder and mirror), restored afterwards."""
    from pipelines.params import _load

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DEEPGRADE_ROOT", str(root))
        for key, value in (("DEEPGRADE_DATA_DIR", data), ("DEEPGRADE_DATA_MIRROR", mirror)):
            if value is None:
                mp.delenv(key, raising=False)
            else:
                mp.setenv(key, str(value))
        mp.delenv("DEEPGRADE_CACHE_DIR", raising=False)
        _load.cache_clear()
        try:
            yield
        finally:
            _load.cache_clear()


@lru_cache(maxsize=1)
def _stale_stages() -> frozenset[str] | None:
    """The stages ``dvc status`` reports changed in the checkout, or None when it cannot tell."""
    try:
        done = subprocess.run(["dvc", "status", "--json"], cwd=REPO, capture_output=True, text=True, timeout=600)
        return frozenset(json.loads(done.stdout)) if done.returncode == 0 else None
    except (OSError, subprocess.TimeoutExpired, json.JSONDecodeError):
        return None


def fresh(stage: str) -> bool:
    """Whether ``dvc repro`` ran ``stage`` on the checkout as it is now (its lock entry matches the
    stage's current inputs and its outputs are in place)."""
    stale = _stale_stages()
    return stale is not None and stage not in stale and stage in (REPO / "dvc.lock").read_text()


def data_project(tmp_path_factory: pytest.TempPathFactory, unit: str, *, datasets: tuple[str, ...] = ()) -> Iterator[Path]:
    """A project with the unit's data: the checkout itself when ``dvc repro`` prepared each dataset of
    the unit from the current code (the course's real data), else a throwaway one with learnable
    fixtures (``unit_project``). Use it in a module fixture with ``yield from``."""
    if all(fresh(f"prepare_{dataset}") for dataset in datasets):
        with _pointed_at(REPO, None, None):
            yield REPO
        return
    yield from unit_project(tmp_path_factory, unit, datasets=datasets)


def graded_examples(tmp_path_factory: pytest.TempPathFactory, unit: str, *, datasets: tuple[str, ...] = ()) -> Iterator[Path]:
    """The unit's example submissions graded as ``dvc repro`` grades them: the checkout's
    ``graded/<unit>`` when its ``grade@<unit>`` stage is up to date (so CI grades nothing twice), else
    graded here, in a throwaway project with learnable fixtures. Use it in a module fixture with
    ``yield from``."""
    if fresh(f"grade@{unit}") and (REPO / "graded" / unit / "grades.csv").is_file():
        yield REPO / "graded" / unit
        return
    made = unit_project(tmp_path_factory, unit, datasets=datasets)
    project = next(made)
    try:
        make_examples(unit, project / "submitted")
        out = project / "graded" / unit
        assert autograde(unit, project / "submitted", out, workers=2).failed == 0
    finally:
        made.close()  # the environment points back where it was: the results are plain files
    yield out


def endless_loop_limit(graded: Path, unit: str) -> int:
    """The per-cell limit of the cell the ``timeout`` example loops in, in the project that graded it."""
    project = graded.parents[1]
    with _pointed_at(project, None if project == REPO else project / "data", None):
        config = yaml.safe_load((project / "assignments" / unit / "assignment.yaml").read_text())
        found = Unit.load(unit)
        return max(found.cell_timeouts(nb).of(config["examples"]["timeout"]) for nb in found.notebooks)


def project_fixture(unit: str, datasets: tuple[str, ...]) -> Callable[..., Iterator[Path]]:
    """A module fixture, to be bound to the name ``project``: the unit's data for the visible checks
    (``data_project``)."""
    @pytest.fixture(scope="module")
    def project(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
        yield from data_project(tmp_path_factory, unit, datasets=datasets)
    return project


def graded_fixture(unit: str, datasets: tuple[str, ...]) -> Callable[..., Iterator[Path]]:
    """A module fixture, to be bound to the name ``graded``: the unit's example submissions as ``dvc
    repro`` graded them (``graded_examples``)."""
    @pytest.fixture(scope="module")
    def graded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
        yield from graded_examples(tmp_path_factory, unit, datasets=datasets)
    return graded


def stopped_in(graded: Path, unit: str, cell: str) -> dict:
    """The ``timeout`` example's results, once its first message is checked to name the per-cell limit
    it ran into and the cell as the student sees it (its place in their notebook, its first line)."""
    r = results(graded, "timeout")
    assert f"per-cell limit of {endless_loop_limit(graded, unit)} s" in r["messages"][0]
    source = nbformat.read(REPO / "assignments" / unit / f"{unit}.ipynb", as_version=4)
    position = 1 + next(i for i, c in enumerate(source.cells) if grade_id(c) == cell)
    assert f"(cell {position}, the one starting `while True:" in r["messages"][0]
    return r


def assert_invalid_json_scores_nothing(graded: Path) -> None:
    """The ``invalid_json`` example scores 0 with its own status, and the student is told why."""
    r = results(graded, "invalid_json")
    assert (r["status"], r["score"]) == ("invalid_notebook", 0)
    assert "not a valid Jupyter notebook" in r["messages"][0]


EXAMPLES = ("full", "half_done", "wrong_gradient", "timeout", "invalid_json")
# The status each generated example must get (pipelines.examples makes the same five for every unit).
EXPECTED_STATUSES = {"full": "ok", "half_done": "error", "wrong_gradient": "error", "timeout": "timeout",
                     "invalid_json": "invalid_notebook"}


def assert_every_example_has_its_status(graded: Path) -> None:
    """Every example got one row of grades.csv, with the status its defect deserves."""
    with open(graded / "grades.csv", newline="") as f:
        rows = {r["student_id"]: r["status"] for r in csv.DictReader(f)}
    assert rows == EXPECTED_STATUSES


def assert_feedback_hides(graded: Path, solution: str) -> None:
    """No example's feedback shows a line of the solution or the graders' code."""
    for student in EXAMPLES:
        html = (graded / student / "feedback.html").read_text()
        assert solution not in html and "def test_" not in html


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


# Global random states a check that takes over a second is run under (the CI budget: a01's naive
# losses over 20 states cost 80 s); quick checks take every state a test asks for.
FEW_STATES = 5


def self_checks_over_global_states(project: Path, unit: str, checks: tuple[str, ...], states: range, workdir: Path,
                                   *, before: tuple[str, ...] = ("parameters", "setup"), timeout: int = 120,
                                   mask: re.Pattern[str] = TIMES, slow: tuple[str, ...] = ()
                                   ) -> tuple[list[str], dict[str, set[str]]]:
    """Run the source notebook's ``before`` cells and export cells, then, for each ``k`` of ``states``,
    ``np.random.seed(k)`` followed by the visible ``checks`` (those in ``slow``, which take over a
    second, for the first ``FEW_STATES`` states only). Returns every error a check raised and, per
    check, the distinct texts it printed (``mask`` replaced by ``<t>``): correct work must pass each
    check whatever the global random state, and print the same every time."""
    from nbclient import NotebookClient

    source = nbformat.read(project / "assignments" / unit / f"{unit}.ipynb", as_version=4)
    cells = {grade_id(cell): cell for cell in source.cells}
    nb = nbformat.v4.new_notebook(metadata=source.metadata)
    nb.cells = [*(cells[name] for name in before), *filter(is_export, source.cells)]
    for n, k in enumerate(states):
        nb.cells.append(nbformat.v4.new_code_cell(f"np.random.seed({k})"))
        nb.cells.extend(nbformat.from_dict(dict(cells[check])) for check in checks if n < FEW_STATES or check not in slow)
    for i, cell in enumerate(nb.cells):
        cell["id"] = f"cell-{i}"
    with _pointed_at(project, project / "data", None):  # the kernel inherits it: the loaders read this project's data
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

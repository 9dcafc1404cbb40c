"""Held-out files and keys of any dataset: an ``.npz`` key, a whole file of a folder dataset, a
dataset inside an HDF5 file, a top-level key of a JSON file. Student code cannot read them (the
real sandbox, a notebook that looks for them), the loaders still work without them and say so, and
the graders read them through ``heldout(dataset, entry)``.

The data is COCO (and CIFAR-10) in the official formats, fetched from a fixture mirror and prepared
by the real data stages; two extra JSON files stand for what a unit's own preparation may add.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import h5py
import nbformat
import numpy as np
import pytest
import yaml

from pipelines.data import load_coco_captions
from pipelines.data.fetch import fetch
from pipelines.data.formats import keyed
from pipelines.data.prepare import prepare
from pipelines.errors import DataError, DeepgradeError
from pipelines.grade.batch import autograde
from pipelines.grade.unit import Unit
from pipelines.params import _load
from pipelines.paths import cache_root, prepared_dir
from tests.data import fixtures
from tests.grading import toy

HELDOUT = {"coco": ["captions.h5:val_captions", "answers.json", "meta.json:split_sizes"], "cifar10": ["y_test"]}
ANSWERS = {"answer": [1, 2, 3], "why": "the graders' own"}
META = {"split_sizes": [3, 2], "public": "visible", "names": ["a", "b"]}

# A cell the student adds: look for every held-out entry, then use the loaders.
PEEK = """
import json, os
import h5py
from pipelines.data import load_cifar10, load_coco_captions
from pipelines.kit import export

coco_dir = os.path.join(data_dir, "coco")
with h5py.File(os.path.join(coco_dir, "captions.h5"), "r") as h5:
    names = []
    h5.visit(names.append)
found = [any("val_captions" in n for n in names), os.path.exists(os.path.join(coco_dir, "answers.json")),
         "split_sizes" in json.load(open(os.path.join(coco_dir, "meta.json"))),
         "y_test" in np.load(os.path.join(data_dir, "cifar10.npz")).files, os.path.exists(__PREPARED__)]
coco, cifar = load_coco_captions(data_dir), load_cifar10(data_dir)
said = []
for data, key in ((coco, "val_captions"), (cifar, "y_test")):
    try:
        data[key]
        said.append(False)
    except KeyError as exc:
        said.append("held out by the grader" in str(exc))
export("heldout_found", np.array(found, dtype=float))
export("loaders_work", np.array([len(coco["train_captions"]) > 0, "val_image_idxs" in coco, len(cifar["X_test"]) > 0,
                                 json.load(open(os.path.join(coco_dir, "meta.json")))["public"] == "visible", *said], dtype=float))
"""
GRADER = '''
import h5py
import numpy as np

from pipelines.grade.api import check_true, points
from pipelines.paths import prepared_dir


@points(0, cell="check_results")
def test_the_notebook_found_nothing_held_out(exported):
    """The notebook could not reach any held-out entry."""
    found = exported("heldout_found")
    check_true(found.shape == (5,) and not found.any(), f"found {found.tolist()}")


@points(0, cell="check_results")
def test_the_loaders_work_without_it(exported):
    """The loaders work on the data view and say what is held out."""
    works = exported("loaders_work")
    check_true(works.shape == (6,) and works.all(), f"{works.tolist()}")


@points(0, cell="check_results")
def test_graders_read_it(heldout):
    """The graders read every held-out entry."""
    with h5py.File(prepared_dir() / "coco" / "captions.h5", "r") as h5:
        val = h5["val_captions"][()]
    got = heldout("coco", "captions.h5:val_captions")
    check_true(isinstance(got, np.ndarray) and np.array_equal(got, val), "captions.h5:val_captions")
    check_true(heldout("coco", "answers.json") == __ANSWERS__, "answers.json")
    sizes = heldout("coco", "meta.json:split_sizes")
    check_true(isinstance(sizes, np.ndarray) and sizes.tolist() == [3, 2], "meta.json:split_sizes")
    check_true(heldout("cifar10", "y_test").dtype == np.int64, "y_test")
'''


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The toy unit on COCO and CIFAR-10 prepared from a fixture mirror, with held-out entries of each kind."""
    root = tmp_path_factory.mktemp("heldout-project")
    base = yaml.safe_load((Path(__file__).resolve().parents[2] / "params.yaml").read_text())
    unit = toy.make_project(root, base, {"cell_timeout": 30, "wall_seconds": 120})
    (unit / "assignment.yaml").write_text(yaml.safe_dump({"title": "Toy", "notebooks": [f"{toy.UNIT}.ipynb"],
                                                          "datasets": ["coco", "cifar10"], "heldout": HELDOUT}))
    (unit / "graders" / "test_heldout.py").write_text(GRADER.replace("__ANSWERS__", repr(ANSWERS)))
    fixtures.make_mirror(root / "mirror", np.random.default_rng(7))
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DEEPGRADE_ROOT", str(root))
        mp.setenv("DEEPGRADE_DATA_DIR", str(root / "data"))
        mp.setenv("DEEPGRADE_DATA_MIRROR", str(root / "mirror"))
        mp.delenv("DEEPGRADE_CACHE_DIR", raising=False)
        _load.cache_clear()
        for dataset in ("coco", "cifar10"):
            fetch(dataset)
            prepare(dataset)
        (prepared_dir() / "coco" / "answers.json").write_text(json.dumps(ANSWERS))
        (prepared_dir() / "coco" / "meta.json").write_text(json.dumps(META))
        peek = PEEK.replace("__PREPARED__", repr(str(prepared_dir())))
        toy.submission(root, "peeks", mutate=lambda nb: nb.cells.insert(4, nbformat.v4.new_code_cell(peek)))
        yield root
        _load.cache_clear()


def _tests(result: dict) -> dict[str, dict]:
    return {t["name"]: t for t in result["tests"]}


def test_student_code_cannot_read_them_and_the_graders_can(project: Path) -> None:
    out = project / "graded"
    assert autograde(toy.UNIT, project / "submitted", out).failed == 0
    result = json.loads((out / "peeks" / "results.json").read_text())
    tests = _tests(result)
    for name in ("test_the_notebook_found_nothing_held_out", "test_the_loaders_work_without_it", "test_graders_read_it"):
        assert tests[name]["status"] == "passed", tests[name]
    assert result["score"] == 5, result


def test_a_file_with_held_out_parts_is_a_fresh_copy_and_the_others_links(project: Path) -> None:
    Unit.load(toy.UNIT).student_data_view(cache_root())
    view, prepared = cache_root() / "sandbox-data" / toy.UNIT / "prepared", prepared_dir()
    with h5py.File(prepared / "coco" / "captions.h5", "r") as h5:
        held = h5["val_captions"][()].tobytes()
    assert held in (prepared / "coco" / "captions.h5").read_bytes()  # the test can see the bytes
    assert held not in (view / "coco" / "captions.h5").read_bytes()  # and they are nowhere in the copy
    assert not (view / "coco" / "captions.h5").samefile(prepared / "coco" / "captions.h5")
    assert (view / "coco" / "vocab.json").samefile(prepared / "coco" / "vocab.json")  # untouched: a hard link
    assert not (view / "coco" / "answers.json").exists()
    assert json.loads((view / "coco" / "meta.json").read_text()) == {"public": "visible", "names": ["a", "b"]}
    assert json.loads((view / "heldout.json").read_text()) == HELDOUT


@pytest.fixture
def data(project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of the project's prepared data that a test may change; returns its prepared folder."""
    shutil.copytree(project / "data" / "prepared", tmp_path / "data" / "prepared")
    monkeypatch.setenv("DEEPGRADE_DATA_DIR", str(tmp_path / "data"))
    return tmp_path / "data" / "prepared"


def _unit(heldout: dict[str, list[str]]) -> Unit:
    unit = Unit.load(toy.UNIT)
    unit.config["heldout"] = heldout
    return unit


@pytest.mark.parametrize(("entry", "said"), [
    ({"coco": ["captions.h5:val_caption"]}, "is not in the prepared data"),
    ({"coco": ["vocab.json:word_to_ix"]}, "is not in the prepared data"),
    ({"coco": ["answer.json"]}, "is not in the prepared data"),
    ({"cifar10": ["y_tst"]}, "is not in the prepared data"),
    ({"coco": ["../cifar10.npz"]}, "must name a file inside"),
    ({"coco": ["answers.txt:key"]}, "only .npz, .h5, .hdf5, .json files have parts"),
])
def test_an_entry_that_names_nothing_is_refused(data: Path, entry: dict, said: str) -> None:
    """A misspelt entry would leave what it meant to hide visible."""
    (data / "coco" / "answers.txt").write_text("key")
    with pytest.raises(DeepgradeError, match=said):
        _ = _unit(entry).heldout_entries


def test_the_view_follows_the_entries_and_the_prepared_data(data: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    view = _unit(HELDOUT).student_data_view(cache) / "prepared"
    assert "X_test" in np.load(view / "cifar10.npz").files
    _unit({**HELDOUT, "cifar10": ["y_test", "X_test"]}).student_data_view(cache)  # an entry added: rebuilt
    assert set(np.load(view / "cifar10.npz").files).isdisjoint({"X_test", "y_test"})
    assert "val_image_idxs" in h5py.File(view / "coco" / "captions.h5", "r")
    _unit({**HELDOUT, "coco": [*HELDOUT["coco"], "captions.h5:val_image_idxs"]}).student_data_view(cache)
    assert "val_image_idxs" not in h5py.File(view / "coco" / "captions.h5", "r")
    before = (view / "coco" / "meta.json").read_text()
    (data / "coco" / "meta.json").write_text(json.dumps({**META, "public": "changed"}))  # the prepared data changed
    _unit(HELDOUT).student_data_view(cache)
    assert json.loads((view / "coco" / "meta.json").read_text())["public"] == "changed" != json.loads(before)["public"]


def test_hdf5_links_never_reach_a_held_out_dataset(data: Path, tmp_path: Path) -> None:
    secret = np.arange(1000, 1064, dtype=np.int64)
    with h5py.File(data / "coco" / "links.h5", "w") as h5:
        h5["secret"] = secret
        h5["public"] = np.ones(3)
        h5["alias"] = h5["secret"]  # a hard link: the same dataset under another name
        h5["group/inner"] = h5["secret"]
        h5["soft"] = h5py.SoftLink("/secret")
        h5.attrs["kind"] = "test"
    view = _unit({"coco": ["links.h5:secret"]}).student_data_view(tmp_path / "cache") / "prepared"
    copy = view / "coco" / "links.h5"
    assert secret.tobytes() not in copy.read_bytes()
    with h5py.File(copy, "r") as h5:
        assert sorted(h5) == ["group", "public", "soft"] and list(h5["group"]) == [] and h5.attrs["kind"] == "test"
        assert isinstance(h5.get("soft", getlink=True), h5py.SoftLink) and h5.get("soft") is None  # copied, dangling


def test_graders_read_declared_entries_only(data: Path) -> None:
    unit = _unit(HELDOUT)
    assert unit.heldout("coco", "answers.json:answer").tolist() == [1, 2, 3]  # a part of a held-out file
    with pytest.raises(KeyError, match="not declared held out"):
        unit.heldout("coco", "captions.h5:train_captions")
    with pytest.raises(KeyError, match="not declared held out"):
        unit.heldout("coco", "meta.json:public")


def test_json_values_are_arrays_where_numeric(tmp_path: Path) -> None:
    path = tmp_path / "values.json"
    path.write_text(json.dumps({"n": 3, "grid": [[1, 2], [3, 4.5]], "words": ["a"], "ragged": [[1], [2, 3]],
                                "nested": {"a": 1}, "flag": True}))
    assert keyed.read(path, "n").shape == () and keyed.read(path, "grid").dtype == np.float64
    assert keyed.read(path, "flag").dtype == bool
    assert keyed.read(path, "words") == ["a"] and keyed.read(path, "ragged") == [[1], [2, 3]]
    assert keyed.read(path, "nested") == {"a": 1}


def test_a_loader_names_a_held_out_file(data: Path, tmp_path: Path) -> None:
    view = _unit({"coco": ["vocab.json"]}).student_data_view(tmp_path / "cache") / "prepared"
    with pytest.raises(DataError, match="vocab.json is held out by the grader"):
        load_coco_captions(view)
    assert os.path.exists(data / "coco" / "vocab.json")

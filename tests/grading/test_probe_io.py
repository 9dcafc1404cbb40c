"""The trust boundary: what the sandbox wrote is read back as plain numbers or reported, never executed."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from pipelines.grade.probe_io import OUT_DIR, load_result, read_probes, write_probes


def _out(job: Path) -> Path:
    (job / OUT_DIR).mkdir(exist_ok=True)
    return job / OUT_DIR


def test_inputs_round_trip_with_python_scalars(tmp_path: Path) -> None:
    spec = {"name": "p", "call": "f", "methods": [], "attrs": [], "timeout": 1, "numeric_grad": None}
    x = np.arange(6.0).reshape(2, 3)
    write_probes(tmp_path, [spec], {"p": {"args": [x, 0.5, 3, np.float64(2.0), True]}})
    _, inputs = read_probes(tmp_path)
    args = inputs["p"]["args"]
    np.testing.assert_array_equal(args[0], x)
    assert [type(a) for a in args[1:]] == [float, int, float, bool]


def test_a_result_that_never_came_back_is_an_error(tmp_path: Path) -> None:
    r = load_result(tmp_path, "p", "f")
    assert "did not return" in r.error


def test_garbage_json_is_reported_not_raised(tmp_path: Path) -> None:
    (_out(tmp_path) / "p.json").write_text("{nope")
    assert "could not be read back" in load_result(tmp_path, "p", "f").error


def test_pickled_objects_are_refused(tmp_path: Path) -> None:
    out = _out(tmp_path)
    (out / "p.json").write_text(json.dumps({"error": None, "seconds": 0.1}))
    np.savez(out / "p.npz", **{"ret/0": np.array([object()], dtype=object)})
    assert "could not be read back" in load_result(tmp_path, "p", "f").error


def test_non_numeric_arrays_are_refused(tmp_path: Path) -> None:
    out = _out(tmp_path)
    (out / "p.json").write_text(json.dumps({"error": None, "seconds": 0.1}))
    np.savez(out / "p.npz", **{"ret/0": np.array(["a", "b"])})
    assert "not numeric" in load_result(tmp_path, "p", "f").error


def test_numeric_results_are_ordered(tmp_path: Path) -> None:
    out = _out(tmp_path)
    (out / "p.json").write_text(json.dumps({"error": None, "seconds": 0.25}))
    arrays = {f"ret/{i}": np.full(2, i) for i in range(12)} | {"attr/W": np.eye(2), "method/train/0": np.ones(3)}
    np.savez(out / "p.npz", **arrays)
    r = load_result(tmp_path, "p", "f")
    assert r.error is None and r.seconds == 0.25
    assert [int(a[0]) for a in r.returned] == list(range(12))
    assert r.attrs["W"].shape == (2, 2) and r.methods["train"][0].shape == (3,)

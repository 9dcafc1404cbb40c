"""A tiny assignment (``t00_toy``) for testing the engine itself: fast, no dataset needed.

Students implement ``quad(x, w) -> (0.5*sum(w*x**2), w*x)``; a self-check cell tests it; the
results cell exports one number. Submissions are made from the source by replacing the body of
the export cell, the way students change notebooks.
"""

from __future__ import annotations

import json
import textwrap
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import nbformat
import pytest
import yaml

from pipelines.grade.job import Job
from pipelines.grade.probe_io import ProbeResult
from pipelines.grade.probing import make_probes, read_probe_report, run_probes
from pipelines.grade.unit import Unit

UNIT = "t00_toy"

SOLUTION = """\
import numpy as np


def quad(x, w):
    \"\"\"0.5 * sum(w * x**2) and its gradient w.r.t. x.\"\"\"
    ### BEGIN SOLUTION
    return 0.5 * float(np.sum(w * x * x)), w * x
    ### END SOLUTION
"""

# An export cell whose gradient is twice what it should be (the value is right).
WRONG_GRADIENT = """\
import numpy as np


def quad(x, w):
    return 0.5 * float(np.sum(w * x * x)), 2 * w * x
"""

GRADERS = '''
import numpy as np

from pipelines.grade.api import check_close, points, probe


@probe("quad", numeric_grad=(0, 0, 3))
def quad_random(rng):
    return {"args": [rng.standard_normal(6), rng.random(6)]}


@points(1, cell="check_quad")
def test_value(result, tolerance):
    """quad: the value on random inputs."""
    run = result("quad_random")
    x, w = run.args
    check_close("value", run.returned(0), 0.5 * np.sum(w * x * x), tolerance("value"))


@points(1, cell="check_quad")
def test_gradient(result, tolerance):
    """quad: the gradient on random inputs."""
    run = result("quad_random")
    x, w = run.args
    check_close("gradient", run.returned(1), w * x, tolerance("gradient"))


@points(1, cell="check_quad")
def test_own_numeric_gradient(result, tolerance):
    """quad: your gradient agrees with centered differences of your own value."""
    run = result("quad_random")
    check_close("gradient vs numeric", run.returned(1)[run.numeric_grad_index], run.numeric_grad, tolerance("numeric"))


@points(2, cell="check_results")
def test_exported_answer(exported, note):
    """The results cell exported quad(arange(3), ones(3))."""
    value = exported("answer")
    check_close("answer", value, 2.5, 1e-9)
    note(f"answer = {float(value):g}")
'''


def _cell(kind: str, source: str, gid: str, *, locked=False, solution=False, grade=False, points=None, tags=()):
    cell = nbformat.v4.new_code_cell(source) if kind == "code" else nbformat.v4.new_markdown_cell(source)
    meta = {"grade": grade, "solution": solution, "locked": locked, "grade_id": gid, "schema_version": 3, "task": False}
    if points is not None:
        meta["points"] = points
    cell.metadata["nbgrader"] = meta
    if tags:
        cell.metadata["tags"] = list(tags)
    return cell


def source_notebook() -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.metadata["language_info"] = {"name": "python"}
    nb.cells = [
        _cell("markdown", "# Toy\nImplement `quad`.", "intro", locked=True),
        _cell("code", 'data_dir = None\nseed = 231\ndevice = "cpu"\nprofile = "full"', "parameters", locked=True, tags=["parameters"]),
        _cell("code", SOLUTION, "quad_impl", solution=True, tags=["export"]),
        _cell("code", "import numpy as np\nassert abs(quad(np.ones(3), np.ones(3))[0] - 1.5) < 1e-12", "check_quad",
              locked=True, grade=True, points=3),
        _cell("code", 'from pipelines.kit import export\nexport("answer", quad(np.arange(3.0), np.ones(3))[0])',
              "check_results", locked=True, grade=True, points=2),
        _cell("markdown", "Explain the gradient.\n\n### BEGIN SOLUTION\nIt is w*x.\n### END SOLUTION", "explain",
              solution=True, grade=True, points=1),
    ]
    return nb


def make_project(root: Path, base_params: dict, sandbox: dict | None = None) -> Path:
    """Write a minimal deepgrade project under ``root`` holding the toy unit; returns the unit folder."""
    unit = root / "assignments" / UNIT
    (unit / "graders").mkdir(parents=True)
    nbformat.write(source_notebook(), unit / f"{UNIT}.ipynb")
    (unit / "graders" / "test_quad.py").write_text(GRADERS)
    (unit / "assignment.yaml").write_text(yaml.safe_dump({"title": "Toy", "notebooks": [f"{UNIT}.ipynb"], "datasets": []}))
    params = json.loads(json.dumps(base_params))
    params["profile"] = "full"
    params["grading"]["sandbox"].update(sandbox or {})
    params["grading"]["probe_timeout"] = 4
    params.setdefault("units", {})[UNIT] = {"tolerances": {"numeric": 1e-6}}
    (root / "params.yaml").write_text(yaml.safe_dump(params))
    return unit


def submission(root: Path, student: str, body: str | None = None, mutate=None, raw: bytes | None = None,
               submitted: str = "submitted", unit: str = UNIT) -> Path:
    """Write ``<submitted>/<student>/<unit>/t00_toy.ipynb``: the source with ``body`` as the export cell
    (``unit``: a copy of the toy unit under another name)."""
    folder = root / submitted / student / unit
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{UNIT}.ipynb"
    if raw is not None:
        path.write_bytes(raw)
        return path
    nb = source_notebook()
    if body is not None:
        nb.cells[2].source = textwrap.dedent(body)
    if mutate is not None:
        mutate(nb)
    nbformat.write(nb, path)
    return path


def probes_only(root: Path, source: str, **config: Any) -> tuple[dict[str, ProbeResult], dict[str, Any]]:
    """The toy unit's probes evaluated on the export cells ``source`` through the real sandbox, without
    running a notebook (as ``deepgrade fidelity`` does): each probe's result and how the run ended.
    ``config`` replaces keys of its assignment.yaml (``preload``, ``integrity``)."""
    unit = Unit.load(UNIT)
    unit.config = {**unit.config, **config}
    (root / "data").mkdir(exist_ok=True)
    job = Job(unit, "probes-only", root / "probes-only", root / "data", int(unit.params.get("seed", 0)), "probes-only")
    job.export_source = source
    specs, inputs = make_probes(job)
    report, run = run_probes(job, specs, inputs)
    return read_probe_report(job, specs, report, run), run


@contextmanager
def engine_at(root: Path) -> Iterator[None]:
    """Point the engine at the project ``root`` while a fixture lives: its params and units
    (``DEEPGRADE_ROOT``) and its own data and cache folders (the defaults under ``root``, not a
    developer's). ``params.yaml`` is cached per process, so the cache is cleared on the way in and out."""
    from pipelines.params import _load

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DEEPGRADE_ROOT", str(root))
        mp.delenv("DEEPGRADE_DATA_DIR", raising=False)
        mp.delenv("DEEPGRADE_CACHE_DIR", raising=False)
        _load.cache_clear()
        try:
            yield
        finally:
            _load.cache_clear()

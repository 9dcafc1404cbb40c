"""Heavy imports once per student (``assignment.yaml: preload``), through the real sandbox.

The probe worker imports the listed modules before it forks a child per probe, so export cells that
``import torch`` find it loaded. The export cells below record, when they run, whether torch was
already in ``sys.modules``: only the worker's preload can have put it there, since nothing else the
sandbox runs before them imports torch. A preloaded module stays refused to export cells whose unit
does not allow it.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import yaml

from pipelines.grade.fingerprint import Fingerprints
from pipelines.grade.unit import Unit
from tests.grading import toy
from tests.grading.conftest import REPO

TORCH_EXPORTS = """
import sys
PRELOADED = "torch" in sys.modules
import torch


def was_preloaded():
    return float(PRELOADED)


def double(t):
    return torch.mul(t, 2.0)
"""

GRADER = '''
from pipelines.grade.api import probe, step, tensor


@probe("was_preloaded")
def preloaded(rng):
    return {"steps": [step("flag", "was_preloaded")]}


@probe("double")
def doubled(rng):
    return {"steps": [step("d", "double", tensor(rng.standard_normal(4), "float32"))]}
'''


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    root = tmp_path_factory.mktemp("preload")
    # Children that import torch themselves take seconds each on a loaded machine.
    unit = toy.make_project(root, yaml.safe_load((REPO / "params.yaml").read_text()),
                            {"cell_timeout": 6, "wall_seconds": 300, "probes": {"wall_seconds": 240}, "memory_mb": 2048})
    (unit / "graders" / "test_quad.py").unlink()
    (unit / "graders" / "test_torch.py").write_text(GRADER)
    params = yaml.safe_load((root / "params.yaml").read_text())
    params["grading"]["probe_timeout"] = 60  # the export cells' first run (load_only), torch imported there
    (root / "params.yaml").write_text(yaml.safe_dump(params))
    with toy.engine_at(root):
        yield root


@pytest.mark.parametrize("preload", [["torch"], []])
def test_children_find_a_preloaded_module_loaded_and_everything_works_without(project: Path, preload: list[str]) -> None:
    results, _ = toy.probes_only(project, TORCH_EXPORTS, preload=preload)
    assert {name: r.outcome for name, r in results.items()} == {"preloaded": "ok", "doubled": "ok"}, \
        {name: r.error for name, r in results.items()}
    assert float(results["preloaded"].steps["flag"].returned[0]) == (1.0 if preload else 0.0)
    assert results["doubled"].steps["d"].returned[0].dtype == np.float32


def test_a_preloaded_module_is_still_refused_to_export_cells_that_may_not_use_it(project: Path) -> None:
    """The sandbox's own guard, before the trusted static check (``enforce``) adds its verdict: the
    export cells get a stand-in for torch, although the worker loaded the real one (and built the
    grader's tensor with it)."""
    source = "import torch\n\ndef double(t):\n    return torch.mul(t, 2.0)\n"
    results, _ = toy.probes_only(project, source, preload=["torch"], integrity={"export_modules": ["numpy"]})
    assert results["doubled"].outcome == "error"
    assert "`torch` may not be used in the export cells of this unit" in str(results["doubled"].error)


def test_the_preload_list_keys_the_probe_layer(project: Path) -> None:
    unit = Unit.load(toy.UNIT)
    plain = Fingerprints(unit).probes_static
    unit.config = {**unit.config, "preload": ["torch"]}
    assert Fingerprints(unit).probes_static != plain

"""Every stage of ``dvc.yaml`` declares what it runs: ``dvc status`` must notice each edit that can change
an output.

A stage's dependencies are written by hand in ``dvc.yaml``; these tests derive them from the stage
itself. Each stage's command runs in a throwaway project (the data stages on a fixture mirror, the
unit stages on the toy unit), in a fresh process that records every module of ``pipelines/`` it
imported and every ``params.yaml`` key it read. Each such file must be covered by one of the stage's
``deps`` (the file or a folder above it), each key by one of its ``params`` (the key or a section
above it). Stages that depend on the whole ``pipelines`` folder (validate, grade: they run the
sandbox) are left out of the run; their code is covered by construction.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from tests.data import fixtures
from tests.grading import toy

REPO = Path(__file__).resolve().parents[2]

# Runs one ``deepgrade`` command; prints the engine files it imported and the params keys it read.
TRACE = r'''
import json
import sys
from pathlib import Path

import yaml

read = set()


class Recorded(dict):
    """params.yaml as the stage sees it, noting each key path it reads."""

    def __init__(self, data, path):
        super().__init__(data)
        self.path = path

    def _read(self, key):
        value, path = dict.__getitem__(self, key), (*self.path, str(key))
        read.add(".".join(path))
        return Recorded(value, path) if isinstance(value, dict) else value

    def __getitem__(self, key):
        return self._read(key)

    def get(self, key, default=None):
        return self._read(key) if key in self else default

    def __iter__(self):  # also keeps dict(...) and {**...} from copying without __getitem__
        return iter(list(dict.keys(self)))

    def items(self):
        return [(key, self._read(key)) for key in dict.keys(self)]

    def values(self):
        return [self._read(key) for key in dict.keys(self)]


safe_load = yaml.safe_load


def recorded_load(stream):
    data = safe_load(stream)
    return Recorded(data, ()) if str(getattr(stream, "name", "")).endswith("params.yaml") else data


yaml.safe_load = recorded_load  # what pipelines.params reads params.yaml with (an open file)
from pipelines.cli import main  # what the `deepgrade` command runs

code = main(sys.argv[1:])
engine = Path(sys.modules["pipelines"].__file__).resolve().parent
files = {Path(m.__file__).resolve() for m in list(sys.modules.values()) if getattr(m, "__file__", None)}
print(json.dumps({"code": code, "params": sorted(read),
                  "modules": sorted(f.relative_to(engine.parent).as_posix() for f in files if engine in f.parents)}))
'''


def stages() -> dict[str, dict[str, Any]]:
    """The stages of dvc.yaml that do not depend on the whole engine, generated ones for the toy unit."""
    found = {}
    for name, stage in yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"].items():
        if "foreach" in stage:
            name, stage = f"{name}@{toy.UNIT}", json.loads(json.dumps(stage["do"]).replace("${key}", toy.UNIT))
        if "pipelines" not in stage.get("deps", []):
            found[name] = stage
    return found


def trace(project: Path, cmd: str) -> dict[str, Any]:
    argv = shlex.split(cmd)
    assert argv[0] == "deepgrade", cmd
    env = {**os.environ, "DEEPGRADE_ROOT": str(project), "DEEPGRADE_DATA_MIRROR": str(project / "mirror")}
    env.pop("DEEPGRADE_DATA_DIR", None)
    done = subprocess.run([sys.executable, "-c", TRACE, *argv[1:]], cwd=project, env=env, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, f"{cmd} failed:\n{done.stdout}\n{done.stderr}"
    result = json.loads(done.stdout.splitlines()[-1])
    assert result["code"] == 0, f"{cmd} exited with {result['code']}:\n{done.stderr}"
    return result


def toy_project(root: Path) -> Path:
    """The toy unit with an example recipe, and a fixture mirror for the data stages."""
    unit = toy.make_project(root, yaml.safe_load((REPO / "params.yaml").read_text()))
    config = yaml.safe_load((unit / "assignment.yaml").read_text())
    config["examples"] = {"half_done": ["quad_impl"], "timeout": "quad_impl",
                          "wrong_gradient": {"cell": "quad_impl", "replace": "), w * x", "with": "), 2 * w * x"}}
    (unit / "assignment.yaml").write_text(yaml.safe_dump(config))
    fixtures.make_mirror(root / "mirror", np.random.default_rng(231))
    return root


@pytest.fixture(scope="module")
def traced(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    """What each stage imported and read, its command run in dvc.yaml's order (fetch before prepare)."""
    project = toy_project(tmp_path_factory.mktemp("stages"))
    return {name: trace(project, stage["cmd"]) for name, stage in stages().items()}


def test_the_stages_checked_include_every_data_stage_and_release() -> None:
    names = set(stages())
    assert {f"{step}_{ds}" for step in ("fetch", "prepare") for ds in ("mnist", "cifar10", "coco")} <= names
    assert {f"release@{toy.UNIT}", f"examples@{toy.UNIT}"} <= names


def test_the_trace_sees_what_a_stage_imports_and_reads(traced: dict[str, dict[str, Any]]) -> None:
    """(Else the two tests below would pass on nothing.)"""
    assert "pipelines/data/datasets/coco.py" in traced["prepare_coco"]["modules"]
    assert {"seed", "data.coco.max_length", "data.coco.val_fraction"} <= set(traced["prepare_coco"]["params"])
    assert "grading.gradebook" in traced[f"release@{toy.UNIT}"]["params"]


@pytest.mark.parametrize("name", sorted(stages()))
def test_every_engine_file_a_stage_imports_is_one_of_its_deps(name: str, traced: dict[str, dict[str, Any]]) -> None:
    deps = stages()[name].get("deps", [])
    missing = [f for f in traced[name]["modules"] if not any(f == d or f.startswith(d.rstrip("/") + "/") for d in deps)]
    assert missing == [], f"dvc.yaml: stage {name} runs these files without listing them in its deps: {missing}"


@pytest.mark.parametrize("name", sorted(stages()))
def test_every_params_key_a_stage_reads_is_declared(name: str, traced: dict[str, dict[str, Any]]) -> None:
    declared = stages()[name].get("params", [])
    read = traced[name]["params"]
    leaves = [key for key in read if not any(other.startswith(key + ".") for other in read)]
    missing = [key for key in leaves if not any(key == d or key.startswith(d + ".") for d in declared)]
    assert missing == [], f"dvc.yaml: stage {name} reads these params.yaml keys without declaring them: {missing}"

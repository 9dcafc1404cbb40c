"""Integrity in numpy units: export cells may use only the modules ``assignment.yaml`` allows.

One batch of toy submissions (the toy unit allowing numpy only) and direct checks of both halves:
the static check of the export cells' AST and the import guard of the probe children.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from pipelines.execute.integrity import allowed_modules, static_violations, tainted
from pipelines.grade.batch import autograde
from tests.grading import toy

REPO = Path(__file__).resolve().parents[2]
PROBE_TESTS = {"test_value", "test_gradient", "test_own_numeric_gradient"}
GOOD = "return 0.5 * float(np.sum(w * x * x)), w * x"

SUBMISSIONS = {
    "numpy_only": f"import numpy as np\ndef quad(x, w):\n    {GOOD}\n",
    "torch_autograd": """
        import numpy as np
        import torch
        def quad(x, w):
            t = torch.tensor(x, requires_grad=True)
            v = 0.5 * (torch.tensor(w) * t * t).sum()
            v.backward()
            return float(v), t.grad.numpy()
        """,
    "hidden_import": """
        import numpy as np
        def _helper(x, w):
            F = __import__("torch").nn.functional
            return F.mse_loss
        def quad(x, w):
            _helper(x, w)
            return 0.5 * float(np.sum(w * x * x)), w * x
        """,
    "unused_scipy_helper": f"""
        import numpy as np
        def _unused():
            from scipy.special import logsumexp
            return logsumexp
        def quad(x, w):
            {GOOD}
        """,
}


@pytest.fixture(scope="module")
def graded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    root = tmp_path_factory.mktemp("integrity")
    unit = toy.make_project(root, yaml.safe_load((REPO / "params.yaml").read_text()),
                            # Two notebooks import torch in their kernel: seconds on a busy machine.
                            {"cell_timeout": 90, "wall_seconds": 240, "probes": {"wall_seconds": 60}})
    config = yaml.safe_load((unit / "assignment.yaml").read_text())
    config["integrity"] = {"export_modules": ["numpy"]}
    (unit / "assignment.yaml").write_text(yaml.safe_dump(config))
    for student, body in SUBMISSIONS.items():
        toy.submission(root, student, textwrap.dedent(body))
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DEEPGRADE_ROOT", str(root))
        mp.delenv("DEEPGRADE_DATA_DIR", raising=False)
        mp.delenv("DEEPGRADE_CACHE_DIR", raising=False)
        from pipelines.params import _load

        _load.cache_clear()
        autograde(toy.UNIT, root / "submitted", root / "graded", workers=2)
        yield root / "graded"
        _load.cache_clear()


def results(out: Path, student: str) -> dict:
    return json.loads((out / student / "results.json").read_text())


def probe_points(r: dict) -> float:
    return sum(t["points"] for t in r["tests"] if t["name"] in PROBE_TESTS)


def test_numpy_only_is_untouched(graded: Path) -> None:
    r = results(graded, "numpy_only")
    assert (r["status"], r["score"]) == ("ok", 5)


@pytest.mark.parametrize("student, used", [("torch_autograd", "`torch`"), ("hidden_import", "`__import__`")])
def test_a_forbidden_library_earns_no_probe_points(graded: Path, student: str, used: str) -> None:
    r = results(graded, student)
    assert r["status"] == "error"
    assert probe_points(r) == 0
    assert any(used in m and "does not allow" in m for m in r["messages"]), r["messages"]
    assert all("implement it yourself" in t["message"] for t in r["tests"] if t["name"] in PROBE_TESTS)


def test_an_unused_forbidden_import_is_reported_but_costs_nothing(graded: Path) -> None:
    r = results(graded, "unused_scipy_helper")
    assert (r["status"], r["score"]) == ("error", 5)
    assert any("scipy.special" in m and "no check used them" in m for m in r["messages"]), r["messages"]


def test_static_check_charges_callers_of_a_tainted_helper() -> None:
    source = textwrap.dedent(SUBMISSIONS["hidden_import"])
    taint = tainted(source, static_violations(source, ["numpy"]))
    assert set(taint) == {"_helper", "quad"}
    assert static_violations(textwrap.dedent(SUBMISSIONS["numpy_only"]), ["numpy"]) == []


GUARDED = """
import sys, types
from pipelines.execute.integrity import STUDENT_MODULE, guard
guard(["numpy", "importlib"])  # importlib allowed here, to reach import_module
module = types.ModuleType(STUDENT_MODULE)
exec(compile(sys.argv[1], "<export cells>", "exec"), module.__dict__)
print("OUT", module.result)
"""


@pytest.mark.parametrize("code, expected", [
    ("import numpy as np\nresult = float(np.linalg.norm(np.ones(4)))", "OUT 2.0"),
    ("import torch\ntry:\n    torch.zeros(1)\n    result = 'ran'\nexcept ImportError as e:\n    result = 'refused'", "OUT refused"),
    ("import importlib\nm = importlib.import_module('scipy.special')\ntry:\n    m.logsumexp([1.0])\n    result = 'ran'\n"
     "except ImportError:\n    result = 'refused'", "OUT refused"),
    ("from torch.nn import functional as F\ntry:\n    F.relu(1)\n    result = 'ran'\nexcept ImportError:\n"
     "    result = 'refused'", "OUT refused"),
])
def test_the_runtime_guard_refuses_what_the_export_cells_import(code: str, expected: str) -> None:
    """The probe children's guard, on its own: imports made by the export cells' own code."""
    out = subprocess.run([sys.executable, "-c", GUARDED, code], capture_output=True, text=True, timeout=120,
                         cwd=REPO, env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"})
    assert expected in out.stdout, out.stderr[-2000:]


# A correct gradient checker written with the standard library's helpers (issue #21, section 5): a00's
# students lost 4-5 points for `itertools.product` when only numpy and math were allowed.
STANDARD_STYLE = """
from __future__ import annotations
import itertools
from functools import reduce
from collections import OrderedDict
import operator, copy, typing
import numpy as np
def quad(x, w):
    total = reduce(operator.add, (0.5 * w[i] * x[i] ** 2 for i in itertools.product(*map(range, x.shape))), 0.0)
    return float(total), copy.copy(w * x)
"""


def test_the_standard_librarys_helpers_are_allowed_wherever_a_unit_restricts() -> None:
    allowed = allowed_modules({"integrity": {"export_modules": ["numpy"]}})
    assert allowed is not None and {"numpy", "itertools", "functools", "collections", "math", "copy"} <= set(allowed)
    assert static_violations(STANDARD_STYLE, allowed) == []
    assert allowed_modules({}) is None  # a unit that restricts nothing stays unrestricted


@pytest.mark.parametrize("module", ["importlib", "subprocess", "ctypes", "pickle", "os", "scipy", "torch"])
def test_modules_that_can_do_the_work_or_reach_around_the_rule_stay_forbidden(module: str) -> None:
    allowed = allowed_modules({"integrity": {"export_modules": ["numpy", "math"]}})
    assert [v.what for v in static_violations(f"import {module}\n", allowed)] == [module]


def test_the_runtime_guard_lets_the_standard_helpers_through() -> None:
    allowed = allowed_modules({"integrity": {"export_modules": ["numpy"]}})
    code = STANDARD_STYLE + "\nresult = quad(np.ones((2, 2)), np.ones((2, 2)))[0]"
    guarded = GUARDED.replace('guard(["numpy", "importlib"])  # importlib allowed here, to reach import_module',
                              f"guard({allowed!r})")
    out = subprocess.run([sys.executable, "-c", guarded, code], capture_output=True, text=True, timeout=120,
                         cwd=REPO, env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"})
    assert "OUT 2.0" in out.stdout, out.stderr[-2000:]

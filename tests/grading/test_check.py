"""``deepgrade check`` shows what the grader will see: the export cells run alone, and what they borrow.

The grader imports only the cells tagged ``export``; a helper or an import living in another cell works
in Jupyter but not when graded. The notebooks here are the toy unit's source with one change each, made
with nbformat as a student would make it in Jupyter.
"""

from __future__ import annotations

import shutil
import textwrap
from pathlib import Path

import nbformat
import pytest
import yaml

from pipelines.check import report_exports
from pipelines.cli import main
from pipelines.export_check import borrowed_names
from pipelines.grade.notebook import restore
from pipelines.release import release
from tests.grading import toy

REPO = Path(__file__).resolve().parents[2]
EXPORT_CELL = 2  # index of the toy's export cell (quad_impl) in its source notebook


def words(text: str) -> str:
    """``text`` with the console's line wrapping undone."""
    return " ".join(text.split())


def insert_cell(source: str, before: int = EXPORT_CELL):
    """A ``mutate`` for ``toy.submission``: a new, untagged code cell, as a student adds one in Jupyter."""
    return lambda nb: nb.cells.insert(before, nbformat.v4.new_code_cell(textwrap.dedent(source)))


def test_a_helper_outside_the_export_cells_is_named_with_its_cell(toy_root: Path, capsys: pytest.CaptureFixture) -> None:
    body = """\
        import numpy as np


        def quad(x, w):
            return 0.5 * float(np.sum(w * x * x)), scale(w, x)
        """
    path = toy.submission(toy_root, "helper_outside", body=body, mutate=insert_cell("def scale(w, x):\n    return w * x\n"))
    assert main(["check", str(path)]) == 1
    out = words(capsys.readouterr().out)
    assert "2/2 self-checks pass" in out  # the notebook itself works ...
    # ... but the grader would not see `scale`: the cell is named by position and first line.
    assert "use `scale`, but it is defined only in cell 3 (the one starting `def scale(w, x):`)" in out
    assert "Move it into an export cell" in out


def test_an_import_only_in_the_setup_cell_is_reported(toy_root: Path, capsys: pytest.CaptureFixture) -> None:
    body = """\
        def quad(x, w):
            return 0.5 * float(np.sum(w * x * x)), w * x
        """
    path = toy.submission(toy_root, "import_outside", body=body, mutate=insert_cell("import time\nimport numpy as np\n"))
    assert main(["check", str(path)]) == 1
    out = words(capsys.readouterr().out)
    assert "use `np`, but it is imported only in cell 3 (the one starting `import time`)" in out
    assert "Put the import in the export cell that needs it" in out


def test_export_cells_that_fail_alone_show_the_error_and_the_line(toy_root: Path, capsys: pytest.CaptureFixture) -> None:
    body = """\
        import numpy as np

        SCALE = settings["scale"]


        def quad(x, w):
            return SCALE * float(np.sum(w * x * x)), 2 * SCALE * w * x
        """
    path = toy.submission(toy_root, "fails_alone", body=body, mutate=insert_cell('settings = {"scale": 0.5}\n'))
    assert main(["check", str(path)]) == 1
    out = words(capsys.readouterr().out)
    assert "your export cells failed to run: NameError: name 'settings' is not defined at `SCALE = settings[\"scale\"]`" in out
    assert "use `settings`, but it is defined only in cell 3" in out


def test_self_contained_export_cells_pass(toy_root: Path, capsys: pytest.CaptureFixture) -> None:
    path = toy.submission(toy_root, "self_contained")
    assert main(["check", str(path)]) == 0
    out = words(capsys.readouterr().out)
    assert "passed your export cells run on their own" in out and "PROBLEM" not in out


@pytest.mark.parametrize("export, other, borrowed", [
    # Parameters, locals, comprehension variables, builtins and the export cells' own names are not borrowed.
    ("def f(a):\n    b = [i * a for i in range(3)]\n    return g(b), len(b)\ndef g(b):\n    return b", "a = b = i = 1", []),
    # Read inside a method, a lambda, a nested function, or at module level: all borrowed.
    ("class C:\n    def m(self):\n        return K", "K = 1", ["K"]),
    ("f = lambda x: x + OFFSET", "OFFSET = 2", ["OFFSET"]),
    ("def f():\n    def g():\n        return h()\n    return g", "def h():\n    return 1", ["h"]),
    ("TABLE = make_table()", "from collections import OrderedDict as make_table", ["make_table"]),
    # `global` plus an assignment in an export cell defines the name there.
    ("def setup():\n    global LIMIT\n    LIMIT = 3\ndef f():\n    return LIMIT", "LIMIT = 1", []),
    # Magics in other cells do not hide what those cells define.
    ("def f():\n    return plt", "%matplotlib inline\nimport matplotlib.pyplot as plt", ["plt"]),
])
def test_borrowed_names_follow_python_scoping(export: str, other: str, borrowed: list[str]) -> None:
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(other), nbformat.v4.new_code_cell(export)])
    nb.cells[1].metadata["tags"] = ["export"]
    assert [b.name for b in borrowed_names(nb)] == borrowed


def test_the_released_a01_notebook_with_its_solution_has_no_export_problem(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    """The released notebook (nbgrader's student version) with the source's answers put back, as a
    student who solved everything would submit it."""
    unit = "a01_linear"
    shutil.copytree(REPO / "assignments" / unit, tmp_path / "assignments" / unit)
    shutil.copy(REPO / "params.yaml", tmp_path / "params.yaml")
    shutil.copytree(REPO / "reference", tmp_path / "reference")
    monkeypatch.setenv("DEEPGRADE_ROOT", str(tmp_path))
    from pipelines.params import _load

    _load.cache_clear()
    source = nbformat.read(tmp_path / "assignments" / unit / f"{unit}.ipynb", as_version=4)
    released = nbformat.read(release(unit) / f"{unit}.ipynb", as_version=4)
    solved = restore(source, released)
    assert not solved.tampering
    path = tmp_path / "student" / f"{unit}.ipynb"
    path.parent.mkdir()
    nbformat.write(solved.notebook, path)
    assert report_exports(solved.notebook, path)
    assert "your export cells run on their own" in capsys.readouterr().out
    _load.cache_clear()


@pytest.mark.parametrize("notebook", sorted(REPO.glob("assignments/*/*.ipynb")), ids=lambda p: p.parent.name)
def test_every_unit_tells_students_in_its_first_cell_how_their_code_is_graded(notebook: Path) -> None:
    """The first thing a student reads says that only the export cells are graded, run alone, and
    names the command that checks them before submitting."""
    first = words(nbformat.read(notebook, as_version=4).cells[0].source)
    assert "cells tagged `export`" in first and "alone" in first, notebook
    assert f"`deepgrade check {notebook.name}`" in first, notebook


UNITS = sorted(p.parent.name for p in (REPO / "assignments").glob("*/assignment.yaml"))


@pytest.mark.parametrize("unit", UNITS)
def test_a_fresh_release_checks_clean_and_carries_its_integrity_rule(
    unit: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    """Issue #21: a fresh a00 release reported seven false PROBLEMs, the stubs' unreachable `return out,
    cache` after `raise NotImplementedError()` read as uses of other cells' names. A student who has
    written nothing yet must see no PROBLEM about the export cells."""
    shutil.copytree(REPO / "assignments" / unit, tmp_path / "assignments" / unit)
    shutil.copy(REPO / "params.yaml", tmp_path / "params.yaml")
    shutil.copytree(REPO / "reference", tmp_path / "reference")
    monkeypatch.setenv("DEEPGRADE_ROOT", str(tmp_path))
    from pipelines.params import _load

    _load.cache_clear()
    path = release(unit) / f"{unit}.ipynb"
    released = nbformat.read(path, as_version=4)
    assert report_exports(released, path), capsys.readouterr().out
    assert "PROBLEM" not in capsys.readouterr().out
    rule = released.metadata["deepgrade"]["export_modules"]
    assert {"numpy", "itertools", "functools"} <= set(rule)
    _load.cache_clear()


def test_check_prints_points_and_not_implemented_and_flags_a_forbidden_import(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture
) -> None:
    """A fresh toy release, then the same with `import scipy` in its export cell: every self-check with its
    points and its Graded line, "not implemented yet" for the stubs, the forbidden import flagged before
    submission, and none of the kernel's own warnings (ipykernel's "running over TCP without encryption")."""
    unit = toy.make_project(tmp_path, yaml.safe_load((REPO / "params.yaml").read_text()))
    config = yaml.safe_load((unit / "assignment.yaml").read_text())
    (unit / "assignment.yaml").write_text(yaml.safe_dump({**config, "integrity": {"export_modules": ["numpy"]}}))
    source = nbformat.read(unit / f"{toy.UNIT}.ipynb", as_version=4)
    source.cells[3].source = "# Graded: quad\n" + source.cells[3].source
    nbformat.write(source, unit / f"{toy.UNIT}.ipynb")
    monkeypatch.setenv("DEEPGRADE_ROOT", str(tmp_path))
    from pipelines.params import _load

    _load.cache_clear()
    path = release(toy.UNIT) / f"{toy.UNIT}.ipynb"
    assert main(["check", str(path)]) == 1
    out, err = capfd.readouterr()
    out = words(out)
    assert "not implemented yet check_quad (3 points: quad), cell 4" in out
    assert "PROBLEM" not in out and "without encryption" not in out + err
    nb = nbformat.read(path, as_version=4)
    nb.cells[2].source = "import numpy as np\nimport ctypes\n\n\ndef quad(x, w):\n    return 0.5 * float(np.sum(w * x * x)), w * x\n"
    nbformat.write(nb, path)
    assert main(["check", str(path)]) == 1
    out = words(capfd.readouterr().out)
    assert "passed check_quad (3 points: quad)" in out
    assert "cell 3 (the one starting `import numpy as np`) uses `ctypes` (its line 2), which this assignment does not allow" in out
    assert "Allowed: numpy and the standard library's helper modules (" in out
    _load.cache_clear()

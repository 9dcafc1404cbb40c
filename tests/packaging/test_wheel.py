"""The wheel students install (``pip install deepgrade``) holds the kit and the engine, no solutions.

It is built from a copy of the project (no build leftovers), unzipped, and checked three ways: no
``reference/`` file, no ``reference/`` function body anywhere in it (``pipelines.leaks.copied_bodies``),
and the kit importable from the wheel alone. The instructor's tools,
installed the same way, take ``reference`` from the checkout (``ensure_reference_importable``).
"""

from __future__ import annotations

import subprocess
import sys
import sysconfig
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pytest

from pipelines.leaks import copied_bodies
from tests.checkout import REPO, copy_project, run

SHIPPED = ("pipelines", "gradcheck")

pytestmark = pytest.mark.slow


@dataclass(frozen=True)
class Built:
    project: Path  # the copy the wheel was built from
    wheel: Path  # the wheel, unzipped


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Built:
    tmp = tmp_path_factory.mktemp("wheel")
    project = copy_project(tmp / "project")
    dist = tmp / "dist"
    run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(dist), "."], project)
    (wheel,) = dist.glob("deepgrade-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        archive.extractall(tmp / "unzipped")
    return Built(project, tmp / "unzipped")


def files(root: Path, top: str = "") -> set[str]:
    return {p.relative_to(root).as_posix() for p in (root / top).rglob("*") if p.is_file() and "__pycache__" not in p.parts}


def isolated_python(code: str, *paths: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """Run ``code`` with only ``paths`` and the standard library importable: no site hooks (so no
    editable install's finder), no PYTHONPATH, no current directory."""
    prelude = f"import sys; sys.path[:0] = {[str(p) for p in paths]!r}\n"
    return subprocess.run([sys.executable, "-I", "-S", "-c", prelude + code], capture_output=True, text=True,
                          timeout=120, env=env, cwd=paths[0])


def site_packages() -> Path:
    """Where numpy and the other third-party libraries are installed (the wheel's dependencies)."""
    return Path(sysconfig.get_paths()["purelib"])


def test_the_wheel_holds_no_reference_code(built: Built) -> None:
    assert not {f for f in files(built.wheel) if f.startswith("reference/")}
    assert (built.wheel / "pipelines" / "kit" / "__init__.py").is_file()


def test_the_wheel_holds_every_file_of_the_kit_and_engine(built: Built) -> None:
    """Data files too (the feedback template), or a wheel install could not write feedback."""
    for top in SHIPPED:
        assert files(built.wheel, top) == files(built.project, top), top


def test_no_reference_function_body_is_in_the_wheel(built: Built) -> None:
    copies = copied_bodies(built.wheel, REPO / "reference")
    assert not copies, "reference code in the wheel:\n" + "\n".join(copies)


def test_a_copied_reference_function_is_found(tmp_path: Path) -> None:
    """The check above can fail: a module that pastes a reference function (reindented) is caught."""
    source = (REPO / "reference" / "numpy" / "gates.py").read_text()
    (tmp_path / "helpers.py").write_text("class Helpers:\n" + "".join(f"    {line}\n" for line in source.splitlines()))
    assert "helpers.py: numpy/gates.py:sigmoid_neuron_backward" in copied_bodies(tmp_path, REPO / "reference")


def test_the_kit_imports_from_the_wheel_alone(built: Built) -> None:
    done = isolated_python(
        "import importlib.util, gradcheck, pipelines.kit, pipelines.data\n"
        "assert importlib.util.find_spec('reference') is None, 'reference is importable'\n"
        "print(gradcheck.__file__); print(pipelines.kit.__file__); print(pipelines.data.__file__)\n",
        built.wheel, site_packages(),
    )
    assert done.returncode == 0, done.stderr
    assert all(Path(line).is_relative_to(built.wheel) for line in done.stdout.split()), done.stdout


def test_the_engine_takes_reference_from_the_checkout(built: Built) -> None:
    """Installed without solutions, grading finds ``reference/`` in the checkout, or says how to."""
    code = "from pipelines.paths import ensure_reference_importable as find; print(find().__file__)"
    nowhere = isolated_python(code, built.wheel, site_packages(), env={})
    assert nowhere.returncode != 0
    assert "DeepgradeError" in nowhere.stderr and "DEEPGRADE_ROOT" in nowhere.stderr, nowhere.stderr
    checkout = isolated_python(code, built.wheel, site_packages(), env={"DEEPGRADE_ROOT": str(REPO)})
    assert checkout.returncode == 0, checkout.stderr
    assert Path(checkout.stdout.strip()) == REPO / "reference" / "__init__.py"

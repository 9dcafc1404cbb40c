"""nbgrader loaded without its Jupyter server extensions (``gradebook.bare_nbgrader``)."""

from __future__ import annotations

import subprocess
import sys

from tests.checkout import REPO

PROBE = """
import sys
from pipelines.grade.gradebook import bare_nbgrader
bare_nbgrader()
from nbgrader.api import Gradebook
from nbgrader.preprocessors import ComputeChecksums, SaveCells
print("server loaded:", "nbgrader.server_extensions" in sys.modules)
from nbgrader.apps import NbGraderAPI  # reads nbgrader.__version__ (release uses it)
import nbgrader, nbgrader._version
print("version kept:", nbgrader.__version__ == nbgrader._version.__version__)
"""


def test_the_gradebook_loads_without_the_server_extensions_and_nbgrader_apps_still_work() -> None:
    out = subprocess.run([sys.executable, "-c", PROBE], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "server loaded: False" in out.stdout
    assert "version kept: True" in out.stdout

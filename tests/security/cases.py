"""Hostile and broken submissions of the toy unit, each derived by code from its RELEASED notebook.

A case is a function that writes one student's submission folder, plus what grading it must give:
the status, an upper bound on the score (``honest``: the score of the honest work it imitates;
``blank``: the released notebook handed in untouched, for pure attacks) and words the student's
messages must contain. ``tests/security/test_attacks.py`` grades every case in one batch.
"""

from __future__ import annotations

import os
import shutil
import textwrap
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from tests.grading import toy

NB = f"{toy.UNIT}.ipynb"
GOOD = "return 0.5 * float(np.sum(w * x * x)), w * x"
WRONG = "return 0.5 * float(np.sum(w * x * x)) + 1.0, w * x + 1.0"
SOLUTION_MARK = "### BEGIN SOLUTION"  # only in the source notebook: never in any output


@dataclass
class World:
    """What a case may refer to: the project root, the released and source notebooks, the host ports."""

    root: Path
    released: Path
    source: Path
    tcp_port: int
    udp_port: int
    repo: Path

    def folder(self, student: str) -> Path:
        path = self.root / "submitted" / student / toy.UNIT
        path.mkdir(parents=True, exist_ok=True)
        return path


@dataclass(frozen=True)
class Case:
    """One submission and what grading it must give."""

    name: str
    make: Callable[[World, Path], None]  # (world, the student's assignment folder)
    status: str  # "a|b": either, where the kernel's own way of failing is not the grader's to decide
    bound: str  # "honest" (the honest work it imitates), "honest_wrong", "blank", or "exact:<score>"
    says: tuple[str, ...] = ()
    needs: tuple[str, ...] = field(default=())  # whole-run bounds the case relies on (budget.support keys)


# --- notebook builders -----------------------------------------------------------------------


def released(world: World) -> nbformat.NotebookNode:
    return nbformat.read(world.released, as_version=4)


def cell_index(nb: nbformat.NotebookNode, gid: str) -> int:
    return next(i for i, c in enumerate(nb.cells) if c.get("metadata", {}).get("nbgrader", {}).get("grade_id") == gid)


def answered(world: World, body: str = "", returns: str = GOOD, before: str = "") -> nbformat.NotebookNode:
    """The released notebook with the ``quad`` answer cell filled in as a student would."""
    nb = released(world)
    code = textwrap.dedent(before) + f"\nimport numpy as np\n\n\ndef quad(x, w):\n    {textwrap.dedent(body).strip() or returns}\n"
    nb.cells[cell_index(nb, "quad_impl")].source = code
    return nb


def with_cell(nb: nbformat.NotebookNode, code: str, after: str = "explain") -> nbformat.NotebookNode:
    """A cell the student added (no nbgrader metadata) after the cell ``after``."""
    nb.cells.insert(cell_index(nb, after) + 1, nbformat.v4.new_code_cell(textwrap.dedent(code)))
    return nb


def write(nb: nbformat.NotebookNode) -> Callable[[World, Path], None]:
    def make(world: World, folder: Path) -> None:
        nbformat.write(nb, folder / NB)
    return make


def lazily(build: Callable[[World], nbformat.NotebookNode]) -> Callable[[World, Path], None]:
    def make(world: World, folder: Path) -> None:
        nbformat.write(build(world), folder / NB)
    return make


def raw(data: bytes) -> Callable[[World, Path], None]:
    def make(world: World, folder: Path) -> None:
        (folder / NB).write_bytes(data)
    return make


# --- the cases ---------------------------------------------------------------------------------

LIAR = """
class Liar:
    def __eq__(self, other): return True
    def __ne__(self, other): return False
    def __lt__(self, other): return True
    def __le__(self, other): return True
    def __sub__(self, other): return self
    def __rsub__(self, other): return self
    def __abs__(self): return 0.0
    def __float__(self): return 2.5
"""

ND_SUBCLASS = """
class Agreeable(np.ndarray):
    def __eq__(self, other): return np.ones(np.shape(other), dtype=bool)
    def __sub__(self, other): return np.zeros(np.shape(other))
    def __rsub__(self, other): return np.zeros(np.shape(other))
    def __abs__(self): return np.zeros(self.shape)
    def __float__(self): return 2.5
    def __array_finalize__(self, obj): pass
"""

PATCH_ENGINE = """
import numpy as np
import pipelines.grade.probe_worker as pw
import pipelines.grade.api as api
import pipelines.execute.channel as channel
import pipelines.kit.export as kit_export
pw.plain = lambda value, what: np.zeros(6)
api.check_close = lambda *a, **k: None
channel.parse = lambda data: []
kit_export.export = lambda name, value: None
"""

PATCH_BUILTINS = """
import builtins
builtins.isinstance = lambda obj, cls: True
builtins.abs = lambda x: 0.0
builtins.max = lambda *a, **k: 0.0
"""

PATCH_TIME = """
import time
time.time = lambda: 0.0
time.perf_counter = lambda: 0.0
time.monotonic = lambda: 0.0
time.sleep = lambda s: None
"""

PATCH_PYTEST = """
import sys, types
fake = types.ModuleType("pytest")
fake.main = lambda *a, **k: 0
sys.modules["pytest"] = fake
try:
    with open("conftest.py", "w") as fh:
        fh.write("def pytest_runtest_makereport(item, call):\\n    call.excinfo = None\\n")
    with open("pytest.ini", "w") as fh:
        fh.write("[pytest]\\naddopts = -p no:terminal\\n")
except OSError:
    pass
"""


def secrets_probe(world: World) -> str:
    """Code that returns the right answer only if it could read something it must not see."""
    secret_paths = [
        world.repo / "reference" / "numpy", world.repo / "assignments", world.repo / ".git",
        world.root / "assignments" / toy.UNIT / "graders" / "test_quad.py", world.root / "gradebook.db",
        world.root / "params.yaml", world.root / ".cache" / "deepgrade" / "layers",
        world.root / "submitted" / "honest" / toy.UNIT / NB, world.root / "graded", world.source,
    ]
    return f"""
import importlib.util, os
SECRETS = {[str(p) for p in secret_paths]!r}

def _seen():
    found = [p for p in SECRETS if os.path.exists(p)]
    found += ["reference"] if importlib.util.find_spec("reference") else []
    try:
        found += ["cache"] if any("deepgrade" in n for n in os.listdir("/job/..")) else []
    except OSError:
        pass
    return found
"""


def write_outside_code(world: World) -> str:
    targets = [
        world.repo / "pipelines" / "kit" / "export.py", world.root / "params.yaml", world.source,
        world.root / "assignments" / toy.UNIT / "graders" / "test_quad.py", world.root / "gradebook.db",
        world.root / "submitted" / "honest" / toy.UNIT / NB, Path("/data/pwned"), Path("/usr/pwned"),
        world.root / ".cache" / "deepgrade" / "pwned",
    ]
    return f"""
import os
for target in {[str(t) for t in targets]!r}:
    try:
        with open(target, "a") as fh:
            fh.write("pwned")
    except OSError:
        pass
"""


def engine_files(world: World) -> nbformat.NotebookNode:
    """A wrong answer, then a cell that rewrites what the engine reads or writes in the job folder."""
    secret = world.root / "outside" / "answer.npy"
    nb = answered(world, returns=WRONG)
    return with_cell(nb, f"""
        import os, json
        honest = "import numpy as np\\n\\ndef quad(x, w):\\n    {GOOD}\\n"
        for name, text in [("exports.py", honest), ("probes.json", "[]")]:
            with open(name, "w") as fh:
                fh.write(text)
        os.makedirs("export", exist_ok=True)
        for path, target in [("export/answer.npy", {str(secret)!r}), ("executed/{NB}", {str(world.source)!r}),
                             ("export/shadow.npy", "/etc/shadow")]:
            try:
                os.remove(path)
            except OSError:
                pass
            os.symlink(target, path)
        os.mkfifo("export/pipe.npy")
        log = "execute-{NB}.log"
        os.remove(log)
        os.symlink("/dev/zero", log)
        """)


def socket_code(world: World) -> str:
    return f"""
import socket

def _reached():
    hits = []
    for family, kind, address in [(socket.AF_INET, socket.SOCK_STREAM, ("127.0.0.1", {world.tcp_port})),
                                  (socket.AF_INET, socket.SOCK_STREAM, ("1.1.1.1", 80))]:
        s = socket.socket(family, kind)
        s.settimeout(1)
        try:
            s.connect(address)
            s.sendall(b"pwned")
            hits.append(address)
        except OSError:
            pass
        finally:
            s.close()
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        u.sendto(b"pwned", ("127.0.0.1", {world.udp_port}))
    except OSError:
        pass
    u.close()
    return hits

_reached()
"""


def other_assignment(world: World) -> nbformat.NotebookNode:
    nb = answered(world)
    for cell in nb.cells:
        meta = cell.get("metadata", {}).get("nbgrader")
        if meta:
            meta["grade_id"] = "other_" + meta["grade_id"]
    return nb


def edited_metadata(world: World) -> nbformat.NotebookNode:
    nb = answered(world)
    check = nb.cells[cell_index(nb, "check_quad")]
    check.source = "pass"
    check.metadata["nbgrader"].update(points=100, grade=False, solution=True, locked=False, checksum="0" * 32)
    nb.cells[cell_index(nb, "quad_impl")].metadata["nbgrader"].update(points=1000, grade=True)
    nb.cells[cell_index(nb, "quad_impl")].metadata["tags"] = []
    nb.metadata["kernelspec"] = {"name": "bash", "display_name": "Bash", "language": "bash"}
    return nb


def duplicated(world: World) -> nbformat.NotebookNode:
    nb = answered(world)
    copy = nbformat.from_dict(dict(nb.cells[cell_index(nb, "check_quad")]))
    copy.source = "assert True"
    nb.cells.append(copy)
    return nb


def retyped(world: World) -> nbformat.NotebookNode:
    nb = answered(world)
    i = cell_index(nb, "check_quad")
    md = nbformat.v4.new_markdown_cell(nb.cells[i].source)
    md.metadata = nb.cells[i].metadata
    nb.cells[i] = md
    return nb


def reordered(world: World) -> nbformat.NotebookNode:
    nb = answered(world)
    nb.cells.insert(0, nb.cells.pop(cell_index(nb, "check_results")))
    return nb


def deleted(world: World) -> nbformat.NotebookNode:
    nb = answered(world)
    nb.cells.pop(cell_index(nb, "check_quad"))
    return nb


def two_notebooks(world: World, folder: Path) -> None:
    nbformat.write(answered(world), folder / NB)
    nbformat.write(answered(world, returns=WRONG), folder / f"{toy.UNIT} (1).ipynb")


def renamed_only(world: World, folder: Path) -> None:
    nbformat.write(answered(world), folder / f"{toy.UNIT}-final.ipynb")


def huge(world: World, folder: Path) -> None:
    nb = answered(world)
    nb.cells.append(nbformat.v4.new_markdown_cell("x" * (100 << 20)))
    nbformat.write(nb, folder / NB)


def symlink_to(target: Callable[[World], Path]) -> Callable[[World, Path], None]:
    def make(world: World, folder: Path) -> None:
        os.symlink(target(world), folder / NB)
    return make


def hard_link(world: World, folder: Path) -> None:
    outside = world.root / "outside" / "solution.ipynb"
    if not outside.exists():
        shutil.copy(world.source, outside)
    os.link(outside, folder / NB)


def fifo(world: World, folder: Path) -> None:
    os.mkfifo(folder / NB)


def directory(world: World, folder: Path) -> None:
    (folder / NB).mkdir()


def linked_student_folder(world: World, folder: Path) -> None:
    student = folder.parent
    shutil.rmtree(student)
    os.symlink(world.root / "submitted" / "honest", student)


CASES: list[Case] = [
    # The references every bound is measured against.
    Case("honest", lazily(answered), "ok", "exact:5"),
    Case("honest_wrong", lazily(lambda w: answered(w, returns=WRONG)), "error", "exact:0", ("AssertionError",)),
    Case("blank", lazily(released), "error", "exact:0", ("NotImplementedError",)),
    # Objects that claim to equal anything.
    Case("always_equal", lazily(lambda w: answered(w, returns="return Liar(), Liar()", before=LIAR)), "error", "blank",
         ("expected numbers",)),
    Case("ndarray_subclass", lazily(lambda w: answered(
        w, returns="return np.asarray(0.5 * np.sum(w * x * x) + 1).view(Agreeable), (w * x + 1).view(Agreeable)",
        before="import numpy as np\n" + ND_SUBCLASS)), "ok", "blank", ("relative error",)),
    # Monkeypatching, from the export cells (probe children) and from the kernel.
    Case("patch_numpy", lazily(lambda w: with_cell(answered(w, returns=WRONG, before="""
        import numpy as np
        np.allclose = lambda *a, **k: True
        np.testing.assert_allclose = lambda *a, **k: None
        np.max = lambda *a, **k: 0.0
        """), "import numpy as np\nnp.isfinite = lambda a: True", after="quad_impl")), "error", "honest_wrong",
         ("relative error",)),
    Case("patch_builtins", lazily(lambda w: with_cell(answered(w, returns=WRONG, before=PATCH_BUILTINS),
                                                      PATCH_BUILTINS, after="quad_impl")), "timeout", "honest_wrong"),
    Case("patch_time", lazily(lambda w: with_cell(answered(w, before=PATCH_TIME), PATCH_TIME, after="quad_impl")),
         "ok", "honest"),
    Case("patch_pytest", lazily(lambda w: with_cell(answered(w, returns=WRONG, before=PATCH_PYTEST), PATCH_PYTEST,
                                                    after="quad_impl")), "error", "honest_wrong", ("relative error",)),
    Case("patch_engine", lazily(lambda w: with_cell(answered(w, returns=WRONG, before=PATCH_ENGINE), PATCH_ENGINE,
                                                    after="quad_impl")), "error", "honest_wrong"),
    # Reading what must stay hidden; writing where it must not.
    Case("read_secrets", lazily(lambda w: answered(w, before=secrets_probe(w),
                                                   body=f"if _seen():\n        {GOOD}\n    {WRONG}")),
         "error", "honest_wrong"),
    Case("write_outside", lazily(lambda w: with_cell(answered(w, before=write_outside_code(w)),
                                                     write_outside_code(w), after="quad_impl")), "ok", "honest"),
    Case("engine_files", lazily(engine_files), "error", "honest_wrong", ("did not export 'answer'", "it was saved again")),
    Case("sockets", lazily(lambda w: with_cell(answered(w, before=socket_code(w)), socket_code(w), after="quad_impl")),
         "ok", "honest"),
    # Endless loops, memory, processes, exits, signals, output.
    Case("loop_in_cell", lazily(lambda w: with_cell(answered(w), "while True:\n    pass", after="quad_impl")),
         "timeout", "honest", ("per-cell limit",)),
    Case("loop_in_function", lazily(lambda w: answered(w, body="while True:\n        pass")), "timeout", "blank",
         ("did not finish",)),
    Case("loop_at_load", lazily(lambda w: answered(w, before="while True:\n    pass\n")), "timeout", "blank",
         ("took too long",)),
    Case("memory_one_process", lazily(lambda w: answered(w, body=f"big = np.ones(50 * 10**9 // 8)\n    {GOOD}")),
         "oom", "blank", ("out of memory",)),
    Case("memory_many_processes", lazily(lambda w: with_cell(answered(w), """
        import os, time
        children = []
        for _ in range(3):
            pid = os.fork()
            if pid == 0:
                block = b"x" * (600 * 2**20)
                time.sleep(0.5)
                os._exit(0)
            children.append(pid)
        for pid in children:
            os.waitpid(pid, 0)
        """)), "oom|timeout", "honest", ("in all its processes together",), ("memory (all processes)",)),
    Case("fork_bomb", lazily(lambda w: with_cell(answered(w), """
        import os, time
        while True:
            try:
                os.fork()
            except OSError:
                time.sleep(0.05)
        """)), "timeout", "honest", ("processes and threads",), ("processes",)),
    Case("sys_exit", lazily(lambda w: answered(w, before="import sys\n", body="sys.exit(0)")), "error", "blank",
         ("SystemExit",)),
    Case("os_exit", lazily(lambda w: answered(w, before="import os\nos._exit(0)\n")), "kernel_died", "blank",
         ("exited with code 0",)),
    Case("kill_parent", lazily(lambda w: answered(w, before="import os, signal\nos.kill(os.getppid(), signal.SIGKILL)\n")),
         "kernel_died", "blank", ("killed",)),
    Case("print_1gb", lazily(lambda w: with_cell(answered(w), """
        import sys
        chunk = "x" * 2**20
        for _ in range(1024):
            sys.stdout.write(chunk)
        """)), "ok", "honest", ("output limit",)),
    Case("disk_filler", lazily(lambda w: with_cell(answered(w), """
        import os
        block = b"x" * (8 * 2**20)
        for i in range(100):
            with open(f"filler-{i}.bin", "wb") as fh:
                fh.write(block)
        """)), "error", "honest", ("to disk",)),
    # Protected cells and metadata.
    Case("deleted_test_cell", lazily(deleted), "tampered", "honest", ("'check_quad' was deleted",)),
    Case("duplicated_test_cell", lazily(duplicated), "tampered", "honest", ("'check_quad' was duplicated",)),
    Case("retyped_test_cell", lazily(retyped), "tampered", "honest", ("'check_quad' was edited",)),
    Case("reordered_cells", lazily(reordered), "ok", "honest"),
    Case("edited_metadata", lazily(edited_metadata), "tampered", "honest", ("'check_quad' was edited",)),
    # Files that are not this assignment's notebook.
    Case("invalid_json", raw(b'{"cells": [ this is not json'), "invalid_notebook", "blank", ("not a valid Jupyter",)),
    Case("empty_file", raw(b""), "invalid_notebook", "blank", ("not a valid Jupyter",)),
    Case("not_a_notebook", raw(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8), "invalid_notebook", "blank",
         ("not UTF-8",)),
    Case("python_file", raw(b"import numpy as np\ndef quad(x, w):\n    return 0, 0\n"), "invalid_notebook", "blank",
         ("not a valid Jupyter",)),
    Case("non_utf8", raw('{"cells": [], "note": "caf\u00e9"}'.encode("latin-1")), "invalid_notebook", "blank",
         ("not UTF-8",)),
    Case("huge_notebook", huge, "invalid_notebook", "blank", ("larger than 64 MB",)),
    Case("other_assignment", lazily(other_assignment), "invalid_notebook", "blank", ("not this assignment",)),
    Case("two_notebooks", two_notebooks, "ok", "honest", ("were not opened",)),
    Case("renamed_notebook", renamed_only, "missing", "blank", ("Found instead",)),
    # Submission folders holding links and special files.
    Case("symlink_to_source", symlink_to(lambda w: w.source), "invalid_notebook", "blank", ("symbolic link",)),
    Case("symlink_outside", symlink_to(lambda w: Path("/etc/passwd")), "invalid_notebook", "blank", ("symbolic link",)),
    Case("hard_link", hard_link, "invalid_notebook", "blank", ("hard link",)),
    Case("fifo", fifo, "invalid_notebook", "blank", ("not a regular file",)),
    Case("directory", directory, "invalid_notebook", "blank", ("not a regular file",)),
    Case("linked_student_folder", linked_student_folder, "invalid_notebook", "blank", ("is a link",)),
]

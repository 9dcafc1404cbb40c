"""Run a unit's hidden graders (pytest) in the trusted process on one submission's plain results.

A pytest plugin object supplies the fixtures graders use (``result``, ``exported``, ``heldout``, ``note``,
``tolerance``, ``threshold``, ``measured``, ``device``) and records, per test, its points and a
student-facing message (which says so when a threshold it used is provisional on this profile).
Grader code and expected values never reach the message: only what ``check_*`` wrote. A ``gpu_check``
graded on CPU does not run and is recorded as ``not_run``, worth nothing either way.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import sys
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from pipelines.execute.device import CUDA, tf32_off
from pipelines.grade import chain
from pipelines.grade.api import StudentCheckFailed, StudentTimeout
from pipelines.grade.probe_io import ProbeResult, StepOutputs
from pipelines.grade.probe_values import input_array
from pipelines.grade.unit import Unit
from pipelines.results import NOT_RUN, TestResult

NO_GPU = "not run: no GPU here (a check only a GPU can run; it is worth no points on any machine)."


@dataclass
class ProbeRun:
    """What a grader sees of one probe: the trusted inputs and the student's plain outputs."""

    inputs: dict[str, Any]
    raw: ProbeResult

    @property
    def args(self) -> list[Any]:
        return self.inputs["args"]

    @property
    def kwargs(self) -> dict[str, Any]:
        return self.inputs.get("kwargs", {})

    def arg_after(self, i: int, section: str = "args") -> np.ndarray:
        """Array argument ``i`` (of ``args``, or of a method's inputs) as the student's call left it:
        the input itself unless the call wrote into it."""
        return self.raw.after.get(section, {}).get(i, np.asarray(self.inputs[section][i]))

    def modified(self, i: int, section: str = "args") -> bool:
        """Whether the student's call wrote into array argument ``i``."""
        return i in self.raw.after.get(section, {})

    @property
    def seconds(self) -> float:
        """CPU seconds of the student's code, measured outside it (only for ``timed`` probes)."""
        if self.raw.seconds is None:
            raise TypeError(f"probe {self.raw.name} is not declared timed=True, so it has no seconds")
        return float(self.raw.seconds)

    def returned(self, i: int) -> np.ndarray:
        if i >= len(self.raw.returned):
            raise StudentCheckFailed(f"{self.raw.call} returned {len(self.raw.returned)} value(s); expected at least {i + 1}.")
        return self.raw.returned[i]

    def method(self, name: str, i: int = 0) -> np.ndarray:
        values = self.raw.methods.get(name, [])
        if i >= len(values):
            raise StudentCheckFailed(f"{self.raw.call}.{name} returned nothing; expected a result.")
        return values[i]

    def attr(self, name: str) -> np.ndarray:
        if name not in self.raw.attrs:
            raise StudentCheckFailed(f"{self.raw.call} has no attribute {name!r} after training.")
        return self.raw.attrs[name]

    def step(self, name: str) -> StepRun:
        """One step of a chained probe (``pipelines.grade.chain``), by the name the grader gave it."""
        steps = {s.name: s for s in self.inputs.get("steps", [])}
        if name not in steps:
            raise KeyError(f"probe {self.raw.name} has no step {name!r} (steps: {', '.join(steps) or 'none'})")
        return StepRun(steps[name], chain.labels(list(steps.values()))[name], self.raw.steps.get(name, StepOutputs()))

    @property
    def numeric_grad_index(self) -> tuple[np.ndarray, ...]:
        idx = self.inputs["numgrad_idx"][0].astype(int)
        return tuple(idx.T)

    @property
    def numeric_grad(self) -> np.ndarray:
        if self.raw.numeric_grad is None:
            raise StudentCheckFailed(f"no numeric gradient could be computed from {self.raw.call}.")
        return self.raw.numeric_grad


@dataclass
class StepRun:
    """What a grader sees of one step of a chained probe: its trusted inputs and plain outputs."""

    spec: chain.Step
    label: str
    raw: StepOutputs

    @property
    def args(self) -> list[Any]:
        return list(self.spec.args)

    @property
    def kwargs(self) -> dict[str, Any]:
        return dict(self.spec.kwargs)

    @property
    def inputs(self) -> dict[str, Any]:
        """The positional inputs as arrays where they are arrays or tensors (``check_unmodified``)."""
        return {"args": [input_array(a) for a in self.args]}

    def _not_plain(self, i: int, key: str | None = None) -> StudentCheckFailed:
        what = f"{self.label} output {i}" + (f" [{key!r}]" if key is not None else "")
        where = f"{i}/{key}" if key is not None else str(i)
        if where in self.raw.dtypes:
            return StudentCheckFailed(f"{what} is the dtype {self.raw.dtypes[where]}; expected numbers or a numpy array.")
        kind = self.raw.types.get(where)
        if kind is not None:
            return StudentCheckFailed(f"{what} is a {kind}; expected numbers or a numpy array.")
        count = len({*self.raw.returned, *self.raw.entries, *(int(k.split("/")[0]) for k in (*self.raw.types, *self.raw.dtypes))})
        if key is not None and i in self.raw.entries:
            return StudentCheckFailed(f"{self.label} output {i} has no entry {key!r}.")
        return StudentCheckFailed(f"{self.label} returned {count} value(s); expected at least {i + 1}.")

    def returned(self, i: int) -> np.ndarray:
        """Output ``i`` as an array (numbers come back as 0-d arrays)."""
        if i not in self.raw.returned:
            if i in self.raw.entries:
                raise StudentCheckFailed(f"{self.label} output {i} is a dict; expected numbers or a numpy array.")
            raise self._not_plain(i)
        return self.raw.returned[i]

    def entries(self, i: int) -> dict[str, np.ndarray]:
        """Output ``i``, a dict (``grads``, ``config``), as its plain entries; entries that were not
        plain data are left out (``entry`` says what they were)."""
        if i not in self.raw.entries:
            kind = "an array or number" if i in self.raw.returned else self.raw.types.get(str(i))
            if kind is None:
                raise self._not_plain(i)
            raise StudentCheckFailed(f"{self.label} output {i} is {kind if kind.startswith('an ') else 'a ' + kind}; expected a dict.")
        return self.raw.entries[i]

    def entry(self, i: int, key: str) -> np.ndarray:
        """Entry ``key`` of dict output ``i``, failing with what it was when it is missing or not plain."""
        values = self.entries(i)
        if key not in values:
            raise self._not_plain(i, key)
        return values[key]

    def dtype(self, i: int, key: str | None = None) -> str:
        """The name (``"float64"``) of output ``i``, or of its entry ``key``, when it is a numpy dtype:
        ``read("dt", ref("net").attr("dtype"))`` then ``run.step("dt").dtype(0)``."""
        where = f"{i}/{key}" if key is not None else str(i)
        if where not in self.raw.dtypes:
            what = f"{self.label} output {i}" + (f" [{key!r}]" if key is not None else "")
            kind = self.raw.types.get(where)
            raise StudentCheckFailed(f"{what} is a {kind}; expected a numpy dtype." if kind else f"{what} is not a numpy dtype.")
        return self.raw.dtypes[where]

    def arg_after(self, i: int, section: str = "args") -> np.ndarray:
        return self.raw.after.get(i, np.asarray(input_array(self.spec.args[i])))

    def modified(self, i: int, section: str = "args") -> bool:
        return i in self.raw.after


def provisional_note(unit: Unit, keys: list[str]) -> str:
    """What the feedback says of a check whose threshold is provisional on this profile."""
    return (f"(Provisional threshold{'s' if len(keys) > 1 else ''} {', '.join(keys)}: not yet calibrated on this "
            f"course's {unit.profile} data; your instructor calibrates it with `deepgrade calibrate {unit.name} "
            f"--profile {unit.profile}`.)")


def first_paragraph(doc: str | None) -> str:
    """A grader's docstring up to its first blank line, on one line: what the student reads as "what was
    checked" (a first line alone cuts many descriptions mid-sentence)."""
    lines = []
    for line in (doc or "").strip().splitlines():
        if not line.strip():
            break
        lines.append(line.strip())
    return " ".join(lines)


class GraderPlugin:
    """Fixtures and result collection for one pytest session over one submission."""

    def __init__(
        self,
        unit: Unit,
        inputs: dict[str, dict[str, Any]],
        results: dict[str, ProbeResult],
        export_dir: Path | None,
    ) -> None:
        self.unit = unit
        self.inputs = inputs
        self.results = results
        self.export_dir = export_dir
        self.tests: list[TestResult] = []
        self.internal_errors: list[str] = []
        self.notes: dict[str, str] = {}
        self.thresholds_used: dict[str, list[str]] = {}
        self.measurements: dict[str, dict[str, float]] = {}
        # Probes each test read: fidelity checks re-score only the tests a variant can change.
        self.probes_used: dict[str, set[str]] = {}

    # -- fixtures --------------------------------------------------------------------------
    @pytest.fixture
    def result(self, request: pytest.FixtureRequest) -> Callable[[str], ProbeRun]:
        def get(name: str) -> ProbeRun:
            self.probes_used.setdefault(request.node.name, set()).add(name)
            raw = self.results[name]
            if raw.outcome != "ok":
                raise (StudentTimeout if raw.outcome == "timeout" else StudentCheckFailed)(raw.error or raw.outcome)
            return ProbeRun(self.inputs[name], raw)

        return get

    @pytest.fixture
    def exported(self) -> Callable[[str], np.ndarray]:
        def get(name: str) -> np.ndarray:
            path = self.export_dir / f"{name}.npy" if self.export_dir else None
            if path is None or not path.exists():
                raise StudentCheckFailed(
                    f"the notebook did not export '{name}': did every cell up to the results cell run without error?"
                )
            try:
                arr = np.load(path, allow_pickle=False)
            except (ValueError, OSError) as exc:
                raise StudentCheckFailed(f"the exported '{name}' could not be read ({exc}).") from exc
            if arr.dtype.kind not in "biuf":
                raise StudentCheckFailed(f"the exported '{name}' is not numeric ({arr.dtype}).")
            return arr

        return get

    @pytest.fixture
    def heldout(self) -> Callable[[str, str], Any]:
        return self.unit.heldout

    @pytest.fixture
    def tolerance(self) -> Callable[[str], float]:
        return self.unit.tolerance

    @pytest.fixture
    def threshold(self, request: pytest.FixtureRequest) -> Callable[[str], float]:
        def get(key: str) -> float:
            self.thresholds_used.setdefault(request.node.nodeid, []).append(key)
            return self.unit.threshold(key)

        return get

    @pytest.fixture
    def measured(self, request: pytest.FixtureRequest) -> Callable[[str, float], None]:
        """Record what a check measured against threshold ``key`` (an accuracy, a ratio), for
        ``deepgrade calibrate``."""

        def write(key: str, value: float) -> None:
            self.measurements.setdefault(request.node.nodeid, {})[key] = float(value)

        return write

    @pytest.fixture
    def device(self) -> str:
        """``cpu`` or ``cuda``: what the student's code ran on (the unit's resolved device)."""
        return self.unit.device

    @pytest.fixture
    def note(self, request: pytest.FixtureRequest) -> Callable[[str], None]:
        """Let a passing check tell the student what was measured (e.g. the accuracy reached)."""

        def write(text: str) -> None:
            self.notes[request.node.nodeid] = text

        return write

    # -- hooks -----------------------------------------------------------------------------
    def pytest_configure(self, config: pytest.Config) -> None:
        config.addinivalue_line("markers", "points(value, cell, gpu=False): points a grader test is worth")

    def pytest_runtest_setup(self, item: pytest.Item) -> None:
        """TF32 off for the reference computations (graders may have loaded torch by now); a GPU
        check on a CPU-graded unit does not run."""
        tf32_off()
        marker = item.get_closest_marker("points")
        if marker is not None and marker.kwargs.get("gpu") and self.unit.device != CUDA:
            pytest.skip(NO_GPU)

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_makereport(self, item: pytest.Item, call: pytest.CallInfo):
        outcome = yield
        report = outcome.get_result()
        marker = item.get_closest_marker("points")
        if marker is None:
            if call.when == "setup":
                self.internal_errors.append(f"{item.nodeid}: grader test has no @points marker")
            return
        value, cell = float(marker.kwargs["value"]), marker.kwargs["cell"]
        description = first_paragraph(getattr(item, "function", None).__doc__) or item.name
        if call.when == "setup" and report.skipped and marker.kwargs.get("gpu"):
            self.tests.append(TestResult(item.name, 0.0, 0.0, NOT_RUN, NO_GPU, cell, description))
        elif call.when == "call" or (call.when == "setup" and report.failed):
            note = self.notes.get(item.nodeid, "")
            result = self._result(item.name, value, cell, description, call, note)
            result.measured = self.measurements.get(item.nodeid, {})
            provisional = [k for k in dict.fromkeys(self.thresholds_used.get(item.nodeid, [])) if self.unit.provisional(k)]
            if provisional and result.status in ("passed", "failed"):
                result.message = f"{result.message} {provisional_note(self.unit, provisional)}".strip()
            self.tests.append(result)

    def _result(
        self, name: str, value: float, cell: str, description: str, call: pytest.CallInfo, note: str
    ) -> TestResult:
        if call.excinfo is None:
            return TestResult(name, value, value, "passed", note, cell, description)
        exc = call.excinfo.value
        if isinstance(exc, StudentTimeout):
            return TestResult(name, 0.0, value, "timeout", str(exc), cell, description)
        if isinstance(exc, StudentCheckFailed):
            return TestResult(name, 0.0, value, "failed", str(exc), cell, description)
        self.internal_errors.append(f"{name}: {''.join(traceback.format_exception(exc))}")
        return TestResult(
            name, 0.0, value, "error",
            "this check could not run because of a problem in the grader; your instructor has the details.",
            cell, description,
        )


# The environment variables through which pytest takes options and plugins from whoever started this
# process: scoring is the engine's own pytest session, whatever the caller's (a `PYTEST_ADDOPTS` of a
# CI job or a developer's shell stopped every scoring with a usage error).
_CALLER_PYTEST_ENV = ("PYTEST_ADDOPTS", "PYTEST_PLUGINS")


@contextlib.contextmanager
def _graders_environment() -> Iterator[None]:
    """The caller's pytest options and plugins out of the way, and no autoloaded plugins: graders need
    none, and loading the installed ones (anyio, hydra, ...) cost 0.7 s on the first submission of
    every worker and 0.06 s on each later one."""
    saved = {key: os.environ.pop(key) for key in _CALLER_PYTEST_ENV if key in os.environ}
    before = os.environ.get("PYTEST_DISABLE_PLUGIN_AUTOLOAD")
    os.environ["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"
    try:
        yield
    finally:
        if before is None:
            os.environ.pop("PYTEST_DISABLE_PLUGIN_AUTOLOAD", None)
        else:
            os.environ["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = before
        os.environ.update(saved)


# What each grader module pytest imported was imported from: its file and a digest of its text.
_STAMP = "__deepgrade_grader_stamp__"


def _forget_stale_graders(unit: Unit) -> dict[str, str]:
    """pytest's importlib mode returns a module already in ``sys.modules`` under the same name, and a
    graders folder has no package: every unit's ``graders/test_losses.py`` is ``test_losses``. A
    process that scores two units, or one unit before and after a grader edit (fidelity checks,
    tests, a batch scoring in-process), would otherwise run another file's tests, or the old text's.
    An entry is kept only when it was imported from this very file as it is now; returns each
    module's stamp, which ``run_graders`` sets on the modules once pytest imported them."""
    stamps = {}
    for path in unit.graders_dir.glob("test_*.py"):
        stamps[path.stem] = f"{path.resolve()}:{hashlib.sha1(path.read_bytes()).hexdigest()}"
        module = sys.modules.get(path.stem)
        if module is not None and getattr(module, _STAMP, None) != stamps[path.stem]:
            del sys.modules[path.stem]
    return stamps


_UNUSED_PLUGINS = ("doctest", "junitxml", "pastebin", "stepwise", "setuponly", "setupplan", "faulthandler",
                   "legacypath", "python_path", "debugging")


def run_graders(unit: Unit, plugin: GraderPlugin, only: list[str] | None = None) -> list[TestResult]:
    """Run every grader test of ``unit`` (or those named in ``only``, and any whose name contains one
    of them) with ``plugin``; pytest's own output is swallowed."""
    if only is not None and not only:
        return []
    args = [
        str(unit.graders_dir),
        "-q",
        "-p", "no:cacheprovider",
        "-p", "no:randomly",
        # Both run gc.collect() twice at the end of every session: 0.16 s of a 0.24 s toy scoring.
        "-p", "no:unraisableexception",
        "-p", "no:threadexception",
        # Plugins no grader uses (command-line reports, doctests, the debugger, ``tmpdir``): each is
        # registered and scanned for fixtures in every session, 9 of a toy scoring's 37 ms.
        *(arg for name in _UNUSED_PLUGINS for arg in ("-p", f"no:{name}")),
        # Capture at the Python level, not by dup2 on the process's fds 1 and 2: a thread of the caller
        # (the fidelity checks run probes beside scoring) may open and close fds meanwhile.
        "--capture=sys",
        "--import-mode=importlib",
        "--rootdir", str(unit.graders_dir),
        "-o", "addopts=",
        "-o", "python_files=test_*.py",
        "-W", "ignore::pytest.PytestAssertRewriteWarning",
        *(["-k", " or ".join(only)] if only else []),
    ]
    stamps = _forget_stale_graders(unit)
    sink = io.StringIO()
    with contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink), _graders_environment():
        code = pytest.main(args, plugins=[plugin])
    for name, stamp in stamps.items():
        if name in sys.modules:
            setattr(sys.modules[name], _STAMP, stamp)
    if code not in (pytest.ExitCode.OK, pytest.ExitCode.TESTS_FAILED):
        plugin.internal_errors.append(f"pytest exited with {code!r}:\n{sink.getvalue()[-4000:]}")
    return plugin.tests

"""Runs INSIDE the sandbox: evaluate the probes on the student's ``export`` cells, one child per probe.

This process never runs student code. For each probe it forks a child that closes the report
channel, runs the export cells in a fresh module and calls the student's code on that probe's
inputs, then hands back plain arrays through its own pipe. So:

- a probe that hangs, crashes, exits or eats memory costs that probe only: its child is killed at
  the probe's deadline or dies alone, and this process reports what happened as a typed record;
- state left by one probe (a patched ``numpy``, a mutated global) cannot reach the next one;
- timings are taken here, as the kernel accounts them: the CPU time of a child and of every process
  it started (this process is the sandbox's subreaper, so even an orphan's time comes back here),
  minus the same fork-and-load without any student code. Student code can only make itself look
  slower, never faster: replacing ``time.perf_counter`` in its own process changes nothing, nor does
  moving the work into another process. CPU time rather than the wall clock, because a loaded
  machine stretches every probe's wall time by a different amount.
- heavy modules the unit lists (``assignment.yaml: preload``) are imported here once, before the
  first fork, so that children find them loaded instead of importing them again each.

Everything goes to the grader over the report channel, never through files in the job folder.
"""

from __future__ import annotations

import contextlib
import ctypes
import importlib
import io
import json
import linecache
import os
import resource
import select
import signal
import sys
import time
import traceback
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from pipelines.execute.channel import Reporter
from pipelines.execute.device import tf32_off
from pipelines.execute.integrity import STUDENT_MODULE, guard_from_environment
from pipelines.grade import chain
from pipelines.grade.probe_io import PARTS_JSON, PROBES_JSON, load_inputs
from pipelines.grade.probe_values import to_numpy

H = 1e-5
EXPORT_FILE = "<export cells>"
MAX_CHILD_BYTES = 256 * 1024 * 1024
BASELINE_REPEATS = 3
_PR_SET_CHILD_SUBREAPER = 36


class ProbeFailed(Exception):
    """A probe child's failure, with its typed outcome and the student's message."""

    def __init__(self, outcome: str, message: str) -> None:
        super().__init__(message)
        self.outcome = outcome


def plain(value: Any, what: str) -> np.ndarray:
    """A numeric ndarray copy of ``value`` (a torch tensor's values), or a TypeError naming what came back instead."""
    value = to_numpy(value)
    if isinstance(value, np.ndarray):
        arr = np.array(value, subok=False)
    elif isinstance(value, (bool, int, float, np.number, np.bool_)):
        arr = np.asarray(value)
    elif isinstance(value, (list, tuple)):
        arr = np.array(value, subok=False)
    else:
        raise TypeError(f"{what} is a {type(value).__name__}, expected numbers or a numpy array")
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"{what} holds {arr.dtype} values, expected numbers")
    return arr


def _outputs(value: Any) -> list[Any]:
    return list(value) if isinstance(value, tuple) else [value]


def _student_frames(exc: BaseException) -> list[traceback.FrameSummary]:
    return [f for f in traceback.extract_tb(exc.__traceback__) if f.filename == EXPORT_FILE]


def _where(exc: BaseException) -> str:
    """`` at `<the student's line>` `` where ``exc`` was raised in the export cells, if it was."""
    frames = _student_frames(exc)
    line = exc.text if isinstance(exc, SyntaxError) else (frames[-1].line if frames else None)
    return f" at `{line.strip()}`" if line and line.strip() else ""


def _described(exc: BaseException) -> str:
    detail = str(exc)[:300]
    return f"{type(exc).__name__}{': ' + detail if detail else ''}{_where(exc)}"


def _innermost_student_function(exc: BaseException) -> str | None:
    """The qualified name (``FullyConnectedNet.__init__``, not ``__init__``) of the innermost function
    of the export cells that ``exc`` went through, if any."""
    names = []
    tb = exc.__traceback__
    while tb is not None:
        code = tb.tb_frame.f_code
        if code.co_filename == EXPORT_FILE and code.co_name != "<module>":
            names.append(code.co_qualname)
        tb = tb.tb_next
    return names[-1] if names else None


def student_error(exc: BaseException, call: str) -> tuple[str, str]:
    """(outcome, message) for an exception raised while running ``call``: the function that actually
    raised it (the innermost of the student's frames) and the student's own line, no engine frames."""
    culprit = _innermost_student_function(exc) or call
    via = f" ({call} calls it)" if culprit != call else ""
    if isinstance(exc, NotImplementedError):
        return "not_implemented", f"{culprit} is not implemented yet{via}: it raised NotImplementedError{_where(exc)}"
    if isinstance(exc, MemoryError):
        return "oom", f"{culprit}{via} ran out of memory{_where(exc)}"
    return "error", f"{culprit}{via} raised {_described(exc)}"


def load_exports(source: str) -> types.ModuleType:
    """Run the export cells in a fresh module. Their text is registered with linecache so tracebacks
    can quote the student's own line (exec'd code has no file to read it from)."""
    linecache.cache[EXPORT_FILE] = (len(source), None, source.splitlines(True), EXPORT_FILE)
    guard_from_environment()  # the unit's allowed modules, when it has a list (pipelines.execute.integrity)
    module = types.ModuleType(STUDENT_MODULE)
    try:
        exec(compile(source, EXPORT_FILE, "exec"), module.__dict__)
    except BaseException as exc:  # noqa: BLE001 - SystemExit too: it is the student's error
        raise ProbeFailed("load_error", f"your export cells failed to run: {_described(exc)}") from None
    return module


def _fresh(values: list[Any]) -> list[Any]:
    """Copies of the array arguments, so each call gets pristine inputs and its writes can be seen."""
    return [a.copy() if isinstance(a, np.ndarray) else a for a in values]


def _changed(section: str, given: list[Any], after: list[Any]) -> dict[str, np.ndarray]:
    """The array arguments a call wrote into, as it left them: graders check inputs are not modified."""
    return {f"after/{section}/{i}": plain(a, f"argument {i}") for i, (g, a) in enumerate(zip(given, after, strict=True))
            if isinstance(g, np.ndarray) and not np.array_equal(g, a, equal_nan=True)}


def call_probe(module: types.ModuleType, spec: dict[str, Any], inputs: dict[str, Any]) -> dict[str, np.ndarray]:
    """Evaluate one probe on the student's module; the arrays to hand back."""
    if "steps" in inputs:
        return call_chain(module, spec, inputs)
    target = getattr(module, spec["call"], None)
    if target is None:
        raise ProbeFailed("error", f"{spec['call']} is not defined in your export cells")
    arrays: dict[str, np.ndarray] = {}
    if spec["methods"] or spec["attrs"]:
        obj = target(*inputs.get("init", []), **inputs.get("init_kwargs", {}))
        for method in spec["methods"]:
            given = inputs.get(method, [])
            passed = _fresh(given)
            returned = getattr(obj, method)(*passed)
            if returned is not None:
                for i, v in enumerate(_outputs(returned)):
                    arrays[f"method/{method}/{i}"] = plain(v, f"{spec['call']}.{method} output {i}")
            arrays.update(_changed(method, given, passed))
        for attr in spec["attrs"]:
            arrays[f"attr/{attr}"] = plain(getattr(obj, attr), f"{spec['call']}.{attr}")
        return arrays
    args, kwargs = inputs["args"], inputs.get("kwargs", {})
    for _ in range(int(spec.get("repeats") or 1) - 1):  # timed probes: the last call's outputs are kept
        target(*_fresh(args), **kwargs)
    passed = _fresh(args)
    returned = target(*passed, **kwargs)
    for i, v in enumerate(_outputs(returned)):
        arrays[f"ret/{i}"] = plain(v, f"{spec['call']} output {i}")
    arrays.update(_changed("args", args, passed))
    if spec.get("numeric_grad"):
        arrays["numgrad"] = _numeric_gradient(target, args, kwargs, spec["numeric_grad"], inputs["numgrad_idx"][0])
    return arrays


def call_chain(module: types.ModuleType, spec: dict[str, Any], inputs: dict[str, Any]) -> dict[str, np.ndarray]:
    """Evaluate a chained probe (``pipelines.grade.chain``): its steps' plain outputs, and the
    student's own numeric gradient when the probe asks for one. A step that fails ends the probe with
    the student's error, naming that step's function."""
    steps = inputs["steps"]
    names = chain.labels(steps)
    try:
        for _ in range(int(spec.get("repeats") or 1) - 1):  # timed probes: the whole chain, the last run kept
            chain.run_steps(module, steps, names)
        arrays, record = chain.exporter(plain, names)
        chain.run_steps(module, steps, names, record)
        if inputs.get("numgrad_idx") is not None:
            arrays["numgrad"] = chain.numeric_gradient(module, steps, names, spec["numgrad"],
                                                       inputs["numgrad_weights"], inputs["numgrad_idx"][0])
    except chain.ChainError as exc:
        raise ProbeFailed(*student_error(exc.cause, exc.label)) from None
    except chain.Undefined as exc:
        raise ProbeFailed("error", str(exc)) from None
    except chain.BuildFailed as exc:
        raise ProbeFailed("error", f"{exc} (a problem in the grader, not in your code)") from None
    return arrays


def _numeric_gradient(target: Callable, args: list[Any], kwargs: dict[str, Any], which: list[int],
                      indices: np.ndarray) -> np.ndarray:
    """Centered differences of the student's own output ``out`` w.r.t. argument ``arg`` at ``indices``."""
    arg, out, _ = which
    x = np.array(args[arg], dtype=np.float64)
    grads = []
    for idx in indices.astype(int):
        values = []
        for step in (H, -H):
            shifted = x.copy()
            shifted[tuple(idx)] += step
            call_args = [shifted if j == arg else a for j, a in enumerate(_fresh(args))]
            values.append(float(plain(_outputs(target(*call_args, **kwargs))[out], "loss")))
        grads.append((values[0] - values[1]) / (2 * H))
    return np.asarray(grads)


def _npz_bytes(arrays: dict[str, np.ndarray]) -> bytes:
    buf = io.BytesIO()
    np.savez(buf, **arrays)  # type: ignore[arg-type]
    return buf.getvalue()


# --- children ----------------------------------------------------------------------------


def _in_child(work: Callable[[], dict[str, np.ndarray]], write_fd: int, call: str) -> None:
    """Child side: do ``work`` (running ``call``), send ``header line + npz`` through ``write_fd``,
    exit without cleanup."""
    try:
        header: dict[str, Any] = {"outcome": "ok"}
        payload = _npz_bytes(work())
    except ProbeFailed as exc:
        header, payload = {"outcome": exc.outcome, "message": str(exc)}, b""
    except BaseException as exc:  # noqa: BLE001 - SystemExit, KeyboardInterrupt: all reported
        outcome, message = student_error(exc, call)
        header, payload = {"outcome": outcome, "message": message}, b""
    try:
        data = json.dumps({**header, "nbytes": len(payload)}).encode() + b"\n" + payload
        view = memoryview(data)
        while view:
            view = view[os.write(write_fd, view):]
    finally:
        os._exit(0)


def _children_cpu() -> float:
    """CPU seconds of every process this one has reaped so far (and of what they reaped)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _reap_descendants() -> None:
    """Kill and reap every process still under this one. This process is the sandbox's subreaper
    (``main``), so whatever a probe child started and left behind -- in another process group, or
    already exited but never waited for -- comes back here, and its CPU time with it."""
    me = str(os.getpid())
    while True:
        left = []
        for entry in Path("/proc").iterdir():
            try:
                # "pid (comm) state ppid ...": comm may hold spaces or parentheses, so split after the last ")".
                if entry.name.isdigit() and (entry / "stat").read_text().rsplit(")", 1)[1].split()[1] == me:
                    left.append(int(entry.name))
            except (OSError, IndexError):
                continue
        if not left:
            return
        for pid in left:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        for pid in left:
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, 0)


def run_child(work: Callable[[], dict[str, np.ndarray]], timeout: float, close_fds: tuple[int, ...],
              call: str = "") -> dict[str, Any]:
    """Fork a child that does ``work``; return its typed outcome, its payload, the seconds from fork to
    exit as this process measured them (its exit is watched through a pidfd, no polling) and the CPU
    seconds of the child and of every process it started (``cpu``), as the kernel accounted them."""
    cpu_before = _children_cpu()
    read_fd, write_fd = os.pipe()
    start = time.perf_counter()
    pid = os.fork()
    if pid == 0:
        os.close(read_fd)
        for fd in close_fds:
            os.close(fd)
        os.setpgid(0, 0)
        _in_child(work, write_fd, call)
    os.close(write_fd)
    pidfd = os.pidfd_open(pid)
    deadline = start + timeout
    watched = [read_fd, pidfd]
    chunks: list[bytes] = []
    size, exited_at, status = 0, None, 0
    try:
        while watched:
            now = time.perf_counter()
            if now >= deadline:
                break
            ready, _, _ = select.select(watched, [], [], deadline - now)
            if read_fd in ready:
                chunk = os.read(read_fd, 1 << 20)
                size += len(chunk)
                if not chunk:
                    watched.remove(read_fd)
                elif size <= MAX_CHILD_BYTES:
                    chunks.append(chunk)
            if pidfd in ready:
                exited_at = time.perf_counter()
                _, status = os.waitpid(pid, 0)
                watched.remove(pidfd)
                _kill_group(pid)  # what the child left running may hold the pipe open
            if exited_at is not None and _complete(chunks):
                break
    finally:
        os.close(read_fd)
        os.close(pidfd)
    if exited_at is None:
        _kill_group(pid)
        os.waitpid(pid, 0)
        _reap_descendants()
        return {"outcome": "timeout", "seconds": None, "cpu": None}
    _reap_descendants()
    seconds, cpu = exited_at - start, _children_cpu() - cpu_before
    if size > MAX_CHILD_BYTES:
        return {"outcome": "error", "message": f"the results were larger than {MAX_CHILD_BYTES >> 20} MB",
                "seconds": seconds, "cpu": cpu}
    return {**_parse_child(b"".join(chunks), status), "seconds": seconds, "cpu": cpu}


def _complete(chunks: list[bytes]) -> bool:
    """Whether a whole ``header line + payload`` has arrived."""
    data = b"".join(chunks)
    line, sep, payload = data.partition(b"\n")
    try:
        return bool(sep) and json.loads(line).get("nbytes") == len(payload)
    except (UnicodeDecodeError, json.JSONDecodeError, AttributeError):
        return False


def _kill_group(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _parse_child(data: bytes, status: int) -> dict[str, Any]:
    """The child's header and payload; a child that died before writing them is a crash."""
    line, sep, payload = data.partition(b"\n")
    try:
        header = json.loads(line) if sep else None
    except (UnicodeDecodeError, json.JSONDecodeError):
        header = None
    if not isinstance(header, dict) or header.get("nbytes") != len(payload):
        if os.WIFSIGNALED(status):
            killer = signal.Signals(os.WTERMSIG(status)).name
            return {"outcome": "crashed", "message": f"the process running your code was killed by {killer}"}
        code = os.WEXITSTATUS(status) if os.WIFEXITED(status) else status
        return {"outcome": "crashed", "message": f"the process running your code ended (exit code {code}) before returning a result"}
    return {"outcome": str(header.get("outcome")), "message": str(header.get("message", ""))[:1000], "payload": payload}


# --- the worker ----------------------------------------------------------------------------


def preload(modules: list[str]) -> None:
    """Import the unit's heavy modules once, here, so that every child forked for a probe finds them
    loaded (torch costs 1-2 s per import). Importing only: a fork copies no threads and no CUDA
    context survives one, and importing torch starts neither; nothing here may call what does. What
    student code may import is still decided in each child by the export cells' import guard
    (``pipelines.execute.integrity``), whatever is already loaded."""
    for name in modules:
        importlib.import_module(name)


def _baseline_cpu(name: str, close_fds: tuple[int, ...]) -> float:
    """Fork, load this probe's inputs, send an empty result, exit: no student code. The least CPU time
    of a few runs is what every measured probe pays on top of the student's own work."""
    def work() -> dict[str, np.ndarray]:
        load_inputs(Path.cwd(), name)
        return {}

    runs = [run_child(work, 30.0, close_fds)["cpu"] or 0.0 for _ in range(BASELINE_REPEATS)]
    return min(runs)


def run_part(reporter: Reporter, job: Path, default_timeout: float, index: int, source: str,
             specs: list[dict[str, Any]]) -> None:
    """One export source and its probes: a child checks that the export cells load, then one child
    per probe. Every record names the part, so several sources can share one sandbox (fidelity)."""
    closing = (reporter.fd,)

    def load_only() -> dict[str, np.ndarray]:
        load_exports(source)
        return {}

    loaded = run_child(load_only, default_timeout, closing)
    if loaded["outcome"] == "timeout":
        loaded = {"outcome": "load_error", "message": "your export cells took too long to run "
                  f"(over {default_timeout:g} s; they should only define functions and classes)"}
    load_error = None if loaded["outcome"] == "ok" else loaded
    reporter.send({"event": "load", "part": index, "outcome": loaded["outcome"], "message": loaded.get("message", "")})

    for spec in specs:
        name, timeout = spec["name"], float(spec["timeout"])
        if load_error is not None:
            reporter.send({"event": "probe", "part": index, "name": name, "outcome": "load_error",
                           "message": load_error["message"], "seconds": None})
            continue

        def work(spec: dict[str, Any] = spec) -> dict[str, np.ndarray]:
            module = load_exports(source)
            tf32_off()  # in torch, if the export cells loaded it: thresholds hold without TF32 on any device
            return call_probe(module, spec, load_inputs(job, spec["name"]))

        result = run_child(work, timeout, closing, spec["call"])
        if result["outcome"] == "timeout":
            result["message"] = f"{spec['call']} did not finish within {timeout:g} s"
        elif spec.get("timed") and result["cpu"] is not None:
            # CPU time, not wall time: a loaded machine (CI grading two students at once) stretches the
            # wall clock of every probe by its own amount, but not the CPU time their work takes.
            spent = result["cpu"] - _baseline_cpu(name, closing)
            result["seconds"] = max(spent / int(spec.get("repeats") or 1), 1e-6)
        else:
            result["seconds"] = None
        result.pop("cpu", None)
        payload = result.pop("payload", b"")
        reporter.send({"event": "probe", "part": index, "name": name, **result}, payload)


def main() -> int:
    reporter = Reporter.from_environment()
    # Orphans of probe children become ours, not the sandbox's init's: ``_reap_descendants`` kills
    # them and their CPU time counts towards the probe that started them.
    if ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_CHILD_SUBREAPER) failed")
    job = Path.cwd()
    default_timeout = float(sys.argv[1])
    preload(sys.argv[2:])
    specs = {spec["name"]: spec for spec in json.loads((job / PROBES_JSON).read_text())}
    for index, part in enumerate(json.loads((job / PARTS_JSON).read_text())):
        run_part(reporter, job, default_timeout, index, (job / part["source"]).read_text(),
                 [specs[name] for name in part["probes"]])
    return 0


if __name__ == "__main__":
    sys.exit(main())

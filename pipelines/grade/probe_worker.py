"""Runs INSIDE the sandbox: import the student's ``export`` cells and evaluate the probes.

Only the cells tagged ``export`` are run, in a fresh module, so notebook state cannot leak in.
Each probe has its own alarm (an exception student code cannot catch with ``except Exception``)
and its result is written as soon as it exists, so a later crash or kill loses nothing earlier.
"""

from __future__ import annotations

import json
import linecache
import signal
import sys
import time
import traceback
import types
from pathlib import Path
from typing import Any

import numpy as np

from pipelines.grade.probe_io import OUT_DIR, read_probes

H = 1e-5
EXPORT_FILE = "<export cells>"


class ProbeTimeout(BaseException):
    """Raised by the alarm; a BaseException so ``except Exception`` in student code lets it through."""


def _on_alarm(signum: int, frame: Any) -> None:
    raise ProbeTimeout()


def plain(value: Any, what: str) -> np.ndarray:
    """A numeric ndarray copy of ``value``, or a TypeError naming what came back instead."""
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


def _student_error(exc: BaseException) -> str:
    """The exception and the student's own line where it happened (no engine frames)."""
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename == EXPORT_FILE]
    line = exc.text if isinstance(exc, SyntaxError) else (frames[-1].line if frames else None)
    where = f" at `{line.strip()}`" if line and line.strip() else ""
    detail = str(exc)[:300]
    return f"{type(exc).__name__}{': ' + detail if detail else ''}{where}"


def _compile_exports(source: str) -> types.CodeType:
    """Compile the export cells under one name and register their text with linecache, so that
    tracebacks can quote the student's own line (exec'd code has no file to read it from)."""
    linecache.cache[EXPORT_FILE] = (len(source), None, source.splitlines(True), EXPORT_FILE)
    return compile(source, EXPORT_FILE, "exec")


def run_probe(module: types.ModuleType, spec: dict[str, Any], inputs: dict[str, list[Any]]) -> tuple[dict[str, np.ndarray], float]:
    """Evaluate one probe; returns the arrays to save and the seconds the main call took."""
    target = getattr(module, spec["call"], None)
    if target is None:
        raise NameError(f"{spec['call']} is not defined in your export cells")
    arrays: dict[str, np.ndarray] = {}
    if spec["methods"]:
        obj = target(*inputs.get("init", []))
        start = time.perf_counter()
        for method in spec["methods"]:
            returned = getattr(obj, method)(*inputs.get(method, []))
            if returned is not None:
                for i, v in enumerate(_outputs(returned)):
                    arrays[f"method/{method}/{i}"] = plain(v, f"{spec['call']}.{method} output {i}")
        seconds = time.perf_counter() - start
        for attr in spec["attrs"]:
            arrays[f"attr/{attr}"] = plain(getattr(obj, attr), f"{spec['call']}.{attr}")
        return arrays, seconds
    args = inputs["args"]
    start = time.perf_counter()
    returned = target(*[a.copy() if isinstance(a, np.ndarray) else a for a in args])
    seconds = time.perf_counter() - start
    for i, v in enumerate(_outputs(returned)):
        arrays[f"ret/{i}"] = plain(v, f"{spec['call']} output {i}")
    if spec.get("numeric_grad"):
        arg, out, _ = spec["numeric_grad"]
        x = np.array(args[arg], dtype=np.float64)
        grads = []
        for idx in inputs["numgrad_idx"][0].astype(int):
            ix = tuple(idx)
            values = []
            for step in (H, -H):
                shifted = x.copy()
                shifted[ix] += step
                call_args = [shifted if j == arg else (a.copy() if isinstance(a, np.ndarray) else a) for j, a in enumerate(args)]
                values.append(float(plain(_outputs(target(*call_args))[out], "loss")))
            grads.append((values[0] - values[1]) / (2 * H))
        arrays["numgrad"] = np.asarray(grads)
    return arrays, seconds


def load_exports(source: str, timeout: float) -> tuple[types.ModuleType, str | None]:
    """Run the export cells in a fresh module, as the grader imports them.

    Returns the module and, if the cells could not run on their own, the student-facing reason
    (None when they ran). ``deepgrade check`` calls this too, so a student sees the grader's verdict.
    """
    signal.signal(signal.SIGALRM, _on_alarm)
    module = types.ModuleType("student_exports")
    try:
        signal.setitimer(signal.ITIMER_REAL, timeout)
        exec(_compile_exports(source), module.__dict__)
    except ProbeTimeout:
        return module, "your export cells took too long to run (they should only define functions and classes)"
    except BaseException as exc:  # noqa: BLE001 - SystemExit too: report it, keep going
        return module, f"your export cells failed to run: {_student_error(exc)}"
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
    return module, None


def main() -> int:
    job = Path.cwd()
    out = job / OUT_DIR
    out.mkdir(exist_ok=True)
    specs, inputs = read_probes(job)
    signal.signal(signal.SIGALRM, _on_alarm)  # the probes' alarms below
    module, load_error = load_exports((job / "exports.py").read_text(), float(sys.argv[1]))
    for spec in specs:
        name = spec["name"]
        meta: dict[str, Any] = {"error": load_error, "seconds": None}
        arrays: dict[str, np.ndarray] = {}
        if load_error is None:
            try:
                signal.setitimer(signal.ITIMER_REAL, float(spec["timeout"]))
                arrays, meta["seconds"] = run_probe(module, spec, inputs[name])
            except ProbeTimeout:
                meta["error"] = f"{spec['call']} did not finish within {spec['timeout']:g} s"
            except MemoryError:
                meta["error"] = f"{spec['call']} ran out of memory"
            except BaseException as exc:  # noqa: BLE001 - SystemExit, KeyboardInterrupt: all reported
                if isinstance(exc, NotImplementedError):
                    meta["error"] = f"{spec['call']} is not implemented yet (it raised {_student_error(exc)})"
                else:
                    meta["error"] = f"{spec['call']} raised {_student_error(exc)}"
            finally:
                signal.setitimer(signal.ITIMER_REAL, 0)
        if meta["error"] is None:
            np.savez(out / f"{name}.npz", **arrays)
        (out / f"{name}.json").write_text(json.dumps(meta))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Chained probes: several calls on the student's code in one sandboxed process, linked by references.

A plain probe calls one exported function on arrays. Layers and models need more: a backward pass
takes the cache its forward pass made, a model is built, given the grader's parameters and then
asked for its loss, an update rule's ``config`` goes from one call to the next, and ``bn_param`` is
updated in place by each training-mode call. Caches and models are the student's objects, so they
must never leave the sandbox. A chain describes all of it as plain data: each step calls an exported
name (or something an earlier step made) on inputs that may refer, through :class:`Ref`, to what
earlier steps returned or to the arguments they were given. The sandbox hands back only plain
outputs (arrays, numbers, dicts of them); everything else stays where it was made.

Besides plain data a chain can hand student code objects the sandbox builds from plain parameters
(``pipelines.grade.probe_values``: dtypes, seeded generators, torch tensors; ``probe_models``: the
grader's own models): a new one for every call that gets one, so each run of the chain starts from
the same state, while a ``ref`` hands on the very object an earlier step got.

This module holds the recipe (built by graders, trusted side), its encoding as JSON plus arrays
(``probes.json``/``probes.npz``), and the chain's evaluation, which the probe worker runs in a child
process inside the sandbox. It imports numpy only: the sandbox loads it for every probe.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from pipelines.grade.probe_models import TrustedModel
from pipelines.grade.probe_values import Built, DType, Generator, Tensor, as_dtype, input_array, numeric, to_numpy

H = 1e-5
# The kinds of value the sandbox builds, by the name that tags them in probes.json.
BUILT: dict[str, type[Built]] = {kind.kind: kind for kind in (DType, Generator, Tensor, TrustedModel)}


@dataclass(frozen=True)
class Ref:
    """What an earlier step returned (``ref("fwd")``), narrowed by a path of ``out``/``arg``/
    ``kwarg``/``attr``/``item`` operations: ``ref("net").attr("params").item("W1")``."""

    step: str
    path: tuple[tuple[str, Any], ...] = ()

    def out(self, i: int) -> Ref:
        """Output ``i`` of a step that returned a tuple."""
        return Ref(self.step, (*self.path, ("out", int(i))))

    def arg(self, i: int) -> Ref:
        """Positional argument ``i`` of the step, the very object the call was given (and may have updated)."""
        return Ref(self.step, (*self.path, ("arg", int(i))))

    def kwarg(self, name: str) -> Ref:
        """Keyword argument ``name`` of the step, as the call left it."""
        return Ref(self.step, (*self.path, ("kwarg", str(name))))

    def attr(self, name: str) -> Ref:
        return Ref(self.step, (*self.path, ("attr", str(name))))

    def item(self, key: Any) -> Ref:
        return Ref(self.step, (*self.path, ("item", key)))


def ref(step_name: str) -> Ref:
    """A reference to the value step ``step_name`` returned (use ``.out(i)`` for one of a tuple's outputs)."""
    return Ref(step_name)


@dataclass(frozen=True)
class Step:
    """One call (``kind="call"``), read-back (``"read"``) or assignment (``"assign"``) of a chain."""

    name: str
    kind: str
    target: str | Ref | None
    args: tuple[Any, ...] = ()
    kwargs: dict[str, Any] = field(default_factory=dict)


def step(name: str, target: str | Ref, *args: Any, **kwargs: Any) -> Step:
    """Call ``target`` (an exported function or class, or a ``ref`` to something callable an earlier
    step made, e.g. ``ref("net").attr("loss")``) on ``args``; its plain outputs come back as ``name``."""
    return Step(name, "call", target, args, kwargs)


def read(name: str, value: Any) -> Step:
    """Hand ``value`` (usually a ``ref``) back to the grader as plain data, e.g. a ``bn_param`` after the calls."""
    return Step(name, "read", None, (value,))


def assign(name: str, target: Ref, mapping: dict[str, Any]) -> Step:
    """``target[key] = value`` for each item (``target`` supports item assignment, e.g. ``model.params``),
    else ``setattr(target, key, value)``. Argument 1 is the mapping (``numgrad(wrt=(name, 1, key))``)."""
    return Step(name, "assign", None, (target, dict(mapping)))


@dataclass(frozen=True)
class NumGrad:
    """The student's own numeric gradient of ``sum(weights * output)`` with respect to an input of a chain."""

    of: tuple[Any, ...]
    wrt: tuple[Any, ...]
    weights: np.ndarray | None
    k: int


def numgrad(*, of: tuple[Any, ...], wrt: tuple[Any, ...], weights: np.ndarray | None = None, k: int = 10) -> NumGrad:
    """Centered differences (h = 1e-5) of ``sum(weights * output)`` at ``k`` random entries of an input.

    ``of = (step, out[, key])`` names the output (``key``: an entry of a dict output), ``wrt = (step,
    arg[, key])`` the input (``arg``: a positional index or a keyword name; ``key``: an entry of a
    dict argument). The whole chain runs again for every difference."""
    return NumGrad(tuple(of), tuple(wrt), None if weights is None else np.asarray(weights, dtype=np.float64), int(k))


def wrt_array(steps: list[Step], wrt: tuple[Any, ...]) -> Any:
    """The input array ``wrt`` designates in ``steps`` (a tensor's array; trusted and sandbox side alike)."""
    chosen = next(s for s in steps if s.name == wrt[0])
    value = chosen.kwargs[wrt[1]] if isinstance(wrt[1], str) else chosen.args[wrt[1]]
    return input_array(value[wrt[2]] if len(wrt) > 2 else value)


def labels(steps: list[Step]) -> dict[str, str]:
    """How messages name each step: the exported name it calls, ``Class.method`` for a method of an
    object a step built from an exported class, or the path it reads or assigns."""
    out: dict[str, str] = {}

    def describe(r: Ref) -> str:
        base = out.get(r.step, r.step)
        for op, arg in r.path:
            if op == "attr":
                base = f"{base}.{arg}"
            elif op == "item":
                base = f"{base}[{arg!r}]"
        return base

    for s in steps:
        if isinstance(s.target, str):
            out[s.name] = s.target
        elif isinstance(s.target, Ref):
            out[s.name] = describe(s.target)
        else:
            out[s.name] = describe(s.args[0]) if isinstance(s.args[0], Ref) else s.name
    return out


def called_names(steps: list[Step]) -> list[str]:
    """The exported names a chain calls directly (methods are reached through their class)."""
    return sorted({s.target for s in steps if isinstance(s.target, str)})


# --- encoding: JSON plus arrays ---------------------------------------------------------------


def encode(value: Any, key: str, arrays: dict[str, np.ndarray]) -> Any:
    """JSON for one chain value; arrays (and ``fn`` parameters) go into ``arrays`` under ``key``."""
    from pipelines.grade.probe_functions import Fn  # numpy-only module; imported late to keep this one standalone

    if value is None or isinstance(value, str):
        return {"literal": value}
    if isinstance(value, (bool, np.bool_)):
        return {"bool": bool(value)}
    if isinstance(value, (int, np.integer)):
        return {"int": int(value)}
    if isinstance(value, (float, np.floating)):
        arrays[key] = np.asarray(value, dtype=np.float64)  # through npz: every float bit-exact, nan and inf too
        return {"float": key}
    if isinstance(value, np.ndarray):
        arrays[key] = numeric(value, key)
        return {"array": key}
    if isinstance(value, Built):
        return {value.kind: value.encode(key, arrays)}
    if isinstance(value, Fn):
        for j, param in enumerate(value.params):
            arrays[f"{key}/{j}"] = param
        return {"fn": value.name, "params": [f"{key}/{j}" for j in range(len(value.params))]}
    if isinstance(value, Ref):
        return {"ref": value.step, "path": [list(p) for p in value.path]}
    if isinstance(value, dict):
        if not all(isinstance(k, str) for k in value):
            raise TypeError(f"{key}: dicts passed to student code need str keys")
        return {"dict": {k: encode(v, f"{key}/{k}", arrays) for k, v in value.items()}}
    if isinstance(value, (list, tuple)):
        return {"list": [encode(v, f"{key}/{i}", arrays) for i, v in enumerate(value)]}
    raise TypeError(f"{key}: a chain can pass numbers, arrays, strings, None, fn(...), dtype(...), generator(...), "
                    f"tensor(...), trusted_model(...), dicts, lists and refs, not {type(value).__name__}")


def encode_steps(probe_name: str, steps: list[Step], arrays: dict[str, np.ndarray]) -> list[dict[str, Any]]:
    """The chain as JSON, its arrays added to ``arrays`` under ``<probe>/step/...``."""
    names = [s.name for s in steps]
    if len(set(names)) != len(names) or any("/" in n for n in names):
        raise ValueError(f"probe {probe_name}: step names must be unique and contain no '/': {names}")
    encoded = []
    for s in steps:
        base = f"{probe_name}/step/{s.name}"
        encoded.append({
            "name": s.name, "kind": s.kind,
            "target": encode(s.target, f"{base}/target", arrays) if isinstance(s.target, Ref) else s.target,
            "args": [encode(a, f"{base}/args/{i}", arrays) for i, a in enumerate(s.args)],
            "kwargs": {k: encode(v, f"{base}/kwargs/{k}", arrays) for k, v in s.kwargs.items()},
        })
    return encoded


def decode(value: Any, data: Any) -> Any:
    """Sandbox side: one value back from its JSON and the npz ``data`` (refs stay :class:`Ref`)."""
    from pipelines.grade.probe_functions import make

    if "fn" in value:
        return make(value["fn"], tuple(np.array(data[k]) for k in value["params"]))
    if "ref" in value:
        return Ref(value["ref"], tuple((op, arg) for op, arg in value["path"]))
    ((kind, body),) = value.items()
    if kind == "literal":
        return body
    if kind == "bool":
        return bool(body)
    if kind == "int":
        return int(body)
    if kind == "float":
        return float(np.asarray(data[body]))
    if kind == "array":
        return np.array(data[body])
    if kind == "dict":
        return {k: decode(v, data) for k, v in body.items()}
    if kind == "list":
        return [decode(v, data) for v in body]
    if kind in BUILT:
        return BUILT[kind].decode(body, data)
    raise ValueError(f"unknown chain value {kind!r}")


def decode_steps(encoded: list[dict[str, Any]], data: Any) -> list[Step]:
    return [Step(s["name"], s["kind"],
                 decode(s["target"], data) if isinstance(s["target"], dict) else s["target"],
                 tuple(decode(a, data) for a in s["args"]), {k: decode(v, data) for k, v in s["kwargs"].items()})
            for s in encoded]


# --- evaluation (sandbox side) -------------------------------------------------------------------


@dataclass
class Done:
    """A finished step: what it returned and the argument objects it was given (as it left them)."""

    value: Any
    args: list[Any]
    kwargs: dict[str, Any]


class ChainError(Exception):
    """Student code failed in a step; ``label`` names the function for the message."""

    def __init__(self, label: str, cause: BaseException) -> None:
        super().__init__(label)
        self.label = label
        self.cause = cause


def _fresh(value: Any, done: dict[str, Done]) -> Any:
    """A new object for every call: arrays copied, dicts and lists rebuilt, generators, tensors and
    models built from their parameters, refs resolved (not copied)."""
    if isinstance(value, Ref):
        return resolve(value, done)
    if isinstance(value, np.ndarray):
        return value.copy()
    if isinstance(value, Built):
        try:
            return value.build()
        except Exception as exc:  # noqa: BLE001 - the grader's value, not the student's code, failed
            raise BuildFailed(f"the grader's {type(value).__name__.lower()} could not be built: "
                              f"{type(exc).__name__}: {str(exc)[:300]}") from exc
    if isinstance(value, dict):
        return {k: _fresh(v, done) for k, v in value.items()}
    if isinstance(value, list):
        return [_fresh(v, done) for v in value]
    return value


def resolve(r: Ref, done: dict[str, Done]) -> Any:
    """The object ``r`` designates (student code may run: attribute and item access are theirs)."""
    d = done[r.step]
    value: Any = d.value
    for position, (op, arg) in enumerate(r.path):
        if op in ("arg", "kwarg"):
            if position:
                raise ValueError(f"ref({r.step!r}): .{op}() must come first in a path")
            value = d.args[arg] if op == "arg" else d.kwargs[arg]
        elif op == "out":
            value = value[arg] if isinstance(value, tuple) else (value if arg == 0 else value[arg])
        elif op == "attr":
            value = getattr(value, arg)
        else:
            value = value[arg]
    return value


def run_steps(module: Any, steps: list[Step], names: dict[str, str],
              after_each: Callable[[Step, Done], None] | None = None) -> dict[str, Done]:
    """Evaluate the chain on the student's module; a student error becomes :class:`ChainError`.
    ``after_each`` sees every step as soon as it is done (before a later step can change what it
    returned: a ``config`` dict passed on is updated by the next call)."""
    done: dict[str, Done] = {}
    for s in steps:
        label = names[s.name]
        try:
            args = [_fresh(a, done) for a in s.args]
            kwargs = {k: _fresh(v, done) for k, v in s.kwargs.items()}
            if s.kind == "read":
                value = args[0]
            elif s.kind == "assign":
                target, mapping = args
                for key, item in mapping.items():
                    if hasattr(type(target), "__setitem__"):
                        target[key] = item
                    else:
                        setattr(target, key, item)
                value = None
            else:
                func: Any = getattr(module, s.target, _MISSING) if isinstance(s.target, str) else resolve(s.target, done)  # type: ignore[arg-type]
                if func is _MISSING:
                    raise Undefined(f"{s.target} is not defined in your export cells")
                value = func(*args, **kwargs)
        except (Undefined, BuildFailed):
            raise
        except BaseException as exc:  # noqa: BLE001 - SystemExit too: the student's code raised it
            raise ChainError(label, exc) from exc
        done[s.name] = Done(value, args, kwargs)
        if after_each is not None:
            try:
                after_each(s, done[s.name])
            except BaseException as exc:  # noqa: BLE001 - reading its outputs runs student code (__array__, ...)
                raise ChainError(label, exc) from exc
    return done


class Undefined(Exception):
    """The chain names something the export cells do not define."""


class BuildFailed(Exception):
    """A value the grader asked the sandbox to build (a tensor on a device it lacks) could not be."""


_MISSING = object()


def outputs(value: Any) -> list[Any]:
    return list(value) if isinstance(value, tuple) else [value]


def exporter(plain: Callable[[Any, str], np.ndarray], names: dict[str, str]
             ) -> tuple[dict[str, np.ndarray], Callable[[Step, Done], None]]:
    """An empty result and the ``after_each`` hook that fills it with each step's plain outputs and the
    array arguments the call wrote into, keyed ``step/<step>/ret/<i>[/<key>]`` and
    ``step/<step>/after/<i>``, as they were when the step finished. What is not plain data is recorded
    by type name only (``step/<step>/type/<i>[/<key>]``), so the grader can say what came back instead."""
    arrays: dict[str, np.ndarray] = {}

    def put(key: str, value: Any, what: str) -> None:
        dt = as_dtype(value)
        if dt is not None:  # a dtype travels as a 0-d array of that dtype (``step/<step>/dtype/...``)
            arrays[key.replace("/ret/", "/dtype/", 1)] = np.zeros((), dtype=dt)
            return
        try:
            arrays[key] = plain(value, what)
        except (TypeError, ValueError):
            arrays[key.replace("/ret/", "/type/", 1)] = np.frombuffer(type(value).__name__[:80].encode(), dtype=np.uint8)

    def record(s: Step, d: Done) -> None:
        base = f"step/{s.name}"
        if s.kind != "assign":
            for i, v in enumerate(outputs(d.value) if s.kind == "call" else [d.value]):
                if isinstance(v, dict):
                    arrays[f"{base}/dict/{i}"] = np.asarray(len(v))
                    for k, item in v.items():
                        if isinstance(k, str) and k and "/" not in k:
                            put(f"{base}/ret/{i}/{k}", item, f"{names[s.name]} output {i}[{k!r}]")
                else:
                    put(f"{base}/ret/{i}", v, f"{names[s.name]} output {i}")
        for i, (given, passed) in enumerate(zip(s.args, d.args, strict=True)):
            if _written_into(input_array(given), passed):
                put(f"{base}/after/{i}", passed, f"{names[s.name]} argument {i}")

    return arrays, record


def _written_into(given: Any, passed: Any) -> bool:
    """Whether a call changed the array (or tensor, read as an array) it was given as ``given``."""
    if not isinstance(given, np.ndarray):
        return False
    passed = to_numpy(passed)  # only now: an argument the grader did not give (a ref to a meta tensor) has no values
    return not (isinstance(passed, np.ndarray) and passed.shape == given.shape
                and np.array_equal(passed, given.astype(passed.dtype), equal_nan=True))


def numeric_gradient(module: Any, steps: list[Step], names: dict[str, str], spec: dict[str, Any],
                     weights: np.ndarray | None, indices: np.ndarray) -> np.ndarray:
    """Centered differences of ``sum(weights * output)`` w.r.t. the ``wrt`` input, whole chain re-run."""
    of, wrt = spec["of"], spec["wrt"]
    grads = []
    for idx in indices.astype(int):
        values = []
        for h in (H, -H):
            shifted = copy.deepcopy(steps)
            x = wrt_array(shifted, wrt)
            x[tuple(idx)] += h
            done = run_steps(module, shifted, names)
            out = outputs(done[of[0]].value)[of[1]]
            if len(of) > 2:
                out = out[of[2]]
            out = np.asarray(to_numpy(out), dtype=np.float64)
            values.append(float(np.sum(out if weights is None else weights * out)))
        grads.append((values[0] - values[1]) / (2 * H))
    return np.asarray(grads)

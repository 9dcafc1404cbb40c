"""Academic integrity of export cells: only the modules a unit allows (``assignment.yaml: integrity``).

A unit where students implement layers in numpy must not be solvable by calling a library that does
the work (torch autograd, ``torch.nn.functional``, scipy, sklearn). Two checks, one per side:

- ``static_violations`` (trusted process): the export cells' AST. Imports of modules outside the
  allowed list, and the ways around an import statement (``__import__``, ``exec``/``eval``/
  ``compile``, dunder attributes such as ``__dict__`` or ``__globals__``), each charged to the
  top-level function or class it is in and to every top-level function that calls it;
- ``guard`` (sandbox, in each probe child before the export cells run): ``import`` and
  ``importlib.import_module`` from the export cells' own code get, for a module outside the list, a
  stand-in whose first use raises ``ImportError`` with the student's message. Imports made inside
  allowed libraries (numpy importing its own parts) are not the student's and pass.

Neither is a Python jail (docs/security.md says what gets through); together they make the honest
path the easy one and leave the dishonest one a trail of messages.

The rule exists to stop libraries that do the work, not Python itself: wherever a unit restricts the
export cells, the standard library's modules that cannot compute a gradient, a layer or a loss
(``STANDARD_HELPERS``: itertools, functools, collections, math, copy, typing, ...) are allowed on
top of the unit's list. Those that can reach around the rule (``importlib``, ``ctypes``,
``subprocess``, ``pickle``, ``os``) are not on it, so they stay forbidden.
"""

from __future__ import annotations

import ast
import builtins
import importlib
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

ALLOWED_ENV = "DEEPGRADE_EXPORT_MODULES"
# Where a released notebook carries its rule (``{"export_modules": [...]}``), for ``deepgrade check``.
RELEASE_METADATA = "deepgrade"
STUDENT_MODULE = "student_exports"
MODULE_LEVEL = "<module>"
_REACHING_NAMES = {"__import__", "exec", "eval", "compile", "globals", "vars", "__builtins__", "breakpoint"}
_HARMLESS_DUNDERS = {"__init__", "__name__", "__doc__", "__call__", "__len__", "__repr__", "__str__"}
# Standard-library modules allowed in every restricted unit: they organise code (iteration, containers,
# types, copies, arithmetic on Python numbers) but cannot do a unit's work for the student.
STANDARD_HELPERS = ("__future__", "abc", "bisect", "collections", "copy", "dataclasses", "enum", "fractions",
                    "functools", "heapq", "itertools", "math", "numbers", "operator", "random", "statistics",
                    "string", "time", "typing", "warnings")


@dataclass(frozen=True)
class Violation:
    """One use of something outside the allowed modules, where it is in the export cells."""

    owner: str  # the top-level function or class it is in, or MODULE_LEVEL
    what: str  # e.g. "torch" or "__import__"
    line: int


def allowed_modules(config: dict[str, Any]) -> list[str] | None:
    """The unit's ``integrity: export_modules`` list with ``STANDARD_HELPERS`` added, or None where the
    unit restricts nothing."""
    modules = (config.get("integrity") or {}).get("export_modules")
    if modules is None:
        return None
    listed = [str(m) for m in modules]
    return listed + [m for m in STANDARD_HELPERS if m not in listed]


def unit_modules(allowed: Sequence[str]) -> list[str]:
    """The part of an allowed list that is the unit's own (``allowed_modules`` minus the helpers)."""
    return [m for m in allowed if m not in STANDARD_HELPERS]


def rule_text(allowed: Sequence[str]) -> str:
    """The rule in words, as students read it: the unit's modules and the standard-library helpers."""
    own = ", ".join(unit_modules(allowed)) or "no library"
    return f"{own} and the standard library's helper modules ({', '.join(m for m in STANDARD_HELPERS if m in allowed)})"


def is_allowed(module: str, allowed: Sequence[str]) -> bool:
    return any(module == a or module.startswith(a + ".") for a in allowed)


def static_violations(source: str, allowed: Sequence[str]) -> list[Violation]:
    """Every forbidden import or way around one in ``source`` (none when it does not parse: the probe
    run reports the syntax error itself)."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return []
    found: list[Violation] = []
    for top in tree.body:
        owner = top.name if isinstance(top, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) else MODULE_LEVEL
        for node in ast.walk(top):
            for what in _forbidden(node, allowed):
                found.append(Violation(owner, what, getattr(node, "lineno", 0)))
    return found


def _forbidden(node: ast.AST, allowed: Sequence[str]) -> list[str]:
    if isinstance(node, ast.Import):
        return [a.name for a in node.names if not is_allowed(a.name, allowed)]
    if isinstance(node, ast.ImportFrom):
        module = "." * node.level + (node.module or "")
        return [] if node.level == 0 and is_allowed(module, allowed) else [module]
    if isinstance(node, ast.Name) and node.id in _REACHING_NAMES:
        return [node.id]
    if isinstance(node, ast.Attribute) and node.attr.startswith("__") and node.attr not in _HARMLESS_DUNDERS:
        return [node.attr]
    return []


def tainted(source: str, violations: list[Violation]) -> dict[str, list[Violation]]:
    """``top-level name -> the violations it uses``, directly or through the top-level functions it
    calls; a violation at module level taints every name."""
    direct: dict[str, list[Violation]] = {}
    for v in violations:
        direct.setdefault(v.owner, []).append(v)
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return direct
    uses = {top.name: {n.id for n in ast.walk(top) if isinstance(n, ast.Name)}
            for top in tree.body if isinstance(top, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))}
    result = {name: list(direct.get(name, [])) for name in uses}
    changed = True
    while changed:
        changed = False
        for name, names in uses.items():
            for callee in names & set(uses):
                extra = [v for v in result[callee] if v not in result[name]]
                if extra:
                    result[name] += extra
                    changed = True
    everywhere = direct.get(MODULE_LEVEL, [])
    return {name: vs + [v for v in everywhere if v not in vs] for name, vs in result.items() if vs or everywhere}


def describe(call: str, violations: list[Violation], unit: str, allowed: Sequence[str]) -> str:
    """The student's message: what was used where, and what may be used instead."""
    used = ", ".join(f"`{w}` (line {line})" for w, line in sorted({(v.what, v.line) for v in violations})[:5])
    return (f"{call} uses {used}, which the export cells of {unit} may not use: here you implement it yourself, "
            f"with {rule_text(allowed)} only. This check got no points.")


# --- sandbox side ------------------------------------------------------------------------------


class _Forbidden:
    """What a forbidden import gives the export cells: any use of it raises their message."""

    def __init__(self, name: str, message: str) -> None:
        self._name, self._message = name, message

    def __getattr__(self, attr: str) -> _Forbidden:
        if attr.startswith("__") and attr.endswith("__"):
            raise AttributeError(attr)
        return _Forbidden(f"{self._name}.{attr}", self._message)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        raise ImportError(self._message)


def _from_student(depth: int) -> bool:
    """Whether the code ``depth`` frames up is the export cells' own (not a library's)."""
    frame = sys._getframe(depth)
    while frame is not None and frame.f_globals.get("__name__", "").startswith("importlib"):
        frame = frame.f_back  # type: ignore[assignment]
    return frame is not None and frame.f_globals.get("__name__") == STUDENT_MODULE


def guard(allowed: Sequence[str]) -> None:
    """Install the import check in this process (a probe child, right before the export cells run)."""
    original_import: Callable[..., Any] = builtins.__import__
    original_import_module = importlib.import_module

    def message(name: str) -> str:
        return (f"`{name}` may not be used in the export cells of this unit (allowed: {rule_text(allowed)}); "
                "implement it yourself")

    def checked_import(name: str, globals: Any = None, locals: Any = None, fromlist: Any = (), level: int = 0) -> Any:
        if level == 0 and not is_allowed(name, allowed) and _from_student(2):
            return _Forbidden(name, message(name))
        return original_import(name, globals, locals, fromlist, level)

    def checked_import_module(name: str, package: str | None = None) -> Any:
        if not is_allowed(name, allowed) and _from_student(2):
            return _Forbidden(name, message(name))
        return original_import_module(name, package)

    builtins.__import__ = checked_import
    importlib.import_module = checked_import_module


def guard_from_environment() -> None:
    """``guard`` with the list the grader passed (``ALLOWED_ENV``, comma-separated); nothing when unset."""
    value = os.environ.get(ALLOWED_ENV)
    if value is not None:
        guard([m for m in value.split(",") if m])

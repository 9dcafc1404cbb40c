"""Finds solution code in a release: lines that exist only in solutions or in reference bodies.

A *secret line* is a non-trivial line that appears inside a ``### BEGIN/END SOLUTION`` region of
the source notebook, or in the body of a ``reference/`` function (signatures, docstrings and
``return`` lines excluded), and nowhere in the source outside solution regions (given code is not
secret). ``deepgrade release`` refuses to publish a release holding any of them.

Code that ships (the students' wheel) is held to a whole-body rule instead, since short generic
lines (``grads = []``) recur in any code: no ``reference/`` function's body may appear in it.
"""

from __future__ import annotations

import ast
import json
import re
from collections.abc import Iterator
from pathlib import Path

from pipelines.grade.notebook import BEGIN_SOLUTION, END_SOLUTION

_TRIVIAL = re.compile(r"^(#.*|pass|else:|try:|finally:|break|continue|[\)\]\}:,]*|\"\"\".*|'''.*|raise NotImplementedError\(\))$")


def _norm(line: str) -> str:
    return " ".join(line.strip().split())


def _meaningful(line: str) -> bool:
    s = _norm(line)
    return len(s) >= 8 and not _TRIVIAL.match(s) and not s.startswith(("def ", "class ", "import ", "from "))


def notebook_lines(path: Path) -> tuple[set[str], set[str]]:
    """(lines inside solution regions, lines outside them) of every cell of a notebook."""
    inside: set[str] = set()
    outside: set[str] = set()
    for cell in json.loads(path.read_text(encoding="utf-8"))["cells"]:
        src = cell["source"] if isinstance(cell["source"], str) else "".join(cell["source"])
        in_solution = False
        for line in src.splitlines():
            s = _norm(line)
            if s.startswith(BEGIN_SOLUTION):
                in_solution = True
            elif s.startswith(END_SOLUTION):
                in_solution = False
            elif s:
                (inside if in_solution else outside).add(s)
    return inside, outside


def function_bodies(reference_dir: Path) -> Iterator[tuple[str, list[str]]]:
    """``(path:function, body lines)`` of every function under ``reference_dir``: the normalized,
    non-empty lines of its body, without the docstring and the signature."""
    for path in sorted(reference_dir.rglob("*.py")):
        text = path.read_text(encoding="utf-8")
        src = text.splitlines()
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                body = node.body
                if body and isinstance(body[0], ast.Expr) and isinstance(getattr(body[0], "value", None), ast.Constant):
                    body = body[1:]
                lines = [_norm(line) for stmt in body for line in src[stmt.lineno - 1 : stmt.end_lineno] if _norm(line)]
                yield f"{path.relative_to(reference_dir).as_posix()}:{node.name}", lines


def reference_body_lines(reference_dir: Path) -> set[str]:
    """Lines of every function body under ``reference_dir``, without docstrings, signatures and returns."""
    return {line for _, body in function_bodies(reference_dir) for line in body if not line.startswith("return")}


def copied_bodies(folder: Path, reference_dir: Path) -> list[str]:
    """``file: path:function`` for every reference function whose whole body appears, line after
    line (indentation and blank lines aside), in a text file under ``folder``."""
    bodies = [(name, "\n" + "\n".join(body) + "\n") for name, body in function_bodies(reference_dir) if body]
    found = []
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        lines = (_norm(line) for line in path.read_text(encoding="utf-8", errors="replace").splitlines())
        text = "\n" + "\n".join(line for line in lines if line) + "\n"
        found += [f"{path.relative_to(folder)}: {name}" for name, body in bodies if body in text]
    return found


def find_leaks(release_dir: Path, source_notebooks: list[Path], reference_dir: Path) -> list[str]:
    """``file: line`` for every secret line found in a released notebook or file."""
    secret, given = set(), set()
    for nb in source_notebooks:
        inside, outside = notebook_lines(nb)
        secret |= inside
        given |= outside
    secret |= reference_body_lines(reference_dir)
    secret = {s for s in secret - given if _meaningful(s)}
    leaks = []
    for path in sorted(p for p in release_dir.rglob("*") if p.is_file()):
        if path.suffix == ".ipynb":
            inside, outside = notebook_lines(path)
            found = inside | outside
        else:
            found = {_norm(text) for text in path.read_text(encoding="utf-8", errors="replace").splitlines()}
        leaks += [f"{path.relative_to(release_dir)}: {line}" for line in sorted(found & secret)]
    return leaks

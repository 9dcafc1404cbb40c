"""Near-copies of code, disguised the ways a copier would (renamed, reformatted, reordered), and two
independently written toy solutions: the inputs of the similarity and browser tests."""

from __future__ import annotations

import ast
import builtins
import io
import keyword
import tokenize

KEPT = set(keyword.kwlist) | set(dir(builtins)) | {"numpy", "np", "torch", "nn", "F", "self"}


def renamed(code: str, keep: frozenset[str] = frozenset()) -> str:
    """Every name a student chooses (variables, parameters, functions, classes) but ``keep`` renamed consistently."""
    out, previous, names = [], "", {}
    for tok in tokenize.generate_tokens(io.StringIO(code).readline):
        text = tok.string
        if tok.type == tokenize.NAME and text not in KEPT | keep and previous != ".":
            text = names.setdefault(text, f"{text[0]}_{len(names)}")
        out.append((tok.type, text))
        previous = tok.string
    return tokenize.untokenize(out)


def reformatted(code: str) -> str:
    """Laid out again by ``ast.unparse``: comments gone, other spacing, quotes and parentheses, blank lines."""
    return ast.unparse(ast.parse(code))


def reordered(code: str) -> str:
    """The top-level definitions in the opposite order (statements outside them first)."""
    tree = ast.parse(code)
    defs = [n for n in tree.body if isinstance(n, ast.FunctionDef | ast.ClassDef)]
    tree.body = [n for n in tree.body if n not in defs] + defs[::-1]
    return ast.unparse(tree)


def disguised(code: str, keep: frozenset[str] = frozenset()) -> str:
    return reordered(renamed(code, keep))


ANN = """\
import numpy as np


def _weighted_squares(x, w):
    total = 0.0
    for xi, wi in zip(x.ravel(), w.ravel()):
        total += wi * xi * xi
    return total


def _gradient(x, w):
    grad = np.empty_like(x)
    for i in range(x.size):
        grad.flat[i] = w.flat[i] * x.flat[i]
    return grad


def quad(x, w):
    \"\"\"0.5 * sum(w * x**2) and its gradient w.r.t. x.\"\"\"
    value = 0.5 * _weighted_squares(x, w)
    return float(value), _gradient(x, w)
"""
CID = """\
import numpy as np


def quad(x, w):
    wx = np.multiply(w, x)
    return 0.5 * float(np.dot(wx.ravel(), x.ravel())), wx
"""

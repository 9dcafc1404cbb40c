"""Which submissions' export cells are suspiciously alike: token fingerprints, winnowed (Schleimer,
Wilkerson and Aiken, "Winnowing", SIGMOD 2003, the method of MOSS), compared function by function.

The code is read with Python's ``tokenize`` only (never parsed into objects, never run), so code that
does not compile is compared too. Tokens are normalised so that what a copier changes cheaply does not
matter: comments, blank lines, indentation and line breaks are dropped (reformatting), every name that
is not a keyword, a builtin or an attribute becomes ``V`` (renaming), each string ``S``. Each top-level
function or class is fingerprinted on its own (no k-gram spans two definitions) and pairs are scored
over sets of fingerprints, whatever the order or names of the definitions (reordering). The released
starter code (nbgrader's stubs of the export cells: signatures, docstrings, given lines) is
fingerprinted the same way and taken out of every submission, so that starting from the same
notebook is not similarity.

A pair's score is the Jaccard index of their fingerprints (shared / of either), whichever definition
holds them; each definition is also matched with the other's definition that shares most with it,
for the side-by-side view. A pair is flagged when it reaches
``params.yaml: similarity.threshold`` with at least ``similarity.min_shared`` shared fingerprints (a
few short functions that everyone writes alike are no evidence). For staff only: the report it feeds
(``pipelines/similarity_report.py``) is never written into a student's folder.
"""

from __future__ import annotations

import builtins
import hashlib
import io
import keyword
import tokenize
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import combinations
from typing import Any

MODULE = "(module level)"
_SKIPPED = {tokenize.COMMENT, tokenize.NL, tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT, tokenize.ENCODING,
            tokenize.ENDMARKER}
_KEPT_NAMES = set(keyword.kwlist) | set(dir(builtins))


@dataclass(frozen=True)
class Settings:
    """``params.yaml: similarity``: k-gram length, winnowing window, and when a pair is flagged."""

    k: int
    window: int
    threshold: float
    min_shared: int

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> Settings:
        s = params["similarity"]
        return cls(int(s["k"]), int(s["window"]), float(s["threshold"]), int(s["min_shared"]))


@dataclass(frozen=True)
class Token:
    text: str  # normalised
    line: int  # 1-based, in the code it was read from


def tokens(code: str) -> Iterator[tuple[str, list[Token]]]:
    """(definition name, its normalised tokens) for each top-level ``def``/``class`` of ``code``, and
    ``MODULE`` for each statement outside them; code past a tokenizing error is left out."""
    name: str | None = MODULE
    current: list[Token] = []
    previous, line_start = "", True
    try:
        for tok in tokenize.generate_tokens(io.StringIO(code).readline):
            line_start = line_start or tok.type == tokenize.NEWLINE
            if tok.type in _SKIPPED:
                continue
            if line_start and tok.start[1] == 0:  # a top-level statement begins
                if current:
                    yield name or MODULE, current
                name, current = (None if tok.string in ("def", "class") else MODULE), []
            elif name is None and previous in ("def", "class"):
                name = tok.string
            current.append(Token(_normal(tok, previous), tok.start[0]))
            previous, line_start = tok.string, False
    except (tokenize.TokenError, IndentationError, SyntaxError):
        pass
    if current:
        yield name or MODULE, current


def _normal(tok: tokenize.TokenInfo, previous: str) -> str:
    if tok.type == tokenize.NAME:
        return tok.string if tok.string in _KEPT_NAMES or previous == "." else "V"
    if tok.type == tokenize.STRING or tok.type >= tokenize.N_TOKENS:  # f-string parts too
        return "S"
    return tok.string


def _hash(gram: list[Token]) -> int:
    return int.from_bytes(hashlib.blake2b("\x1f".join(t.text for t in gram).encode(), digest_size=8).digest(), "big")


def kgrams(toks: list[Token], k: int) -> list[tuple[int, int, int]]:
    """(hash, first line, last line) of every run of ``k`` tokens (one run when there are fewer)."""
    runs = [toks[i:i + k] for i in range(max(1, len(toks) - k + 1))] if toks else []
    return [(_hash(run), run[0].line, run[-1].line) for run in runs]


def winnow(grams: list[tuple[int, int, int]], window: int) -> dict[int, tuple[int, int]]:
    """The fingerprints kept by winnowing: the smallest hash of every ``window`` consecutive k-grams
    (the rightmost one on ties), with the lines it covers."""
    kept: dict[int, tuple[int, int]] = {}
    for start in range(max(1, len(grams) - window + 1)):
        chunk = grams[start:start + window]
        if chunk:
            h, first, last = min(reversed(chunk), key=lambda g: g[0])
            kept.setdefault(h, (first, last))
    return kept


@dataclass(frozen=True)
class Prints:
    """One submission's export code and its fingerprints per definition: hash -> lines covered."""

    code: str
    functions: dict[str, dict[int, tuple[int, int]]]


def fingerprint(code: str, starter: set[int], settings: Settings) -> Prints:
    """``code``'s winnowed fingerprints per definition, those of the starter code left out."""
    functions: dict[str, dict[int, tuple[int, int]]] = {}
    for name, toks in tokens(code):
        kept = {h: lines for h, lines in winnow(kgrams(toks, settings.k), settings.window).items() if h not in starter}
        if kept:
            functions.setdefault(name, {}).update(kept)
    return Prints(code, functions)


def starter_hashes(code: str, settings: Settings) -> set[int]:
    """Every k-gram hash of the released starter code (all of them, not only the winnowed ones)."""
    return {h for _, toks in tokens(code) for h, _, _ in kgrams(toks, settings.k)}


@dataclass(frozen=True)
class FunctionMatch:
    """A definition of one submission and the definition of the other that shares most with it."""

    a: str
    b: str
    shared: int
    either: int
    lines_a: frozenset[int]  # lines of a's code (and of b's) that a shared fingerprint covers
    lines_b: frozenset[int]

    @property
    def score(self) -> float:
        return self.shared / self.either if self.either else 0.0


@dataclass(frozen=True)
class Pair:
    """Two submissions, the fingerprints they share and those of either, and their definitions matched."""

    a: str
    b: str
    shared: int
    either: int
    functions: tuple[FunctionMatch, ...]

    @property
    def score(self) -> float:
        return self.shared / self.either if self.either else 0.0

    def flagged(self, settings: Settings) -> bool:
        return self.score >= settings.threshold and self.shared >= settings.min_shared


def _lines(spans: list[tuple[int, int]]) -> frozenset[int]:
    return frozenset(line for first, last in spans for line in range(first, last + 1))


def compare(a: str, pa: Prints, b: str, pb: Prints) -> Pair:
    """The pair's match over all fingerprints (whichever definition holds them: renamed or reordered
    definitions match too), and each definition of ``a`` with the one of ``b`` that shares most."""
    every_a = {h for f in pa.functions.values() for h in f}
    every_b = {h for f in pb.functions.values() for h in f}
    matches = []
    for name_a, fa in sorted(pa.functions.items()):
        name_b, fb = max(pb.functions.items(), key=lambda item: (len(fa.keys() & item[1].keys()), item[0]),
                         default=("", {}))
        common = fa.keys() & fb.keys()
        if common:
            matches.append(FunctionMatch(name_a, name_b, len(common), len(fa.keys() | fb.keys()),
                                         _lines([fa[h] for h in common]), _lines([fb[h] for h in common])))
    return Pair(a, b, len(every_a & every_b), len(every_a | every_b), tuple(matches))


def ranked_pairs(prints: dict[str, Prints]) -> list[Pair]:
    """Every pair of submissions, most alike first (ties by shared fingerprints, then names)."""
    pairs = [compare(a, prints[a], b, prints[b]) for a, b in combinations(sorted(prints), 2)]
    return sorted(pairs, key=lambda p: (-p.score, -p.shared, p.a, p.b))

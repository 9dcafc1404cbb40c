"""Grader fidelity: do a unit's hidden graders catch realistic bugs, and pass every correct variant?

A unit lists, in ``assignments/<unit>/fidelity.yaml``, each graded function's cell, realistic buggy
variants and correct alternatives, as edits of the source notebook. Each variant is graded by the
real probe and scoring steps (the export cells in the sandbox, the hidden graders in this process),
without executing the notebook, so hundreds of variants cost seconds. Its tests are compared with
those of the unmodified source, graded the same way on the same probe inputs:

- a **bug** is *killed* when a test that passes on the source fails, and a failing test's name,
  description or message names the function (the student must be told where to look);
- an **equivalent** variant (one that cannot change any graded outcome) must keep every test, so a
  wrong "equivalent" label shows up instead of hiding a surviving bug;
- a **correct** alternative must keep every test that passes on the source.

Each bug's cost is the points it loses; the report gives the largest, and every bug whose lost points
reach more than one graded function (the ``Graded:`` lines of the self-check cells it reaches): one
bug should cost its own points, once. ``max_bug_cost`` in the file bounds the cost of any one bug.
Every self-check cell's ``Graded:`` line must name exactly the functions its probes call.

Tests that need the executed notebook (``exported`` arrays) fail on the source too and are left out.
"""

from __future__ import annotations

import ast
import hashlib
import os
import re
import tempfile
import textwrap
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import yaml

from pipelines.errors import DeepgradeError
from pipelines.execute.outcome import messages
from pipelines.grade import notebook as nbtools
from pipelines.grade.allowed import enforce
from pipelines.grade.job import Job
from pipelines.grade.probing import make_probes, read_probe_report, run_probe_batch
from pipelines.grade.submission import score_with
from pipelines.grade.unit import Unit
from pipelines.results import TestResult

FIDELITY_FILE = "fidelity.yaml"
MIN_BUGS = 5
PROJECT_ENV = ("DEEPGRADE_ROOT", "DEEPGRADE_DATA_DIR", "DEEPGRADE_CACHE_DIR")
MIN_CORRECT = 2
# Variants probed in one sandbox: its start and the worker's imports cost more than most variants' probes.
BATCH = 12
KINDS = ("bug", "equivalent", "correct")


@dataclass(frozen=True)
class Variant:
    """One edit of a graded function in the source notebook."""

    function: str
    name: str
    kind: str  # bug | equivalent | correct
    why: str
    cell: str
    edits: tuple[tuple[str, str], ...] = ()
    define: str | None = None
    # Probe calls that reach this function when its name is not one (a method of a base class).
    calls: tuple[str, ...] = ()

    @property
    def words(self) -> tuple[str, ...]:
        """Names a failing test may use for this function: its own parts and the calls reaching it."""
        return (*self.function.split("."), *self.calls)

    @property
    def label(self) -> str:
        return f"{self.function}/{self.name}"


@dataclass
class Verdict:
    """How the graders treated one variant, compared with the unmodified source."""

    variant: Variant
    lost: list[TestResult] = field(default_factory=list)
    error: str | None = None  # the variant could not be built or graded

    @property
    def cost(self) -> float:
        """The points this variant loses: every test the source passes and it fails."""
        return sum(t.max_points for t in self.lost)

    @property
    def cells(self) -> list[str]:
        """The self-check cells whose points it reaches."""
        return sorted({t.cell for t in self.lost})

    @property
    def names_function(self) -> bool:
        return any(w in f"{t.name} {t.description} {t.message}" for t in self.lost for w in self.variant.words)

    @property
    def ok(self) -> bool:
        """Whether the graders did what this variant's kind requires."""
        if self.error is not None:
            return False
        if self.variant.kind == "bug":
            return bool(self.lost) and self.names_function
        return not self.lost

    def problem(self) -> str:
        v = self.variant
        if self.error is not None:
            return f"{v.label} ({v.kind}): {self.error}"
        lost = ", ".join(f"{t.name} ({t.message[:120]})" for t in self.lost)
        if v.kind == "bug" and not self.lost:
            return f"{v.label}: the bug survived, every grader test still passes ({v.why})"
        if v.kind == "bug":
            return f"{v.label}: it loses points but no failing test names {v.function}: {lost}"
        return f"{v.label} ({v.kind}) lost points it should keep: {lost}"


@dataclass
class FidelityReport:
    """A unit's verdicts, the tests the source passes, and what the file itself lacks."""

    unit: str
    baseline: list[TestResult]
    verdicts: list[Verdict]
    coverage: list[str]  # probe calls, functions short of variants, Graded lines that disagree with the probes
    # What each self-check cell's points cover (its `Graded:` line): a bug "reaches" these.
    graded: dict[str, list[str]] = field(default_factory=dict)
    max_bug_cost: float | None = None  # fidelity.yaml's bound on what one bug may cost, if it sets one

    @property
    def bugs(self) -> list[Verdict]:
        return [v for v in self.verdicts if v.variant.kind == "bug" and v.error is None]

    def largest_cost(self) -> Verdict | None:
        """The bug that costs the most points (the first one listed among equals)."""
        return max(self.bugs, key=lambda v: v.cost, default=None)

    def reached(self, verdict: Verdict) -> list[str]:
        """The graded functions whose points one bug costs (the Graded lines of the cells it reaches)."""
        return list(dict.fromkeys(name for cell in verdict.cells for name in self.graded.get(cell) or [cell]))

    def spreading(self) -> list[Verdict]:
        """Bugs that cost points in more than one graded function: in more than one self-check cell (a
        cell's Graded line may list several functions, which a bug of one of them does not all reach)."""
        return [v for v in self.bugs if len(v.cells) > 1]

    def cost_problems(self) -> list[str]:
        if self.max_bug_cost is None:
            return []
        return [f"{v.variant.label} costs {v.cost:g} points ({', '.join(v.cells)}), more than the {self.max_bug_cost:g} "
                f"that {FIDELITY_FILE} allows one bug (max_bug_cost)" for v in self.bugs if v.cost > self.max_bug_cost]

    @property
    def applicable(self) -> list[str]:
        return [t.name for t in self.baseline if t.status == "passed"]

    def problems(self) -> list[str]:
        return self.coverage + [v.problem() for v in self.verdicts if not v.ok] + self.cost_problems()

    def cost_summary(self) -> list[str]:
        """The per-bug cost report: the largest cost of one bug, and every bug that reaches more than
        one graded function (what it costs where)."""
        worst = self.largest_cost()
        if worst is None:
            return []
        lines = [f"largest cost of one bug: {worst.cost:g} points ({worst.variant.label}: {', '.join(worst.cells)})"]
        spreading = self.spreading()
        lines.append(f"bugs reaching more than one graded function: {len(spreading)} of {len(self.bugs)}")
        lines += [f"  {v.variant.label}: {v.cost:g} points in {', '.join(self.reached(v))}" for v in spreading]
        return lines

    def rows(self) -> Iterator[tuple[str, int, int, int, int, int]]:
        """Per function: bugs killed, bugs, equivalents, correct kept, correct."""
        for function in dict.fromkeys(v.variant.function for v in self.verdicts):
            mine = [v for v in self.verdicts if v.variant.function == function]
            bugs = [v for v in mine if v.variant.kind == "bug"]
            correct = [v for v in mine if v.variant.kind == "correct"]
            yield (function, sum(v.ok for v in bugs), len(bugs), sum(v.variant.kind == "equivalent" for v in mine),
                   sum(v.ok for v in correct), len(correct))


def fidelity_path(unit: Unit) -> Path:
    return unit.root / FIDELITY_FILE


def load_variants(unit: Unit) -> list[Variant]:
    """The variants of ``fidelity.yaml``, in file order; a malformed entry names itself."""
    path = fidelity_path(unit)
    if not path.is_file():
        raise DeepgradeError(f"{unit.name} has no {path.name}: every unit lists its graded functions' variants there "
                             "(docs/writing-a-unit.md, 'Grader fidelity')")
    functions = (yaml.safe_load(path.read_text()) or {}).get("functions") or {}
    variants = []
    for function, entry in functions.items():
        for kind_key, items in (("bugs", entry.get("bugs") or []), ("correct", entry.get("correct") or [])):
            for item in items:
                kind = "correct" if kind_key == "correct" else ("equivalent" if item.get("equivalent") else "bug")
                edits = tuple((e["replace"], e["with"]) for e in item.get("edits", []))
                if "replace" in item:
                    edits += ((item["replace"], item["with"]),)
                if not edits and not item.get("define"):
                    raise DeepgradeError(f"{path}: {function}/{item.get('name')} has no replace/with, edits or define")
                variants.append(Variant(function, str(item["name"]), kind, str(item.get("why", "")),
                                        str(item.get("cell") or entry["cell"]), edits, item.get("define"),
                                        tuple(entry.get("calls") or ())))
    return variants


def _replace_definition(source: str, function: str, definition: str) -> str:
    """``source`` with the top-level def or class (or ``Class.method``) named ``function`` replaced by ``definition``."""
    tree = ast.parse(source)
    *owner, name = function.split(".")
    body: list[ast.stmt] = tree.body
    if owner:
        classes = [n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == owner[0]]
        if not classes:
            raise DeepgradeError(f"class {owner[0]} is not defined in the cell")
        body = classes[0].body
    kinds = (ast.FunctionDef, ast.AsyncFunctionDef) if owner else (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
    defs = [n for n in body if isinstance(n, kinds) and n.name == name]
    if not defs:
        raise DeepgradeError(f"{function} is not defined in the cell")
    node = defs[0]
    start = min([node.lineno] + [d.lineno for d in node.decorator_list]) - 1
    lines = source.splitlines(keepends=True)
    new = textwrap.indent(textwrap.dedent(definition).rstrip() + "\n", " " * node.col_offset)
    return "".join(lines[:start]) + new + "".join(lines[node.end_lineno:])


def apply_variant(cell_source: str, variant: Variant) -> str:
    """The cell's source with the variant's edits; each ``replace`` must occur exactly once."""
    text = cell_source
    for old, new in variant.edits:
        count = text.count(old)
        if count != 1:
            raise DeepgradeError(f"'{old}' occurs {count} times in cell {variant.cell}, expected exactly once")
        text = text.replace(old, new)
    if variant.define:
        text = _replace_definition(text, variant.function, variant.define)
    return text


def export_source(unit: Unit, variant: Variant | None = None) -> str:
    """The export cells of the unit's source notebooks, with ``variant`` applied to its cell."""
    source = ""
    found = variant is None
    for name in unit.notebooks:
        nb = nbtools.load_source(unit.source_notebook(name))
        for cell in nb.cells:
            if variant is not None and nbtools.grade_id(cell) == variant.cell:
                if not nbtools.is_export(cell):
                    raise DeepgradeError(f"cell {variant.cell} is not an export cell: the probes never see it")
                cell.source = apply_variant(cell.source, variant)
                found = True
        source += nbtools.export_source(nb)
    if not found:
        raise DeepgradeError(f"no cell {variant.cell if variant else ''} in {', '.join(unit.notebooks)}")
    return source


def coverage_problems(unit: Unit, variants: list[Variant], calls: set[str] | None = None) -> list[str]:
    """Probe calls with no variants, and functions with fewer than the standard's minimum. ``calls``:
    every name the probes call, chained steps included (default: each probe's main function)."""
    functions = list(dict.fromkeys(v.function for v in variants))
    reached = {c for v in variants for c in v.calls}
    problems = [f"probes call {call}, which {FIDELITY_FILE} does not list (as {call}, {call}.<method>, or in a "
                "function's `calls`)"
                for call in sorted(calls if calls is not None else {p.call for p in unit.probes})
                if call not in reached and not any(f == call or f.startswith(call + ".") for f in functions)]
    for function in functions:
        bugs = sum(v.function == function and v.kind == "bug" for v in variants)
        correct = sum(v.function == function and v.kind == "correct" for v in variants)
        if bugs < MIN_BUGS or correct < MIN_CORRECT:
            problems.append(f"{function} has {bugs} buggy variants (at least {MIN_BUGS}) and {correct} correct "
                            f"alternatives (at least {MIN_CORRECT})")
    return problems


def graded_lines(unit: Unit) -> dict[str, list[str]]:
    """Per autograded self-check cell of the unit's source notebooks, its ``Graded:`` names."""
    return {str(nbtools.grade_id(cell)): nbtools.graded_names(cell)
            for _, cell in unit.source_cells() if nbtools.is_autograded_test(cell)}


def graded_line_problems(unit: Unit, baseline: list[TestResult], reads: dict[str, set[str]],
                         calls: dict[str, str]) -> list[str]:
    """Self-check cells whose ``Graded:`` line is missing or disagrees with what their tests probe.

    ``reads``: per test, the probes it read; ``calls``: per probe, the function or class it grades (its
    main call). The exported functions a line lists must all be probed by its cell's tests (a class
    counts for its methods), and every function they probe must be named on the line, listed or in a
    remark (``batchnorm_backward_alt (timed against your batchnorm_backward)``); a cell scored on
    exported results may list what the notebook trained (``best_fc_net``), which no probe calls."""
    exported = {name for _, cell in unit.source_cells() if nbtools.is_export(cell)
                for name in _top_level_names(cell.source)}
    problems = []
    for _, cell in unit.source_cells():
        if not nbtools.is_autograded_test(cell):
            continue
        gid, names, line = str(nbtools.grade_id(cell)), nbtools.graded_names(cell), nbtools.graded_line(cell)
        if not names:
            problems.append(f"self-check cell '{gid}' has no `# Graded: <functions>` line")
            continue
        probed = {calls[p].split(".")[0] for t in baseline if t.cell == gid for p in reads.get(t.name, ())}
        listed = {n.split(".")[0] for n in names} & (exported | probed)
        mentioned = set(re.findall(r"[A-Za-z_]\w*", line))
        if not listed <= probed or not probed <= mentioned:
            problems.append(f"self-check cell '{gid}' says `Graded: {line}`, but its probes call "
                            f"{', '.join(sorted(probed)) or 'nothing'}")
    return problems


def _top_level_names(source: str) -> set[str]:
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return set()
    return {n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))}


def _definitions(source: str) -> tuple[dict[str, list[str]], dict[str, set[str]]]:
    """Per top-level name of the export module: the dumps of the statements binding it, and the
    names those statements read (a class's bases included)."""
    bound: dict[str, list[str]] = {}
    reads: dict[str, set[str]] = {}
    for stmt in ast.parse(source).body:
        if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names = [stmt.name]
        elif isinstance(stmt, (ast.Import, ast.ImportFrom)):
            names = [(a.asname or a.name).split(".")[0] for a in stmt.names]
        else:
            names = [n.id for n in ast.walk(stmt) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)]
        used = {n.id for n in ast.walk(stmt) if isinstance(n, ast.Name)}
        for name in names:
            bound.setdefault(name, []).append(ast.dump(stmt))
            reads.setdefault(name, set()).update(used - {name})
    return bound, reads


def affected_names(before: str, after: str) -> set[str] | None:
    """Top-level names whose behaviour an edit can change: those it rebinds differently, and every
    name that reads one of them, transitively. None when the edited module does not parse."""
    try:
        old, _ = _definitions(before)
        new, reads = _definitions(after)
    except SyntaxError:
        return None
    affected = {name for name in old.keys() | new.keys() if old.get(name) != new.get(name)}
    grew = True
    while grew:
        more = {name for name, used in reads.items() if used & affected} - affected
        affected |= more
        grew = bool(more)
    return affected


@dataclass
class _Probed:
    """A variant's sandboxed probe run, before anything of it is read (see ``check_fidelity``)."""

    variant: Variant
    job: Job
    specs: list[dict[str, Any]]
    report: bytes
    run: dict[str, Any]


def _fidelity_job(unit: Unit, work: Path, label: str) -> Job:
    folder = work / hashlib.sha256(label.encode()).hexdigest()[:16]
    folder.mkdir(parents=True, exist_ok=True)
    # One student id and digest for every variant: identical probe inputs, so verdicts compare.
    return Job(unit, "fidelity", folder, work / "data", int(unit.params.get("seed", 0)), "fidelity")


def _probe_runs(unit_name: str, work: str, label: str, parts: list[tuple[str, list[dict[str, Any]]]],
                inputs: dict[str, Any], env: dict[str, str] | None = None) -> list[tuple[bytes, dict[str, Any]]]:
    """Sandboxed probe runs of several export sources, in one sandbox (in a pool worker: a
    single-threaded process, so the sandbox's fork never copies a lock another thread holds). A part
    the shared run left unfinished (the run was stopped: one variant's fault) runs again alone, so a
    variant is never judged on another's. ``env``: the caller's project settings, which a fork server
    started earlier in the same process may predate."""
    if env is not None:
        from pipelines.params import _load

        for key in PROJECT_ENV:
            os.environ.pop(key, None)
        os.environ.update(env)
        _load.cache_clear()
    job = _fidelity_job(Unit.load(unit_name), Path(work), label)
    runs = run_probe_batch(job, parts, inputs)
    if len(parts) == 1:
        return runs
    return [done if _complete(done[0], specs) else run_probe_batch(job, [(source, specs)], inputs)[0]
            for (source, specs), done in zip(parts, runs, strict=True)]


def _complete(report: bytes, specs: list[dict[str, Any]]) -> bool:
    """Whether the worker reported on every probe of a part."""
    names = {m.header.get("name") for m in messages(report) if m.header.get("event") == "probe"}
    return names >= {s["name"] for s in specs}


class _Grader:
    """Probe and score export sources on fixed probe inputs (the same for every variant). A variant
    re-runs only the probes whose call its edit can reach, and re-scores only the tests that read
    them; everything else is the source's own outcome, which it cannot have changed."""

    def __init__(self, unit: Unit, work: Path) -> None:
        self.unit = unit
        self.work = work
        (work / "data").mkdir(parents=True, exist_ok=True)
        self.specs, self.inputs = make_probes(self._job("baseline"))
        self.source = export_source(unit)
        probed = self.run(None, self.source, self.specs)
        self.results = self.read(probed)
        self.baseline, plugin = score_with(probed.job, self.inputs, self.results)
        self.reads = plugin.probes_used

    def _job(self, label: str) -> Job:
        return _fidelity_job(self.unit, self.work, label)

    def run(self, variant: Variant | None, source: str, specs: list[dict[str, Any]]) -> _Probed:
        """The sandboxed probe run, here."""
        label = variant.label if variant else "source"
        ((report, run),) = _probe_runs(self.unit.name, str(self.work), label, [(source, specs)],
                                       {s["name"]: self.inputs[s["name"]] for s in specs})
        return self.probed(variant, label, source, specs, report, run)

    def probed(self, variant: Variant | None, label: str, source: str, specs: list[dict[str, Any]],
               report: bytes, run: dict[str, Any]) -> _Probed:
        job = self._job(label)
        job.export_source = source
        return _Probed(variant or Variant("", "source", "correct", "", ""), job, specs, report, run)

    def read(self, probed: _Probed) -> dict[str, Any]:
        """The probe results as grading takes them, the integrity rule of assignment.yaml included."""
        return enforce(probed.job, read_probe_report(probed.job, probed.specs, probed.report, probed.run))

    def specs_for(self, names: set[str] | None) -> list[dict[str, Any]]:
        """The probes an edit reaching ``names`` (None: anything) can change."""
        return [s for s in self.specs if names is None or names & set(s.get("calls") or [s["call"]])]

    def grade(self, probed: _Probed) -> tuple[list[TestResult], list[str]]:
        """The variant's tests (re-run where its probes ran, the source's elsewhere) and grader errors."""
        results = self.read(probed)
        touched = {s["name"] for s in probed.specs}
        rerun = sorted(test for test, used in self.reads.items() if used & touched)
        tests, plugin = score_with(probed.job, self.inputs, {**self.results, **results}, rerun)
        fresh = {t.name: t for t in tests}
        unscored = sorted(set(rerun) - set(fresh))
        if unscored:  # a grader run that never reported must not read as "every test still passes"
            raise DeepgradeError(f"the graders did not score {', '.join(unscored)}: "
                                 + "; ".join(plugin.internal_errors + probed.job.internal)[-600:])
        return [fresh.get(t.name, t) for t in self.baseline], plugin.internal_errors + probed.job.internal


def score_sources(unit: Unit, sources: dict[str, str]) -> dict[str, list[TestResult]]:
    """Every grader test of ``unit`` on each of several whole export sources (by label), through the
    probe and scoring steps only, in one sandbox: what a submission whose export cells are these would
    score without its notebook (tests of exported results fail, as they do for a notebook that cannot
    run). For submissions that write nothing, or junk."""
    with tempfile.TemporaryDirectory(prefix=f"sources-{unit.name}-") as tmp:
        work = Path(tmp)
        (work / "data").mkdir()
        specs, inputs = make_probes(_fidelity_job(unit, work, "sources"))
        runs = _probe_runs(unit.name, tmp, "sources", [(source, specs) for source in sources.values()], inputs)
        scored = {}
        for (label, source), (report, run) in zip(sources.items(), runs, strict=True):
            job = _fidelity_job(unit, work, label)
            job.export_source = source
            scored[label], _ = score_with(job, inputs, enforce(job, read_probe_report(job, specs, report, run)))
    return scored


def check_fidelity(unit: Unit, *, workers: int = 2, progress: Callable[[str], None] | None = None) -> FidelityReport:
    """Grade the source and every variant of ``unit`` (probe + score only) and judge each variant.

    Only the sandboxed probe runs overlap, in worker processes; building and parsing variants, reading
    reports and scoring stay in this process, on one thread: CPython 3.11's parser keeps
    interpreter-wide state that two threads parsing at once corrupt (gh-106905, "AST constructor
    recursion depth mismatch"), pytest parses as it scores, and a sandbox forked from a thread while
    another holds a lock can hang."""
    variants = load_variants(unit)
    with tempfile.TemporaryDirectory(prefix=f"fidelity-{unit.name}-") as tmp:
        grader = _Grader(unit, Path(tmp))
        coverage = coverage_problems(unit, variants, {c for s in grader.specs for c in s.get("calls") or [s["call"]]})
        coverage += graded_line_problems(unit, grader.baseline, grader.reads, {s["name"]: s["call"] for s in grader.specs})
        passing = {t.name for t in grader.baseline if t.status == "passed"}
        verdicts: dict[str, Verdict] = {}
        runs: list[tuple[Variant, str, list[dict[str, Any]]]] = []
        for variant in variants:
            try:
                source = export_source(unit, variant)
                runs.append((variant, source, grader.specs_for(affected_names(grader.source, source))))
            except (DeepgradeError, SyntaxError) as exc:
                verdicts[variant.label] = Verdict(variant, error=str(exc))

        def judge(probed: _Probed) -> Verdict:
            try:
                tests, internal = grader.grade(probed)
            except DeepgradeError as exc:
                return Verdict(probed.variant, error=str(exc))
            lost = [t for t in tests if t.name in passing and t.status != "passed"]
            error = "grader error: " + internal[0][-600:] if internal and any(t.status == "error" for t in lost) else None
            return Verdict(probed.variant, lost, error)

        ctx = get_context("forkserver")
        ctx.set_forkserver_preload(["pipelines.grade.probing"])
        batches = [runs[i:i + BATCH] for i in range(0, len(runs), BATCH)]
        with ProcessPoolExecutor(max_workers=max(1, workers), mp_context=ctx) as pool:
            env = {k: os.environ[k] for k in PROJECT_ENV if k in os.environ}
            futures = [pool.submit(_probe_runs, unit.name, tmp, f"batch-{b}", [(source, specs) for _, source, specs in batch],
                                   {s["name"]: grader.inputs[s["name"]] for _, _, specs in batch for s in specs}, env)
                       for b, batch in enumerate(batches)]
            for batch, future in zip(batches, futures, strict=True):
                for (variant, source, specs), (report, run) in zip(batch, future.result(), strict=True):
                    verdicts[variant.label] = judge(grader.probed(variant, variant.label, source, specs, report, run))
                    if progress:
                        progress(variant.label)
    bound = (yaml.safe_load(fidelity_path(unit).read_text()) or {}).get("max_bug_cost")
    return FidelityReport(unit.name, grader.baseline, [verdicts[v.label] for v in variants], coverage,
                          graded_lines(unit), None if bound is None else float(bound))


def print_report(report: FidelityReport) -> int:
    """The table of the closing notes (per function: bugs killed, equivalents, correct kept) and
    every problem; exit status 1 when the graders or the file fall short of the standard."""
    from rich.console import Console
    from rich.table import Table

    console = Console()
    table = Table(title=f"Grader fidelity of {report.unit} ({len(report.applicable)}/{len(report.baseline)} "
                        "grader tests apply without executing the notebook)")
    for column in ("function", "bugs killed", "equivalent", "correct kept"):
        table.add_column(column)
    for function, killed, bugs, equivalent, kept, correct in report.rows():
        table.add_row(function, f"{killed}/{bugs}", str(equivalent), f"{kept}/{correct}")
    console.print(table)
    for line in report.cost_summary():
        console.print(line, markup=False, highlight=False)
    for verdict in report.verdicts:
        if verdict.variant.kind == "equivalent":
            console.print(f"equivalent: {verdict.variant.label}: {verdict.variant.why}", markup=False)
    for problem in report.problems():
        console.print(f"[red]problem[/red]: {problem}", highlight=False)
    return 1 if report.problems() else 0

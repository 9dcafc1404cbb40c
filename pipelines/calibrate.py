"""``deepgrade calibrate <unit> --profile full``: measure a unit's thresholds on this course's data.

A threshold that depends on the data (a test accuracy, a train - validation gap) is written per profile
in ``params.yaml``, and one that could not be calibrated on its profile's data carries
``provisional: [full]`` (the feedback then says so). This command grades the unit's source solution
like ``deepgrade validate`` once per seed, collects what each check measured against each threshold
(the graders' ``measured(key, value)``), and writes the measured range, the seeds and the date beside
the threshold (``measured: {full: ...}``), clearing its provisional mark. The threshold itself
changes only with ``--set key=value``: choosing the margin below the worst seed stays the
instructor's decision.
"""

from __future__ import annotations

import datetime
import re
import tempfile
from collections import defaultdict
from pathlib import Path

import yaml
from rich.console import Console
from rich.table import Table

from pipelines.errors import DeepgradeError
from pipelines.examples import write_solution
from pipelines.grade import notebook as nbtools
from pipelines.grade.cache import LayerCache
from pipelines.grade.fingerprint import Fingerprints
from pipelines.grade.intake import Submission
from pipelines.grade.submission import grade_submission
from pipelines.grade.unit import Unit
from pipelines.params import MEASURED, PROVISIONAL, load_params, resolve_profile
from pipelines.paths import cache_root, project_root

console = Console()


def measure(unit: Unit, seeds: list[int]) -> dict[str, list[float]]:
    """Per threshold key, what the source solution's checks measured, one value per seed."""
    values: dict[str, list[float]] = defaultdict(list)
    for seed in seeds:
        unit.params = {**unit.params, "seed": seed}
        with tempfile.TemporaryDirectory(prefix="deepgrade-calibrate-") as tmp:
            submitted = Path(tmp) / "solution" / unit.name
            submitted.mkdir(parents=True)
            for nb in unit.notebooks:
                write_solution(nbtools.load_source(unit.source_notebook(nb)), submitted / nb)
            result, internal, _ = grade_submission(unit, f"calibrate-{seed}", Submission.read(submitted, unit.notebooks),
                                                   Path(tmp) / "job", unit.student_data_view(cache_root()),
                                                   LayerCache(unit.name), Fingerprints(unit))
        if internal:
            raise DeepgradeError(f"grading the solution of {unit.name} with seed {seed} failed:\n" + "\n".join(internal)[-2000:])
        for test in result.tests:
            for key, value in test.measured.items():
                values[key].append(value)
        console.print(f"seed {seed}: {result.score:g}/{result.max_score:g}, measured "
                      + ", ".join(f"{k} {v:.4g}" for t in result.tests for k, v in t.measured.items()))
    return dict(values)


def describe(values: list[float], seeds: list[int], day: datetime.date) -> str:
    """``"0.311-0.342 over 5 seeds (0-4), 2026-12-08"``: what is written beside a threshold."""
    consecutive = len(seeds) > 1 and seeds == list(range(seeds[0], seeds[-1] + 1))
    shown = f"{seeds[0]}-{seeds[-1]}" if consecutive else ",".join(map(str, seeds))
    runs = f"{len(values)} seed{'s' if len(values) > 1 else ''}"
    return f"{min(values):.4g}-{max(values):.4g} over {runs} ({shown}), {day.isoformat()}"


def rewrite_threshold(text: str, unit: str, key: str, profile: str, measured: str | None, value: float | None) -> str:
    """``params.yaml``'s text with the line of ``units.<unit>.thresholds.<key>`` rewritten (its comments
    and every other line kept): ``measured[profile]`` set, ``profile`` dropped from ``provisional``, and
    ``value[profile]`` replaced when ``value`` is given."""
    lines = text.splitlines(keepends=True)
    path = ["units", unit, "thresholds", key]
    stack: list[tuple[int, str]] = []  # the keys enclosing the current line, with their indentation
    for i, line in enumerate(lines):
        found = re.match(r"^( *)([A-Za-z0-9_]+):(.*)$", line.rstrip("\n"))
        if not found:
            continue
        spaces = len(found.group(1))
        while stack and stack[-1][0] >= spaces:
            stack.pop()
        stack.append((spaces, found.group(2)))
        if [name for _, name in stack] != path:
            continue
        body, comment = _split_comment(found.group(3))
        if not body.strip():
            break  # a block mapping over several lines: not rewritten
        current = yaml.safe_load(body)
        entry = dict(current) if isinstance(current, dict) else {"full": current, "ci": current}
        if value is not None:
            entry[profile] = value
        if measured is not None:
            entry[MEASURED] = {**(entry.get(MEASURED) or {}), profile: measured}
            left = [p for p in entry.pop(PROVISIONAL, None) or [] if p != profile]
            if left:
                entry[PROVISIONAL] = left
        dumped = yaml.safe_dump(entry, default_flow_style=True, sort_keys=False, width=10_000).strip()
        lines[i] = f"{' ' * spaces}{key}: {dumped}{comment}\n"
        return "".join(lines)
    raise DeepgradeError(f"params.yaml has no {'.'.join(path)} written on one line")


def _split_comment(rest: str) -> tuple[str, str]:
    """A YAML line's value and its trailing comment (`` # ...``), quotes respected."""
    quote = None
    for i, ch in enumerate(rest):
        if ch in "'\"" and quote in (None, ch):
            quote = None if quote else ch
        elif ch == "#" and quote is None and (i == 0 or rest[i - 1] == " "):
            return rest[:i], "  " + rest[i:].rstrip()
    return rest, ""


def calibrate(assignment: str, profile: str, seeds: list[int], settings: dict[str, float]) -> int:
    unit = Unit.load(assignment)
    data_profile = resolve_profile(load_params())
    if data_profile != profile:
        raise DeepgradeError(f"the prepared data is the '{data_profile}' profile's, so thresholds of '{profile}' cannot be "
                             f"measured here: prepare the {'official' if profile == 'full' else 'mirror'} data first "
                             "(README, 'Quick start')")
    unit.profile = profile
    values = measure(unit, seeds)
    thresholds = unit.unit_params.get("thresholds", {})
    unknown = sorted(set(settings) - set(thresholds))
    if unknown:
        raise DeepgradeError(f"--set names {', '.join(unknown)}: no threshold of {assignment} in params.yaml")
    path = project_root() / "params.yaml"
    text = path.read_text()
    table = Table(title=f"{assignment}: thresholds on the '{profile}' profile, {len(seeds)} seeds of the solution")
    for column in ("threshold", "value", "measured"):
        table.add_column(column)
    today = datetime.date.today()
    for key in thresholds:
        measured = describe(values[key], seeds, today) if values.get(key) else None
        if measured is not None or key in settings:
            text = rewrite_threshold(text, assignment, key, profile, measured, settings.get(key))
        shown = settings.get(key, unit.threshold(key))
        table.add_row(key, f"{shown:g}", measured or "not measured by any check")
    path.write_text(text)
    console.print(table)
    console.print("Written to params.yaml (measured ranges; a threshold changes only with --set).")
    return 0

"""Step 4 of a submission: the probes. Seeded inputs are built here from the graders' ``@probe``
builders; the probe worker evaluates the student's export cells on them in the sandbox.

What this produces is the probe layer of the cache (``pipelines.grade.fingerprint``): editing this
module re-runs the probes, never the notebooks.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import shutil
import sys
import tempfile
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from pipelines.execute import statuses
from pipelines.execute.channel import encode
from pipelines.execute.integrity import ALLOWED_ENV, allowed_modules
from pipelines.execute.outcome import bound_passed, messages
from pipelines.execute.sandbox import run_sandboxed
from pipelines.grade.cache import LayerCache
from pipelines.grade.chain import called_names, wrt_array
from pipelines.grade.job import Job
from pipelines.grade.probe_io import PARTS_JSON, PROBES_JSON, PROBES_NPZ, ProbeResult, missing_result, parse_result, write_probes


def probe_seed(job: Job, probe_name: str) -> np.random.Generator:
    """Fresh inputs per student and submission, reproducible for a regrade of the same files."""
    digest = hashlib.sha256(f"{job.seed}:{job.student_id}:{job.digest}:{probe_name}".encode()).digest()
    return np.random.default_rng(int.from_bytes(digest[:8], "little"))


def _entries(rng: np.random.Generator, shape: tuple[int, ...], k: int) -> np.ndarray:
    """``k`` random entries of an array of ``shape``, one row of indices each (numeric gradients)."""
    return np.stack([rng.integers(0, n, size=k) for n in shape], axis=1)


def make_probes(job: Job) -> tuple[list[dict[str, Any]], dict[str, dict[str, Any]]]:
    """The probe specs and their inputs, seeded per student and submission (trusted side)."""
    default_timeout = float(job.unit.grading["probe_timeout"])
    specs, inputs = [], {}
    for p in job.unit.probes:
        rng = probe_seed(job, p.name)
        made = p.make(rng)
        calls = [p.call]
        if "steps" in made:  # a chained probe: indices of its numeric gradient, every name it calls
            made["steps"] = list(made["steps"])
            calls += [c for c in called_names(made["steps"]) if c != p.call]
            if made.get("numeric_grad") is not None:
                ng = made["numeric_grad"]
                made["numgrad_idx"] = [_entries(rng, np.shape(wrt_array(made["steps"], ng.wrt)), ng.k)]
        elif p.numeric_grad:
            arg, _, k = p.numeric_grad
            made["numgrad_idx"] = [_entries(rng, np.shape(made["args"][arg]), k)]
        inputs[p.name] = made
        specs.append({"name": p.name, "call": p.call, "methods": list(p.methods), "attrs": list(p.attrs),
                      "timeout": p.timeout or default_timeout, "timed": p.timed, "repeats": p.repeats,
                      "numeric_grad": list(p.numeric_grad) if p.numeric_grad else None, "calls": calls})
    return specs, inputs


def probe(job: Job, cache: LayerCache, key: str, specs: list[dict[str, Any]],
          inputs: dict[str, dict[str, Any]]) -> dict[str, ProbeResult]:
    """Step 4, or its cached result: the student's export cells evaluated on the probes in the sandbox."""
    return start_probe(job, cache, key, specs, inputs)()


def start_probe(job: Job, cache: LayerCache, key: str, specs: list[dict[str, Any]],
                inputs: dict[str, dict[str, Any]]) -> Callable[[], dict[str, ProbeResult]]:
    """Step 4 started: its sandbox runs in the background (it needs only the export cells, which are
    taken before the notebook runs, so it can run beside the notebook's sandbox on another core).
    Call what this returns to wait for it and read the results; the report is read, and the job
    flagged, only then, so a submission's messages come in the same order whatever finished first."""
    hit = cache.get("probes", key)
    if hit is not None:
        return lambda: read_probe_report(job, specs, (hit / "report.bin").read_bytes(), cache.meta(hit))
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="probes")
    running = pool.submit(run_probes, job, specs, inputs)
    pool.shutdown(wait=False)

    def finish() -> dict[str, ProbeResult]:
        report, run = running.result()
        results = read_probe_report(job, specs, report, run)
        if not job.internal:
            cache.put("probes", key, {"report.bin": report}, {}, run)
        return results

    return finish


def run_probes(job: Job, specs: list[dict[str, Any]], inputs: dict[str, dict[str, Any]]) -> tuple[bytes, dict[str, Any]]:
    """Run the probe worker in the sandbox on the export cells; its report and how the run ended."""
    return run_probe_batch(job, [(job.export_source, specs)], inputs)[0]


def run_probe_batch(job: Job, parts: list[tuple[str, list[dict[str, Any]]]],
                    inputs: dict[str, dict[str, Any]]) -> list[tuple[bytes, dict[str, Any]]]:
    """Run several export sources, each on its own probes, in ONE sandboxed probe worker (the fidelity
    checks grade hundreds of variants on the same probe inputs: one sandbox each cost more than their
    probes). Each part's report comes back on its own, with how the shared run ended; a part the
    worker never finished reporting on (the run was stopped) has fewer records than probes."""
    unit = job.unit
    default_timeout = float(unit.grading["probe_timeout"])
    # A fresh folder, not the notebook's: the notebook's code may have left links there named like
    # the files written below. The inputs are read-only inside, so no probe can change the next one's.
    folder = Path(tempfile.mkdtemp(prefix=".probes-", dir=job.dir.parent))
    sources = [f"exports-{i}.py" for i in range(len(parts))]
    try:
        every = {s["name"]: s for _, specs in parts for s in specs}
        for name, (source, _) in zip(sources, parts, strict=True):
            (folder / name).write_text(source)
        (folder / PARTS_JSON).write_text(json.dumps([{"source": name, "probes": [s["name"] for s in specs]}
                                                     for name, (_, specs) in zip(sources, parts, strict=True)]))
        write_probes(folder, list(every.values()), {name: inputs[name] for name in every})
        limits = unit.limits("probes")
        # Each probe has its own deadline inside; the whole run also pays for loading and the timing baselines.
        total = sum(sum(s["timeout"] for s in specs) + default_timeout + 30 for _, specs in parts)
        limits = dataclasses.replace(limits, wall_seconds=min(limits.wall_seconds * len(parts), total))
        allowed = allowed_modules(unit.config)
        run = run_sandboxed([sys.executable, "-m", "pipelines.grade.probe_worker", str(default_timeout), *unit.preload],
                            folder, limits, data_dir=job.data_view, log_name="probes.log", report=True,
                            readonly=(*sources, PARTS_JSON, PROBES_JSON, PROBES_NPZ),
                            env={ALLOWED_ENV: ",".join(allowed)} if allowed is not None else None)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    if run.report_overflow:
        job.internal.append("the probe worker's report passed its size cap and was cut")
    ended = {"timed_out": run.timed_out, "wall_seconds": limits.wall_seconds, "returncode": run.returncode,
             "output": run.output[-3000:], "exceeded": list(run.exceeded), "killed_by": run.killed_by}
    by_part: dict[int, list[bytes]] = {i: [] for i in range(len(parts))}
    for message in messages(run.report):
        part = message.header.get("part")
        if isinstance(part, int) and part in by_part:
            by_part[part].append(encode(message))
    return [(b"".join(by_part[i]), ended) for i in range(len(parts))]


def read_probe_report(job: Job, specs: list[dict[str, Any]], report: bytes, run: dict[str, Any]) -> dict[str, ProbeResult]:
    """Each probe's typed record from the worker's report; flags for timeouts and memory."""
    records = {m.header.get("name"): m for m in messages(report) if m.header.get("event") == "probe"}
    exceeded = run.get("exceeded", [])
    for bound in exceeded:
        job.flag(*bound_passed(bound, job.unit.limits("probes"), "while your exported functions were checked, your code"))
    killed = run.get("killed_by")
    if run["timed_out"]:
        job.flag(statuses.TIMEOUT, f"checking your exported functions took longer than {run['wall_seconds']:g} s in all and was stopped.")
    elif len(records) < len(specs) and killed is not None and not exceeded:
        # Only a signal from inside the sandbox (student code killing its parent) or the kernel ends the worker so.
        job.flag(statuses.KERNEL_DIED, f"the process checking your exported functions was killed ({killed}); "
                                       "if your code sends signals or kills processes, remove that.")
    elif len(records) < len(specs) and not exceeded:
        job.internal.append(f"probe worker exit {run['returncode']}, {len(records)}/{len(specs)} records:\n{run['output']}")
    why = ("the checking run was stopped (time limit)" if run["timed_out"] else
           "the checking run was stopped (a limit on all its processes together)" if exceeded else
           f"the checking process was killed ({killed})" if killed else "the checking run stopped unexpectedly")
    results = {}
    for s in specs:
        record = records.get(s["name"])
        results[s["name"]] = (parse_result(s["name"], s["call"], record.header, record.payload) if record is not None
                              else missing_result(s["name"], s["call"], why))
        results[s["name"]].calls = tuple(s.get("calls") or (s["call"],))
    for status, outcome, what in ((statuses.TIMEOUT, "timeout", "ran out of time"), (statuses.OOM, "oom", "ran out of memory")):
        hit = sorted({r.call for r in results.values() if r.outcome == outcome})
        if hit:
            job.flag(status, f"while being checked, {', '.join(hit)} {what}.")
    return results

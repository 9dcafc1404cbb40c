"""``deepgrade autograde``: grade every student folder of a submission directory, in parallel, cached.

Grades are cached in layers (``pipelines.grade.fingerprint``): an unchanged submission runs nothing,
and after a grader or threshold edit only scoring (and the probes whose specs changed) runs again. Whatever
happens to one student (even an engine bug), that student gets a row and a status and the batch
goes on; finished students are cached as they complete, so an interrupted batch resumes.

Crash safety: this process is the one writer of the outputs. As each student finishes, it writes
their results.json, then their gradebook scores, then grades.csv again (each write atomic), so a
``kill -9`` at any moment leaves grades.csv rows that agree with results.json and the gradebook, and
a student without a row is simply graded (or taken from the cache) by the next run.
"""

from __future__ import annotations

import contextlib
import ctypes
import fcntl
import json
import os
import shutil
import signal
import time
import traceback
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from functools import lru_cache
from multiprocessing import get_context
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from pipelines.errors import DeepgradeError
from pipelines.execute import statuses
from pipelines.execute.budget import cgroup_kind
from pipelines.execute.device import require_memory_bound
from pipelines.execute.sandbox import UNSAFE_ENV, UNSAFE_NOTE, bwrap_path, sandbox_self_test, unsafe_no_sandbox
from pipelines.grade import gradebook as gradebook_db
from pipelines.grade.cache import LayerCache
from pipelines.grade.fingerprint import Fingerprints
from pipelines.grade.gradebook import Recorder
from pipelines.grade.intake import Submission
from pipelines.grade.unit import Unit
from pipelines.params import _load as _load_params_file
from pipelines.paths import cache_root, gradebook_path
from pipelines.report.class_report import ReportSettings, write_class_report
from pipelines.report.feedback import write_feedback
from pipelines.report.plots import preload_matplotlib
from pipelines.report.results import write_grades_csv, write_results_json
from pipelines.results import StudentResult
from pipelines.staff.late import settler

console = Console(stderr=True)


@dataclass(frozen=True)
class BatchSummary:
    """What one autograde run did: students graded now, reused unchanged, and engine failures among them."""

    graded: int
    cached: int
    failed: int


_PR_SET_PDEATHSIG = 1
_ENV_KEYS = ("DEEPGRADE_ROOT", "DEEPGRADE_DATA_DIR", "DEEPGRADE_CACHE_DIR", UNSAFE_ENV)


@lru_cache(maxsize=1)
def _sandbox_works() -> tuple[bool, str]:
    """The sandbox's self-test, once per process (it starts one sandboxed Python)."""
    return sandbox_self_test()


@contextlib.contextmanager
def _sandbox_mode(waived: bool) -> Iterator[None]:
    """Refuse to grade without a working sandbox unless the instructor waived it; a waived batch
    runs with its own cache (its results are never reused by a sandboxed batch, nor the reverse)."""
    if not waived:
        bwrap_path()
        ok, detail = _sandbox_works()
        if not ok:
            raise DeepgradeError(f"the sandbox does not work on this machine ({detail}); fix it (see `deepgrade "
                                 "doctor`) or, knowing what it means, pass --unsafe-no-sandbox")
        yield
        return
    saved = {k: os.environ.get(k) for k in (UNSAFE_ENV, "DEEPGRADE_CACHE_DIR")}
    os.environ["DEEPGRADE_CACHE_DIR"] = str(cache_root() / "unsafe-no-sandbox")
    os.environ[UNSAFE_ENV] = "1"
    console.print(f"[bold red]{UNSAFE_NOTE}[/]")
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _init_worker(env: dict[str, str]) -> None:
    """Pool workers start from a fork server that may predate this batch: give them its settings.
    A worker dies with the fork server, which ends with this batch: after a ``kill -9`` of the batch
    no orphan goes on grading (and its sandboxes die with it, ``--die-with-parent``)."""
    ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    for key in _ENV_KEYS:
        os.environ.pop(key, None)
    os.environ.update(env)


@lru_cache(maxsize=4)
def _unit(name: str) -> Unit:
    return Unit.load(name)


@lru_cache(maxsize=4)
def _keys(name: str) -> Fingerprints:
    return Fingerprints(_unit(name))


def scores_key(unit_name: str, student_id: str, submission: Submission) -> str:
    """The key of this student's finished grade of these notebooks: unchanged means nothing needs to run."""
    keys = _keys(unit_name)
    return keys.scores(student_id, keys.execution(submission.digest))


def _grade_one(unit_name: str, student_id: str, student_dir: str, data_view: str) -> tuple[dict, list[str], Path | None]:
    """Worker: grade one student, reusing every cached layer it can; store the finished grade under
    the key of the bytes it graded (read here once: the file may have changed since the batch looked).
    The result, instructor-only diagnostics and the execution layer's folder.
    (The grading modules are imported here, not with this module: a batch whose grades are all
    cached never loads them, and the workers' fork server has them loaded already.)"""
    from pipelines.grade.submission import grade_submission, unit_points

    unit = _unit(unit_name)
    cache = LayerCache(unit_name)
    job_dir = _job_dir(unit_name, student_id)
    try:
        with _job_lock(job_dir):
            submission = Submission.read(Path(student_dir), unit.notebooks)
            result, internal, execution = grade_submission(unit, student_id, submission, job_dir,
                                                           Path(data_view), cache, _keys(unit_name))
            shutil.rmtree(job_dir, ignore_errors=True)
    except Exception:  # noqa: BLE001 - an engine fault must cost this student a status, not the batch
        auto, manual = unit_points(unit)
        result = StudentResult(student_id, unit_name, 0.0, auto, statuses.ERROR,
                               messages=["deepgrade could not grade this submission (an internal error); your instructor has the details."],
                               manual_points_pending=manual)
        return _marked(result).to_json(), [traceback.format_exc()], None
    result = _marked(result)
    if not internal:
        key = scores_key(unit_name, student_id, submission)
        cache.put("scores", key, {"result.json": json.dumps(result.to_json()).encode()}, {},
                  {"execution": execution.name if execution else None})
    return result.to_json(), internal, execution


def _job_dir(unit_name: str, student_id: str) -> Path:
    return cache_root() / "jobs" / unit_name / student_id


def _only_scoring_left(assignment: str, pending: dict[str, tuple[Path, str]], data_view: Path) -> bool:
    """Whether every pending student's notebook run and probe run are cached (a grader or threshold edit
    that changed no probe's inputs): then only scoring is left, which costs less here, one student after
    the other, than in worker processes that import it all again. When probes must run again, the
    workers run them (each probe run is a sandbox of its own, worth a core)."""
    from pipelines.grade.submission import new_job, only_scoring_left

    unit, keys, cache = _unit(assignment), _keys(assignment), LayerCache(assignment)
    return all(only_scoring_left(new_job(unit, sid, digest, _job_dir(assignment, sid), data_view), cache, keys)
               for sid, (_, digest) in pending.items())


@contextlib.contextmanager
def _job_lock(job_dir: Path) -> Iterator[None]:
    """One grader per job folder at a time, whatever else runs on this cache (a second batch, a
    worker of a killed one): held on a file beside the folder, released by the kernel if we die."""
    locks = job_dir.parent / ".locks"
    locks.mkdir(parents=True, exist_ok=True)
    with open(locks / f"{job_dir.name}.lock", "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        yield


def _marked(result: StudentResult) -> StudentResult:
    """A result of a batch without sandbox says so first, in every output made from it."""
    if unsafe_no_sandbox() and UNSAFE_NOTE not in result.messages:
        result.messages.insert(0, UNSAFE_NOTE)
    return result


def _publish(out_dir: Path, result: StudentResult, execution: Path | None) -> None:
    """Write a student's results.json, feedback.html and executed notebook(s) into the output folder."""
    write_results_json(out_dir, result)
    export_dir = execution / "export" if execution and (execution / "export").is_dir() else None
    write_feedback(out_dir, result, export_dir)
    if execution and (execution / "executed").is_dir():
        for nb in (execution / "executed").glob("*.ipynb"):
            shutil.copy2(nb, out_dir / result.student_id / nb.name)


def _execution_of(cache: LayerCache, scores: Path | None) -> Path | None:
    name = cache.meta(scores).get("execution") if scores else None
    return cache.get("execution", name) if name else None


def autograde(
    assignment: str,
    submitted_dir: Path,
    out_dir: Path,
    workers: int = 1,
    use_cache: bool = True,
    summary: Path | None = None,
    unsafe_no_sandbox: bool = False,
    plots: Path | None = None,
) -> BatchSummary:
    """Grade ``submitted_dir/<student>/<assignment>/`` for every student folder; what ran and what was reused.
    Without a working sandbox it refuses, unless ``unsafe_no_sandbox`` (then every output says so)."""
    with _sandbox_mode(unsafe_no_sandbox):
        return _autograde(assignment, submitted_dir, out_dir, workers, use_cache, summary, plots)


def _autograde(assignment: str, submitted_dir: Path, out_dir: Path, workers: int, use_cache: bool,
               summary: Path | None, plots: Path | None) -> BatchSummary:
    # A batch reads graders, params and engine as they are now, even in a process that ran one before.
    for cached in (_unit, _keys, _load_params_file):
        cached.cache_clear()
    unit = Unit.load(assignment)
    require_memory_bound(unit.device, cgroup_kind() is not None)
    if not submitted_dir.is_dir():
        raise DeepgradeError(f"submission folder {submitted_dir} does not exist")
    if workers < 1:
        raise DeepgradeError("--workers must be at least 1")
    students = sorted(d.name for d in submitted_dir.iterdir() if d.is_dir() and not d.name.startswith("."))
    out_dir.mkdir(parents=True, exist_ok=True)
    data_view = unit.student_data_view(cache_root())

    results: dict[str, StudentResult] = {}
    diagnostics: list[str] = []
    note = UNSAFE_NOTE if unsafe_no_sandbox() else None
    gradebook = gradebook_path(unit.params)
    settle = settler(unit.params, assignment)
    pending: dict[str, tuple[Path, str]] = {}
    layers = LayerCache(assignment)
    for sid in students:
        student_dir = submitted_dir / sid / assignment
        submission = Submission.read(student_dir, unit.notebooks)  # a first look: grading reads it again
        hit = layers.get("scores", scores_key(assignment, sid, submission)) if use_cache else None
        if hit is not None:
            results[sid] = settle(StudentResult.from_json(json.loads((hit / "result.json").read_text())), student_dir)
            _publish(out_dir, results[sid], _execution_of(layers, hit))
        else:
            pending[sid] = (student_dir, submission.digest)
    if pending:
        _ = unit.probes  # import the graders once here: a broken grader fails fast, before any student runs
        for notebook in unit.notebooks:
            unit.cell_timeouts(notebook)  # and so does a cell limit that names no cell
    # The index holds only what is known now: no row of an earlier batch outlives a regrade. A rerun
    # whose results the gradebook already holds (nothing changed since) skips the write altogether.
    marker = cache_root() / "gradebook" / f"{assignment}.json"
    known = [results[s] for s in students if s in results]
    with contextlib.ExitStack() as stack:

        def open_gradebook() -> Recorder | None:
            if not pending and gradebook_db.holds(gradebook, marker, gradebook_db.results_digest(unit, known)):
                return None
            record = stack.enter_context(gradebook_db.recorder(unit, gradebook))
            record(known, not gradebook_db.registered(gradebook, marker, unit))
            return record

        write_grades_csv(out_dir, [results[s] for s in students if s in results], note)
        started = time.monotonic()
        _grade_pending(assignment, students, pending, workers, data_view, results, diagnostics, out_dir, note,
                       open_gradebook, settle)
        console.print(f"{assignment}: graded {len(students)} students in {time.monotonic() - started:.1f} s -> {out_dir}")

    ordered = [results[s] for s in students]
    gradebook_db.mark(gradebook, marker, gradebook_db.results_digest(unit, ordered), gradebook_db.sources_digest(unit))
    write_class_report(out_dir, ordered, summary, note, plots, ReportSettings.from_params(unit.params))
    (out_dir / "grader_errors.log").write_text("\n".join(diagnostics))
    if diagnostics:
        console.print(f"[yellow]{len(diagnostics)} grader problem(s); see {out_dir / 'grader_errors.log'}[/]")
    return BatchSummary(graded=len(pending), cached=len(students) - len(pending), failed=len(diagnostics))


def _grade_pending(assignment: str, students: list[str], pending: dict[str, tuple[Path, str]], workers: int,
                   data_view: Path, results: dict[str, StudentResult], diagnostics: list[str], out_dir: Path,
                   note: str | None, open_gradebook: Callable[[], Recorder | None],
                   settle: Callable[[StudentResult, Path], StudentResult]) -> None:
    """Grade the students not in the cache (``pending``: their folder and the digest of the batch's
    first look at it) with ``workers`` processes; as each finishes, apply the late policy
    (``settle``) and write its results.json, feedback, gradebook row and grades.csv (this process is
    the only writer).
    ``open_gradebook`` is called once, after the workers are started: opening it imports nbgrader
    (about 0.8 s), which then happens while the workers start and grade the first students."""
    console.print(f"[bold]{assignment}[/]: {len(students)} students, {len(results)} unchanged (cached), "
                  f"{len(pending)} to grade with {workers} worker(s)")
    if not pending:
        open_gradebook()
        return
    rescore = _only_scoring_left(assignment, pending, data_view)
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=console, transient=not console.is_terminal) as progress:
        task = progress.add_task(f"{'scoring' if rescore else 'grading'} {assignment}", total=len(pending))

        def finish(sid: str, graded: tuple[dict, list[str], Path | None], record: Recorder | None) -> None:
            data, internal, execution = graded
            result = settle(StudentResult.from_json(data), pending[sid][0])
            results[sid] = result
            if internal:
                diagnostics.append(f"== {sid}\n" + "\n".join(internal))
            _publish(out_dir, result, execution)
            if record is not None:
                record([result], False)
            write_grades_csv(out_dir, [results[s] for s in students if s in results], note)
            progress.console.print(f"  {sid}: {result.score:g}/{result.max_score:g} {result.status}")
            progress.advance(task)

        if rescore:
            record = open_gradebook()
            for sid, (sd, _) in pending.items():
                finish(sid, _grade_one(assignment, sid, str(sd), str(data_view)), record)
            return
        ctx = get_context("forkserver")
        # Workers fork from a server that has the grading modules loaded already: a new worker then
        # starts in milliseconds instead of importing numpy, nbformat and pytest again.
        ctx.set_forkserver_preload(["pipelines.grade.submission", "numpy.random"])
        with ProcessPoolExecutor(max_workers=workers, mp_context=ctx, initializer=_init_worker,
                                 initargs=({k: os.environ[k] for k in _ENV_KEYS if k in os.environ},)) as pool:
            futures: dict[Future, str] = {
                pool.submit(_grade_one, assignment, sid, str(sd), str(data_view)): sid
                for sid, (sd, _) in pending.items()
            }
            record = open_gradebook()
            preload_matplotlib()  # for the class report, while the workers grade
            for future in as_completed(futures):
                finish(futures[future], future.result(), record)

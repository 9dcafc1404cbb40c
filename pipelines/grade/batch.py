"""``deepgrade autograde``: grade every student folder of a submission directory, in parallel, cached.

Grades are cached in layers (``pipelines.grade.fingerprint``): an unchanged submission runs nothing,
and after a grader or threshold edit only scoring (and the probes whose specs changed) runs again. Whatever
happens to one student (even an engine bug), that student gets a row and a status and the batch
goes on; finished students are cached as they complete, so an interrupted batch resumes.

Crash safety: this process is the one writer of the outputs. As each student finishes, it writes
their results.json, then their gradebook scores, then grades.csv again (each write atomic), so a
``kill -9`` at any moment leaves grades.csv rows that agree with results.json and the gradebook, and
a student without a row is simply graded (or taken from the cache) by the next run.

Where the jobs run is the executor's business (``pipelines.grade.executors``: a local process pool or
a Dask cluster); each job is the same ``grade_job``, and its outcome comes back here to be written.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import time
import traceback
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import lru_cache, partial
from pathlib import Path

from rich.console import Console

from pipelines.errors import DeepgradeError
from pipelines.execute import statuses
from pipelines.execute.budget import cgroup_kind
from pipelines.execute.device import require_memory_bound
from pipelines.execute.sandbox import UNSAFE_ENV, UNSAFE_NOTE, bwrap_path, sandbox_self_test, unsafe_no_sandbox
from pipelines.grade import gradebook as gradebook_db
from pipelines.grade.cache import LayerCache
from pipelines.grade.executors import Executor, Graded, open_executor
from pipelines.grade.fingerprint import Fingerprints
from pipelines.grade.gradebook import Recorder
from pipelines.grade.intake import Submission
from pipelines.grade.progress import GradingProgress, UnitLine
from pipelines.grade.unit import Unit
from pipelines.params import _load as _load_params_file
from pipelines.paths import cache_root, data_dir, gradebook_path, project_root
from pipelines.report.class_report import ReportSettings, write_class_report
from pipelines.report.feedback import write_feedback
from pipelines.report.plots import preload_matplotlib
from pipelines.report.results import write_grades_csv, write_results_json
from pipelines.results import StudentResult
from pipelines.staff.late import settler

console = Console(stderr=True)


@dataclass(frozen=True)
class BatchSummary:
    """What one autograde run did: students graded now, reused unchanged, and engine failures among them;
    and every student's result, in student order (``deepgrade term`` summarizes them)."""

    graded: int
    cached: int
    failed: int
    results: list[StudentResult] = field(default_factory=list, compare=False, repr=False)


_ENV_KEYS = ("DEEPGRADE_ROOT", "DEEPGRADE_DATA_DIR", "DEEPGRADE_CACHE_DIR", UNSAFE_ENV)


@dataclass(frozen=True)
class BatchContext:
    """What every job of one batch shares, sent with each job: its workers (a pool's fork server, a
    Dask worker) may predate the batch, so they take the batch's paths and mode from here, never from
    their own environment."""

    token: str
    assignment: str
    data_view: str
    env: dict[str, str]


def batch_context(assignment: str, data_view: Path) -> BatchContext:
    env = {"DEEPGRADE_ROOT": str(project_root()), "DEEPGRADE_DATA_DIR": str(data_dir()),
           "DEEPGRADE_CACHE_DIR": str(cache_root())}
    if unsafe_no_sandbox():
        env[UNSAFE_ENV] = "1"
    return BatchContext(uuid.uuid4().hex, assignment, str(data_view), env)


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


_joined: list[str] = []  # the token of the batch this worker process last graded for


def grade_job(batch: BatchContext, student_id: str, student_dir: str) -> Graded:
    """The job every executor runs for one student, in a worker process: it takes the batch's settings
    (and, in a long-lived worker that graded an earlier batch, forgets that batch's unit, keys and
    params, as the batch process does) and grades the student."""
    if _joined != [batch.token]:
        for key in _ENV_KEYS:
            os.environ.pop(key, None)
        os.environ.update(batch.env)
        for cached in (_unit, _keys, _load_params_file):
            cached.cache_clear()
        _joined[:] = [batch.token]
    return _grade_one(batch.assignment, student_id, student_dir, batch.data_view)


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
    from pipelines.grade.submission import grade_submission

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
        return _engine_fault(unit_name, student_id, traceback.format_exc())
    result = _marked(result)
    if not internal:
        key = scores_key(unit_name, student_id, submission)
        cache.put("scores", key, {"result.json": json.dumps(result.to_json()).encode()}, {},
                  {"execution": execution.name if execution else None})
    return result.to_json(), internal, execution


def _engine_fault(unit_name: str, student_id: str, diagnostics: str) -> Graded:
    """The grade of a student whose grading failed in the engine (a grader bug, a job that lost every
    worker it ran on): an error row, never cached, so the next run grades it again."""
    from pipelines.grade.submission import unit_points

    auto, manual = unit_points(_unit(unit_name))
    result = StudentResult(student_id, unit_name, 0.0, auto, statuses.ERROR,
                           messages=["deepgrade could not grade this submission (an internal error); your instructor has the details."],
                           manual_points_pending=manual)
    return _marked(result).to_json(), [diagnostics], None


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


@dataclass(frozen=True)
class Session:
    """Where one command grades (its executor) and its one progress display: a batch, or a whole term."""

    executor: Executor
    progress: GradingProgress


@contextlib.contextmanager
def grading_session(workers: int = 1, executor: str = "local", scheduler: str | None = None,
                    unsafe_no_sandbox: bool = False) -> Iterator[Session]:
    """Refuse without a working sandbox (unless waived, and then on this machine only), then open the
    executor and the progress display. Graders, params and engine are read as they are now, even in a
    process that graded before."""
    for cached in (_unit, _keys, _load_params_file):
        cached.cache_clear()
    if unsafe_no_sandbox and executor != "local":
        raise DeepgradeError("--unsafe-no-sandbox grades on this machine only: every Dask worker must have the sandbox")
    with (_sandbox_mode(unsafe_no_sandbox), open_executor(executor, workers, scheduler) as ex,
          GradingProgress(console) as progress):
        yield Session(ex, progress)


def autograde(
    assignment: str,
    submitted_dir: Path,
    out_dir: Path,
    workers: int = 1,
    use_cache: bool = True,
    summary: Path | None = None,
    unsafe_no_sandbox: bool = False,
    executor: str = "local",
    scheduler: str | None = None,
    plots: Path | None = None,
) -> BatchSummary:
    """Grade ``submitted_dir/<student>/<assignment>/`` for every student folder; what ran and what was reused.
    Without a working sandbox it refuses, unless ``unsafe_no_sandbox`` (then every output says so).
    ``executor``: ``local`` (``workers`` processes here) or ``dask`` (the cluster at ``scheduler``)."""
    with grading_session(workers, executor, scheduler, unsafe_no_sandbox) as session:
        return grade_unit(session, assignment, submitted_dir, out_dir, use_cache, summary, plots)


def student_folders(submitted_dir: Path) -> list[str]:
    """The students of a submission folder (nbgrader's layout): every folder, sorted; none when absent."""
    if not submitted_dir.is_dir():
        return []
    return sorted(d.name for d in submitted_dir.iterdir() if d.is_dir() and not d.name.startswith("."))


def grade_unit(session: Session, assignment: str, submitted_dir: Path, out_dir: Path, use_cache: bool = True,
               summary: Path | None = None, plots: Path | None = None) -> BatchSummary:
    """One unit's batch within ``session``: cache lookups first, the rest on the session's executor."""
    unit = _unit(assignment)
    require_memory_bound(unit.device, cgroup_kind() is not None)
    if not submitted_dir.is_dir():
        raise DeepgradeError(f"submission folder {submitted_dir} does not exist")
    students = student_folders(submitted_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    data_view = unit.student_data_view(cache_root())
    line = session.progress.unit(assignment, len(students))

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
            line.done(results[sid], cached=True)
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
        batch = batch_context(assignment, data_view)
        _grade_pending(session.executor, batch, students, pending, results, diagnostics, out_dir, note,
                       open_gradebook, line, settle)
        console.print(f"{assignment}: graded {len(students)} students in {time.monotonic() - started:.1f} s -> {out_dir}")

    ordered = [results[s] for s in students]
    gradebook_db.mark(gradebook, marker, gradebook_db.results_digest(unit, ordered), gradebook_db.sources_digest(unit))
    write_class_report(out_dir, ordered, summary, note, plots, ReportSettings.from_params(unit.params))
    (out_dir / "grader_errors.log").write_text("\n".join(diagnostics))
    if diagnostics:
        console.print(f"[yellow]{len(diagnostics)} grader problem(s); see {out_dir / 'grader_errors.log'}[/]")
    return BatchSummary(len(pending), len(students) - len(pending), len(diagnostics), ordered)


def _grade_pending(executor: Executor, batch: BatchContext, students: list[str], pending: dict[str, tuple[Path, str]],
                   results: dict[str, StudentResult], diagnostics: list[str], out_dir: Path, note: str | None,
                   open_gradebook: Callable[[], Recorder | None], line: UnitLine,
                   settle: Callable[[StudentResult, Path], StudentResult]) -> None:
    """Grade the students not in the cache (``pending``: their folder and the digest of the batch's
    first look at it) on ``executor``; as each finishes, apply the late policy (``settle``) and write
    its results.json, feedback, gradebook row and grades.csv (this process is the only writer). ``open_gradebook`` is called once, after
    the jobs are sent: opening it imports nbgrader (about 0.8 s), which then happens while the
    workers grade the first students."""
    assignment = batch.assignment
    console.print(f"[bold]{assignment}[/]: {len(students)} students, {len(results)} unchanged (cached), "
                  f"{len(pending)} to grade on {executor.description}")
    if not pending:
        open_gradebook()
        return
    rescore = _only_scoring_left(assignment, pending, Path(batch.data_view))
    line.describe(f"{'scoring' if rescore else 'grading'} {assignment}")

    def finish(sid: str, graded: Graded, record: Recorder | None) -> None:
        data, internal, execution = graded
        result = settle(StudentResult.from_json(data), pending[sid][0])
        results[sid] = result
        if internal:
            diagnostics.append(f"== {sid}\n" + "\n".join(internal))
        _publish(out_dir, result, execution)
        if record is not None:
            record([result], False)
        write_grades_csv(out_dir, [results[s] for s in students if s in results], note)
        line.done(result)

    if rescore:
        record = open_gradebook()
        for sid, (sd, _) in pending.items():
            finish(sid, _grade_one(assignment, sid, str(sd), batch.data_view), record)
        return
    tasks = {sid: str(sd) for sid, (sd, _) in pending.items()}
    with executor.run(partial(grade_job, batch), tasks) as completed:
        record = open_gradebook()
        preload_matplotlib()  # for the class report, while the workers grade
        for sid, outcome in completed:
            try:
                graded = outcome.result()
            except Exception:  # noqa: BLE001 - a job lost with its workers costs that student a status, not the batch
                graded = _engine_fault(assignment, sid, traceback.format_exc())
            finish(sid, graded, record)

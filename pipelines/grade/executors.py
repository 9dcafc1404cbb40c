"""Where a batch's per-student jobs run: a local process pool, or the workers of a Dask cluster.

The batch (``pipelines.grade.batch``) decides what to grade and is the one writer of every output;
an executor only runs the same job function on each pending student and hands each outcome back as
it completes. Scaling past one machine uses an existing distributed engine (Dask's distributed
scheduler, ``pipelines.grade.dask_cluster``), never home-made cluster code (docs/design.md §3,
"Cache and parallelism"); it is imported only when asked for.
"""

from __future__ import annotations

import contextlib
import ctypes
import signal
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from multiprocessing import get_context
from pathlib import Path
from typing import Protocol

from pipelines.errors import DeepgradeError

# One student's grade as a job hands it back: results.json's data, instructor-only diagnostics, the
# execution layer's folder (pipelines.grade.batch).
Graded = tuple[dict, list[str], Path | None]
# A job: (student_id, student_dir) -> Graded; a module-level function or a partial of one, so that Dask
# sends it by reference (the worker imports the same engine).
Job = Callable[[str, str], Graded]

_PR_SET_PDEATHSIG = 1


class Outcome(Protocol):
    """A finished job: ``result()`` is its ``Graded``, or raises what ended the job (a lost worker)."""

    def result(self) -> Graded: ...


class Executor(Protocol):
    """Runs jobs; opened once per command (a term connects to its cluster once)."""

    description: str

    def run(self, job: Job, tasks: dict[str, str]) -> contextlib.AbstractContextManager[Iterator[tuple[str, Outcome]]]:
        """Start ``job(student_id, student_dir)`` for every item of ``tasks``; the context yields
        ``(student_id, outcome)`` in the order they finish, and stops what is left when it closes."""
        ...


def _die_with_parent() -> None:
    """Pool workers die with the fork server, which ends with this batch: after a ``kill -9`` of the
    batch no orphan goes on grading (and its sandboxes die with it, ``--die-with-parent``)."""
    ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


class LocalPool:
    """``--workers N`` processes on this machine, forked from a server that has the grading modules
    loaded already: a new worker starts in milliseconds instead of importing numpy, nbformat and
    pytest again."""

    def __init__(self, workers: int) -> None:
        if workers < 1:
            raise DeepgradeError("--workers must be at least 1")
        self.workers = workers
        self.description = f"{workers} worker(s)"

    @contextlib.contextmanager
    def run(self, job: Job, tasks: dict[str, str]) -> Iterator[Iterator[tuple[str, Outcome]]]:
        ctx = get_context("forkserver")
        ctx.set_forkserver_preload(["pipelines.grade.submission", "numpy.random"])
        with ProcessPoolExecutor(max_workers=self.workers, mp_context=ctx, initializer=_die_with_parent) as pool:
            futures = {pool.submit(job, sid, folder): sid for sid, folder in tasks.items()}
            yield ((futures[f], f) for f in as_completed(futures))


@contextlib.contextmanager
def open_executor(kind: str, workers: int, scheduler: str | None) -> Iterator[Executor]:
    """``--executor local`` (``--workers`` processes here) or ``--executor dask --scheduler ADDRESS``
    (``params.yaml: grading.dask``)."""
    if kind == "local":
        if scheduler:
            raise DeepgradeError("--scheduler is for --executor dask")
        yield LocalPool(workers)
    elif kind == "dask":
        if not scheduler:
            raise DeepgradeError("--executor dask needs --scheduler ADDRESS (e.g. tcp://host:8786)")
        from pipelines.grade.dask_cluster import DaskCluster
        from pipelines.params import load_params

        cluster = DaskCluster(scheduler, float(load_params()["grading"]["dask"]["connect_timeout"]))
        try:
            yield cluster
        finally:
            cluster.close()
    else:
        raise DeepgradeError(f"unknown executor {kind!r}: local or dask")

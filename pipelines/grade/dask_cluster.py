"""``--executor dask --scheduler ADDRESS``: a batch's jobs as tasks of an existing Dask cluster.

Dask's distributed scheduler is the engine that takes grading past one machine: Python-native, a
``LocalCluster`` for tests, dask-jobqueue for the Slurm/PBS clusters universities run and
dask-kubernetes for the cloud. This module only adapts it to the executor seam
(``pipelines.grade.executors``); imported only when a batch asks for it.

What a worker needs is reached through a filesystem every worker mounts at the same path (course
checkout, submissions, data view, grade cache), never shipped with a job: a job is a student id and
a folder, the cache layers it writes are folders made whole by a rename (atomic within one
filesystem, NFS included), the sandbox binds those files read-only from disk anyway, and a rerun
finds every layer any worker stored. Results come back to the batch, the one writer.

The scheduler's messages are pickles between trusted processes (the batch and the workers): student
code never reaches them (it runs in the workers' sandboxes), but whoever can connect to the
scheduler can run code on the workers. On a shared cluster use Dask's TLS (docs/security.md).
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator

from distributed import Client, WorkerPlugin
from distributed import as_completed as dask_as_completed
from distributed.worker import Worker

from pipelines.errors import DeepgradeError
from pipelines.execute.sandbox import bwrap_path, sandbox_self_test
from pipelines.grade.executors import Job, Outcome
from pipelines.grade.fingerprint import engine_digest


class SandboxCheck(WorkerPlugin):
    """Every grading worker, when it starts (and whenever a batch registers this plugin): bubblewrap
    installed and passing the sandbox's self-test, one job at a time (one thread: a job puts the
    batch's settings into the worker's environment, and its two sandboxes are sized for a core each),
    and the batch's grading engine (``engine``: ``fingerprint.engine_digest``). Otherwise setup raises:
    a starting worker does not start, and a batch whose worker refuses stops before it sends a job
    (as the local path refuses without a sandbox)."""

    name = "deepgrade-sandbox"

    def __init__(self, engine: str) -> None:
        self.engine = engine

    def setup(self, worker: Worker) -> None:
        where = f"Dask worker {worker.address}"
        if worker.state.nthreads != 1:
            raise DeepgradeError(f"{where} runs {worker.state.nthreads} threads; a grading worker runs one "
                                 "(start it with `--nthreads 1`, and as many workers as cores)")
        if engine_digest() != self.engine:
            raise DeepgradeError(f"{where} runs another version of deepgrade than this batch: install the same "
                                 "checkout on every worker (a shared filesystem) and restart the workers")
        try:
            bwrap_path()
        except DeepgradeError as exc:
            raise DeepgradeError(f"{where}: {exc}") from None
        ok, detail = sandbox_self_test()
        if not ok:
            raise DeepgradeError(f"{where}: the sandbox does not work there ({detail}); run `deepgrade doctor` on it")


class DaskCluster:
    """The workers of the Dask scheduler at ``address``; each job is one Dask task. A worker lost
    mid-job (killed, its machine gone) makes the scheduler run the job again on another worker, up to
    ``distributed.scheduler.allowed-failures`` times; a job that loses more workers than that comes
    back as an engine fault of that student (a row, not cached: the next run grades it)."""

    def __init__(self, address: str, connect_timeout: float) -> None:
        try:
            self.client = Client(address, timeout=connect_timeout, set_as_default=False)
        except OSError as exc:
            raise DeepgradeError(f"cannot reach the Dask scheduler at {address}: {exc}") from None
        try:
            self.client.wait_for_workers(1, timeout=connect_timeout)
            self.client.register_plugin(SandboxCheck(engine_digest()))
        except TimeoutError:
            self.client.close()
            raise DeepgradeError(f"the Dask scheduler at {address} has no worker (waited {connect_timeout:g} s)") from None
        except BaseException:
            self.client.close()
            raise
        self.description = f"Dask at {address} ({len(self.client.scheduler_info()['workers'])} workers now)"

    def close(self) -> None:
        self.client.close()

    @contextlib.contextmanager
    def run(self, job: Job, tasks: dict[str, str]) -> Iterator[Iterator[tuple[str, Outcome]]]:
        batch = uuid.uuid4().hex[:12]
        futures = {self.client.submit(job, sid, folder, pure=False, key=f"grade-{sid}-{batch}"): sid
                   for sid, folder in tasks.items()}
        try:
            yield ((futures[f], f) for f in dask_as_completed(futures, loop=self.client.loop))
        finally:
            self.client.cancel([f for f in futures if not f.done()])

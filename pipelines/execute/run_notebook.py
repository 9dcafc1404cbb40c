"""Runs INSIDE the sandbox: execute one notebook with papermill and report, cell by cell, how it went.

Every cell is run even after an error (as nbgrader does), so a half-done notebook still produces
what it can. The runner itself never runs student code (the kernel, a separate process, does), so
what it sends over the report channel (``channel.Reporter``) is the one account of the run the
grader trusts: each cell as it starts, each failing cell with its own error, the cell that hit the
per-cell time limit, how the kernel died. Nothing is decided from text; the grader maps these typed
records to statuses (``pipelines.execute.outcome``).

Outputs are capped while they arrive (per cell and for the whole notebook), so a student printing
gigabytes neither fills the runner's memory nor the disk: the notebook keeps running and the cut
is reported.
"""

from __future__ import annotations

import argparse
import errno
import json
import sys
import time
from pathlib import Path
from typing import Any

from pipelines.execute.cell_limits import CellTimeouts
from pipelines.execute.channel import Reporter

INJECTED_TAGS = ("injected-parameters", "papermill-error-cell-tag")
_MAX_ERROR_TEXT = 2000


def _message_size(msg: dict[str, Any]) -> int:
    content = msg.get("content", {})
    if msg.get("msg_type") == "stream":
        return len(content.get("text", ""))
    return sum(len(v) if isinstance(v, str) else len(json.dumps(v)) for v in content.get("data", {}).values())


def first_code_line(cell: Any) -> str:
    """How a student recognises a cell (Jupyter shows no cell numbers): its first line of code."""
    lines = [ln.strip() for ln in cell.get("source", "").splitlines()]
    return next((ln for ln in lines if ln and not ln.startswith("#")), "")[:80]


def cell_place(cells: list[Any], index: int) -> dict[str, Any]:
    """A cell as the student knows it: its 1-based position in THEIR notebook (papermill's injected
    cells do not count), its nbgrader id if any, and its first line of code (Jupyter shows no numbers)."""
    from pipelines.grade.notebook import grade_id  # imports nbformat: not before the kernel is started

    cell = cells[index]
    injected = sum(any(t in c.get("metadata", {}).get("tags", []) for t in INJECTED_TAGS) for c in cells[:index])
    return {"position": index - injected + 1, "starts": first_code_line(cell), "grade_id": grade_id(cell)}


def failed_cells(cells: list[Any]) -> list[dict[str, Any]]:
    """Every cell with an error output, each with its own error."""
    failed = []
    for index, cell in enumerate(cells):
        for out in cell.get("outputs", []):
            if out.get("output_type") == "error":
                failed.append({**cell_place(cells, index), "ename": str(out.get("ename", ""))[:200],
                               "evalue": str(out.get("evalue", ""))[:_MAX_ERROR_TEXT]})
                break
    return failed


def _client_class() -> type:
    """papermill's nbclient subclass, extended to cap outputs and to watch cells and the kernel.

    Built on first use so that importing this module stays cheap."""
    import nbformat
    from nbclient.exceptions import DeadKernelError
    from papermill.clientwrap import PapermillNotebookClient
    from traitlets import Any as AnyTrait
    from traitlets import Int

    class WatchedClient(PapermillNotebookClient):
        reporter = AnyTrait(None).tag(config=True)
        output_cap = Int(256 * 1024).tag(config=True)
        total_cap = Int(32 * 1024 * 1024).tag(config=True)

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.current: int | None = None
            self.kernel_exit: int | None = None
            self.capped: dict[int, int] = {}
            self._cell_bytes: dict[int, int] = {}
            self._total = 0

        def execute_cell(self, cell: Any, cell_index: int, *args: Any, **kwargs: Any) -> Any:
            self.current = cell_index
            if cell.cell_type == "code":
                self.reporter.send({"event": "cell", **cell_place(self.nb.cells, cell_index)})
            try:
                return super().execute_cell(cell, cell_index, *args, **kwargs)
            except DeadKernelError:
                self.kernel_exit = self._kernel_returncode()
                raise

        def _kernel_returncode(self) -> int | None:
            process = getattr(getattr(self.km, "provisioner", None), "process", None)
            if process is None:
                return None
            try:
                return process.wait(timeout=5)
            except Exception:  # noqa: BLE001 - a kernel that will not say how it ended
                return None

        def output(self, outs: list, msg: dict, display_id: str | None, cell_index: int) -> Any:
            if msg.get("msg_type") == "error":
                content = msg["content"]
                content["evalue"] = str(content.get("evalue", ""))[:_MAX_ERROR_TEXT]
                content["traceback"] = [line[:_MAX_ERROR_TEXT] for line in content.get("traceback", [])[-40:]]
                return super().output(outs, msg, display_id, cell_index)
            size = _message_size(msg)
            used = self._cell_bytes.get(cell_index, 0)
            if used + size > self.output_cap or self._total + size > self.total_cap:
                if cell_index not in self.capped:
                    self.capped[cell_index] = used
                    outs.append(nbformat.v4.new_output(
                        "stream", name="stderr",
                        text=f"\n[deepgrade: further output of this cell was cut: the limit is "
                             f"{self.output_cap // 1024} KB per cell and {self.total_cap // 2**20} MB per notebook]\n"))
                return None
            self._cell_bytes[cell_index] = used + size
            self._total += size
            return super().output(outs, msg, display_id, cell_index)

    return WatchedClient


def _engine(client_class: type) -> type:
    """A papermill engine running ``client_class`` (papermill's own nbclient engine, client swapped)."""
    from papermill.engines import NBClientEngine

    class SandboxEngine(NBClientEngine):
        @classmethod
        def execute_managed_notebook(cls, nb_man: Any, kernel_name: str, log_output: bool = False,
                                     stdout_file: Any = None, stderr_file: Any = None, start_timeout: int = 60,
                                     execution_timeout: int | None = None, **kwargs: Any) -> Any:
            kwargs.pop("input_path", None)
            client = client_class(nb_man, timeout=execution_timeout, startup_timeout=start_timeout,
                                  kernel_name=kernel_name, log_output=log_output, **kwargs)
            SandboxEngine.client = client
            return client.execute()

    return SandboxEngine


def run(notebook: str, output: str, parameters: dict[str, Any], timeouts: CellTimeouts, output_cap: int,
        total_cap: int, reporter: Reporter) -> None:
    """Execute ``notebook`` into ``output``; send one ``end`` record saying how the run ended."""
    from pipelines.execute.imports import skip_slow_optional_imports

    skip_slow_optional_imports()
    km = _start_kernel(Path(notebook).parent, output_cap, total_cap)
    try:
        _run(notebook, output, parameters, timeouts, output_cap, total_cap, reporter, km)
    finally:
        if km is not None:
            from jupyter_core.utils import run_sync

            run_sync(km.shutdown_kernel)(now=True)


def _start_kernel(cwd: Path, output_cap: int, total_cap: int) -> Any:
    """Start the kernel before the runner imports papermill and nbclient: the kernel boots (about
    0.5 s, mostly importing IPython) while the runner loads (about 0.4 s), instead of after it. None
    when it cannot start; nbclient then starts one itself and reports why that fails."""
    from jupyter_core.utils import run_sync

    km = _kernel_manager(output_cap, total_cap)
    try:
        # nbclient's own start passes the same argument: no history database written in the sandbox.
        run_sync(km.start_kernel)(cwd=str(cwd), extra_arguments=["--HistoryManager.hist_file=:memory:"])
    except Exception:  # noqa: BLE001 - reported by nbclient's own attempt below
        return None
    return km


def _kernel_manager(output_cap: int, total_cap: int) -> Any:
    """jupyter_client's asynchronous manager (nbclient drives an asynchronous manager and client: a
    blocking one would stall its event loop on the first output poll, and a cell over its time
    limit would never be stopped), with three changes for a kernel that lives only inside this sandbox:

    - it runs ``pipelines.execute.kernel`` (ipykernel without its debugger, dropping a cell's output
      past this runner's caps, so that it does not queue what the runner would cut), named here
      rather than looked up among the installed kernel specs, a search that imports IPython into
      the runner;
    - shutting it down kills its process group without waiting for it to be reaped (jupyter_client
      polls every 0.1 s): this runner exits next, and the sandbox's processes end with it;
    - its client knows the kernel is ready when the kernel's IOPub reports it idle after answering
      the client's ``kernel_info`` request (``_ReadyOnIdle``).
    """
    from jupyter_client.asynchronous import AsyncKernelClient
    from jupyter_client.kernelspec import KernelSpec, KernelSpecManager
    from jupyter_client.manager import AsyncKernelManager

    spec = KernelSpec(argv=[sys.executable, "-m", "pipelines.execute.kernel", "--output-cap", str(output_cap),
                            "--total-cap", str(total_cap), "-f", "{connection_file}"],
                      display_name="Python 3 (deepgrade sandbox)", language="python")

    class SandboxKernelSpecs(KernelSpecManager):
        def get_kernel_spec(self, kernel_name: str) -> KernelSpec:
            return spec

    class SandboxKernelManager(AsyncKernelManager):
        async def shutdown_kernel(self, now: bool = False, restart: bool = False) -> None:  # type: ignore[override]
            if self.provisioner is not None and self.has_kernel:
                await self.provisioner.kill()

    class SandboxKernelClient(_ReadyOnIdle, AsyncKernelClient):
        pass

    return SandboxKernelManager(kernel_name="python3", kernel_spec_manager=SandboxKernelSpecs(),
                                client_factory=SandboxKernelClient)


class _ReadyOnIdle:
    """``wait_for_ready`` of a jupyter_client asynchronous client, ending on an event rather than on
    0.2 s of silence. jupyter_client's own wait reads a ``kernel_info`` reply, then drains IOPub
    until no message has come for 0.2 s: 0.2 s in which neither the runner nor the kernel does
    anything, in every notebook run. A kernel publishes ``busy`` and then ``idle`` on IOPub around
    every request it handles, so once the kernel has replied, the ``idle`` of one of these requests
    proves that IOPub is connected and that every message the kernel published before it was read.

    As jupyter_client does, a new request is sent while the kernel has not replied (still starting)
    or IOPub has shown no such ``idle`` (subscribed too late). Replies and statuses may then belong
    to any earlier request: all of this wait's requests count, or a kernel slower than one poll to
    start would leave every reply one request behind the last one sent."""

    async def wait_for_ready(self, timeout: float | None = None) -> None:
        from queue import Empty

        client: Any = self
        deadline = time.monotonic() + (timeout if timeout is not None else float("inf"))
        sent: set[str] = set()
        reply = None
        while True:
            sent.add(client.kernel_info())
            try:
                msg = await client.shell_channel.get_msg(timeout=1)
            except Empty:
                msg = None
            if msg is not None and msg["msg_type"] == "kernel_info_reply" and msg["parent_header"].get("msg_id") in sent:
                reply = msg
            if reply is not None and await _idle_after(client, sent):
                client._handle_kernel_info_reply(reply)
                return
            if not await client.is_alive():
                raise RuntimeError("Kernel died before replying to kernel_info")
            if time.monotonic() > deadline:
                raise RuntimeError(f"Kernel didn't respond in {timeout} seconds")


async def _idle_after(client: Any, requests: set[str]) -> bool:
    """Read IOPub up to the kernel's ``idle`` status for one of ``requests``; False if IOPub stays
    silent for 0.2 s before one comes (the subscription missed them)."""
    from queue import Empty

    while True:
        try:
            msg = await client.iopub_channel.get_msg(timeout=0.2)
        except Empty:
            return False
        if msg["msg_type"] == "status" and msg["content"].get("execution_state") == "idle" and \
                msg["parent_header"].get("msg_id") in requests:
            return True


def _run(notebook: str, output: str, parameters: dict[str, Any], timeouts: CellTimeouts, output_cap: int,
         total_cap: int, reporter: Reporter, km: Any) -> None:
    from pipelines.execute.imports import defer_unused_imports, skip_format_checkers, skip_papermill_plugin_scan

    skip_format_checkers()
    defer_unused_imports()
    skip_papermill_plugin_scan()
    import papermill
    from nbclient.exceptions import CellTimeoutError, DeadKernelError
    from papermill.engines import papermill_engines
    from papermill.exceptions import PapermillExecutionError

    engine = _engine(_client_class())
    papermill_engines.register("deepgrade", engine)
    ending: dict[str, Any] = {"kind": "finished"}
    try:
        papermill.execute_notebook(
            notebook, output, parameters=parameters, engine_name="deepgrade", kernel_name="python3",
            # Each cell's own limit (nbclient's timeout_func overrides the single execution_timeout).
            execution_timeout=timeouts.default, timeout_func=timeouts.for_cell, cwd=str(Path(notebook).parent), progress_bar=False,
            log_output=False, allow_errors=True, request_save_on_cell_execute=False,
            reporter=reporter, output_cap=output_cap, total_cap=total_cap, km=km,
            # The outputs are in by then and how the kernel ended was taken when it died: a graceful
            # shutdown request would only add 0.5 s to every run (a kernel started above is shut
            # down the same way by run()).
            shutdown_kernel="immediate",
        )
    except PapermillExecutionError:
        pass  # raised after the run when a cell failed: every failing cell is reported below
    except CellTimeoutError:
        ending = {"kind": "cell_timeout"}
    except DeadKernelError:
        ending = {"kind": "kernel_died"}
    except OSError as exc:
        ending = {"kind": "output_too_large" if exc.errno == errno.EFBIG else
                  "output_replaced" if _clear_planted(output) else "runner_error",
                  "detail": f"{type(exc).__name__}: {exc}"[:500]}
    except Exception as exc:  # noqa: BLE001 - every ending must be reported
        ending = {"kind": "runner_error", "detail": f"{type(exc).__name__}: {exc}"[:500]}
    client = getattr(engine, "client", None)
    cells = client.nb.cells if client is not None else []
    if client is not None and ending["kind"] != "finished":
        ending.update(_write_partial(client.nb, output))
    errors = failed_cells(cells)
    if client is not None and client.current is not None and ending["kind"] in ("cell_timeout", "kernel_died"):
        ending["cell"] = cell_place(cells, client.current)
        # The interrupt that stopped this cell is the ending itself, not one more error of the student's.
        errors = [e for e in errors if e["position"] != ending["cell"]["position"]]
    reporter.send({
        "event": "end",
        "ending": ending,
        "kernel_exit": client.kernel_exit if client is not None else None,
        "errors": errors,
        "capped": [cell_place(cells, i) for i in sorted(client.capped)] if client is not None else [],
    })


def _clear_planted(output: str) -> bool:
    """Remove what the notebook's code put where the executed notebook goes (a link, a folder), so
    that the partial save below can write a plain file; whether there was any such thing."""
    path = Path(output)
    if path.is_symlink():
        path.unlink()
        return True
    if path.is_dir():
        import shutil

        shutil.rmtree(path)
        return True
    return False


def _write_partial(nb: Any, output: str) -> dict[str, Any]:
    """papermill writes the executed notebook only when the run ends normally; keep what ran."""
    import nbformat

    try:
        nbformat.write(nb, output)
    except OSError as exc:
        return {"kind": "output_too_large"} if exc.errno == errno.EFBIG else {"write_error": str(exc)[:300]}
    return {}


def main(argv: list[str] | None = None) -> int:
    reporter = Reporter.from_environment()
    ap = argparse.ArgumentParser()
    ap.add_argument("notebook")
    ap.add_argument("output")
    ap.add_argument("--parameters", default="{}")
    ap.add_argument("--cell-timeouts", type=CellTimeouts.from_json, required=True)
    ap.add_argument("--output-cap", type=int, required=True)
    ap.add_argument("--total-cap", type=int, required=True)
    args = ap.parse_args(argv)
    run(args.notebook, args.output, json.loads(args.parameters), args.cell_timeouts, args.output_cap,
        args.total_cap, reporter)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The bubblewrap sandbox every piece of student code runs in.

Inside: read-only system and Python directories, the ``pipelines`` package (loaders and the
student kit, no solutions) and the ``gradcheck`` package the kit re-exports, a read-only data view
whose held-out labels were removed, a writable job folder and a private ``/tmp``. Not inside: the network, ``reference/``, the graders, the
gradebook, the rest of the checkout, the host's processes. Limits: address space (RLIMIT_AS),
CPU seconds (RLIMIT_CPU) and file size (RLIMIT_FSIZE) per process, plus a wall clock enforced
here by killing the whole process group.
"""

from __future__ import annotations

import os
import resource
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gradcheck
from pipelines.errors import DeepgradeError
from pipelines.execute.channel import REPORT_FD_ENV

JOB_DIR = Path("/job")
# Student code runs as this unprivileged user in its own user namespace, without capabilities,
# even when the grader runs as root (as CI does): root inside a plain bwrap keeps every capability.
SANDBOX_UID = 65534
MAX_REPORT_BYTES = 512 * 1024 * 1024
DATA_DIR = Path("/data")
_SYSTEM_DIRS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
_ETC_FILES = ("ld.so.cache", "ld.so.conf", "ld.so.conf.d", "fonts", "passwd", "group", "localtime", "nsswitch.conf")


@dataclass(frozen=True)
class Limits:
    """Resource limits of one sandboxed run (from ``params.yaml: grading.sandbox``)."""

    memory_mb: int
    cpu_seconds: int
    wall_seconds: float
    file_mb: int

    @classmethod
    def from_params(cls, section: Mapping[str, Any], **overrides: Any) -> Limits:
        values = {k: section[k] for k in ("memory_mb", "cpu_seconds", "wall_seconds", "file_mb")}
        values.update(overrides)
        return cls(**values)


@dataclass(frozen=True)
class SandboxRun:
    """How a sandboxed command ended."""

    returncode: int
    timed_out: bool
    seconds: float
    output: str
    report: bytes = b""
    report_overflow: bool = False

    @property
    def killed_by(self) -> str | None:
        """Name of the signal that ended the process (e.g. ``SIGXCPU``), if any."""
        if self.returncode < 0:
            return signal.Signals(-self.returncode).name
        if self.returncode > 128 and self.returncode - 128 in signal.Signals._value2member_map_:
            return signal.Signals(self.returncode - 128).name
        return None


def bwrap_path() -> str:
    path = shutil.which("bwrap")
    if path is None:
        raise DeepgradeError(
            "bubblewrap (bwrap) is not installed, so student code cannot be sandboxed. "
            "Install Debian's 'bubblewrap' package (scripts/setup.sh does this)."
        )
    return path


def _bind_system(args: list[str]) -> None:
    for d in _SYSTEM_DIRS:
        p = Path(d)
        if p.is_symlink():
            args += ["--symlink", os.readlink(p), d]
        elif p.is_dir():
            args += ["--ro-bind", d, d]
    for name in _ETC_FILES:
        p = Path("/etc") / name
        if p.exists():
            args += ["--ro-bind", str(p), str(p)]


def _python_dirs() -> list[Path]:
    """The interpreter's prefix and the virtual environment, resolved (no duplicates)."""
    dirs: list[Path] = []
    for d in {sys.base_prefix, sys.prefix, str(Path(sys.executable).resolve().parents[1])}:
        p = Path(d).resolve()
        if not any(p == q or q in p.parents for q in dirs):
            dirs = [q for q in dirs if p not in q.parents] + [p]
    return dirs


def _package_dirs() -> list[Path]:
    """The code bound into the sandbox, at the same paths so the installed finder works: the
    ``pipelines`` package (loaders, kit, notebook runner, probe worker) and ``gradcheck``, which the
    kit re-exports (it is a package of its own so that ``reference`` can share it)."""
    return [Path(__file__).resolve().parents[1], Path(gradcheck.__file__).resolve().parent]


def build_command(
    argv: Sequence[str],
    job_dir: Path,
    data_dir: Path | None = None,
    env: Mapping[str, str] | None = None,
) -> list[str]:
    """The full ``bwrap ...`` command line for ``argv`` with ``job_dir`` writable at ``/job``."""
    args = [
        bwrap_path(),
        "--unshare-all",
        "--unshare-user",
        "--uid", str(SANDBOX_UID),
        "--gid", str(SANDBOX_UID),
        "--cap-drop", "ALL",
        "--die-with-parent",
        "--new-session",
        "--hostname", "sandbox",
        "--proc", "/proc",
        "--dev", "/dev",
        "--tmpfs", "/tmp",
    ]
    _bind_system(args)
    for d in _python_dirs():
        args += ["--ro-bind", str(d), str(d)]
    packages = _package_dirs()
    for pkg in packages:
        args += ["--ro-bind", str(pkg), str(pkg)]
    if data_dir is not None:
        args += ["--ro-bind", str(Path(data_dir).resolve()), str(DATA_DIR)]
    args += ["--bind", str(Path(job_dir).resolve()), str(JOB_DIR), "--chdir", str(JOB_DIR)]
    base_env = {
        "PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin",
        "HOME": str(JOB_DIR),
        "TMPDIR": "/tmp",
        "LANG": "C.UTF-8",
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONUNBUFFERED": "1",
        "MPLBACKEND": "Agg",
        "MPLCONFIGDIR": "/tmp/matplotlib",
        "JUPYTER_RUNTIME_DIR": "/tmp/jupyter",
        "JUPYTER_DATA_DIR": "/tmp/jupyter-data",
        "IPYTHONDIR": "/tmp/ipython",
        # Thread pools reserve address space per thread; one thread keeps RLIMIT_AS meaningful.
        "OMP_NUM_THREADS": "1",
        "OPENBLAS_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
        "MALLOC_ARENA_MAX": "2",
        "DEEPGRADE_DATA_DIR": str(DATA_DIR),
        # The very packages the grader runs (bound above), whatever way they were installed: an
        # editable install's finder may point at another checkout, which is not visible here.
        "PYTHONPATH": os.pathsep.join(dict.fromkeys(str(pkg.parent) for pkg in packages)),
    }
    base_env.update(env or {})
    args.append("--clearenv")
    for key, value in base_env.items():
        args += ["--setenv", key, value]
    return args + ["--", *argv]


def _apply_limits(limits: Limits) -> None:
    """Runs in the child between fork and exec: the limits are inherited by everything inside."""
    mem = limits.memory_mb * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (mem, mem))
    resource.setrlimit(resource.RLIMIT_CPU, (limits.cpu_seconds, limits.cpu_seconds + 5))
    size = limits.file_mb * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_FSIZE, (size, size))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def run_sandboxed(
    argv: Sequence[str],
    job_dir: Path,
    limits: Limits,
    data_dir: Path | None = None,
    env: Mapping[str, str] | None = None,
    log_name: str = "sandbox.log",
    report: bool = False,
) -> SandboxRun:
    """Run ``argv`` in the sandbox; never raises for anything the code inside does.

    Output goes to ``job_dir/log_name`` (capped by RLIMIT_FSIZE) and its tail is returned. On
    the wall-clock limit the whole process group is killed and ``timed_out`` is set. With
    ``report``, the command inherits the writing end of a pipe (``channel.Reporter``) and what it
    sends there comes back as ``SandboxRun.report``: the only outcome the grader trusts.
    """
    env = dict(env or {})
    read_fd = write_fd = -1
    if report:
        read_fd, write_fd = os.pipe()
        env[REPORT_FD_ENV] = str(write_fd)
    cmd = build_command(argv, job_dir, data_dir, env)
    log_path = Path(job_dir) / log_name
    start = time.monotonic()
    collector = _Collector(read_fd) if report else None
    try:
        with open(log_path, "wb") as log:
            proc = subprocess.Popen(
                cmd,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                pass_fds=(write_fd,) if report else (),
                preexec_fn=lambda: _apply_limits(limits),
            )
            if report:
                os.close(write_fd)
                write_fd = -1
            timed_out = not _exits_within(proc, limits.wall_seconds)
            if timed_out:
                os.killpg(proc.pid, signal.SIGKILL)
            returncode = proc.wait()
    finally:
        if write_fd >= 0:
            os.close(write_fd)
    received, overflow = collector.finish() if collector else (b"", False)
    seconds = time.monotonic() - start
    with open(log_path, "rb") as log:
        log.seek(max(0, log_path.stat().st_size - 8000))
        tail = log.read().decode("utf-8", errors="replace")
    return SandboxRun(returncode, timed_out, seconds, tail, received, overflow)


def _exits_within(proc: subprocess.Popen, seconds: float) -> bool:
    """Wait for ``proc`` to exit, at most ``seconds``, woken by its pidfd the moment it does
    (``Popen.wait(timeout=)`` polls with sleeps of up to 50 ms: a few per cent of a short run)."""
    pidfd = os.pidfd_open(proc.pid)
    try:
        ready, _, _ = select.select([pidfd], [], [], seconds)
    finally:
        os.close(pidfd)
    return bool(ready)


class _Collector:
    """Drains the report pipe in a thread while the sandbox runs (a full pipe would block the runner)."""

    def __init__(self, fd: int) -> None:
        self._fd = fd
        self._chunks: list[bytes] = []
        self._size = 0
        self.overflow = False
        self._thread = threading.Thread(target=self._drain, daemon=True)
        self._thread.start()

    def _drain(self) -> None:
        while chunk := os.read(self._fd, 1 << 20):
            if self._size + len(chunk) > MAX_REPORT_BYTES:
                self.overflow = True
                continue
            self._chunks.append(chunk)
            self._size += len(chunk)

    def finish(self) -> tuple[bytes, bool]:
        """Everything received. The sandbox's processes are gone by now (its pid namespace died with
        its first process), so the pipe is at end of file; the timeout only guards against a bug."""
        self._thread.join(timeout=30)
        if self._thread.is_alive():
            return b"".join(self._chunks), True
        os.close(self._fd)
        return b"".join(self._chunks), self.overflow


def sandbox_self_test() -> tuple[bool, str]:
    """Start a sandboxed Python that must not reach the network or the checkout's ``reference/``."""
    code = (
        "import socket, importlib.util, sys\n"
        "s = socket.socket()\n"
        "s.settimeout(1)\n"
        "try:\n    s.connect(('1.1.1.1', 53)); print('NETWORK')\nexcept OSError:\n    pass\n"
        "print('REFERENCE' if importlib.util.find_spec('reference') else 'isolated')\n"
    )
    limits = Limits(memory_mb=1024, cpu_seconds=20, wall_seconds=30, file_mb=8)
    with tempfile.TemporaryDirectory(prefix="deepgrade-doctor-") as tmp:
        try:
            run = run_sandboxed([sys.executable, "-c", code], Path(tmp), limits)
        except (OSError, DeepgradeError) as exc:
            return False, str(exc)
    out = run.output.strip()
    if run.returncode != 0 or out.splitlines()[-1:] != ["isolated"]:
        return False, f"sandbox check failed (exit {run.returncode}): {out[-400:]}"
    return True, "bwrap isolates network, reference/ and the file system"

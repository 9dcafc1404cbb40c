"""The bubblewrap sandbox every piece of student code runs in.

Inside: read-only system and Python directories, the ``pipelines`` package (loaders and the
student kit, no solutions) and the ``gradcheck`` package the kit re-exports, a read-only data view
whose held-out labels were removed, a writable job folder and a private ``/tmp``; on a CUDA run,
the GPU's device nodes too (``pipelines.execute.device``). Not inside: the network, ``reference/``, the graders, the
gradebook, the rest of the checkout, the host's processes. Limits: address space (RLIMIT_AS, not on
CUDA runs), CPU seconds (RLIMIT_CPU) and file size (RLIMIT_FSIZE) per process; memory, process count and CPU
time of all its processes together through a control group where the machine allows one
(``pipelines.execute.budget``; required for CUDA runs); the job folder's size and a wall clock,
watched here, the run killed as a whole when one is passed. The rlimits and the control group are
set on the run's ``LAUNCHER`` from outside before it starts bubblewrap: the grader has threads, and
a forked child that ran Python before exec could wait forever on a lock one of them held.
docs/security.md is the threat model.

``--unsafe-no-sandbox`` (``UNSAFE_ENV``): the same commands without bubblewrap, for a machine that
has none; only the instructor can ask for it and every output of such a batch says so.
"""

from __future__ import annotations

import os
import re
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
from pipelines.execute.budget import MAX_JOB_FILES, Cgroup, job_usage
from pipelines.execute.channel import REPORT_FD_ENV
from pipelines.execute.device import CPU, CUDA, DRIVER_DIR, device_env, gpu_nodes, require_memory_bound

JOB_DIR = Path("/job")
# Student code runs as this unprivileged user, without capabilities. A grader run by a user maps it
# to that user (a user namespace); a grader run as root (as CI does) makes it host uid 65534 (see
# ``drops_to_host_uid``): a user namespace would map it to host root.
SANDBOX_UID = 65534
SETPRIV = "/usr/bin/setpriv"
# What the grader starts for every run: a shell that waits for one line on its stdin while the grader
# sets its rlimits (prlimit(2)) and moves it into the run's control group from outside, then becomes
# the command. Nothing runs in the child between fork and exec but C code and this shell.
LAUNCHER = ("/bin/sh", "-c", 'read -r go && exec "$@" </dev/null', "deepgrade-launcher")
MAX_REPORT_BYTES = 512 * 1024 * 1024
DATA_DIR = Path("/data")
_SYSTEM_DIRS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
_ETC_FILES = ("ld.so.cache", "ld.so.conf", "ld.so.conf.d", "fonts", "passwd", "group", "localtime", "nsswitch.conf")
UNSAFE_ENV = "DEEPGRADE_UNSAFE_NO_SANDBOX"
UNSAFE_NOTE = ("UNSAFE: graded with --unsafe-no-sandbox: student code ran without the sandbox, with the "
               "grader's own rights (no isolation of files, network or processes).")
WATCH_INTERVAL = 0.25  # seconds between looks at the run's CPU time and disk use


@dataclass(frozen=True)
class Limits:
    """Resource limits of one sandboxed run (from ``params.yaml: grading.sandbox``)."""

    memory_mb: int
    cpu_seconds: int
    wall_seconds: float
    file_mb: int
    # Whole-run bounds, every process of the run together (``pipelines.execute.budget``).
    total_memory_mb: int = 0  # 0: twice ``memory_mb`` (the runner and the kernel each hold one copy of Python)
    max_processes: int = 256  # processes and threads
    disk_mb: int = 1024  # the job folder, and the size of the private /tmp
    device: str = CPU  # cuda: the GPU inside, and memory bounded by the cgroup alone (``address_space_bytes``)

    @classmethod
    def from_params(cls, section: Mapping[str, Any], **overrides: Any) -> Limits:
        values = {k: section[k] for k in ("memory_mb", "cpu_seconds", "wall_seconds", "file_mb")}
        values.update({k: section[k] for k in ("total_memory_mb", "max_processes", "disk_mb") if k in section})
        values.update(overrides)
        return cls(**values)

    @property
    def address_space_bytes(self) -> int | None:
        """RLIMIT_AS of each process, or None on CUDA runs: the CUDA driver reserves virtual address
        ranges far past any useful limit, so there the run's cgroup is the only memory bound."""
        return None if self.device == CUDA else self.memory_mb * 1024 * 1024

    @property
    def total_memory_bytes(self) -> int:
        return (self.total_memory_mb or 2 * self.memory_mb) * 1024 * 1024


@dataclass(frozen=True)
class SandboxRun:
    """How a sandboxed command ended."""

    returncode: int
    timed_out: bool
    seconds: float
    output: str
    report: bytes = b""
    report_overflow: bool = False
    # Whole-run bounds that were hit: "memory", "processes", "cpu", "disk" (wall clock: ``timed_out``).
    exceeded: tuple[str, ...] = ()
    # The run's peak memory, all its processes together, as its cgroup counted it (None without one).
    peak_memory_bytes: int | None = None

    @property
    def killed_by(self) -> str | None:
        """Name of the signal that ended the process (e.g. ``SIGXCPU``), if any."""
        if self.returncode < 0:
            return signal.Signals(-self.returncode).name
        if self.returncode > 128 and self.returncode - 128 in signal.Signals._value2member_map_:
            return signal.Signals(self.returncode - 128).name
        return None


def unsafe_no_sandbox() -> bool:
    """Whether the instructor waived the sandbox for this batch (``--unsafe-no-sandbox``)."""
    return os.environ.get(UNSAFE_ENV) == "1"


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


def _bind_gpu(args: list[str]) -> None:
    """The GPU's device nodes in the sandbox's ``/dev``, with device access (a plain bind mounts
    them ``nodev``: unusable), and the driver's ``/proc/driver/nvidia`` read-only over the sandbox's
    own ``/proc``."""
    for node in gpu_nodes():
        args += ["--dev-bind", str(node), f"/dev/{node.name}"]
    args += ["--ro-bind", str(DRIVER_DIR), str(DRIVER_DIR)]


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


def drops_to_host_uid() -> bool:
    """Whether student code runs as host uid ``SANDBOX_UID``: when the grader runs as root,
    bubblewrap builds the sandbox as root without a user namespace (which would map the sandbox's
    user to host root) and util-linux's ``setpriv`` becomes ``SANDBOX_UID`` with no capabilities,
    no supplementary groups and ``no_new_privs`` before the command starts. The sandbox's view is
    assembled before that, so the Python under ``/root`` (mode 700) stays reachable inside."""
    return os.geteuid() == 0 and Path(SETPRIV).exists()


def _ancestors(destinations: Sequence[str]) -> list[str]:
    """The folders above the mount points that bubblewrap would otherwise create itself (mode 0700
    when it runs as root, so the sandbox's user could not reach what is mounted below them)."""
    seen: dict[str, None] = {}
    for dest in destinations:
        for parent in reversed(Path(dest).parents[:-1]):  # without "/"
            if str(parent) not in destinations and not any(str(parent).startswith(d + "/") or str(parent) == d
                                                           for d in _SYSTEM_DIRS):
                seen.setdefault(str(parent))
    return list(seen)


def build_command(
    argv: Sequence[str],
    job_dir: Path,
    data_dir: Path | None = None,
    env: Mapping[str, str] | None = None,
    readonly: Sequence[str] = (),
    tmp_bytes: int = 1 << 30,
    device: str = CPU,
) -> list[str]:
    """The full ``bwrap ...`` command line for ``argv`` with ``job_dir`` writable at ``/job``,
    except the files named in ``readonly`` (inputs the engine wrote there for the run); with
    ``device`` cuda, the GPU's device nodes and the driver's ``/proc`` folder too."""
    as_root = drops_to_host_uid()
    if as_root:  # every namespace but the user's; setpriv (below) needs these two capabilities, then drops all
        users = ["--unshare-ipc", "--unshare-pid", "--unshare-net", "--unshare-uts", "--unshare-cgroup-try",
                 "--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID"]
    else:
        users = ["--unshare-all", "--unshare-user", "--uid", str(SANDBOX_UID), "--gid", str(SANDBOX_UID),
                 "--cap-drop", "ALL"]
    args = [
        bwrap_path(),
        *users,
        "--die-with-parent",
        "--new-session",
        "--hostname", "sandbox",
        "--proc", "/proc",
        "--dev", "/dev",
        "--perms", "01777", "--size", str(tmp_bytes), "--tmpfs", "/tmp",
    ]
    if device == CUDA:
        _bind_gpu(args)
    _bind_system(args)
    code = [str(d) for d in (*_python_dirs(), *_package_dirs())]
    for parent in _ancestors(code):
        args += ["--perms", "0755", "--dir", parent]
    for d in code:
        args += ["--ro-bind", d, d]
    if data_dir is not None:
        args += ["--ro-bind", str(Path(data_dir).resolve()), str(DATA_DIR)]
    args += ["--bind", str(Path(job_dir).resolve()), str(JOB_DIR), "--chdir", str(JOB_DIR)]
    for name in readonly:
        args += ["--ro-bind", str(Path(job_dir).resolve() / name), str(JOB_DIR / name)]
    args.append("--clearenv")
    for key, value in sandbox_env(env).items():
        args += ["--setenv", key, value]
    if as_root:
        argv = [SETPRIV, f"--reuid={SANDBOX_UID}", f"--regid={SANDBOX_UID}", "--clear-groups", "--inh-caps=-all",
                "--bounding-set=-all", "--no-new-privs", "--", *argv]
    return args + ["--", *argv]


def hand_over(job_dir: Path) -> None:
    """Give the job folder (what the engine put there for the run) to the sandbox's host user when
    student code runs as that user (``drops_to_host_uid``); links are changed, never followed."""
    if not drops_to_host_uid():
        return
    for path in (job_dir, *Path(job_dir).rglob("*")):
        os.chown(path, SANDBOX_UID, SANDBOX_UID, follow_symlinks=False)


def sandbox_env(env: Mapping[str, str] | None = None) -> dict[str, str]:
    """The whole environment of a sandboxed command (nothing is inherited from the grader's)."""
    packages = _package_dirs()
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
    return base_env


_SANDBOX_PATH = re.compile(r"(?<![\w./-])/(job|data)(?=/|\"|$)")


def unsandboxed_command(argv: Sequence[str], job_dir: Path, data_dir: Path | None,
                        env: Mapping[str, str] | None) -> tuple[list[str], dict[str, str]]:
    """``--unsafe-no-sandbox``: the same command and environment, with ``/job`` and ``/data`` (the
    sandbox's paths, also inside the JSON parameters) pointed at the real folders."""
    real = {"job": str(Path(job_dir).resolve()), "data": str(Path(data_dir).resolve()) if data_dir else "/nonexistent"}

    def outside(text: str) -> str:
        return _SANDBOX_PATH.sub(lambda m: real[m.group(1)], text)

    return [outside(a) for a in argv], {k: outside(v) for k, v in sandbox_env(env).items()}


def _confine(pid: int, limits: Limits, group: Cgroup | None) -> None:
    """Set the limits of the waiting ``LAUNCHER`` from outside; everything it starts inherits them."""
    if group is not None:
        group.add(pid)
    if limits.address_space_bytes is not None:
        resource.prlimit(pid, resource.RLIMIT_AS, (limits.address_space_bytes, limits.address_space_bytes))
    resource.prlimit(pid, resource.RLIMIT_CPU, (limits.cpu_seconds, limits.cpu_seconds + 5))
    size = limits.file_mb * 1024 * 1024
    resource.prlimit(pid, resource.RLIMIT_FSIZE, (size, size))
    resource.prlimit(pid, resource.RLIMIT_CORE, (0, 0))


def _start(cmd: Sequence[str], limits: Limits, group: Cgroup | None, **popen: Any) -> subprocess.Popen:
    """Start ``cmd`` through ``LAUNCHER``, confined before it runs. The child runs no Python between
    fork and exec: there, a lock that another thread of the grader held at the fork (the import
    lock, a logging handler's) would stay held forever, and the run would end on its wall clock."""
    gate, opener = os.pipe()
    try:
        proc = subprocess.Popen([*LAUNCHER, *cmd], stdin=gate, **popen)
    finally:
        os.close(gate)
    try:
        _confine(proc.pid, limits, group)
        os.write(opener, b"go\n")
    except BaseException:
        proc.kill()
        proc.wait()
        raise
    finally:
        os.close(opener)
    return proc


def run_sandboxed(
    argv: Sequence[str],
    job_dir: Path,
    limits: Limits,
    data_dir: Path | None = None,
    env: Mapping[str, str] | None = None,
    log_name: str = "sandbox.log",
    report: bool = False,
    readonly: Sequence[str] = (),
) -> SandboxRun:
    """Run ``argv`` in the sandbox; never raises for anything the code inside does.

    Output goes to ``job_dir/log_name`` (capped by RLIMIT_FSIZE) and its tail is returned, read
    through the descriptor opened here (the code inside may replace the file by a link or a pipe).
    When a whole-run bound or the wall clock is passed, the whole process group is killed and
    ``exceeded`` / ``timed_out`` say why. With ``report``, the command inherits the writing end of a
    pipe (``channel.Reporter``) and what it sends there comes back as ``SandboxRun.report``: the
    only outcome the grader trusts.
    """
    group = Cgroup.create(limits.total_memory_bytes, limits.max_processes)
    require_memory_bound(limits.device, group is not None)
    env = {**device_env(limits.device), **(env or {})}
    read_fd = write_fd = -1
    if report:
        read_fd, write_fd = os.pipe()
        env[REPORT_FD_ENV] = str(write_fd)
    if unsafe_no_sandbox():
        cmd, full_env = unsandboxed_command(argv, job_dir, data_dir, env)
    else:
        cmd, full_env = build_command(argv, job_dir, data_dir, env, readonly, limits.disk_mb << 20, limits.device), None
        hand_over(Path(job_dir))
    start = time.monotonic()
    collector = _Collector(read_fd) if report else None
    try:
        with open(Path(job_dir) / log_name, "w+b") as log:
            try:
                proc = _start(cmd, limits, group, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                              pass_fds=(write_fd,) if report else (),
                              cwd=job_dir if full_env is not None else None, env=full_env)
            finally:
                if report:
                    os.close(write_fd)
                    write_fd = -1
            ended_by = _watch(proc, limits, Path(job_dir), group)
            if ended_by is not None:
                os.killpg(proc.pid, signal.SIGKILL)
            returncode = proc.wait()
            seconds = time.monotonic() - start
            log.seek(max(0, os.fstat(log.fileno()).st_size - 8000))
            tail = log.read(8000).decode("utf-8", errors="replace")
        received, overflow = collector.finish() if collector else (b"", False)
        exceeded = [] if ended_by in (None, "wall") else [ended_by]
        peak = None
        if group is not None:
            exceeded += [b for b, hit in (("memory", group.oom_kills()), ("processes", group.refused_forks())) if hit]
            peak = group.peak_memory_bytes()
    finally:
        if write_fd >= 0:
            os.close(write_fd)
        if group is not None:
            group.remove()
    return SandboxRun(returncode, ended_by == "wall", seconds, tail, received, overflow, tuple(exceeded), peak)


def _watch(proc: subprocess.Popen, limits: Limits, job_dir: Path, group: Cgroup | None) -> str | None:
    """Wait for ``proc`` to exit, woken by its pidfd the moment it does (``Popen.wait(timeout=)``
    polls with sleeps of up to 50 ms); every ``WATCH_INTERVAL`` look at the bounds no rlimit can
    hold. The bound that was passed (``wall``, ``cpu``, ``disk``), or None when the run ended."""
    pidfd = os.pidfd_open(proc.pid)
    deadline = time.monotonic() + limits.wall_seconds
    try:
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return "wall"
            ready, _, _ = select.select([pidfd], [], [], min(left, WATCH_INTERVAL))
            if ready:
                return None
            if group is not None and group.cpu_seconds() > limits.cpu_seconds:
                return "cpu"
            used, entries = job_usage(job_dir)
            if used > limits.disk_mb << 20 or entries > MAX_JOB_FILES:
                return "disk"
    finally:
        os.close(pidfd)


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
    """Start a sandboxed Python that must not reach the network or the checkout's ``reference/``, and
    must run as an unprivileged user under the address-space limit the grader set."""
    code = (
        "import socket, importlib.util, sys\n"
        "s = socket.socket()\n"
        "s.settimeout(1)\n"
        "try:\n    s.connect(('1.1.1.1', 53)); print('NETWORK')\nexcept OSError:\n    pass\n"
        "uid_map = open('/proc/self/uid_map').read().split()\n"
        "inside, outside = int(uid_map[0]), int(uid_map[1])\n"
        "cap = [ln.split()[1] for ln in open('/proc/self/status') if ln.startswith('CapEff')][0]\n"
        "import os; print('HOST_UID', os.getuid() - inside + outside, 'CAPS', int(cap, 16))\n"
        "import resource; print('RLIMIT_AS', *resource.getrlimit(resource.RLIMIT_AS))\n"
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
    identity = next((ln.split() for ln in out.splitlines() if ln.startswith("HOST_UID ")), ["", "-1", "", "-1"])
    host_uid, caps = int(identity[1]), int(identity[3])
    if host_uid == 0 or caps != 0:
        return False, (f"student code would run as host uid {host_uid} with capabilities {caps:#x} "
                       f"(as root, the sandbox needs util-linux's {SETPRIV} to drop to uid {SANDBOX_UID})")
    address_space = next((ln.split()[1:] for ln in out.splitlines() if ln.startswith("RLIMIT_AS ")), [])
    if address_space != [str(limits.memory_mb << 20)] * 2:
        return False, f"the per-process limits did not reach the sandbox (RLIMIT_AS inside: {' '.join(address_space) or '?'})"
    return True, (f"bwrap isolates network, reference/ and the file system; student code is host uid {host_uid}, "
                  "no capabilities, under the per-process limits")

"""Bounds for a whole sandboxed run, all its processes together: memory, process count, CPU, disk.

rlimits (``sandbox._confine``) bound each process alone: a submission that forks twenty
processes of 2 GB each, or ten thousand idle ones, passes every per-process limit. So each run
gets its own control group where the machine lets the grader make one (cgroup v1 ``memory``,
``pids`` and ``cpuacct`` hierarchies, or a cgroup v2 subtree that has the ``memory`` and ``pids``
controllers delegated):

- memory: ``memory.limit_in_bytes`` / ``memory.max`` over every process (and ``/tmp``, a tmpfs
  whose pages are charged to the group); the kernel's OOM killer picks a process inside it;
- processes: ``pids.max`` (threads count too), so a fork bomb gets ``EAGAIN`` instead of the machine;
- CPU: the group's accumulated CPU time, watched by ``sandbox.run_sandboxed`` while it waits;
- disk: the job folder's size, watched the same way (``/tmp`` is a tmpfs sized by the sandbox).

``support()`` says which of these this machine enforces and why not; ``deepgrade doctor`` prints it.
"""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass
from pathlib import Path

CGROUP_ROOT = Path("/sys/fs/cgroup")
_V1 = ("memory", "pids", "cpuacct")
MAX_JOB_FILES = 20_000


def _own_v1_paths() -> dict[str, Path]:
    """``controller -> this process's cgroup folder`` for the mounted v1 hierarchies."""
    paths: dict[str, Path] = {}
    try:
        lines = Path("/proc/self/cgroup").read_text().splitlines()
    except OSError:
        return paths
    for line in lines:
        _, controllers, rel = line.split(":", 2)
        for name in controllers.split(","):
            if name in _V1 and (CGROUP_ROOT / name / "cgroup.procs").is_file():
                paths[name] = CGROUP_ROOT / name / rel.lstrip("/")
    return paths


def _own_v2_path() -> Path | None:
    """This process's cgroup v2 folder when ``/sys/fs/cgroup`` is the unified hierarchy."""
    if not (CGROUP_ROOT / "cgroup.controllers").is_file():
        return None
    try:
        rel = next(ln[3:] for ln in Path("/proc/self/cgroup").read_text().splitlines() if ln.startswith("0::"))
    except (OSError, StopIteration):
        return None
    return CGROUP_ROOT / rel.lstrip("/")


def _writable(folder: Path) -> bool:
    probe = folder / f"deepgrade-probe-{uuid.uuid4().hex[:8]}"
    try:
        probe.mkdir()
    except OSError:
        return False
    probe.rmdir()
    return True


@dataclass
class Cgroup:
    """One run's control group (v1: one folder per controller; v2: one folder)."""

    folders: dict[str, Path]
    version: int

    @classmethod
    def create(cls, memory_bytes: int, max_processes: int) -> Cgroup | None:
        """A fresh group with the limits set, or None where this machine lets us make none."""
        name = f"deepgrade-{os.getpid()}-{uuid.uuid4().hex[:12]}"
        v2 = _own_v2_path()
        if v2 is not None and {"memory", "pids"} <= set((v2 / "cgroup.subtree_control").read_text().split()):
            group = cls({"unified": v2 / name}, 2)
        else:
            own = _own_v1_paths()
            if not {"memory", "pids"} <= set(own):
                return None
            group = cls({c: own[c] / name for c in own}, 1)
        try:
            for folder in group.folders.values():
                folder.mkdir()
            group._set_limits(memory_bytes, max_processes)
        except OSError:
            group.remove()
            return None
        return group

    def _set_limits(self, memory_bytes: int, max_processes: int) -> None:
        if self.version == 2:
            g = self.folders["unified"]
            (g / "memory.max").write_text(str(memory_bytes))
            if (g / "memory.swap.max").exists():
                (g / "memory.swap.max").write_text("0")
            (g / "pids.max").write_text(str(max_processes))
            return
        mem = self.folders["memory"]
        (mem / "memory.limit_in_bytes").write_text(str(memory_bytes))
        if (mem / "memory.memsw.limit_in_bytes").exists():
            (mem / "memory.memsw.limit_in_bytes").write_text(str(memory_bytes))
        (self.folders["pids"] / "pids.max").write_text(str(max_processes))

    def add(self, pid: int) -> None:
        """Move process ``pid`` into the group (the sandbox's launcher, before it starts anything)."""
        for folder in self.folders.values():
            (folder / "cgroup.procs").write_text(str(pid))

    def cpu_seconds(self) -> float:
        """CPU time used so far by every process the group has held."""
        try:
            if self.version == 2:
                stat = (self.folders["unified"] / "cpu.stat").read_text().split()
                return int(stat[stat.index("usage_usec") + 1]) / 1e6
            if "cpuacct" in self.folders:
                return int((self.folders["cpuacct"] / "cpuacct.usage").read_text()) / 1e9
        except (OSError, ValueError):
            pass
        return 0.0

    def oom_kills(self) -> int:
        """Processes the kernel killed because the group ran out of memory."""
        name = "memory.events" if self.version == 2 else "memory.oom_control"
        folder = self.folders["unified" if self.version == 2 else "memory"]
        return _field(folder / name, "oom_kill")

    def refused_forks(self) -> int:
        """Process creations refused because the group was at ``pids.max``."""
        folder = self.folders["unified" if self.version == 2 else "pids"]
        return _field(folder / "pids.events", "max")

    def peak_memory_bytes(self) -> int | None:
        """The most memory the group's processes held together at once (None where the kernel keeps no
        such figure: cgroup v2's ``memory.peak`` came with Linux 5.19)."""
        folder = self.folders["unified" if self.version == 2 else "memory"]
        try:
            return int((folder / ("memory.peak" if self.version == 2 else "memory.max_usage_in_bytes")).read_text())
        except (OSError, ValueError):
            return None

    def remove(self) -> None:
        """Delete the group (every process in it is gone by then: the sandbox's pid namespace died)."""
        for folder in self.folders.values():
            try:
                folder.rmdir()
            except OSError:
                pass


def _field(path: Path, key: str) -> int:
    try:
        for line in path.read_text().splitlines():
            name, _, value = line.partition(" ")
            if name == key:
                return int(value)
    except (OSError, ValueError):
        pass
    return 0


def job_usage(job_dir: Path) -> tuple[int, int]:
    """(bytes allocated, entries) under ``job_dir``, links not followed; stops counting at
    ``MAX_JOB_FILES`` entries (more files than that is itself over the bound)."""
    total = entries = 0
    stack = [str(job_dir)]
    while stack and entries <= MAX_JOB_FILES:
        try:
            with os.scandir(stack.pop()) as it:
                for entry in it:
                    entries += 1
                    try:
                        st = entry.stat(follow_symlinks=False)
                    except OSError:
                        continue
                    total += st.st_blocks * 512
                    if entry.is_dir(follow_symlinks=False):
                        stack.append(entry.path)
        except OSError:
            continue
    return total, entries


def cgroup_kind() -> str | None:
    """How this machine lets the grader give each run a cgroup with the memory and pids
    controllers (``cgroup v2 (delegated)`` or ``cgroup v1``), or None where it does not."""
    v2 = _own_v2_path()
    if v2 is not None:
        try:
            if {"memory", "pids"} <= set((v2 / "cgroup.subtree_control").read_text().split()) and _writable(v2):
                return "cgroup v2 (delegated)"
        except OSError:
            pass
    own = _own_v1_paths()
    if {"memory", "pids"} <= set(own) and all(_writable(own[c]) for c in ("memory", "pids")):
        return "cgroup v1"
    return None


def support() -> dict[str, tuple[bool, str]]:
    """Which whole-run bounds this machine enforces: ``bound -> (enforced, how or why not)``."""
    how = cgroup_kind()
    why_not = ("no writable cgroup with the memory and pids controllers (cgroup v1 as root, or a "
               "delegated cgroup v2 subtree, e.g. `systemd-run --user --scope -p Delegate=yes`)")
    cpu_ok = how == "cgroup v2 (delegated)" or (how == "cgroup v1" and "cpuacct" in _own_v1_paths())
    return {
        "memory (all processes)": (bool(how), f"{how}: one limit over every process of a run" if how else why_not),
        "processes": (bool(how), f"{how}: pids.max per run" if how else why_not),
        "cpu time (all processes)": (cpu_ok, f"{how}: CPU time of the run's group, watched" if cpu_ok else
                                     "no cpuacct accounting; each process still has RLIMIT_CPU and the run a wall clock"),
        "disk written": (True, "job folder size watched while the run lasts, files capped by RLIMIT_FSIZE, /tmp a sized tmpfs"),
    }

"""The device student code is graded on: ``cpu`` or ``cuda``, decided once per unit, the same everywhere.

``params.yaml: grading.device`` (a unit may override it in ``units.<unit>.device``) is ``auto``,
``cpu`` or ``cuda``. ``auto`` picks CUDA when this machine can run it in the sandbox, decided here
from files alone, without importing torch (about a second, and CUDA's own start, in a process that
only needs a yes or no): the NVIDIA driver (``/proc/driver/nvidia/version``), its device nodes (which
the sandbox's user must be able to open) and a torch built for CUDA (its ``torch/version.py`` names
the CUDA version; a CPU build says ``None``). ``cuda`` on a machine without all of them is an error
that names what is missing.

A CUDA run differs from a CPU run in two ways (``pipelines.execute.sandbox``), and in nothing else
(the same namespaces, no network, the same mounts):

- the sandbox gets the GPU's device nodes (``gpu_nodes``), device-bound, and the driver's
  ``/proc/driver/nvidia`` read-only: what libnvidia-container (the NVIDIA container toolkit) mounts
  for compute work (``src/nvc_mount.c``: ``nvidiactl``, ``nvidia-uvm``, ``nvidia-uvm-tools``,
  ``nvidia<N>``, the MIG capabilities under ``nvidia-caps``; no ``/sys``, and ``nvidia-modeset`` only
  for display work, so not here);
- no RLIMIT_AS: the CUDA driver reserves virtual address ranges far larger than any useful limit,
  so the run's memory is bounded by its cgroup alone, and without a cgroup CUDA grading is refused
  (``require_memory_bound``).

Both sandboxes (notebook and probes) learn the device from ``DEEPGRADE_DEVICE``; TF32 is off in
them and in the graders (``NVIDIA_TF32_OVERRIDE=0``, and torch's ``allow_tf32`` flags wherever the
engine runs with torch loaded), so float32 results, and the thresholds calibrated on them, do not
depend on the machine.
"""

from __future__ import annotations

import ast
import importlib.util
import os
import re
import sys
from pathlib import Path

from pipelines.errors import DeepgradeError

CPU, CUDA = "cpu", "cuda"
SETTINGS = ("auto", CPU, CUDA)
DEVICE_ENV = "DEEPGRADE_DEVICE"
TF32_ENV = "NVIDIA_TF32_OVERRIDE"
DEV_ROOT = Path("/dev")
DRIVER_DIR = Path("/proc/driver/nvidia")
# The nodes CUDA needs (libnvidia-container's compute set); nvidia<N> is one per GPU.
_NODE = re.compile(r"nvidia(ctl|-uvm|-uvm-tools|-caps|\d+)")
_GPU = re.compile(r"nvidia\d+")
NO_CGROUP = ("grading on CUDA needs a cgroup to bound memory (CUDA cannot run under the per-process "
             "address-space limit, RLIMIT_AS, that bounds CPU runs), and this machine lets deepgrade make none. "
             "Run `deepgrade doctor` to see why; as root a cgroup v1 memory hierarchy is enough, as a user ask for "
             "a delegated cgroup v2 subtree (`systemd-run --user --scope -p Delegate=yes deepgrade autograde ...`). "
             "Or set `device: cpu` in params.yaml.")


def gpu_nodes() -> list[Path]:
    """The NVIDIA device nodes of this machine that a CUDA run needs, in a stable order."""
    return sorted(p for p in DEV_ROOT.glob("nvidia*") if _NODE.fullmatch(p.name))


def _sandbox_can_open(node: Path) -> bool:
    """Whether student code can open ``node`` read-write: as host uid 65534 without groups when the
    grader runs as root (``sandbox.drops_to_host_uid``), else as the grader's own user."""
    if os.geteuid() == 0:
        return node.stat().st_mode & 0o006 == 0o006
    return os.access(node, os.R_OK | os.W_OK)


def torch_cuda_version() -> str | None:
    """The CUDA version the installed torch was built for (``torch.version.cuda``), or None."""
    spec = importlib.util.find_spec("torch")
    if spec is None or not spec.submodule_search_locations:
        return None
    return cuda_of(Path(spec.submodule_search_locations[0]) / "version.py")


def cuda_of(version_py: Path) -> str | None:
    """The ``cuda`` string a torch ``version.py`` assigns, read without running it."""
    try:
        tree = ast.parse(version_py.read_text())
    except (OSError, SyntaxError):
        return None
    for node in tree.body:
        if isinstance(node, (ast.Assign, ast.AnnAssign)) and isinstance(node.value, ast.Constant):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            if any(isinstance(t, ast.Name) and t.id == "cuda" for t in targets):
                return node.value.value if isinstance(node.value.value, str) else None
    return None


def cuda_support() -> tuple[bool, str]:
    """Whether this machine can grade on CUDA, and what it found or what is missing."""
    names = {p.name for p in gpu_nodes()}
    gpus = [n for n in names if _GPU.fullmatch(n)]
    missing = [f"no {DEV_ROOT / n}" for n in ("nvidiactl", "nvidia-uvm") if n not in names]
    if not gpus:
        missing.append(f"no GPU device node ({DEV_ROOT}/nvidia<N>)")
    missing += [f"student code could not open {p} (mode {p.stat().st_mode & 0o777:o})"
                for p in gpu_nodes() if not p.is_dir() and not _sandbox_can_open(p)]
    if not (DRIVER_DIR / "version").is_file():
        missing.append(f"no NVIDIA driver ({DRIVER_DIR / 'version'})")
    built_for = torch_cuda_version()
    if built_for is None:
        missing.append("no torch built for CUDA (a CPU build, or none installed)")
    if missing:
        return False, "; ".join(missing)
    return True, f"{len(gpus)} GPU(s), torch built for CUDA {built_for}"


def resolve_device(setting: str, where: str) -> str:
    """``cpu`` or ``cuda`` for a ``grading.device`` setting (``where`` names it in errors)."""
    if setting not in SETTINGS:
        raise DeepgradeError(f"params.yaml: {where} must be one of {', '.join(SETTINGS)} (got {setting!r})")
    if setting == CPU:
        return CPU
    available, detail = cuda_support()
    if setting == CUDA and not available:
        raise DeepgradeError(f"params.yaml: {where} is cuda, but this machine cannot run CUDA in the sandbox: "
                             f"{detail}. Set it to auto or cpu, or grade on a GPU machine (`deepgrade doctor`).")
    return CUDA if available else CPU


def require_memory_bound(device: str, cgroup: bool) -> None:
    """Refuse a CUDA run without a cgroup: with RLIMIT_AS off, the cgroup is its only memory bound."""
    if device == CUDA and not cgroup:
        raise DeepgradeError(NO_CGROUP)


def device_env(device: str) -> dict[str, str]:
    """What both sandboxes (notebook and probes) are told about the device."""
    return {DEVICE_ENV: device, TF32_ENV: "0"}


def tf32_off() -> None:
    """TF32 off in this process: for CUDA libraries started from now on, and in torch if it is loaded
    (importing torch here for that would cost a second in processes that never use it)."""
    os.environ[TF32_ENV] = "0"
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False

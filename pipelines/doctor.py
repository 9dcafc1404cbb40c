"""``deepgrade doctor``: proves, on this machine, that everything grading needs is in place.

Run at the end of setup so a missing system package (bubblewrap) or kernel fails the install,
not the first grading batch. It also says which of the sandbox's bounds this machine cannot
enforce (docs/security.md says what then remains open): those are warnings, not failures.
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Callable


def run_doctor() -> int:
    """Print one line per requirement; return 1 if any is missing."""
    problems = 0

    def line(ok: bool, what: str, detail: str) -> None:
        nonlocal problems
        problems += 0 if ok else 1
        print(f"  [{'ok' if ok else 'MISSING'}] {what}: {detail}")

    def warn(ok: bool, what: str, detail: str) -> None:
        print(f"  [{'ok' if ok else 'NOT ENFORCED'}] {what}: {detail}")

    print("deepgrade doctor")
    line(sys.version_info[:2] >= (3, 11), "python", sys.version.split()[0])
    try:
        import numpy
        import torch

        cuda = "cuda available" if torch.cuda.is_available() else "cpu only"
        line(True, "numpy / torch", f"{numpy.__version__} / {torch.__version__} ({cuda})")
    except ImportError as exc:
        line(False, "numpy / torch", str(exc))
    bwrap = shutil.which("bwrap")
    line(bwrap is not None, "bubblewrap", bwrap or "install Debian's 'bubblewrap' package")
    if bwrap:
        from pipelines.execute.sandbox import sandbox_self_test

        ok, detail = sandbox_self_test()
        line(ok, "sandbox", detail if ok else f"{detail} (autograde refuses to run without --unsafe-no-sandbox)")
        _bounds(warn)
        _device()
    try:
        from jupyter_client.kernelspec import KernelSpecManager

        specs = KernelSpecManager().find_kernel_specs()
        line("python3" in specs, "jupyter kernel", specs.get("python3", "run scripts/setup.sh"))
    except ImportError as exc:
        line(False, "jupyter kernel", str(exc))
    return 1 if problems else 0


def _device() -> None:
    """The device ``grading.device: auto`` picks here, and what a CUDA run changes in the sandbox.
    Not a requirement: with ``device: cpu`` a GPU machine without a cgroup grades as any other."""
    from pipelines.execute.budget import cgroup_kind
    from pipelines.execute.device import DRIVER_DIR, NO_CGROUP, cuda_support, gpu_nodes

    available, detail = cuda_support()
    how = cgroup_kind()
    if not available:
        print(f"  [cpu] device: `auto` grades on cpu here ({detail})")
    elif how is None:
        print(f"  [REFUSED] device: a GPU is here ({detail}), but `auto` and `cuda` refuse to grade: {NO_CGROUP}")
    else:
        print(f"  [cuda] device: `auto` grades on cuda here ({detail}): the sandbox also gets "
              f"{', '.join(str(p) for p in gpu_nodes())} (device access) and {DRIVER_DIR} read-only, and its "
              f"processes have no RLIMIT_AS: memory is bounded by the run's cgroup ({how})")


def _bounds(warn: Callable[[bool, str, str], None]) -> None:
    """The whole-run bounds and the sandbox user, as this machine allows them."""
    from pipelines.execute.budget import support

    for bound, (ok, how) in support().items():
        warn(ok, f"bound: {bound}", how)
    from pipelines.execute.sandbox import SANDBOX_UID, drops_to_host_uid

    if os.geteuid() == 0:
        warn(drops_to_host_uid(), "sandbox user", f"the grader runs as root: student code runs as host uid {SANDBOX_UID} "
             "(setpriv), without capabilities or groups, no_new_privs" if drops_to_host_uid() else
             "the grader runs as root and util-linux's setpriv is missing: student code would be host uid 0")
    else:
        warn(True, "sandbox user", f"uid {SANDBOX_UID} inside, your uid {os.geteuid()} outside, no capabilities")

"""Whole-run bounds of one sandboxed command, all its processes together (``pipelines.execute.budget``).

Each test starts one small sandboxed Python that passes one bound while every process stays under
its own rlimits; where this machine cannot enforce a bound the test is skipped with the doctor's reason.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from pipelines.execute.budget import Cgroup, support
from pipelines.execute.sandbox import UNSAFE_ENV, Limits, run_sandboxed

LIMITS = Limits(memory_mb=1024, cpu_seconds=4, wall_seconds=30, file_mb=16, total_memory_mb=400,
                max_processes=40, disk_mb=64)


# Forks after which the child runs Python before it execs (os.fork, or subprocess with a preexec_fn):
# CPython calls the ``before`` hooks in the parent just before each of them, and never before a
# fork that goes straight to exec.
_python_forks = [0]
os.register_at_fork(before=lambda: _python_forks.__setitem__(0, _python_forks[0] + 1))


def run(tmp_path: Path, code: str, **kw: object):
    return run_sandboxed([sys.executable, "-c", code], tmp_path, LIMITS, **kw)  # type: ignore[arg-type]


def needs(bound: str) -> None:
    ok, why = support()[bound]
    if not ok:
        pytest.skip(f"not enforced here: {why}")


def test_memory_of_all_processes_together(tmp_path: Path) -> None:
    needs("memory (all processes)")
    code = ("import os, time\nfor _ in range(4):\n    if os.fork() == 0:\n        b = b'x' * (150 * 2**20)\n"
            "        time.sleep(2)\n        os._exit(0)\nfor _ in range(4):\n    os.wait()\nprint('done')")
    r = run(tmp_path, code)
    assert "memory" in r.exceeded, r


def test_number_of_processes(tmp_path: Path) -> None:
    needs("processes")
    code = ("import os, time\nn = 0\ntry:\n    while n < 500:\n        if os.fork() == 0:\n            time.sleep(20)\n"
            "            os._exit(0)\n        n += 1\nexcept OSError:\n    print('refused after', n)")
    r = run(tmp_path, code)
    assert "processes" in r.exceeded and "refused after" in r.output, r
    assert r.seconds < 15  # the sleeping children died with the sandbox


def test_cpu_time_of_all_processes_together(tmp_path: Path) -> None:
    needs("cpu time (all processes)")
    r = run(tmp_path, "import os\nos.fork()\nos.fork()\nwhile True:\n    pass")
    assert r.exceeded == ("cpu",) and not r.timed_out, r


def test_disk_written_in_many_files(tmp_path: Path) -> None:
    code = "for i in range(40):\n    open(f'/job/f{i}', 'wb').write(b'x' * (8 * 2**20))\nprint('wrote it all')"
    r = run(tmp_path, code)
    assert r.exceeded == ("disk",) and "wrote it all" not in r.output, r


def test_tmp_is_a_sized_tmpfs(tmp_path: Path) -> None:
    code = ("try:\n    for i in range(10):\n        open(f'/tmp/big{i}', 'wb').write(b'x' * (10 * 2**20))\n"
            "    print('fits')\nexcept OSError as e:\n    print('refused', e.errno)")
    assert "refused 28" in run(tmp_path, code).output  # ENOSPC


def test_wall_clock(tmp_path: Path) -> None:
    limits = Limits(memory_mb=1024, cpu_seconds=60, wall_seconds=2, file_mb=16)
    r = run_sandboxed([sys.executable, "-c", "import time\ntime.sleep(60)"], tmp_path, limits)
    assert r.timed_out and r.seconds < 10


def test_the_log_is_read_through_its_own_descriptor(tmp_path: Path) -> None:
    """Replacing the log by a link to /dev/zero (or a pipe) must neither hang nor feed the grader."""
    code = "import os\nprint('hello')\nos.remove('/job/sandbox.log')\nos.symlink('/dev/zero', '/job/sandbox.log')"
    r = run(tmp_path, code)
    assert r.returncode == 0 and "hello" in r.output and "\x00" not in r.output


def test_readonly_inputs_stay_as_written(tmp_path: Path) -> None:
    (tmp_path / "probes.json").write_text("[]")
    code = ("import os\nfor f in (lambda: open('/job/probes.json', 'w'), lambda: os.remove('/job/probes.json'),\n"
            "          lambda: os.rename('/job/probes.json', '/job/x')):\n    try:\n        f()\n        print('CHANGED')\n"
            "    except OSError:\n        pass")
    r = run(tmp_path, code, readonly=("probes.json",))
    assert "CHANGED" not in r.output and (tmp_path / "probes.json").read_text() == "[]"


def test_student_code_is_an_unprivileged_host_user_even_when_the_grader_is_root(tmp_path: Path) -> None:
    """Inside: uid 65534 with no capabilities, unable to become root. Outside: what it writes belongs to
    uid 65534 when the grader runs as root (setpriv), to the grader's own uid otherwise (a user
    namespace); never to root."""
    import json
    import os

    from pipelines.execute.sandbox import SANDBOX_UID, sandbox_self_test

    code = ("import json, os\ncaps = {ln.split()[1] for ln in open('/proc/self/status') if ln.startswith('Cap')}\n"
            "try:\n    os.setuid(0)\n    became = 'root'\nexcept PermissionError:\n    became = 'refused'\n"
            "open('written', 'w').write('x')\n"
            "print(json.dumps([os.getuid(), os.getgid(), os.getgroups(), sorted(caps), became]))")
    r = run(tmp_path, code)
    assert r.returncode == 0, r.output
    uid, gid, groups, caps, became = json.loads(r.output.strip().splitlines()[-1])
    assert (uid, gid, caps, became) == (SANDBOX_UID, SANDBOX_UID, ["0000000000000000"], "refused")
    if os.geteuid() == 0:
        assert groups == []  # setpriv --clear-groups: not even root's supplementary groups
    owner = (tmp_path / "written").stat().st_uid
    assert owner == (SANDBOX_UID if os.geteuid() == 0 else os.geteuid()) and owner != 0
    ok, detail = sandbox_self_test()
    assert ok and f"host uid {owner}, no capabilities" in detail, detail


def test_no_python_runs_in_the_child_between_fork_and_exec(tmp_path: Path) -> None:
    """The sandbox is started while other threads run (the probes' sandbox starts in a thread beside
    the notebook's, the report pipe is drained by one): Python code in the child before exec could
    wait forever on a lock one of them held at the fork, ending as a wall-clock timeout."""
    before = _python_forks[0]
    r = run(tmp_path, "print('started')")
    assert r.returncode == 0 and "started" in r.output, r
    assert _python_forks[0] == before


@pytest.mark.parametrize("sandboxed", [True, False], ids=["sandbox", "unsafe-no-sandbox"])
def test_the_limits_hold_inside(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sandboxed: bool) -> None:
    """RLIMIT_AS, RLIMIT_CPU (5 s of grace to the hard limit), RLIMIT_FSIZE and no core files, read
    by the code that runs; where the machine has a writable cgroup, the run's CPU time is counted in
    the run's own group."""
    if not sandboxed:
        monkeypatch.setenv(UNSAFE_ENV, "1")
    groups: list[float] = []
    remove = Cgroup.remove
    monkeypatch.setattr(Cgroup, "remove", lambda self: (groups.append(self.cpu_seconds()), remove(self)))
    code = ("print(*(ln.strip() for ln in open('/proc/self/limits') if ln.startswith(('Max address space', "
            "'Max cpu time', 'Max file size', 'Max core file size'))), sep='\\n')\nsum(range(10**6))")
    r = run(tmp_path, code)
    assert r.returncode == 0, r
    limits = {" ".join(ln.split()[:-3]): ln.split()[-3:-1] for ln in r.output.strip().splitlines()}
    mem, size = str(LIMITS.memory_mb << 20), str(LIMITS.file_mb << 20)
    assert limits == {"Max cpu time": [str(LIMITS.cpu_seconds), str(LIMITS.cpu_seconds + 5)],
                      "Max file size": [size, size], "Max core file size": ["0", "0"],
                      "Max address space": [mem, mem]}, r.output
    if support()["cpu time (all processes)"][0]:
        assert len(groups) == 1 and groups[0] > 0, groups


def test_the_doctor_fails_when_the_limits_do_not_reach_the_sandbox(monkeypatch: pytest.MonkeyPatch) -> None:
    from pipelines.execute import sandbox

    monkeypatch.setattr(sandbox, "_confine", lambda pid, limits, group: None)
    ok, detail = sandbox.sandbox_self_test()
    assert not ok and "per-process limits did not reach the sandbox" in detail, detail

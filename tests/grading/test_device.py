"""The device, end to end: detected from files, refused when it cannot be bounded, bound into the
sandbox as devices, told to both sandboxes and the graders, keyed in the cache, and a GPU-only check
that costs no points anywhere.

This machine (and CI) has no GPU: the CPU path runs for real through the sandbox; the CUDA path runs
through the real sandbox too, with the detection mocked and the GPU's device nodes and driver folder
stand-ins in a temporary tree (no CUDA code runs, so nothing here proves CUDA itself works in the sandbox).
"""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
import textwrap
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import nbformat
import pytest
import yaml

from pipelines import results
from pipelines.errors import DeepgradeError
from pipelines.execute import device, sandbox
from pipelines.execute.device import CPU, CUDA, cuda_of, require_memory_bound, resolve_device
from pipelines.execute.sandbox import Limits, build_command, run_sandboxed
from pipelines.grade import batch
from pipelines.grade.cache import LayerCache
from pipelines.grade.fingerprint import Fingerprints
from pipelines.grade.intake import Submission
from pipelines.grade.score import NO_GPU
from pipelines.grade.submission import blind_spots, grade_submission
from pipelines.grade.unit import Unit
from pipelines.params import _load
from tests.grading import toy

NODES = ("nvidia-caps", "nvidia-uvm", "nvidia-uvm-tools", "nvidia0", "nvidia1", "nvidiactl")
LIMITS = Limits(memory_mb=1024, cpu_seconds=20, wall_seconds=30, file_mb=16)


@pytest.fixture
def gpu_machine(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A stand-in GPU machine: device nodes (plain files) under ``<tmp>/dev``, the driver's folder
    at ``<tmp>/driver`` and a torch built for CUDA; returns the dev folder."""
    dev = tmp_path / "dev"
    dev.mkdir()
    for name in (*NODES, "nvidia-modeset", "null"):
        (dev / name).mkdir() if name == "nvidia-caps" else (dev / name).write_text(name)
        (dev / name).chmod(0o777 if name == "nvidia-caps" else 0o666)
    # Bound at its own path (as /proc/driver/nvidia is): a folder right below /tmp, whose parent
    # exists inside the sandbox too (the sandbox's own /tmp).
    driver = Path(tempfile.mkdtemp(prefix="deepgrade-test-driver-", dir="/tmp"))
    driver.chmod(0o755)
    (driver / "version").write_text("NVRM version: NVIDIA UNIX x86_64 Kernel Module  550.54.15\n")
    monkeypatch.setattr(device, "DEV_ROOT", dev)
    monkeypatch.setattr(device, "DRIVER_DIR", driver)
    monkeypatch.setattr(sandbox, "DRIVER_DIR", driver)
    monkeypatch.setattr(device, "torch_cuda_version", lambda: "12.4")
    yield dev
    shutil.rmtree(driver)


# --- detection -----------------------------------------------------------------------------


def test_a_gpu_machine_is_detected_from_its_nodes_driver_and_torch_build(gpu_machine: Path) -> None:
    assert device.cuda_support() == (True, "2 GPU(s), torch built for CUDA 12.4")
    assert [p.name for p in device.gpu_nodes()] == list(NODES)  # nvidia-modeset (display only) is not bound


@pytest.mark.parametrize(("remove", "said"), [
    ("nvidiactl", "no {dev}/nvidiactl"),
    ("nvidia-uvm", "no {dev}/nvidia-uvm"),
    ("gpus", "no GPU device node"),
    ("driver", "no NVIDIA driver"),
    ("torch", "no torch built for CUDA"),
    ("mode", "student code could not open {dev}/nvidia0 (mode 660)"),
])
def test_each_missing_part_is_named(gpu_machine: Path, monkeypatch: pytest.MonkeyPatch, remove: str, said: str) -> None:
    if remove == "gpus":
        for n in ("nvidia0", "nvidia1"):
            (gpu_machine / n).unlink()
    elif remove == "driver":
        (device.DRIVER_DIR / "version").unlink()
    elif remove == "torch":
        monkeypatch.setattr(device, "torch_cuda_version", lambda: None)
    elif remove == "mode":
        (gpu_machine / "nvidia0").chmod(0o660)
        monkeypatch.setattr(device.os, "geteuid", lambda: 0)  # the grader as root: student code is uid 65534
    else:
        (gpu_machine / remove).unlink()
    available, detail = device.cuda_support()
    assert not available and said.format(dev=gpu_machine) in detail


def test_the_torch_build_is_read_without_importing_torch(tmp_path: Path) -> None:
    import torch  # here only to compare with what the detection read

    assert device.torch_cuda_version() == torch.version.cuda
    for text, cuda in (("cuda: Optional[str] = '12.4'\n", "12.4"), ("cuda = '11.8'\n", "11.8"),
                       ("cuda: Optional[str] = None\n", None), ("def broken(:\n", None)):
        (tmp_path / "version.py").write_text("from typing import Optional\n__version__ = '2.5.0'\n" + text)
        assert cuda_of(tmp_path / "version.py") == cuda
    assert cuda_of(tmp_path / "absent.py") is None


def test_tf32_off_turns_torch_flags_off(monkeypatch: pytest.MonkeyPatch) -> None:
    import torch

    monkeypatch.setenv(device.TF32_ENV, "1")
    before = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = True
    try:
        device.tf32_off()
        assert not torch.backends.cudnn.allow_tf32 and not torch.backends.cuda.matmul.allow_tf32
        assert device.os.environ[device.TF32_ENV] == "0"
    finally:
        torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = before


def test_settings_resolve_to_a_device(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(device, "cuda_support", lambda: (False, "no /dev/nvidiactl"))
    assert resolve_device("auto", "grading.device") == CPU and resolve_device("cpu", "grading.device") == CPU
    with pytest.raises(DeepgradeError, match="grading.device is cuda, but .*no /dev/nvidiactl"):
        resolve_device("cuda", "grading.device")
    with pytest.raises(DeepgradeError, match="must be one of auto, cpu, cuda"):
        resolve_device("gpu", "grading.device")
    monkeypatch.setattr(device, "cuda_support", lambda: (True, "1 GPU(s)"))
    assert resolve_device("auto", "x") == CUDA and resolve_device("cuda", "x") == CUDA and resolve_device("cpu", "x") == CPU


def _set_device(root: Path, grading: str, unit: str | None = None) -> Unit:
    params = yaml.safe_load((root / "params.yaml").read_text())
    params["grading"]["device"] = grading
    params["units"][toy.UNIT].pop("device", None)
    if unit is not None:
        params["units"][toy.UNIT]["device"] = unit
    (root / "params.yaml").write_text(yaml.safe_dump(params))
    _load.cache_clear()
    return Unit.load(toy.UNIT)


def test_a_unit_may_override_the_course_device(device_project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(device, "cuda_support", lambda: (True, "1 GPU(s)"))
    try:
        assert _set_device(device_project, "auto").device == CUDA
        unit = _set_device(device_project, "auto", unit="cpu")
        assert unit.device == CPU and unit.limits("notebook").device == CPU and unit.limits("probes").device == CPU
        assert _set_device(device_project, "cpu", unit="cuda").limits("probes").device == CUDA
    finally:
        _set_device(device_project, "auto")


# --- the sandbox -----------------------------------------------------------------------------


def _gpu_args(dev: Path) -> list[str]:
    args = [a for n in NODES for a in ("--dev-bind", str(dev / n), f"/dev/{n}")]
    return args + ["--ro-bind", str(device.DRIVER_DIR), str(device.DRIVER_DIR)]


def test_a_cuda_sandbox_gets_each_node_as_a_device_and_nothing_else_changes(gpu_machine: Path, tmp_path: Path) -> None:
    argv = [sys.executable, "-c", "pass"]
    cpu = build_command(argv, tmp_path, tmp_path)
    cuda = build_command(argv, tmp_path, tmp_path, device=CUDA)
    extra = _gpu_args(gpu_machine)
    at = cuda.index(extra[0])
    assert cuda[at:at + len(extra)] == extra
    assert cuda[:at] + cuda[at + len(extra):] == cpu  # the same namespaces, mounts and environment otherwise
    assert not any(str(gpu_machine) in a for a in cpu)
    assert {"--unshare-net", "--dev"} & set(cpu) and "--dev-bind" not in cpu


def test_cuda_runs_have_no_address_space_limit() -> None:
    assert Limits(memory_mb=1024, cpu_seconds=1, wall_seconds=1, file_mb=1).address_space_bytes == 1024 << 20
    cuda = Limits(memory_mb=1024, cpu_seconds=1, wall_seconds=1, file_mb=1, device=CUDA)
    assert cuda.address_space_bytes is None and cuda.total_memory_bytes == 2048 << 20


INSIDE = textwrap.dedent("""
    import json, os, sys
    limits = {l[:26].strip(): l[26:].split()[0] for l in open("/proc/self/limits")}
    nodes = sorted(n for n in os.listdir("/dev") if n.startswith("nvidia"))
    version = os.path.join(sys.argv[1], "version")
    try:
        open(version, "a").close()
        writable = True
    except OSError:
        writable = False
    print(json.dumps({"as": limits["Max address space"], "env": [os.environ.get(k) for k in sys.argv[2:]],
                      "nodes": nodes, "driver": open(version).read()[:4] if os.path.exists(version) else None,
                      "driver_writable": writable}))
""")


def _inside(tmp_path: Path, limits: Limits) -> dict:
    job = tmp_path / "job"
    job.mkdir(exist_ok=True)
    run = run_sandboxed([sys.executable, "-c", INSIDE, str(device.DRIVER_DIR), device.DEVICE_ENV, device.TF32_ENV],
                        job, limits)
    assert run.returncode == 0, run.output
    return json.loads(run.output.strip().splitlines()[-1])


def test_inside_a_cpu_sandbox(tmp_path: Path) -> None:
    seen = _inside(tmp_path, LIMITS)
    assert seen == {"as": str(1024 << 20), "env": [CPU, "0"], "nodes": [], "driver": None, "driver_writable": False}


def test_inside_a_cuda_sandbox(gpu_machine: Path, tmp_path: Path) -> None:
    """The real sandbox with the stand-in GPU: the nodes, the driver folder read-only, no RLIMIT_AS."""
    seen = _inside(tmp_path, Limits(memory_mb=1024, cpu_seconds=20, wall_seconds=30, file_mb=16, device=CUDA))
    assert seen == {"as": "unlimited", "env": [CUDA, "0"], "nodes": sorted(NODES), "driver": "NVRM",
                    "driver_writable": False}


def test_a_cuda_run_without_a_cgroup_is_refused(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    require_memory_bound(CPU, cgroup=False)
    require_memory_bound(CUDA, cgroup=True)
    with pytest.raises(DeepgradeError, match=r"cgroup.*`deepgrade doctor`.*Delegate=yes.*device: cpu"):
        require_memory_bound(CUDA, cgroup=False)
    monkeypatch.setattr(sandbox.Cgroup, "create", classmethod(lambda cls, memory, processes: None))
    marker = tmp_path / "ran"
    with pytest.raises(DeepgradeError, match="cgroup"):
        run_sandboxed(["/bin/touch", str(marker)], tmp_path,
                      Limits(memory_mb=64, cpu_seconds=5, wall_seconds=5, file_mb=1, device=CUDA))
    assert not marker.exists()
    run_sandboxed(["/bin/true"], tmp_path, Limits(memory_mb=256, cpu_seconds=5, wall_seconds=5, file_mb=1))


def test_a_cuda_batch_without_a_cgroup_is_refused_before_any_student(device_project: Path, tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(device, "cuda_support", lambda: (True, "1 GPU(s)"))
    monkeypatch.setattr(batch, "cgroup_kind", lambda: None)
    with pytest.raises(DeepgradeError, match="grading on CUDA needs a cgroup"):
        batch.autograde(toy.UNIT, device_project / "submitted", tmp_path / "out")
    assert not (tmp_path / "out").exists()


# --- both sandboxes and the graders, through a real grading --------------------------------------

# The export cell: quad, and what the probe child sees. A stand-in for torch as export cells load
# it (importing the real one costs seconds per probe child; ``test_tf32_off_turns_torch_flags_off``
# shows the flags are torch's): the engine must have turned its TF32 flags off before the call.
SEES = """
import os
import sys
from types import SimpleNamespace as ns

import numpy as np

torch = sys.modules["torch"] = ns(backends=ns(cuda=ns(matmul=ns(allow_tf32=True)), cudnn=ns(allow_tf32=True)))


def quad(x, w):
    return 0.5 * float(np.sum(w * x * x)), w * x


def seen_device():
    return (np.array([os.environ.get("DEEPGRADE_DEVICE") == d for d in ("cpu", "cuda")], dtype=float),
            np.array([os.environ.get("NVIDIA_TF32_OVERRIDE") == "0", not torch.backends.cudnn.allow_tf32,
                      not torch.backends.cuda.matmul.allow_tf32], dtype=float))
"""
# A cell the student adds: what the notebook was told.
NOTEBOOK_SEES = """
import os
from pipelines.kit import export
export("notebook_device", np.array([device == d and os.environ.get("DEEPGRADE_DEVICE") == d for d in ("cpu", "cuda")], dtype=float))
export("notebook_tf32_off", np.array(os.environ.get("NVIDIA_TF32_OVERRIDE") == "0", dtype=float))
"""
DEVICE_GRADER = '''
import os

import numpy as np
import torch  # as graders that use reference.torch load it

from pipelines.grade.api import check_true, gpu_check, points, probe


@probe("seen_device")
def device_seen(rng):
    return {"args": []}


@points(0, cell="check_quad")
def test_both_sandboxes_were_told_the_device(result, exported, device):
    """The notebook and the probes ran on the grading device, without TF32."""
    run = result("device_seen")
    index = ["cpu", "cuda"].index(device)
    told = [run.returned(0)[index], exported("notebook_device")[index], run.returned(0).sum(), exported("notebook_device").sum()]
    check_true(told == [1, 1, 1, 1], f"device {device}: told {told}")
    tf32 = [*run.returned(1).tolist(), float(exported("notebook_tf32_off"))]
    check_true(tf32 == [1, 1, 1, 1], f"TF32 off (env, cudnn, matmul, notebook env): {tf32}")


@points(0, cell="check_quad")
def test_graders_run_without_tf32():
    """The reference computations run without TF32."""
    off = [os.environ.get("NVIDIA_TF32_OVERRIDE") == "0", not torch.backends.cudnn.allow_tf32,
           not torch.backends.cuda.matmul.allow_tf32]
    check_true(all(off), f"TF32 off (env, cudnn, matmul): {off}")


@gpu_check(cell="check_quad")
def test_gpu_speed(device):
    """A check only a GPU can run."""
    check_true(device == "cuda", f"ran on {device}")
'''


@pytest.fixture(scope="module")
def device_project(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A toy project whose graders ask what both sandboxes were told."""
    root = tmp_path_factory.mktemp("device-project")
    base = yaml.safe_load((Path(__file__).resolve().parents[2] / "params.yaml").read_text())
    unit = toy.make_project(root, base, {"cell_timeout": 30, "wall_seconds": 120, "probes": {"wall_seconds": 60}})
    (unit / "graders" / "test_device.py").write_text(DEVICE_GRADER)

    def add_cell(nb: nbformat.NotebookNode) -> None:
        nb.cells.insert(4, nbformat.v4.new_code_cell(NOTEBOOK_SEES))

    toy.submission(root, "sees", body=SEES, mutate=add_cell)
    with toy.engine_at(root):
        yield root


def _tests(result: dict) -> dict[str, dict]:
    return {t["name"]: t for t in result["tests"]}


def test_a_cpu_grading_tells_both_sandboxes_and_skips_the_gpu_check(device_project: Path) -> None:
    out = device_project / "graded"
    assert batch.autograde(toy.UNIT, device_project / "submitted", out).failed == 0
    result = json.loads((out / "sees" / "results.json").read_text())
    tests = _tests(result)
    assert tests["test_both_sandboxes_were_told_the_device"]["status"] == "passed", tests
    assert tests["test_graders_run_without_tf32"]["status"] == "passed", tests
    gpu = tests["test_gpu_speed"]
    assert (gpu["status"], gpu["points"], gpu["max_points"]) == ("not_run", 0, 0)
    assert gpu["message"].startswith("not run: no GPU here")
    assert (result["score"], result["max_score"]) == (5, 5)  # the toy's points, on any machine
    assert result["blind_spots"] == []
    summary = json.loads((out / "summary.json").read_text())
    assert "test_gpu_speed" not in summary["pass_rate"]
    assert "not run: no GPU here" in (out / "sees" / "feedback.html").read_text()


def test_a_cuda_grading_tells_both_sandboxes_and_runs_the_gpu_check(device_project: Path, gpu_machine: Path,
                                                                     tmp_path: Path) -> None:
    """In this process (pool workers would not see the stand-in GPU), as ``deepgrade validate`` grades."""
    unit = Unit.load(toy.UNIT)
    assert unit.device == CUDA
    submission = Submission.read(device_project / "submitted" / "sees" / toy.UNIT, unit.notebooks)
    result, internal, _ = grade_submission(unit, "sees", submission,
                                           tmp_path / "job", unit.student_data_view(tmp_path / "cache"),
                                           LayerCache(toy.UNIT, root=tmp_path / "cache"), Fingerprints(unit))
    assert not internal, internal
    tests = {t.name: t for t in result.tests}
    assert tests["test_both_sandboxes_were_told_the_device"].status == "passed", tests
    assert tests["test_graders_run_without_tf32"].status == "passed", tests
    gpu = tests["test_gpu_speed"]
    assert (gpu.status, gpu.points, gpu.max_points) == ("passed", 0, 0)
    assert (result.score, result.max_score) == (5, 5)


def test_a_gpu_check_not_run_hides_no_blind_spot() -> None:
    """A failing self-check whose hidden tests all passed is a blind spot, whatever GPU checks did not run."""
    tests = [results.TestResult("test_value", 1, 1, "passed", "", "check_quad"),
             results.TestResult("test_gpu_speed", 0, 0, results.NOT_RUN, NO_GPU, "check_quad")]
    unit = SimpleNamespace(self_check_uses={})  # the self-check names no exported function here
    assert blind_spots(unit, {"check_quad": "AssertionError"}, tests, set()) == [{"cell": "check_quad", "error": "AssertionError"}]
    assert blind_spots(unit, {"check_quad": "AssertionError"}, tests[1:], set()) == []

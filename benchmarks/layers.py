"""Speed of the reference conv and max-pool layers: naive loops vs vectorized numpy vs torch.

Unit a06 promises that the fast layers are fast enough to train ThreeLayerConvNet on a CPU: at least
100x the loop versions and within 1.5x of torch's own float64 CPU kernels. This script measures that,
forward + backward together, on the course's shapes:

* conv: x (64, 3, 32, 32) float64, w (32, 3, 3, 3), stride 1, pad 1;
* max pool: 2x2, stride 2, on the conv's output shape (64, 32, 32, 32).

Every time is the median of several rounds that alternate between the implementations in one
process, and every ratio is the median over rounds of the ratio within a round (paired), so a burst
of load on the machine hits both sides of a ratio alike. The naive layers are timed on a smaller
batch and scaled per example to the full batch (the output says so). Thread counts are left at their
defaults and printed.

    python benchmarks/layers.py [--rounds 7] [--naive-batch 2] [--device cuda]
"""

from __future__ import annotations

import argparse
import ctypes
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from reference.numpy.cnn_layers import (  # noqa: E402
    conv_backward_fast,
    conv_backward_naive,
    conv_forward_fast,
    conv_forward_naive,
    max_pool_backward_fast,
    max_pool_backward_naive,
    max_pool_forward_fast,
    max_pool_forward_naive,
)

BATCH = 64
CONV_PARAM = {"stride": 1, "pad": 1}
POOL_PARAM = {"pool_height": 2, "pool_width": 2, "stride": 2}
SYMBOLS = ("scipy_openblas_get_num_threads64_", "openblas_get_num_threads64_", "openblas_get_num_threads")


def blas_threads() -> str:
    """Threads the OpenBLAS loaded by numpy will use, read from the library itself when it can be."""
    with open("/proc/self/maps") as maps:
        paths = {line.split()[-1] for line in maps if "openblas" in line.lower()}
    for path in sorted(paths):
        lib = ctypes.CDLL(path)
        for symbol in SYMBOLS:
            if hasattr(lib, symbol):
                return str(getattr(lib, symbol)())
    return "unknown"


def numpy_pair(forward: Callable, backward: Callable, inputs: tuple, dout: np.ndarray) -> Callable[[], None]:
    """One forward + backward pass of a numpy layer."""

    def run() -> None:
        _, cache = forward(*inputs)
        backward(dout, cache)

    return run


def torch_pair(fn: Callable, inputs: tuple, dout: np.ndarray, dtype: torch.dtype, device: str) -> Callable[[], None]:
    """One forward + backward pass of a torch op (autograd), synchronised on CUDA."""
    tensors = [
        torch.tensor(a, dtype=dtype, device=device, requires_grad=True) if isinstance(a, np.ndarray) else a
        for a in inputs
    ]
    grad_out = torch.tensor(dout, dtype=dtype, device=device)

    def run() -> None:
        for t in tensors:
            if isinstance(t, torch.Tensor):
                t.grad = None
        fn(*tensors).backward(grad_out)
        if device == "cuda":
            torch.cuda.synchronize()

    return run


def timed_rounds(cases: dict[str, tuple[Callable[[], None], float]], rounds: int) -> dict[str, list[float]]:
    """Seconds per full batch of each case in each round; ``scale`` converts a reduced batch to the full one."""
    for run, _ in cases.values():
        run()
    samples: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(rounds):
        for name, (run, scale) in cases.items():
            start = time.perf_counter()
            run()
            samples[name].append((time.perf_counter() - start) * scale)
    return samples


def paired(samples: dict[str, list[float]], top: str, bottom: str) -> float:
    """The median over rounds of ``top``'s time over ``bottom``'s in the same round."""
    return statistics.median(a / b for a, b in zip(samples[top], samples[bottom], strict=True))


def layer_cases(
    kind: str, naive_batch: int, devices: list[str], rng: np.random.Generator
) -> dict[str, tuple[Callable[[], None], float]]:
    """The implementations to time for ``kind`` ('conv' or 'pool'), keyed by row label."""
    if kind == "conv":
        x = rng.standard_normal((BATCH, 3, 32, 32))
        w, b = rng.standard_normal((32, 3, 3, 3)), rng.standard_normal(32)
        dout = rng.standard_normal((BATCH, 32, 32, 32))
        args, small = (x, w, b, CONV_PARAM), (x[:naive_batch], w, b, CONV_PARAM)
        naive, fast = (conv_forward_naive, conv_backward_naive), (conv_forward_fast, conv_backward_fast)

        def op(x, w, b, p):
            return F.conv2d(x, w, b, stride=p["stride"], padding=p["pad"])

    else:
        x = rng.standard_normal((BATCH, 32, 32, 32))
        dout = rng.standard_normal((BATCH, 32, 16, 16))
        args, small = (x, POOL_PARAM), (x[:naive_batch], POOL_PARAM)
        naive = (max_pool_forward_naive, max_pool_backward_naive)
        fast = (max_pool_forward_fast, max_pool_backward_fast)

        def op(x, p):
            return F.max_pool2d(x, (p["pool_height"], p["pool_width"]), stride=p["stride"])

    cases = {
        f"naive (numpy loops, batch {naive_batch} scaled)": (
            numpy_pair(*naive, small, dout[:naive_batch]),
            BATCH / naive_batch,
        ),
        "fast (numpy, float64)": (numpy_pair(*fast, args, dout), 1.0),
    }
    for device in devices:
        for dtype, label in ((torch.float64, "float64"), (torch.float32, "float32")):
            cases[f"torch {device} {label}"] = (torch_pair(op, args, dout, dtype, device), 1.0)
    return cases


def report(title: str, samples: dict[str, list[float]], devices: list[str]) -> None:
    """Print one table (median times) and the paired ratios the unit's goals are stated in."""
    print(f"\n{title}: forward + backward, batch {BATCH}, median ms")
    for name, runs in samples.items():
        seconds = statistics.median(runs)
        print(f"  {name:45s} {1e3 * seconds:10.2f} ms  {1e3 * seconds / BATCH:8.3f} ms/example")
    naive = next(k for k in samples if k.startswith("naive"))
    fast = "fast (numpy, float64)"
    print(f"  speedup fast vs naive (paired median):    {paired(samples, naive, fast):8.1f}x   (goal >= 100x)")
    for device in devices:
        for dtype, goal in (("float64", "    (goal <= 1.5)"), ("float32", "")):
            ratio = paired(samples, fast, f"torch {device} {dtype}")
            print(f"  fast / torch {device} {dtype} time (paired median): {ratio:8.2f}{goal}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=7, help="alternating rounds; each figure is their median")
    ap.add_argument("--naive-batch", type=int, default=2, help="examples the naive layers are timed on")
    ap.add_argument("--device", choices=["cpu", "cuda"], default="cpu", help="also time torch on CUDA")
    args = ap.parse_args()

    devices = ["cpu"]
    if args.device == "cuda":
        if torch.cuda.is_available():
            devices.append("cuda")
        else:
            print("note: --device cuda asked for, but torch sees no CUDA device; timing the CPU only")
    print(
        f"python {platform.python_version()}, numpy {np.__version__}, torch {torch.__version__}, "
        f"{os.cpu_count()} CPUs"
    )
    blas = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
    print(f"numpy BLAS: {blas.get('name')} {blas.get('version')}, threads {blas_threads()}")
    env = {k: os.environ[k] for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS") if k in os.environ}
    print(f"torch intra-op threads {torch.get_num_threads()}; thread variables set: {env or 'none'}")
    if "cuda" in devices:
        print(f"CUDA device: {torch.cuda.get_device_name()}")
    print(
        f"rounds: {args.rounds} alternating; naive layers timed on {args.naive_batch} examples, "
        f"scaled x{BATCH / args.naive_batch:g} to the batch of {BATCH}"
    )

    rng = np.random.default_rng(0)
    titles = {
        "conv": "conv 3->32, 3x3, stride 1, pad 1 on (64, 3, 32, 32)",
        "pool": "max pool 2x2 stride 2 on (64, 32, 32, 32)",
    }
    for kind, title in titles.items():
        report(title, timed_rounds(layer_cases(kind, args.naive_batch, devices, rng), args.rounds), devices)


if __name__ == "__main__":
    main()

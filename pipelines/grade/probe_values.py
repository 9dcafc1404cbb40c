"""Values a chained probe has the sandbox build from plain parameters: numpy dtypes, seeded
generators and torch tensors (trusted models are in ``probe_models``).

Only plain data crosses the sandbox's boundary, in either direction (docs/design.md §4): a grader
cannot hand student code a generator or a tensor, only the numbers and names that make one. Each
kind here is a record of such parameters that encodes itself as JSON plus arrays (``probes.json``,
``probes.npz``: never a pickle), decodes itself inside the sandbox and builds its object there,
while the grader builds the very same object with ``.build()`` to compute what the student's code
should have done with it. A chain builds a new object from the record for every call that gets
one (``pipelines.grade.chain``), so every run of a chain, and every re-run for a numeric gradient,
starts from the same state.

Coming back, a tensor is read as a numpy array and a dtype as its name (``to_numpy``, ``as_dtype``).
numpy only at module level: torch is imported when a tensor is built, so that a unit whose probes
use no tensor never pays for it, and is otherwise only looked up among the loaded modules.
"""

from __future__ import annotations

import os
import sys
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from pipelines.execute.device import DEVICE_ENV, tf32_off  # DEVICE_ENV: the job's device in the sandbox (absent: CPU)

NUMERIC_KINDS = "biuf"  # the dtype kinds that may cross the boundary: bool, int, uint, float
TORCH_DTYPES = ("float16", "float32", "float64", "uint8", "int8", "int16", "int32", "int64", "bool")
DEVICES = ("cpu", "cuda")


def numeric(value: Any, what: str) -> np.ndarray:
    """``value`` as an array of numbers (bool, int or float), or a TypeError naming ``what``."""
    arr = np.asarray(value)
    if arr.dtype.kind not in NUMERIC_KINDS:
        raise TypeError(f"{what}: arrays passed to student code must be numeric, not {arr.dtype}")
    return arr


class Built(ABC):
    """A value the sandbox builds from plain parameters; ``kind`` names it in ``probes.json``."""

    kind: ClassVar[str]

    @abstractmethod
    def encode(self, key: str, arrays: dict[str, np.ndarray]) -> dict[str, Any]:
        """The JSON body of this value; its arrays go into ``arrays`` under ``key`` (or ``key/...``)."""

    @classmethod
    @abstractmethod
    def decode(cls, body: dict[str, Any], data: Any) -> Built:
        """The value back from its JSON ``body`` and the npz ``data`` (sandbox side)."""

    @abstractmethod
    def build(self) -> Any:
        """A new object in the state these parameters describe (sandbox and grader alike)."""


@dataclass(frozen=True)
class DType(Built):
    """``numpy.dtype(name)``, e.g. the ``dtype=`` of a model that defaults to float32."""

    name: str
    kind: ClassVar[str] = "dtype"

    def encode(self, key: str, arrays: dict[str, np.ndarray]) -> dict[str, Any]:
        return {"name": self.name}

    @classmethod
    def decode(cls, body: dict[str, Any], data: Any) -> DType:
        return cls(str(body["name"]))

    def build(self) -> np.dtype:
        return np.dtype(self.name)


def dtype(name: str | type | np.dtype) -> DType:
    """A probe argument that the sandbox turns into ``numpy.dtype(name)``: numeric dtypes only."""
    resolved = np.dtype(name)
    if resolved.kind not in NUMERIC_KINDS:
        raise TypeError(f"dtype({name!r}): only numeric dtypes can be passed to student code")
    return DType(resolved.name)


@dataclass(frozen=True)
class Generator(Built):
    """``numpy.random.default_rng(seed)``: randomness the grader replays exactly."""

    seed: int
    kind: ClassVar[str] = "generator"

    def encode(self, key: str, arrays: dict[str, np.ndarray]) -> dict[str, Any]:
        arrays[key] = np.asarray(self.seed, dtype=np.uint64)
        return {"seed": key}

    @classmethod
    def decode(cls, body: dict[str, Any], data: Any) -> Generator:
        return cls(int(data[body["seed"]]))

    def build(self) -> np.random.Generator:
        return np.random.default_rng(self.seed)


def generator(seed: int) -> Generator:
    """A probe argument that the sandbox turns into ``numpy.random.default_rng(seed)``, new for
    every call that gets it; ``.build()`` gives the grader the same generator."""
    if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, (int, np.integer)) or not 0 <= int(seed) < 2**64:
        raise ValueError(f"generator({seed!r}): the seed must be an integer in [0, 2**64)")
    return Generator(int(seed))


@dataclass(frozen=True, eq=False)
class Tensor(Built):
    """``torch.tensor(array, dtype=torch.<dtype>, device=..., requires_grad=...)``; ``device=None``
    is the job's device (``DEEPGRADE_DEVICE`` where the tensor is built, else the CPU)."""

    array: np.ndarray
    dtype: str
    device: str | None = None
    requires_grad: bool = False
    kind: ClassVar[str] = "tensor"

    def encode(self, key: str, arrays: dict[str, np.ndarray]) -> dict[str, Any]:
        arrays[key] = self.array
        return {"array": key, "dtype": self.dtype, "device": self.device, "requires_grad": self.requires_grad}

    @classmethod
    def decode(cls, body: dict[str, Any], data: Any) -> Tensor:
        return cls(np.array(data[body["array"]]), str(body["dtype"]), body["device"], bool(body["requires_grad"]))

    def build(self) -> Any:
        import torch  # only here: units whose probes build no tensor never import torch

        tf32_off()  # torch may be loaded only now: thresholds hold without TF32 on any device
        device = self.device or os.environ.get(DEVICE_ENV) or "cpu"
        built = torch.tensor(self.array, dtype=getattr(torch, self.dtype)).to(device)
        return built.requires_grad_(self.requires_grad)  # after the move, so that it is a leaf with a .grad


def tensor(array: Any, dtype: str, device: str | None = None, requires_grad: bool = False) -> Tensor:
    """A probe argument that the sandbox turns into a torch tensor of ``array`` (numbers only) with
    the torch dtype named ``dtype`` (``"float32"``, ``"float64"``, ``"int64"``, ...) on ``device``
    (``"cpu"``, ``"cuda"``, or None: the job's device)."""
    if dtype not in TORCH_DTYPES:
        raise ValueError(f"tensor(dtype={dtype!r}): expected one of {', '.join(TORCH_DTYPES)}")
    if device is not None and device not in DEVICES:
        raise ValueError(f"tensor(device={device!r}): expected None (the job's device) or one of {', '.join(DEVICES)}")
    if requires_grad and not dtype.startswith("float"):
        raise ValueError(f"tensor(dtype={dtype!r}, requires_grad=True): only floating-point tensors have gradients")
    return Tensor(np.array(numeric(array, "tensor(array)")), dtype, device, bool(requires_grad))


def input_array(value: Any) -> Any:
    """The array a probe input stands for (a tensor's values), else the input itself."""
    return value.array if isinstance(value, Tensor) else value


def to_numpy(value: Any) -> Any:
    """A torch tensor as a numpy array (detached, on the CPU), anything else as it is. torch is
    looked up, not imported: nothing can be a tensor before something loaded torch. What sits in
    ``sys.modules`` under that name need not be torch (a stand-in, or student code's), so its
    ``Tensor`` must be a class before anything is asked of it."""
    tensor_type = getattr(sys.modules.get("torch"), "Tensor", None)
    if isinstance(tensor_type, type) and isinstance(value, tensor_type):
        if getattr(value, "is_meta", False):  # shape and dtype only: not plain data
            raise TypeError("a tensor on the meta device holds no values")
        return value.detach().cpu().numpy()  # type: ignore[attr-defined]
    return value


def as_dtype(value: Any) -> np.dtype | None:
    """``value`` as a numeric numpy dtype when it is one (``np.dtype("float32")``, ``np.float32``,
    ``float``), else None: how a dtype an object holds is read back (by its name)."""
    if not (isinstance(value, np.dtype) or (isinstance(value, type) and issubclass(value, (np.generic, bool, int, float)))):
        return None
    try:
        resolved = np.dtype(value)
    except TypeError:  # an abstract type (np.floating)
        return None
    return resolved if resolved.kind in NUMERIC_KINDS else None

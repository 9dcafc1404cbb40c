"""Values a chained probe has the sandbox build from plain parameters (pipelines/grade/probe_values.py,
probe_models.py): numpy dtypes, seeded generators, torch tensors and trusted models, and state that a
call updates in place for a later step (a persistent Gibbs chain).

Each test evaluates a chain as the engine does, without the sandbox (``tests.grading.chains``): the
recipe through ``write_probes`` and ``load_inputs``, the student's module through ``call_probe``,
the outputs through ``parse_result`` and ``ProbeRun``. test_chain_sandbox.py runs the same kinds
through the real sandbox.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from pipelines.grade.api import (
    StudentCheckFailed,
    check_unmodified,
    dtype,
    generator,
    numgrad,
    read,
    ref,
    step,
    tensor,
    trusted_model,
)
from pipelines.grade.chain import Ref
from pipelines.grade.fingerprint import inputs_digest
from pipelines.grade.probe_io import PROBES_JSON, PROBES_NPZ, write_probes
from pipelines.grade.probe_worker import ProbeFailed
from tests.grading.chains import run_chain

STUDENT = '''
import numpy as np

class TypedNet:
    def __init__(self, dim, dtype=np.float32):
        self.dtype = dtype
        self.params = {"W": np.ones((dim, 2)).astype(dtype)}

def corrupt(x, level, rng):
    keep = rng.random(x.shape) >= level
    return x * keep

def noisy_square(x, rng):
    return float(np.sum(x * x)) + 100.0 * rng.standard_normal()

def sigmoid(a):
    return 1.0 / (1.0 + np.exp(-a))

class Gibbs:
    """PCD's persistent chain: updated in place (``pcd_inplace``) or returned (``pcd_returned``)."""
    def __init__(self, W):
        self.W = W

    def _step(self, h, rng):
        v = (rng.random((h.shape[0], self.W.shape[0])) < sigmoid(h @ self.W.T)).astype(float)
        return (rng.random(h.shape) < sigmoid(v @ self.W)).astype(float)

    def pcd_inplace(self, x, rng, persistent=None):
        new = self._step(persistent, rng)
        persistent[...] = new
        return float(new.mean())

    def pcd_dict(self, x, rng, persistent=None):
        persistent["h"] = self._step(persistent["h"], rng)
        return float(persistent["h"].mean())

    def pcd_returned(self, x, rng, persistent=None):
        new = self._step(persistent, rng)
        return float(new.mean()), new

def sgd(w, dw, config=None):
    config = {} if config is None else config
    config.setdefault("learning_rate", 1e-2)
    return w - config["learning_rate"] * dw, config

def train(model, X, y, num_steps, learning_rate):
    losses = []
    for _ in range(num_steps):
        loss, grads = model.loss(X, y)
        losses.append(loss)
        for name in model.params:
            model.params[name], _ = sgd(model.params[name], grads[name], {"learning_rate": learning_rate})
    return np.array(losses)

def errors_of(model, X, y):
    return model.errors(X, y)
'''

TORCH_STUDENT = '''
import torch

def square_sum(t):
    return (t * t).sum()

def affine(x, w):
    return x @ w

def scale_(t):
    t.mul_(2.0)
    return t.sum()

def on_cpu(t):
    return t.device.type == "cpu"

class Lin(torch.nn.Module):
    def __init__(self, d_in, d_out):
        super().__init__()
        self.fc = torch.nn.Linear(d_in, d_out)

    def forward(self, x):
        return self.fc(x)
'''


def run(tmp_path: Path, made: dict, source: str = STUDENT, call: str = "corrupt", **spec):
    return run_chain(tmp_path, made, source, call, **spec)


# --- dtypes -----------------------------------------------------------------------------------


def test_a_dtype_goes_in_and_a_dtype_an_object_holds_comes_back_by_name(tmp_path: Path) -> None:
    r = run(tmp_path, {"steps": [
        step("net64", "TypedNet", 3, dtype=dtype("float64")),
        step("net32", "TypedNet", 3),  # the student's default, the numpy type np.float32
        read("dt64", ref("net64").attr("dtype")),
        read("dt32", ref("net32").attr("dtype")),
        read("W", ref("net64").attr("params").item("W")),
        read("both", {"a": ref("net64").attr("dtype"), "W": ref("net32").attr("params").item("W")}),
    ]}, call="TypedNet")
    assert r.step("dt64").dtype(0) == "float64" and r.step("dt32").dtype(0) == "float32"
    assert r.step("W").returned(0).dtype == np.float64
    assert r.step("both").dtype(0, "a") == "float64" and r.step("both").entry(0, "W").dtype == np.float32
    with pytest.raises(StudentCheckFailed, match="TypedNet.dtype output 0 is the dtype float64; expected numbers"):
        r.step("dt64").returned(0)
    with pytest.raises(StudentCheckFailed, match=r"output 0 is not a numpy dtype"):
        r.step("W").dtype(0)
    with pytest.raises(StudentCheckFailed, match="output 0 is a TypedNet; expected a numpy dtype"):
        r.step("net64").dtype(0)


def test_only_numeric_dtypes_are_passed() -> None:
    assert dtype(np.float32).build() == np.float32 and dtype("int64").name == "int64"
    for bad in ("U3", "object", "complex128", "datetime64[s]"):
        with pytest.raises(TypeError, match="only numeric dtypes"):
            dtype(bad)


# --- generators -------------------------------------------------------------------------------


def test_a_generator_is_fresh_per_literal_and_shared_through_a_ref(tmp_path: Path) -> None:
    """c2 gets the generator c1 drew from (its state carried); c3 gets a new generator(7)."""
    x = np.arange(1.0, 41.0).reshape(5, 8)
    r = run(tmp_path, {"steps": [step("c1", "corrupt", x, 0.3, generator(7)),
                                 step("c2", "corrupt", x, 0.3, ref("c1").arg(2)),
                                 step("c3", "corrupt", x, 0.3, generator(7))]})
    g = r.step("c1").args[2].build()  # the grader's copy of the student's randomness
    first, second = x * (g.random(x.shape) >= 0.3), x * (g.random(x.shape) >= 0.3)
    np.testing.assert_array_equal(r.step("c1").returned(0), first)
    np.testing.assert_array_equal(r.step("c2").returned(0), second)
    np.testing.assert_array_equal(r.step("c3").returned(0), first)
    assert not np.array_equal(first, second)


def test_every_run_of_a_chain_starts_its_generators_afresh(tmp_path: Path) -> None:
    """A timed chain runs ``repeats`` times (the last run's outputs kept), a numeric gradient once per
    difference: each run must draw the same numbers, or the noise would swamp the differences."""
    x = np.arange(1.0, 7.0).reshape(2, 3)
    r = run(tmp_path, {"steps": [step("c", "corrupt", x, 0.5, generator(3))]}, repeats=3)
    np.testing.assert_array_equal(r.step("c").returned(0), x * (generator(3).build().random(x.shape) >= 0.5))
    r = run(tmp_path, {"steps": [step("n", "noisy_square", x, generator(11))],
                       "numeric_grad": numgrad(of=("n", 0), wrt=("n", 0), k=4)}, call="noisy_square")
    np.testing.assert_allclose(r.numeric_grad, (2 * x)[r.numeric_grad_index], rtol=1e-5)


def test_a_generator_seed_must_be_a_non_negative_integer() -> None:
    for bad in (-1, 2**64, 1.5, True, "3"):
        with pytest.raises(ValueError, match="the seed must be an integer"):
            generator(bad)  # type: ignore[arg-type]


# --- state updated in place: a persistent chain -------------------------------------------------


def _gibbs_steps(W: np.ndarray, h: np.ndarray, rng: np.random.Generator, n: int) -> list[np.ndarray]:
    """What ``Gibbs._step`` gives ``n`` times in a row from ``h`` on the grader's generator."""
    sig = lambda a: 1.0 / (1.0 + np.exp(-a))  # noqa: E731
    out = []
    for _ in range(n):
        v = (rng.random((h.shape[0], W.shape[0])) < sig(h @ W.T)).astype(float)
        h = (rng.random(h.shape) < sig(v @ W)).astype(float)
        out.append(h)
    return out


@pytest.mark.parametrize("form", ["array", "dict", "returned"])
def test_a_persistent_chain_carries_from_one_update_to_the_next(tmp_path: Path, form: str) -> None:
    """PCD: the chain one ``get_cost_updates``-like call leaves (written in place into an array or a
    dict, or returned) is what the next call starts from, read back after each call."""
    rng = np.random.default_rng(0)
    W, x, h0 = rng.standard_normal((6, 4)), rng.random((3, 6)), (rng.random((3, 4)) < 0.5).astype(float)
    method = {"array": "pcd_inplace", "dict": "pcd_dict", "returned": "pcd_returned"}[form]

    def chain_after(s: str) -> Ref:
        """Where the chain is once step ``s`` ran: its argument, updated in place, or its output 1."""
        return {"array": ref(s).kwarg("persistent"), "dict": ref(s).kwarg("persistent").item("h"),
                "returned": ref(s).out(1)}[form]

    r = run(tmp_path, {"steps": [
        step("m", "Gibbs", W),
        step("u1", ref("m").attr(method), x, generator(5), persistent={"h": h0} if form == "dict" else h0),
        read("after1", chain_after("u1")),
        step("u2", ref("m").attr(method), x, ref("u1").arg(1),
             persistent=ref("u1").out(1) if form == "returned" else ref("u1").kwarg("persistent")),
        read("after2", chain_after("u2")),
    ]}, call="Gibbs")
    h1, h2 = _gibbs_steps(W, h0, generator(5).build(), 2)
    np.testing.assert_array_equal(r.step("after1").returned(0), h1)
    np.testing.assert_array_equal(r.step("after2").returned(0), h2)
    assert float(r.step("u2").returned(0)) == h2.mean() and not np.array_equal(h1, h2)


# --- tensors ------------------------------------------------------------------------------------


def test_tensors_go_in_and_come_back_as_arrays_with_their_gradients(tmp_path: Path) -> None:
    x, w = np.arange(6.0).reshape(2, 3), np.arange(12.0).reshape(3, 4) / 10
    r = run(tmp_path, {"steps": [
        step("aff32", "affine", tensor(x, "float32"), tensor(w, "float32")),
        step("loss", "square_sum", tensor(x, "float64", requires_grad=True)),
        step("back", ref("loss").attr("backward")),
        read("grad", ref("loss").arg(0).attr("grad")),
    ], "numeric_grad": numgrad(of=("loss", 0), wrt=("loss", 0), k=4)}, TORCH_STUDENT, "square_sum")
    assert r.step("aff32").returned(0).dtype == np.float32
    np.testing.assert_allclose(r.step("aff32").returned(0), x @ w, rtol=1e-6)
    assert float(r.step("loss").returned(0)) == np.sum(x * x)
    np.testing.assert_array_equal(r.step("grad").returned(0), 2 * x)
    np.testing.assert_allclose(r.numeric_grad, (2 * x)[r.numeric_grad_index], rtol=1e-6)
    assert r.step("loss").args[0].build().requires_grad  # the grader's own copy
    with pytest.raises(ProbeFailed, match="affine raised RuntimeError"):  # float64 @ float32: torch refuses
        run(tmp_path, {"steps": [step("aff", "affine", tensor(x, "float64"), tensor(w, "float32"))]},
            TORCH_STUDENT, "affine")


def test_a_module_gets_the_graders_weights_through_load_state_dict(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    W, b, X = rng.standard_normal((2, 3)), rng.standard_normal(2), rng.standard_normal((4, 3))
    r = run(tmp_path, {"steps": [
        step("net", "Lin", 3, 2),
        step("to64", ref("net").attr("double")),
        step("load", ref("net").attr("load_state_dict"), {"fc.weight": tensor(W, "float64"), "fc.bias": tensor(b, "float64")}),
        step("out", ref("net"), tensor(X, "float64")),
        read("weight", ref("net").attr("fc").attr("weight")),
    ]}, TORCH_STUDENT, "Lin")
    np.testing.assert_allclose(r.step("out").returned(0), X @ W.T + b, rtol=1e-12)
    np.testing.assert_array_equal(r.step("weight").returned(0), W)
    with pytest.raises(StudentCheckFailed, match="Lin output 0 is a Lin; expected"):
        r.step("net").returned(0)


def test_a_meta_tensor_comes_back_by_its_type_and_its_shape_reads_back(tmp_path: Path) -> None:
    """A forward pass on torch's ``meta`` device (a09's check that no tensor is made on a fixed device)
    returns a tensor without values: it is recorded by its type, as any output that is not plain data,
    instead of failing the probe with the student's "not implemented yet", and its shape reads back."""
    X = np.ones((4, 3))
    r = run(tmp_path, {"steps": [
        step("net", "Lin", 3, 2),
        step("to_meta", ref("net").attr("to"), "meta"),
        step("x", "on_cpu", tensor(X, "float32")),
        step("x_meta", ref("x").arg(0).attr("to"), "meta"),
        step("out", ref("net"), ref("x_meta")),
        read("shape", ref("out").attr("shape")),
        read("is_meta", ref("out").attr("is_meta")),
    ]}, TORCH_STUDENT, "Lin")
    np.testing.assert_array_equal(r.step("shape").returned(0), [4, 2])
    assert bool(r.step("is_meta").returned(0))
    with pytest.raises(StudentCheckFailed, match="Lin output 0 is a Tensor; expected"):
        r.step("out").returned(0)


def test_a_tensor_written_into_is_reported_like_an_array(tmp_path: Path) -> None:
    x = np.arange(1.0, 5.0)
    r = run(tmp_path, {"steps": [step("s", "scale_", tensor(x, "float32")),
                                 step("q", "square_sum", tensor(x, "float32"))]}, TORCH_STUDENT, "scale_")
    check_unmodified("t", r.step("q"), 0)
    with pytest.raises(StudentCheckFailed, match=r"t was modified in place \(4 of 4 entries changed\)"):
        check_unmodified("t", r.step("s"), 0)
    np.testing.assert_array_equal(r.step("s").arg_after(0), 2 * x)


def test_a_tensor_without_a_device_is_built_on_the_jobs_device(monkeypatch: pytest.MonkeyPatch) -> None:
    """``DEEPGRADE_DEVICE`` names it inside the sandbox (here: torch's ``meta`` device, which any
    machine has); absent, the CPU; a device the grader gives wins. Built as a leaf, with a ``.grad``."""
    monkeypatch.delenv("DEEPGRADE_DEVICE", raising=False)
    assert tensor(np.ones(2), "float32").build().device.type == "cpu"
    monkeypatch.setenv("DEEPGRADE_DEVICE", "meta")
    built = tensor(np.ones(2), "float32", requires_grad=True).build()
    assert built.device.type == "meta" and built.is_leaf and built.requires_grad
    assert tensor(np.ones(2), "float32", device="cpu").build().device.type == "cpu"


def test_a_value_the_sandbox_cannot_build_is_not_blamed_on_the_student(tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEEPGRADE_DEVICE", "no_such_device")
    with pytest.raises(ProbeFailed, match=r"^the grader's tensor could not be built: RuntimeError: .*no_such_device"
                                          r".*\(a problem in the grader, not in your code\)$"):
        run(tmp_path, {"steps": [step("d", "on_cpu", tensor(np.ones(2), "float32"))]}, TORCH_STUDENT, "on_cpu")


def test_tensor_arguments_are_checked_where_the_grader_writes_them() -> None:
    with pytest.raises(ValueError, match="expected one of float16"):
        tensor(np.ones(2), "complex64")
    with pytest.raises(ValueError, match="only floating-point tensors have gradients"):
        tensor(np.ones(2), "int64", requires_grad=True)
    with pytest.raises(ValueError, match="expected None"):
        tensor(np.ones(2), "float32", device="tpu")
    with pytest.raises(TypeError, match="must be numeric"):
        tensor(np.array(["a"]), "float32")


# --- trusted models -----------------------------------------------------------------------------


def test_a_students_trainer_drives_a_trusted_model_whose_state_the_grader_reads(tmp_path: Path) -> None:
    rng = np.random.default_rng(2)
    X, y, W, b = rng.standard_normal((6, 3)), rng.integers(0, 4, 6), rng.standard_normal((3, 4)), np.zeros(4)
    r = run(tmp_path, {"steps": [
        step("train", "train", trusted_model("least_squares", W=W, b=b, reg=0.1), X, y, 3, 0.5),
        read("params", ref("train").arg(0).attr("params")),
        step("err", "errors_of", ref("train").arg(0), X, y),
        read("model", ref("train").arg(0)),
    ]}, call="train", repeats=2)  # the chain runs twice: the model must start from W, b each time
    model = r.step("train").args[0].build()
    losses = []
    for _ in range(3):
        loss, grads = model.loss(X, y)
        losses.append(loss)
        model.params = {k: model.params[k] - 0.5 * grads[k] for k in model.params}
    np.testing.assert_allclose(r.step("train").returned(0), losses, rtol=1e-12)
    np.testing.assert_allclose(r.step("params").entry(0, "W"), model.W, rtol=1e-12)
    assert float(r.step("err").returned(0)) == model.errors(X, y)
    with pytest.raises(StudentCheckFailed, match="output 0 is a LeastSquaresClassifier; expected numbers"):
        r.step("model").returned(0)  # the model itself stays in the sandbox
    np.testing.assert_array_equal(r.step("train").args[0].params["W"], W)  # the grader's record is untouched


def test_trusted_models_are_named_and_built_from_numbers_only() -> None:
    with pytest.raises(KeyError, match="no trusted model 'mlp'; known: least_squares, least_squares_captioner"):
        trusted_model("mlp", W=np.ones(2))
    with pytest.raises(TypeError, match="missing a required argument: 'b'"):
        trusted_model("least_squares", W=np.ones((2, 2)))
    with pytest.raises(TypeError, match="must be numeric"):
        trusted_model("least_squares", W=np.ones((2, 2)), b=np.array(["x", "y"]))


# --- across the boundary, and in the cache key ------------------------------------------------------


def test_every_kind_travels_as_names_in_json_and_numbers_in_npz(tmp_path: Path) -> None:
    made = {"steps": [step("s", "f", dtype("float64"), generator(2**63 + 5), tensor(np.ones(3), "int64", device="cpu"),
                           trusted_model("least_squares", W=np.ones((2, 3)), b=np.zeros(3), reg=0.5))]}
    write_probes(tmp_path, [{"name": "p", "call": "f", "methods": [], "attrs": [], "timeout": 5}], {"p": made})
    args = json.loads((tmp_path / PROBES_JSON).read_text())[0]["steps"][0]["args"]
    assert [next(iter(a)) for a in args] == ["dtype", "generator", "tensor", "model"]
    assert args[0]["dtype"] == {"name": "float64"} and args[2]["tensor"]["dtype"] == "int64"
    with np.load(tmp_path / PROBES_NPZ, allow_pickle=False) as data:
        assert int(data[args[1]["generator"]["seed"]]) == 2**63 + 5
        assert data[args[3]["model"]["params"]["reg"]].shape == () and data[args[2]["tensor"]["array"]].dtype == np.float64
    with pytest.raises(TypeError, match="a Generator is built in the sandbox by chained probes only"):
        write_probes(tmp_path, [{"name": "p", "call": "f"}], {"p": {"args": [generator(1)]}})


def test_the_probe_cache_key_covers_each_kind_by_value() -> None:
    def key(value: object) -> str:
        return inputs_digest({"p": {"steps": [step("s", "f", value)]}})

    W, b = np.ones((2, 3)), np.zeros(3)
    variants = [dtype("float64"), dtype("float32"), generator(1), generator(2),
                tensor(np.ones(3), "float32"), tensor(np.ones(3), "float64"), tensor(np.ones(3), "float32", device="cpu"),
                tensor(np.ones(3), "float32", requires_grad=True), tensor(np.full(3, 2.0), "float32"),
                trusted_model("least_squares", W=W, b=b), trusted_model("least_squares", W=2 * W, b=b),
                trusted_model("least_squares", W=W, b=b, reg=0.1)]
    keys = [key(v) for v in variants]
    assert len(set(keys)) == len(keys)
    assert key(generator(1)) == keys[2] and key(trusted_model("least_squares", W=W.copy(), b=b)) == keys[9]


def test_torch_is_imported_only_by_a_chain_that_builds_a_tensor(tmp_path: Path) -> None:
    """The probe worker and a chain of every other kind leave torch unloaded (numpy units must not pay
    for it); a tensor loads it."""
    script = f"""
import sys
from pathlib import Path
import numpy as np
from pipelines.grade.api import dtype, generator, read, ref, step, tensor, trusted_model
from tests.grading.chains import run_chain
source = "import numpy as np\\ndef f(*args):\\n    return 1.0\\n"
made = {{"steps": [step("s", "f", dtype("float64"), generator(1), trusted_model("least_squares", W=np.ones((2, 2)), b=np.ones(2)))]}}
run_chain(Path({str(tmp_path)!r}), made, source, "f")
print("torch" in sys.modules)
run_chain(Path({str(tmp_path)!r}), {{"steps": [step("s", "f", tensor(np.ones(2), "float32"))]}}, source, "f")
print("torch" in sys.modules)
"""
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True,
                         cwd=Path(__file__).resolve().parents[2])
    assert out.stdout.split() == ["False", "True"], out.stderr

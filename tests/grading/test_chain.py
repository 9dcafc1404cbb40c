"""Chained probes (pipelines/grade/chain.py): several calls on the student's code in one process,
linked by references, with only plain outputs crossing back.

Each test builds a chain as a grader would and evaluates it as the engine does, without the sandbox
(``tests.grading.chains.run_chain``). (The sandbox itself is exercised by the unit and security
tests.) The values a chain has the sandbox build (dtypes, generators, tensors, trusted models) are
tested in test_chain_values.py.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from pipelines.grade.api import StudentCheckFailed, assign, check_unmodified, numgrad, read, ref, step
from pipelines.grade.probe_io import PROBES_JSON, load_inputs, write_probes
from pipelines.grade.probe_worker import ProbeFailed, call_probe, load_exports
from pipelines.grade.score import ProbeRun
from tests.grading.chains import run_chain

LAYERS = '''
import numpy as np

def scale_forward(x, param):
    out = x * param["s"]
    param["calls"] = param.get("calls", 0) + 1
    param["running"] = 0.5 * param.get("running", np.zeros(x.shape[1])) + 0.5 * x.mean(axis=0)
    return out, (x, param)

def scale_backward(dout, cache):
    x, param = cache
    return dout * param["s"]

def update(w, dw, config=None):
    config = {} if config is None else config
    config.setdefault("lr", 0.1)
    v = config.get("v", np.zeros_like(w))
    v = 0.9 * v - config["lr"] * dw
    config["v"] = v
    return w + v, config

class Net:
    def __init__(self, dims, reg=0.0):
        assert isinstance(dims, list), f"dims is a {type(dims).__name__}"
        self.reg = reg
        self.params = {"W": np.zeros((dims[0], dims[1]))}

    def loss(self, X, y=None):
        scores = X @ self.params["W"]
        if y is None:
            return scores
        loss = 0.5 * np.sum((scores - y) ** 2) + 0.5 * self.reg * np.sum(self.params["W"] ** 2)
        return loss, {"W": X.T @ (scores - y) + self.reg * self.params["W"]}

    def broken(self, X):
        raise ValueError("shapes do not match")
'''


def run(tmp_path: Path, made: dict[str, Any], source: str = LAYERS, call: str = "scale_forward") -> ProbeRun:
    """The chain ``made`` evaluated on ``source`` through the real input files and result parsing."""
    return run_chain(tmp_path, made, source, call)


def test_a_backward_pass_gets_its_forward_cache_which_never_leaves_the_sandbox(tmp_path: Path) -> None:
    x, dout = np.arange(6.0).reshape(2, 3), np.ones((2, 3))
    r = run(tmp_path, {"steps": [step("fwd", "scale_forward", x, {"s": 2.0}),
                                 step("bwd", "scale_backward", dout, ref("fwd").out(1))]})
    np.testing.assert_array_equal(r.step("fwd").returned(0), 2 * x)
    np.testing.assert_array_equal(r.step("bwd").returned(0), 2 * dout)
    with pytest.raises(StudentCheckFailed, match=r"scale_forward output 1 is a tuple; expected numbers"):
        r.step("fwd").returned(1)
    with pytest.raises(StudentCheckFailed, match=r"scale_backward returned 1 value\(s\); expected at least 2"):
        r.step("bwd").returned(1)


def test_a_dict_argument_updated_in_place_is_the_same_object_for_the_next_step_and_can_be_read(tmp_path: Path) -> None:
    x1, x2 = np.full((4, 2), 2.0), np.full((4, 2), 6.0)
    r = run(tmp_path, {"steps": [
        step("first", "scale_forward", x1, {"s": 1.0}),
        step("second", "scale_forward", x2, ref("first").arg(1)),
        read("param", ref("second").arg(1)),
    ]})
    param = r.step("param").entries(0)
    assert int(param["calls"]) == 2
    np.testing.assert_allclose(param["running"], [3.5, 3.5])  # 0.5 * (0.5 * 2) + 0.5 * 6
    with pytest.raises(StudentCheckFailed, match="output 0 is a dict; expected numbers"):
        r.step("param").returned(0)


def test_a_config_dict_travels_from_call_to_call_and_comes_back_by_key(tmp_path: Path) -> None:
    w, dw = np.ones(3), np.full(3, 2.0)
    r = run(tmp_path, {"steps": [step("s1", "update", w, dw, None),
                                 step("s2", "update", ref("s1").out(0), dw, ref("s1").out(1))]}, call="update")
    np.testing.assert_allclose(r.step("s1").entry(1, "v"), -0.2 * np.ones(3))
    np.testing.assert_allclose(r.step("s2").entry(1, "v"), (0.9 * -0.2 - 0.2) * np.ones(3))
    np.testing.assert_allclose(r.step("s2").returned(0), 1 - 0.2 - 0.38)
    assert float(r.step("s2").entry(1, "lr")) == 0.1
    with pytest.raises(StudentCheckFailed, match="output 1 has no entry 'm'"):
        r.step("s2").entry(1, "m")


def test_a_model_is_built_from_a_list_given_parameters_and_its_own_numeric_gradient_matches(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    X, y, W = rng.normal(size=(5, 3)), rng.normal(size=(5, 2)), rng.normal(size=(3, 2))
    r = run(tmp_path, {
        "steps": [step("net", "Net", [3, 2], reg=0.1),
                  assign("set", ref("net").attr("params"), {"W": W}),
                  step("loss", ref("net").attr("loss"), X, y),
                  step("scores", ref("net").attr("loss"), X)],
        "numeric_grad": numgrad(of=("loss", 0), wrt=("set", 1, "W"), k=6),
    }, call="Net")
    dW = r.step("loss").entry(1, "W")
    np.testing.assert_allclose(dW, X.T @ (X @ W - y) + 0.1 * W)
    np.testing.assert_allclose(r.numeric_grad, dW[r.numeric_grad_index], rtol=1e-6)
    np.testing.assert_allclose(r.step("scores").returned(0), X @ W)
    assert r.step("loss").label == "Net.loss"
    with pytest.raises(StudentCheckFailed, match="Net output 0 is a Net; expected"):
        r.step("net").returned(0)


def test_a_weighted_numeric_gradient_of_an_array_output(tmp_path: Path) -> None:
    x, dout = np.arange(6.0).reshape(2, 3), np.arange(6.0, 12.0).reshape(2, 3)
    r = run(tmp_path, {"steps": [step("fwd", "scale_forward", x, {"s": 3.0})],
                       "numeric_grad": numgrad(of=("fwd", 0), wrt=("fwd", 0), weights=dout, k=4)})
    np.testing.assert_allclose(r.numeric_grad, (3.0 * dout)[r.numeric_grad_index], rtol=1e-6)


def test_an_input_written_into_is_reported_for_that_step(tmp_path: Path) -> None:
    source = LAYERS + "\ndef bad_backward(dout, cache):\n    dout *= 2\n    return dout\n"
    dout = np.ones((2, 3))
    r = run(tmp_path, {"steps": [step("fwd", "scale_forward", np.ones((2, 3)), {"s": 2.0}),
                                 step("bwd", "bad_backward", dout, ref("fwd").out(1))]}, source)
    check_unmodified("x", r.step("fwd"), 0)
    with pytest.raises(StudentCheckFailed, match=r"dout was modified in place \(6 of 6 entries changed\)"):
        check_unmodified("dout", r.step("bwd"), 0)


def test_a_failing_step_names_the_method_with_its_class(tmp_path: Path) -> None:
    with pytest.raises(ProbeFailed) as failed:
        run(tmp_path, {"steps": [step("net", "Net", [3, 2]), step("b", ref("net").attr("broken"), np.ones((1, 3)))]},
            call="Net")
    assert failed.value.outcome == "error"
    assert str(failed.value).startswith("Net.broken raised ValueError: shapes do not match at `raise ValueError(")


def test_an_array_where_a_list_is_expected_is_not_silently_converted(tmp_path: Path) -> None:
    with pytest.raises(ProbeFailed, match="dims is a ndarray"):
        run(tmp_path, {"steps": [step("net", "Net", np.asarray([3, 2]))]}, call="Net")


def test_a_name_the_export_cells_do_not_define(tmp_path: Path) -> None:
    with pytest.raises(ProbeFailed, match="scale_backward is not defined in your export cells"):
        run(tmp_path, {"steps": [step("bwd", "scale_backward", np.ones(2), None)]}, "import numpy as np\n")


def test_step_names_are_unique(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="step names must be unique"):
        run(tmp_path, {"steps": [step("a", "update", np.ones(2), np.ones(2)), step("a", "update", np.ones(2), np.ones(2))]})


def test_the_probe_cache_key_covers_a_chain_by_value() -> None:
    """The probe layer's key (``inputs_digest``) reads a chain's recipe and every array in it: the same
    inputs give the same key, a changed array, reference or numeric-gradient entry another one."""
    from pipelines.grade.fingerprint import inputs_digest

    def made(x0: float = 1.0, out: int = 1, k: int = 3) -> dict:
        x = np.full((2, 3), x0)
        return {"p": {"steps": [step("fwd", "scale_forward", x, {"s": 2.0}),
                                step("bwd", "scale_backward", np.ones((2, 3)), ref("fwd").out(out))],
                      "numeric_grad": numgrad(of=("fwd", 0), wrt=("fwd", 0), weights=np.ones((2, 3)), k=k),
                      "numgrad_idx": [np.zeros((k, 2), dtype=int)]}}

    key = inputs_digest(made())
    assert key == inputs_digest(made())
    assert len({key, inputs_digest(made(x0=2.0)), inputs_digest(made(out=0)), inputs_digest(made(k=4))}) == 4


def test_a_timed_chain_with_repeats_runs_the_whole_chain_that_many_times(tmp_path: Path) -> None:
    """The worker divides a timed probe's seconds by ``repeats``: a chain must then run that often."""
    source = LAYERS + "\nCALLS = []\ndef counted(x):\n    CALLS.append(1)\n    return float(len(CALLS))\n"
    spec = {"name": "p", "call": "counted", "methods": [], "attrs": [], "timeout": 5, "numeric_grad": None, "repeats": 4}
    made = {"steps": [step("a", "counted", np.ones(2)), step("b", "counted", np.ones(2))]}
    write_probes(tmp_path, [spec], {"p": made})
    manifest = json.loads((tmp_path / PROBES_JSON).read_text())[0]
    arrays = call_probe(load_exports(source), manifest, load_inputs(tmp_path, "p"))
    assert float(arrays["step/b/ret/0"]) == 8.0  # 4 runs of 2 steps; the outputs are the last run's

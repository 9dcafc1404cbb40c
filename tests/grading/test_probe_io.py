"""The trust boundary: what the sandbox sent is read back as plain numbers or reported, never executed."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest

from pipelines.execute.channel import ChannelError, parse
from pipelines.grade.probe_io import load_inputs, parse_result, write_probes


def _npz(**arrays: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


def test_inputs_round_trip_with_python_scalars(tmp_path: Path) -> None:
    spec = {"name": "p", "call": "f", "methods": [], "attrs": [], "timeout": 1, "numeric_grad": None}
    x = np.arange(6.0).reshape(2, 3)
    write_probes(tmp_path, [spec], {"p": {"args": [x, 0.5, 3, np.float64(2.0), True]}})
    args = load_inputs(tmp_path, "p")["args"]
    np.testing.assert_array_equal(args[0], x)
    assert [type(a) for a in args[1:]] == [float, int, float, bool]


def test_an_unknown_outcome_is_an_error_not_a_pass() -> None:
    r = parse_result("p", "f", {"outcome": "passed!", "seconds": 0.1}, _npz(**{"ret/0": np.ones(2)}))
    assert r.outcome == "error" and "could not be read back" in r.error


def test_garbage_payload_is_reported_not_raised() -> None:
    r = parse_result("p", "f", {"outcome": "ok"}, b"PK\x03\x04 not a zip")
    assert r.outcome == "error" and "could not be read back" in r.error


def test_pickled_objects_are_refused() -> None:
    payload = _npz(**{"ret/0": np.array([object()], dtype=object)})
    assert "could not be read back" in parse_result("p", "f", {"outcome": "ok"}, payload).error


def test_non_numeric_arrays_are_refused() -> None:
    assert "not numeric" in parse_result("p", "f", {"outcome": "ok"}, _npz(**{"ret/0": np.array(["a", "b"])})).error


def test_numeric_results_are_ordered() -> None:
    arrays = {f"ret/{i}": np.full(2, i) for i in range(12)} | {"attr/W": np.eye(2), "method/train/0": np.ones(3)}
    r = parse_result("p", "f", {"outcome": "ok", "seconds": 0.25}, _npz(**arrays))
    assert r.error is None and r.seconds == 0.25
    assert [int(a[0]) for a in r.returned] == list(range(12))
    assert r.attrs["W"].shape == (2, 2) and r.methods["train"][0].shape == (3,)


def test_a_failed_probe_keeps_its_typed_outcome_whatever_its_message_says() -> None:
    """A student's message that mentions time does not make an error a timeout, and vice versa."""
    r = parse_result("p", "f", {"outcome": "error", "message": "f raised TimeoutError: timed out"}, b"")
    assert r.outcome == "error"
    r = parse_result("p", "f", {"outcome": "timeout", "message": "f did not finish within 4 s"}, b"")
    assert r.outcome == "timeout"


@pytest.mark.parametrize("data", [b"no newline", b'{"nbytes": 5}\nabc', b"[1, 2]\n", b'{"nbytes": -1}\n', b"\xff\xfe\n"])
def test_malformed_reports_raise_channel_error(data: bytes) -> None:
    with pytest.raises(ChannelError):
        parse(data)


def _module(source: str) -> object:
    from pipelines.grade.probe_worker import load_exports

    return load_exports(source)


def test_catalogue_functions_and_keywords_cross_the_boundary_as_numbers(tmp_path: Path) -> None:
    from pipelines.grade.api import fn

    spec = {"name": "p", "call": "f", "methods": [], "attrs": [], "timeout": 1, "numeric_grad": None}
    a = np.array([[2.0, 1.0], [0.0, 4.0]])
    write_probes(tmp_path, [spec], {"p": {"args": [fn("quadratic", a, np.ones(2)), np.array([1.0, -1.0])],
                                          "kwargs": {"h": 1e-6}}})
    inputs = load_inputs(tmp_path, "p")
    f, x = inputs["args"]
    assert inputs["kwargs"] == {"h": 1e-6} and isinstance(inputs["kwargs"]["h"], float)
    assert f(x) == pytest.approx(0.5 * x @ a @ x + x.sum())
    with np.load(tmp_path / "probes.npz", allow_pickle=False) as data:  # nothing but numbers on disk
        assert all(data[k].dtype.kind in "biuf" for k in data.files)


def test_an_argument_written_into_comes_back_as_the_call_left_it() -> None:
    from pipelines.grade.probe_worker import call_probe

    module = _module("def f(x, dout):\n    dout[0] = 9.0\n    return x.sum()\n")
    spec = {"call": "f", "methods": [], "attrs": [], "numeric_grad": None}
    x, dout = np.ones(3), np.zeros(3)
    arrays = call_probe(module, spec, {"args": [x, dout]})
    assert set(arrays) == {"ret/0", "after/args/1"}
    np.testing.assert_array_equal(arrays["after/args/1"], [9.0, 0.0, 0.0])
    np.testing.assert_array_equal(dout, np.zeros(3))  # the probe's own inputs stay pristine
    r = parse_result("p", "f", {"outcome": "ok"}, _npz(**arrays))
    assert list(r.after) == ["args"] and list(r.after["args"]) == [1]


def test_check_unmodified_names_what_was_written_into() -> None:
    from pipelines.grade.api import StudentCheckFailed, check_unmodified
    from pipelines.grade.probe_io import ProbeResult
    from pipelines.grade.score import ProbeRun

    dout = np.zeros(4)
    written = ProbeResult("p", "relu_backward", after={"args": {0: np.array([0.0, 1.0, 0.0, 2.0])}})
    with pytest.raises(StudentCheckFailed, match=r"dout was modified in place \(2 of 4 entries changed\)"):
        check_unmodified("dout", ProbeRun({"args": [dout]}, written), 0)
    check_unmodified("dout", ProbeRun({"args": [dout]}, ProbeResult("p", "relu_backward")), 0)


def test_strings_none_and_constructor_keywords_reach_a_class(tmp_path: Path) -> None:
    from pipelines.grade.probe_worker import call_probe

    spec = {"name": "p", "call": "Layer", "methods": [], "attrs": ["n"], "timeout": 1, "numeric_grad": None}
    write_probes(tmp_path, [spec], {"p": {"init": [3, None], "init_kwargs": {"activation": "sigmoid"}}})
    inputs = load_inputs(tmp_path, "p")
    assert inputs == {"init": [3, None], "init_kwargs": {"activation": "sigmoid"}}
    module = _module("class Layer:\n    def __init__(self, n, rng, activation='tanh'):\n"
                     "        assert rng is None and activation == 'sigmoid'\n        self.n = n\n")
    assert call_probe(module, spec, inputs)["attr/n"] == 3  # attributes alone take the class path


def test_a_students_error_names_the_method_with_its_class() -> None:
    from pipelines.grade.probe_worker import call_probe, student_error

    module = _module("class Net:\n    def __init__(self, n):\n        raise NotImplementedError\n"
                     "def make_net(n):\n    return Net(n)\n")
    spec = {"call": "make_net", "methods": [], "attrs": [], "numeric_grad": None}
    try:
        call_probe(module, spec, {"args": [3]})
    except NotImplementedError as exc:
        outcome, message = student_error(exc, "make_net")
    else:
        raise AssertionError("the probe should have raised")
    assert outcome == "not_implemented"
    assert message.startswith("Net.__init__ is not implemented yet (make_net calls it)"), message


def test_check_unmodified_reports_a_reshape_as_the_students_fault() -> None:
    from pipelines.grade.api import StudentCheckFailed, check_unmodified
    from pipelines.grade.probe_io import ProbeResult
    from pipelines.grade.score import ProbeRun

    x = np.zeros((2, 3))
    reshaped = ProbeResult("p", "affine_forward", after={"args": {0: np.zeros(6)}})
    with pytest.raises(StudentCheckFailed, match=r"x was reshaped in place \(from \(2, 3\) to \(6,\)\)"):
        check_unmodified("x", ProbeRun({"args": [x]}, reshaped), 0)

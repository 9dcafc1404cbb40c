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

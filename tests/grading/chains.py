"""A chained probe evaluated as the engine evaluates it, without the sandbox (tests/grading/test_chain*.py).

The grader's recipe is written by the real ``write_probes``, read back by ``load_inputs`` as the
sandbox does, evaluated by the probe worker's ``call_probe`` on a small student module, and its
result read back through ``parse_result`` and ``ProbeRun`` as the scoring process does.
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import numpy as np

from pipelines.grade.probe_io import PROBES_JSON, load_inputs, parse_result, write_probes
from pipelines.grade.probe_worker import call_probe, load_exports
from pipelines.grade.score import ProbeRun


def npz(arrays: dict[str, np.ndarray]) -> bytes:
    buf = io.BytesIO()
    np.savez(buf, **arrays)  # type: ignore[arg-type]
    return buf.getvalue()


def run_chain(tmp_path: Path, made: dict[str, Any], source: str, call: str, **spec: Any) -> ProbeRun:
    """The chain ``made`` evaluated on ``source`` through the real input files and result parsing;
    ``spec`` adds to the probe's spec (e.g. ``repeats``)."""
    if made.get("numeric_grad") is not None:  # as make_probes picks the entries
        from pipelines.grade.chain import wrt_array

        shape = np.shape(wrt_array(list(made["steps"]), made["numeric_grad"].wrt))
        made["numgrad_idx"] = [np.stack([np.arange(made["numeric_grad"].k) % n for n in shape], axis=1)]
    spec = {"name": "p", "call": call, "methods": [], "attrs": [], "timeout": 5, "numeric_grad": None, **spec}
    write_probes(tmp_path, [spec], {"p": made})
    manifest = json.loads((tmp_path / PROBES_JSON).read_text())[0]
    arrays = call_probe(load_exports(source), manifest, load_inputs(tmp_path, "p"))
    raw = parse_result("p", call, {"outcome": "ok"}, npz(arrays))
    assert raw.outcome == "ok", raw.error
    return ProbeRun(made, raw)

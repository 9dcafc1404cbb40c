"""What each cache layer keys on: exactly the inputs that can change it, and nothing else."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

import gradcheck
import pipelines
from pipelines.execute import device
from pipelines.grade.fingerprint import Fingerprints, engine_files, grading_engine_files, inputs_digest
from pipelines.grade.intake import Submission
from pipelines.grade.job import Job
from pipelines.grade.probing import make_probes
from pipelines.grade.unit import Unit
from pipelines.params import _load
from tests.grading import toy
from tests.grading.conftest import FAST_LIMITS, REPO

ENGINE = Path(pipelines.__file__).resolve().parent


def relative(files: list[Path]) -> set[str]:
    return {f.relative_to(ENGINE).as_posix() for f in files if ENGINE in f.parents}


def test_code_that_grades_is_part_of_the_key() -> None:
    """The sandbox runner, the probe worker, the scoring and the loaders and kit that notebooks import."""
    assert {"execute/sandbox.py", "execute/run_notebook.py", "grade/execution.py", "grade/probing.py",
            "grade/probe_worker.py", "grade/score.py", "grade/submission.py", "data/loaders.py", "kit/export.py",
            "params.py"} <= relative(grading_engine_files())
    assert Path(gradcheck.__file__).resolve() in grading_engine_files()


def test_reports_and_other_commands_are_not() -> None:
    """Feedback and class reports are rebuilt from cached results, so editing them must not regrade."""
    files = relative(grading_engine_files())
    assert not any(f.startswith("report/") for f in files)
    assert not {"cli.py", "release.py", "validate.py", "check.py", "examples.py", "export_check.py", "replay.py",
                "similarity.py", "similarity_report.py"} & files


def test_probe_and_scoring_code_do_not_key_the_execution() -> None:
    execution = relative(engine_files("execution"))
    assert "execute/run_notebook.py" in execution and Path(gradcheck.__file__).resolve() in engine_files("execution")
    assert {"grade/execution.py", "grade/notebook.py", "grade/job.py"} <= execution
    assert not {"grade/probe_worker.py", "grade/probing.py", "grade/score.py", "grade/api.py", "grade/submission.py"} & execution
    assert relative(engine_files("probes")) == {"grade/probe_worker.py", "grade/probe_io.py", "grade/probing.py",
                                                "grade/probe_functions.py", "grade/chain.py", "grade/probe_values.py",
                                                "grade/probe_models.py"}
    assert "grade/fidelity.py" not in relative(engine_files("execution") + engine_files("scores"))


def _keys(root: Path) -> dict[str, str]:
    """The three layer keys of one toy submission, computed afresh from the files as they are now."""
    _load.cache_clear()
    unit = Unit.load(toy.UNIT)
    keys = Fingerprints(unit)
    student = root / "submitted" / "keyed" / toy.UNIT
    digest = Submission.read(student, unit.notebooks).digest
    execution = keys.execution(digest)
    job = Job(unit, "keyed", root / "job-keys", root, int(unit.params["seed"]), digest)
    specs, inputs = make_probes(job)
    return {"execution": execution, "probes": keys.probes(execution, specs, inputs_digest(inputs)),
            "scores": keys.scores("keyed", execution)}


def _changed(before: dict[str, str], after: dict[str, str]) -> set[str]:
    return {layer for layer in before if before[layer] != after[layer]}


@pytest.fixture()
def keyed(toy_root: Path) -> Path:
    toy.submission(toy_root, "keyed")
    (toy_root / "reference").mkdir(exist_ok=True)
    (toy_root / "reference" / "__init__.py").write_text('"""A stand-in reference package."""\n')
    return toy_root


def test_keys_are_stable(keyed: Path) -> None:
    assert _keys(keyed) == _keys(keyed)


def test_a_grader_test_edit_invalidates_scores_only(keyed: Path) -> None:
    grader = keyed / "assignments" / toy.UNIT / "graders" / "test_quad.py"
    before, text = _keys(keyed), grader.read_text()
    grader.write_text(text.replace('"""quad: the value on random inputs."""', '"""quad: its value on random inputs."""'))
    try:
        assert _changed(before, _keys(keyed)) == {"scores"}
    finally:
        grader.write_text(text)


def test_a_probe_edit_invalidates_probes_and_scores(keyed: Path) -> None:
    grader = keyed / "assignments" / toy.UNIT / "graders" / "test_quad.py"
    before, text = _keys(keyed), grader.read_text()
    grader.write_text(text.replace("rng.standard_normal(6), rng.random(6)", "rng.standard_normal(7), rng.random(7)"))
    try:
        assert _changed(before, _keys(keyed)) == {"probes", "scores"}
    finally:
        grader.write_text(text)


EXTRA_PROBE = """

@probe("quad")
def quad_extra(rng):
    return {"args": [rng.standard_normal(3), rng.random(3)]}
"""


def _fresh_process_keys(root: Path) -> dict[str, str]:
    """``_keys`` computed by a new Python process, which has imported no grader before."""
    code = ("import json; from pathlib import Path; from tests.grading.test_fingerprint import _keys; "
            f"print(json.dumps(_keys(Path({str(root)!r}))))")
    done = subprocess.run([sys.executable, "-c", code], cwd=Path(__file__).resolve().parents[2], capture_output=True,
                          text=True, env={**os.environ, "DEEPGRADE_ROOT": str(root)}, timeout=120, check=True)
    return json.loads(done.stdout.splitlines()[-1])


def test_a_unit_has_the_probes_its_grader_files_declare_now(keyed: Path) -> None:
    """In one process (tests, benchmarks, fidelity checks), a probe renamed or deleted in a grader file
    is gone at the next load: it neither runs nor keys the probe layer."""
    grader = keyed / "assignments" / toy.UNIT / "graders" / "test_quad.py"
    text = grader.read_text()
    original = _keys(keyed)

    def probe_names() -> list[str]:
        _load.cache_clear()
        return [p.name for p in Unit.load(toy.UNIT).probes]

    try:
        grader.write_text(text + EXTRA_PROBE)
        assert probe_names() == ["quad_extra", "quad_random"]
        grader.write_text(text + EXTRA_PROBE.replace("quad_extra", "quad_renamed"))
        assert probe_names() == ["quad_random", "quad_renamed"]
        grader.write_text(text)
        assert probe_names() == ["quad_random"]
        assert _keys(keyed) == original == _fresh_process_keys(keyed)
    finally:
        grader.write_text(text)


def test_a_threshold_edit_invalidates_scores_only(keyed: Path) -> None:
    params = keyed / "params.yaml"
    before, text = _keys(keyed), params.read_text()
    data = yaml.safe_load(text)
    data["units"][toy.UNIT]["tolerances"]["numeric"] = 1e-5
    params.write_text(yaml.safe_dump(data))
    try:
        assert _changed(before, _keys(keyed)) == {"scores"}
    finally:
        params.write_text(text)


def test_a_reference_edit_invalidates_scores_only(keyed: Path) -> None:
    ref = keyed / "reference" / "__init__.py"
    before = _keys(keyed)
    ref.write_text(ref.read_text() + "# edited\n")
    assert _changed(before, _keys(keyed)) == {"scores"}


def test_a_sandbox_limit_edit_invalidates_execution(keyed: Path) -> None:
    params = keyed / "params.yaml"
    before, text = _keys(keyed), params.read_text()
    data = yaml.safe_load(text)
    data["grading"]["sandbox"]["cell_timeout"] = 7
    params.write_text(yaml.safe_dump(data))
    try:
        assert _changed(before, _keys(keyed)) == {"execution", "probes", "scores"}
    finally:
        params.write_text(text)


def test_the_device_is_part_of_the_execution_and_probe_keys(keyed: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A grade made on a GPU is never reused on CPU, nor the reverse; ``auto`` keys by the device it resolved to."""
    params = keyed / "params.yaml"
    text = params.read_text()

    def keys_on(setting: str) -> dict[str, str]:
        data = yaml.safe_load(text)
        data["grading"]["device"] = setting
        params.write_text(yaml.safe_dump(data))
        return _keys(keyed)

    monkeypatch.setattr(device, "cuda_support", lambda: (False, "no GPU here"))
    try:
        cpu = keys_on("cpu")
        assert _changed(cpu, keys_on("auto")) == {"scores"}  # the same runs; only params.yaml's text differs
        monkeypatch.setattr(device, "cuda_support", lambda: (True, "a GPU, mocked"))
        cuda = keys_on("cuda")
        assert _changed(cpu, cuda) == {"execution", "probes", "scores"}
        assert _changed(cuda, keys_on("auto")) == {"scores"}
    finally:
        params.write_text(text)


def test_an_edited_submission_invalidates_everything(keyed: Path) -> None:
    before = _keys(keyed)
    toy.submission(keyed, "keyed", body="import numpy as np\ndef quad(x, w):\n    return 0.0, w * x\n")
    try:
        assert _changed(before, _keys(keyed)) == {"execution", "probes", "scores"}
    finally:
        toy.submission(keyed, "keyed")


def test_identical_notebooks_of_two_students_run_once_and_keep_their_own_grades(tmp_path: Path,
                                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """The execution layer is keyed by the submitted bytes, not the student (``validate``'s run of the
    source serves the ``full`` example); probes and scores stay per student (seeds, results.json)."""
    from pipelines.grade.batch import autograde
    from pipelines.grade.cache import LayerCache

    toy.make_project(tmp_path, yaml.safe_load((REPO / "params.yaml").read_text()), FAST_LIMITS)
    monkeypatch.setenv("DEEPGRADE_ROOT", str(tmp_path))
    monkeypatch.delenv("DEEPGRADE_DATA_DIR", raising=False)
    monkeypatch.delenv("DEEPGRADE_CACHE_DIR", raising=False)
    _load.cache_clear()
    first = toy.submission(tmp_path, "twin_a")
    toy.submission(tmp_path, "twin_b", raw=first.read_bytes())  # the same bytes (new cells get new random ids)
    summary = autograde(toy.UNIT, tmp_path / "submitted", tmp_path / "graded", workers=1)
    layers = LayerCache(toy.UNIT).base
    assert (summary.graded, summary.failed) == (2, 0)
    assert [len(list((layers / layer).iterdir())) for layer in ("execution", "probes", "scores")] == [1, 2, 2]
    for student in ("twin_a", "twin_b"):
        result = yaml.safe_load((tmp_path / "graded" / student / "results.json").read_text())
        assert (result["student_id"], result["score"]) == (student, 5)
    _load.cache_clear()

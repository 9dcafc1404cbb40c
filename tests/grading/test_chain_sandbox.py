"""Values a chain has the sandbox build, graded end to end through the real sandbox.

The toy unit's students also write ``sgd``, a tiny ``train(model, X, y, steps, lr)`` loop, a
``StudentSoftmax`` model (float32 unless given a dtype) and a masking-noise ``corrupt(x, level, rng)``.
Its graders drive the student's trainer on a trusted least-squares classifier (``trusted_model``), check the
student's model on its own at float64 (``dtype``), replay the student's noise on a seeded generator
(``generator``), and, for contrast, drive the same trainer on the student's own model. A bug in the
student's model then costs the model's check and the contrast, never the trainer's check on the
trusted model; a bug in ``sgd`` costs both trainer checks and nothing of the model's.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from pipelines.grade.batch import autograde
from tests.grading import toy
from tests.grading.conftest import FAST_LIMITS, REPO

STUDENT = '''
import numpy as np


def quad(x, w):
    return 0.5 * float(np.sum(w * x * x)), w * x


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


class StudentSoftmax:
    def __init__(self, W, b, dtype=np.float32):
        self.dtype = dtype
        self.params = {"W": W.astype(dtype), "b": b.astype(dtype)}

    def loss(self, X, y):
        scores = X.astype(self.dtype) @ self.params["W"] + self.params["b"]
        scores = scores - scores.max(axis=1, keepdims=True)
        p = np.exp(scores) / np.exp(scores).sum(axis=1, keepdims=True)
        n = X.shape[0]
        loss = -np.mean(np.log(p[np.arange(n), y]))
        d = p.copy()
        d[np.arange(n), y] -= 1
        d /= n
        return loss, {"W": X.T @ d, "b": d.sum(axis=0)}


def corrupt(x, level, rng):
    return x * (rng.random(x.shape) >= level)
'''

BUGS = {"model_bug": ("        d /= n\n", ""),
        "sgd_bug": ('return w - config["learning_rate"] * dw', 'return w + config["learning_rate"] * dw')}

GRADER = '''
"""The student's trainer on a trusted model and on their own, their model at float64, their noise."""
import numpy as np

from pipelines.grade.api import check_close, check_true, dtype, generator, points, probe, read, ref, step, trusted_model


def _problem(rng):
    X, y = rng.standard_normal((8, 3)), rng.integers(0, 4, 8)
    return X, y, 0.1 * rng.standard_normal((3, 4)), 0.1 * rng.standard_normal(4)


@probe("train")
def train_trusted(rng):
    X, y, W, b = _problem(rng)
    return {"steps": [step("train", "train", trusted_model("least_squares", W=W, b=b), X, y, 4, 0.5),
                      read("params", ref("train").arg(0).attr("params"))]}


@probe("train")
def train_own(rng):
    X, y, W, b = _problem(rng)
    return {"steps": [step("model", "StudentSoftmax", W, b, dtype=dtype("float64")),
                      step("train", "train", ref("model"), X, y, 4, 0.5),
                      read("params", ref("model").attr("params"))]}


@probe("StudentSoftmax")
def model_alone(rng):
    X, y, W, b = _problem(rng)
    return {"steps": [step("model", "StudentSoftmax", W, b, dtype=dtype("float64")),
                      step("loss", ref("model").attr("loss"), X, y),
                      read("dtype", ref("model").attr("dtype"))]}


@probe("corrupt")
def corrupt_seeded(rng):
    return {"steps": [step("c", "corrupt", rng.random((6, 5)) + 1.0, 0.4, generator(int(rng.integers(2**32))))]}


def _softmax(params, X, y):
    """The toy course's softmax classifier: mean cross-entropy and its gradients."""
    scores = X @ params["W"] + params["b"]
    p = np.exp(scores - scores.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    d = (p - np.eye(p.shape[1])[y]) / len(y)
    return -np.mean(np.log(p[np.arange(len(y)), y])), {"W": X.T @ d, "b": d.sum(axis=0)}


def _trusted(record):
    """The loss of the grader's copy of the trusted model, at given parameters."""
    model = record.build()

    def loss(params, X, y):
        model.params = params
        return model.loss(X, y)

    return loss


def _train(loss, params, X, y, num_steps, lr):
    """The losses and final parameters of ``num_steps`` SGD steps from ``params``."""
    losses = []
    for _ in range(num_steps):
        value, grads = loss(params, X, y)
        losses.append(value)
        params = {k: params[k] - lr * grads[k] for k in params}
    return losses, params


@points(1, cell="check_quad")
def test_trainer(result, tolerance):
    """train: four SGD steps on a trusted least-squares classifier (the losses and the trained weights)."""
    run = result("train_trusted")
    record, *rest = run.step("train").args
    losses, params = _train(_trusted(record), record.build().params, *rest)
    check_close("losses", run.step("train").returned(0), losses, tolerance("value"))
    check_close("W after training", run.step("params").entry(0, "W"), params["W"], tolerance("value"))


@points(1, cell="check_quad")
def test_trainer_on_own_model(result, tolerance):
    """train: four SGD steps on your StudentSoftmax (the weights after training)."""
    run = result("train_own")
    W, b = run.step("model").args
    _, params = _train(_softmax, {"W": W, "b": b}, *run.step("train").args[1:])
    check_close("W after training", run.step("params").entry(0, "W"), params["W"], tolerance("value"))


@points(1, cell="check_quad")
def test_student_model(result, tolerance):
    """StudentSoftmax: loss and gradients at float64 on random inputs."""
    run = result("model_alone")
    W, b = run.step("model").args
    loss, grads = _softmax({"W": W, "b": b}, *run.step("loss").args)
    check_true(run.step("dtype").dtype(0) == "float64", "StudentSoftmax: the dtype given was not kept.")
    check_close("loss", run.step("loss").returned(0), loss, tolerance("value"))
    check_close("dW", run.step("loss").entry(1, "W"), grads["W"], tolerance("value"))


@points(1, cell="check_quad")
def test_corrupt(result, tolerance):
    """corrupt: the masking noise drawn from the generator it is given."""
    run = result("corrupt_seeded")
    x, level, rng = run.step("c").args
    check_close("corrupted x", run.step("c").returned(0), x * (rng.build().random(x.shape) >= level), tolerance("value"))
'''

TESTS = ("test_trainer", "test_trainer_on_own_model", "test_student_model", "test_corrupt")


@pytest.fixture(scope="module")
def graded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    root = tmp_path_factory.mktemp("trusted")
    unit = toy.make_project(root, yaml.safe_load((REPO / "params.yaml").read_text()), FAST_LIMITS)
    (unit / "graders" / "test_models.py").write_text(GRADER)
    toy.submission(root, "correct", STUDENT)
    for student, (old, new) in BUGS.items():
        assert STUDENT.count(old) == 1
        toy.submission(root, student, STUDENT.replace(old, new))
    with toy.engine_at(root):
        autograde(toy.UNIT, root / "submitted", root / "graded", workers=2)
        yield root / "graded"


def passed(out: Path, student: str) -> dict[str, bool]:
    tests = json.loads((out / student / "results.json").read_text())["tests"]
    return {t["name"]: t["status"] == "passed" for t in tests if t["name"] in TESTS}


def test_correct_work_passes_every_check(graded: Path) -> None:
    assert passed(graded, "correct") == dict.fromkeys(TESTS, True)


def test_a_bug_in_the_students_model_does_not_cost_the_trainers_check(graded: Path) -> None:
    assert passed(graded, "model_bug") == {"test_trainer": True, "test_trainer_on_own_model": False,
                                           "test_student_model": False, "test_corrupt": True}


def test_a_bug_in_the_update_rule_costs_the_trainer_only(graded: Path) -> None:
    assert passed(graded, "sgd_bug") == {"test_trainer": False, "test_trainer_on_own_model": False,
                                         "test_student_model": True, "test_corrupt": True}

"""Hidden graders of a09's train_step, the one training step every loop of the unit calls.

Why these checks: the step is graded on its own, on the book's first example given read-only in the
notebook (LinearModel, SumOfSquares, gradient_descent, restored from the source like every locked
cell), so that no bug of the student's models or loss costs its points (UNIT_STANDARD: one bug costs
its own points, once). The model is converted to float64 on the job's device (``model.to(tensor)``
takes both from a tensor), given random W and b and left in evaluation mode; three calls in a row on
random data must leave W and b where the reference's steps do (a step that never clears the gradients
goes wrong from the second call on, one that steps before backpropagating from the first), return
the loss before each update, and leave the model in training mode and X and y as they were.
"""

from __future__ import annotations

import numpy as np
import torch

from pipelines.grade.api import check_close, check_true, check_unmodified, points, probe, read, ref, step, tensor
from reference.torch.mnist_models import LinearModel, sum_of_squares, train_step

STEPS = 3
N = 6


@probe("train_step")
def train_three_steps(rng):
    # W and b exactly representable in float32: the given LinearModel builds its parameters in float32 before
    # the chain converts them to float64, so the reference (float64 from the start) starts from the same numbers.
    W, b = (float(np.float32(v)) for v in rng.uniform(-1.0, 1.0, 2))
    learning_rate = float(rng.uniform(0.01, 0.03))
    steps = [
        step("model", "LinearModel", W=W, b=b),
        step("to64", ref("model").attr("to"), tensor(np.zeros(1), "float64")),  # float64 on the job's device
        step("eval", ref("model").attr("eval")),
        step("parameters", ref("model").attr("parameters")),
        step("loss_fn", "SumOfSquares"),
        step("optimizer", "gradient_descent", ref("parameters"), learning_rate),
    ]
    for k in range(1, STEPS + 1):
        X, y = rng.standard_normal(N), rng.standard_normal(N)
        steps += [
            step(f"step{k}", "train_step", ref("model"), ref("loss_fn"), ref("optimizer"), tensor(X, "float64"),
                 tensor(y, "float64")),
            read(f"W{k}", ref("model").attr("W")),
            read(f"b{k}", ref("model").attr("b")),
            read(f"training{k}", ref("model").attr("training")),
        ]
    return {"steps": steps}


def _reference(run) -> list[tuple[float, float, float]]:
    """(loss before the step, W after, b after) of the reference's three steps on the same inputs."""
    model = LinearModel(W=run.step("model").kwargs["W"], b=run.step("model").kwargs["b"])
    optimizer = torch.optim.SGD(model.parameters(), lr=run.step("optimizer").args[1])
    out = []
    for k in range(1, STEPS + 1):
        X, y = (torch.from_numpy(a.array) for a in run.step(f"step{k}").args[3:5])
        loss = train_step(model, sum_of_squares, optimizer, X, y)
        out.append((loss, model.W.item(), model.b.item()))
    return out


@points(5, cell="check_train_step")
def test_train_step_updates_like_the_reference(result, tolerance):
    """train_step: W and b after each of three calls in a row (LinearModel, SumOfSquares, SGD, float64), as the
    reference's steps leave them; X and y left as they were."""
    run = result("train_three_steps")
    for k, (_, W, b) in enumerate(_reference(run), start=1):
        check_close(f"train_step: W after call {k} of {STEPS}", run.step(f"W{k}").returned(0), [W], tolerance("value"))
        check_close(f"train_step: b after call {k} of {STEPS}", run.step(f"b{k}").returned(0), [b], tolerance("value"))
    check_unmodified("train_step: X", run.step("step1"), 3)
    check_unmodified("train_step: y", run.step("step1"), 4)


@points(2, cell="check_train_step")
def test_train_step_returns_the_loss_before_the_update(result, tolerance):
    """train_step: returns each call's minibatch loss, computed before the update, as a number."""
    run = result("train_three_steps")
    for k, (loss, _, _) in enumerate(_reference(run), start=1):
        check_close(f"train_step: the loss returned by call {k} of {STEPS}", run.step(f"step{k}").returned(0), loss,
                    tolerance("value"))


@points(1, cell="check_train_step")
def test_train_step_trains_in_training_mode(result, tolerance):
    """train_step: a model left in evaluation mode is in training mode after the call (model.train()), and the
    step itself is right."""
    run = result("train_three_steps")
    check_true(bool(run.step("training1").returned(0)),
               "train_step: the model was in evaluation mode and still is after train_step: call model.train() "
               "(dropout is active only in training mode).")
    _, W, _ = _reference(run)[0]
    check_close("train_step: W after the first call", run.step("W1").returned(0), [W], tolerance("value"))

"""What every unit's notebook tells students (issue #21, UNIT_STANDARD.md "The notebook"):

- students derive: the released markdown holds none of the final expressions the unit teaches (the
  backward passes, the gradients; listed per unit below), so they do not simply move into the hints;
- the first cell has the table of parts with points (autograded and by hand) and run times on each
  profile, whose totals are the notebook's, and states which modules the export cells may import;
- every self-check cell has a `# Graded:` line (tests/fidelity checks it names what its probes call),
  and every hand-graded answer a rubric in the source, stripped from the release.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import nbformat
import pytest

from pipelines.grade import notebook as nbtools
from pipelines.release import release

REPO = Path(__file__).resolve().parents[2]

# The final expressions each unit teaches, as they could be written in its markdown (whitespace is
# ignored): none may appear in the released notebook's markdown cells.
DERIVED: dict[str, list[str]] = {
    "a00_backprop": [
        # the sigmoid's local gradient and the neuron's gradients
        r"\sigma(x)\,(1 - \sigma(x))", r"\sigma(x)(1-\sigma(x))", "(1 - s) * s", "s * (1 - s)", "s*(1-s)",
    ],
    "a06_cnn": [
        # the convolution's backward pass: naive, and as the products of im2col
        "dx_pad[n, :, rows, cols] += g * w[f]", "dw[f] += g * x_pad[n, :, rows, cols]", "db[f] += g",
        "dout.sum(axis=(0, 2, 3))", "np.sum(dout, axis=(0, 2, 3))", "drows.T @ rows", "drows @ w.reshape(F, -1)",
        r"\frac{\partial L}{\partial w[f, c, p, q]} =", r"\frac{\partial L}{\partial b[f]} =",
        r"\sum_{n, i, j} \text{dout}[n, f, i, j]",
        # max pooling's backward pass as code
        "dx[n, c, i * s + p, j * s + q] += dout[n, c, i, j]", "+= dout * (first == k)",
        # spatial batch normalization: the arrangement that makes each channel one column
        "x.transpose(0, 2, 3, 1).reshape(-1, C)", "reshape(N, H, W, C).transpose(0, 3, 1, 2)",
        # the regularization's gradient in ThreeLayerConvNet and LeNet
        "grads['W1'] += self.reg * W1", "reg * W",
    ],
    "a07_captioning": [
        # the RNN step's backward pass
        "dnext_h * (1 - next_h**2)", "dnext_h * (1 - next_h ** 2)", "dtanh @ Wx.T", "x.T @ dtanh", "dtanh.sum(axis=0)",
        # the LSTM step's backward pass
        "dnext_c + dnext_h * o * (1 - np.tanh(next_c)**2)", "dc * f", "di * g * (1 - i)",
        # the temporal softmax loss' gradient and the embedding's
        "(probs - onehot) / N", "np.add.at(dW, x, dout)",
    ],
    "a08_unsupervised": [
        # the dA's gradients through the tied weights (cross-entropy with a sigmoid output: z - x)
        "dz = (z - x)", "(z - x) / N", r"\tilde{x}^\top", "x_tilde.T @", "dy = dz @ W",
        # CD-k's update
        "ph_mean.T @ v0 - nh_mean.T @ vk",
    ],
    "a09_pytorch": [
        # the conversion of the book's TensorFlow weights (question 1): fc1's inputs from (H, W, C) to
        # (C, H, W) order, the convolutions' axes to (out, in, HH, WW)
        "reshape(7, 7, 64, 1024)", "transpose(3, 2, 0, 1)", "np.moveaxis(W_fc1",
        # which of nn.Linear's weights the numpy affine layer takes transposed (numpy_cnn_forward)
        'weights["fc1.weight"].T', 'weights["fc2.weight"].T', "fc1.weight.T", "fc2.weight.T",
    ],
    "a01_linear": [
        # the SVM's gradient rule and its vectorized recipe, the softmax gradient
        "adds `x_i` to column `j` of `dW`", "minus the count of positive margins", "`p - onehot(y_i)`",
        "`x_i * (p_j - [j == y_i])`", "`X.T` times the\n`(N, C)` matrix `p - onehot(y)`", "p - onehot(y)",
    ],
    "a03_fc_nets": [
        # the affine layer's backward pass
        r"\texttt{dout}\; W^\top", r"X^\top\, \texttt{dout}", r"\sum_{i=1}^N \texttt{dout}_i", "dout @ w.T",
        "x.T @ dout", "dout.sum(axis=0)",
        # ReLU's
        r"\texttt{dout} \odot \mathbb{1}[x > 0]", "dx = dout; dx[x <= 0] = 0", "dout where x > 0",
        # the SVM's gradient rule and the softmax gradient
        "adds $1/N$ to `dx[i, j]` and subtracts $1/N$ from `dx[i, y_i]`",
        r"\frac{1}{N}\left(p_{ij} - \mathbb{1}[j = y_i]\right)", "(P - Y) / N",
    ],
    "a04_regularization": [
        # dropout's backward pass
        r"\partial L / \partial x = \texttt{dout} \odot m", "dout * mask", "dout times the forward pass's mask",
    ],
    "a02_mnist_logreg_mlp": [
        # the softmax regression's gradients
        "(P - Y) / N", "(P-Y)/N", r"X^\top \frac{P - Y}{N}", r"\frac{P - Y}{N}\, W^\top", r"\sum_{i} \frac{(P - Y)_i}{N}",
        # the hidden layer's backward pass
        "da = dout * s'(a)", "dX = da @ W.T", "dW = X.T @ da", "db = da.sum(axis=0)", "tanh' = 1 - h**2",
        "sigmoid' = h * (1 - h)",
        # the penalties' gradients
        "its gradient is `2 * L2_reg * W`", "The gradient of `|w|` is `sign(w)`",
    ],
    "a05_optimization": [
        # the staged backward pass of batch normalization
        "dbeta = sum(dout)", "dgamma = sum(va2 * dout)", "dva2 = gamma * dout", "dinvvar = sum(xmu * dva2)",
        "dxmu1 = invvar * dva2", "dsqrtvar = -dinvvar / sqrtvar**2", "dvar = 0.5 * dsqrtvar / sqrtvar",
        "dcarre = dvar / N", "dxmu2 = 2 * xmu * dcarre", "dxmu = dxmu1 + dxmu2", "dmu = -sum(dxmu)", "dx = dxmu + dmu / N",
        # the closed form
        r"\frac{\partial L}{\partial \beta} = \sum_i \text{dout}_i", r"\frac{\partial L}{\partial \gamma} = \sum_i",
        r"\frac{\gamma}{N\sqrt{\sigma^2+\epsilon}}", r"N\,\text{dout}_i - \sum_j \text{dout}_j",
    ],
}


UNITS = sorted(p.parent.name for p in (REPO / "assignments").glob("*/assignment.yaml"))


def test_every_unit_lists_the_expressions_it_teaches() -> None:
    """A unit missing here would be checked for nothing: each lists its final expressions above."""
    assert set(DERIVED) == set(UNITS)


def squeezed(text: str) -> str:
    return re.sub(r"\s+", "", text)


@pytest.fixture(scope="module")
def released(tmp_path_factory: pytest.TempPathFactory) -> dict[str, nbformat.NotebookNode]:
    """Every unit's released notebook, made by ``deepgrade release`` in a throwaway project."""
    root = tmp_path_factory.mktemp("released")
    shutil.copytree(REPO / "assignments", root / "assignments")
    shutil.copy(REPO / "params.yaml", root / "params.yaml")
    shutil.copytree(REPO / "reference", root / "reference", ignore=shutil.ignore_patterns("__pycache__"))
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DEEPGRADE_ROOT", str(root))
        from pipelines.params import _load

        _load.cache_clear()
        notebooks = {unit: nbformat.read(release(unit) / f"{unit}.ipynb", as_version=4) for unit in UNITS}
        _load.cache_clear()
    return notebooks


@pytest.mark.parametrize("unit", UNITS)
def test_the_released_markdown_does_not_hand_out_the_derivations(unit: str, released: dict) -> None:
    markdown = squeezed("\n".join(c.source for c in released[unit].cells if c.cell_type == "markdown"))
    found = [expression for expression in DERIVED.get(unit, []) if squeezed(expression) in markdown]
    assert not found, f"{unit}'s released markdown gives away: {found}"


def source(unit: str) -> nbformat.NotebookNode:
    return nbformat.read(REPO / "assignments" / unit / f"{unit}.ipynb", as_version=4)


@pytest.mark.parametrize("unit", UNITS)
def test_the_first_cell_has_the_points_and_times_table_and_the_import_rule(unit: str) -> None:
    nb = source(unit)
    first = nb.cells[0].source
    assert re.search(r"^\| part \| autograded points \| points by hand \| run time \(ci / full\) \| working time \|$",
                     first, re.MULTILINE), "the first cell has no table of parts, points and times"
    total = re.search(r"^\| \*\*total\*\* \| \*\*(\d+)\*\* \| \*\*(\d+)\*\* \|", first, re.MULTILINE)
    assert total, "the table has no total row"
    autograded = sum(nbtools.cell_points(c) for c in nb.cells if nbtools.is_autograded_test(c))
    by_hand = sum(nbtools.cell_points(c) for c in nb.cells if nbtools.is_manually_graded(c))
    assert (int(total.group(1)), int(total.group(2))) == (autograded, by_hand)
    assert "**What your export cells may import.**" in first and "`itertools`" in first


@pytest.mark.parametrize("unit", UNITS)
def test_every_self_check_names_what_it_grades_and_every_answer_has_a_rubric(unit: str, released: dict) -> None:
    nb = source(unit)
    assert [nbtools.grade_id(c) for c in nb.cells if nbtools.is_autograded_test(c) and not nbtools.graded_names(c)] == []
    assert [nbtools.grade_id(c) for c in nb.cells if nbtools.is_manually_graded(c) and not nbtools.rubric(c)] == []
    assert not any("Rubric**" in c.source for c in released[unit].cells)

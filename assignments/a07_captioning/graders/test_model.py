"""Hidden graders of a07's ``CaptioningRNN``: its parameters, ``loss`` and ``sample``.

Why these checks: the student's model is built with their constructor (the parameters' pinned names,
shapes, dtypes and zero biases checked for both cell types, float32 by default and float64 when asked),
then given the grader's float64 parameters by assignment to ``model.params`` (a chained probe: the
model never leaves the sandbox). The loss is compared with ``reference.numpy`` and every gradient with
torch autograd through ``reference.torch.captioning_rnn_loss`` (torch's own RNN and LSTM), on captions
of different lengths padded with ``<NULL>`` (so the mask matters), for both cell types; the book's two
fixed losses are repeated on its own inputs (a vocabulary without ``<START>`` and ``<END>``); and
``grads['W_vocab']`` is compared with the student's own centered differences. Probe parameters keep
every pre-activation within +-LIMIT. ``sample`` gets parameters for which, at every step of the
reference's greedy decoding up to its first ``<END>``, the best score beats the second by at least GAP
(redrawn until they do), and is compared with the reference up to and including that ``<END>``: what
follows it is the student's choice (the notebook says so). The model is graded with the student's own
layers, so a layer's bug shows here too; the notebook says so.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from pipelines.grade.api import assign, check_close, check_true, dtype, numgrad, points, probe, read, ref, step
from reference.numpy import CaptioningRNN, lstm_step_forward, rnn_step_forward
from reference.torch import captioning_rnn_loss, value_and_grads

WORDS = ["<NULL>", "<START>", "<END>", "<UNK>", "a", "cat", "dog", "sat", "on", "mat"]
WORD_TO_IDX = {w: i for i, w in enumerate(WORDS)}
V = len(WORDS)
N, D, W, H = 4, 7, 5, 6
T = 6  # caption length (T - 1 steps)
LIMIT = 5.0
GAP = 0.05  # smallest margin between the two best scores at a graded sampling step
SAMPLE_N, SAMPLE_LENGTH = 6, 10
NAMES = ("W_proj", "b_proj", "W_embed", "Wx", "Wh", "b", "W_vocab", "b_vocab")
BIASES = ("b_proj", "b", "b_vocab")
# The book's fixed-loss check: parameters from np.linspace(-1.4, 1.3), a vocabulary without <START>/<END>.
BOOK_VOCAB = {"<NULL>": 0, "cat": 2, "dog": 3}
BOOK = {"rnn": ((-1.5, 0.3), 9.83235591003), "lstm": ((-0.5, 1.7), 9.82445935443)}
BOOK_N, BOOK_D, BOOK_W, BOOK_H, BOOK_T = 10, 20, 30, 40, 13


def _shapes(cell_type: str, d: int = D, w: int = W, h: int = H, v: int = V) -> dict[str, tuple[int, ...]]:
    g = 4 * h if cell_type == "lstm" else h
    return {"W_proj": (d, h), "b_proj": (h,), "W_embed": (v, w), "Wx": (w, g), "Wh": (h, g), "b": (g,),
            "W_vocab": (h, v), "b_vocab": (v,)}


def _largest_preactivation(params: dict[str, np.ndarray], features: np.ndarray, words: np.ndarray, cell_type: str) -> float:
    """The largest |pre-activation| (and |cell state|) of a run over ``words`` (N, steps)."""
    h = features @ params["W_proj"] + params["b_proj"]
    c, largest = np.zeros_like(h), 0.0
    for t in range(words.shape[1]):
        a = params["W_embed"][words[:, t]] @ params["Wx"] + h @ params["Wh"] + params["b"]
        largest = max(largest, float(np.abs(a).max()))
        if cell_type == "rnn":
            h = np.tanh(a)
        else:
            s = 1 / (1 + np.exp(-a[:, :3 * h.shape[1]]))
            k = h.shape[1]
            c = s[:, k:2 * k] * c + s[:, :k] * np.tanh(a[:, 3 * k:])
            h = s[:, 2 * k:] * np.tanh(c)
            largest = max(largest, float(np.abs(c).max()))
    return largest


def _params(rng: np.random.Generator, cell_type: str, scale: float = 1.0) -> dict[str, np.ndarray]:
    fan_in = {"W_proj": D, "W_embed": 1, "Wx": W, "Wh": H, "W_vocab": H}
    return {name: scale * rng.standard_normal(shape) * (0.3 if name in BIASES else 1 / np.sqrt(fan_in[name]))
            for name, shape in _shapes(cell_type).items()}


def _captions(rng: np.random.Generator) -> np.ndarray:
    """<START> words <END> <NULL>..., lengths 1 to T - 2 words (one caption of the full length)."""
    captions = np.zeros((N, T), dtype=np.int64)
    for n, length in enumerate([T - 2, *rng.integers(1, T - 2, size=N - 1)]):
        captions[n, :length + 2] = [1, *rng.integers(4, V, size=length), 2]
    return captions


def _loss_chain(rng: np.random.Generator, cell_type: str) -> dict[str, Any]:
    captions = _captions(rng)
    while True:
        features, params = rng.standard_normal((N, D)), _params(rng, cell_type)
        if _largest_preactivation(params, features, captions[:, :-1], cell_type) < LIMIT:
            break
    return {
        "steps": [step("net", "CaptioningRNN", WORD_TO_IDX, input_dim=D, wordvec_dim=W, hidden_dim=H, cell_type=cell_type,
                       dtype=dtype("float64")),
                  assign("set", ref("net").attr("params"), params),
                  step("loss", ref("net").attr("loss"), features, captions)],
        "numeric_grad": numgrad(of=("loss", 0), wrt=("set", 1, "W_vocab"), k=10),
    }


def _reference_model(params: dict[str, np.ndarray], cell_type: str, word_to_idx: dict[str, int] = WORD_TO_IDX,
                     ) -> CaptioningRNN:
    d, h = params["W_proj"].shape
    model = CaptioningRNN(word_to_idx, input_dim=d, wordvec_dim=params["W_embed"].shape[1], hidden_dim=h,
                          cell_type=cell_type, dtype=np.float64)
    model.params = {name: np.array(value, dtype=np.float64) for name, value in params.items()}
    return model


def _decode(params: dict[str, np.ndarray], features: np.ndarray, cell_type: str, carry_c: bool = True
            ) -> tuple[np.ndarray, float]:
    """Greedy captions as the reference's ``sample`` makes them (``carry_c=False``: the LSTM's cell state reset to
    0 at every step, a bug the probes must expose) and the smallest margin between the two best scores over the
    steps up to each caption's first <END>."""
    h = features @ params["W_proj"] + params["b_proj"]
    c = np.zeros_like(h)
    captions = np.full((len(features), SAMPLE_LENGTH), WORD_TO_IDX["<NULL>"])
    captions[:, 0] = WORD_TO_IDX["<START>"]
    graded, smallest = np.ones(len(features), dtype=bool), np.inf
    for t in range(1, SAMPLE_LENGTH):
        x = params["W_embed"][captions[:, t - 1]]
        if cell_type == "rnn":
            h, _ = rnn_step_forward(x, h, params["Wx"], params["Wh"], params["b"])
        else:
            h, c_next, _ = lstm_step_forward(x, h, c, params["Wx"], params["Wh"], params["b"])
            c = c_next if carry_c else np.zeros_like(c)
        scores = h @ params["W_vocab"] + params["b_vocab"]
        top = np.sort(scores[graded], axis=1)
        if len(top):
            smallest = min(smallest, float(np.min(top[:, -1] - top[:, -2])))
        captions[:, t] = np.argmax(scores, axis=1)
        graded &= captions[:, t] != WORD_TO_IDX["<END>"]
    return captions, smallest


def _sample_params(rng: np.random.Generator, cell_type: str) -> dict[str, np.ndarray]:
    """Weights that make captions differ from image to image and run for several words: <NULL>, <START> and
    <UNK> are never the best word, <END> only sometimes."""
    scale = {"W_proj": 2 / np.sqrt(D), "b_proj": 0.3, "W_embed": 1.5, "Wx": 1.5 / np.sqrt(W), "Wh": 0.8 / np.sqrt(H),
             "b": 0.3, "W_vocab": 3 / np.sqrt(H), "b_vocab": 0.3}
    params = {name: scale[name] * rng.standard_normal(shape) for name, shape in _shapes(cell_type).items()}
    params["b_vocab"][[WORD_TO_IDX["<NULL>"], WORD_TO_IDX["<START>"], WORD_TO_IDX["<UNK>"]]] = -20.0
    params["b_vocab"][WORD_TO_IDX["<END>"]] = -1.0
    return params


def _graded_lengths(captions: np.ndarray) -> np.ndarray:
    """Columns compared per caption: up to and including the first <END> (all when there is none)."""
    ends = captions == WORD_TO_IDX["<END>"]
    return np.where(ends.any(axis=1), ends.argmax(axis=1) + 1, captions.shape[1])


def _sample_chain(rng: np.random.Generator, cell_type: str) -> dict[str, Any]:
    """Redrawn until every graded step has a clear best word, at least half of the captions have three words
    before <END>, some caption ends with <END>, and (LSTM) the captions depend on the carried cell state."""
    while True:
        features, params = 2.0 * rng.standard_normal((SAMPLE_N, D)), _sample_params(rng, cell_type)
        captions, gap = _decode(params, features, cell_type)
        lengths = _graded_lengths(captions)
        depends_on_c = cell_type == "rnn" or not np.array_equal(captions, _decode(params, features, cell_type, False)[0])
        if gap >= GAP and np.mean(lengths >= 5) >= 0.5 and np.any(lengths < SAMPLE_LENGTH) and depends_on_c:
            break
    return {"steps": [step("net", "CaptioningRNN", WORD_TO_IDX, input_dim=D, wordvec_dim=W, hidden_dim=H,
                           cell_type=cell_type, dtype=dtype("float64")),
                      assign("set", ref("net").attr("params"), params),
                      step("sample", ref("net").attr("sample"), features, max_length=SAMPLE_LENGTH)]}


# --- probes --------------------------------------------------------------------------------------


@probe("CaptioningRNN")
def model_init(rng):
    return {"steps": [step("rnn", "CaptioningRNN", WORD_TO_IDX, input_dim=D, wordvec_dim=W, hidden_dim=H, cell_type="rnn"),
                      read("rnn_params", ref("rnn").attr("params")),
                      step("lstm", "CaptioningRNN", WORD_TO_IDX, input_dim=D, wordvec_dim=W, hidden_dim=H,
                           cell_type="lstm", dtype=dtype("float64")),
                      read("lstm_params", ref("lstm").attr("params"))]}


@probe("CaptioningRNN")
def model_loss_rnn(rng):
    return _loss_chain(rng, "rnn")


@probe("CaptioningRNN")
def model_loss_lstm(rng):
    return _loss_chain(rng, "lstm")


@probe("CaptioningRNN")
def model_book_losses(rng):
    steps = []
    captions = (np.arange(BOOK_N * BOOK_T) % len(BOOK_VOCAB)).reshape(BOOK_N, BOOK_T)
    for cell_type, (lows, _) in BOOK.items():
        shapes = _shapes(cell_type, BOOK_D, BOOK_W, BOOK_H, len(BOOK_VOCAB))
        params = {name: np.linspace(-1.4, 1.3, num=int(np.prod(s))).reshape(s) for name, s in shapes.items()}
        features = np.linspace(*lows, num=BOOK_N * BOOK_D).reshape(BOOK_N, BOOK_D)
        steps += [step(f"{cell_type}_net", "CaptioningRNN", BOOK_VOCAB, input_dim=BOOK_D, wordvec_dim=BOOK_W,
                       hidden_dim=BOOK_H, cell_type=cell_type, dtype=dtype("float64")),
                  assign(f"{cell_type}_set", ref(f"{cell_type}_net").attr("params"), params),
                  step(f"{cell_type}_loss", ref(f"{cell_type}_net").attr("loss"), features, captions)]
    return {"steps": steps}


@probe("CaptioningRNN")
def model_sample_rnn(rng):
    return _sample_chain(rng, "rnn")


@probe("CaptioningRNN")
def model_sample_lstm(rng):
    return _sample_chain(rng, "lstm")


# --- checks --------------------------------------------------------------------------------------


def _check_params(got: dict[str, np.ndarray], cell_type: str, dtype_name: str) -> None:
    what = f"CaptioningRNN(cell_type='{cell_type}'" + (", dtype=np.float64)" if dtype_name == "float64" else ")")
    check_true(set(got) == set(NAMES), f"{what}: params has the keys {sorted(got)}, expected {sorted(NAMES)}.")
    for name, shape in _shapes(cell_type).items():
        value = np.asarray(got[name])
        check_true(value.shape == shape, f"{what}: params['{name}'] has shape {value.shape}, expected {shape}.")
        check_true(value.dtype == np.dtype(dtype_name), f"{what}: params['{name}'] is {value.dtype}, expected {dtype_name}.")
        if name in BIASES:
            check_true(bool(np.all(value == 0)), f"{what}: params['{name}'] must start at 0.")
        else:
            check_true(bool(np.any(value != 0)), f"{what}: params['{name}'] must start random, not at 0.")


def _check_loss(run, cell_type: str, tolerance) -> None:
    params = run.step("set").args[1]
    features, captions = run.step("loss").args
    expected, _ = _reference_model(params, cell_type).loss(features, captions)
    what = f"CaptioningRNN(cell_type='{cell_type}').loss"
    check_close(f"{what}: the loss", run.step("loss").returned(0), expected, tolerance("value"))
    names = list(NAMES)

    def loss(features, captions, *values):
        return captioning_rnn_loss(dict(zip(names, values, strict=True)), features, captions, cell_type)

    _, grads = value_and_grads(loss, [features, captions, *(params[n] for n in names)], wrt=list(range(2, 2 + len(names))))
    got = run.step("loss").entries(1)
    for name, grad in zip(names, grads, strict=True):
        check_true(name in got, f"{what}: grads has no '{name}' (every parameter needs a gradient).")
        check_close(f"{what}: grads['{name}'] (against autograd)", got[name], grad, tolerance("gradient"))


def _check_sample(run, cell_type: str) -> None:
    params = run.step("set").args[1]
    features = run.step("sample").args[0]
    expected = _reference_model(params, cell_type).sample(features, max_length=SAMPLE_LENGTH)
    got = np.asarray(run.step("sample").returned(0))
    what = f"CaptioningRNN(cell_type='{cell_type}').sample"
    check_true(got.shape == expected.shape, f"{what}: returned shape {got.shape}, expected {expected.shape}.")
    check_true(np.issubdtype(got.dtype, np.integer), f"{what}: returned {got.dtype}, expected integer word ids.")
    check_true(bool(np.all(got[:, 0] == WORD_TO_IDX["<START>"])), f"{what}: column 0 must be <START> (the pinned layout).")
    wrong = sum(not np.array_equal(row_got[:last], row_expected[:last])
                for row_got, row_expected, last in zip(got, expected, _graded_lengths(expected), strict=True))
    check_true(wrong == 0, f"{what}: {wrong} of {len(got)} captions differ from greedy decoding before their first "
                           f"<END> (every step's best word beats the second by at least {GAP} in these probes).")


@points(2, cell="check_captioning_rnn")
def test_captioning_rnn_parameters(result):
    """CaptioningRNN: the parameters' names and shapes for 'rnn' and 'lstm', float32 by default and float64 with
    dtype=np.float64, random weights and biases at 0."""
    run = result("model_init")
    _check_params(run.step("rnn_params").entries(0), "rnn", "float32")
    _check_params(run.step("lstm_params").entries(0), "lstm", "float64")


@points(2, cell="check_captioning_rnn")
def test_captioning_rnn_loss_rnn(result, tolerance):
    """CaptioningRNN.loss (cell_type='rnn'): the loss and every gradient against autograd, with the grader's float64
    parameters, on captions of different lengths padded with <NULL>."""
    _check_loss(result("model_loss_rnn"), "rnn", tolerance)


@points(2, cell="check_captioning_rnn")
def test_captioning_rnn_loss_lstm(result, tolerance):
    """CaptioningRNN.loss (cell_type='lstm'): the loss and every gradient against autograd, with the grader's float64
    parameters, on captions of different lengths padded with <NULL>."""
    _check_loss(result("model_loss_lstm"), "lstm", tolerance)


@points(1, cell="check_captioning_rnn")
def test_captioning_rnn_book_losses(result, tolerance):
    """CaptioningRNN.loss: the book's fixed losses (9.83235591003 with 'rnn', 9.82445935443 with 'lstm') on its own
    inputs, a vocabulary without <START> and <END>."""
    run = result("model_book_losses")
    for cell_type, (_, expected) in BOOK.items():
        check_close(f"CaptioningRNN(cell_type='{cell_type}').loss: the book's fixed loss",
                    run.step(f"{cell_type}_loss").returned(0), expected, 1e-10)


@points(1, cell="check_captioning_rnn")
def test_captioning_rnn_own_numeric(result, tolerance):
    """CaptioningRNN.loss: grads['W_vocab'] agrees with centered differences of your own loss."""
    run = result("model_loss_rnn")
    got = np.asarray(run.step("loss").entry(1, "W_vocab"))
    check_true(got.shape == (H, V), f"CaptioningRNN.loss: grads['W_vocab'] has shape {got.shape}, expected {(H, V)}.")
    check_close("CaptioningRNN.loss: grads['W_vocab'] against your own numeric gradient", got[run.numeric_grad_index],
                run.numeric_grad, tolerance("numeric_gradient"))


@points(2, cell="check_captioning_sample")
def test_captioning_rnn_sample_rnn(result):
    """CaptioningRNN.sample (cell_type='rnn'): greedy captions from <START> in column 0, compared up to and including
    each caption's first <END>, with the grader's parameters."""
    _check_sample(result("model_sample_rnn"), "rnn")


@points(2, cell="check_captioning_sample")
def test_captioning_rnn_sample_lstm(result):
    """CaptioningRNN.sample (cell_type='lstm'): greedy captions from <START> in column 0 (c0 = 0), compared up to and
    including each caption's first <END>, with the grader's parameters."""
    _check_sample(result("model_sample_lstm"), "lstm")

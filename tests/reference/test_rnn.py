"""The captioning model and trainer (unit a07): the book's expected losses, torch autograd, numeric
gradients, greedy sampling, and overfitting a small synthetic caption set.

The book's overfitting figures (50 COCO captions: 77 -> 0.12 RNN, 81 -> 0.19 LSTM) need the real VGG
features; here the features are random vectors, so only the behaviour (the loss collapses and greedy
sampling then reproduces the training captions) is checked, not the book's numbers.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from gradcheck import eval_numerical_gradient, rel_error
from reference.numpy.rnn import CaptioningRNN, CaptioningTrainer, sample_coco_minibatch
from reference.torch.autograd import to_numpy, to_tensor
from reference.torch.rnn import captioning_rnn_loss, captioning_rnn_sample
from tests.reference.conftest import TOL_EXACT

CELLS = ["rnn", "lstm"]
# Whole-model centered differences through up to 4 LSTM steps: the book's own model check printed
# relative errors up to 2.9e-6, so the layer tolerance (TOL_NUMERIC_GRAD = 1e-6) is too tight here.
TOL_MODEL_NUMERIC_GRAD = 1e-5
SPECIALS = ["<NULL>", "<START>", "<END>", "<UNK>"]


def vocab(num_words: int) -> dict[str, int]:
    return {w: i for i, w in enumerate(SPECIALS + [f"w{k}" for k in range(num_words)])}


def random_captions(rng: np.random.Generator, N: int, T: int, V: int) -> np.ndarray:
    """``<START>`` words ``<END>`` then ``<NULL>`` padding, lengths varying per row; words drawn from ids >= 4."""
    captions = np.zeros((N, T), dtype=np.int64)
    for n in range(N):
        length = rng.integers(1, T - 1)
        captions[n, 0] = 1
        captions[n, 1 : length + 1] = rng.integers(4, V, size=length)
        captions[n, length + 1] = 2
    return captions


@pytest.mark.parametrize(
    ("cell_type", "feature_range", "expected_loss"),
    [("rnn", (-1.5, 0.3), 9.83235591003), ("lstm", (-0.5, 1.7), 9.82445935443)],
)
def test_book_expected_loss(cell_type: str, feature_range: tuple, expected_loss: float) -> None:
    """The book's fixed test: every parameter replaced by ``linspace(-1.4, 1.3, size)``."""
    N, D, W, H, T = 10, 20, 30, 40, 13
    word_to_idx = {"<NULL>": 0, "cat": 2, "dog": 3}
    V = len(word_to_idx)
    model = CaptioningRNN(word_to_idx, input_dim=D, wordvec_dim=W, hidden_dim=H, cell_type=cell_type, dtype=np.float64)
    for k, v in model.params.items():
        model.params[k] = np.linspace(-1.4, 1.3, num=v.size).reshape(*v.shape)
    features = np.linspace(*feature_range, num=N * D).reshape(N, D)
    captions = (np.arange(N * T) % V).reshape(N, T)
    loss, _ = model.loss(features, captions)
    assert rel_error(loss, expected_loss) < 1e-10
    # tighter: equal to all 11 printed decimals (the book's own run printed errors of ~2.5e-12 here)
    assert abs(loss - expected_loss) <= 0.5e-11


def test_param_shapes_and_dtype() -> None:
    V, D, W, H = len(vocab(3)), 7, 5, 6
    for cell_type, G in [("rnn", H), ("lstm", 4 * H)]:
        model = CaptioningRNN(vocab(3), input_dim=D, wordvec_dim=W, hidden_dim=H, cell_type=cell_type, seed=0)
        shapes = {k: v.shape for k, v in model.params.items()}
        assert shapes == {
            "W_proj": (D, H), "b_proj": (H,), "W_embed": (V, W), "Wx": (W, G), "Wh": (H, G), "b": (G,),
            "W_vocab": (H, V), "b_vocab": (V,),
        }
        assert all(v.dtype == np.float32 for v in model.params.values())


def test_invalid_cell_type() -> None:
    with pytest.raises(ValueError, match='Invalid cell_type "gru"'):
        CaptioningRNN(vocab(3), cell_type="gru")
    with pytest.raises(ValueError, match='Invalid cell_type "gru"'):
        captioning_rnn_loss({}, torch.zeros(1, 1), torch.zeros(1, 2, dtype=torch.int64), cell_type="gru")


@pytest.mark.parametrize("cell_type", CELLS)
def test_loss_gradients_numeric(cell_type: str) -> None:
    """The book's check shapes (batch 2, 3 steps, dims 4/5/6). Parameters are redrawn at unit scale: with
    the default init (word vectors ~1e-2) dWx is ~1e-5 and centered differences on a loss of ~10 only
    resolve it to ~1e-4 relative (the book, h = 1e-6, printed 2.9e-6 for Wx)."""
    rng = np.random.default_rng(231)
    N, T, D, W, H = 2, 3, 4, 5, 6
    word_to_idx = vocab(6)
    model = CaptioningRNN(word_to_idx, D, W, H, cell_type=cell_type, dtype=np.float64, seed=1)
    for name, v in model.params.items():
        model.params[name] = 0.5 * rng.standard_normal(v.shape)
    features = rng.standard_normal((N, D))
    captions = random_captions(rng, N, T + 1, len(word_to_idx))
    loss, grads = model.loss(features, captions)
    for name, param in model.params.items():
        numeric = eval_numerical_gradient(lambda _: model.loss(features, captions)[0], param)
        assert rel_error(numeric, grads[name]) < TOL_MODEL_NUMERIC_GRAD, name


@pytest.mark.parametrize("cell_type", CELLS)
def test_loss_and_gradients_match_torch(cell_type: str, device: str) -> None:
    rng = np.random.default_rng(7)
    N, T, D, W, H = 4, 9, 6, 5, 7
    word_to_idx = vocab(8)
    model = CaptioningRNN(word_to_idx, D, W, H, cell_type=cell_type, dtype=np.float64, seed=2)
    for v in model.params.values():  # nonzero biases, so their gradients are exercised too
        v += 0.1 * rng.standard_normal(v.shape)
    features = rng.standard_normal((N, D))
    captions = random_captions(rng, N, T, len(word_to_idx))
    loss, grads = model.loss(features, captions)

    params = {k: to_tensor(v, device, requires_grad=True) for k, v in model.params.items()}
    t_loss = captioning_rnn_loss(params, to_tensor(features, device), to_tensor(captions, device), cell_type)
    t_loss.backward()
    assert rel_error(loss, to_numpy(t_loss)) < TOL_EXACT[np.float64]
    for name, p in params.items():
        assert rel_error(grads[name], to_numpy(p.grad)) < TOL_EXACT[np.float64], name


@pytest.mark.parametrize("cell_type", CELLS)
def test_sample_matches_torch(cell_type: str, device: str) -> None:
    word_to_idx = vocab(20)
    model = CaptioningRNN(word_to_idx, input_dim=8, wordvec_dim=6, hidden_dim=10, cell_type=cell_type,
                          dtype=np.float64, seed=3)
    for v in model.params.values():  # larger weights, so argmax ties are far away
        v *= 5.0
    features = np.random.default_rng(3).standard_normal((6, 8))
    captions = model.sample(features, max_length=12)
    assert captions.shape == (6, 12) and captions.dtype == np.int32
    assert np.all(captions[:, 0] == word_to_idx["<START>"])
    params = {k: to_tensor(v, device) for k, v in model.params.items()}
    t_captions = captioning_rnn_sample(params, to_tensor(features, device), word_to_idx["<START>"], 12, cell_type)
    np.testing.assert_array_equal(captions, to_numpy(t_captions))


def test_sample_needs_start_token() -> None:
    model = CaptioningRNN({"<NULL>": 0, "cat": 1}, input_dim=3, wordvec_dim=2, hidden_dim=2)
    with pytest.raises(ValueError, match="<START>"):
        model.sample(np.zeros((1, 3)))


def test_null_targets_carry_no_loss() -> None:
    """Trailing <NULL> columns add neither loss nor gradient: same result as the caption cut after <END>."""
    model = CaptioningRNN(vocab(5), 4, 3, 5, cell_type="lstm", dtype=np.float64, seed=4)
    features = np.random.default_rng(4).standard_normal((1, 4))
    padded = np.array([[1, 5, 6, 2, 0, 0]])
    loss_padded, grads_padded = model.loss(features, padded)
    loss_cut, grads_cut = model.loss(features, padded[:, :4])
    assert loss_padded == pytest.approx(loss_cut, rel=1e-14)
    for name, g in grads_padded.items():
        np.testing.assert_allclose(g, grads_cut[name], rtol=1e-12, atol=1e-15, err_msg=name)


# ---------------------------------------------------------------------------------------------
# Trainer.


def synthetic_caption_data(rng: np.random.Generator, num_captions: int, D: int, T: int, V: int) -> dict:
    """One random input vector per caption's image, laid out as the notebook lays out the COCO loader's arrays."""
    return {
        "train_captions": random_captions(rng, num_captions, T, V),
        "train_image_idxs": rng.permutation(num_captions),
        "train_image_inputs": rng.standard_normal((num_captions, D)),
    }


def test_sample_coco_minibatch_pairs_captions_with_their_images() -> None:
    rng = np.random.default_rng(0)
    data = synthetic_caption_data(rng, 30, 4, 6, 10)
    data["train_urls"] = np.array([f"img{i}" for i in range(30)])
    captions, features, urls = sample_coco_minibatch(data, 12, "train", np.random.default_rng(1))
    assert captions.shape == (12, 6) and features.shape == (12, 4) and urls.shape == (12,)
    for c, f, u in zip(captions, features, urls):
        rows = np.flatnonzero((data["train_captions"] == c).all(axis=1))
        images = data["train_image_idxs"][rows]
        assert any(np.array_equal(data["train_image_inputs"][i], f) and data["train_urls"][i] == u for i in images)


def test_trainer_rejects_bad_arguments() -> None:
    model = CaptioningRNN(vocab(3), input_dim=4, wordvec_dim=3, hidden_dim=5)
    data = synthetic_caption_data(np.random.default_rng(0), 10, 4, 5, len(vocab(3)))
    with pytest.raises(TypeError, match="learning_rate"):
        CaptioningTrainer(model, data, learning_rate=1e-3)
    with pytest.raises(ValueError, match='Invalid update_rule "nope"'):
        CaptioningTrainer(model, data, update_rule="nope")


def test_trainer_decays_learning_rate_per_epoch(capsys: pytest.CaptureFixture) -> None:
    model = CaptioningRNN(vocab(3), input_dim=4, wordvec_dim=3, hidden_dim=5, dtype=np.float64, seed=0)
    data = synthetic_caption_data(np.random.default_rng(0), 10, 4, 5, len(vocab(3)))
    trainer = CaptioningTrainer(model, data, update_rule="sgd", updater_config={"learning_rate": 0.1},
                                lr_decay=0.5, batch_size=5, num_epochs=3, print_every=2, seed=0)
    trainer.train()
    assert len(trainer.loss_history) == 6 and trainer.epoch == 3
    assert all(c["learning_rate"] == pytest.approx(0.1 * 0.5**3) for c in trainer.updater_configs.values())
    assert trainer.updater_config == {"learning_rate": 0.1}
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("(Iteration 1 / 6) loss: ") and len(lines) == 3


@pytest.mark.slow
@pytest.mark.parametrize("cell_type", CELLS)
def test_overfits_fifty_synthetic_captions(cell_type: str) -> None:
    """50 captions of 1-8 random words from 20, one random 32-d feature each; batch 25 as in the book, but
    a smaller model (hidden 64) trained longer (adam 1e-2, 100 epochs = 200 iterations) to stay fast."""
    rng = np.random.default_rng(0)
    word_to_idx = vocab(20)
    data = synthetic_caption_data(rng, 50, 32, 10, len(word_to_idx))
    model = CaptioningRNN(word_to_idx, input_dim=32, wordvec_dim=32, hidden_dim=64, cell_type=cell_type,
                          dtype=np.float64, seed=0)
    trainer = CaptioningTrainer(model, data, update_rule="adam", updater_config={"learning_rate": 1e-2},
                                lr_decay=0.99, batch_size=25, num_epochs=100, verbose=False, seed=0)
    trainer.train()
    first, last = trainer.loss_history[0], np.mean(trainer.loss_history[-5:])
    # untrained: about log(24) per target word; at least 2 targets (a word and <END>) per caption
    assert first > 2 * np.log(24)
    assert last < 0.5
    # once the loss has collapsed, greedy sampling from each training image replays its caption
    features = data["train_image_inputs"][data["train_image_idxs"]]
    sampled = model.sample(features, max_length=data["train_captions"].shape[1])
    assert np.mean([_until_end(s) == _until_end(c) for s, c in zip(sampled, data["train_captions"])]) >= 0.9


def _until_end(caption: np.ndarray) -> list[int]:
    words = caption.tolist()
    return words[: words.index(2) + 1] if 2 in words else words

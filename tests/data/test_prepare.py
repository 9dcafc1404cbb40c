"""The prepare stage on fixture mirrors: contract shapes/dtypes, splits, provenance, and bad raw data.

Expected values come from the fixture arrays written by the test (independent of the code under test).
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import h5py
import numpy as np
import pytest

from pipelines.data.captions import encode_captions
from pipelines.data.fetch import fetch
from pipelines.data.loaders import load_cifar10, load_coco_captions, load_mnist
from pipelines.data.prepare import prepare
from pipelines.data.splits import val_rows
from pipelines.data.standin import image_inputs
from pipelines.errors import DataError
from pipelines.paths import prepared_dir, raw_dir
from reference.numpy.rnn import sample_coco_minibatch
from tests.data import fixtures


def run(dataset: str) -> dict:
    fetch(dataset)
    return prepare(dataset)


@pytest.mark.parametrize(
    ("n", "official", "val", "expected"),
    [(60000, 60000, 10000, 10000), (25206, 60000, 10000, 4201), (50000, 50000, 1000, 1000), (5438, 50000, 1000, 109),
     (60, 60000, 10000, 10)],
)
def test_val_share_rule(n, official, val, expected):
    assert val_rows(n, official, val) == expected


def test_mnist_contract_and_split(project, mirror):
    _, arrays = mirror
    provenance = run("mnist")
    data = load_mnist()
    images = arrays["mnist"]["train-images-idx3-ubyte.gz"].reshape(60, 784)
    labels = arrays["mnist"]["train-labels-idx1-ubyte.gz"]
    assert data["X_train"].dtype == np.float32 and data["y_train"].dtype == np.int64
    assert data["X_train"].shape == (50, 784) and data["X_val"].shape == (10, 784) and data["X_test"].shape == (12, 784)
    np.testing.assert_allclose(data["X_val"], images[-10:] / 255.0, rtol=1e-6)
    np.testing.assert_array_equal(data["y_val"], labels[-10:])
    np.testing.assert_array_equal(data["y_test"], arrays["mnist"]["t10k-labels-idx1-ubyte.gz"])
    assert 0.0 <= data["X_train"].min() and data["X_train"].max() <= 1.0
    assert provenance["subset"] is True and provenance["counts"] == {"train": 50, "val": 10, "test": 12}
    on_disk = json.loads((prepared_dir() / "mnist.provenance.json").read_text())
    assert on_disk["params"]["val_rows"] == 10000 and on_disk["source"]["kind"] == "mirror"
    assert set(on_disk["files"]["train-images-idx3-ubyte.gz"]) >= {"sha256", "records", "complete"}


def test_cifar10_contract_rows_from_files(project, mirror):
    _, arrays = mirror
    provenance = run("cifar10")
    data = load_cifar10()
    train = np.concatenate([arrays["cifar10"][f"data_batch_{i}"][0] for i in range(1, 6)]).reshape(-1, 3, 32, 32)
    labels = np.concatenate([arrays["cifar10"][f"data_batch_{i}"][1] for i in range(1, 6)])
    n_val = 1  # 60 fixture train rows * 1000 / 50000 = 1.2 -> 1
    assert provenance["counts"] == {"train": 59, "val": 1, "test": 3}
    np.testing.assert_array_equal(data["X_val"], train[-n_val:].astype(np.float32))
    np.testing.assert_array_equal(data["y_train"], labels[:-n_val])
    assert data["X_train"].dtype == np.float32 and data["X_train"].shape[1:] == (3, 32, 32)
    np.testing.assert_allclose(data["mean_image"], train[:-n_val].astype(np.float64).mean(axis=0), rtol=1e-6)
    assert data["X_test"].shape == (3, 3, 32, 32) and data["y_test"].dtype == np.int64
    assert list(data["label_names"]) == fixtures.LABEL_NAMES


def test_coco_from_caption_json(project, mirror):
    _, arrays = mirror
    provenance = run("coco")
    data = load_coco_captions()
    w2i, i2w = data["word_to_idx"], data["idx_to_word"]
    assert i2w[:4] == ["<NULL>", "<START>", "<END>", "<UNK>"] and all(w2i[w] == i for i, w in enumerate(i2w))
    assert "train_features" not in data and "val_features" not in data
    with h5py.File(prepared_dir() / "coco" / "captions.h5") as h5:
        assert h5.attrs["features"] == "absent"
    assert provenance["features"] == "absent" and provenance["subset"] is True
    # the three caption files overlap (A + B = union): 11 captions of 10 images, each once; 2 of the
    # images are kept out of train, and one of those two is moved on to the test split
    counts = provenance["counts"]
    assert {s: c["images"] for s, c in counts.items()} == {"train": 8, "val": 1, "test": 1}
    assert sum(c["captions"] for c in counts.values()) == len(fixtures.COCO_CAPTIONS)
    ids = {s: set(data[f"{s}_image_ids"].tolist()) for s in ("train", "val", "test")}
    assert set().union(*ids.values()) == set(arrays["coco"]["images"]) and sum(map(len, ids.values())) == 10
    for split in ("train", "val", "test"):
        assert len(data[f"{split}_captions"]) == counts[split]["captions"]
        assert set(data[f"{split}_image_idxs"].tolist()) == set(range(counts[split]["images"]))
        caps = data[f"{split}_captions"]
        assert caps.shape[1] == 17 and caps.dtype == np.int64 and (caps[:, 0] == 1).all()
        urls = data[f"{split}_urls"]
        image_ids = data[f"{split}_image_ids"]
        assert [arrays["coco"]["urls"][i] for i in image_ids] == list(urls)
    # every caption is in the split of its image, pointing at that image
    for _, image, text in fixtures.COCO_CAPTIONS:
        (split,) = [s for s, found in ids.items() if image in found]
        (code,), _, _ = encode_captions([text], w2i, 17)
        rows = np.flatnonzero((data[f"{split}_captions"] == code).all(axis=1))
        assert image in data[f"{split}_image_ids"][data[f"{split}_image_idxs"][rows]]
    # "A MAN on a horse, in a field!" -> a man on a horse <UNK> a field
    by_text = {" ".join(i2w[t] for t in row if t > 2): row for s in ("train", "val", "test") for row in data[f"{s}_captions"]}
    assert "a man on a horse <UNK> a field" in by_text
    # the 16-word caption keeps its first 15 words (none in the vocab), then <END> at position 16
    long = [row for text, row in by_text.items() if len(text.split()) == 15]
    assert len(long) == 1 and list(long[0][1:17]) == [3] * 15 + [2] and provenance["captions_truncated"] == 1


def test_the_reference_sampler_reads_the_prepared_keys(project, mirror):
    """One name for the caption-to-image index, CS231n's ``{split}_image_idxs``, in the loader and the
    reference's minibatch sampler: each caption drawn comes with its own image's input and url."""
    run("coco")
    data = load_coco_captions()
    data["train_image_inputs"], standin = image_inputs(data, "train")
    assert standin  # the fixture mirror has no features
    captions, inputs, urls = sample_coco_minibatch(data, 8, "train", np.random.default_rng(0))
    for caption, code, url in zip(captions, inputs, urls, strict=True):
        rows = np.flatnonzero((data["train_captions"] == caption).all(axis=1))
        images = data["train_image_idxs"][rows]
        assert any(np.array_equal(data["train_image_inputs"][i], code) and data["train_urls"][i] == url for i in images)


def test_coco_split_is_seeded_and_reproducible(project, mirror):
    run("coco")
    first = load_coco_captions()["val_image_ids"]
    prepare("coco")
    np.testing.assert_array_equal(load_coco_captions()["val_image_ids"], first)


def test_coco_without_vocab_builds_one_from_train(project, mirror):
    root, _ = mirror
    (root / "coco_captioning" / "coco2014_vocab.json").unlink()
    fixtures.write_manifest(root)
    provenance = run("coco")
    assert provenance["vocab"]["source"].startswith("the 1000 most frequent train words")
    assert load_coco_captions()["idx_to_word"][4] == "a"


def test_coco_bundle_with_features(project, monkeypatch, tmp_path, rng):
    root = tmp_path / "bundle-mirror"
    folder = root / "coco_captioning"
    folder.mkdir(parents=True)
    fixtures.write_vocab(folder / "coco2014_vocab.json", ["a", "dog"])
    caps = {s: rng.integers(0, 6, (n, 17)) for s, n in (("train", 5), ("val", 3))}
    with h5py.File(folder / "coco2014_captions.h5", "w") as h5:
        for split, c in caps.items():
            h5[f"{split}_captions"] = c.astype(np.int32)
            h5[f"{split}_image_idxs"] = np.arange(len(c)) % 2
    for split in ("train", "val"):
        with h5py.File(folder / f"{split}2014_vgg16_fc7_pca.h5", "w") as h5:
            h5["features"] = rng.standard_normal((2, 512)).astype(np.float32)
        (folder / f"{split}2014_urls.txt").write_text("http://x/1.jpg\nhttp://x/2.jpg\n")
        (folder / f"{split}2014_images.txt").write_text(f"coco/images/{split}2014/COCO_{split}2014_000000000042.jpg\nbad\n")
    fixtures.write_manifest(root)
    monkeypatch.setenv("DEEPGRADE_DATA_MIRROR", str(root))
    provenance = run("coco")
    data = load_coco_captions()
    assert provenance["features"] == "vgg16_fc7_pca"
    np.testing.assert_array_equal(data["train_captions"], caps["train"])
    assert list(data["train_urls"]) == ["http://x/1.jpg", "http://x/2.jpg"]
    # the two val images: one stays, one moves to test, each with its captions, url, id and features
    assert provenance["counts"]["val"]["images"] == provenance["counts"]["test"]["images"] == 1
    with h5py.File(folder / "val2014_vgg16_fc7_pca.h5") as h5:
        val_features = h5["features"][()]
    for split in ("val", "test"):
        assert data[f"{split}_features"].shape == (1, 512) and set(data[f"{split}_image_idxs"]) == {0}
        source_row = ["http://x/1.jpg", "http://x/2.jpg"].index(data[f"{split}_urls"][0])
        np.testing.assert_array_equal(data[f"{split}_features"][0], val_features[source_row])
        assert list(data[f"{split}_image_ids"]) == [[42, -1][source_row]]
        np.testing.assert_array_equal(data[f"{split}_captions"], caps["val"][np.arange(3) % 2 == source_row])


def _stage_outputs(data: Path) -> dict[str, bytes]:
    """Every file the data stages wrote below ``data`` (raw and prepared), by relative path."""
    return {p.relative_to(data).as_posix(): p.read_bytes() for p in sorted(data.rglob("*")) if p.is_file()}


def test_outputs_depend_on_the_data_only(project, mirror, monkeypatch, tmp_path):
    """The same files, from two copies of a mirror at different paths, into two data folders, some
    seconds apart (a zip entry's time has a 2 s resolution, an HDF5 object's 1 s): byte for byte the
    same source.json, prepared files (npz, captions.h5) and provenance, so the committed dvc.lock
    holds on every machine and every run."""
    root, _ = mirror
    copies = [root, Path(shutil.copytree(root, tmp_path / "elsewhere" / "mirror-copy"))]
    written = []
    for copy in copies:
        time.sleep(2.1 if written else 0)
        monkeypatch.setenv("DEEPGRADE_DATA_MIRROR", str(copy))
        monkeypatch.setenv("DEEPGRADE_DATA_DIR", str(tmp_path / f"data-from-{copy.name}"))
        for dataset in ("mnist", "cifar10", "coco"):
            run(dataset)
        written.append(_stage_outputs(tmp_path / f"data-from-{copy.name}"))
    first, second = written
    assert {"raw/coco/source.json", "prepared/coco/captions.h5", "prepared/mnist.npz",
            "prepared/cifar10.provenance.json"} <= set(first)
    assert sorted(first) == sorted(second)
    assert [name for name in first if first[name] != second[name]] == []


# --- bad raw data ------------------------------------------------------------------------

def test_prepare_without_fetch_names_the_stage(project):
    with pytest.raises(DataError, match=r"run `dvc repro fetch_mnist` first"):
        prepare("mnist")


def test_prepare_detects_raw_changed_since_fetch(project, mirror):
    fetch("mnist")
    path = raw_dir("mnist") / "t10k-labels-idx1-ubyte.gz"
    path.write_bytes(path.read_bytes() + b"\0")
    with pytest.raises(DataError, match=r"t10k-labels-idx1-ubyte\.gz: changed since it was verified \(sha256 expected"):
        prepare("mnist")


def _declared_bad_file(root, rel: str, payload: bytes) -> None:
    (root / rel).write_bytes(payload)
    fixtures.write_manifest(root)


def test_truncated_gzip_fails_prepare_without_output(project, mirror):
    root, _ = mirror
    rel = "mnist/train-images-idx3-ubyte.gz"
    _declared_bad_file(root, rel, (root / rel).read_bytes()[:5000])
    fetch("mnist")
    with pytest.raises(DataError, match=r"train-images-idx3-ubyte\.gz: truncated or corrupt gzip"):
        prepare("mnist")
    assert not (prepared_dir() / "mnist.npz").exists() and not (prepared_dir() / "mnist.provenance.json").exists()
    assert [p.name for p in prepared_dir().iterdir()] == []


def test_wrong_idx_magic_fails_prepare(project, mirror, rng):
    root, _ = mirror
    rel = "mnist/t10k-labels-idx1-ubyte.gz"
    fixtures.write_idx_gz(root / rel, rng.integers(0, 10, 12, dtype=np.uint8), magic=2051)
    fixtures.write_manifest(root)
    fetch("mnist")
    with pytest.raises(DataError, match=r"t10k-labels-idx1-ubyte\.gz: wrong IDX magic number, expected 2049, got 2051"):
        prepare("mnist")
    assert list(prepared_dir().iterdir()) == []


def test_corrupt_pickle_fails_prepare(project, mirror):
    root, _ = mirror
    rel = "cifar-10-batches-py/data_batch_2"
    _declared_bad_file(root, rel, (root / rel).read_bytes()[:700])
    fetch("cifar10")
    with pytest.raises(DataError, match=r"data_batch_2: corrupt or truncated pickle"):
        prepare("cifar10")
    assert list(prepared_dir().iterdir()) == []


def test_prepare_keeps_previous_output_when_it_fails(project, mirror):
    root, _ = mirror
    run("cifar10")
    before = (prepared_dir() / "cifar10.npz").read_bytes()
    rel = "cifar-10-batches-py/test_batch"
    _declared_bad_file(root, rel, b"\x80\x02garbage")
    fetch("cifar10")
    with pytest.raises(DataError, match="test_batch"):
        prepare("cifar10")
    assert (prepared_dir() / "cifar10.npz").read_bytes() == before
    assert not [p for p in prepared_dir().iterdir() if p.name.startswith(".")]


def test_unwritable_prepared_dir(project, mirror):
    fetch("mnist")
    prepared_dir().parent.mkdir(parents=True, exist_ok=True)
    prepared_dir().write_text("a file where the prepared folder should be")
    with pytest.raises(DataError, match=r"cannot write to output directory .*data/prepared"):
        prepare("mnist")

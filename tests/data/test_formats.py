"""Readers of the official formats: values round-trip, and each kind of bad input is a DataError."""

from __future__ import annotations

import gzip
import pickle
import struct

import numpy as np
import pytest

from pipelines.data.captions import build_vocab, encode_captions, tokenize
from pipelines.data.formats.cifar import read_batch, read_label_names
from pipelines.data.formats.coco import read_caption_jsons
from pipelines.data.formats.idx import IMAGES_MAGIC, LABELS_MAGIC, read_idx_gz
from pipelines.errors import DataError
from tests.data import fixtures


def test_idx_round_trip(tmp_path, rng):
    images = rng.integers(0, 256, (7, 28, 28), dtype=np.uint8)
    path = fixtures.write_idx_gz(tmp_path / "img.gz", images)
    np.testing.assert_array_equal(read_idx_gz(path, IMAGES_MAGIC), images)


def test_idx_wrong_magic_names_file_and_both_values(tmp_path, rng):
    path = fixtures.write_idx_gz(tmp_path / "labels.gz", rng.integers(0, 10, 5, dtype=np.uint8))
    with pytest.raises(DataError, match=r"labels\.gz.*expected 2051, got 2049"):
        read_idx_gz(path, IMAGES_MAGIC)


def test_idx_truncated_gzip(tmp_path, rng):
    path = fixtures.write_idx_gz(tmp_path / "img.gz", rng.integers(0, 256, (50, 28, 28), dtype=np.uint8))
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(DataError, match=r"img\.gz: truncated or corrupt gzip"):
        read_idx_gz(path, IMAGES_MAGIC)


def test_idx_header_disagrees_with_payload(tmp_path):
    path = tmp_path / "labels.gz"
    with gzip.open(path, "wb") as fh:
        fh.write(struct.pack(">ii", LABELS_MAGIC, 10) + bytes(7))
    with pytest.raises(DataError, match=r"needs 18 bytes .* found 15"):
        read_idx_gz(path, LABELS_MAGIC)


def test_cifar_batch_is_channel_first_with_rows_read_from_file(tmp_path, rng):
    data = rng.integers(0, 256, (13, 3072), dtype=np.uint8)
    labels = rng.integers(0, 10, 13).tolist()
    X, y = read_batch(fixtures.write_cifar_batch(tmp_path / "data_batch_1", data, labels))
    assert X.shape == (13, 3, 32, 32) and y.dtype == np.int64
    # official row layout: R plane (1024, row-major 32x32), then G, then B
    np.testing.assert_array_equal(X[4, 1], data[4, 1024:2048].reshape(32, 32))
    np.testing.assert_array_equal(y, labels)


def test_cifar_fixture_uses_python2_string_opcodes(tmp_path, rng):
    path = fixtures.write_cifar_batch(tmp_path / "b", rng.integers(0, 256, (2, 3072), dtype=np.uint8), [1, 2])
    raw = path.read_bytes()
    assert raw[:2] == b"\x80\x02" and b"_codecs" not in raw
    assert b"data" in pickle.load(open(path, "rb"), encoding="bytes")


def test_cifar_meta_label_names(tmp_path):
    assert read_label_names(fixtures.write_cifar_meta(tmp_path / "batches.meta")) == fixtures.LABEL_NAMES


def test_cifar_truncated_pickle(tmp_path, rng):
    path = fixtures.write_cifar_batch(tmp_path / "data_batch_2", rng.integers(0, 256, (4, 3072), dtype=np.uint8), [0, 1, 2, 3])
    path.write_bytes(path.read_bytes()[:-3000])
    with pytest.raises(DataError, match=r"data_batch_2: corrupt or truncated pickle"):
        read_batch(path)


def test_cifar_pickle_cannot_run_code(tmp_path):
    path = tmp_path / "data_batch_3"
    path.write_bytes(b"\x80\x02cos\nsystem\nX\x04\x00\x00\x00trueq\x00\x85R.")
    with pytest.raises(DataError, match="forbidden global os.system"):
        read_batch(path)


def test_cifar_labels_must_match_rows(tmp_path, rng):
    path = fixtures.write_cifar_batch(tmp_path / "test_batch", rng.integers(0, 256, (4, 3072), dtype=np.uint8), [0, 1])
    with pytest.raises(DataError, match="4 images but 2 labels"):
        read_batch(path)


def test_tokenize_like_cs231n():
    assert tokenize("A MAN, riding a horse.\tIn the field!") == ["a", "man", "riding", "a", "horse", "in", "the", "field"]


def test_encode_pads_truncates_and_marks_unknown():
    vocab = ["<NULL>", "<START>", "<END>", "<UNK>", "a", "man"]
    w2i = {w: i for i, w in enumerate(vocab)}
    codes, truncated, unknown = encode_captions(["A man.", "a b a b a b"], w2i, 6)
    np.testing.assert_array_equal(codes, [[1, 4, 5, 2, 0, 0], [1, 4, 3, 4, 3, 2]])
    assert (truncated, unknown) == (1, 2)


def test_build_vocab_most_frequent_ties_alphabetical():
    assert build_vocab(["b a c", "a b", "a d"], 2) == ["<NULL>", "<START>", "<END>", "<UNK>", "a", "b"]


def test_caption_files_merge_by_id_and_reject_conflicts(tmp_path):
    a = fixtures.write_coco_json(tmp_path / "a.json", [(1, "u1")], [(5, 1, "x")])
    b = fixtures.write_coco_json(tmp_path / "b.json", [(1, "u1"), (2, "u2")], [(5, 1, "x"), (6, 2, "y")])
    records = read_caption_jsons([a, b])
    assert records.images == {1: "u1", 2: "u2"} and records.captions == [(5, 1, "x"), (6, 2, "y")]
    c = fixtures.write_coco_json(tmp_path / "c.json", [(1, "u1")], [(5, 1, "different")])
    with pytest.raises(DataError, match=r"c\.json: annotation 5 conflicts"):
        read_caption_jsons([a, c])


def test_caption_json_truncated(tmp_path):
    path = fixtures.write_coco_json(tmp_path / "captions_val2014.json", [(1, "u")], [(1, 1, "a")])
    path.write_text(path.read_text()[:-10])
    with pytest.raises(DataError, match=r"captions_val2014\.json: not valid JSON"):
        read_caption_jsons([path])

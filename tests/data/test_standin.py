"""Stand-in image codes (pipelines.data.standin): one code per COCO image id, the same wherever it is
made, never presented as features, and real features used where the prepared data has them."""

from __future__ import annotations

import numpy as np
import pytest

from pipelines.data.standin import STANDIN_DIM, image_inputs, standin_image_codes
from pipelines.errors import DataError


def test_a_code_depends_on_the_image_id_only() -> None:
    together = standin_image_codes([42, 7, 42, 391895])
    assert together.shape == (4, STANDIN_DIM) and together.dtype == np.float32
    np.testing.assert_array_equal(together[0], together[2])  # one image, one code
    np.testing.assert_array_equal(together[1], standin_image_codes([7])[0])  # whatever the batch or split
    np.testing.assert_array_equal(together[3], standin_image_codes(np.array([391895]))[0])
    assert not np.allclose(together[0], together[1])


def test_codes_are_unit_normal_and_unrelated_across_images() -> None:
    codes = standin_image_codes(np.arange(1, 401), dim=64).astype(np.float64)
    assert abs(codes.mean()) < 0.02 and abs(codes.std() - 1) < 0.02
    gram = codes @ codes.T / 64
    off_diagonal = gram[~np.eye(len(codes), dtype=bool)]
    assert np.abs(off_diagonal).max() < 0.7 and abs(off_diagonal.mean()) < 0.01


def test_unknown_ids_get_no_code() -> None:
    with pytest.raises(DataError, match="unknown"):
        standin_image_codes([3, -1])


def test_real_features_are_used_as_they_are() -> None:
    features = np.arange(6, dtype=np.float32).reshape(3, 2)
    inputs, standin = image_inputs({"val_features": features, "val_image_ids": np.array([1, 2, 3])}, "val")
    assert standin is False and inputs.dtype == np.float32
    np.testing.assert_array_equal(inputs, features)


def test_without_features_the_inputs_are_the_stand_in_codes_of_the_split() -> None:
    data = {"train_image_ids": np.array([5, 9]), "train_features_note": "not a feature key"}
    inputs, standin = image_inputs(data, "train", dim=16)
    assert standin is True
    np.testing.assert_array_equal(inputs, standin_image_codes([5, 9], dim=16))

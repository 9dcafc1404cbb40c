"""The graders' shared checks: what passes, and what the student is told when it does not."""

from __future__ import annotations

import numpy as np
import pytest

from pipelines.grade.api import StudentCheckFailed, check_close_to_one_of

PATHS = {"the reference": [np.array([1.0, 2.0]), np.array(3.0)],
         "your own pieces": [np.array([1.5, 2.0]), np.array(3.0)]}


def test_outputs_that_match_one_path_pass() -> None:
    check_close_to_one_of("f", [np.array([1.5, 2.0]), 3.0], PATHS, 1e-9)
    check_close_to_one_of("f", [np.array([1.0, 2.0]), 3.0], PATHS, 1e-9)


def test_a_miss_names_the_nearest_path_and_its_error_but_no_expected_value() -> None:
    with pytest.raises(StudentCheckFailed) as caught:
        check_close_to_one_of("f", [np.array([1.0, 2.0]), 3.3], PATHS, 1e-6)
    message = str(caught.value)
    assert "against the reference" in message and "relative error 4.76e-02" in message and "1e-06" in message
    assert "3.0" not in message


def test_one_output_matching_each_path_is_no_match() -> None:
    """Every output must match the same path: half of the reference's and half of the student's own is wrong."""
    mixed = {"a": [np.array(1.0), np.array(2.0)], "b": [np.array(5.0), np.array(6.0)]}
    with pytest.raises(StudentCheckFailed):
        check_close_to_one_of("f", [1.0, 6.0], mixed, 1e-6)


@pytest.mark.parametrize("got, said", [([np.array([np.nan, 2.0]), 3.0], "NaN or infinity"),
                                       ([np.array([1.0, 2.0, 3.0]), 3.0], "expected shape (2,)")])
def test_non_finite_or_misshapen_outputs_fail_with_their_own_message(got: list, said: str) -> None:
    with pytest.raises(StudentCheckFailed, match=said.replace("(", r"\(").replace(")", r"\)")):
        check_close_to_one_of("f", got, PATHS, 1e-6)

"""Project-wide pytest setup: deterministic seeds and a throwaway project root for stage tests."""

from __future__ import annotations

import numpy as np
import pytest


@pytest.fixture
def rng() -> np.random.Generator:
    """A fresh, seeded generator per test so failures reproduce."""
    return np.random.default_rng(231)

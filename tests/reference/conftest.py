"""Shared helpers for the reference-library tests: tolerances by dtype and a CUDA device fixture."""

from __future__ import annotations

import numpy as np
import pytest
import torch

# rel_error thresholds by dtype, for comparisons of two exact implementations (numpy vs torch)
# and for numeric gradients (centered differences, h = 1e-5, float64).
TOL_EXACT = {np.float64: 1e-9, np.float32: 1e-4}
TOL_NUMERIC_GRAD = 1e-6


def devices() -> list:
    """CPU always; CUDA as a separate parameter that skips with a reason when absent."""
    return [
        "cpu",
        pytest.param(
            "cuda",
            marks=[
                pytest.mark.cuda,
                pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device on this machine"),
            ],
        ),
    ]


@pytest.fixture(params=devices())
def device(request) -> str:
    """Run a torch-side test once on CPU and once on CUDA (skipped with a reason without a GPU)."""
    return request.param

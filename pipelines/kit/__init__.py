"""The helper library students use in their notebooks (and the graders reuse).

Students import it as ``from pipelines.kit import ...``; it holds no solution code, only the
course's measuring tools: relative error and numeric gradients (from the ``gradcheck`` package,
shared with the reference solutions) and ``export``.
"""

from gradcheck import (
    eval_numerical_gradient,
    eval_numerical_gradient_array,
    grad_check_sparse,
    rel_error,
)
from pipelines.kit.export import export

__all__ = [
    "export",
    "eval_numerical_gradient",
    "eval_numerical_gradient_array",
    "grad_check_sparse",
    "rel_error",
]

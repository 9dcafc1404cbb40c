"""The helper library students use in their notebooks (and the graders reuse).

Students import it as ``from pipelines.kit import ...``; it holds no solution code, only the
course's measuring tools: relative error, numeric gradients, and plotting.
"""

from pipelines.kit.export import export
from pipelines.kit.gradcheck import (
    eval_numerical_gradient,
    eval_numerical_gradient_array,
    grad_check_sparse,
    rel_error,
)

__all__ = [
    "export",
    "eval_numerical_gradient",
    "eval_numerical_gradient_array",
    "grad_check_sparse",
    "rel_error",
]

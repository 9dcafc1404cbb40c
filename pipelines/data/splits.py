"""The validation share rule shared by MNIST and CIFAR-10.

The official recipes hold out a fixed number of rows from the END of the official train set
(MNIST: the last 10,000 of 60,000; CIFAR-10: rows 49,000..49,999 of 50,000). A subset mirror has
fewer train rows; then the same share is taken from its end, so the split stays comparable.
"""

from __future__ import annotations

from pipelines.errors import DataError

__all__ = ["val_rows"]


def val_rows(n_train: int, official_train_rows: int, official_val_rows: int) -> int:
    """Rows to hold out from the end: ``official_val_rows`` on the official set, else the same share.

    E.g. MNIST 60,000 -> 10,000; a 25,206-row subset -> round(25206 * 10000 / 60000) = 4,201.
    """
    if n_train == official_train_rows:
        return official_val_rows
    n_val = round(n_train * official_val_rows / official_train_rows)
    if not 0 < n_val < n_train:
        raise DataError(f"{n_train} train rows are too few to hold out a validation split")
    return n_val

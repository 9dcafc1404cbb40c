"""Data: fetch and verify raw datasets, prepare them (docs/design.md §2), and load the prepared arrays.

Only the loaders are imported here, so ``from pipelines.data import load_cifar10`` stays cheap in a
student's notebook (numpy only; h5py is imported when COCO is loaded). The stages live in
``pipelines.data.fetch`` and ``pipelines.data.prepare`` and are run by ``deepgrade data ...``.
"""

from pipelines.data.loaders import load_cifar10, load_coco_captions, load_mnist

__all__ = ["load_mnist", "load_cifar10", "load_coco_captions"]

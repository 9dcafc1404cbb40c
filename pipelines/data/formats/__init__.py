"""Readers of the official raw file formats (IDX, CIFAR-10 python pickles, COCO captions).

Each reader validates what it reads and raises ``DataError`` naming the file, what was expected
and what was found, so a corrupt or truncated file fails the stage with a message, not a traceback.
"""

__all__: list[str] = []

"""bncourse: a small, readable NumPy implementation of Batch Normalization.

It accompanies the course book in ``book/``: every formula a chapter teaches is implemented
here, and tested against PyTorch and Keras. NumPy arrays in, NumPy arrays out; the channel
axis is ``axis`` (default 1; ``-1`` for channels-last). PyTorch and TensorFlow are never
imported by ``import bncourse``.
"""

from bncourse.functional import BatchStatistics, batch_norm, batch_norm_backward, batch_statistics
from bncourse.display import Table
from bncourse.layer import DEFAULTS, BatchNorm

__all__ = [
    "DEFAULTS",
    "BatchNorm",
    "BatchStatistics",
    "Table",
    "batch_norm",
    "batch_norm_backward",
    "batch_statistics",
]
__version__ = "0.1.0"

"""bncourse: a small, readable NumPy implementation of Batch Normalization.

It accompanies the course book in ``book/``: every formula a chapter teaches is implemented
here, and tested against PyTorch and Keras. NumPy arrays in, NumPy arrays out; the channel
axis is ``axis`` (default 1; ``-1`` for channels-last). PyTorch and TensorFlow are never
imported by ``import bncourse``.

Modules: ``functional`` (forward, backward), ``layer`` (``BatchNorm``), ``backprop`` (the backward pass
along the computation graph), ``inference`` (Algorithm 2's population statistics), ``convert`` (BN state to and from PyTorch and Keras), ``mlp`` (a NumPy
MLP with optional BN and an SGD loop), ``data`` (offline digits), ``display`` (tables for notebooks).
"""

from bncourse.functional import BatchStatistics, batch_norm, batch_norm_backward, batch_statistics
from bncourse.backprop import GraphGradients, batch_norm_backward_detached, batch_norm_backward_graph
from bncourse.convert import from_keras, from_torch, to_keras, to_torch, with_convention
from bncourse.display import Table, median_range, percent_band
from bncourse.inference import population_statistics
from bncourse.layer import DEFAULTS, BatchNorm

__all__ = [
    "DEFAULTS",
    "BatchNorm",
    "BatchStatistics",
    "GraphGradients",
    "Table",
    "median_range",
    "percent_band",
    "batch_norm",
    "batch_norm_backward",
    "batch_norm_backward_detached",
    "batch_norm_backward_graph",
    "batch_statistics",
    "from_keras",
    "from_torch",
    "population_statistics",
    "to_keras",
    "to_torch",
    "with_convention",
]
__version__ = "0.1.0"

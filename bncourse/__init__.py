"""bncourse: a small, readable NumPy implementation of Batch Normalization and its family.

It accompanies the course book in ``book/``: every formula a chapter teaches is implemented here and
tested against PyTorch and Keras. NumPy arrays in, NumPy arrays out; the channel axis is ``axis``
(default 1; ``-1`` for channels-last). ``import bncourse`` imports NumPy and nothing else.

Where each idea lives:

- ``kernel``: the normalization itself, with no checks: moments over given axes → standardize → affine,
  and the closed-form backward over the same axes. Every normalization is these few lines with other axes.
- ``functional``: ``batch_norm``, ``batch_norm_backward``, ``batch_statistics``: check the arguments once,
  then call the kernel with batch norm's axes.
- ``norms``: ``layer_norm``, ``group_norm``, ``instance_norm`` and their backward passes: the same kernel
  with per-sample axes.
- ``convention``: ``Convention``, and ``TORCH`` and ``KERAS``: defaults, the running-statistics update,
  which variance is stored, and how momentum translates between them.
- ``layer``: ``BatchNorm``, the layer with running statistics, in either convention, with an optional mask.
- ``renorm``: ``BatchRenorm`` (batch renormalization) and its warm-up schedule ``renorm_limits``.
- ``inference``: Algorithm 2's ``population_statistics`` and ``recalibrate`` for any model's BN layers.
- ``backprop``: the backward pass node by node along the graph, and the "detached" variant.
- ``convert``: BN state to and from ``torch.nn.BatchNorm*d`` and ``keras.layers.BatchNormalization``
  (the frameworks are imported only when these functions are called).
- ``gradcheck``: centred finite differences. ``validation``: the argument checks every public function uses.
- ``course`` (a subpackage with more dependencies): the chapters' data, MLP, training loops, CNNs, tables
  and tolerances.

- ``blocked``: the fast path ``functional`` and ``BatchNorm`` use: the kernel's formulas for batch norm,
  block by block in the cache.
- ``folding``: ``fold_batch_norm``, an inference-mode batch norm merged into the linear or convolutional
  layer before it.
- ``triton_kernel`` (extra ``gpu``, imported only by name): batch norm's training-mode forward and backward
  as fused Triton kernels, a ``torch.autograd.Function``.

Every backward function returns ``Gradients(dx, dgamma, dbeta)``.
"""

from bncourse.backprop import GraphGradients, batch_norm_backward_detached, batch_norm_backward_graph
from bncourse.convention import CONVENTIONS, KERAS, TORCH, Convention
from bncourse.convert import from_keras, from_torch, to_keras, to_torch, with_convention
from bncourse.folding import fold_batch_norm
from bncourse.functional import BatchStatistics, batch_norm, batch_norm_backward, batch_statistics
from bncourse.inference import population_statistics, recalibrate
from bncourse.kernel import Gradients
from bncourse.layer import BatchNorm
from bncourse.norms import (
    GroupNorm,
    LayerNorm,
    group_norm,
    group_norm_backward,
    instance_norm,
    instance_norm_backward,
    layer_norm,
    layer_norm_backward,
)
from bncourse.renorm import BatchRenorm, renorm_limits

__all__ = [
    "CONVENTIONS",
    "KERAS",
    "TORCH",
    "BatchNorm",
    "BatchRenorm",
    "BatchStatistics",
    "Convention",
    "Gradients",
    "GraphGradients",
    "GroupNorm",
    "LayerNorm",
    "batch_norm",
    "batch_norm_backward",
    "batch_norm_backward_detached",
    "batch_norm_backward_graph",
    "batch_statistics",
    "fold_batch_norm",
    "from_keras",
    "from_torch",
    "group_norm",
    "group_norm_backward",
    "instance_norm",
    "instance_norm_backward",
    "layer_norm",
    "layer_norm_backward",
    "population_statistics",
    "recalibrate",
    "renorm_limits",
    "to_keras",
    "to_torch",
    "with_convention",
]
__version__ = "0.2.0"

r"""Folding an inference-mode batch norm into the linear or convolutional layer before it.

At inference batch norm is a fixed affine map per channel, so after a layer :math:`z = Wx + b` it can be
merged into that layer's weights. With :math:`s = \gamma/\sqrt{\sigma^2_{run}+\epsilon}` per output channel,

.. math::
    \gamma\,\frac{Wx + b - \mu_{run}}{\sqrt{\sigma^2_{run}+\epsilon}} + \beta
    = \underbrace{(s \odot W)}_{W'}\,x + \underbrace{s\,(b - \mu_{run}) + \beta}_{b'},

where :math:`s \odot W` scales output channel :math:`o` of ``W`` (row ``o`` of a linear weight ``(out, in)``,
filter ``o`` of a convolution weight ``(out, in, kh, kw)``) by :math:`s_o`. The result is exact up to
round-off; it needs the *running* statistics (a batch norm that uses its batch's statistics at inference
has nothing fixed to fold) and it changes nothing in training, where the statistics move every step.

The arithmetic is done in float64 (or wider) and the results cast back once to the weight's and the bias's
dtypes: folding in float16 would round :math:`s` and every product separately.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from bncourse import validation
from bncourse.kernel import computation_dtype
from bncourse.validation import FloatArray


def fold_batch_norm(
    weight: ArrayLike,
    bias: ArrayLike | None,
    gamma: ArrayLike | None,
    beta: ArrayLike | None,
    mean: ArrayLike,
    var: ArrayLike,
    *,
    eps: float,
) -> tuple[FloatArray, FloatArray]:
    r"""The weight and bias of a layer followed by an inference-mode batch norm, merged into one layer:
    :math:`W' = s \odot W`, :math:`b' = s\,(b - \mu) + \beta` with :math:`s = \gamma/\sqrt{\sigma^2+\epsilon}`.

    Equals PyTorch's ``torch.nn.utils.fusion.fuse_linear_bn_weights`` and ``fuse_conv_bn_weights`` (and
    eval-mode batch norm after the layer) up to round-off, computed in float64.

    Args:
        weight: the layer's weight with output channels first: ``(out, in)`` for a linear layer,
            ``(out, in, *kernel)`` for a convolution (``(out, in/groups, kh, kw)`` for a 2-d one).
        bias: the layer's bias ``(out,)``, or None for a layer without one.
        gamma, beta: the batch norm's scale and shift ``(out,)``; None for ``affine=False`` (1 and 0).
        mean, var: its running mean and running variance ``(out,)``; ``var >= 0``.
        eps: its ε, > 0.

    Returns:
        ``(weight, bias)``: the folded weight in ``weight``'s shape and dtype, and a bias ``(out,)`` in
        ``bias``'s dtype (``weight``'s when ``bias`` is None).
    """
    weight_arr = validation.require_float_array("weight", weight)
    if weight_arr.ndim < 2:
        raise ValueError(
            f"weight must have output channels first and at least 2 dimensions, (out, in) or (out, in, *kernel), "
            f"got shape {weight_arr.shape}"
        )
    out = weight_arr.shape[0]
    what = f"weight's output channels, ({out},)"
    mean_arr = validation.require_float_array("mean", mean)
    validation.require_shape("mean", mean_arr, (out,), what)
    var_arr = validation.require_nonnegative("var", validation.require_shape("var", validation.require_float_array("var", var), (out,), what))
    eps_f = validation.require_positive("eps", eps)
    bias_arr = None if bias is None else validation.require_shape("bias", validation.require_float_array("bias", bias), (out,), what)
    gamma_arr = np.ones(out) if gamma is None else validation.require_shape("gamma", validation.require_float_array("gamma", gamma), (out,), what)
    beta_arr = np.zeros(out) if beta is None else validation.require_shape("beta", validation.require_float_array("beta", beta), (out,), what)

    wide = computation_dtype(weight_arr.dtype, mean_arr.dtype, var_arr.dtype, gamma_arr.dtype, beta_arr.dtype)
    scale = gamma_arr.astype(wide) / np.sqrt(var_arr.astype(wide) + eps_f)
    folded_weight = weight_arr.astype(wide) * scale.reshape((out,) + (1,) * (weight_arr.ndim - 1))
    layer_bias = np.zeros(out, wide) if bias_arr is None else bias_arr.astype(wide)
    folded_bias = scale * (layer_bias - mean_arr.astype(wide)) + beta_arr.astype(wide)
    bias_dtype = weight_arr.dtype if bias_arr is None else bias_arr.dtype
    return folded_weight.astype(weight_arr.dtype), folded_bias.astype(bias_dtype)

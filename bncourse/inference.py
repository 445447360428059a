r"""Statistics for inference: Algorithm 2 of Ioffe & Szegedy (2015), for batches and for a whole model.

After training, the paper fixes each channel's normalization with population statistics averaged
over training mini-batches :math:`\mathcal{B}_1, \dots, \mathcal{B}_k` of ``m`` values each:

.. math::
    \mathrm{E}[x] = \frac1k\sum_j \mu_{\mathcal{B}_j}, \qquad
    \mathrm{Var}[x] = \frac{m}{m-1}\cdot\frac1k\sum_j \sigma^2_{\mathcal{B}_j}.

:func:`population_statistics` computes them from batches of one layer's inputs; :func:`recalibrate` puts
them into every BN layer of a model, whatever the model, by running it over training batches (as
PyTorch's ``torch.optim.swa_utils.update_bn`` does). Frameworks keep an exponential running average
instead; the train/inference chapter compares the two.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Sequence

import numpy as np
from numpy.typing import ArrayLike

from bncourse import kernel, validation
from bncourse.functional import reduction_axes
from bncourse.layer import BatchNorm
from bncourse.validation import FloatArray


def population_statistics(batches: Iterable[ArrayLike], *, axis: int = 1) -> tuple[FloatArray, FloatArray]:
    """``(E[x], Var[x])`` of Algorithm 2 from an iterable of batches, each of shape ``(N, C, ...)``.

    Every batch must have the same number of channels and the same number ``m`` of values per
    channel (the paper's fixed mini-batch size), and more than one. Returns float64 arrays of shape ``(C,)``.
    """
    means: list[FloatArray] = []
    variances: list[FloatArray] = []
    sizes: set[tuple[int, int]] = set()
    for index, batch in enumerate(batches):
        x = validation.require_batch(f"batches[{index}]", batch)
        ax = validation.require_channel_axis(axis, x.ndim)
        validation.require_more_than_one_value_per_channel(x, ax)
        stats = kernel.moments(x, reduction_axes(x.ndim, ax))
        sizes.add((x.shape[ax], stats.m))
        means.append(stats.mean.reshape(-1))
        variances.append(stats.var.reshape(-1))
    if not means:
        raise ValueError("batches must contain at least one batch")
    if len(sizes) > 1:
        raise ValueError(
            f"batches must all have the same (channels, values per channel), got {sorted(sizes)}; "
            "Algorithm 2 averages statistics of equal-size mini-batches"
        )
    ((_, m),) = sizes
    mean = np.mean(means, axis=0)
    var = m / (m - 1) * np.mean(variances, axis=0)
    return mean, var


def recalibrate(
    layers: Sequence[BatchNorm], batches: Iterable[ArrayLike], forward: Callable[[ArrayLike], object]
) -> int:
    """Replace the running statistics of ``layers`` by the equal-weight average over ``batches``.

    ``forward(batch)`` must run the model on one batch **in training mode**, calling each layer once.
    Before the first batch every layer's running statistics are reset; during the pass each layer's
    momentum is set so that batch ``t`` gets weight ``1/t`` (PyTorch's ``momentum=None``), so afterwards a
    torch-convention layer holds Algorithm 2's ``E[μ_B]`` and, for batches of equal size, ``m/(m−1)·E[σ²_B]``
    (a keras-convention layer the average of the biased variances it stores, up to round-off in the weights). Momenta are restored afterwards, also when
    ``forward`` raises. Weights, γ and β are not touched. Returns the number of batches used.
    """
    layers = list(layers)
    for index, layer in enumerate(layers):
        if not isinstance(layer, BatchNorm):
            raise TypeError(f"layers[{index}] must be a bncourse.BatchNorm, got {type(layer).__name__}")
        if not layer.track_running_stats:
            raise ValueError(
                f"layers[{index}] keeps no running statistics (track_running_stats=False): nothing to recalibrate"
            )
    validation.require_callable("forward", forward)
    iterator = iter(batches)
    first = next(iterator, None)
    if first is None:
        raise ValueError("batches must contain at least one batch")
    saved = [layer.momentum for layer in layers]
    for layer in layers:
        layer.reset_running_stats()
    count = 0
    try:
        for batch in itertools.chain([first], iterator):
            count += 1
            for layer in layers:
                layer.momentum = layer.convention.equal_weight_momentum(count)
            forward(batch)
    finally:
        for layer, momentum in zip(layers, saved):
            layer.momentum = momentum
    return count


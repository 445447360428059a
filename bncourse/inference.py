r"""Statistics for inference: Algorithm 2 of Ioffe & Szegedy (2015).

After training, the paper fixes each channel's normalization with population statistics averaged
over training mini-batches :math:`\mathcal{B}_1, \dots, \mathcal{B}_k` of ``m`` values each:

.. math::
    \mathrm{E}[x] = \frac1k\sum_j \mu_{\mathcal{B}_j}, \qquad
    \mathrm{Var}[x] = \frac{m}{m-1}\cdot\frac1k\sum_j \sigma^2_{\mathcal{B}_j}.

Frameworks keep an exponential running average instead; chapter 5 compares the two and uses these
statistics to recalibrate a trained model.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
from numpy.typing import ArrayLike

from bncourse import _checks
from bncourse._checks import FloatArray
from bncourse.functional import batch_statistics


def population_statistics(batches: Iterable[ArrayLike], *, axis: int = 1) -> tuple[FloatArray, FloatArray]:
    """``(E[x], Var[x])`` of Algorithm 2 from an iterable of batches, each of shape ``(N, C, ...)``.

    Every batch must have the same number of channels and the same number ``m`` of values per
    channel (the paper's fixed mini-batch size), and more than one. Returns float64 arrays of shape ``(C,)``.
    """
    means: list[FloatArray] = []
    variances: list[FloatArray] = []
    sizes: set[tuple[int, int]] = set()
    for index, batch in enumerate(batches):
        x = _checks.input_array(f"batches[{index}]", batch)
        ax = _checks.channel_axis(axis, x.ndim)
        _checks.more_than_one_value_per_channel(x, ax)
        stats = batch_statistics(x, ax)
        sizes.add((x.shape[ax], stats.values_per_channel))
        means.append(stats.mean)
        variances.append(stats.var)
    if not means:
        raise ValueError("batches must contain at least one batch")
    if len(sizes) > 1:
        raise ValueError(
            f"batches must all have the same (channels, values per channel), got {sorted(sizes)}; "
            "Algorithm 2 averages statistics of equal-size mini-batches"
        )
    (_, m), = sizes
    mean = np.mean(means, axis=0)
    var = m / (m - 1) * np.mean(variances, axis=0)
    return mean, var

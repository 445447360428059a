r"""Batch norm's forward and backward pass, fast: the same formulas as :mod:`bncourse.kernel`, computed
block by block so that each pass over memory does all its arithmetic while the block is in the cache.

Every batch-norm input, whatever its layout, is viewed as ``(outer, C, inner)`` without a copy: for
``(N, C, H, W)`` that is ``(N, C, H·W)``; for channels-last ``(N, H, W, C)`` it is ``(N·H·W, C, 1)``. Blocks
are slices of the outer axis holding about ``BLOCK_VALUES`` numbers, small enough for a core's L2 cache
(at least one slice, so a block is larger when a single example is: 200 704 values for
``(256, 64, 56, 56)``). Statistics are ``(C, 1)`` columns.

What made it 2.5 to 4 times faster than :mod:`bncourse.kernel` in float32 (``benchmarks/numpy_reference.py``
measures it; float64 inputs keep the kernel, see :func:`serves`):

- **Passes over memory.** The kernel makes a float64 copy of ``x``, then a temporary per operation, each
  a full trip to memory. Here the forward reads ``x`` twice (statistics, then normalization) and writes
  ``y`` once; the backward reads ``x`` and ``dy`` twice and writes ``dx`` once. Every other operation
  works on a block that is still in the cache.
- **One pass for the statistics.** Each block's mean and sum of squared deviations are accurate two-pass
  values computed in the cache; blocks are combined with Chan et al.'s (1979) update, which adds only
  non-negative terms to the sum of squares and never forms ``Σx² − (Σx)²/m``: the variance stays accurate
  when ``|μ| ≫ σ``.
- **Accumulation dtype.** Sums are taken in float64 (a float32 block is widened in the cache), while the
  elementwise work runs in the input's dtype, float32 for float32 (twice as many numbers per SIMD
  instruction, half the bytes). Subtracting a float64 mean in float32 would round the mean to float32 and
  shift every ``x̂`` by up to half a float32 spacing at ``μ``, divided by ``σ``; the mean is therefore split into ``μ_hi + μ_lo`` (``μ_hi`` the
  float32 nearest to ``μ``): ``x − μ_hi`` is exact for ``x`` near ``μ`` (Sterbenz), and the small
  ``μ_lo`` goes into the shift.

The forward, with :math:`s = \gamma/\sqrt{\sigma^2+\epsilon}`:
:math:`y = (x - \mu_{hi})\, s + (\beta - \mu_{lo} s)`. The backward, with per-channel sums
:math:`\Sigma dy` and :math:`\Sigma dy\,\hat x = (\Sigma dy\,(x - \mu_{hi}) - \mu_{lo}\Sigma dy)/\sqrt{\sigma^2+\epsilon}` (the
products in the input's dtype, each rounded once, summed in float64), is the kernel's
closed form regrouped as one multiply-add per operand:

.. math::
    dx = a\,dy + b\,(x - \mu_{hi}) + c, \quad a = \frac{\gamma}{\sqrt{\sigma^2+\epsilon}}, \quad
    b = -\frac{a\, \Sigma dy\,\hat x}{m\sqrt{\sigma^2+\epsilon}}, \quad c = -\frac{a\,\Sigma dy}{m} - b\,\mu_{lo}.

Nothing is validated here: :mod:`bncourse.functional` and :class:`bncourse.BatchNorm` check their
arguments and call :func:`forward` and :func:`backward` for batch norm without a mask.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, NamedTuple

import numpy as np

from bncourse.kernel import Gradients, Moments, computation_dtype
from bncourse.validation import FloatArray

#: About how many numbers a block holds (at least one row of the outer axis): 256 KiB in float32.
BLOCK_VALUES = 1 << 16


def serves(dtype: Any) -> bool:
    """Whether :mod:`bncourse.functional` and :class:`bncourse.BatchNorm` take this path for ``dtype``: for
    float32 and float16. float64 (and wider) inputs keep the kernel, the course's reference computation,
    whose exact round-off the chapters' committed training runs reproduce bit for bit."""
    return bool(np.dtype(dtype).itemsize <= 4)


def channel_blocks(x: FloatArray, axis: int) -> FloatArray:
    """``x`` viewed as ``(outer, C, inner)`` with the channel axis (non-negative ``axis``) in the middle;
    a view when ``x`` is C-contiguous, else a contiguous copy."""
    outer = int(np.prod(x.shape[:axis], dtype=np.int64))
    return np.ascontiguousarray(x).reshape(outer, x.shape[axis], -1)


def block_slices(x3: FloatArray) -> Iterator[slice]:
    """Consecutive slices of the outer axis, each about ``BLOCK_VALUES`` numbers (at least one row)."""
    outer, channels, inner = x3.shape
    rows = max(1, BLOCK_VALUES // (channels * inner))
    for start in range(0, outer, rows):
        yield slice(start, min(start + rows, outer))


def elementwise_dtype(dtype: Any) -> np.dtype[Any]:
    """The dtype of the elementwise work: the input's, or float32 for float16."""
    return np.result_type(dtype, np.float32)


def moments(x3: FloatArray) -> Moments:
    r"""Per-channel mean and **biased** variance of ``x3`` ``(outer, C, inner)`` as ``(C, 1)`` columns in
    float64 (or wider), one pass over memory.

    Block :math:`b` (:math:`n_b` values, mean :math:`\mu_b`, squared deviations :math:`M_b`) joins the
    :math:`n` values seen so far by Chan et al.'s update:
    :math:`\delta = \mu_b - \mu`, :math:`\mu \leftarrow \mu + \delta n_b/(n+n_b)`,
    :math:`M \leftarrow M + M_b + \delta^2 n n_b/(n+n_b)`; at the end :math:`\sigma^2 = M/n`."""
    outer, channels, inner = x3.shape
    wide = computation_dtype(x3.dtype)
    mean, squares, seen = np.zeros((channels, 1), wide), np.zeros((channels, 1), wide), 0
    for rows in block_slices(x3):
        block = x3[rows].astype(wide)  # widened in the cache
        count = block.shape[0] * inner
        block_mean = block.sum(axis=(0, 2))[:, None] / count
        block -= block_mean
        np.square(block, out=block)
        delta, total = block_mean - mean, seen + count
        mean += delta * (count / total)
        squares += block.sum(axis=(0, 2))[:, None] + np.square(delta) * (seen * count / total)
        seen = total
    return Moments(mean, squares / seen, seen)


def split_mean(mean: FloatArray, dtype: Any) -> tuple[FloatArray, FloatArray]:
    """``(μ_hi, μ_lo)``: ``μ_hi`` is ``μ`` rounded to ``dtype``, ``μ_lo = μ − μ_hi`` what that rounding lost."""
    high = mean.astype(dtype)
    return high, mean - high


def normalize(x3: FloatArray, mean: FloatArray, inv_std: FloatArray, gamma: FloatArray, beta: FloatArray) -> FloatArray:
    r""":math:`y = \gamma (x-\mu)/\sqrt{\sigma^2+\epsilon} + \beta` for ``x3`` ``(outer, C, inner)``, given the
    ``(C, 1)`` columns ``mean`` and ``inv_std`` = :math:`1/\sqrt{\sigma^2+\epsilon}` (batch or running
    statistics) and ``gamma``, ``beta``. ``y`` has ``x3``'s shape and dtype; one read of ``x``, one write of ``y``."""
    work = elementwise_dtype(x3.dtype)
    high, low = split_mean(mean, work)
    scale = gamma * inv_std
    shift = (beta - low * scale).astype(work)
    scale = scale.astype(work)
    y = np.empty_like(x3)
    for rows in block_slices(x3):
        out = y[rows] if y.dtype == work else np.empty(y[rows].shape, work)
        np.subtract(x3[rows], high, out=out)
        out *= scale
        out += shift
        y[rows] = out  # a no-op when out is y's own block
    return y


def normalize_backward(
    dy3: FloatArray, x3: FloatArray, mean: FloatArray, inv_std: FloatArray, gamma: FloatArray
) -> Gradients:
    """Gradients of a training-mode :func:`normalize` whose statistics were ``x3``'s own: ``dx`` (shape and
    dtype of ``x3``), ``dgamma`` and ``dbeta`` (``(C,)``, ``gamma``'s dtype). Two passes over ``x`` and
    ``dy``: the per-channel sums (in float64), then ``dx = a·dy + b·(x − μ_hi) + c`` (module docstring)."""
    outer, channels, inner = x3.shape
    wide = computation_dtype(x3.dtype, dy3.dtype)
    work = elementwise_dtype(x3.dtype)
    high, low = split_mean(mean, work)
    sum_dy, sum_dy_deviation = np.zeros((channels, 1), wide), np.zeros((channels, 1), wide)
    for rows in block_slices(x3):
        product = np.subtract(x3[rows], high, dtype=work)  # x − μ_hi, exact for x near μ
        product *= dy3[rows]
        sum_dy += np.add.reduce(dy3[rows], axis=(0, 2), dtype=wide)[:, None]
        sum_dy_deviation += np.add.reduce(product, axis=(0, 2), dtype=wide)[:, None]
    m = outer * inner
    sum_dy_x_hat = (sum_dy_deviation - low * sum_dy) * inv_std
    a = gamma * inv_std
    b = -a * inv_std * sum_dy_x_hat / m
    c = -a * sum_dy / m - b * low
    a, b, c = (column.astype(work) for column in (a, b, c))
    dx = np.empty_like(x3)
    for rows in block_slices(x3):
        out = dx[rows] if dx.dtype == work else np.empty(dx[rows].shape, work)
        deviation = np.subtract(x3[rows], high, dtype=work)
        deviation *= b
        np.multiply(dy3[rows], a, out=out)
        out += deviation
        out += c
        dx[rows] = out
    return Gradients(dx, sum_dy_x_hat.reshape(-1).astype(gamma.dtype), sum_dy.reshape(-1).astype(gamma.dtype))


class Forward(NamedTuple):
    """A forward pass: ``y`` ``(outer, C, inner)``, and what the backward needs: the input ``x`` (a
    reference: :class:`bncourse.BatchNorm` passes a copy, so that the caller may reuse its buffer), the
    statistics used (``(C, 1)`` columns) and ``inv_std`` = :math:`1/\\sqrt{\\sigma^2+\\epsilon}`."""

    y: FloatArray
    x: FloatArray
    stats: Moments
    inv_std: FloatArray


def forward(x3: FloatArray, gamma: FloatArray, beta: FloatArray, eps: float, stats: Moments | None = None) -> Forward:
    """Batch norm of ``x3`` ``(outer, C, inner)`` with ``(C,)`` vectors ``gamma`` and ``beta``: with the
    batch's own statistics (training), or the given ``(C, 1)`` ``stats`` (inference)."""
    if stats is None:
        stats = moments(x3)
    wide = computation_dtype(x3.dtype, stats.var.dtype)
    inv_std = 1.0 / np.sqrt(stats.var.astype(wide) + eps)
    y = normalize(x3, stats.mean.astype(wide), inv_std, gamma[:, None], beta[:, None])
    return Forward(y, x3, stats, inv_std)


def backward(dy3: FloatArray, forward: Forward, gamma: FloatArray) -> Gradients:
    """Gradients of a training-mode :func:`forward` (``gamma`` the ``(C,)`` vector it used)."""
    return normalize_backward(dy3, forward.x, forward.stats.mean, forward.inv_std, gamma[:, None])

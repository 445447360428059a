r"""Batch norm's forward and backward pass, fast: the same formulas as :mod:`bncourse.kernel`, computed
block by block so that each pass over memory does all its arithmetic while the block is in the cache.

Every batch-norm input, whatever its layout, is viewed as ``(outer, C, inner)`` without a copy: for
``(N, C, H, W)`` that is ``(N, C, H·W)``; for channels-last ``(N, H, W, C)`` it is ``(N·H·W, C, 1)``. Blocks
hold all ``C`` channels, a range of the outer axis and a range of the inner axis: about ``BLOCK_VALUES``
numbers (256 KiB in float32; with the temporaries of an operation, a working set of 0.5 to 1 MiB, about a
core's L2 cache), at most ``BLOCK_ROWS`` slices of the outer axis and ``BLOCK_RUN`` values of the inner axis.
Statistics are ``(C, 1)`` columns.

What made it faster than :mod:`bncourse.kernel` in float32 (``benchmarks/numpy_reference.py`` measures it;
float64 inputs keep the kernel, see :func:`serves`):

- **Passes over memory.** The kernel makes a float64 copy of ``x``, then a temporary per operation, each
  a full trip to memory. Here the forward reads ``x`` twice (statistics, then normalization) and writes
  ``y`` and the deviations ``x − μ_hi`` that the backward needs (PyTorch keeps ``x`` itself); the backward
  reads the deviations and ``dy`` twice and writes ``dx``. Every other operation works on a block that is
  still in the cache. Writing ``d`` costs one more pass than the two-pass minimum (``4S`` instead of
  ``3S``) and an activation-sized array: the price of not keeping a reference to the caller's ``x``.
- **One pass for the statistics.** Each block's mean and sum of squared deviations are accurate two-pass
  values computed in the cache; blocks are combined with Chan et al.'s (1979) update, which adds only
  non-negative terms to the sum of squares and never forms ``Σx² − (Σx)²/m``: the variance stays accurate
  when ``|μ| ≫ σ``.
- **Accumulation dtype.** Each block's sums run in float32 (twice as many numbers per SIMD instruction as
  float64, half the bytes; float16 input is computed in float32) over short runs (``BLOCK_ROWS``,
  ``BLOCK_RUN``), so that a float32 accumulator adds few numbers; the blocks' sums are gathered in float64.
  Subtracting a float64 mean in float32 would round the mean to float32 and shift every ``x̂`` by up to
  half a float32 spacing at ``μ``, divided by ``σ``; the mean is therefore split into ``μ_hi + μ_lo``
  (``μ_hi`` the float32 nearest to ``μ``): ``x − μ_hi`` is exact for ``x`` near ``μ`` (Sterbenz), and the
  small ``μ_lo`` goes into the shift.
- **Fewer operations per block.** ``np.einsum`` multiplies and sums in one sweep (``Σ d²``, ``Σ dy·d``),
  and keeping ``d = x − μ_hi`` from the forward pass saves the backward two subtractions per value.

The forward, with :math:`s = \gamma/\sqrt{\sigma^2+\epsilon}` and :math:`d = x - \mu_{hi}`:
:math:`y = d\, s + (\beta - \mu_{lo} s)`. The backward, with per-channel sums :math:`\Sigma dy` and
:math:`\Sigma dy\,\hat x = (\Sigma dy\,d - \mu_{lo}\Sigma dy)/\sqrt{\sigma^2+\epsilon}`, is the kernel's closed
form regrouped as one multiply-add per operand:

.. math::
    dx = a\,dy + b\,d + c, \quad a = \frac{\gamma}{\sqrt{\sigma^2+\epsilon}}, \quad
    b = -\frac{a\, \Sigma dy\,\hat x}{m\sqrt{\sigma^2+\epsilon}}, \quad c = -\frac{a\,\Sigma dy}{m} - b\,\mu_{lo}.

Nothing is validated here: :mod:`bncourse.functional` and :class:`bncourse.BatchNorm` check their
arguments and call :func:`forward` and :func:`backward` for float32 batch norm without a mask.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, NamedTuple

import numpy as np

from bncourse.kernel import Gradients, Moments, computation_dtype
from bncourse.validation import FloatArray

#: About how many numbers a block holds (all channels): 256 KiB in float32.
BLOCK_VALUES = 1 << 16
#: At most this many slices of the outer axis per block: a sum over the outer axis adds them one after
#: another into one float32 accumulator per channel, whose round-off grows with their number.
BLOCK_ROWS = 256
#: At most this many values of the inner axis per block (sums along it use several accumulators).
BLOCK_RUN = 1 << 10


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


Block = tuple[slice, slice, slice]


def blocks(x3: FloatArray) -> Iterator[Block]:
    """Index tuples ``(outer range, all channels, inner range)`` that cover ``x3`` ``(outer, C, inner)``:
    about ``BLOCK_VALUES`` numbers each (at least one value per channel), at most ``BLOCK_ROWS`` slices of the
    outer axis and ``BLOCK_RUN`` values of the inner axis."""
    outer, channels, inner = x3.shape
    run = max(1, min(inner, BLOCK_RUN, BLOCK_VALUES // channels))  # inner values per block
    rows = max(1, min(BLOCK_ROWS, BLOCK_VALUES // (channels * run)))
    for start in range(0, outer, rows):
        for begin in range(0, inner, run):
            yield slice(start, min(start + rows, outer)), slice(None), slice(begin, min(begin + run, inner))


def elementwise_dtype(dtype: Any) -> np.dtype[Any]:
    """The dtype of the elementwise work and of each block's sums: the input's, or float32 for float16."""
    return np.result_type(dtype, np.float32)


def channel_sums(block: FloatArray) -> FloatArray:
    """Per-channel sums of a block ``(rows, C, inner)`` as a ``(C, 1)`` column, in float32 at least (a
    float16 sum overflows at 65 504)."""
    sums: FloatArray = block.sum(axis=(0, 2), dtype=elementwise_dtype(block.dtype))[:, None]
    return sums


def channel_dots(a: FloatArray, b: FloatArray) -> FloatArray:
    """Per-channel sums of ``a·b`` over a block, as a ``(C, 1)`` column: one sweep, no temporary."""
    dots: FloatArray = np.einsum("nci,nci->c", a, b)[:, None]
    return dots


def moments(x3: FloatArray) -> Moments:
    r"""Per-channel mean and **biased** variance of ``x3`` ``(outer, C, inner)`` as ``(C, 1)`` columns in
    float64 (or wider), one pass over memory.

    Block :math:`b` (:math:`n_b` values, mean :math:`\mu_b`, squared deviations :math:`M_b`) joins the
    :math:`n` values seen so far by Chan et al.'s update:
    :math:`\delta = \mu_b - \mu`, :math:`\mu \leftarrow \mu + \delta n_b/(n+n_b)`,
    :math:`M \leftarrow M + M_b + \delta^2 n n_b/(n+n_b)`; at the end :math:`\sigma^2 = M/n`.
    Within a block, around a center :math:`c` (the block's float32 mean, rounded: near :math:`\mu_b`, so
    :math:`d = x - c` is exact for most values and small): :math:`\mu_b = c + \sum d / n_b` and
    :math:`M_b = \sum d^2 - (\sum d)^2 / n_b`, a small correction. A float32 sum of values far from zero
    is off by many float32 spacings of :math:`|\mu|`; sums of the small :math:`d` are not."""
    channels = x3.shape[1]
    wide, work = computation_dtype(x3.dtype), elementwise_dtype(x3.dtype)
    mean, squares, seen = np.zeros((channels, 1), wide), np.zeros((channels, 1), wide), 0
    for part in blocks(x3):
        block = x3[part]
        count = block.shape[0] * block.shape[2]
        center = (channel_sums(block) / count).astype(work)
        deviation = np.subtract(block, center, dtype=work)
        sum_deviation = channel_sums(deviation).astype(wide)
        block_mean = center + sum_deviation / count
        block_squares = channel_dots(deviation, deviation) - np.square(sum_deviation) / count
        delta, total = block_mean - mean, seen + count
        mean += delta * (count / total)
        squares += block_squares + np.square(delta) * (seen * count / total)
        seen = total
    return Moments(mean, squares / seen, seen)


def split_mean(mean: FloatArray, dtype: Any) -> tuple[FloatArray, FloatArray]:
    """``(μ_hi, μ_lo)``: ``μ_hi`` is ``μ`` rounded to ``dtype``, ``μ_lo = μ − μ_hi`` what that rounding lost."""
    high = mean.astype(dtype)
    return high, mean - high


def normalize(x3: FloatArray, mean: FloatArray, inv_std: FloatArray, gamma: FloatArray, beta: FloatArray,
              keep_deviation: bool = False) -> tuple[FloatArray, FloatArray | None]:
    r"""``(y, d)``: :math:`y = \gamma (x-\mu)/\sqrt{\sigma^2+\epsilon} + \beta` for ``x3`` ``(outer, C, inner)``,
    given the ``(C, 1)`` columns ``mean`` and ``inv_std`` = :math:`1/\sqrt{\sigma^2+\epsilon}` (batch or
    running statistics), ``gamma`` and ``beta``; and, if ``keep_deviation``, :math:`d = x - \mu_{hi}` for the
    backward pass (else None). ``y`` has ``x3``'s shape and dtype, ``d`` the elementwise dtype."""
    work = elementwise_dtype(x3.dtype)
    high, low = split_mean(mean, work)
    scale = gamma * inv_std
    shift = (beta - low * scale).astype(work)
    scale = scale.astype(work)
    y = np.empty_like(x3)
    kept = np.empty(x3.shape, work) if keep_deviation else None
    for part in blocks(x3):
        out = y[part] if y.dtype == work else np.empty(y[part].shape, work)
        deviation = out if kept is None else kept[part]
        np.subtract(x3[part], high, out=deviation)
        np.multiply(deviation, scale, out=out)
        out += shift
        y[part] = out  # a no-op when out is y's own block
    return y, kept


def normalize_backward(
    dy3: FloatArray, deviation3: FloatArray, mean: FloatArray, inv_std: FloatArray, gamma: FloatArray
) -> Gradients:
    """Gradients of a training-mode :func:`normalize` whose statistics were its input's own, from the kept
    deviations ``d = x − μ_hi``: ``dx`` (shape and dtype of ``dy3``), ``dgamma`` and ``dbeta`` (``(C,)``,
    ``gamma``'s dtype). Two passes over ``d`` and ``dy``: the per-channel sums, then
    ``dx = a·dy + b·d + c`` (module docstring)."""
    outer, channels, inner = deviation3.shape
    wide, work = computation_dtype(deviation3.dtype, dy3.dtype), elementwise_dtype(deviation3.dtype)
    sum_dy, sum_dy_deviation = np.zeros((channels, 1), wide), np.zeros((channels, 1), wide)
    for part in blocks(deviation3):
        sum_dy += channel_sums(dy3[part])
        sum_dy_deviation += channel_dots(deviation3[part], dy3[part])
    m = outer * inner
    _, low = split_mean(mean, work)
    sum_dy_x_hat = (sum_dy_deviation - low * sum_dy) * inv_std
    a = gamma * inv_std
    b = -a * inv_std * sum_dy_x_hat / m
    c = -a * sum_dy / m - b * low
    a, b, c = (column.astype(work) for column in (a, b, c))
    dx = np.empty_like(dy3)
    for part in blocks(deviation3):
        out = dx[part] if dx.dtype == work else np.empty(dx[part].shape, work)
        scaled = np.multiply(deviation3[part], b)
        np.multiply(dy3[part], a, out=out)
        out += scaled
        out += c
        dx[part] = out
    return Gradients(dx, sum_dy_x_hat.reshape(-1).astype(gamma.dtype), sum_dy.reshape(-1).astype(gamma.dtype))


class Forward(NamedTuple):
    """A forward pass: ``y`` ``(outer, C, inner)``, and what the backward needs: the deviations
    ``d = x − μ_hi`` (None in inference), the statistics used (``(C, 1)`` columns) and ``inv_std`` =
    :math:`1/\\sqrt{\\sigma^2+\\epsilon}`."""

    y: FloatArray
    deviation: FloatArray | None
    stats: Moments
    inv_std: FloatArray


def forward(x3: FloatArray, gamma: FloatArray, beta: FloatArray, eps: float, stats: Moments | None = None) -> Forward:
    """Batch norm of ``x3`` ``(outer, C, inner)`` with ``(C,)`` vectors ``gamma`` and ``beta``: with the
    batch's own statistics (training; the deviations are kept for :func:`backward`), or the given ``(C, 1)``
    ``stats`` (inference)."""
    training = stats is None
    if stats is None:
        stats = moments(x3)
    wide = computation_dtype(x3.dtype, stats.var.dtype)
    inv_std = 1.0 / np.sqrt(stats.var.astype(wide) + eps)
    y, deviation = normalize(x3, stats.mean.astype(wide), inv_std, gamma[:, None], beta[:, None], training)
    return Forward(y, deviation, stats, inv_std)


def backward(dy3: FloatArray, forward: Forward, gamma: FloatArray) -> Gradients:
    """Gradients of a training-mode :func:`forward` (``gamma`` the ``(C,)`` vector it used)."""
    if forward.deviation is None:
        raise ValueError("backward needs a training-mode forward pass (one that computed its own statistics)")
    return normalize_backward(dy3, forward.deviation, forward.stats.mean, forward.inv_std, gamma[:, None])

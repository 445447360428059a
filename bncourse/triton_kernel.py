# mypy: disable-error-code="no-untyped-def, untyped-decorator, no-untyped-call"
# (@triton.jit functions take pointers and constexprs that Triton types when it compiles them.)
r"""Batch norm's training-mode forward and backward as fused Triton kernels (extra ``gpu``: torch and triton).

``batch_norm(x, running_mean, running_var, weight, bias, training=True, momentum=0.1, eps=1e-5)`` has the
signature and the results of ``torch.nn.functional.batch_norm`` for ``(N, C, *spatial)`` float32 or bfloat16
tensors (every sum in float32), and is differentiable (:class:`BatchNormFunction`). On a CPU it runs in
Triton's interpreter (``TRITON_INTERPRET=1``, set before triton is imported), which is how the tests check it.

**The work split.** Channel ``c`` owns ``m = N·HW`` values, ``N`` runs of ``HW`` contiguous numbers
``C·HW`` apart. One program per channel, as public Triton batch-norm kernels do, gives ``C`` programs:
with ``C = 64`` most of a 132-SM GPU idles. So each channel is cut into ``S`` *splits* and the grid is
``(C, S)``, about four programs per SM; a split's partial statistics are combined afterwards.

**Forward** (three launches; ``x`` is read twice and ``y`` written once: 3 bytes moved per 2 needed):

1. ``_partial_moments`` (grid ``(C, S)``): each program runs Welford's update lane by lane over its
   values (``BLOCK`` lanes), then merges its lanes into one ``(count, mean, M2)``: numerically safe even
   when ``|μ| ≫ σ``, where ``Σx² − (Σx)²/m`` in float32 would cancel.
2. ``_combine_moments`` (grid ``(C,)``): merges the ``S`` partials with Chan's formula into the batch's
   ``μ`` and biased ``σ²``; saves ``μ`` and ``1/√(σ²+ε)`` for the backward and updates the running
   statistics, PyTorch's way: ``r ← (1−momentum)·r + momentum·b`` with the *unbiased* variance.
3. ``_normalize`` (grid ``(C, S)``): ``y = (x − μ)·(γ/√(σ²+ε)) + β``, stored in ``x``'s dtype (``x − μ``
   first: ``x·s + (β − μs)`` would cancel when ``|μ| ≫ σ``).

**Backward** (three launches; ``x`` and ``dy`` read twice, ``dx`` written once):

1. ``_partial_gradient_sums``: per split, ``Σ dy`` and ``Σ dy·x̂``;
2. ``_combine_gradient_sums``: ``dβ = Σ dy``, ``dγ = Σ dy·x̂`` per channel;
3. ``_input_gradient``: :math:`dx = \frac{\gamma}{\sqrt{\sigma^2+\epsilon}}\big(dy - \frac{d\beta}{m} - \hat x\,\frac{d\gamma}{m}\big)`.

For a tensor much larger than the L2 cache, reading ``x`` twice caps this design at 2/3 of the
memory-bandwidth limit in the forward pass and (2+3)/(3+5) in forward + backward (the performance chapter
derives it). Reaching further needs ``x`` read from HBM once: a channel group kept resident in L2 between
the two passes, or a grid-wide synchronization. That is left as an exercise; ``benchmarks/triton_kernel.py``
measures what this design reaches on a GPU. Two other costs may bind before the bandwidth does: the integer
division and remainder by ``HW`` per value in ``_address``, and Welford's division per value.
"""

from __future__ import annotations

import os
from typing import Any

import torch
import triton
import triton.language as tl

#: Lanes per program: values loaded and updated together.
BLOCK = 1024
#: Programs per channel at most (a power of two: the combine kernels load all of a channel's splits at once).
MAX_SPLITS = 256


@triton.jit
def _address(x_ptr, c, index, spatial, channels):
    """The pointer to value ``index`` (in ``0..N·HW``) of channel ``c`` of an ``(N, C, HW)`` tensor. In int64:
    a tensor of 2³¹ values or more (8.6 GB of float32) would overflow int32 offsets."""
    n = (index // spatial).to(tl.int64)
    return x_ptr + (n * channels + c) * spatial + index % spatial


@triton.jit
def _load(x_ptr, c, index, valid, spatial, channels):
    """Values ``index`` of channel ``c`` as float32 (0 where not ``valid``)."""
    return tl.load(_address(x_ptr, c, index, spatial, channels), mask=valid, other=0.0).to(tl.float32)


@triton.jit
def _split_range(split, per_split, total):
    """The first and one-past-last value index of a split."""
    start = split * per_split
    return start, tl.minimum(start + per_split, total)


@triton.jit
def _partial_moments(x_ptr, count_ptr, mean_ptr, m2_ptr, channels, spatial, total, per_split, splits,
                     BLOCK: tl.constexpr):
    c, split = tl.program_id(0), tl.program_id(1)
    start, stop = _split_range(split, per_split, total)
    count = tl.zeros([BLOCK], tl.float32)
    mean = tl.zeros([BLOCK], tl.float32)
    m2 = tl.zeros([BLOCK], tl.float32)
    for offset in range(start, stop, BLOCK):
        index = offset + tl.arange(0, BLOCK)
        valid = index < stop
        x = _load(x_ptr, c, index, valid, spatial, channels)
        # Welford, lane by lane: lanes past the end keep their state.
        new_count = count + valid.to(tl.float32)
        delta = x - mean
        mean = tl.where(valid, mean + delta / tl.maximum(new_count, 1.0), mean)
        m2 = tl.where(valid, m2 + delta * (x - mean), m2)
        count = new_count
    # Merge the lanes (Chan et al.): M2 = Σ M2_l + Σ n_l (μ_l − μ)².
    split_count = tl.sum(count, axis=0)
    split_mean = tl.sum(count * mean, axis=0) / tl.maximum(split_count, 1.0)
    split_m2 = tl.sum(m2 + count * (mean - split_mean) * (mean - split_mean), axis=0)
    tl.store(count_ptr + c * splits + split, split_count)
    tl.store(mean_ptr + c * splits + split, split_mean)
    tl.store(m2_ptr + c * splits + split, split_m2)


@triton.jit
def _combine_moments(count_ptr, mean_ptr, m2_ptr, saved_mean_ptr, saved_inv_std_ptr,
                     running_mean_ptr, running_var_ptr, splits, momentum, eps,
                     UPDATE_RUNNING: tl.constexpr, SPLITS: tl.constexpr):
    c = tl.program_id(0)
    offsets = tl.arange(0, SPLITS)
    valid = offsets < splits
    count = tl.load(count_ptr + c * splits + offsets, mask=valid, other=0.0)
    mean = tl.load(mean_ptr + c * splits + offsets, mask=valid, other=0.0)
    m2 = tl.load(m2_ptr + c * splits + offsets, mask=valid, other=0.0)
    total = tl.sum(count, axis=0)
    batch_mean = tl.sum(count * mean, axis=0) / total
    batch_var = tl.sum(m2 + count * (mean - batch_mean) * (mean - batch_mean), axis=0) / total  # biased
    tl.store(saved_mean_ptr + c, batch_mean)
    # IEEE-rounded square root and division (tl.sqrt and / are approximate on NVIDIA GPUs).
    tl.store(saved_inv_std_ptr + c, tl.div_rn(1.0, tl.sqrt_rn(batch_var + eps)))
    if UPDATE_RUNNING:
        running_mean = tl.load(running_mean_ptr + c)
        running_var = tl.load(running_var_ptr + c)
        unbiased = batch_var * total / tl.maximum(total - 1.0, 1.0)
        tl.store(running_mean_ptr + c, (1.0 - momentum) * running_mean + momentum * batch_mean)
        tl.store(running_var_ptr + c, (1.0 - momentum) * running_var + momentum * unbiased)


@triton.jit
def _normalize(x_ptr, y_ptr, mean_ptr, inv_std_ptr, weight_ptr, bias_ptr,
               channels, spatial, total, per_split, BLOCK: tl.constexpr):
    c, split = tl.program_id(0), tl.program_id(1)
    start, stop = _split_range(split, per_split, total)
    mean = tl.load(mean_ptr + c)
    scale = tl.load(weight_ptr + c) * tl.load(inv_std_ptr + c)
    shift = tl.load(bias_ptr + c)
    for offset in range(start, stop, BLOCK):
        index = offset + tl.arange(0, BLOCK)
        valid = index < stop
        x = _load(x_ptr, c, index, valid, spatial, channels)
        # x − μ first: x·s + (β − μs) would subtract two large numbers when |μ| ≫ σ.
        y = (x - mean) * scale + shift
        tl.store(_address(y_ptr, c, index, spatial, channels), y.to(y_ptr.dtype.element_ty), mask=valid)


@triton.jit
def _partial_gradient_sums(x_ptr, dy_ptr, mean_ptr, inv_std_ptr, sum_dy_ptr, sum_dy_x_hat_ptr,
                           channels, spatial, total, per_split, splits, BLOCK: tl.constexpr):
    c, split = tl.program_id(0), tl.program_id(1)
    start, stop = _split_range(split, per_split, total)
    mean, inv_std = tl.load(mean_ptr + c), tl.load(inv_std_ptr + c)
    sum_dy = tl.zeros([BLOCK], tl.float32)
    sum_dy_x_hat = tl.zeros([BLOCK], tl.float32)
    for offset in range(start, stop, BLOCK):
        index = offset + tl.arange(0, BLOCK)
        valid = index < stop
        x = _load(x_ptr, c, index, valid, spatial, channels)
        dy = _load(dy_ptr, c, index, valid, spatial, channels)
        sum_dy += dy
        sum_dy_x_hat += dy * (x - mean) * inv_std
    tl.store(sum_dy_ptr + c * splits + split, tl.sum(sum_dy, axis=0))
    tl.store(sum_dy_x_hat_ptr + c * splits + split, tl.sum(sum_dy_x_hat, axis=0))


@triton.jit
def _combine_gradient_sums(sum_dy_ptr, sum_dy_x_hat_ptr, dbias_ptr, dweight_ptr, splits,
                           SPLITS: tl.constexpr):
    c = tl.program_id(0)
    offsets = tl.arange(0, SPLITS)
    valid = offsets < splits
    tl.store(dbias_ptr + c, tl.sum(tl.load(sum_dy_ptr + c * splits + offsets, mask=valid, other=0.0), axis=0))
    tl.store(dweight_ptr + c, tl.sum(tl.load(sum_dy_x_hat_ptr + c * splits + offsets, mask=valid, other=0.0), axis=0))


@triton.jit
def _input_gradient(x_ptr, dy_ptr, dx_ptr, mean_ptr, inv_std_ptr, weight_ptr, dbias_ptr, dweight_ptr,
                    channels, spatial, total, per_split, BLOCK: tl.constexpr):
    c, split = tl.program_id(0), tl.program_id(1)
    start, stop = _split_range(split, per_split, total)
    mean, inv_std = tl.load(mean_ptr + c), tl.load(inv_std_ptr + c)
    scale = tl.load(weight_ptr + c) * inv_std
    mean_dy = tl.load(dbias_ptr + c) / total
    mean_dy_x_hat = tl.load(dweight_ptr + c) / total
    for offset in range(start, stop, BLOCK):
        index = offset + tl.arange(0, BLOCK)
        valid = index < stop
        x = _load(x_ptr, c, index, valid, spatial, channels)
        dy = _load(dy_ptr, c, index, valid, spatial, channels)
        x_hat = (x - mean) * inv_std
        dx = scale * (dy - mean_dy - x_hat * mean_dy_x_hat)
        tl.store(_address(dx_ptr, c, index, spatial, channels), dx.to(dx_ptr.dtype.element_ty), mask=valid)


class Plan:
    """How the ``m = N·HW`` values of each of ``C`` channels are split among programs."""

    def __init__(self, x: torch.Tensor, programs: int | None = None) -> None:
        self.batch, self.channels = x.shape[0], x.shape[1]
        self.spatial = x[0, 0].numel()
        self.total = self.batch * self.spatial
        if programs is None:  # about four programs per multiprocessor
            programs = 4 * (torch.cuda.get_device_properties(x.device).multi_processor_count if x.is_cuda else 2)
        blocks = triton.cdiv(self.total, BLOCK)
        wanted = max(1, min(MAX_SPLITS, triton.cdiv(programs, self.channels), blocks))
        # Whole blocks per split, so only the last block of a split is partial.
        self.per_split = triton.cdiv(blocks, wanted) * BLOCK
        self.splits = triton.cdiv(self.total, self.per_split)

    @property
    def grid(self) -> tuple[int, int]:
        return self.channels, self.splits

    @property
    def shape_arguments(self) -> tuple[int, int, int, int]:
        return self.channels, self.spatial, self.total, self.per_split


def _require_input(x: torch.Tensor) -> None:
    if x.dim() < 2:
        raise ValueError(f"x must have shape (N, C, *spatial), got {tuple(x.shape)}")
    if x.dtype not in (torch.float32, torch.bfloat16):
        raise TypeError(f"x must be float32 or bfloat16, got {x.dtype}")


def forward_training(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, running_mean: torch.Tensor | None,
                     running_var: torch.Tensor | None, momentum: float, eps: float,
                     programs: int | None = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(y, mean, inv_std)``: batch norm with the batch's statistics; updates the running statistics in place."""
    x = x.contiguous()
    plan = Plan(x, programs)
    if plan.total < 2:
        raise ValueError(f"Expected more than 1 value per channel when training, got input size {list(x.shape)}")
    partial = torch.empty((3, plan.channels, plan.splits), device=x.device, dtype=torch.float32)
    _partial_moments[plan.grid](x, partial[0], partial[1], partial[2], *plan.shape_arguments, plan.splits,
                                BLOCK=BLOCK)
    mean = torch.empty(plan.channels, device=x.device, dtype=torch.float32)
    inv_std = torch.empty_like(mean)
    update = running_mean is not None and running_var is not None
    _combine_moments[(plan.channels,)](partial[0], partial[1], partial[2], mean, inv_std,
                                       running_mean if update else mean, running_var if update else mean,
                                       plan.splits, momentum, eps, UPDATE_RUNNING=update,
                                       SPLITS=triton.next_power_of_2(plan.splits))
    y = torch.empty_like(x)
    _normalize[plan.grid](x, y, mean, inv_std, weight, bias, *plan.shape_arguments, BLOCK=BLOCK)
    return y, mean, inv_std


def backward_training(dy: torch.Tensor, x: torch.Tensor, weight: torch.Tensor, mean: torch.Tensor,
                      inv_std: torch.Tensor, programs: int | None = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(dx, dweight, dbias)`` of :func:`forward_training`; ``dweight``/``dbias`` in float32."""
    x, dy = x.contiguous(), dy.contiguous()
    plan = Plan(x, programs)
    partial = torch.empty((2, plan.channels, plan.splits), device=x.device, dtype=torch.float32)
    _partial_gradient_sums[plan.grid](x, dy, mean, inv_std, partial[0], partial[1], *plan.shape_arguments,
                                      plan.splits, BLOCK=BLOCK)
    dbias = torch.empty(plan.channels, device=x.device, dtype=torch.float32)
    dweight = torch.empty_like(dbias)
    _combine_gradient_sums[(plan.channels,)](partial[0], partial[1], dbias, dweight, plan.splits,
                                             SPLITS=triton.next_power_of_2(plan.splits))
    dx = torch.empty_like(x)
    _input_gradient[plan.grid](x, dy, dx, mean, inv_std, weight, dbias, dweight, *plan.shape_arguments, BLOCK=BLOCK)
    return dx, dweight, dbias


class BatchNormFunction(torch.autograd.Function):
    """Training-mode batch norm with the Triton kernels in both directions."""

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor,
                running_mean: torch.Tensor | None, running_var: torch.Tensor | None, momentum: float,
                eps: float) -> torch.Tensor:
        y, mean, inv_std = forward_training(x, weight.float(), bias.float(), running_mean, running_var, momentum, eps)
        ctx.save_for_backward(x, weight, mean, inv_std)
        return y

    @staticmethod
    def backward(ctx: Any, dy: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        x, weight, mean, inv_std = ctx.saved_tensors
        dx, dweight, dbias = backward_training(dy, x, weight.float(), mean, inv_std)
        return dx, dweight.to(weight.dtype), dbias.to(weight.dtype), None, None, None, None


def batch_norm(x: torch.Tensor, running_mean: torch.Tensor | None, running_var: torch.Tensor | None,
               weight: torch.Tensor | None = None, bias: torch.Tensor | None = None, training: bool = False,
               momentum: float = 0.1, eps: float = 1e-5) -> torch.Tensor:
    """``torch.nn.functional.batch_norm`` with the Triton kernels: same arguments, same results.

    In training mode the running statistics (float32, updated in place) may be None; in eval mode they are
    required and the normalization is one ``_normalize`` launch. ``weight``/``bias`` None mean 1 and 0."""
    _require_input(x)
    channels = x.shape[1]
    if weight is None:
        weight = torch.ones(channels, device=x.device, dtype=torch.float32)
    if bias is None:
        bias = torch.zeros(channels, device=x.device, dtype=torch.float32)
    if training:
        y: torch.Tensor = BatchNormFunction.apply(x, weight, bias, running_mean, running_var, momentum, eps)
        return y
    if running_mean is None or running_var is None:
        raise ValueError("running_mean and running_var are required in eval mode (training=False)")
    x = x.contiguous()
    plan = Plan(x)
    y = torch.empty_like(x)
    inv_std = torch.rsqrt(running_var.float() + eps)
    _normalize[plan.grid](x, y, running_mean.float(), inv_std, weight.float(), bias.float(), *plan.shape_arguments,
                          BLOCK=BLOCK)
    return y


def interpreted() -> bool:
    """Whether the kernels run in Triton's CPU interpreter."""
    return os.environ.get("TRITON_INTERPRET") == "1"

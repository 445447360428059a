r"""Batch norm across processes: synchronized BN over ``torch.distributed`` with the gloo backend (CPU).

PyTorch's ``nn.SyncBatchNorm`` runs only on GPUs (NCCL); this is the same algorithm for CPU processes, in
float64, small enough to read. Each process holds a shard of one batch.

Forward. Each process computes, per channel, its count :math:`n_p`, mean :math:`\mu_p` and sum of squared
deviations :math:`M_p = \sum (x - \mu_p)^2` (two passes over its own shard), and the processes exchange these
*Welford triples* with one ``all_gather`` of :math:`2C + 1` numbers each. They are combined as Chan et al.
(1979) do: :math:`n = \sum n_p`, :math:`\mu = \sum n_p \mu_p / n`,
:math:`M = \sum M_p + n_p (\mu_p - \mu)^2`, :math:`\sigma^2 = M / n`. Triples rather than sums of
:math:`x` and :math:`x^2`: those give :math:`\sigma^2 = E[x^2] - E[x]^2`, which cancels catastrophically when
:math:`|\mu| \gg \sigma` (the reason :mod:`bncourse.kernel` takes two passes); PyTorch's ``SyncBatchNorm`` also
gathers per-process mean, inverse standard deviation and count.

Backward. :math:`dx = \gamma/\sigma\,(dy - \overline{dy} - \hat x\, \overline{dy\,\hat x})` needs two per-channel
means over the *whole* batch: one ``all_reduce`` of the :math:`2C` sums :math:`\sum dy` and :math:`\sum dy\,\hat x`.
The parameter gradients stay local (a data-parallel wrapper sums or averages them, as for every parameter).

Cost per BN layer per step: one all-gather of :math:`P(2C+1)` numbers forward, one all-reduce of :math:`2C`
backward (``benchmarks/sync_bn_allreduce.py`` measures them).

:func:`run` launches ``world_size`` processes on 127.0.0.1 and returns what they computed;
``python -m bncourse.course.distributed --world-size 4`` prints the comparison with one process.
"""

from __future__ import annotations

import argparse
import os
import socket
import tempfile
from dataclasses import dataclass
from typing import Any

import numpy as np

from bncourse import validation


def _sync_batch_norm_function() -> Any:
    import torch
    import torch.distributed as dist

    class SyncBatchNormFunction(torch.autograd.Function):
        @staticmethod
        def forward(ctx: Any, x: Any, gamma: Any, beta: Any, eps: float) -> Any:
            axes = [0, *range(2, x.dim())]
            count = torch.tensor([float(x.numel() // x.shape[1])], dtype=x.dtype)
            mean = x.mean(dim=axes)
            m2 = ((x - mean.view(1, -1, *[1] * (x.dim() - 2))) ** 2).sum(dim=axes)
            triples = [torch.empty(2 * x.shape[1] + 1, dtype=x.dtype) for _ in range(dist.get_world_size())]
            dist.all_gather(triples, torch.cat([count, mean, m2]))
            counts = torch.stack([t[0] for t in triples])  # (P,)
            means = torch.stack([t[1 : 1 + x.shape[1]] for t in triples])  # (P, C)
            m2s = torch.stack([t[1 + x.shape[1] :] for t in triples])
            n = counts.sum()
            global_mean = (counts[:, None] * means).sum(0) / n
            global_var = (m2s + counts[:, None] * (means - global_mean) ** 2).sum(0) / n
            shape = (1, -1, *[1] * (x.dim() - 2))
            inv_std = 1.0 / torch.sqrt(global_var + eps)
            x_hat = (x - global_mean.view(shape)) * inv_std.view(shape)
            ctx.save_for_backward(x_hat, inv_std, gamma)
            ctx.n = n
            ctx.mark_non_differentiable(global_mean, global_var, n)
            return gamma.view(shape) * x_hat + beta.view(shape), global_mean, global_var, n

        @staticmethod
        def backward(ctx: Any, dy: Any, *unused: Any) -> Any:
            x_hat, inv_std, gamma = ctx.saved_tensors
            axes = [0, *range(2, dy.dim())]
            shape = (1, -1, *[1] * (dy.dim() - 2))
            local = torch.stack([dy.sum(dim=axes), (dy * x_hat).sum(dim=axes)])  # dbeta, dgamma of this shard
            total = local.clone()
            dist.all_reduce(total)  # the 2C sums over the whole batch
            dx = (gamma * inv_std).view(shape) * (
                dy - (total[0] / ctx.n).view(shape) - x_hat * (total[1] / ctx.n).view(shape)
            )
            return dx, local[1], local[0], None

    return SyncBatchNormFunction


@dataclass
class Result:
    """What the processes computed, put together: ``y`` and ``dx`` of the whole batch (shards concatenated
    in rank order), ``dgamma``/``dbeta`` summed over processes, and rank 0's running statistics."""

    y: np.ndarray
    dx: np.ndarray
    dgamma: np.ndarray
    dbeta: np.ndarray
    running_mean: np.ndarray
    running_var: np.ndarray


def example_batch(seed: int = 0, shape: tuple[int, ...] = (8, 3, 4, 4)) -> tuple[np.ndarray, ...]:
    """A batch ``x`` far from zero, an upstream gradient ``dy``, and γ, β: the same in every process."""
    rng = np.random.default_rng(seed)
    x = 5.0 + 2.0 * rng.standard_normal(shape)
    return x, rng.standard_normal(shape), rng.uniform(0.5, 2.0, shape[1]), rng.standard_normal(shape[1])


def _worker(rank: int, world_size: int, port: int, out_dir: str, synchronized: bool, seed: int, momentum: float) -> None:
    import torch
    import torch.distributed as dist

    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world_size)
    try:
        x, dy, gamma, beta = (torch.from_numpy(a) for a in example_batch(seed))
        shard = slice(rank * len(x) // world_size, (rank + 1) * len(x) // world_size)
        x_local = x[shard].clone().requires_grad_(True)
        gamma_t, beta_t = gamma.clone().requires_grad_(True), beta.clone().requires_grad_(True)
        running_mean, running_var = torch.zeros(x.shape[1], dtype=x.dtype), torch.ones(x.shape[1], dtype=x.dtype)
        if synchronized:
            y, mean, var, n = _sync_batch_norm_function().apply(x_local, gamma_t, beta_t, 1e-5)
            unbiased = var * n / (n - 1)
            running_mean.mul_(1 - momentum).add_(momentum * mean)
            running_var.mul_(1 - momentum).add_(momentum * unbiased)
        else:  # each process normalizes its shard with its own statistics
            y = torch.nn.functional.batch_norm(
                x_local, running_mean, running_var, gamma_t, beta_t, training=True, momentum=momentum, eps=1e-5
            )
        y.backward(dy[shard])
        np.savez(
            os.path.join(out_dir, f"{rank}.npz"),
            y=y.detach().numpy(), dx=_grad(x_local), dgamma=_grad(gamma_t), dbeta=_grad(beta_t),
            running_mean=running_mean.numpy(), running_var=running_var.numpy(),
        )
        dist.barrier()  # no process leaves while another is still connecting or sending
    finally:
        dist.destroy_process_group()


def _grad(tensor: Any) -> np.ndarray:
    """The gradient autograd left on ``tensor``, as NumPy."""
    if tensor.grad is None:
        raise RuntimeError("no gradient reached this tensor")
    out: np.ndarray = tensor.grad.numpy()
    return out


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now (for a process group's rendezvous)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def torch_sync_batch_norm_error() -> str:
    """What ``torch.nn.SyncBatchNorm`` says to a CPU tensor once a process group exists (without one it
    silently falls back to ordinary, per-process BN): a one-process gloo group on 127.0.0.1."""
    import torch
    import torch.distributed as dist

    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{free_port()}", rank=0, world_size=1)
    try:
        torch.nn.SyncBatchNorm(3)(torch.ones(4, 3))
    except ValueError as error:
        return f"ValueError: {error}"
    finally:
        dist.destroy_process_group()
    return "no error"


def run(world_size: int, *, synchronized: bool = True, seed: int = 0, momentum: float = 0.1) -> Result:
    """Run BN on :func:`example_batch` split over ``world_size`` processes (gloo on 127.0.0.1), synchronized
    or each with its own statistics, forward and backward, and collect the results."""
    from torch.multiprocessing.spawn import start_processes

    world_size = validation.require_int("world_size", world_size, minimum=1, maximum=8)
    synchronized = validation.require_bool("synchronized", synchronized)
    seed = validation.require_int("seed", seed, minimum=0)
    momentum = validation.require_unit_interval("momentum", momentum)
    with tempfile.TemporaryDirectory() as out_dir:
        arguments = (world_size, free_port(), out_dir, synchronized, seed, momentum)
        # fork: the children start with torch already imported (spawn would import it again, seconds each).
        start_processes(_worker, args=arguments, nprocs=world_size, start_method="fork")  # type: ignore[no-untyped-call]
        parts = [dict(np.load(os.path.join(out_dir, f"{rank}.npz"))) for rank in range(world_size)]
    return Result(
        y=np.concatenate([p["y"] for p in parts]),
        dx=np.concatenate([p["dx"] for p in parts]),
        dgamma=np.sum([p["dgamma"] for p in parts], axis=0),
        dbeta=np.sum([p["dbeta"] for p in parts], axis=0),
        running_mean=parts[0]["running_mean"],
        running_var=parts[0]["running_var"],
    )


def single_process(seed: int = 0, momentum: float = 0.1) -> Result:
    """The reference: ``nn.BatchNorm2d`` on the whole batch in one process."""
    import torch

    x, dy, gamma, beta = (torch.from_numpy(a) for a in example_batch(seed))
    module = torch.nn.BatchNorm2d(x.shape[1], momentum=momentum, dtype=torch.float64)
    with torch.no_grad():
        module.weight.copy_(gamma)
        module.bias.copy_(beta)
    x = x.clone().requires_grad_(True)
    y = module(x)
    y.backward(dy)
    running_mean, running_var = module.running_mean, module.running_var
    if running_mean is None or running_var is None:
        raise RuntimeError("the reference module keeps running statistics")
    return Result(
        y.detach().numpy(), _grad(x), _grad(module.weight), _grad(module.bias), running_mean.numpy(), running_var.numpy()
    )


def max_differences(result: Result, reference: Result) -> dict[str, float]:
    """The largest absolute difference of each field."""
    return {
        name: float(np.max(np.abs(getattr(result, name) - getattr(reference, name))))
        for name in ("y", "dx", "dgamma", "dbeta", "running_mean", "running_var")
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--world-size", type=int, default=2)
    parser.add_argument("--unsynchronized", action="store_true")
    args = parser.parse_args()
    result = run(args.world_size, synchronized=not args.unsynchronized)
    for name, gap in max_differences(result, single_process()).items():
        print(f"{name:13s} max |{args.world_size} processes - 1 process| = {gap:.1e}")


if __name__ == "__main__":
    main()

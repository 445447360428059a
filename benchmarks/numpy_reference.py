"""bncourse's batch norm against PyTorch's CPU kernel, one thread each, float32: training-mode forward, and
forward + backward, on the three shapes of the performance chapter. Also times the readable kernel
(bncourse.kernel, float64 throughout, one temporary per operation) that bncourse.blocked replaced, and
checks that bncourse and PyTorch agree to float32 round-off.

    .venv/bin/python benchmarks/numpy_reference.py [--repeats 9] [--out book/data/numpy_reference.json]
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks import common

SHAPES = ((64, 64, 32, 32), (256, 256, 14, 14), (4096, 1024))


def measure(shape: tuple[int, ...], repeats: int) -> dict[str, Any]:
    import torch

    import bncourse as bn
    from bncourse import kernel

    rng = np.random.default_rng(0)
    x = rng.standard_normal(shape).astype(np.float32)
    dy = rng.standard_normal(shape).astype(np.float32)
    channels = shape[1]
    axes = tuple(a for a in range(len(shape)) if a != 1)
    column = (1, channels) + (1,) * (len(shape) - 2)
    gamma, beta = np.ones(column, np.float32), np.zeros(column, np.float32)

    def kernel_forward() -> kernel.Normalized:
        return kernel.normalize(x, axes, gamma, beta, 1e-5, kernel.moments(x, axes))

    layer = bn.BatchNorm(channels, dtype=np.float32)

    def bncourse_backward() -> bn.Gradients:
        layer(x, training=True)
        return layer.backward(dy)

    module = (torch.nn.BatchNorm1d if len(shape) == 2 else torch.nn.BatchNorm2d)(channels)
    x_torch = torch.from_numpy(x).requires_grad_()
    dy_torch = torch.from_numpy(dy)

    def torch_forward() -> torch.Tensor:
        with torch.no_grad():
            y: torch.Tensor = module(x_torch)
        return y

    def torch_backward() -> torch.Tensor:
        x_torch.grad = None
        module(x_torch).backward(dy_torch)
        assert x_torch.grad is not None
        return x_torch.grad

    times = {
        "kernel": {"forward": common.median_ms(kernel_forward, repeats),
                   "forward+backward": common.median_ms(lambda: kernel.normalize_backward(dy, kernel_forward(), gamma), repeats)},
        "bncourse": {"forward": common.median_ms(lambda: layer(x, training=True), repeats),
                     "forward+backward": common.median_ms(bncourse_backward, repeats)},
        "torch": {"forward": common.median_ms(torch_forward, repeats),
                  "forward+backward": common.median_ms(torch_backward, repeats)},
    }
    y = bn.BatchNorm(channels, dtype=np.float32)(x, training=True)
    dx = bncourse_backward().dx
    return {"shape": list(shape), "ms": times,
            "max_abs_difference_from_torch": {"y": float(np.abs(y - torch_forward().numpy()).max()),
                                              "dx": float(np.abs(dx - torch_backward().numpy()).max())}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=9)
    parser.add_argument("--out", type=Path, help="also write the results to this JSON file")
    args = parser.parse_args()
    import torch
    from threadpoolctl import threadpool_limits

    torch.set_num_threads(1)
    with threadpool_limits(1):
        cases = [measure(shape, args.repeats) for shape in SHAPES]
    results = {"machine": common.machine(torch=torch.__version__), "threads": 1, "dtype": "float32",
               "repeats": args.repeats, "cases": cases}
    print(f"{results['machine']['processor']}, one thread, float32, median of {args.repeats} (ms)")
    print(f"{'shape':>20} {'pass':>17} {'kernel':>8} {'bncourse':>9} {'torch':>7} {'bncourse/torch':>15}")
    for case in cases:
        for phase in ("forward", "forward+backward"):
            ms = {name: case["ms"][name][phase] for name in ("kernel", "bncourse", "torch")}
            print(f"{str(tuple(case['shape'])):>20} {phase:>17} {ms['kernel']:8.1f} {ms['bncourse']:9.1f} "
                  f"{ms['torch']:7.1f} {ms['bncourse'] / ms['torch']:15.2f}")
    if args.out:
        common.write(args.out, results)


if __name__ == "__main__":
    main()

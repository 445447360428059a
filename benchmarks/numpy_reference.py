"""bncourse's batch norm against PyTorch's CPU kernel, one thread each, float32: training-mode forward, and
forward + backward, on the three shapes of the performance chapter. Also times the readable kernel
(bncourse.kernel, float64 throughout, one temporary per operation) that bncourse.blocked replaced, and
records how far bncourse's and PyTorch's outputs are apart. bncourse's timed forward is BatchNorm's training call: it
validates x, keeps x − μ for the backward and updates the running statistics; PyTorch's runs under no_grad
and keeps nothing (its forward + backward keeps a reference to x). Each repeat times one call of each, interleaved;
medians and quartiles of the times and of the per-repeat ratio bncourse / torch are reported.

    .venv/bin/python -m benchmarks.numpy_reference [--repeats 15] [--out book/data/numpy_reference.json]
"""

from __future__ import annotations

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

    runs = {
        "forward": {"kernel": kernel_forward, "bncourse": lambda: layer(x, training=True), "torch": torch_forward},
        "forward+backward": {"kernel": lambda: kernel.normalize_backward(dy, kernel_forward(), gamma),
                             "bncourse": bncourse_backward, "torch": torch_backward},
    }
    # Interleaved: each repeat times one call of each implementation, so that a slower moment of a shared
    # machine hits all three; the ratio is the median of the per-repeat ratios.
    times: dict[str, dict[str, Any]] = {name: {} for name in ("kernel", "bncourse", "torch")}
    ratios = {}
    for phase, implementations in runs.items():
        repeats_ms = [{name: common.timings_ms(run, 1, warmup=1)[0] for name, run in implementations.items()}
                      for _ in range(repeats)]
        for name in implementations:
            times[name][phase] = common.quartiles([r[name] for r in repeats_ms])
        ratios[phase] = common.quartiles([r["bncourse"] / r["torch"] for r in repeats_ms])
    y = bn.BatchNorm(channels, dtype=np.float32)(x, training=True)
    dx = bncourse_backward().dx
    return {"shape": list(shape), "ms": times, "bncourse_over_torch": ratios,
            "max_abs_difference_from_torch": {"y": float(np.abs(y - torch_forward().numpy()).max()),
                                              "dx": float(np.abs(dx - torch_backward().numpy()).max())}}


def main() -> None:
    args = common.arguments(__doc__, repeats=15)
    import torch
    from threadpoolctl import threadpool_limits

    torch.set_num_threads(1)
    with threadpool_limits(1):
        cases = [measure(shape, args.repeats) for shape in SHAPES]
    results = {"machine": common.machine(torch=torch.__version__), "threads": 1, "dtype": "float32",
               "repeats": args.repeats, "cases": cases}
    print(f"{results['machine']['processor']}, one thread, float32, median of {args.repeats} (ms)")
    print(f"{'shape':>20} {'pass':>17} {'kernel':>8} {'bncourse':>9} {'torch':>7} {'bncourse/torch (quartiles)':>26}")
    for case in cases:
        for phase in ("forward", "forward+backward"):
            ms = {name: case["ms"][name][phase]["median"] for name in ("kernel", "bncourse", "torch")}
            ratio = case["bncourse_over_torch"][phase]
            print(f"{str(tuple(case['shape'])):>20} {phase:>17} {ms['kernel']:8.1f} {ms['bncourse']:9.1f} "
                  f"{ms['torch']:7.1f} {ratio['median']:8.2f} ({ratio['p25']:.2f}-{ratio['p75']:.2f})")
    if args.out:
        common.write(args.out, results)


if __name__ == "__main__":
    main()

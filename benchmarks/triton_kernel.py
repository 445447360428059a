"""The Triton batch-norm kernels (bncourse.triton_kernel) against PyTorch eager and torch.compile on a GPU,
as a fraction of the memory-bandwidth limit measured in the same run.

    python -m benchmarks.triton_kernel [--repeats 50] [--out book/data/triton_kernel.json]

Needs a CUDA GPU and the extra 'gpu' (torch with CUDA, triton); exits with a message otherwise. For each
case (256, 64, 56, 56) and (256, 256, 14, 14), float32 and bfloat16, it times the training-mode forward and
the forward + backward with CUDA events (warm-up first, median of the repeats). The limit: a
device-to-device copy of the tensor (read S, write S bytes) gives the achievable bandwidth B; batch norm
must move at least 2S bytes in the forward (read x, write y) and 5S in forward + backward (also read x and dy,
write dx), so its fastest possible time is 2S/B and 5S/B, and the reported fraction is that time over the
measured one. The L2 cache is flushed before every timed call (see cuda_median_ms). Each call is timed on its
own, so the host's launch overhead (three to six kernel launches and autograd's bookkeeping) counts when
the GPU work is shorter than it, as for (256, 256, 14, 14) in bfloat16; CUDA graphs would remove it.
torch.compile starts from a fresh cache for every case (torch._dynamo.reset()), with dynamic=False,
so that no case runs a shape-generic or fallen-back-to-eager version compiled for another.
"""

from __future__ import annotations

import statistics
import sys
from collections.abc import Callable
from typing import Any

from benchmarks import common

CASES = ((256, 64, 56, 56), (256, 256, 14, 14))
MINIMAL_TRAFFIC = {"forward": 2, "forward+backward": 5}  # in multiples of the tensor's size S


def cuda_median_ms(run: Callable[[], object], repeats: int, warmup: int = 10) -> float:
    """The median time of ``run()`` on the GPU, by CUDA events around each call, after ``warmup`` calls.
    Before each timed call a 256 MB buffer is overwritten, outside the events, so that the L2 cache (50 MB
    on an H100 or H200) holds none of the operands: a (256, 256, 14, 14) tensor in bfloat16 is
    26 MB and would otherwise be read from L2, flattering the kernel and the copy alike."""
    import torch

    flush = torch.empty(256 * 2**20, dtype=torch.uint8, device="cuda")
    for _ in range(warmup):
        run()
    torch.cuda.synchronize()
    times = []
    for _ in range(repeats):
        flush.zero_()
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)  # type: ignore[no-untyped-call]
        start.record()
        run()
        end.record()
        torch.cuda.synchronize()
        times.append(start.elapsed_time(end))
    return float(statistics.median(times))


def implementations() -> dict[str, Callable[..., Any]]:
    """The three contenders; called once per case and contender, so ``compiled`` is compiled afresh."""
    import torch

    from bncourse import triton_kernel

    torch._dynamo.reset()
    return {"triton": triton_kernel.batch_norm, "eager": torch.nn.functional.batch_norm,
            "compiled": torch.compile(torch.nn.functional.batch_norm, dynamic=False)}


def measure(shape: tuple[int, ...], dtype: Any, repeats: int) -> dict[str, Any]:
    import torch

    x = torch.randn(shape, device="cuda", dtype=dtype)
    dy = torch.randn_like(x)
    channels = shape[1]
    size = x.numel() * x.element_size()
    copy_target = torch.empty_like(x)
    copy_ms = cuda_median_ms(lambda: copy_target.copy_(x), repeats)
    bandwidth = 2 * size / (copy_ms * 1e-3)  # bytes per second a copy achieves
    case: dict[str, Any] = {"shape": list(shape), "dtype": str(dtype).removeprefix("torch."), "bytes": size,
                            "copy_ms": copy_ms, "copy_bandwidth_gb_s": bandwidth / 1e9, "results": {}}
    for name in ("triton", "eager", "compiled"):
        function = implementations()[name]  # a fresh torch.compile cache per case
        weight = torch.ones(channels, device="cuda", requires_grad=True)
        bias = torch.zeros(channels, device="cuda", requires_grad=True)
        running_mean, running_var = torch.zeros(channels, device="cuda"), torch.ones(channels, device="cuda")
        leaf = x.clone().requires_grad_()

        def forward() -> Any:
            with torch.no_grad():
                return function(x, running_mean, running_var, weight, bias, training=True)

        def forward_backward() -> Any:
            y = function(leaf, running_mean, running_var, weight, bias, training=True)
            return torch.autograd.grad(y, (leaf, weight, bias), dy)

        for phase, run in (("forward", forward), ("forward+backward", forward_backward)):
            ms = cuda_median_ms(run, repeats)
            limit_ms = MINIMAL_TRAFFIC[phase] * size / bandwidth * 1e3
            case["results"].setdefault(name, {})[phase] = {"ms": ms, "fraction_of_limit": limit_ms / ms}
    return case


def main() -> None:
    args = common.arguments(__doc__, repeats=50)
    import torch

    if not torch.cuda.is_available():
        sys.exit("benchmarks/triton_kernel.py needs a CUDA GPU (and torch with CUDA and triton); none is visible")
    import triton

    cases = [measure(shape, dtype, args.repeats) for shape in CASES for dtype in (torch.float32, torch.bfloat16)]
    device = torch.cuda.get_device_properties(0)
    results = {"machine": common.machine(torch=torch.__version__, triton=triton.__version__,
                                         cuda=str(torch.version.cuda)),
               "device": {"name": device.name, "multiprocessors": device.multi_processor_count,
                          "memory_gb": device.total_memory / 1e9},
               "repeats": args.repeats, "cases": cases}
    print(f"{device.name}, median of {args.repeats}; fraction of the limit (ms)")
    for case in cases:
        for phase in MINIMAL_TRAFFIC:
            cells = "  ".join(f"{name} {r[phase]['fraction_of_limit']:.2f} ({r[phase]['ms']:.3f})"
                              for name, r in case["results"].items())
            print(f"{str(tuple(case['shape'])):>20} {case['dtype']:>8} {phase:>17}  {cells}")
    if args.out:
        common.write(args.out, results)


if __name__ == "__main__":
    main()

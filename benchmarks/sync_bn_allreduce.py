"""The communication synchronized BN adds, measured: per BN layer per step, one all-gather of the per-process
Welford triples (2C + 1 numbers each) in the forward pass and one all-reduce of 2C numbers in the backward pass
(bncourse.course.distributed). Runs P processes on 127.0.0.1 with the gloo backend and prints, for a few channel
counts C, the median time of each collective over repeats, with the machine and versions it ran on, as JSON.

    .venv/bin/python benchmarks/sync_bn_allreduce.py [--processes 2] [--repeats 200]

Loopback gloo on one machine: a lower bound for a real network, where latency dominates these small messages.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import socket
import tempfile
import time

import numpy as np

CHANNELS = (64, 256, 1024, 4096)


def _worker(rank: int, world_size: int, port: int, repeats: int, out_dir: str) -> None:
    import torch
    import torch.distributed as dist

    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world_size)
    results = {}
    for channels in CHANNELS:
        triple = torch.randn(2 * channels + 1, dtype=torch.float64)
        gathered = [torch.empty_like(triple) for _ in range(world_size)]
        sums = torch.randn(2 * channels, dtype=torch.float64)
        timings: dict[str, list[float]] = {"all_gather 2C+1": [], "all_reduce 2C": []}
        for _ in range(repeats):
            dist.barrier()
            start = time.perf_counter()
            dist.all_gather(gathered, triple)
            timings["all_gather 2C+1"].append(time.perf_counter() - start)
            dist.barrier()
            start = time.perf_counter()
            dist.all_reduce(sums)
            timings["all_reduce 2C"].append(time.perf_counter() - start)
        results[channels] = {name: float(np.median(t)) * 1e6 for name, t in timings.items()}
    if rank == 0:
        with open(os.path.join(out_dir, "result.json"), "w") as f:
            json.dump(results, f)
    dist.destroy_process_group()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=200)
    args = parser.parse_args()
    import torch
    from torch.multiprocessing.spawn import start_processes

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with tempfile.TemporaryDirectory() as out_dir:
        start_processes(_worker, args=(args.processes, port, args.repeats, out_dir), nprocs=args.processes,  # type: ignore[no-untyped-call]
                        start_method="fork")
        with open(os.path.join(out_dir, "result.json")) as f:
            results = json.load(f)
    print(json.dumps({
        "machine": {"platform": platform.platform(), "processor": platform.processor() or platform.machine(),
                    "cpus": os.cpu_count(), "python": platform.python_version(), "torch": torch.__version__},
        "processes": args.processes,
        "repeats": args.repeats,
        "median_microseconds": results,
    }, indent=1))


if __name__ == "__main__":
    main()

"""The batch-norm backward pass in its compact closed form against the same gradient node by node along the
graph (bncourse.batch_norm_backward and bncourse.batch_norm_backward_graph), float64, one thread, on an MLP's
and a CNN's activation shape. The backward chapter's implementation exercise reads the result. Each repeat times
one call of each, interleaved; medians and quartiles of the times and of the per-repeat ratio graph / compact
are reported.

    .venv/bin/python -m benchmarks.backward_forms [--repeats 30] [--out book/data/backward_forms.json]
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from benchmarks import common

SHAPES = ((1024, 256), (64, 64, 16, 16))


def measure(shape: tuple[int, ...], repeats: int) -> dict[str, Any]:
    import bncourse as bn

    rng = np.random.default_rng(0)
    x, dy = rng.standard_normal(shape), rng.standard_normal(shape)
    gamma = rng.uniform(0.5, 2.0, shape[1])
    forms: dict[str, Callable[[], bn.Gradients]] = {
        "compact": lambda: bn.batch_norm_backward(dy, x, gamma),
        "graph": lambda: bn.batch_norm_backward_graph(dy, x, gamma),
    }
    gap = float(np.max(np.abs(np.subtract(forms["compact"]().dx, forms["graph"]().dx))))
    repeats_ms = [{name: common.timings_ms(run, 1, warmup=1)[0] for name, run in forms.items()} for _ in range(repeats)]
    return {"shape": list(shape), "ms": {name: common.quartiles([r[name] for r in repeats_ms]) for name in forms},
            "graph_over_compact": common.quartiles([r["graph"] / r["compact"] for r in repeats_ms]),
            "max_abs_dx_difference": gap}


def main() -> None:
    args = common.arguments(__doc__, repeats=30)
    from threadpoolctl import threadpool_limits

    with threadpool_limits(1):
        cases = [measure(shape, args.repeats) for shape in SHAPES]
    results = {"machine": common.machine(), "threads": 1, "dtype": "float64", "repeats": args.repeats, "cases": cases}
    print(f"{results['machine']['processor']}, one thread, float64, median of {args.repeats} (ms)")
    print(f"{'shape':>18} {'compact':>8} {'graph':>8} {'graph/compact (quartiles)':>26}")
    for case in cases:
        ratio = case["graph_over_compact"]
        print(f"{str(tuple(case['shape'])):>18} {case['ms']['compact']['median']:8.2f} {case['ms']['graph']['median']:8.2f} "
              f"{ratio['median']:8.2f} ({ratio['p25']:.2f}-{ratio['p75']:.2f})")
    if args.out:
        common.write(args.out, results)


if __name__ == "__main__":
    main()

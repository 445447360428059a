"""The CPU inference speed-up of folding batch norm into the convolution before it: a small VGG-style CNN
(conv → BN → ReLU, six times, then pooling and a linear layer) in eval mode, against the same network with
every conv → BN pair folded (bncourse.course.folding.fold_sequential), PyTorch on one thread, float32.
Each repeat times one call of each model, interleaved, in alternating order; the median and quartiles (25th and 75th percentiles)
of the times and of the per-repeat speed-ups are reported: the quartiles show the noise.

    .venv/bin/python -m benchmarks.folding [--repeats 60] [--out book/data/folding.json]
"""

from __future__ import annotations

from typing import Any

from benchmarks import common

BATCH_SIZES = (1, 8, 64)
WIDTHS = (32, 32, 64, 64, 128, 128)


def network() -> Any:
    import torch

    layers: list[Any] = []
    channels = 3
    for i, width in enumerate(WIDTHS):
        layers += [torch.nn.Conv2d(channels, width, 3, padding=1, bias=False), torch.nn.BatchNorm2d(width),
                   torch.nn.ReLU()]
        if i % 2 == 1:
            layers.append(torch.nn.MaxPool2d(2))
        channels = width
    return torch.nn.Sequential(*layers, torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(),
                               torch.nn.Linear(channels, 10))


def main() -> None:
    args = common.arguments(__doc__, repeats=60)
    import torch

    from bncourse.course.folding import fold_sequential

    torch.set_num_threads(1)
    torch.manual_seed(0)
    model = network()
    for _ in range(3):  # move the running statistics away from 0 and 1
        model(torch.randn(32, 3, 32, 32))
    model.eval()
    folded = fold_sequential(model)
    cases: list[dict[str, Any]] = []
    with torch.inference_mode():
        for batch in BATCH_SIZES:
            x = torch.randn(batch, 3, 32, 32)
            difference = float((folded(x) - model(x)).abs().max())
            # Interleaved, one call of each per repeat, so that a slower moment of a shared machine hits both;
            # in alternating order (ABBA), so that going first or second is no advantage.
            pairs = []
            for repeat in range(args.repeats):
                order = (model, folded) if repeat % 2 == 0 else (folded, model)
                times = {id(m): common.timings_ms(lambda: m(x), 1, warmup=1)[0] for m in order}
                pairs.append((times[id(model)], times[id(folded)]))
            with_bn, without = (common.quartiles(times) for times in zip(*pairs))
            cases.append({"batch": batch, "ms_with_bn": with_bn, "ms_folded": without,
                          "speedup": common.quartiles([a / b for a, b in pairs]), "max_abs_difference": difference})
    results = {"machine": common.machine(torch=torch.__version__), "threads": 1, "input": [3, 32, 32],
               "widths": list(WIDTHS), "repeats": args.repeats, "cases": cases}
    print(f"{results['machine']['processor']}, one thread, float32, median of {args.repeats}")
    for case in cases:
        with_bn, folded_ms = case["ms_with_bn"], case["ms_folded"]
        print(f"batch {case['batch']:>3}: with BN {with_bn['median']:7.2f} ms ({with_bn['p25']:.2f}-{with_bn['p75']:.2f}), "
              f"folded {folded_ms['median']:7.2f} ms ({folded_ms['p25']:.2f}-{folded_ms['p75']:.2f}), "
              f"speed-up {case['speedup']['median']:.2f}x ({case['speedup']['p25']:.2f}-{case['speedup']['p75']:.2f}), max |difference| {case['max_abs_difference']:.1e}")
    if args.out:
        common.write(args.out, results)


if __name__ == "__main__":
    main()

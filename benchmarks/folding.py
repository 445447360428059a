"""The CPU inference speed-up of folding batch norm into the convolution before it: a small VGG-style CNN
(conv → BN → ReLU, six times, then pooling and a linear layer) in eval mode, against the same network with
every conv → BN pair folded (bncourse.course.folding.fold_sequential), PyTorch on one thread, float32.

    .venv/bin/python -m benchmarks.folding [--repeats 15] [--out book/data/folding.json]
"""

from __future__ import annotations

import argparse
from pathlib import Path
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
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--out", type=Path, help="also write the results to this JSON file")
    args = parser.parse_args()
    import torch

    from bncourse.course.folding import fold_sequential

    torch.set_num_threads(1)
    torch.manual_seed(0)
    model = network()
    for _ in range(3):  # move the running statistics away from 0 and 1
        model(torch.randn(32, 3, 32, 32))
    model.eval()
    folded = fold_sequential(model)
    cases = []
    with torch.inference_mode():
        for batch in BATCH_SIZES:
            x = torch.randn(batch, 3, 32, 32)
            difference = float((folded(x) - model(x)).abs().max())
            with_bn = common.median_ms(lambda: model(x), args.repeats)
            without = common.median_ms(lambda: folded(x), args.repeats)
            cases.append({"batch": batch, "ms_with_bn": with_bn, "ms_folded": without, "speedup": with_bn / without,
                          "max_abs_difference": difference})
    results = {"machine": common.machine(torch=torch.__version__), "threads": 1, "input": [3, 32, 32],
               "widths": list(WIDTHS), "repeats": args.repeats, "cases": cases}
    print(f"{results['machine']['processor']}, one thread, float32, median of {args.repeats}")
    for case in cases:
        print(f"batch {case['batch']:>3}: with BN {case['ms_with_bn']:7.2f} ms, folded {case['ms_folded']:7.2f} ms, "
              f"speed-up {case['speedup']:.2f}x, max |difference| {case['max_abs_difference']:.1e}")
    if args.out:
        common.write(args.out, results)


if __name__ == "__main__":
    main()

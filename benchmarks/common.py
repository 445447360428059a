"""What the benchmark scripts share: the machine they ran on, a median timer, and writing their JSON.

A benchmark prints its numbers and the machine; with ``--out`` it also writes them to a JSON file that a
chapter reads (the chapters never time anything themselves)."""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

DATA = Path(__file__).resolve().parents[1] / "book" / "data"


def processor() -> str:
    """The CPU's model name (from /proc/cpuinfo on Linux), else what ``platform`` knows."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine(**versions: str) -> dict[str, Any]:
    """The machine and the versions a measurement depends on (``versions``: e.g. ``torch=torch.__version__``)."""
    from bncourse import __version__

    return {"processor": processor(), "cpus": os.cpu_count(), "platform": platform.platform(),
            "python": platform.python_version(), "numpy": np.__version__, "bncourse": __version__, **versions}


def timings_ms(run: Callable[[], object], repeats: int, warmup: int = 2) -> list[float]:
    """The wall-clock times of ``repeats`` calls of ``run()`` after ``warmup`` calls, in ms."""
    for _ in range(warmup):
        run()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append((time.perf_counter() - start) * 1e3)
    return times


def median_ms(run: Callable[[], object], repeats: int, warmup: int = 2) -> float:
    """The median of :func:`timings_ms`."""
    return float(np.median(timings_ms(run, repeats, warmup)))


def quartiles(values: Sequence[float]) -> dict[str, float]:
    """The median and the 25th and 75th percentiles of ``values``: a measurement and its spread."""
    q25, q50, q75 = np.percentile(values, [25, 50, 75])
    return {"median": float(q50), "p25": float(q25), "p75": float(q75)}


def write(out: Path, results: dict[str, Any]) -> None:
    """Write ``results`` with the date and the command line to ``out`` as JSON (the command as it is run from the
    repository root, ``python -m benchmarks.NAME ...``: no path of the machine it ran on)."""
    command = " ".join([f"python -m benchmarks.{Path(sys.argv[0]).stem}", *sys.argv[1:]])
    results = {"date": datetime.date.today().isoformat(), "command": command, **results}
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {out}", file=sys.stderr)


def arguments(doc: str, repeats: int) -> argparse.Namespace:
    """The command line every benchmark takes: ``--repeats`` (default ``repeats``) and ``--out``, a JSON file."""
    parser = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=repeats)
    parser.add_argument("--out", type=Path, help="also write the results to this JSON file")
    return parser.parse_args()

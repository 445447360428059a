"""What every sweep script shares: the machine it ran on, and the command line that runs a dict of
experiments (each a function ``(digits, quick) -> runs``) and writes their runs to one JSON file.

A run is a dict of the experiment's settings, its ``seed``, and what it measured. ``--quick`` runs seed 0
of a few settings of each experiment, exactly as the full sweep runs them, so that the tests can compare
its runs with the committed file's (tests/book/test_sweeps.py)."""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from bncourse import __version__
from bncourse.course import data

Run = dict[str, Any]
Experiment = Callable[[data.Split, bool], Iterator[Run]]
DATA = Path(__file__).resolve().parents[1] / "book" / "data"


def seeds(quick: bool, full: tuple[int, ...]) -> tuple[int, ...]:
    """Seed 0 alone in a quick run, else ``full``."""
    return (0,) if quick else full


def machine() -> dict[str, Any]:
    import sklearn

    return {"platform": platform.platform(), "processor": platform.processor() or platform.machine(),
            "cpus": os.cpu_count(), "python": platform.python_version(), "numpy": np.__version__,
            "scikit-learn": sklearn.__version__, "bncourse": __version__}


def main(script: str, description: str, experiments: dict[str, Experiment], out: Path,
         argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--quick", action="store_true", help="seed 0 of a few settings of each experiment")
    parser.add_argument("--out", type=Path, default=out, help=f"the JSON file to write (default {out})")
    parser.add_argument("--only", choices=list(experiments), nargs="*", help="run only these experiments")
    args = parser.parse_args(argv)
    digits = data.digits()
    results: dict[str, Any] = {
        "machine": machine(),
        "date": datetime.date.today().isoformat(),
        "command": " ".join([script, *(argv if argv is not None else sys.argv[1:])]),
        "experiments": {},
    }
    for name in args.only or experiments:
        start = time.perf_counter()
        results["experiments"][name] = list(experiments[name](digits, args.quick))
        print(f"{name}: {len(results['experiments'][name])} runs in {time.perf_counter() - start:.0f} s",
              file=sys.stderr)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"wrote {args.out}", file=sys.stderr)

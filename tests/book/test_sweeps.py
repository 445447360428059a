"""The sweeps behind the chapters: the committed JSON a chapter plots is what its script in sweeps/ computes.
A quick run (seed 0 of a few settings of every experiment, run exactly as in the full sweep) must reproduce
the committed runs it repeats, and the file must hold every setting for every seed."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
# script -> (committed file, its experiments, seeds per setting)
SWEEPS = {
    "optimization": ("optimization_sweeps.json",
                     {"largest_lr", "regularization", "variance_shift", "recipe", "residual"}, 5),
    "experiments": ("experiments_sweeps.json", {"learning_rate", "init_scale"}, 3),
}
SETTINGS = ("depth", "batch_norm", "learning_rate", "init_scale", "setting", "blocks", "seed")


def key(run: dict[str, Any]) -> tuple[Any, ...]:
    return tuple(run.get(name) for name in SETTINGS)


def committed(script: str) -> dict[str, Any]:
    return json.loads((ROOT / "book" / "data" / SWEEPS[script][0]).read_text(encoding="utf-8"))


@pytest.mark.parametrize("script", SWEEPS)
def test_the_committed_sweep_is_complete_and_labelled(script: str) -> None:
    sweep = committed(script)
    _, experiments, seeds_per_setting = SWEEPS[script]
    assert {"machine", "date", "command", "experiments"} <= sweep.keys()
    assert sweep["command"].startswith(f"sweeps/{script}.py") and "--quick" not in sweep["command"]
    assert set(sweep["experiments"]) == experiments
    for name, runs in sweep["experiments"].items():
        seeds = Counter(key(run)[:-1] for run in runs)
        assert set(seeds.values()) == {seeds_per_setting}, f"{name}: every setting must have every seed"


@pytest.mark.parametrize("script", SWEEPS)
def test_a_quick_run_reproduces_the_committed_runs(script: str, tmp_path: Path) -> None:
    sweep = committed(script)
    out = tmp_path / "quick.json"
    subprocess.run([sys.executable, str(ROOT / "sweeps" / f"{script}.py"), "--quick", "--out", str(out)],
                   check=True, cwd=ROOT, capture_output=True)
    quick = json.loads(out.read_text(encoding="utf-8"))
    for name, runs in quick["experiments"].items():
        assert runs, name
        reference = {key(run): run for run in sweep["experiments"][name]}
        for run in runs:
            expected = reference[key(run)]
            assert run.keys() == expected.keys()
            for field, value in run.items():
                # Same code, same seed, one BLAS thread under the pinned numerics: the same numbers. Accuracies
                # are multiples of 1/540; one test image of slack for a machine whose round-off differs.
                if isinstance(value, float) and expected[field] is not None:
                    assert value == pytest.approx(expected[field], abs=1.5 / 540), (name, key(run), field)
                elif isinstance(value, list) and value and isinstance(value[0], float):
                    assert value == pytest.approx(expected[field], abs=1.5 / 540), (name, key(run), field)
                else:
                    assert value == expected[field], (name, key(run), field)

"""The sweeps behind the optimization chapter: the committed JSON the chapter plots is what
sweeps/optimization.py computes. A quick run (seed 0 of a few settings of every experiment, run exactly as
in the full sweep) must reproduce the committed runs it repeats, and the file must hold every setting the
chapter reads, for every seed."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
COMMITTED = ROOT / "book" / "data" / "optimization_sweeps.json"
SETTINGS = ("depth", "batch_norm", "learning_rate", "setting", "blocks", "seed")


def key(run: dict[str, Any]) -> tuple[Any, ...]:
    return tuple(run.get(name) for name in SETTINGS)


@pytest.fixture(scope="module")
def committed() -> dict[str, Any]:
    return json.loads(COMMITTED.read_text(encoding="utf-8"))


def test_the_committed_sweep_is_complete_and_labelled(committed: dict[str, Any]) -> None:
    assert {"machine", "date", "command", "experiments"} <= committed.keys()
    assert "--quick" not in committed["command"]
    assert set(committed["experiments"]) == {"largest_lr", "regularization", "variance_shift", "recipe", "residual"}
    for name, runs in committed["experiments"].items():
        seeds = Counter(key(run)[:-1] for run in runs)
        assert set(seeds.values()) == {5}, f"{name}: every setting must have the five seeds"


def test_a_quick_run_reproduces_the_committed_runs(committed: dict[str, Any], tmp_path: Path) -> None:
    out = tmp_path / "quick.json"
    subprocess.run([sys.executable, str(ROOT / "sweeps" / "optimization.py"), "--quick", "--out", str(out)],
                   check=True, cwd=ROOT, capture_output=True)
    quick = json.loads(out.read_text(encoding="utf-8"))
    for name, runs in quick["experiments"].items():
        assert runs, name
        reference = {key(run): run for run in committed["experiments"][name]}
        for run in runs:
            expected = reference[key(run)]
            assert run.keys() == expected.keys()
            for field, value in run.items():
                # Same code, same seed, one BLAS thread under the pinned numerics: the same numbers. Accuracies
                # are multiples of 1/540; one test image of slack for a machine whose round-off differs.
                if isinstance(value, float):
                    assert value == pytest.approx(expected[field], abs=1.5 / 540), (name, key(run), field)
                elif isinstance(value, list) and value and isinstance(value[0], float):
                    assert value == pytest.approx(expected[field], abs=1.5 / 540), (name, key(run), field)
                else:
                    assert value == expected[field], (name, key(run), field)

"""The two sweeps of the chapter "Applications and experiments", three seeds each, written to
book/data/experiments_sweeps.json, which the chapter plots:

    source scripts/numerics.sh && .venv/bin/python sweeps/experiments.py     # ~1 min on one core

- ``learning_rate``: the 6-hidden-layer ReLU MLP, with and without BN, 500 steps of SGD (batches of 60) at
  learning rates 0.01 to 10: test accuracy, or None where the run diverged.
- ``init_scale``: the 6-hidden-layer tanh MLP, with and without BN, hidden weights drawn with standard
  deviation s/sqrt(fan-in) for s from 0.1 to 10, 500 steps at learning rate 0.1.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
from common import DATA, Run, main, seeds  # sweeps/common.py: run as a script, this folder is on sys.path

from bncourse.course import data, mlp, training

SEEDS = (0, 1, 2)
LEARNING_RATES = (0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0)
INIT_SCALES = (0.1, 0.3, 1.0, 3.0, 10.0)


def train_6_layers(digits: data.Split, seed: int, learning_rate: float, **model_options: Any) -> float | None:
    """Test accuracy after 500 steps, or None if the run diverged."""
    model = mlp.MLP([64] + [100] * 6 + [10], seed=seed, **model_options)
    history = training.train(model, digits.x_train, digits.y_train, steps=500, batch_size=60,
                             learning_rate=learning_rate, x_test=digits.x_test, y_test=digits.y_test,
                             eval_every=500, seed=seed)
    return None if np.isnan(history.loss[-1]) else history.test_accuracy[-1]


def learning_rate(digits: data.Split, quick: bool) -> Iterator[Run]:
    for bn in (False, True):
        for lr in (0.1, 3.0) if quick else LEARNING_RATES:
            for seed in seeds(quick, SEEDS):
                accuracy = train_6_layers(digits, seed, lr, activation="relu", batch_norm=bn)
                yield {"batch_norm": bn, "learning_rate": lr, "seed": seed, "test_accuracy": accuracy}


def init_scale(digits: data.Split, quick: bool) -> Iterator[Run]:
    for bn in (False, True):
        for scale in (10.0,) if quick else INIT_SCALES:
            for seed in seeds(quick, SEEDS):
                accuracy = train_6_layers(digits, seed, 0.1, activation="tanh", batch_norm=bn, init_scale=scale)
                yield {"batch_norm": bn, "init_scale": scale, "seed": seed, "test_accuracy": accuracy}


if __name__ == "__main__":
    main("sweeps/experiments.py", __doc__.split("\n\n")[0], {"learning_rate": learning_rate, "init_scale": init_scale},
         DATA / "experiments_sweeps.json")

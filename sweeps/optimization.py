"""The heavier experiments of the chapter "What BN does to optimization and generalization", each over five
seeds, written to one JSON file that the chapter plots (book/data/optimization_sweeps.json).

    source scripts/numerics.sh && .venv/bin/python sweeps/optimization.py            # all, ~6 min on 1 core
    .venv/bin/python sweeps/optimization.py --quick --out /tmp/quick.json             # seed 0 of a few runs

Every run is one dict with the experiment's settings, its ``seed`` and what it measured; ``--quick`` runs
seed 0 of a few settings of every experiment, exactly as the full sweep runs them (the tests compare its
results with the committed file's). The file records the machine, the date and the versions it ran with.
The experiments (the chapter explains each):

- ``largest_lr``: ReLU MLPs of 3, 6, 12 hidden layers, with and without BN, 200 steps at learning rates
  0.03 to 30: did a run diverge, its test accuracy.
- ``regularization``: a 3-layer ReLU MLP on 360 training images for 2000 steps: train and test accuracy
  without BN, with dropout, with BN, with BN whose γ and β are fixed at 1 and 0, and with ghost batches.
- ``variance_shift``: BN networks with dropout before BN, after the last BN, or none: test accuracy with the
  running statistics, and after recomputing them without dropout.
- ``recipe``: the BN paper's §4.2.1 changes to the training recipe, each alone, all, and all but one.
- ``residual``: residual MLPs of 4 and 16 blocks without BN, with BN, with BN and zero-initialized γ.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
from common import DATA, Experiment, Run, main, seeds  # sweeps/common.py: run as a script, this folder is on sys.path

from bncourse import BatchNorm
from bncourse.course import data, mlp, resnet, training
from bncourse.course.batch_noise import GhostBatchNorm
from bncourse.kernel import Gradients

SEEDS = (0, 1, 2, 3, 4)


class FixedAffineBatchNorm(BatchNorm):
    """BN whose γ and β stay at 1 and 0: their gradients are reported as zero."""

    def backward(self, dy: Any) -> Gradients:
        gradients = super().backward(dy)
        self.dgamma, self.dbeta = np.zeros_like(self.gamma), np.zeros_like(self.beta)
        return Gradients(gradients.dx, self.dgamma, self.dbeta)


def _final_accuracy(history: training.History) -> float | None:
    return None if np.isnan(history.loss[-1]) else history.test_accuracy[-1]


def largest_lr(digits: data.Split, quick: bool) -> Iterator[Run]:
    settings = [(6, bn, lr) for bn in (False, True) for lr in (0.3, 3.0)] if quick else [
        (depth, bn, lr) for depth in (3, 6, 12) for bn in (False, True) for lr in (0.03, 0.1, 0.3, 1.0, 3.0, 10.0, 30.0)
    ]
    for depth, bn, lr in settings:
        for seed in seeds(quick, SEEDS):
            model = mlp.MLP([64] + [100] * depth + [10], activation="relu", batch_norm=bn, seed=seed)
            history = training.train(model, digits.x_train, digits.y_train, steps=200, batch_size=60,
                                     learning_rate=lr, x_test=digits.x_test, y_test=digits.y_test,
                                     eval_every=200, seed=seed)
            accuracy = _final_accuracy(history)
            yield {"depth": depth, "batch_norm": bn, "learning_rate": lr, "seed": seed,
                   "diverged": accuracy is None, "test_accuracy": accuracy}


REGULARIZATION: dict[str, dict[str, Any]] = {
    "no BN": {},
    "no BN, dropout 0.5": {"dropout": 0.5},
    "BN": {"batch_norm": True},
    "BN, dropout 0.5 after the last BN": {"batch_norm": True, "dropout": [0.0, 0.0, 0.5]},
    "BN, γ = 1 and β = 0 fixed": {"norm": lambda width: FixedAffineBatchNorm(width)},
    **{f"ghost batches of {g}": {"norm": lambda width, g=g: GhostBatchNorm(width, ghost_batch_size=g)}
       for g in (4, 10, 20)},
}


def regularization(digits: data.Split, quick: bool) -> Iterator[Run]:
    x_train, y_train = digits.x_train[:360], digits.y_train[:360]
    names = ["no BN", "BN"] if quick else list(REGULARIZATION)
    for name in names:
        for seed in seeds(quick, SEEDS):
            model = mlp.MLP([64, 100, 100, 100, 10], activation="relu", seed=seed, **REGULARIZATION[name])
            training.train(model, x_train, y_train, steps=2000, batch_size=60, learning_rate=0.1, seed=seed)
            yield {"setting": name, "seed": seed,
                   "train_accuracy": training.accuracy(model.forward(x_train, training=False), y_train),
                   "test_accuracy": training.accuracy(model.forward(digits.x_test, training=False), digits.y_test)}


VARIANCE_SHIFT: dict[str, float | list[float]] = {"dropout 0.5 before BN": 0.5, "dropout 0.5 after the last BN": [0.0, 0.0, 0.5], "no dropout": 0.0}


def variance_shift(digits: data.Split, quick: bool) -> Iterator[Run]:
    names = ["dropout 0.5 before BN"] if quick else list(VARIANCE_SHIFT)
    for name in names:
        for seed in seeds(quick, SEEDS):
            model = mlp.MLP([64, 100, 100, 100, 10], activation="relu", batch_norm=True,
                            dropout=VARIANCE_SHIFT[name], seed=seed)
            training.train(model, digits.x_train, digits.y_train, steps=2000, batch_size=60,
                           learning_rate=0.1, seed=seed)
            running = training.accuracy(model.forward(digits.x_test, training=False), digits.y_test)
            model.recalibrate(digits.x_train, batch_size=60)
            recalibrated = training.accuracy(model.forward(digits.x_test, training=False), digits.y_test)
            yield {"setting": name, "seed": seed, "test_accuracy": running,
                   "test_accuracy_recalibrated": recalibrated}


# The BN paper's §4.2.1, as it applies to an MLP on the digits (LRN and photometric distortions do not).
RECIPE_STEPS = ("learning rate ×5", "no dropout", "L2 ÷5", "decay 6× faster", "shuffle every epoch")


def _recipe_run(digits: data.Split, steps_taken: tuple[str, ...], seed: int, batch_norm: bool = True
                ) -> training.History:
    rate = 0.02 * (5 if "learning rate ×5" in steps_taken else 1)
    half_life = 1200 / (6 if "decay 6× faster" in steps_taken else 1)
    model = mlp.MLP([64, 100, 100, 100, 10], activation="relu", batch_norm=batch_norm, seed=seed,
                    dropout=0.0 if "no dropout" in steps_taken else 0.3)
    return training.train(model, digits.x_train, digits.y_train, steps=1500, batch_size=60,
                          learning_rate=lambda step: rate * 0.5 ** (step / half_life),
                          weight_decay=5e-3 / (5 if "L2 ÷5" in steps_taken else 1),
                          reshuffle="shuffle every epoch" in steps_taken,
                          x_test=digits.x_test, y_test=digits.y_test, eval_every=100, seed=seed)


def recipe(digits: data.Split, quick: bool) -> Iterator[Run]:
    settings: list[tuple[str, tuple[str, ...], bool]] = [("baseline without BN", (), False), ("baseline", (), True)]
    settings += [(f"+ {step}", (step,), True) for step in RECIPE_STEPS]
    settings += [("all five", RECIPE_STEPS, True)]
    settings += [(f"all but {step}", tuple(s for s in RECIPE_STEPS if s != step), True) for step in RECIPE_STEPS]
    if quick:
        settings = [settings[1], settings[7]]
    for name, steps_taken, bn in settings:
        for seed in seeds(quick, SEEDS):
            history = _recipe_run(digits, steps_taken, seed, bn)
            yield {"setting": name, "seed": seed, "eval_steps": history.eval_steps,
                   "test_accuracy": history.test_accuracy}


RESIDUAL = {"no BN": {"batch_norm": False}, "BN": {}, "BN, zero-init γ": {"zero_init_residual": True}}


def residual(digits: data.Split, quick: bool) -> Iterator[Run]:
    settings = [(4, "BN, zero-init γ")] if quick else [(blocks, name) for blocks in (4, 16) for name in RESIDUAL]
    for blocks, name in settings:
        for seed in seeds(quick, SEEDS):
            model = resnet.ResidualMLP(64, 64, 10, blocks=blocks, seed=seed, **RESIDUAL[name])
            history = training.train(model, digits.x_train, digits.y_train, steps=500, batch_size=60,
                                     learning_rate=0.05, x_test=digits.x_test, y_test=digits.y_test,
                                     eval_every=100, seed=seed)
            yield {"blocks": blocks, "setting": name, "seed": seed, "diverged": bool(np.isnan(history.loss[-1])),
                   "eval_steps": history.eval_steps, "test_accuracy": history.test_accuracy}


EXPERIMENTS: dict[str, Experiment] = {
    "largest_lr": largest_lr,
    "regularization": regularization,
    "variance_shift": variance_shift,
    "recipe": recipe,
    "residual": residual,
}


if __name__ == "__main__":
    main("sweeps/optimization.py", __doc__.split("\n\n")[0], EXPERIMENTS, DATA / "optimization_sweeps.json")

r"""The cases a graded exercise runs: what one case is, how its random arrays are drawn, and how a failing
case is shrunk.

A :class:`Case` is a recipe, not data: a shape, the channel axis, a dtype, where the values sit (``loc``,
``scale``), ε, a seed and the exercise's own options (momentum, training, groups, ...). The arrays are drawn
from it when the case runs, so the same case gives the same arrays on every machine (NumPy's generator is
exact), and a smaller shape gives a smaller case with the same character (same dtype, same distance from
zero, same ε against the variance).

Every exercise's list starts with the edge cases the chapters warn about and continues with random ones:
ranks 2 to 5; channels-first and channels-last; ``m = 2`` values per channel; a single channel; float32
values far from zero (:math:`|\mu| = 1000\,\sigma`, where a one-pass variance loses its digits); a variance
below ε (where ε's place in the formula shows).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass, field, replace
from math import prod
from typing import Any

import numpy as np

from bncourse.validation import FloatArray


@dataclass(frozen=True)
class Case:
    """One test case's recipe.

    Attributes:
        shape: the shape of the main input (``x``, or the weight for folding).
        axis: the channel axis the reader's function is told (``1`` or ``-1``).
        dtype: ``"float64"`` or ``"float32"``; every array of the case has it.
        loc, scale: channel ``c``'s values are drawn around ``loc + scale·u_c`` with standard deviation
            ``scale·s_c`` (``u_c`` in [−1, 1], ``s_c`` in [0.5, 2]: channels differ, so statistics taken over
            the wrong axes show).
        eps: the ε passed to the reader.
        seed: the seed every array of the case is drawn from.
        options: the exercise's own settings, as ``(key, value)`` pairs.
    """

    shape: tuple[int, ...]
    axis: int = 1
    dtype: str = "float64"
    loc: float = 0.0
    scale: float = 1.0
    eps: float = 1e-5
    seed: int = 0
    options: tuple[tuple[str, Any], ...] = field(default=())

    def option(self, key: str) -> Any:
        """The value of option ``key`` (a ``KeyError`` names the missing key)."""
        return dict(self.options)[key]

    @property
    def channel_axis(self) -> int:
        """``axis`` as a non-negative index into ``shape``."""
        return self.axis % len(self.shape)

    @property
    def num_channels(self) -> int:
        """``C``: the size of the channel axis."""
        return self.shape[self.channel_axis]

    @property
    def values_per_channel(self) -> int:
        """``m``: the number of values each channel's statistics average over."""
        return prod(self.shape) // self.num_channels

    def rng(self, stream: int) -> np.random.Generator:
        """A generator for the case's ``stream``-th group of arrays (independent streams, same seed)."""
        return np.random.default_rng([self.seed, 2, stream])

    def channel_values(self, draw: int = 0) -> FloatArray:
        """An array of ``shape`` whose channels have different means and spreads (see the class).

        Every ``draw`` shares the channels' means and spreads (one population) and has its own noise: the
        batches of one population, for exercises that take several."""
        c = self.num_channels
        population = np.random.default_rng([self.seed, 0])
        centres = self.loc + self.scale * population.uniform(-1.0, 1.0, c)
        spreads = self.scale * population.uniform(0.5, 2.0, c)
        column = [1] * len(self.shape)
        column[self.channel_axis] = c
        z = np.random.default_rng([self.seed, 1, draw]).standard_normal(self.shape)
        values: FloatArray = (centres.reshape(column) + spreads.reshape(column) * z).astype(self.dtype)
        return values

    def normal(self, shape: tuple[int, ...], stream: int, *, loc: float = 0.0, scale: float = 1.0) -> FloatArray:
        """Independent normal values of ``shape`` in the case's dtype (γ, β, dy, running statistics, ...)."""
        values: FloatArray = (loc + scale * self.rng(stream).standard_normal(shape)).astype(self.dtype)
        return values

    def positive(self, shape: tuple[int, ...], stream: int, low: float = 0.5, high: float = 2.0) -> FloatArray:
        """Values uniform in ``[low, high]`` (scales γ, variances), in the case's dtype."""
        values: FloatArray = self.rng(stream).uniform(low, high, shape).astype(self.dtype)
        return values

    def describe(self, arguments: Collection[str] = ("axis", "eps")) -> str:
        """One line that says what the case is, e.g. ``float32, shape (2, 3), axis=-1, eps=0.001, ...``;
        ``axis`` and ``eps`` only if they are among the exercise's ``arguments``."""
        where = f"values around {self.loc:g} ± {self.scale:g}" if self.loc or self.scale != 1 else "values around 0 ± 1"
        axis = f", axis={self.axis}" if "axis" in arguments else ""
        eps = f", eps={self.eps:g}" if "eps" in arguments else ""
        extras = "".join(f", {key}={value!r}" for key, value in self.options)
        return f"{self.dtype}, shape {self.shape}{axis}{eps}{extras}, {where}"


EDGE_CASES = 10  # the number of edge cases at the start of every batch_cases list


def batch_cases(seed: int, *, random: int = 12, options: Callable[[np.random.Generator], dict[str, Any]] | None = None) -> tuple[Case, ...]:
    """The edge cases of a batch-norm exercise followed by ``random`` random ones.

    ``options(rng)`` draws each case's exercise options (called once per case, in order).
    """
    edge = [  # EDGE_CASES of them
        Case((8, 3)),
        Case((4, 3, 5)),
        Case((2, 3, 4, 3)),
        Case((2, 2, 3, 2, 2)),
        Case((4, 3, 3, 2), axis=-1),
        Case((2, 3)),  # m = 2: the smallest batch training mode accepts
        Case((6, 1, 4)),  # a single channel
        Case((16, 3, 4), dtype="float32", loc=1e3),  # far from zero: a one-pass float32 variance fails here
        Case((8, 2, 3), scale=0.01, eps=1e-3),  # σ² = 1e-4 < ε: where ε goes matters
        Case((2, 3, 2, 2, 4), axis=-1, dtype="float32"),
    ]
    rng = np.random.default_rng(seed)
    drawn = [_random_case(rng) for _ in range(random)]
    cases = [replace(case, seed=seed * 1000 + index) for index, case in enumerate(edge + drawn)]
    if options is None:
        return tuple(cases)
    return tuple(replace(case, options=tuple(options(rng).items())) for case in cases)


def _random_case(rng: np.random.Generator) -> Case:
    rank = int(rng.integers(2, 6))
    shape = (int(rng.integers(2, 6)), int(rng.integers(1, 5))) + tuple(int(v) for v in rng.integers(1, 4, rank - 2))
    axis = 1 if rank == 2 or rng.random() < 0.5 else -1
    if axis == -1:  # channels-last: the channel count moves to the end
        shape = (shape[0],) + shape[2:] + (shape[1],)
    return Case(
        shape,
        axis=axis,
        dtype=str(rng.choice(["float64", "float32"])),
        loc=float(rng.choice([0.0, 3.0, -20.0])),
        scale=float(rng.choice([1.0, 0.1, 5.0])),
        eps=float(rng.choice([1e-5, 1e-3, 0.1])),
    )


def smaller_shapes(case: Case) -> Iterator[tuple[int, ...]]:
    """Shapes one step smaller than ``case.shape``, smallest first: an axis dropped (never the batch or
    the channel axis, never below rank 2), an axis set to 1 (the channel axis and the batch axis too),
    an axis decreased by one."""
    shape, channel = case.shape, case.channel_axis
    candidates: set[tuple[int, ...]] = set()
    for index in range(len(shape)):
        if index not in (0, channel) and len(shape) > 2:
            candidates.add(shape[:index] + shape[index + 1 :])
        for size in (1, shape[index] - 1):
            if 1 <= size < shape[index]:
                candidates.add(shape[:index] + (size,) + shape[index + 1 :])
    yield from sorted(candidates, key=lambda s: (prod(s), len(s), s))

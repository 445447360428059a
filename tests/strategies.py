"""Hypothesis strategies: batches of every rank the course covers, in both layouts and dtypes."""

from dataclasses import dataclass

import numpy as np
from hypothesis import strategies as st


@dataclass(frozen=True)
class Case:
    """A random batch ``x`` (channel axis ``axis``) with random ``gamma``/``beta`` of shape (C,)."""

    x: np.ndarray
    gamma: np.ndarray
    beta: np.ndarray
    axis: int

    @property
    def channels_first(self) -> np.ndarray:
        """``x`` with the channel axis moved to 1, the layout PyTorch expects."""
        return np.moveaxis(self.x, self.axis, 1)

    def batch_at(self, step: int) -> np.ndarray:
        """A different batch for each training step, so that the running statistics must move: ``x``
        rescaled by ``1 + step/2`` and shifted by ``step`` standard deviations. An affine map of ``x``
        keeps its |mean| / std conditioning within a few units of ``x``'s; random noise would not (with two
        values per channel it can make them nearly equal, and float32 frameworks lose digits there)."""
        spread = float(self.x.std()) or 1.0
        return (self.x * (1 + 0.5 * step) + step * spread).astype(self.x.dtype)


@st.composite
def cases(draw: st.DrawFn, dtypes: tuple[type, ...] = (np.float32, np.float64), min_rank: int = 2, max_rank: int = 5) -> Case:
    rank = draw(st.integers(min_rank, max_rank))
    channels = draw(st.integers(1, 4))
    batch = draw(st.integers(2, 5))
    spatial = draw(st.lists(st.integers(1, 4), min_size=rank - 2, max_size=rank - 2))
    axis = draw(st.sampled_from([1, -1]))
    dtype = draw(st.sampled_from(dtypes))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    shape = [batch, *spatial]
    shape.insert(1 if axis == 1 else len(shape), channels)
    # Data away from zero, so the mean matters, but with |mean| / std of at most ~10: further out,
    # float32 frameworks lose digits to round-off in the mean (bncourse does not; see
    # test_invariants.py), and the comparison would measure their conditioning, not correctness.
    scale = rng.uniform(0.1, 5.0)
    offset = draw(st.sampled_from([0.0, 3.0, -10.0])) * scale
    x = offset + rng.standard_normal(shape) * scale
    gamma = rng.uniform(0.5, 2.0, channels) * rng.choice([-1, 1], channels)
    beta = rng.standard_normal(channels)
    return Case(x.astype(dtype), gamma.astype(dtype), beta.astype(dtype), axis)

"""The tolerances every comparison in the tests uses, in one place.

float32: frameworks accumulate in float32, so their results differ from an exact computation by
a few units in the 6th-7th significant digit; 1e-5 relative (and absolute, for values near 0)
leaves room for that and nothing else. float64: round-off only, ~1e-10.
Finite differences (bncourse.gradcheck: centred, h = 1e-6, float64) are accurate to ~1e-8.
"""

from typing import Any

import numpy as np

TOLERANCE: dict[Any, dict[str, float]] = {
    np.dtype(np.float32): {"rtol": 1e-5, "atol": 1e-5},
    np.dtype(np.float64): {"rtol": 1e-10, "atol": 1e-10},
}
FINITE_DIFFERENCE_TOLERANCE = {"rtol": 1e-6, "atol": 1e-8}


def assert_close(actual: Any, expected: Any, dtype: Any = None) -> None:
    """Assert ``actual ≈ expected`` with the tolerance of ``dtype`` (default: ``actual``'s dtype)."""
    actual = np.asarray(actual)
    tol = TOLERANCE[np.dtype(dtype if dtype is not None else actual.dtype)]
    np.testing.assert_allclose(actual, np.asarray(expected), **tol)

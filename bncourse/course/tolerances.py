"""The tolerances the course compares numbers with, stated once: the tests and the chapters import them.

``TOLERANCE`` (``numpy.testing.assert_allclose``'s ``rtol``/``atol`` per dtype) is for comparing bncourse with
a framework on random data: frameworks accumulate float32 sums in float32, so their results differ from an
exact computation by a few units in the 6th–7th significant digit; 1e-5 relative (and absolute, for values
near 0) leaves room for that and nothing else. In float64 only round-off differs, far below 1e-10.

``GRADIENT_GAP`` is the largest absolute difference the backward chapter allows between two correct
gradients of order 1 (its inputs are standardized): float64 round-off of a few sums, below 1e-14, and
float32 round-off, below 1e-6.

``FINITE_DIFFERENCE_TOLERANCE``: centred differences (:mod:`bncourse.gradcheck`, h = 1e-6, float64) are
accurate to about 1e-10 for a loss of order 1; ``atol = 1e-8`` leaves room for losses a hundred times larger.
"""

from __future__ import annotations

from typing import Any

import numpy as np

TOLERANCE: dict[np.dtype[Any], dict[str, float]] = {
    np.dtype(np.float32): {"rtol": 1e-5, "atol": 1e-5},
    np.dtype(np.float64): {"rtol": 1e-10, "atol": 1e-10},
}
GRADIENT_GAP: dict[str, float] = {"float64": 1e-14, "float32": 1e-6}
FINITE_DIFFERENCE_TOLERANCE: dict[str, float] = {"rtol": 1e-6, "atol": 1e-8}


def assert_close(actual: Any, expected: Any, dtype: Any = None) -> None:
    """Assert ``actual ≈ expected`` with the :data:`TOLERANCE` of ``dtype`` (default: ``actual``'s dtype)."""
    actual = np.asarray(actual)
    tol = TOLERANCE[np.dtype(dtype if dtype is not None else actual.dtype)]
    np.testing.assert_allclose(actual, np.asarray(expected), rtol=tol["rtol"], atol=tol["atol"])

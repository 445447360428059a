r"""Centred finite differences, to check any backward pass:

.. math:: \frac{\partial f}{\partial a_i} \approx \frac{f(a + h e_i) - f(a - h e_i)}{2h},

whose error is :math:`O(h^2)` from truncation plus :math:`O(\varepsilon_{\text{machine}} |f| / h)` from
round-off. In float64 with :math:`h = 10^{-6}` both are around :math:`10^{-10}`; in float32 the round-off
term alone is about :math:`10^{-1}`, which is why gradient checks are done in float64.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from bncourse import validation
from bncourse.validation import FloatArray


def numerical_gradient(f: Callable[[], float], array: FloatArray, h: float = 1e-6) -> FloatArray:
    """``∂f/∂array`` by centred differences. ``f`` takes no argument and reads ``array``, which is
    perturbed in place one entry at a time and always restored (also if ``f`` raises)."""
    if not (isinstance(array, np.ndarray) and np.issubdtype(array.dtype, np.floating)):
        raise TypeError("array must be a floating-point NumPy array that f reads (it is perturbed in place)")
    h = validation.require_positive("h", h)
    grad = np.zeros_like(array)
    for index in np.ndindex(array.shape):
        saved = array[index]
        try:
            array[index] = saved + h
            plus = f()
            array[index] = saved - h
            minus = f()
        finally:
            array[index] = saved
        grad[index] = (plus - minus) / (2 * h)
    return grad

r"""The nonlinearities of the course's MLP, each with its derivative and its saturation test, in one table.

=========  =============================  ===============================  =============================
name       :math:`f(u)`                   :math:`f'(u)` from :math:`h=f(u)`  saturated where
=========  =============================  ===============================  =============================
tanh       :math:`\tanh u`                :math:`1-h^2`                    :math:`|h| > 0.99`
sigmoid    :math:`1/(1+e^{-u})`           :math:`h(1-h)`                   :math:`h<0.01` or :math:`h>0.99`
relu       :math:`\max(u, 0)`             :math:`[u>0]`                    :math:`h = 0` (inactive)
=========  =============================  ===============================  =============================
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import NDArray

from bncourse import validation
from bncourse.validation import FloatArray

ActivationName = Literal["tanh", "sigmoid", "relu"]


@dataclass(frozen=True)
class Activation:
    """``f``; ``derivative(u, h)`` = :math:`f'(u)` given ``h = f(u)``; ``saturated(h)``: where :math:`f' \\approx 0`."""

    name: str
    f: Callable[[FloatArray], FloatArray]
    derivative: Callable[[FloatArray, FloatArray], FloatArray]
    saturated: Callable[[FloatArray], NDArray[np.bool_]]


def _sigmoid(u: FloatArray) -> FloatArray:
    out: FloatArray = 0.5 * (1.0 + np.tanh(0.5 * u))  # no overflow for large |u|
    return out


ACTIVATIONS = {
    "tanh": Activation("tanh", np.tanh, lambda u, h: 1.0 - h * h, lambda h: np.abs(h) > 0.99),
    "sigmoid": Activation("sigmoid", _sigmoid, lambda u, h: h * (1.0 - h), lambda h: (h < 0.01) | (h > 0.99)),
    "relu": Activation("relu", lambda u: np.maximum(u, 0.0), lambda u, h: (u > 0).astype(u.dtype), lambda h: h == 0.0),
}


def get_activation(name: str) -> Activation:
    """The :class:`Activation` called ``name``; an unknown name is an error, never a silent default."""
    return ACTIVATIONS[validation.require_one_of("activation", name, list(ACTIVATIONS))]

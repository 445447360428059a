"""Offline data for the chapters: scikit-learn's handwritten digits, which ship with the package.

``load_digits`` holds 1797 grey-scale 8×8 images of the digits 0–9 (a small, offline stand-in for
MNIST). scikit-learn is imported only when a function here is called.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from bncourse import validation
from bncourse.validation import FloatArray


class Split(NamedTuple):
    """Train and test arrays: ``x_*`` of shape ``(N, 64)`` (or ``(N, 1, 8, 8)`` as images), ``y_*`` of shape ``(N,)``."""

    x_train: FloatArray
    y_train: np.ndarray
    x_test: FloatArray
    y_test: np.ndarray


def digits(*, test_fraction: float = 0.3, seed: int = 0, images: bool = False) -> Split:
    """The digits, shuffled with ``seed`` and split into train and test sets (stratified by class).

    Pixels (0–16) are standardized with the *training* set's per-pixel mean and standard deviation,
    so nothing about the test set leaks into the inputs. ``images=True`` returns ``(N, 1, 8, 8)``.
    """
    test_fraction = validation.require_fraction("test_fraction", test_fraction)
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    bunch = load_digits()
    x, y = bunch.data.astype(np.float64), bunch.target.astype(np.int64)
    x_train, x_test, y_train, y_test = train_test_split(
        x, y, test_size=test_fraction, random_state=seed, stratify=y
    )
    mean, std = x_train.mean(axis=0), x_train.std(axis=0)
    std[std == 0] = 1.0  # pixels that are always blank in the training set stay 0
    x_train, x_test = (x_train - mean) / std, (x_test - mean) / std
    if images:
        x_train, x_test = x_train.reshape(-1, 1, 8, 8), x_test.reshape(-1, 1, 8, 8)
    return Split(x_train, y_train, x_test, y_test)

r"""Two batch-norm layers for experiments on *why* BN works: one that adds a shifting distribution on
purpose, and one that computes its statistics on smaller "ghost" batches.

:class:`NoisyBatchNorm` follows Santurkar et al. (2018)'s "noisy BN": after normalizing, every unit
:math:`j` is distorted by a scale and a shift drawn anew at every training step,

.. math:: \tilde y_{ij} = s_{tj}\, y_{ij} + c_{tj}, \qquad
    \log s_{tj} \sim U(-\log k, \log k), \qquad c_{tj} \sim U(-n, n),

so the distribution of each unit's output changes from step to step by design (mean moves by up to
:math:`n`, standard deviation by a factor up to :math:`k`), far more than training itself moves it. At
inference there is no distortion (:math:`s = 1`, :math:`c = 0`, the median of both distributions).

:class:`GhostBatchNorm` (Hoffer et al. 2017) splits a training batch of :math:`N` examples into
:math:`N/g` ghost batches of :math:`g` and normalizes each with its own mean and variance: the noise in the
statistics is that of a batch of :math:`g`, whatever :math:`N`. The running statistics average the ghost
batches' (the mean of their means and of their unbiased variances).

Both are :class:`~bncourse.BatchNorm` layers (PyTorch convention) for ``(N, C)`` inputs; the MLP takes them
through its ``norm=`` argument.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from bncourse import kernel, validation
from bncourse.functional import flatten_parameter_gradients
from bncourse.kernel import Gradients
from bncourse.layer import BatchNorm
from bncourse.validation import FloatArray


class NoisyBatchNorm(BatchNorm):
    """:class:`~bncourse.BatchNorm` whose training output is distorted per unit by a random scale in
    ``[1/scale, scale]`` (log-uniform) and shift in ``[-shift, shift]`` (uniform), redrawn at every
    training call; ``seed`` seeds the draws. Inference output is undistorted."""

    def __init__(self, num_features: int, *, shift: float = 1.0, scale: float = 2.0, seed: int = 0,
                 momentum: float | None = 0.1) -> None:
        super().__init__(num_features, momentum=momentum)
        self.shift = validation.require_nonnegative_real("shift", shift)
        self.scale = validation.require_positive("scale", scale)
        if self.scale < 1.0:
            raise ValueError(f"scale must be >= 1 (the largest factor a unit's spread is multiplied by), got {scale!r}")
        self._rng = np.random.default_rng(validation.require_int("seed", seed, minimum=0))
        self._last_scale: FloatArray | None = None

    def __call__(self, x: ArrayLike, *, training: bool, mask: ArrayLike | None = None) -> FloatArray:
        y = super().__call__(x, training=training, mask=mask)
        if not training:
            return y
        log_k = np.log(self.scale)
        s = np.exp(self._rng.uniform(-log_k, log_k, self.num_features))
        c = self._rng.uniform(-self.shift, self.shift, self.num_features)
        self._last_scale = s
        noisy: FloatArray = s * y + c
        return noisy

    def backward(self, dy: ArrayLike) -> Gradients:
        """BN's backward of ``s ⊙ dy``: the distortion's scale multiplies the gradient reaching BN."""
        if self._last_scale is None:
            raise RuntimeError("backward() needs a previous call with training=True")
        return super().backward(validation.require_batch("dy", dy) * self._last_scale)


class GhostBatchNorm(BatchNorm):
    """:class:`~bncourse.BatchNorm` for ``(N, C)`` inputs that, in training, normalizes each block of
    ``ghost_batch_size`` consecutive examples with that block's statistics. ``N`` must be a multiple of
    ``ghost_batch_size`` (a batch of exactly ``ghost_batch_size`` is plain BN). Inference uses the running
    statistics, as BN does."""

    def __init__(self, num_features: int, *, ghost_batch_size: int, momentum: float | None = 0.1) -> None:
        super().__init__(num_features, momentum=momentum)
        self.ghost_batch_size = validation.require_int("ghost_batch_size", ghost_batch_size, minimum=2)
        self._ghost_pass: tuple[kernel.Normalized, FloatArray] | None = None

    def __call__(self, x: ArrayLike, *, training: bool, mask: ArrayLike | None = None) -> FloatArray:
        if mask is not None:
            raise ValueError("GhostBatchNorm takes no mask")
        x_arr = validation.require_batch("x", x)
        if not training:
            return super().__call__(x_arr, training=False)
        g = self.ghost_batch_size
        if x_arr.ndim != 2 or x_arr.shape[1] != self.num_features or x_arr.shape[0] % g:
            raise ValueError(
                f"x must have shape (N, {self.num_features}) with N a multiple of ghost_batch_size={g}, "
                f"got {x_arr.shape}"
            )
        gamma, beta, running_mean, running_var = self._require_state(training=True)
        ghosts = x_arr.reshape(-1, g, self.num_features)  # (N/g, g, C): statistics over axis 1
        stats = kernel.moments(ghosts, (1,))
        forward = kernel.normalize(ghosts, (1,), gamma.reshape(1, 1, -1), beta.reshape(1, 1, -1), self.eps, stats)
        pooled = kernel.Moments(stats.mean.mean(axis=0), stats.var.mean(axis=0), g)
        self._update_running_statistics(pooled, running_mean, running_var)
        self._ghost_pass = (forward, gamma.copy())
        return forward.y.reshape(x_arr.shape)

    def backward(self, dy: ArrayLike) -> Gradients:
        """Each ghost batch's BN backward (the kernel's, over axis 1); γ and β gradients summed over all."""
        if self._ghost_pass is None:
            raise RuntimeError("backward() needs a previous call with training=True")
        forward, gamma = self._ghost_pass
        shape = (forward.y.shape[0] * forward.y.shape[1], forward.y.shape[2])
        dy_arr = validation.require_shape("dy", validation.require_batch("dy", dy), shape, "the last training input")
        gradients = kernel.normalize_backward(dy_arr.reshape(forward.y.shape), forward, gamma.reshape(1, 1, -1))
        flat = flatten_parameter_gradients(gradients)
        self.dgamma, self.dbeta = flat.dgamma, flat.dbeta
        return Gradients(flat.dx.reshape(shape), flat.dgamma, flat.dbeta)

r"""What "torch" and "keras" mean for a batch-norm layer: one object per framework convention.

The two frameworks compute the same training-mode output but keep their running statistics differently:

==================  ===============================================  ===============================================
                    ``TORCH`` (``nn.BatchNorm*d``)                    ``KERAS`` (``BatchNormalization``)
==================  ===============================================  ===============================================
default ``eps``     1e-5                                             1e-3
default momentum    0.1                                              0.99
channel axis        1 (NCHW)                                         -1 (NHWC)
update              :math:`r \leftarrow (1-m)\,r + m\,b`             :math:`r \leftarrow m\,r + (1-m)\,b`
running variance    unbiased batch variance :math:`\tfrac{n}{n-1}\sigma_B^2`   biased batch variance :math:`\sigma_B^2`
``momentum=None``   cumulative average :math:`m_t = 1/t`             not allowed
==================  ===============================================  ===============================================

where :math:`r` is a running statistic, :math:`b` the batch statistic, :math:`n` the number of values per
channel and :math:`t` the number of training batches seen so far. Keras's momentum is the weight of the
*old* value; PyTorch's is the weight of the *new* one: Keras ``momentum=0.99`` is PyTorch ``momentum=0.01``.
"""

from __future__ import annotations

from dataclasses import dataclass

from bncourse import validation
from bncourse.validation import FloatArray


def complement_momentum(momentum: float) -> float:
    """``1 − momentum``, rounded to 12 decimals so that a round trip returns the value it started from
    (in floating point, ``1 − (1 − 0.1)`` is ``0.09999999999999998``)."""
    return round(1.0 - float(momentum), 12)


@dataclass(frozen=True)
class Convention:
    """A framework's batch-norm convention: its defaults, its running-statistics rule, and how its
    momentum translates to another convention's.

    Attributes:
        name: ``"torch"`` or ``"keras"``; ``str(convention)`` is the name.
        eps, momentum, axis: the framework's defaults for a new layer.
        momentum_weighs_new: True if momentum is the weight of the new batch statistic (PyTorch),
            False if it is the weight of the old running value (Keras).
        stores_unbiased_variance: True if the running variance averages unbiased batch variances.
        cumulative_average: True if ``momentum=None`` means the equal-weight average of all batches.
    """

    name: str
    eps: float
    momentum: float
    axis: int
    momentum_weighs_new: bool
    stores_unbiased_variance: bool
    cumulative_average: bool

    def __str__(self) -> str:
        return self.name

    def check_momentum(self, momentum: object) -> float | None:
        """``momentum`` if it is valid in this convention: a number in [0, 1], or None where allowed."""
        if momentum is None:
            if not self.cumulative_average:
                raise ValueError(
                    f"momentum=None (cumulative average) exists only with convention='torch', "
                    f"not with convention={self.name!r}"
                )
            return None
        return validation.require_unit_interval("momentum", momentum)

    def weight_of_batch(self, momentum: float | None, num_batches_tracked: int) -> float:
        """The weight :math:`w` of the new batch in :math:`r \\leftarrow (1-w)\\,r + w\\,b`, at the
        ``num_batches_tracked``-th batch (counting this one)."""
        if momentum is None:
            return 1.0 / num_batches_tracked
        return momentum if self.momentum_weighs_new else 1.0 - momentum

    def equal_weight_momentum(self, num_batches_tracked: int) -> float:
        """The momentum that makes the running statistics the equal-weight average of all batches so far:
        :math:`1/t` in PyTorch's meaning (the batch's weight is then exactly :math:`1/t`), :math:`1 - 1/t` in
        Keras's (the weight :math:`1 - (1 - 1/t)` is :math:`1/t` up to one rounding)."""
        weight = 1.0 / num_batches_tracked
        return weight if self.momentum_weighs_new else 1.0 - weight

    def stored_variance(self, var: FloatArray, count: int) -> FloatArray:
        """The batch variance this convention averages into the running variance, from the biased one."""
        if self.stores_unbiased_variance:
            unbiased: FloatArray = var * count / (count - 1)
            return unbiased
        return var

    def translate_momentum(self, momentum: float | None, to: Convention) -> float | None:
        """The same running average's momentum in convention ``to``."""
        if momentum is None:
            if not to.cumulative_average:
                raise ValueError(
                    f"a {self.name}-convention layer with momentum=None (cumulative average) has no "
                    f"{to.name} equivalent; set layer.momentum to a number first"
                )
            return None
        if self.momentum_weighs_new == to.momentum_weighs_new:
            return momentum
        return complement_momentum(momentum)


TORCH = Convention(
    "torch", eps=1e-5, momentum=0.1, axis=1, momentum_weighs_new=True, stores_unbiased_variance=True,
    cumulative_average=True,
)
KERAS = Convention(
    "keras", eps=1e-3, momentum=0.99, axis=-1, momentum_weighs_new=False, stores_unbiased_variance=False,
    cumulative_average=False,
)
CONVENTIONS = {"torch": TORCH, "keras": KERAS}


def require_convention(value: object) -> Convention:
    """A :class:`Convention`, given as one or by name (``"torch"``, ``"keras"``)."""
    if isinstance(value, Convention):
        return value
    if not isinstance(value, str):
        raise TypeError(f"convention must be a str or a Convention, got {type(value).__name__}")
    if value not in CONVENTIONS:
        raise ValueError(f"convention must be 'torch' or 'keras' (or a Convention), got {value!r}")
    return CONVENTIONS[value]

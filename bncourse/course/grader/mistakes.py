"""The catalogue of classic mistakes the grader recognizes, each with its name and what to tell the reader.

A mistake is recognized by *recomputing* it: every exercise carries, for the mistakes that apply to it, a
function that makes that mistake on purpose (:class:`bncourse.course.grader.exercise.MistakeModel`). When a reader's
output differs from the reference but equals one of these within the comparison tolerance, the grader names
the mistake. ``float32-cancellation`` is recognized another way: the failing float32 case passes when the
same case is run in float64.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Mistake:
    """A named mistake: ``name`` (kebab-case, stable: tests and readers refer to it) and ``advice``."""

    name: str
    advice: str


_CATALOGUE = [
    # Statistics of the forward pass.
    Mistake("unbiased-variance", "your output equals the normalization by the unbiased variance Σ(x − μ)²/(m − 1). "
            "Training-mode batch norm (and layer and group norm) normalize with the biased variance Σ(x − μ)²/m "
            "(np.var's default, ddof=0)."),
    Mistake("eps-outside-sqrt", "ε is added outside the square root: you divided by √σ² + ε. "
            "BN divides by √(σ² + ε)."),
    Mistake("eps-missing", "ε is missing: you divided by √σ², which is 0 when all the values normalized together "
            "are equal. Divide by √(σ² + ε)."),
    Mistake("eps-argument-ignored", "your output equals the right formula with ε = 1e-5 or 1e-3 (PyTorch's or "
            "Keras's default) instead of the eps argument: use the ε you are given."),
    Mistake("missing-sqrt", "you divided by σ² + ε, a variance. Divide by its square root, √(σ² + ε), "
            "a standard deviation."),
    Mistake("statistics-over-batch-axis-only", "your statistics are taken over axis 0 only, one mean per "
            "position. BN takes them over every axis except the channel axis (batch and spatial axes)."),
    Mistake("channel-axis-ignored", "you treated axis 1 as the channel axis whatever the axis argument said: "
            "the channels-last case (axis=-1) fails. Reduce over every axis except axis."),
    Mistake("statistics-over-channels", "you normalized each example (at each position) over its channels, as "
            "layer normalization does for an (N, C) input. BN normalizes each channel over the batch."),
    Mistake("batch-statistics-at-inference", "in inference mode your output uses the batch's own mean and "
            "variance. Inference must use the given (running) statistics, so that each example's output does "
            "not depend on the rest of the batch."),
    # The backward pass.
    Mistake("missing-mean-term", "your dx does not sum to zero per channel: the term −Σdy/m, which comes "
            "from μ_B depending on x, is missing."),
    Mistake("missing-projection-term", "the term −x̂·Σ(dy·x̂)/m of dx, which comes from σ²_B depending on x, is "
            "missing (with it, Σ dx·x̂ per channel is close to zero when σ² ≫ ε)."),
    Mistake("detached-statistics", "your dx is γ·dy/√(σ² + ε): it treats μ_B and σ²_B as constants. Both "
            "terms −Σdy/m and −x̂·Σ(dy·x̂)/m are missing; this is the gradient the paper warns against."),
    Mistake("dgamma-dbeta-swapped", "your dγ and dβ are swapped: dγ = Σ dy·x̂ and dβ = Σ dy."),
    Mistake("missing-gamma", "your dx is the gradient for γ = 1: multiply by γ (dx̂ = dy·γ)."),
    Mistake("dgamma-uses-x", "your dγ is Σ dy·x. It is Σ dy·x̂: γ multiplies the normalized input."),
    # Running statistics.
    Mistake("momentum-reversed", "your running statistics moved by the other weight: PyTorch's momentum is "
            "the weight of the new batch, r ← (1 − momentum)·r + momentum·b; Keras's is the weight of the old "
            "value, r ← momentum·r + (1 − momentum)·b."),
    Mistake("biased-running-variance", "your running variance averages the biased batch variance. PyTorch "
            "stores the unbiased one, σ²_B·m/(m − 1) (while it normalizes with the biased one)."),
    Mistake("unbiased-running-variance", "your moving variance averages the unbiased batch variance. Keras "
            "stores the biased one, the variance it normalizes with."),
    Mistake("missing-bessel-correction", "your population variance is the average of the biased batch "
            "variances. Algorithm 2 multiplies it by m/(m − 1)."),
    Mistake("pooled-variance", "you took the variance of all batches pooled together. Algorithm 2 averages "
            "the batch variances (times m/(m − 1)): the spread of the batch means is not part of it."),
    Mistake("running-update-in-inference", "your layer updated its running statistics in inference mode. "
            "Only training-mode calls update them."),
    Mistake("running-statistics-in-training", "in training mode your layer normalized with the running "
            "statistics. Training mode uses the batch's own mean and biased variance."),
    # Other normalizations.
    Mistake("statistics-over-batch", "you normalized over the batch axis, as batch norm does for an (N, D) "
            "input. Layer normalization takes each example's statistics over its trailing normalized_shape axes."),
    Mistake("statistics-over-all-sample-axes", "you normalized over every axis but the batch axis. Layer "
            "normalization's statistics are over the trailing axes that γ covers (normalized_shape) only."),
    Mistake("interleaved-groups", "your groups take every G-th channel. Group normalization's groups are "
            "consecutive channels: channel c is in group c // (C/G) (reshape to (N, G, C/G, ...))."),
    Mistake("groups-of-one-channel", "you normalized each channel separately (instance normalization). "
            "Group normalization pools the C/G channels of a group."),
    # Folding.
    Mistake("scaled-input-channels", "you scaled the weight's input channels (axis 1). BN scales the layer's "
            "outputs: row o of W (axis 0) is multiplied by s_o = γ_o/√(σ²_o + ε)."),
    Mistake("layer-bias-ignored", "your folded bias ignores the layer's own bias b: it is s·(b − μ) + β."),
    # Precision.
    Mistake("float32-cancellation", "your function fails in float32 on values far from zero and passes the "
            "same case in float64: it loses precision, most likely in a one-pass variance E[x²] − E[x]², "
            "which cancels catastrophically there. Subtract the mean first (two passes), or accumulate in "
            "float64 and cast the result back."),
]

MISTAKES: dict[str, Mistake] = {mistake.name: mistake for mistake in _CATALOGUE}

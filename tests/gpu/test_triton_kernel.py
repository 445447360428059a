"""The Triton batch-norm kernels (bncourse.triton_kernel) against torch.nn.functional.batch_norm: outputs,
running statistics and gradients, float32 and bfloat16. Without a GPU they run in Triton's interpreter on
the CPU. triton is not in the course's environment (it and TensorFlow abort when loaded into one process):
scripts/test.sh runs this file on its own, with triton on PYTHONPATH and BNCOURSE_REQUIRE_TRITON=1, which
turns the skip below into a failure."""

import os

import pytest
import torch

if not torch.cuda.is_available():
    os.environ.setdefault("TRITON_INTERPRET", "1")  # must be set before triton is imported
if os.environ.get("BNCOURSE_REQUIRE_TRITON") != "1":
    pytest.importorskip("triton", reason="triton is not installed (extra 'gpu'; scripts/test.sh runs this file with it)")

from bncourse import triton_kernel  # noqa: E402

DEVICE = "cuda" if torch.cuda.is_available() else "cpu"
# float32: sums in a different order than PyTorch's; bfloat16: one rounding of the output (8 bits of mantissa).
TOLERANCE = {torch.float32: {"rtol": 1e-5, "atol": 1e-5}, torch.bfloat16: {"rtol": 1.6e-2, "atol": 1e-2}}


def run_both(shape: tuple[int, ...], dtype: torch.dtype, momentum: float = 0.1, affine: bool = True,
             offset: float = 3.0) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """One training step of the Triton kernels and of PyTorch on the same data: (ours, torch) per quantity."""
    generator = torch.Generator().manual_seed(sum(shape))
    x = (torch.randn(shape, generator=generator) * 2 + offset).to(DEVICE, dtype)
    dy = torch.randn(shape, generator=generator).to(DEVICE, dtype)
    channels = shape[1]
    weight = torch.randn(channels, generator=generator).to(DEVICE) if affine else None
    bias = torch.randn(channels, generator=generator).to(DEVICE) if affine else None
    results = {}
    for name, function in (("ours", triton_kernel.batch_norm), ("torch", torch.nn.functional.batch_norm)):
        leaf_x = x.clone().requires_grad_()
        leaves = [leaf_x] + ([weight.clone().requires_grad_(), bias.clone().requires_grad_()] if affine else [])
        running_mean = torch.full((channels,), 0.5, device=DEVICE)
        running_var = torch.full((channels,), 2.0, device=DEVICE)
        y = function(leaf_x, running_mean, running_var, *leaves[1:], training=True, momentum=momentum, eps=1e-5)
        gradients = torch.autograd.grad(y, leaves, dy)
        results[name] = {"y": y, "running_mean": running_mean, "running_var": running_var,
                         **{f"d{n}": g for n, g in zip(("x", "weight", "bias"), gradients)}}
    return {key: (results["ours"][key], results["torch"][key]) for key in results["ours"]}


def assert_matches(pairs: dict[str, tuple[torch.Tensor, torch.Tensor]], dtype: torch.dtype) -> None:
    for key, (ours, theirs) in pairs.items():
        assert ours.dtype == theirs.dtype, key
        scale = float(theirs.detach().float().abs().max()) or 1.0  # sums over many values: relative to their size
        tolerance = TOLERANCE[dtype]
        torch.testing.assert_close(ours.detach().float(), theirs.detach().float(), rtol=tolerance["rtol"],
                                   atol=tolerance["atol"] * max(1.0, scale), msg=lambda m: f"{key}: {m}")


@pytest.mark.parametrize("shape", [(4, 3, 5, 7), (2, 64, 3, 3), (3, 5, 2000), (16, 6), (2, 3, 4, 5, 6)])
def test_float32_matches_torch(shape: tuple[int, ...]) -> None:
    assert_matches(run_both(shape, torch.float32), torch.float32)


def test_float32_far_from_zero_is_as_accurate_as_torch() -> None:
    """Mean 1e4, std 2. A float32 mean is off by up to half a float32 spacing at 1e4 (4.9e-4), so any
    float32 kernel's x̂ may be off by about 4.9e-4/σ: PyTorch's too. The kernel must do no worse than
    PyTorch against the float64 result; computing x·s + (β − μs) instead of (x − μ)·s + β was worse."""
    generator = torch.Generator().manual_seed(5)
    x = (torch.randn(8, 3, 6, 6, generator=generator) * 2 + 1e4).to(DEVICE)
    exact = torch.nn.functional.batch_norm(x.double(), None, None, training=True)
    errors = {name: float((function(x, None, None, training=True).double() - exact).abs().max())
              for name, function in (("ours", triton_kernel.batch_norm), ("torch", torch.nn.functional.batch_norm))}
    assert errors["ours"] <= max(1.5 * errors["torch"], 1e-5), errors


def test_bfloat16_matches_torch_with_float32_sums() -> None:
    assert_matches(run_both((4, 3, 9, 9), torch.bfloat16), torch.bfloat16)


@pytest.mark.parametrize("momentum", [0.0, 0.35, 1.0])
def test_running_statistics_follow_momentum_and_affine_false(momentum: float) -> None:
    assert_matches(run_both((5, 4, 6), torch.float32, momentum=momentum, affine=False), torch.float32)


def test_many_splits_per_channel_combine_exactly() -> None:
    """Six programs per channel (forced), data far from zero: Welford per lane, Chan across lanes and
    splits keep the variance accurate where Σx² − (Σx)²/m in float32 would not."""
    generator = torch.Generator().manual_seed(0)
    x = (torch.randn(2, 2, 3000, generator=generator) * 0.5 + 1000.0).to(DEVICE)
    weight, bias = torch.ones(2, device=DEVICE), torch.zeros(2, device=DEVICE)
    plan = triton_kernel.Plan(x, programs=64)
    assert plan.splits == 6
    y, mean, inv_std = triton_kernel.forward_training(x, weight, bias, None, None, 0.1, 1e-5, programs=64)
    exact = x.double()
    var = exact.var(dim=(0, 2), unbiased=False)
    # A few float32 spacings at 1000 (a GPU's approximate division and another summation order).
    torch.testing.assert_close(mean.double(), exact.mean(dim=(0, 2)), rtol=5e-7, atol=0)
    torch.testing.assert_close((1 / inv_std.double() ** 2 - 1e-5), var, rtol=1e-4, atol=0)
    one_pass = (x * x).mean(dim=(0, 2)) - x.mean(dim=(0, 2)) ** 2
    assert float(((one_pass.double() - var) / var).abs().max()) > 1e-2  # what the Welford update avoids


def test_eval_mode_matches_torch() -> None:
    generator = torch.Generator().manual_seed(3)
    x = torch.randn(4, 3, 5, 5, generator=generator).to(DEVICE)
    running_mean, running_var = torch.randn(3).to(DEVICE), torch.rand(3).to(DEVICE) + 0.5
    weight, bias = torch.randn(3).to(DEVICE), torch.randn(3).to(DEVICE)
    ours = triton_kernel.batch_norm(x, running_mean, running_var, weight, bias, training=False)
    theirs = torch.nn.functional.batch_norm(x, running_mean, running_var, weight, bias, training=False)
    torch.testing.assert_close(ours, theirs, **TOLERANCE[torch.float32])


def test_bad_input_gets_a_clear_error() -> None:
    with pytest.raises(TypeError, match="x must be float32 or bfloat16, got torch.float64"):
        triton_kernel.batch_norm(torch.zeros(4, 2, dtype=torch.float64), None, None, training=True)
    with pytest.raises(ValueError, match="Expected more than 1 value per channel when training"):
        triton_kernel.batch_norm(torch.zeros(1, 2, device=DEVICE), None, None, training=True)
    with pytest.raises(ValueError, match="running_mean and running_var are required in eval mode"):
        triton_kernel.batch_norm(torch.zeros(4, 2, device=DEVICE), None, None, training=False)
    with pytest.raises(ValueError, match=r"x must have shape \(N, C, \*spatial\)"):
        triton_kernel.batch_norm(torch.zeros(4, device=DEVICE), None, None, training=True)

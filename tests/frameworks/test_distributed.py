"""Synchronized BN over torch.distributed (gloo, processes on 127.0.0.1): 2 and 4 processes holding shards
of one batch compute what one process computes on the whole batch; unsynchronized BN does not."""

import pytest

from bncourse.course import distributed

pytest.importorskip("torch")


@pytest.fixture(scope="module")
def one_process() -> distributed.Result:
    return distributed.single_process()


@pytest.mark.parametrize("world_size", [2, 4])
def test_synchronized_bn_equals_one_process_on_the_whole_batch(world_size: int, one_process) -> None:
    gaps = distributed.max_differences(distributed.run(world_size), one_process)
    assert all(gap < 1e-13 for gap in gaps.values()), gaps


def test_per_process_bn_is_not_bn_of_the_batch(one_process) -> None:
    gaps = distributed.max_differences(distributed.run(2, synchronized=False), one_process)
    assert gaps["y"] > 0.01 and gaps["dx"] > 0.01 and gaps["running_var"] > 0.01
    assert gaps["dbeta"] < 1e-13  # Σ dy does not depend on the statistics


def test_pytorch_sync_batch_norm_refuses_cpu_tensors_once_a_process_group_exists() -> None:
    import torch

    assert distributed.torch_sync_batch_norm_error().startswith("ValueError: SyncBatchNorm expected input tensor to be on GPU")
    # Without a process group it quietly is ordinary BN.
    x = torch.randn(4, 3)
    torch.testing.assert_close(torch.nn.SyncBatchNorm(3)(x), torch.nn.BatchNorm1d(3)(x))

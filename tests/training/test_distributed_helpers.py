"""The collective helpers put every tensor they reduce or broadcast on the process group's device.

NCCL accepts only CUDA tensors: a CPU tensor all-reduced on an NCCL group stops a multi-GPU run at its
first step. There is no GPU here, so the collectives are replaced by recorders and the context is given a
device no tensor starts on (``meta``): whatever reaches the collective must have been moved there.
"""

from __future__ import annotations

import pytest
import torch
import torch.distributed as tdist

from fieldcast.training.distributed import DistContext, init_distributed


class RecordedError(Exception):
    """Raised by the fake collective once it has seen its argument (a meta tensor has no value to use)."""


@pytest.fixture
def seen(monkeypatch):
    """Fake all_reduce / broadcast_object_list recording the device of what they are given, then stopping."""
    record: list[tuple[str, torch.device | None]] = []

    def all_reduce(tensor, op=None, group=None, async_op=False):
        record.append(("all_reduce", tensor.device))
        raise RecordedError

    def broadcast_object_list(objects, src=0, group=None, device=None, **kwargs):
        record.append(("broadcast", None if device is None else torch.device(device)))
        raise RecordedError

    monkeypatch.setattr(tdist, "all_reduce", all_reduce)
    monkeypatch.setattr(tdist, "broadcast_object_list", broadcast_object_list)
    return record


def test_mean_reduces_on_the_context_device(seen):
    ctx = DistContext(rank=0, world_size=2, device="meta")
    with pytest.raises(RecordedError):
        ctx.mean(torch.tensor(1.5))  # a CPU loss, as the loop has it on a CPU-less GPU rank
    assert seen == [("all_reduce", torch.device("meta"))]


def test_any_reduces_on_the_context_device(seen):
    ctx = DistContext(rank=1, world_size=2, device="meta")
    with pytest.raises(RecordedError):
        ctx.any(True)
    assert seen == [("all_reduce", torch.device("meta"))]
    assert ctx.flag_tensor(False).device == torch.device("meta")


def test_broadcast_serialises_through_the_context_device(seen):
    ctx = DistContext(rank=0, world_size=2, device="meta")
    with pytest.raises(RecordedError):
        ctx.broadcast([None, "runs/a"])
    assert seen == [("broadcast", torch.device("meta"))]


def test_results_come_back_on_the_callers_device(monkeypatch):
    """Two ranks holding equal values: the fake SUM doubles, MAX keeps; results land where they came from."""

    def all_reduce(tensor, op=None, group=None, async_op=False):
        assert tensor.device == torch.device("cpu")
        if op == tdist.ReduceOp.SUM:
            tensor.mul_(2)

    monkeypatch.setattr(tdist, "all_reduce", all_reduce)
    monkeypatch.setattr(tdist, "broadcast_object_list", lambda objects, src=0, group=None, device=None: None)
    ctx = DistContext(rank=0, world_size=2, device="cpu")
    value = torch.tensor(3.0, dtype=torch.float64)
    out = ctx.mean(value)
    assert float(out) == 3.0 and out.device == value.device and value.item() == 3.0  # input untouched
    assert ctx.any(True) is True and ctx.any(False) is False
    assert ctx.broadcast({"a": 1}) == {"a": 1}


def test_one_process_calls_no_collective(seen):
    ctx = DistContext()
    value = torch.tensor(2.0)
    assert ctx.mean(value) is value and ctx.any(True) is True and ctx.broadcast(5) == 5
    ctx.barrier()
    assert seen == []


@pytest.mark.parametrize("backend,device", [("nccl", "cuda:1"), ("gloo", "cpu")])
def test_init_distributed_gives_the_backends_device(monkeypatch, backend, device):
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "1")
    monkeypatch.setenv("LOCAL_RANK", "1")
    monkeypatch.setattr(tdist, "is_initialized", lambda: True)  # as after torchrun's init_process_group
    monkeypatch.setattr(tdist, "get_backend", lambda group=None: backend)
    ctx = init_distributed("auto")
    assert (ctx.rank, ctx.world_size, ctx.local_rank, ctx.device) == (1, 2, 1, device)

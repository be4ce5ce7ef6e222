"""Running the same trainer under ``torchrun``: DistributedDataParallel with gloo on CPU, nccl on GPU.

Outside torchrun (no ``WORLD_SIZE`` > 1 in the environment) everything here is a no-op on one process.
Only rank 0 writes the run folder; the helpers keep every rank's decisions identical.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist

__all__ = ["DistContext", "init_distributed", "shutdown_distributed"]


@dataclass(frozen=True)
class DistContext:
    """This process's place in the job."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    # Where collectives run: NCCL only accepts CUDA tensors, gloo CPU ones. Every tensor all-reduced or
    # broadcast here is moved to this device first and the result brought back to the caller's device.
    device: str = "cpu"

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def mean(self, value: torch.Tensor) -> torch.Tensor:
        """Mean of a scalar tensor over ranks (the tensor itself on one process)."""
        if not self.enabled:
            return value
        out = value.detach().to(self.device, dtype=torch.float32, copy=True)
        dist.all_reduce(out, op=dist.ReduceOp.SUM)
        return (out / self.world_size).to(value.device)

    def any(self, flag: bool) -> bool:
        """True on every rank when ``flag`` is True on at least one."""
        if not self.enabled:
            return flag
        t = self.flag_tensor(flag)
        dist.all_reduce(t, op=dist.ReduceOp.MAX)
        return bool(t.item() > 0)

    def flag_tensor(self, flag: bool) -> torch.Tensor:
        """A one-element tensor on the collective device (what :meth:`any` reduces)."""
        return torch.tensor([1.0 if flag else 0.0], device=self.device)

    def broadcast(self, obj: Any) -> Any:
        """Rank 0's ``obj`` on every rank."""
        if not self.enabled:
            return obj
        box = [obj]
        dist.broadcast_object_list(box, src=0, device=torch.device(self.device))
        return box[0]

    def barrier(self) -> None:
        if self.enabled:
            dist.barrier()


def init_distributed(device_preference: str = "auto") -> DistContext:
    """Join the process group torchrun set up (gloo for CPU, nccl for CUDA); one process otherwise."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return DistContext()
    rank = int(os.environ["RANK"])
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if not dist.is_initialized():
        pref = device_preference.lower()
        use_cuda = pref.startswith("cuda") or (pref == "auto" and torch.cuda.is_available())
        if use_cuda:
            torch.cuda.set_device(local_rank)
        dist.init_process_group(backend="nccl" if use_cuda else "gloo")
    backend = dist.get_backend()
    device = f"cuda:{local_rank}" if backend == "nccl" else "cpu"
    return DistContext(rank=rank, world_size=world, local_rank=local_rank, device=device)


def shutdown_distributed() -> None:
    """Leave the process group (no-op when there is none)."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()

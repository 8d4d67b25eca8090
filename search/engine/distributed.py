"""PyTorch distributed, the torchrun way: gloo on the CPU, nccl on GPUs.

Started by ``torchrun --nproc_per_node=N -m search run ...`` (which sets ``RANK``,
``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR``, ``MASTER_PORT``); without those variables
everything runs in one process and every helper here is a no-op.

>>> env = setup("cpu")
>>> env.world_size, env.is_main
(1, True)
>>> shard(list(range(8)), env)
[0, 1, 2, 3, 4, 5, 6, 7]
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Iterable, Sequence, TypeVar

import torch
import torch.distributed as dist
from torch import nn

from search.errors import UserError

T = TypeVar("T")


@dataclass(frozen=True)
class DistEnv:
    rank: int
    world_size: int
    local_rank: int
    device: torch.device

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


def pick_device(preference: str, local_rank: int = 0) -> torch.device:
    """``auto``: the GPU of this local rank if there is one, else the CPU."""
    if preference == "cuda" or (preference == "auto" and torch.cuda.is_available()):
        if not torch.cuda.is_available():
            raise UserError("run.device is cuda but no CUDA GPU is available; use run.device=cpu")
        return torch.device("cuda", local_rank % torch.cuda.device_count())
    return torch.device("cpu")


def setup(device: str = "auto") -> DistEnv:
    """Join the process group if torchrun started us; returns this process's place in it."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank, local = int(os.environ.get("RANK", "0")), int(os.environ.get("LOCAL_RANK", "0"))
    dev = pick_device(device, local)
    if world > 1 and not dist.is_initialized():
        if dev.type == "cuda":
            torch.cuda.set_device(dev)
        dist.init_process_group(backend="nccl" if dev.type == "cuda" else "gloo")
    return DistEnv(rank=rank, world_size=world, local_rank=local, device=dev)


def teardown() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()


def shard(items: Sequence[T], env: DistEnv) -> list[T]:
    """This rank's contiguous share of a global batch (sizes differ by at most one)."""
    n, k = len(items), env.world_size
    lo, hi = env.rank * n // k, (env.rank + 1) * n // k
    return list(items[lo:hi])


class MultiInput(nn.Module):
    """``forward(*xs) -> tuple(model(x) for x in xs)``: several resolutions in one forward call,
    so DDP sees one forward and one backward per step whatever the mix of input sizes."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, *xs: torch.Tensor) -> tuple[torch.Tensor, ...]:
        return tuple(self.model(x) for x in xs)


def wrap_ddp(model: nn.Module, env: DistEnv, ignore: Iterable[str] = ()) -> nn.Module:
    """DistributedDataParallel around ``model`` (the model itself in one process).

    ``ignore``: parameter names DDP leaves alone (the arch logits, synchronised by
    :func:`all_reduce_grads` in their own step).
    """
    if not env.distributed:
        return model
    ignore = list(ignore)
    if ignore:
        nn.parallel.DistributedDataParallel._set_params_and_buffers_to_ignore_for_model(model, ignore)
    ids = [env.device.index] if env.device.type == "cuda" else None
    return nn.parallel.DistributedDataParallel(model, device_ids=ids, find_unused_parameters=True)


def all_reduce_grads(params: Iterable[torch.Tensor], env: DistEnv) -> None:
    """Average ``.grad`` over ranks (missing grads count as zero)."""
    if not env.distributed:
        return
    for p in params:
        if p.grad is None:
            p.grad = torch.zeros_like(p)
        dist.all_reduce(p.grad, op=dist.ReduceOp.SUM)
        p.grad /= env.world_size


def all_reduce_sum(t: torch.Tensor, env: DistEnv) -> torch.Tensor:
    """Sum of ``t`` over ranks (a new tensor; ``t`` itself in one process)."""
    if not env.distributed:
        return t
    out = t.to(env.device, copy=True)  # nccl reduces GPU tensors only
    dist.all_reduce(out, op=dist.ReduceOp.SUM)
    return out.to(t.device)


def broadcast_object(obj: T, env: DistEnv) -> T:
    """Rank 0's ``obj`` on every rank."""
    if not env.distributed:
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def is_main_process() -> bool:
    """Rank 0 (or no torchrun): the one process that prints and writes."""
    return int(os.environ.get("RANK", "0")) == 0


def check_synchronised(tensors: Iterable[torch.Tensor], env: DistEnv, what: str) -> None:
    """Raise if any of ``tensors`` differs from rank 0's copy (e.g. the arch logits)."""
    if not env.distributed:
        return
    for t in tensors:
        ref = t.detach().clone()
        dist.broadcast(ref, src=0)
        if not torch.equal(ref, t.detach()):
            raise RuntimeError(f"{what} differ between rank 0 and rank {env.rank}")


def barrier(env: DistEnv) -> None:
    if env.distributed:
        dist.barrier()

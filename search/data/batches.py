"""Batches as a pure function of (seed, step): resuming at a step replays the same data.

Each epoch is a permutation drawn from ``(seed, epoch)``; step ``s`` takes the next
``batch_size`` indices of its epoch (the last, short batch of an epoch is skipped).

>>> a = step_indices(10, 4, step=3, seed=0)
>>> a == step_indices(10, 4, step=3, seed=0), len(a)
(True, 4)
"""
from __future__ import annotations

from typing import Sequence

import torch
from torch.utils.data import Dataset

from search.engine.distributed import shard
from search.engine.seeding import derive_seed
from search.errors import UserError


def step_indices(n: int, batch_size: int, step: int, seed: int, tag: str = "train") -> list[int]:
    """The dataset indices of global batch ``step`` (all ranks together)."""
    if n < batch_size:
        raise UserError(f"the {tag} split has {n} images, fewer than the batch size {batch_size}; "
                        f"lower data.batch_size or add images")
    per_epoch = n // batch_size
    epoch, k = divmod(step, per_epoch)
    g = torch.Generator().manual_seed(derive_seed(seed, tag, "epoch", epoch))
    perm = torch.randperm(n, generator=g)
    return perm[k * batch_size:(k + 1) * batch_size].tolist()


def bucketed_indices(buckets: Sequence[int], batch_size: int, step: int, seed: int,
                     tag: str = "train", min_batch: int = 2) -> tuple[list[int], int]:
    """``(indices, epoch)`` of batch ``step`` when a batch holds images of one bucket only (one
    data-slimming action, so the step runs one forward at one scale with the whole batch).

    Each epoch, drawn from ``(seed, epoch)``, shuffles every bucket's images, cuts them into
    batches of ``batch_size`` (a shorter last one is kept if it has at least ``min_batch`` images:
    batch-norm needs two, and with several processes each needs one), and shuffles the order of
    the batches; an epoch has the same number of batches every time.

    >>> buckets = [0, 1, 0, 1, 0, 1, 0, 1]     # two buckets of 4: 2 batches each, 4 per epoch
    >>> idx, epoch = bucketed_indices(buckets, 2, step=5, seed=0)
    >>> len(idx), len(set(buckets[i] for i in idx)), epoch
    (2, 1, 1)
    """
    n = len(buckets)
    pools: dict[int, list[int]] = {}
    for i in range(n):
        pools.setdefault(int(buckets[i]), []).append(i)
    sizes = [len(p) for p in pools.values()]
    per_epoch = sum(len(epoch_batch_sizes(k, batch_size, min_batch)) for k in sizes)
    if per_epoch == 0:
        raise UserError(f"the {tag} split's buckets (sizes {sorted(sizes)}) give no batch of {min_batch} or more images")
    epoch, k = divmod(step, per_epoch)
    g = torch.Generator().manual_seed(derive_seed(seed, tag, "bucket-epoch", epoch))
    batches = []
    for key in sorted(pools):
        pool = [pools[key][j] for j in torch.randperm(len(pools[key]), generator=g).tolist()]
        lengths = epoch_batch_sizes(len(pool), batch_size, min_batch)   # every batch full but the last
        batches += [pool[i * batch_size:i * batch_size + size] for i, size in enumerate(lengths)]
    return batches[torch.randperm(len(batches), generator=g)[k].item()], epoch


def epoch_batch_sizes(images: int, batch_size: int, min_batch: int = 2) -> list[int]:
    """The batch sizes one epoch of :func:`bucketed_indices` cuts a bucket of ``images`` images into.

    >>> epoch_batch_sizes(19, 8), epoch_batch_sizes(17, 8)
    ([8, 8, 3], [8, 8])
    """
    full, rest = divmod(int(images), batch_size)
    return [batch_size] * full + ([rest] if rest >= min_batch else [])


def batch_indices(n: int, batch_size: int, step: int, seed: int, tag: str,
                  buckets: Sequence[int] | None = None, world_size: int = 1) -> tuple[list[int], int]:
    """``(indices, epoch)`` of global batch ``step``: :func:`step_indices`, or
    :func:`bucketed_indices` when every image has a bucket (a batch of at least 2 images, and at
    least one per process of ``world_size``)."""
    if buckets is not None:
        return bucketed_indices(buckets, batch_size, step, seed, tag, min_batch=max(2, world_size))
    return step_indices(n, batch_size, step, seed, tag), step // (n // batch_size)


def collate(dataset: Dataset, indices: Sequence[int]) -> tuple[torch.Tensor, torch.Tensor]:
    """Stack ``dataset[i]`` for ``i`` in ``indices`` into an image batch and a mask batch."""
    images, masks = zip(*(dataset[i] for i in indices))
    shapes = {tuple(im.shape) for im in images}
    if len(shapes) > 1:
        raise UserError(f"images of one batch differ in size ({sorted(shapes)}); set data.crop "
                        f"to a fixed training crop [height, width]")
    return torch.stack(images), torch.stack(masks)


def global_batch(dataset: Dataset, batch_size: int, step: int, seed: int, tag: str, env,
                 device: torch.device | str = "cpu", buckets: Sequence[int] | None = None,
                 ) -> tuple[list[int], list[int], torch.Tensor, torch.Tensor]:
    """Batch ``step`` of ``dataset`` (:func:`batch_indices`): its global indices, this rank's
    positions in it, and this rank's images and masks on ``device``. Sets the dataset's epoch
    (training transforms)."""
    idx, epoch = batch_indices(len(dataset), batch_size, step, seed, tag, buckets, env.world_size)
    if hasattr(dataset, "set_epoch"):
        dataset.set_epoch(epoch)
    pos = shard(list(range(len(idx))), env)
    images, masks = collate(dataset, [idx[p] for p in pos])
    return idx, pos, images.to(device), masks.to(device)

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


def collate(dataset: Dataset, indices: Sequence[int]) -> tuple[torch.Tensor, torch.Tensor]:
    """Stack ``dataset[i]`` for ``i`` in ``indices`` into an image batch and a mask batch."""
    images, masks = zip(*(dataset[i] for i in indices))
    shapes = {tuple(im.shape) for im in images}
    if len(shapes) > 1:
        raise UserError(f"images of one batch differ in size ({sorted(shapes)}); set data.crop "
                        f"to a fixed training crop [height, width]")
    return torch.stack(images), torch.stack(masks)


def global_batch(dataset: Dataset, batch_size: int, step: int, seed: int, tag: str, env,
                 device: torch.device | str = "cpu") -> tuple[list[int], list[int], torch.Tensor, torch.Tensor]:
    """Batch ``step`` of ``dataset``: its global indices, this rank's positions in it, and this
    rank's images and masks on ``device``. Sets the dataset's epoch (training transforms)."""
    n = len(dataset)
    idx = step_indices(n, batch_size, step, seed, tag)
    if hasattr(dataset, "set_epoch"):
        dataset.set_epoch(step // (n // batch_size))
    pos = shard(list(range(batch_size)), env)
    images, masks = collate(dataset, [idx[p] for p in pos])
    return idx, pos, images.to(device), masks.to(device)

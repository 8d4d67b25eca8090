"""Batch ``step`` of a split for this process, decoded by DataLoader worker processes.

With ``workers=0`` a batch is loaded in the calling process (:func:`global_batch`). With
``workers > 0`` a ``torch.utils.data.DataLoader`` prefetches the batches of the coming steps:
its batch sampler yields the same indices as :func:`~search.data.batches.step_indices` and passes
each item's epoch along, so the training transform (a function of seed, epoch and index) gives
identical images in a worker; a resumed run, or a request out of order, restarts the stream at
that step. Results are the same with and without workers.

>>> from search.data import build_dataset
>>> from search.engine.distributed import setup
>>> ds = build_dataset({"name": "synthetic", "size": 8, "image_size": [16, 32]})
>>> batches = StepBatches(ds, batch_size=4, seed=0, tag="train", env=setup("cpu"))
>>> idx, pos, images, masks = batches(3)
>>> tuple(images.shape), pos
((4, 3, 16, 32), [0, 1, 2, 3])
"""
from __future__ import annotations

from itertools import count
from typing import Any, Iterator, Sequence

import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from search.data.batches import batch_indices, collate, global_batch
from search.engine.distributed import shard
from search.engine.seeding import derive_seed

Batch = tuple[list[int], list[int], torch.Tensor, torch.Tensor]


class _AtEpoch(Dataset):
    """Items addressed as ``(index, epoch)``: the epoch is set in the process that loads them."""

    def __init__(self, dataset: Dataset) -> None:
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, item: tuple[int, int]) -> tuple[torch.Tensor, torch.Tensor]:
        index, epoch = item
        if hasattr(self.dataset, "set_epoch"):
            self.dataset.set_epoch(epoch)
        return self.dataset[index]


class _StepSampler(Sampler):
    """This rank's ``(index, epoch)`` items of every step from ``start`` on."""

    def __init__(self, n: int, batch_size: int, seed: int, tag: str, env: Any, start: int,
                 buckets: Sequence[int] | None = None) -> None:
        self.n, self.batch_size, self.seed, self.tag, self.env, self.start = n, batch_size, seed, tag, env, start
        self.buckets = buckets

    def __iter__(self) -> Iterator[list[tuple[int, int]]]:
        for step in count(self.start):
            idx, epoch = batch_indices(self.n, self.batch_size, step, self.seed, self.tag, self.buckets,
                                       self.env.world_size)
            yield [(idx[p], epoch) for p in shard(list(range(len(idx))), self.env)]


class StepBatches:
    """``batches(step) -> (global indices, this rank's positions, images, masks)`` on ``device``;
    with ``buckets`` (one per image) a batch holds images of one bucket
    (:func:`~search.data.batches.bucketed_indices`)."""

    def __init__(self, dataset: Dataset, batch_size: int, seed: int, tag: str, env: Any,
                 device: torch.device | str = "cpu", workers: int = 0, buckets: Sequence[int] | None = None) -> None:
        self.dataset, self.batch_size, self.seed, self.tag = dataset, batch_size, seed, tag
        self.env, self.device, self.workers, self.buckets = env, device, workers, buckets
        self._stream: Iterator | None = None
        self._next = -1

    def __call__(self, step: int) -> Batch:
        if self.workers == 0:
            return global_batch(self.dataset, self.batch_size, step, self.seed, self.tag, self.env, self.device,
                                self.buckets)
        if self._stream is None or step != self._next:
            self._stream = iter(self._loader(step))
        images, masks = next(self._stream)
        self._next = step + 1
        idx, _ = batch_indices(len(self.dataset), self.batch_size, step, self.seed, self.tag, self.buckets,
                               self.env.world_size)
        pos = shard(list(range(len(idx))), self.env)
        return idx, pos, images.to(self.device), masks.to(self.device)

    def _loader(self, start: int) -> DataLoader:
        sampler = _StepSampler(len(self.dataset), self.batch_size, self.seed, self.tag, self.env, start, self.buckets)
        items = _AtEpoch(self.dataset)
        return DataLoader(items, batch_sampler=sampler, num_workers=self.workers, persistent_workers=False,
                          collate_fn=lambda batch: collate(_Listed(batch), range(len(batch))),
                          pin_memory=torch.device(self.device).type == "cuda", prefetch_factor=2,
                          generator=torch.Generator().manual_seed(derive_seed(self.seed, self.tag, "loader", start)))
        # (its own generator: starting workers must not draw from the global RNG the steps use)


class _Listed(list):
    """A list of loaded items, indexable like a dataset (for :func:`collate`)."""

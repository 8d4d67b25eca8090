"""The three splits of a run (train for W, val for alpha/rho/phi, test for the final mIoU) and
the complexity features of the images the gate sees.

>>> from search.config import load_config
>>> cfg = load_config(None, ["data.num_train=4", "data.num_val=2", "data.num_test=2", "data.image_size=[16, 32]"])
>>> dataset_config(cfg.data, "val")["image_size"]
[16, 32]
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor
from torch.utils.data import Dataset, Subset

from search.config import DataConfig
from search.data.base import MAX_PIXELS, DataError
from search.data.build import GENERATORS, build_dataset
from search.data.features import complexity_features
from search.data.folder import check_run_layout
from search.engine.seeding import derive_seed
from search.errors import UserError


def dataset_config(data: DataConfig, which: str) -> dict[str, Any]:
    """The ``build_dataset`` dict of split ``which`` (``train``, ``val`` or ``test``)."""
    val = data.train_split if data.val_from_train > 0 else data.val_split
    split = {"train": data.train_split, "val": val, "test": data.test_split}[which]
    cfg: dict[str, Any] = {"name": data.name, "split": split, "seed": data.seed, "cache_dir": data.cache_dir,
                           "augment": data.augment and which == "train"}
    if which == "train" and data.crop is not None:
        cfg["crop"] = data.crop
    if data.name in GENERATORS:
        cfg.update(size={"train": data.num_train, "val": data.num_val, "test": data.num_test}[which],
                   image_size=data.image_size, num_classes=data.num_classes)
    else:
        cfg["root"] = data.root
        if data.max_pixels != MAX_PIXELS:  # the dataset's own default otherwise
            cfg["max_pixels"] = data.max_pixels
        if data.name == "folder":
            cfg["classes"] = data.classes
    cfg.update(data.options)
    return cfg


class HeldOut(Subset):
    """A share of a split (``torch.utils.data.Subset``) that still answers as its dataset does
    (``num_classes``, ``class_names``, ``set_epoch``, ``load``)."""

    def __getattr__(self, name: str) -> Any:
        if name in ("dataset", "indices"):
            raise AttributeError(name)
        return getattr(self.dataset, name)

    def load(self, index: int) -> tuple[Tensor, Tensor]:
        return self.dataset.load(self.indices[index])


class InMemory(Dataset):
    """Keeps each decoded item of ``dataset`` after its first ``load``; the training transform
    (which depends on ``(seed, epoch, index)``) is applied afresh on every access."""

    def __init__(self, dataset: Dataset) -> None:
        self.dataset = dataset
        self._items: dict[int, tuple[Tensor, Tensor]] = {}

    def __len__(self) -> int:
        return len(self.dataset)

    def __getattr__(self, name: str) -> Any:  # num_classes, class_names, set_epoch, cache_key, ...
        if name == "dataset":
            raise AttributeError(name)
        return getattr(self.dataset, name)

    def load(self, index: int) -> tuple[Tensor, Tensor]:
        if index not in self._items:
            self._items[index] = self.dataset.load(index)
        return self._items[index]

    def __getitem__(self, index: int) -> tuple[Tensor, Tensor]:
        image, mask = self.load(index)
        transform = self.dataset.transform
        return transform(image, mask, index=index, epoch=self.dataset.epoch) if transform else (image, mask)


@dataclass
class Splits:
    train: Dataset
    val: Dataset
    test: Dataset
    num_classes: int
    class_names: list[str]
    features: dict[str, Tensor]        # "train" / "val": (N, F) complexity features

    @property
    def image_size(self) -> tuple[int, int]:
        """Height and width of a training item (after the crop)."""
        return tuple(self.train[0][0].shape[-2:])

    @property
    def test_size(self) -> tuple[int, int]:
        """Height and width of a test item: the deployment input at scale 1.0.

        Metadata only: a generated dataset (no transform) answers from its ``image_size``
        without making an image; a file dataset decodes its first item for the shape (no
        pixel value is used). Choices made before the final evaluation (the cost in the
        search's loss, a baseline's width) may use this size, never the test images.
        """
        size = getattr(self.test, "image_size", None)
        if size is not None and getattr(self.test, "transform", None) is None:
            return tuple(int(v) for v in size)
        return tuple(self.test[0][0].shape[-2:])


def build_split(data: DataConfig, which: str) -> Dataset:
    try:
        ds = build_dataset(dataset_config(data, which))
    except DataError as err:
        raise UserError(str(err)) from None
    if len(ds) == 0:
        raise UserError(f"the {which} split ({dataset_config(data, which)['split']}) of dataset "
                        f"{data.name!r} has no images")
    return InMemory(ds) if data.in_memory else ds


def load_splits(data: DataConfig, features: bool = True, progress: bool = False) -> Splits:
    """Build the train, val and test datasets and (with ``features``) their complexity features."""
    if data.name == "folder":  # one flat folder would give the same images to every split
        try:
            check_run_layout(data.root, [dataset_config(data, w)["split"] for w in ("train", "val", "test")],
                             data.options.get("split_fractions"))
        except DataError as err:
            raise UserError(str(err)) from None
    train, val, test = (build_split(data, w) for w in ("train", "val", "test"))
    feats = {}
    if features:
        for name, ds in (("train", train), ("val", val)):
            if name == "train" or data.val_from_train == 0:
                feats[name] = complexity_features(ds, cache_dir=data.cache_dir, progress=progress).float()
    if data.val_from_train > 0:  # both come from the train split: hold a share out for the val split
        n = len(train)
        perm = torch.randperm(n, generator=torch.Generator().manual_seed(derive_seed(data.seed, "val_from_train")))
        n_val = min(n - 1, max(1, round(data.val_from_train * n)))
        held, kept = sorted(perm[:n_val].tolist()), sorted(perm[n_val:].tolist())
        train, val = HeldOut(train, kept), HeldOut(val, held)
        if features:
            feats = {"train": feats["train"][kept], "val": feats["train"][held]}
    return Splits(train, val, test, train.num_classes, list(train.class_names), feats)

"""What every dataset shares: the error type, the item contract, training transforms, file reading.

A dataset item is ``(image, mask)``: a float tensor ``3xHxW`` in [0, 1] and a long tensor
``HxW`` of class indices, ``255`` where ignored. :meth:`SegDataset.load` gives the untransformed
item (what complexity features and evaluation use); ``dataset[i]`` applies the training
transform when the dataset was built with ``augment=True``.

>>> import torch
>>> class Toy(SegDataset):
...     def __len__(self): return 1
...     def load(self, i): return torch.zeros(3, 8, 8), torch.zeros(8, 8, dtype=torch.long)
>>> Toy(["a"])[0][0].shape
torch.Size([3, 8, 8])
"""
from __future__ import annotations

import hashlib
import re
import warnings
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from PIL import Image
from torch import Tensor

from .transforms import IGNORE_INDEX, TrainTransform

#: the largest image (width x height) read from a file: 2**26, e.g. 8192 x 8192; the
#: ``max_pixels`` key of ``build_dataset`` changes it per dataset. Checked from the file's
#: header, before anything is decoded. Pillow itself refuses images over twice its own
#: ``PIL.Image.MAX_IMAGE_PIXELS`` (about 179 million pixels) whatever this limit says.
MAX_PIXELS = 2**26


class DataError(ValueError):
    """Bad data or a bad dataset config; the message names the file, key or value."""


class SegDataset(torch.utils.data.Dataset):
    """Base class: subclasses implement ``__len__``, ``load(i)`` and ``cache_key()``."""

    ignore_index: int = IGNORE_INDEX
    feature_cache_dir: str | None = None  # where complexity features are cached (None: the default)
    data_root: Path | None = None         # the dataset's folder (file datasets): default cache beside it

    def __init__(self, class_names: Sequence[str], transform: TrainTransform | None = None) -> None:
        self.class_names = list(class_names)
        self.num_classes = len(self.class_names)
        self.transform = transform
        self.epoch = 0

    def load(self, index: int) -> tuple[Tensor, Tensor]:
        """The untransformed item ``index`` (full resolution)."""
        raise NotImplementedError

    def cache_key(self) -> str:
        """A hash of everything the items depend on (used to key cached features)."""
        raise NotImplementedError

    def set_epoch(self, epoch: int) -> None:
        """Training transforms depend on (seed, epoch, index): call once per epoch."""
        self.epoch = int(epoch)

    def __getitem__(self, index: int) -> tuple[Tensor, Tensor]:
        if not 0 <= index < len(self):
            raise IndexError(f"index {index} out of range for a dataset of {len(self)} items")
        image, mask = self.load(index)
        if self.transform is not None:
            image, mask = self.transform(image, mask, index=index, epoch=self.epoch)
        return image, mask


def digest(*parts: object) -> str:
    """A short stable hash of ``repr`` of the parts."""
    return hashlib.sha256(repr(parts).encode()).hexdigest()[:20]


def files_digest(paths: Sequence[Path], extra: object = ()) -> str:
    """Hash of file names, sizes and modification times: changes whenever the data does."""
    stats = []
    for p in paths:
        st = p.stat()
        stats.append((str(p), st.st_size, st.st_mtime_ns))
    return digest(stats, extra)


def open_image(path: Path, what: str, max_pixels: int = MAX_PIXELS) -> Image.Image:
    """``Image.open(path)`` (header only, nothing decoded) after checking its size against ``max_pixels``.

    ``what`` is ``"image"`` or ``"mask"``; every failure is a :class:`DataError` naming the file.
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # the limit below decides
            im = Image.open(path)
    except Image.DecompressionBombError as err:
        found = re.search(r"\((\d+) pixels\)", str(err))
        size = f"{int(found.group(1))} pixels" if found else f"over {2 * Image.MAX_IMAGE_PIXELS} pixels"
        raise DataError(f"{what} file {path} is {size}, above the limit of {max_pixels} pixels "
                        f"(and Pillow's own, {2 * Image.MAX_IMAGE_PIXELS}); is it a corrupt or hostile file?") from None
    except (OSError, SyntaxError, ValueError) as err:
        raise DataError(f"cannot read {what} file {path}: {err}") from None
    w, h = im.size
    if w * h > max_pixels:
        im.close()
        raise DataError(f"{what} file {path} is {w}x{h} = {w * h} pixels (header), above the limit of "
                        f"{max_pixels} pixels; raise the dataset's max_pixels (data.options) for bigger images")
    return im


def read_image(path: Path, max_pixels: int = MAX_PIXELS) -> Tensor:
    """An RGB image file as a float tensor ``3xHxW`` in [0, 1]."""
    with open_image(path, "image", max_pixels) as im:
        try:
            im.load()
            arr = np.asarray(im.convert("RGB"), dtype=np.uint8)
        except (OSError, SyntaxError, ValueError) as err:
            raise DataError(f"cannot read image file {path}: {err}") from None
    return torch.from_numpy(arr.copy()).permute(2, 0, 1).float().div_(255.0)


def read_label(path: Path, max_pixels: int = MAX_PIXELS) -> np.ndarray:
    """A single-channel label image (PIL mode L, P, I or I;16) as an int64 array ``HxW``."""
    with open_image(path, "mask", max_pixels) as im:
        if im.mode not in ("L", "P", "I", "I;16"):
            raise DataError(f"mask file {path} has PIL mode {im.mode}; expected a single-channel "
                            "label image (mode L, P, I or I;16) whose pixel values are label ids")
        try:
            im.load()
            arr = np.asarray(im, dtype=np.int64)
        except (OSError, SyntaxError, ValueError) as err:
            raise DataError(f"cannot read mask file {path}: {err}") from None
    return arr


def check_same_size(image: Tensor, mask: np.ndarray, image_path: Path, mask_path: Path) -> None:
    """Raise :class:`DataError` unless image and mask have the same height and width."""
    if tuple(image.shape[1:]) != tuple(mask.shape):
        h, w = image.shape[1:]
        raise DataError(f"image {image_path} is {h}x{w} (HxW) but its mask {mask_path} is "
                        f"{mask.shape[0]}x{mask.shape[1]}; they must have the same size")


def resize_pair(image: Tensor, mask: Tensor, size: tuple[int, int]) -> tuple[Tensor, Tensor]:
    """Resize image (bilinear, antialiased) and mask (nearest) to ``size`` = (H, W)."""
    if tuple(image.shape[1:]) == tuple(size):
        return image, mask
    image = torch.nn.functional.interpolate(image[None], size=size, mode="bilinear",
                                            align_corners=False, antialias=True)[0].clamp_(0, 1)
    mask = torch.nn.functional.interpolate(mask[None, None].float(), size=size, mode="nearest")[0, 0].long()
    return image, mask

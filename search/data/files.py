"""Datasets stored as image files paired with label images, read with Pillow.

The readers (cityscapes, camvid, folder) only list the pairs and give the label mapping;
:class:`PairedFiles` does the reading, checking and mapping.

A label mapping is a lookup table ``lut`` indexed by the raw pixel value: the class index,
``255`` for ignored, or ``-1`` for an id that is not in the class list (an error naming the file).
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch
from torch import Tensor

from .base import MAX_PIXELS, DataError, SegDataset, check_same_size, files_digest, read_image, read_label, resize_pair
from .transforms import IGNORE_INDEX, TrainTransform

IMAGE_EXTS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".ppm")
MASK_EXTS = (".png", ".bmp", ".tif", ".tiff")


def require_dir(path: Path, dataset: str, expected: str) -> Path:
    """``path`` if it is a folder, else a :class:`DataError` saying what layout was expected."""
    if not path.is_dir():
        raise DataError(f"{dataset}: folder not found: {path} (expected layout: {expected})")
    return path


def pair_files(images: Sequence[Path], mask_for: Callable[[Path], Path | None], dataset: str,
               where: Path) -> list[tuple[Path, Path]]:
    """Pair every image with its mask; :class:`DataError` for an image without a mask."""
    if not images:
        raise DataError(f"{dataset}: no images found in {where}")
    pairs = []
    for image in sorted(images):
        mask = mask_for(image)
        if mask is None or not mask.is_file():
            expected = f" (expected {mask})" if mask is not None else ""
            raise DataError(f"{dataset}: image {image} has no mask{expected}")
        pairs.append((image, mask))
    return pairs


def identity_lut(num_classes: int, void_ids: Sequence[int] = ()) -> np.ndarray:
    """Pixel value k -> class k for k < num_classes, 255 and ``void_ids`` -> ignored, else invalid."""
    lut = np.full(256, -1, np.int64)
    lut[:num_classes] = np.arange(num_classes)
    lut[list(void_ids) + [IGNORE_INDEX]] = IGNORE_INDEX
    return lut


class PairedFiles(SegDataset):
    """(image file, label file) pairs under ``root`` with a label lookup table; optional ``resize`` = (H, W).

    Files over ``max_pixels`` pixels (read from their header) are a :class:`DataError`.
    """

    max_pixels: int = MAX_PIXELS

    def __init__(self, name: str, root: Path, pairs: Sequence[tuple[Path, Path]], class_names: Sequence[str],
                 lut: np.ndarray, transform: TrainTransform | None = None,
                 resize: tuple[int, int] | None = None) -> None:
        super().__init__(class_names, transform)
        self.name, self.data_root, self.pairs, self.lut = name, Path(root), list(pairs), np.asarray(lut, np.int64)
        self.resize = tuple(resize) if resize else None

    def __len__(self) -> int:
        return len(self.pairs)

    def load(self, index: int) -> tuple[Tensor, Tensor]:
        image_path, mask_path = self.pairs[index]
        image = read_image(image_path, self.max_pixels)
        raw = read_label(mask_path, self.max_pixels)
        check_same_size(image, raw, image_path, mask_path)
        mapped = self.lut[np.minimum(raw, len(self.lut) - 1)]
        bad = (raw >= len(self.lut)) | (mapped < 0)
        if bad.any():
            ids = sorted(set(np.unique(raw[bad]).tolist()))
            valid = sorted(set(np.flatnonzero(self.lut >= 0).tolist()))
            raise DataError(f"{self.name}: mask {mask_path} has label ids {ids[:10]} outside the class "
                            f"list ({self.num_classes} classes; valid ids: {_ranges(valid)})")
        mask = torch.from_numpy(mapped)
        if self.resize:
            image, mask = resize_pair(image, mask, self.resize)
        return image, mask

    def cache_key(self) -> str:
        paths = [p for pair in self.pairs for p in pair]
        return files_digest(paths, (self.name, self.lut.tolist(), self.class_names, self.resize))


def _ranges(values: list[int]) -> str:
    """[0, 1, 2, 3, 255] -> '0-3, 255'."""
    out, start = [], None
    for i, v in enumerate(values):
        if start is None:
            start = v
        if i + 1 == len(values) or values[i + 1] != v + 1:
            out.append(f"{start}-{v}" if v > start else f"{v}")
            start = None
    return ", ".join(out)

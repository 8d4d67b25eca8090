"""Cityscapes: ``leftImg8bit/<split>/<city>/*_leftImg8bit.png`` with
``gtFine/<split>/<city>/*_gtFine_labelIds.png``, mapped to the 19 standard train ids.

The table is the official one (cityscapesScripts ``helpers/labels.py``): every id whose
trainId is 255 or -1, and every pixel value not in the table, becomes 255 (ignored).

>>> int(LABEL_TO_TRAIN[26]), CLASS_NAMES[13]
(13, 'car')
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from .files import PairedFiles, pair_files, require_dir
from .transforms import TrainTransform

# (name, id, trainId) exactly as in cityscapesScripts/helpers/labels.py
LABELS: list[tuple[str, int, int]] = [
    ("unlabeled", 0, 255), ("ego vehicle", 1, 255), ("rectification border", 2, 255),
    ("out of roi", 3, 255), ("static", 4, 255), ("dynamic", 5, 255), ("ground", 6, 255),
    ("road", 7, 0), ("sidewalk", 8, 1), ("parking", 9, 255), ("rail track", 10, 255),
    ("building", 11, 2), ("wall", 12, 3), ("fence", 13, 4), ("guard rail", 14, 255),
    ("bridge", 15, 255), ("tunnel", 16, 255), ("pole", 17, 5), ("polegroup", 18, 255),
    ("traffic light", 19, 6), ("traffic sign", 20, 7), ("vegetation", 21, 8), ("terrain", 22, 9),
    ("sky", 23, 10), ("person", 24, 11), ("rider", 25, 12), ("car", 26, 13), ("truck", 27, 14),
    ("bus", 28, 15), ("caravan", 29, 255), ("trailer", 30, 255), ("train", 31, 16),
    ("motorcycle", 32, 17), ("bicycle", 33, 18), ("license plate", -1, -1),
]
CLASS_NAMES = [name for name, _, train_id in sorted(LABELS, key=lambda l: l[2]) if 0 <= train_id < 255]


def _lut() -> np.ndarray:
    lut = np.full(256, 255, np.int64)
    for _, label_id, train_id in LABELS:
        if label_id >= 0:
            lut[label_id] = train_id if 0 <= train_id < 255 else 255
    return lut


LABEL_TO_TRAIN = _lut()
LAYOUT = "leftImg8bit/<split>/<city>/*_leftImg8bit.png and gtFine/<split>/<city>/*_gtFine_labelIds.png"


def cityscapes(root: str | Path, split: str, transform: TrainTransform | None = None,
               resize: tuple[int, int] | None = None) -> PairedFiles:
    """The Cityscapes ``split`` (train, val or test) under ``root``."""
    root = Path(root)
    images_dir = require_dir(root / "leftImg8bit" / split, "cityscapes", LAYOUT)
    labels_dir = require_dir(root / "gtFine" / split, "cityscapes", LAYOUT)

    def mask_for(image: Path) -> Path:
        stem = image.name[: -len("_leftImg8bit.png")]
        return labels_dir / image.parent.name / f"{stem}_gtFine_labelIds.png"

    images = list(images_dir.glob("*/*_leftImg8bit.png"))
    pairs = pair_files(images, mask_for, "cityscapes", images_dir)
    return PairedFiles("cityscapes", root, pairs, CLASS_NAMES, LABEL_TO_TRAIN, transform, resize)

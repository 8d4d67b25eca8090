"""CamVid in the SegNet layout: ``<split>/*.png`` with ``<split>annot/*.png`` of the same name;
11 classes, void (11) ignored.

>>> len(CLASS_NAMES)
11
"""
from __future__ import annotations

from pathlib import Path

from .files import IMAGE_EXTS, PairedFiles, identity_lut, pair_files, require_dir
from .transforms import TrainTransform

CLASS_NAMES = ["sky", "building", "pole", "road", "sidewalk", "tree", "sign_symbol", "fence", "car",
               "pedestrian", "bicyclist"]
VOID_ID = 11
LAYOUT = "train/, trainannot/, val/, valannot/, test/, testannot/ with matching file names"


def camvid(root: str | Path, split: str, transform: TrainTransform | None = None,
           resize: tuple[int, int] | None = None) -> PairedFiles:
    """The CamVid ``split`` (train, val or test) under ``root``."""
    root = Path(root)
    images_dir = require_dir(root / split, "camvid", LAYOUT)
    labels_dir = require_dir(root / f"{split}annot", "camvid", LAYOUT)
    images = [p for p in images_dir.iterdir() if p.suffix.lower() in IMAGE_EXTS]
    pairs = pair_files(images, lambda p: labels_dir / p.name, "camvid", images_dir)
    return PairedFiles("camvid", root, pairs, CLASS_NAMES, identity_lut(len(CLASS_NAMES), [VOID_ID]),
                       transform, resize)

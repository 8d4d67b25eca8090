"""A generic folder: ``images/<stem>.<ext>`` with ``masks/<stem>.png`` whose pixel values are
class indices (255 ignored); class names come from the config.

Split folders are optional: ``<root>/<split>/images`` is used when it exists, else ``<root>/images``.
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

from .files import IMAGE_EXTS, MASK_EXTS, PairedFiles, identity_lut, pair_files, require_dir
from .transforms import TrainTransform

LAYOUT = "images/<stem>.<ext> and masks/<stem>.png (optionally under <split>/)"


def folder(root: str | Path, split: str, classes: Sequence[str], transform: TrainTransform | None = None,
           resize: tuple[int, int] | None = None) -> PairedFiles:
    """Images and masks under ``root`` (or ``root/split``) with the given class names."""
    root = Path(root)
    base = root / split if (root / split / "images").is_dir() else root
    images_dir = require_dir(base / "images", "folder", LAYOUT)
    masks_dir = require_dir(base / "masks", "folder", LAYOUT)

    def mask_for(image: Path) -> Path | None:
        found = [masks_dir / f"{image.stem}{ext}" for ext in MASK_EXTS if (masks_dir / f"{image.stem}{ext}").is_file()]
        return found[0] if found else masks_dir / f"{image.stem}.png"

    images = [p for p in images_dir.iterdir() if p.suffix.lower() in IMAGE_EXTS]
    pairs = pair_files(images, mask_for, "folder", images_dir)
    return PairedFiles("folder", root, pairs, list(classes), identity_lut(len(classes)), transform, resize)

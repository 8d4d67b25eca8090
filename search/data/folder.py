"""A generic folder: ``images/<stem>.<ext>`` with ``masks/<stem>.png`` whose pixel values are
class indices (255 ignored); class names come from the config.

Two layouts:

* split folders, ``<root>/<split>/images`` and ``<root>/<split>/masks`` for each split
  (train, val, test); a run without a ``val`` folder sets ``data.val_from_train`` to hold out
  a share of the train split instead;
* one flat folder, ``<root>/images`` and ``<root>/masks``: on its own it is one set of
  images, whatever the split. A run needs disjoint splits, so it uses a flat folder only with
  ``split_fractions`` = [train, val, test] (``data.options={split_fractions: [0.8, 0.1, 0.1]}``),
  which cuts it by a hash of each file's stem: deterministic, the same on every machine,
  independent of the order files are listed in. :func:`check_run_layout` is that rule.

>>> split_of(["a", "b", "c", "d"], (0.5, 0.25, 0.25))
{'d': 'train', 'c': 'train', 'b': 'val', 'a': 'test'}
"""
from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Iterable, Sequence

from .base import DataError
from .files import IMAGE_EXTS, MASK_EXTS, PairedFiles, identity_lut, pair_files, require_dir
from .transforms import TrainTransform

LAYOUT = "<root>/<split>/images and <root>/<split>/masks (or <root>/images and <root>/masks with split_fractions)"
SPLITS = ("train", "val", "test")
FLAT_HELP = ("put each split in its own folder, <root>/<split>/images and <root>/<split>/masks (train, val, test; "
             "without a val folder set data.val_from_train to hold out a share of train), or keep <root>/images "
             "and split it deterministically with data.options={split_fractions: [0.8, 0.1, 0.1]}")


def split_of(stems: Iterable[str], fractions: Sequence[float]) -> dict[str, str]:
    """``{stem: split}``: stems ordered by a SHA-256 of the stem, cut at the cumulative ``fractions``."""
    ordered = sorted(stems, key=lambda s: hashlib.sha256(s.encode()).hexdigest())
    n, cuts, total = len(ordered), [], 0.0
    for f in fractions:
        total += f
        cuts.append(round(total * n))
    cuts[-1] = n
    out, start = {}, 0
    for split, end in zip(SPLITS, cuts):
        out.update({s: split for s in ordered[start:end]})
        start = end
    return out


def check_fractions(fractions: object) -> tuple[float, float, float]:
    """``split_fractions`` as three floats >= 0 summing to 1, else a :class:`DataError`."""
    ok = (isinstance(fractions, (list, tuple)) and len(fractions) == 3
          and all(isinstance(f, (int, float)) and not isinstance(f, bool) and 0 <= f <= 1 for f in fractions)
          and abs(sum(fractions) - 1) < 1e-6)
    if not ok:
        raise DataError(f"data.split_fractions = {fractions!r}: expected [train, val, test], three numbers "
                        f">= 0 summing to 1, e.g. [0.8, 0.1, 0.1]")
    return tuple(float(f) for f in fractions)


def _split_dir(root: Path, split: str, found: list[str]) -> Path:
    base = root / split
    if not (base / "images").is_dir():
        instead = {"val": "; set data.val_from_train (e.g. 0.1) to hold out a share of the train split instead",
                   "test": "; set data.test_split to a split that exists to measure on it"}.get(split, "")
        raise DataError(f"folder: no {split!r} split: {base / 'images'} not found (split folders found: "
                        f"{', '.join(found)}; layout <root>/<split>/images){instead}")
    return base


def folder(root: str | Path, split: str, classes: Sequence[str], transform: TrainTransform | None = None,
           resize: tuple[int, int] | None = None,
           split_fractions: Sequence[float] | None = None) -> PairedFiles:
    """Images and masks of ``split`` under ``root`` with the given class names (layouts: module docstring)."""
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"folder: data.root {root} is not a folder (expected layout: {LAYOUT})")
    found = [s for s in SPLITS if (root / s / "images").is_dir()]
    if split_fractions is not None:
        fractions = check_fractions(split_fractions)
        base = require_dir(root / "images", "folder", "split_fractions splits <root>/images and <root>/masks").parent
    elif found:
        base = _split_dir(root, split, found)
    else:
        base = require_dir(root / "images", "folder", LAYOUT).parent
    images_dir, masks_dir = base / "images", require_dir(base / "masks", "folder", LAYOUT)

    def mask_for(image: Path) -> Path | None:
        found = [masks_dir / f"{image.stem}{ext}" for ext in MASK_EXTS if (masks_dir / f"{image.stem}{ext}").is_file()]
        return found[0] if found else masks_dir / f"{image.stem}.png"

    images = [p for p in images_dir.iterdir() if p.suffix.lower() in IMAGE_EXTS]
    if split_fractions is not None:
        chosen = split_of({p.stem for p in images}, fractions)
        images = [p for p in images if chosen[p.stem] == split]
        if not images:
            raise DataError(f"folder: split_fractions {list(fractions)} leaves no images of {images_dir} "
                            f"for the {split!r} split")
    pairs = pair_files(images, mask_for, "folder", images_dir)
    return PairedFiles("folder", root, pairs, list(classes), identity_lut(len(classes)), transform, resize)


def check_run_layout(root: str | Path, splits: Iterable[str], split_fractions: object = None) -> None:
    """The folder under ``root`` can give a run disjoint ``splits`` (the split names the run reads).

    Split folders: each of ``splits`` must exist. A flat ``<root>/images``: only with
    ``split_fractions``, or when every split is the same one (a held-out share of train).
    A root that does not exist passes (the dataset itself reports it when it is read).
    """
    root = Path(root)
    if not root.is_dir() or split_fractions is not None:
        return
    found = [s for s in SPLITS if (root / s / "images").is_dir()]
    if found:
        for split in dict.fromkeys(splits):
            _split_dir(root, split, found)
    elif (root / "images").is_dir() and len(set(splits)) > 1:
        raise DataError(f"folder: {root} holds images/ and masks/ directly, not per split, so the "
                        f"{', '.join(dict.fromkeys(splits))} splits would all be the same images; {FLAT_HELP}")

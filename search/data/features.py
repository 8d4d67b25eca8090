"""Per-image spatial-complexity features, computed once per dataset and cached on disk.

Features (:data:`FEATURE_NAMES`), all from the untransformed full-resolution item:

* ``edge_density``: fraction of pixels whose (lightly blurred) luminance gradient exceeds 0.05.
* ``gradient_energy``: mean squared colour gradient.
* ``detail_loss_half``: mean absolute difference between the image and its 0.5x down/up-sampled copy.
* ``label_boundary_density``: fraction of labelled pixels with a 4-neighbour of another class.
* ``num_classes``: classes present, as a fraction of the dataset's classes.
* ``small_object_share``: fraction of labelled pixels in connected same-class segments smaller
  than 1/256 of the image.
* ``num_segments``: log(1 + number of connected same-class segments).
* ``label_detail_loss_half``: fraction of labelled pixels whose class changes when the label map is
  area-averaged to 0.5x (majority vote) and upsampled back (nearest).

The cache file ``<cache_dir>/features/<key>.npz`` is keyed by a hash of the dataset's content
(``dataset.cache_key()``: file names, sizes and mtimes, or the generator's parameters) and of
this module's feature version, so a stale cache is never used; it is written to a temporary
file and renamed. ``cache_dir`` defaults to ``dataset.feature_cache_dir`` (the ``cache_dir``
config key), then ``$COSEARCH_CACHE``, then ``<root>/.cosearch-cache`` beside a file dataset
when its root is writable, then ``~/.cache/cosearch``.

>>> from search.data import build_dataset
>>> import tempfile
>>> ds = build_dataset({"name": "synthetic", "size": 3, "image_size": [32, 64]})
>>> complexity_features(ds, cache_dir=tempfile.mkdtemp()).shape
torch.Size([3, 8])
"""
from __future__ import annotations

import os
import zipfile
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from scipy import ndimage
from torch import Tensor
from tqdm import tqdm

from supernet.files import atomic_write

from .base import SegDataset, digest

FEATURE_VERSION = 2
FEATURE_NAMES = ("edge_density", "gradient_energy", "detail_loss_half", "label_boundary_density",
                 "num_classes", "small_object_share", "num_segments", "label_detail_loss_half")


def _grad_sq(x: np.ndarray) -> np.ndarray:
    """Squared gradient magnitude per pixel of the last two axes (central differences,
    a unit step gives 0.5), edges replicated."""
    p = np.pad(x, [(0, 0)] * (x.ndim - 2) + [(1, 1), (1, 1)], mode="edge")
    gx = (p[..., 1:-1, 2:] - p[..., 1:-1, :-2]) / 2
    gy = (p[..., 2:, 1:-1] - p[..., :-2, 1:-1]) / 2
    return gx * gx + gy * gy


def image_features(image: Tensor, mask: Tensor, num_classes: int, ignore_index: int = 255) -> np.ndarray:
    """The :data:`FEATURE_NAMES` vector of one item (image 3xHxW in [0, 1], mask HxW)."""
    img = image.numpy().astype(np.float32)
    lab = mask.numpy()
    h, w = lab.shape
    lum = ndimage.gaussian_filter(img.mean(0), 0.7)
    edge_density = float((_grad_sq(lum) > 0.05 ** 2).mean())
    gradient_energy = float(_grad_sq(img).mean())
    half = F.interpolate(image[None], scale_factor=0.5, mode="bilinear", antialias=True, align_corners=False)
    back = F.interpolate(half, size=(h, w), mode="bilinear", align_corners=False)[0]
    detail_loss = float((back - image).abs().mean())

    valid = lab != ignore_index
    n_valid = max(int(valid.sum()), 1)
    diff_h = (lab[:, 1:] != lab[:, :-1]) & valid[:, 1:] & valid[:, :-1]
    diff_v = (lab[1:] != lab[:-1]) & valid[1:] & valid[:-1]
    boundary = np.zeros_like(valid)
    boundary[:, 1:] |= diff_h
    boundary[:, :-1] |= diff_h
    boundary[1:] |= diff_v
    boundary[:-1] |= diff_v
    classes = np.flatnonzero(np.bincount(lab[valid], minlength=num_classes))
    small, segments = 0, 0
    for c in classes:
        comp, n = ndimage.label(lab == c)
        sizes = np.bincount(comp.ravel())[1:]
        small += int(sizes[sizes < h * w / 256].sum())
        segments += n
    return np.array([edge_density, gradient_energy, detail_loss, boundary.sum() / n_valid,
                     len(classes) / num_classes, small / n_valid, np.log1p(segments),
                     _label_detail_loss(lab, valid, num_classes) / n_valid], np.float32)


def _label_detail_loss(lab: np.ndarray, valid: np.ndarray, num_classes: int) -> int:
    """Labelled pixels whose class a 0.5x label map (majority over 2x2 blocks) gets wrong."""
    h, w = lab.shape
    t = np.pad(np.where(valid, lab, num_classes), ((0, h % 2), (0, w % 2)), mode="edge")
    blocks = t.reshape(t.shape[0] // 2, 2, t.shape[1] // 2, 2).transpose(0, 2, 1, 3).reshape(-1, 4)
    votes = (blocks[:, :, None] == blocks[:, None, :]).sum(2) - (blocks == num_classes) * 4  # ignore never wins
    winner = blocks[np.arange(len(blocks)), votes.argmax(1)]
    back = np.repeat(np.repeat(winner.reshape(t.shape[0] // 2, t.shape[1] // 2), 2, 0), 2, 1)[:h, :w]
    return int(((back != lab) & valid).sum())


def cache_path(dataset: SegDataset, cache_dir: str | Path | None = None) -> Path:
    """Where :func:`complexity_features` keeps this dataset's features."""
    base = cache_dir or dataset.feature_cache_dir or os.environ.get("COSEARCH_CACHE")
    if not base and dataset.data_root is not None and os.access(dataset.data_root, os.W_OK):
        base = dataset.data_root / ".cosearch-cache"
    base = base or Path.home() / ".cache" / "cosearch"
    key = digest("features", FEATURE_VERSION, FEATURE_NAMES, dataset.cache_key())
    return Path(base) / "features" / f"{key}.npz"


def _read_cache(path: Path, n: int) -> Tensor | None:
    try:
        with np.load(path, allow_pickle=False) as z:
            feats, names = z["features"], tuple(str(s) for s in z["names"])
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):
        return None  # missing or damaged: recompute
    if names != FEATURE_NAMES or feats.shape != (n, len(FEATURE_NAMES)):
        return None
    return torch.from_numpy(feats)


def complexity_features(dataset: SegDataset, cache_dir: str | Path | None = None,
                        progress: bool = True) -> Tensor:
    """Features ``(N, len(FEATURE_NAMES))`` of every item, from the cache when it is current."""
    path = cache_path(dataset, cache_dir)
    cached = _read_cache(path, len(dataset))
    if cached is not None:
        return cached
    rows = [image_features(*dataset.load(i), dataset.num_classes, dataset.ignore_index)
            for i in tqdm(range(len(dataset)), desc="complexity features", unit="img",
                          disable=not progress or len(dataset) < 200)]
    feats = np.stack(rows).astype(np.float32)
    atomic_write(path, lambda tmp: np.savez(tmp, features=feats, names=np.array(FEATURE_NAMES)))
    return torch.from_numpy(feats)


def complexity_score(features: Tensor) -> Tensor:
    """One scalar per image: the mean of the z-scored features (higher = more complex).

    >>> complexity_score(torch.tensor([[0.0, 1.0], [1.0, 3.0]])).tolist()
    [-1.0, 1.0]
    """
    z = (features - features.mean(0)) / features.std(0, unbiased=False).clamp_min(1e-8)
    return z.mean(1)

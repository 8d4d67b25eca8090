"""Built-in synthetic segmentation scenes: deterministic from a seed, no download.

Every image draws a complexity level ``c`` in [0, 1]. ``c`` near 0 gives a few large
regions and at most a couple of large objects; ``c`` near 1 gives many small objects at
several scales and thin structures one or two pixels wide, which a 0.5x input can no longer
resolve. Each class has a colour and a stripe texture (period and orientation), with
per-object colour jitter, smooth shading and pixel noise, so a small CNN can learn it.
Image ``i`` of a split depends only on ``(seed, split, i)``: any size, nothing cached.

>>> ds = SyntheticScenes(size=4, image_size=(64, 128), num_classes=8, seed=0)
>>> image, mask = ds[0]
>>> tuple(image.shape), tuple(mask.shape), int(mask.max()) < 8
((3, 64, 128), (64, 128), True)
"""
from __future__ import annotations

import colorsys

import numpy as np
import torch
from torch import Tensor

from .base import SegDataset, digest
from .transforms import TrainTransform

GENERATOR_VERSION = 1
SPLIT_CODES = {"train": 0, "val": 1, "test": 2}


def class_appearance(num_classes: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-class colour (K, 3), stripe period in units of image height (K,) and stripe angle (K,)."""
    rng = np.random.default_rng([seed, 0xC0105])
    hues = (np.arange(num_classes) + rng.uniform(0, 0.3, num_classes)) / num_classes
    sat = np.where(np.arange(num_classes) % 2 == 0, 0.85, 0.5)
    val = np.where(np.arange(num_classes) % 3 == 0, 0.55, 0.85)
    colours = np.array([colorsys.hsv_to_rgb(h, s, v) for h, s, v in zip(hues, sat, val)], np.float32)
    period = rng.uniform(4.0, 12.0, num_classes) / 128.0
    angle = rng.uniform(0, np.pi, num_classes)
    return colours, period.astype(np.float32), angle.astype(np.float32)


def _local_coords(yy: np.ndarray, xx: np.ndarray, cy: float, cx: float, theta: float):
    dy, dx = yy - cy, xx - cx
    c, s = np.cos(theta), np.sin(theta)
    return dx * c + dy * s, -dx * s + dy * c


def render_scene(rng: np.random.Generator, height: int, width: int, num_classes: int,
                 appearance: tuple[np.ndarray, np.ndarray, np.ndarray]) -> tuple[np.ndarray, np.ndarray, float]:
    """One scene: image (H, W, 3) float32 in [0, 1], labels (H, W) int64, complexity level."""
    level = float(rng.uniform())
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    inst = np.zeros((height, width), np.int64)  # instance id; inst_class maps it to a class

    # 1. a few large regions: a Voronoi partition of warped coordinates (wavy boundaries)
    n_regions = 2 + int(level * 4 + rng.uniform())
    amp = (rng.uniform(0.03, 0.12, 2) * height).astype(np.float32)
    freq = (2 * np.pi * rng.uniform(0.5, 2.0, 2) / height).astype(np.float32)
    phase = rng.uniform(0, 2 * np.pi, 2).astype(np.float32)
    wy = yy + amp[0] * np.sin(freq[0] * xx[:1] + phase[0])  # (1, W): a function of x only
    wx = xx + amp[1] * np.sin(freq[1] * yy[:, :1] + phase[1])  # (H, 1): a function of y only
    seeds = (rng.uniform(0, 1, (n_regions, 2)) * np.array([height, width])).astype(np.float32)
    dist = (wy[None] - seeds[:, 0, None, None]) ** 2 + (wx[None] - seeds[:, 1, None, None]) ** 2
    inst[:] = dist.argmin(0)
    inst_class = list(rng.integers(0, num_classes, n_regions))

    # 2. objects (ellipses and rotated rectangles) at several scales; more and smaller with level
    n_objects = int(rng.poisson(1.0 + 70.0 * level ** 2))
    r_max = (0.35 - 0.27 * level) * height
    r_min = min(0.015 * height, r_max)
    for _ in range(n_objects):
        r = float(np.exp(rng.uniform(np.log(max(r_min, 0.6)), np.log(max(r_max, 0.7)))))
        aspect = float(np.exp(rng.uniform(-0.7, 0.7)))
        a, b = r * aspect, r / aspect
        cy, cx = rng.uniform(0, height), rng.uniform(0, width)
        theta, rect = rng.uniform(0, np.pi), rng.uniform() < 0.4
        ext = int(np.ceil(max(a, b))) + 1
        y0, y1 = max(0, int(cy) - ext), min(height, int(cy) + ext + 1)
        x0, x1 = max(0, int(cx) - ext), min(width, int(cx) + ext + 1)
        if y0 >= y1 or x0 >= x1:
            continue
        u, v = _local_coords(yy[y0:y1, x0:x1], xx[y0:y1, x0:x1], cy, cx, theta)
        inside = np.maximum(abs(u) / a, abs(v) / b) <= 1 if rect else (u / a) ** 2 + (v / b) ** 2 <= 1
        inst[y0:y1, x0:x1][inside] = len(inst_class)
        inst_class.append(rng.integers(0, num_classes))

    # 3. thin structures (poles, wires): segments 1-2 px wide at 128 px height
    n_lines = int(rng.poisson(30.0 * level ** 1.5))
    half_width = max(0.5, height / 128.0 * 0.75)
    for _ in range(n_lines):
        length = rng.uniform(0.1, 0.8) * height
        angle = np.pi / 2 + rng.normal(0, 0.15) if rng.uniform() < 0.5 else rng.uniform(0, np.pi)
        ay, ax = rng.uniform(0, height), rng.uniform(0, width)
        dy, dx = length * np.sin(angle), length * np.cos(angle)
        hw = half_width * rng.uniform(0.8, 1.5)
        y0, y1 = max(0, int(min(ay, ay + dy) - hw)), min(height, int(max(ay, ay + dy) + hw) + 1)
        x0, x1 = max(0, int(min(ax, ax + dx) - hw)), min(width, int(max(ax, ax + dx) + hw) + 1)
        if y0 >= y1 or x0 >= x1:
            continue
        py, px = yy[y0:y1, x0:x1] - ay, xx[y0:y1, x0:x1] - ax
        t = np.clip((py * dy + px * dx) / (dy * dy + dx * dx), 0, 1)
        inside = (py - t * dy) ** 2 + (px - t * dx) ** 2 <= hw * hw
        inst[y0:y1, x0:x1][inside] = len(inst_class)
        inst_class.append(rng.integers(0, num_classes))

    # appearance: class colour + per-instance jitter + class stripe texture, shading, noise
    colours, period, angle = appearance
    cls = np.asarray(inst_class, np.int64)
    label = cls[inst]
    inst_colour = colours[cls] + rng.uniform(-0.06, 0.06, (len(cls), 3)).astype(np.float32)
    image = inst_colour[inst]
    kx = (2 * np.pi * np.cos(angle) / (period * height)).astype(np.float32)[cls][inst]
    ky = (2 * np.pi * np.sin(angle) / (period * height)).astype(np.float32)[cls][inst]
    image += 0.07 * np.sin(xx * kx + yy * ky + np.float32(rng.uniform(0, 2 * np.pi)))[..., None]
    shade = 1.0 + 0.12 * np.sin(2 * np.pi * (xx[0] / width * rng.uniform(0.3, 1.0) + rng.uniform()))
    image *= (shade * rng.uniform(0.85, 1.15)).astype(np.float32)[None, :, None]
    image += 0.14 * (rng.random(image.shape, dtype=np.float32) - 0.5)  # uniform noise, std 0.04
    return np.clip(image, 0, 1, out=image), label, level


class SyntheticScenes(SegDataset):
    """``size`` scenes of ``image_size`` = (H, W) with ``num_classes`` classes, from ``seed``."""

    def __init__(self, size: int = 256, image_size: tuple[int, int] = (128, 256), num_classes: int = 8,
                 seed: int = 0, split: str = "train", transform: TrainTransform | None = None) -> None:
        super().__init__([f"class{k}" for k in range(num_classes)], transform)
        self.size, self.image_size, self.seed, self.split = int(size), tuple(image_size), int(seed), split
        self._appearance = class_appearance(num_classes, seed)

    def __len__(self) -> int:
        return self.size

    def _rng(self, index: int) -> np.random.Generator:
        return np.random.default_rng([self.seed, SPLIT_CODES[self.split], index])

    def load(self, index: int) -> tuple[Tensor, Tensor]:
        image, label, _ = render_scene(self._rng(index), *self.image_size, self.num_classes, self._appearance)
        return torch.from_numpy(image).permute(2, 0, 1).contiguous(), torch.from_numpy(label)

    def level(self, index: int) -> float:
        """The generator's complexity level of scene ``index`` (ground truth, in [0, 1])."""
        return float(self._rng(index).uniform())  # render_scene's first draw

    def cache_key(self) -> str:
        return digest("synthetic", GENERATOR_VERSION, self.size, self.image_size, self.num_classes,
                      self.seed, self.split)

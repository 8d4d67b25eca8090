"""Built-in synthetic shapes: the class is carried by shape alone, never by colour or texture.

Class 0 is a textured background; class ``k >= 1`` is one kind of shape (:data:`SHAPES`: disc,
ring, cross, triangle, square, letter-like stroke, star, ...). Every region, background
included, draws its colour (HSV, independent of class) and its stripe texture (period, angle)
from one shared distribution, so colour and texture say nothing about the class: a network
has to see the form. As in :mod:`~search.data.synthetic`, every image draws a complexity level
``c`` in [0, 1] (:meth:`SyntheticShapes.level`): ``c`` near 0 gives one or two large objects
on one background region; ``c`` near 1 gives about ten smaller objects (radius 15 % of the
height and up) on up to three background regions. Objects overlap (later ones on top). Image
``i`` of a split depends only on ``(seed, split, i)``: any size, nothing cached.

Version 1 of the generator (dozens of objects a few pixels across, thin strokes) was beyond
every network at the benchmark's budget: all of them predicted background only
(``experiments/results/shapes_vs_synthetic.md``).

>>> ds = SyntheticShapes(size=4, image_size=(64, 128), num_classes=8, seed=0)
>>> image, mask = ds[0]
>>> tuple(image.shape), tuple(mask.shape), ds.class_names[:3]
((3, 64, 128), (64, 128), ['background', 'disc', 'ring'])
"""
from __future__ import annotations

import colorsys

import numpy as np
import torch
from PIL import Image, ImageDraw
from torch import Tensor

from .base import DataError, digest
from .synthetic import SPLIT_CODES, SyntheticScenes
from .transforms import TrainTransform

GENERATOR_VERSION = 2  # 2: larger, fewer objects and the most distinct shapes first (learnable in the benchmark budget)
STREAM = 0x5A4E5  # keeps these images' random streams apart from ``synthetic``'s at the same seed


def _star(points: int, inner: float) -> np.ndarray:
    t = np.pi * np.arange(2 * points) / points - np.pi / 2
    r = np.where(np.arange(2 * points) % 2 == 0, 1.0, inner)
    return np.stack([r * np.cos(t), r * np.sin(t)], 1)


def _regular(corners: int) -> np.ndarray:
    return _star(corners, 1.0)[::2]


# Unit-size outlines, (x, y) vertices within [-1, 1]^2. "fill" shapes are filled polygons,
# "outline" ones are drawn as a band ``width`` x the radius wide, "stroke" ones as thin polylines.
_CROSS = np.array([(-1, -.3), (-.3, -.3), (-.3, -1), (.3, -1), (.3, -.3), (1, -.3),
                   (1, .3), (.3, .3), (.3, 1), (-.3, 1), (-.3, .3), (-1, .3)], float)
_STROKES = [np.array(p, float) for p in (
    [(-1, -1), (1, -1), (-1, 1), (1, 1)],                       # Z
    [(-1, 1), (-1, -1), (1, 1), (1, -1)],                       # N
    [(-1, -1), (-.5, 1), (0, -.3), (.5, 1), (1, -1)],           # W
    [(1, -1), (-1, -.4), (1, .4), (-1, 1)],                     # S-like zigzag
)]
# In order of how distinct they are (``num_classes`` takes the first ``num_classes - 1``): filled
# round, hollow round, right-angled arms, three sharp corners, four right corners, ...
SHAPES: dict[str, tuple[str, list[np.ndarray]]] = {
    "disc": ("fill", [_regular(24)]),
    "ring": ("outline", [_regular(24)]),
    "cross": ("fill", [_CROSS]),
    "triangle": ("fill", [_regular(3)]),
    "square": ("fill", [_regular(4)]),
    "stroke": ("stroke", _STROKES),
    "star": ("fill", [_star(5, 0.42)]),
    "frame": ("outline", [_regular(4)]),
    "chevron": ("fill", [np.array([(-1, -1), (0, .1), (1, -1), (1, -.3), (0, .9), (-1, -.3)], float)]),
    "tee": ("fill", [np.array([(-1, -1), (1, -1), (1, -.45), (.25, -.45), (.25, 1), (-.25, 1),
                               (-.25, -.45), (-1, -.45)], float)]),
    "ell": ("fill", [np.array([(-1, -1), (-.45, -1), (-.45, .45), (1, .45), (1, 1), (-1, 1)], float)]),
    "hexagon": ("fill", [_regular(6)]),
}
MAX_CLASSES = len(SHAPES) + 1


def _colours(rng: np.random.Generator, n: int) -> np.ndarray:
    """``n`` colours (n, 3) from the one distribution every class shares."""
    hsv = rng.uniform((0.0, 0.2, 0.3), (1.0, 0.9, 0.95), (n, 3))
    return np.array([colorsys.hsv_to_rgb(*c) for c in hsv], np.float32).reshape(n, 3)


def render_shapes(rng: np.random.Generator, height: int, width: int,
                  num_classes: int) -> tuple[np.ndarray, np.ndarray, float]:
    """One image: image (H, W, 3) float32 in [0, 1], labels (H, W) int64, complexity level."""
    level = float(rng.uniform())  # first draw: SyntheticScenes.level reads it back
    kinds = list(SHAPES.values())[:num_classes - 1]
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)

    # 1. background (class 0): a Voronoi partition into a few differently textured regions
    n_regions = 1 + int(level * 1.5 + rng.uniform())
    seeds = (rng.uniform(0, 1, (n_regions, 2)) * np.array([height, width])).astype(np.float32)
    dist = (yy[None] - seeds[:, 0, None, None]) ** 2 + (xx[None] - seeds[:, 1, None, None]) ** 2
    canvas = Image.fromarray(dist.argmin(0).astype(np.int32), "I")
    draw = ImageDraw.Draw(canvas)
    inst_class = [0] * n_regions

    # 2. shapes at several scales, more and smaller with level; each one on top of earlier ones
    n_objects = 1 + int(rng.poisson(0.5 + 8.0 * level ** 2))
    r_max = (0.45 - 0.25 * level) * height
    r_min = max(0.15 * height, 0.5 * r_max)  # 10-29 px radius at 64 px height: a shape the network can see
    thin = max(1, round(height / 128 * 1.5))  # strokes 1-2 px wide at 128 px height
    for _ in range(n_objects):
        k = int(rng.integers(1, num_classes))
        style, templates = kinds[k - 1]
        pts = templates[int(rng.integers(len(templates)))]
        r = float(np.exp(rng.uniform(np.log(max(r_min, 1.0)), np.log(max(r_max, 1.5)))))
        aspect = float(np.exp(rng.uniform(-0.3, 0.3)))
        theta = rng.uniform(0, 2 * np.pi)
        margin = 0.6 * min(r, height / 2)  # mostly inside the frame
        cy, cx = rng.uniform(margin, height - margin), rng.uniform(margin, width - margin)
        c, s = np.cos(theta), np.sin(theta)
        u, v = pts[:, 0] * r * aspect, pts[:, 1] * r / aspect
        xy = np.stack([cx + u * c - v * s, cy + u * s + v * c], 1).ravel().tolist()
        ident = len(inst_class)
        if style == "fill":
            draw.polygon(xy, fill=ident)
        elif style == "outline":
            draw.polygon(xy, outline=ident, width=max(1, round(r * rng.uniform(0.2, 0.4))))
        else:
            draw.line(xy, fill=ident, width=max(thin, round(r * 0.12)), joint="curve")
        inst_class.append(k)

    # appearance: per-region colour and stripes from one shared distribution, shading, noise
    inst = np.asarray(canvas, np.int64)
    n = len(inst_class)
    label = np.asarray(inst_class, np.int64)[inst]
    image = _colours(rng, n)[inst]
    period = rng.uniform(4.0, 12.0, n) / 128.0 * height
    angle = rng.uniform(0, np.pi, n)
    kx = (2 * np.pi * np.cos(angle) / period).astype(np.float32)[inst]
    ky = (2 * np.pi * np.sin(angle) / period).astype(np.float32)[inst]
    phase = rng.uniform(0, 2 * np.pi, n).astype(np.float32)[inst]
    image += 0.03 * np.sin(xx * kx + yy * ky + phase)[..., None]
    shade = 1.0 + 0.12 * np.sin(2 * np.pi * (xx[0] / width * rng.uniform(0.3, 1.0) + rng.uniform()))
    image *= (shade * rng.uniform(0.85, 1.15)).astype(np.float32)[None, :, None]
    image += 0.08 * (rng.random(image.shape, dtype=np.float32) - 0.5)  # uniform noise, std 0.023
    return np.clip(image, 0, 1, out=image), label, level


class SyntheticShapes(SyntheticScenes):
    """``size`` images of ``image_size`` = (H, W): background and ``num_classes - 1`` shape kinds
    (at most ``MAX_CLASSES`` in all), from ``seed``. ``level(i)`` is image ``i``'s complexity level."""

    def __init__(self, size: int = 256, image_size: tuple[int, int] = (128, 256), num_classes: int = 8,
                 seed: int = 0, split: str = "train", transform: TrainTransform | None = None) -> None:
        if not 2 <= num_classes <= MAX_CLASSES:
            raise DataError(f"data.num_classes = {num_classes!r}: synthetic_shapes has a background and "
                            f"{len(SHAPES)} shape kinds, so expected 2 to {MAX_CLASSES}")
        super().__init__(size, image_size, num_classes, seed, split, transform)
        self.class_names = ["background", *list(SHAPES)[:num_classes - 1]]

    def _rng(self, index: int) -> np.random.Generator:
        return np.random.default_rng([self.seed, SPLIT_CODES[self.split], index, STREAM])

    def load(self, index: int) -> tuple[Tensor, Tensor]:
        image, label, _ = render_shapes(self._rng(index), *self.image_size, self.num_classes)
        return torch.from_numpy(image).permute(2, 0, 1).contiguous(), torch.from_numpy(label)

    def cache_key(self) -> str:
        return digest("synthetic_shapes", GENERATOR_VERSION, self.size, self.image_size, self.num_classes,
                      self.seed, self.split)

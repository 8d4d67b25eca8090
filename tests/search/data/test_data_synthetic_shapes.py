"""Synthetic shapes: determinism, options, classes that colour cannot tell apart, complexity spread."""
import doctest

import numpy as np
import pytest
import torch
from scipy.stats import spearmanr

import search.data.synthetic_shapes as synthetic_shapes
from search.data import (DataError, SyntheticScenes, SyntheticShapes, build_dataset, complexity_features,
                         complexity_score)


def test_deterministic_from_seed_and_split():
    a = SyntheticShapes(size=3, image_size=(32, 64), seed=1)
    b = SyntheticShapes(size=50, image_size=(32, 64), seed=1)
    assert torch.equal(a[2][0], b[2][0]) and torch.equal(a[2][1], b[2][1])  # independent of size
    c = SyntheticShapes(size=3, image_size=(32, 64), seed=2)
    v = SyntheticShapes(size=3, image_size=(32, 64), seed=1, split="val")
    assert not torch.equal(a[2][0], c[2][0]) and not torch.equal(a[2][1], c[2][1])
    assert not torch.equal(a[2][1], v[2][1])
    assert len({a.cache_key(), b.cache_key(), c.cache_key(), v.cache_key()}) == 4
    assert a.cache_key() != SyntheticScenes(size=3, image_size=(32, 64), seed=1).cache_key()


def test_options_and_item_types():
    ds = build_dataset({"name": "synthetic_shapes", "size": 32, "image_size": [40, 72], "num_classes": 5,
                        "seed": 4, "split": "test"})
    assert isinstance(ds, SyntheticShapes) and ds.transform is None and len(ds) == 32
    assert ds.class_names == ["background", "disc", "ring", "cross", "triangle"]
    image, mask = ds[31]
    assert image.shape == (3, 40, 72) and image.dtype == torch.float32
    assert mask.shape == (40, 72) and mask.dtype == torch.long
    assert 0 <= float(image.min()) and float(image.max()) <= 1
    seen = torch.cat([ds[i][1].unique() for i in range(len(ds))]).unique().tolist()
    assert seen == [0, 1, 2, 3, 4]  # every class appears, nothing else
    train = build_dataset({"name": "synthetic_shapes", "size": 2, "image_size": [32, 64], "crop": [16, 16]})
    assert train.transform is not None and train[1][1].shape == (16, 16)
    assert build_dataset({"name": "synthetic_shapes", "size": 1, "num_classes": 13}).num_classes == 13


@pytest.mark.parametrize("config, message", [
    ({"num_classes": 14}, "num_classes = 14"),
    ({"num_classes": 1}, "num_classes = 1"),
    ({"root": "/data"}, "unknown data config key 'root'"),
])
def test_bad_options_are_clear_errors(config, message):
    with pytest.raises(DataError, match=message):
        build_dataset({"name": "synthetic_shapes", **config})
    with pytest.raises(DataError, match="2 to 13"):
        SyntheticShapes(num_classes=20)


def colour_separation(ds) -> float:
    """Largest distance between two classes' mean pixel colours over the whole dataset, in units
    of the smallest within-class spread (RMS distance of a class's pixels to its mean colour)."""
    k = ds.num_classes
    total, squares = torch.zeros(k, 3, dtype=torch.float64), torch.zeros(k, 3, dtype=torch.float64)
    count = torch.zeros(k, dtype=torch.float64)
    for i in range(len(ds)):
        image, mask = ds.load(i)
        pixels, labels = image.double().reshape(3, -1), mask.reshape(-1)
        count += torch.bincount(labels, minlength=k)
        for c in range(3):
            total[:, c] += torch.bincount(labels, pixels[c], minlength=k)
            squares[:, c] += torch.bincount(labels, pixels[c] ** 2, minlength=k)
    mean = total / count[:, None]
    spread = (squares / count[:, None] - mean ** 2).clamp_min(0).sum(1).sqrt()
    return float(torch.cdist(mean, mean).max() / spread.min())


def test_classes_not_separable_by_colour():
    shapes = colour_separation(SyntheticShapes(size=160, image_size=(32, 64), seed=0))
    scenes = colour_separation(SyntheticScenes(size=64, image_size=(32, 64), seed=0))
    assert shapes < 0.5  # measured 0.35 (seeds 0-2: 0.35-0.38); the class means only differ by sampling noise
    assert scenes > 2.0  # the same statistic on colour-coded classes: measured 7.1


def boundary_density(mask: torch.Tensor) -> float:
    return float(((mask[:, 1:] != mask[:, :-1]).float().mean() + (mask[1:] != mask[:-1]).float().mean()) / 2)


def test_complexity_varies_widely_and_follows_level(tmp_path):
    ds = build_dataset({"name": "synthetic_shapes", "size": 64, "image_size": [32, 64], "seed": 0,
                        "cache_dir": str(tmp_path)})
    levels = np.array([ds.level(i) for i in range(len(ds))])
    score = complexity_score(complexity_features(ds, progress=False)).numpy()
    assert spearmanr(levels, score).statistic >= 0.5  # measured 0.73
    density = np.array([boundary_density(ds[i][1]) for i in range(len(ds))])
    assert np.median(density[levels > 0.75]) > 3 * np.median(density[levels < 0.25])  # measured 3.4x


def test_level_is_the_generators_first_draw():
    ds = SyntheticShapes(size=3, image_size=(32, 64), seed=3)
    rng = ds._rng(2)
    assert synthetic_shapes.render_shapes(rng, 32, 64, 8)[2] == ds.level(2)


def test_docstring_examples():
    assert doctest.testmod(synthetic_shapes).failed == 0

"""Synthetic scenes: determinism, options, and complexity that varies widely."""
import numpy as np
import torch

from search.data import SyntheticScenes, build_dataset


def test_deterministic_from_seed_and_split():
    a = SyntheticScenes(size=3, image_size=(32, 64), seed=1)
    b = SyntheticScenes(size=50, image_size=(32, 64), seed=1)
    assert torch.equal(a[2][0], b[2][0]) and torch.equal(a[2][1], b[2][1])  # independent of size
    c = SyntheticScenes(size=3, image_size=(32, 64), seed=2)
    v = SyntheticScenes(size=3, image_size=(32, 64), seed=1, split="val")
    assert not torch.equal(a[2][1], c[2][1]) and not torch.equal(a[2][1], v[2][1])
    assert a.cache_key() != c.cache_key() != v.cache_key() and a.cache_key() != b.cache_key()


def test_options_and_item_types():
    ds = build_dataset({"name": "synthetic", "size": 5, "image_size": [40, 72], "num_classes": 3, "seed": 4,
                        "split": "test"})
    image, mask = ds[4]
    assert image.shape == (3, 40, 72) and image.dtype == torch.float32
    assert mask.shape == (40, 72) and mask.dtype == torch.long
    assert 0 <= float(image.min()) and float(image.max()) <= 1
    assert set(mask.unique().tolist()) <= {0, 1, 2} and ds.class_names == ["class0", "class1", "class2"]


def boundary_density(mask: torch.Tensor) -> float:
    return float(((mask[:, 1:] != mask[:, :-1]).float().mean() + (mask[1:] != mask[:-1]).float().mean()) / 2)


def test_complexity_varies_widely_and_follows_level():
    ds = SyntheticScenes(size=80, image_size=(64, 128), seed=0)
    levels = np.array([ds.level(i) for i in range(len(ds))])
    density = np.array([boundary_density(ds[i][1]) for i in range(len(ds))])
    simple, complex_ = density[levels < 0.25], density[levels > 0.75]
    assert len(simple) >= 5 and len(complex_) >= 5
    assert np.median(complex_) > 4 * np.median(simple)
    segs = [len(ds[i][1].unique()) for i in np.flatnonzero(levels > 0.75)]
    assert np.mean(segs) >= 6  # many classes in complex scenes


def test_classes_distinguishable_by_colour():
    ds = SyntheticScenes(size=20, image_size=(64, 128), seed=0)
    means = torch.zeros(8, 3)
    counts = torch.zeros(8)
    for i in range(len(ds)):
        image, mask = ds[i]
        for k in mask.unique():
            sel = mask == k
            means[k] += image[:, sel].sum(1)
            counts[k] += sel.sum()
    means /= counts[:, None]
    dist = torch.cdist(means, means) + torch.eye(8) * 10
    assert float(dist.min()) > 0.1

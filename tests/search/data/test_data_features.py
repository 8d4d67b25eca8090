"""Complexity features: values, cache reuse, invalidation, atomic writes."""
import os
import time

import numpy as np
import pytest
import torch
from PIL import Image
from scipy.stats import spearmanr

import search.data.features as features
from search.data import FEATURE_NAMES, SyntheticScenes, build_dataset, complexity_features, complexity_score


@pytest.fixture
def counter(monkeypatch):
    calls = {"n": 0}
    real = features.image_features

    def counting(*args, **kwargs):
        calls["n"] += 1
        return real(*args, **kwargs)

    monkeypatch.setattr(features, "image_features", counting)
    return calls


def test_feature_values_on_hand_made_images():
    flat = torch.full((3, 16, 16), 0.5)
    blank = features.image_features(flat, torch.zeros(16, 16, dtype=torch.long), num_classes=4)
    assert blank.shape == (len(FEATURE_NAMES),)
    named = dict(zip(FEATURE_NAMES, blank.tolist()))
    assert named["edge_density"] == 0 and named["label_boundary_density"] == 0
    assert named["num_classes"] == 0.25 and named["num_segments"] == pytest.approx(np.log(2))
    checker = (torch.arange(64)[:, None] // 3 + torch.arange(64)[None] // 3) % 2
    busy = dict(zip(FEATURE_NAMES, features.image_features(checker.float().expand(3, 64, 64), checker, 4).tolist()))
    assert busy["edge_density"] > 0.5 and busy["label_boundary_density"] > 0.5 and busy["small_object_share"] == 1
    assert busy["label_detail_loss_half"] > 0.2 and busy["detail_loss_half"] > 0.1
    ignored = features.image_features(flat, torch.full((16, 16), 255), num_classes=4)
    assert np.isfinite(ignored).all() and ignored[FEATURE_NAMES.index("num_classes")] == 0


def test_score_ranks_synthetic_complexity(tmp_path):
    ds = SyntheticScenes(size=60, image_size=(48, 96), seed=0)
    score = complexity_score(complexity_features(ds, cache_dir=tmp_path))
    rho = spearmanr(score.numpy(), [ds.level(i) for i in range(len(ds))])[0]
    assert rho > 0.8


def test_cache_reused_then_invalidated_synthetic(tmp_path, counter):
    cfg = {"name": "synthetic", "size": 6, "image_size": [32, 64], "cache_dir": str(tmp_path)}
    first = complexity_features(build_dataset(cfg))
    assert counter["n"] == 6 and first.shape == (6, len(FEATURE_NAMES))
    again = complexity_features(build_dataset(cfg))
    assert counter["n"] == 6 and torch.equal(first, again)
    other = complexity_features(build_dataset({**cfg, "seed": 1}))
    assert counter["n"] == 12 and not torch.equal(first, other)
    assert len(list((tmp_path / "features").glob("*.npz"))) == 2
    assert not list((tmp_path / "features").glob(".tmp-*"))  # nothing half-written left behind


def test_cache_beside_folder_data_invalidated_by_change(tmp_path, counter):
    (tmp_path / "images").mkdir()
    (tmp_path / "masks").mkdir()
    rng = np.random.default_rng(0)
    for k in range(3):
        Image.fromarray(rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)).save(tmp_path / f"images/{k}.png")
        Image.fromarray(np.zeros((8, 8), np.uint8)).save(tmp_path / f"masks/{k}.png")
    cfg = {"name": "folder", "root": str(tmp_path), "classes": ["a", "b"], "split": "val"}
    before = complexity_features(build_dataset(cfg))
    assert list((tmp_path / ".cosearch-cache" / "features").glob("*.npz"))
    complexity_features(build_dataset(cfg))
    assert counter["n"] == 3
    time.sleep(0.01)
    mask = np.zeros((8, 8), np.uint8)
    mask[:, 4:] = 1
    Image.fromarray(mask).save(tmp_path / "masks/1.png")
    after = complexity_features(build_dataset(cfg))
    assert counter["n"] == 6
    assert after[1, FEATURE_NAMES.index("num_classes")] == 1.0 and before[1, FEATURE_NAMES.index("num_classes")] == 0.5


def test_damaged_cache_is_recomputed(tmp_path, counter):
    ds = build_dataset({"name": "synthetic", "size": 2, "image_size": [16, 32]})
    good = complexity_features(ds, cache_dir=tmp_path)
    path = features.cache_path(ds, tmp_path)
    path.write_bytes(path.read_bytes()[:20])
    assert torch.equal(complexity_features(ds, cache_dir=tmp_path), good) and counter["n"] == 4
    assert os.path.getsize(path) > 20


def test_cache_dir_from_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("COSEARCH_CACHE", str(tmp_path))
    ds = build_dataset({"name": "synthetic", "size": 1, "image_size": [16, 32]})
    assert features.cache_path(ds).parent == tmp_path / "features"

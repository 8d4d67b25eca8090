"""search/splits.py: config to build_dataset dicts, in-memory caching, features."""
import pytest
import torch

from search.config import load_config
from search.data.splits import InMemory, build_split, dataset_config, load_splits
from search.errors import UserError


def test_dataset_config_per_split_and_dataset():
    data = load_config(None, ["data.crop=[16, 16]", "data.options={scale_range: [0.75, 1.25]}"]).data
    train, val = dataset_config(data, "train"), dataset_config(data, "val")
    assert train["augment"] and train["crop"] == [16, 16] and train["size"] == data.num_train
    assert not val["augment"] and "crop" not in val and val["size"] == data.num_val
    assert train["scale_range"] == [0.75, 1.25]
    city = dataset_config(load_config(None, ["data.name=cityscapes", "data.root=/data/cs",
                                             "data.test_split=val"]).data, "test")
    assert city == {"name": "cityscapes", "split": "val", "seed": 0, "cache_dir": None, "augment": False,
                    "root": "/data/cs"}


def test_in_memory_loads_once_and_still_augments(tmp_path):
    data = load_config(None, ["data.num_train=4", "data.image_size=[16, 32]", f"data.cache_dir={tmp_path}"]).data
    base = build_split(data, "train")
    calls = []
    original = base.load
    base.load = lambda i: calls.append(i) or original(i)
    mem = InMemory(base)
    a = mem[1]
    mem.set_epoch(1)
    b = mem[1]
    assert calls == [1] and a[0].shape == b[0].shape and not torch.equal(a[0], b[0])
    assert torch.equal(mem.load(1)[0], original(1)[0])
    assert mem.num_classes == base.num_classes


def test_load_splits_with_features(tmp_path):
    data = load_config(None, ["data.num_train=6", "data.num_val=3", "data.num_test=2", "data.image_size=[16, 32]",
                              f"data.cache_dir={tmp_path}", "data.in_memory=true"]).data
    splits = load_splits(data)
    assert (len(splits.train), len(splits.val), len(splits.test)) == (6, 3, 2)
    assert splits.features["train"].shape[0] == 6 and splits.features["val"].shape[0] == 3
    assert splits.image_size == (16, 32) and splits.test_size == (16, 32) and splits.num_classes == 8


def test_bad_dataset_is_a_user_error(tmp_path):
    data = load_config(None, ["data.name=camvid", f"data.root={tmp_path / 'none'}"]).data
    with pytest.raises(UserError):
        build_split(data, "train")


def test_val_held_out_from_the_train_split(tmp_path):
    data = load_config(None, ["data.num_train=10", "data.image_size=[16, 32]", f"data.cache_dir={tmp_path}",
                              "data.val_from_train=0.3"]).data
    assert dataset_config(data, "val")["split"] == "train" and not dataset_config(data, "val")["augment"]
    splits = load_splits(data)
    assert (len(splits.train), len(splits.val)) == (7, 3)
    assert set(splits.train.indices).isdisjoint(splits.val.indices)
    assert splits.features["train"].shape[0] == 7 and splits.features["val"].shape[0] == 3
    full = load_splits(load_config(None, ["data.num_train=10", "data.image_size=[16, 32]",
                                          f"data.cache_dir={tmp_path}"]).data)
    assert torch.equal(splits.val.load(0)[0], full.train.load(splits.val.indices[0])[0])
    assert torch.equal(splits.features["val"][0], full.features["train"][splits.val.indices[0]])

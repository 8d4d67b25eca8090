"""Dataset readers on small fixtures in the real layouts, config checking, bad-data errors."""
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from search.data import DataError, build_dataset

# The official Cityscapes table (cityscapesScripts helpers/labels.py), id -> trainId,
# written out independently of search/data/cityscapes.py. trainId 255 / -1 = ignored.
OFFICIAL = {0: 255, 1: 255, 2: 255, 3: 255, 4: 255, 5: 255, 6: 255, 7: 0, 8: 1, 9: 255, 10: 255,
            11: 2, 12: 3, 13: 4, 14: 255, 15: 255, 16: 255, 17: 5, 18: 255, 19: 6, 20: 7, 21: 8,
            22: 9, 23: 10, 24: 11, 25: 12, 26: 13, 27: 14, 28: 15, 29: 255, 30: 255, 31: 16,
            32: 17, 33: 18}


def write_rgb(path: Path, h: int, w: int, seed: int = 0) -> np.ndarray:
    path.parent.mkdir(parents=True, exist_ok=True)
    arr = np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)
    Image.fromarray(arr).save(path)
    return arr


def write_mask(path: Path, arr: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(arr.astype(np.uint8), mode="L").save(path)


def cityscapes_tree(root: Path, split: str = "train") -> np.ndarray:
    ids = np.arange(0, 40, dtype=np.uint8)  # every id 0..33, then 34..39 (not in the table)
    ids = np.concatenate([ids, [255, 100, 200, 254]]).astype(np.uint8)
    label = np.resize(ids, (4, 11))
    for city, n in (("aachen", 2), ("bremen", 1)):
        for k in range(n):
            stem = f"{city}_{k:06d}_000019"
            write_rgb(root / "leftImg8bit" / split / city / f"{stem}_leftImg8bit.png", 4, 11, seed=k)
            write_mask(root / "gtFine" / split / city / f"{stem}_gtFine_labelIds.png", label)
            write_mask(root / "gtFine" / split / city / f"{stem}_gtFine_color.png", label)  # must be ignored
    return label


def test_cityscapes_full_id_table(tmp_path):
    label = cityscapes_tree(tmp_path)
    ds = build_dataset({"name": "cityscapes", "root": str(tmp_path), "split": "train", "augment": False})
    assert len(ds) == 3 and ds.num_classes == 19 and ds.ignore_index == 255
    assert ds.class_names[0] == "road" and ds.class_names[18] == "bicycle"
    image, mask = ds[0]
    assert image.dtype == torch.float32 and image.shape == (3, 4, 11) and 0 <= image.min() and image.max() <= 1
    assert mask.dtype == torch.long and mask.shape == (4, 11)
    expected = np.vectorize(lambda i: OFFICIAL.get(int(i), 255))(label)
    assert (mask.numpy() == expected).all()
    assert set(OFFICIAL) <= set(label.ravel().tolist())  # every official id was exercised
    assert sorted(set(mask.unique().tolist()) - {255}) == list(range(19))


def test_cityscapes_image_pixels_roundtrip(tmp_path):
    cityscapes_tree(tmp_path, "val")
    ds = build_dataset({"name": "cityscapes", "root": str(tmp_path), "split": "val"})
    arr = np.array(Image.open(sorted((tmp_path / "leftImg8bit/val/aachen").iterdir())[0]))
    assert torch.allclose(ds[0][0], torch.from_numpy(arr).permute(2, 0, 1).float() / 255)


def camvid_tree(root: Path, split: str = "train", n: int = 2) -> None:
    for k in range(n):
        write_rgb(root / split / f"0001TP_{k:06d}.png", 6, 8, seed=k)
        write_mask(root / f"{split}annot" / f"0001TP_{k:06d}.png", np.resize(np.arange(12), (6, 8)))


def test_camvid_void_is_ignored(tmp_path):
    camvid_tree(tmp_path, "test")
    ds = build_dataset({"name": "camvid", "root": str(tmp_path), "split": "test"})
    assert len(ds) == 2 and ds.num_classes == 11 and ds.class_names[0] == "sky"
    mask = ds[1][1]
    raw = np.resize(np.arange(12), (6, 8))
    assert (mask.numpy() == np.where(raw == 11, 255, raw)).all()


def folder_tree(root: Path, classes: int = 3, n: int = 2, ext: str = ".png") -> None:
    for k in range(n):
        write_rgb(root / "images" / f"img{k}{ext}", 5, 7, seed=k)
        write_mask(root / "masks" / f"img{k}.png", np.resize(np.array(list(range(classes)) + [255]), (5, 7)))


def test_folder_with_and_without_split_dirs(tmp_path):
    folder_tree(tmp_path / "flat", ext=".jpg")
    folder_tree(tmp_path / "split" / "val", n=3)
    cfg = {"name": "folder", "classes": ["a", "b", "c"], "split": "val"}
    flat = build_dataset({**cfg, "root": str(tmp_path / "flat")})
    split = build_dataset({**cfg, "root": str(tmp_path / "split")})
    assert (len(flat), len(split)) == (2, 3) and flat.class_names == ["a", "b", "c"]
    assert sorted(flat[0][1].unique().tolist()) == [0, 1, 2, 255]


def test_resize_option(tmp_path):
    folder_tree(tmp_path)
    ds = build_dataset({"name": "folder", "root": str(tmp_path), "classes": ["a", "b", "c"], "split": "val",
                        "resize": [10, 14]})
    image, mask = ds[0]
    assert image.shape == (3, 10, 14) and mask.shape == (10, 14)
    assert set(mask.unique().tolist()) <= {0, 1, 2, 255}


def test_unknown_key_names_it_and_lists_allowed():
    with pytest.raises(DataError, match=r"'colour'.*allowed keys: .*image_size.*num_classes"):
        build_dataset({"name": "synthetic", "colour": 1})
    with pytest.raises(DataError, match=r"data.name = 'mnist'.*synthetic"):
        build_dataset({"name": "mnist"})


@pytest.mark.parametrize("cfg, match", [
    ({"split": "training"}, "data.split"), ({"size": 0}, "data.size"), ({"image_size": [64]}, "image_size"),
    ({"num_classes": 1}, "num_classes"), ({"scale_range": [2.0, 1.0]}, "scale_range"),
    ({"augment": "yes"}, "augment"), ({"crop": [0, 4]}, "crop")])
def test_bad_values_are_named(cfg, match):
    with pytest.raises(DataError, match=match):
        build_dataset({"name": "synthetic", **cfg})


def test_missing_root_and_missing_folder(tmp_path):
    with pytest.raises(DataError, match="data.root is required"):
        build_dataset({"name": "camvid"})
    with pytest.raises(DataError, match=f"folder not found: {tmp_path}/leftImg8bit/train"):
        build_dataset({"name": "cityscapes", "root": str(tmp_path)})
    camvid_tree(tmp_path, "train")
    with pytest.raises(DataError, match="valannot"):
        (tmp_path / "val").mkdir()
        build_dataset({"name": "camvid", "root": str(tmp_path), "split": "val"})


def test_image_without_mask(tmp_path):
    cityscapes_tree(tmp_path)
    orphan = tmp_path / "leftImg8bit/train/bremen/bremen_000009_000019_leftImg8bit.png"
    write_rgb(orphan, 4, 11)
    with pytest.raises(DataError, match=f"image {orphan} has no mask .*bremen_000009_000019_gtFine_labelIds.png"):
        build_dataset({"name": "cityscapes", "root": str(tmp_path)})
    folder_tree(tmp_path / "f")
    write_rgb(tmp_path / "f/images/lonely.png", 5, 7)
    with pytest.raises(DataError, match="lonely.png has no mask"):
        build_dataset({"name": "folder", "root": str(tmp_path / "f"), "classes": ["a", "b", "c"]})


def test_sizes_differ(tmp_path):
    camvid_tree(tmp_path, "train")
    bad = tmp_path / "trainannot/0001TP_000001.png"
    write_mask(bad, np.zeros((3, 8)))
    ds = build_dataset({"name": "camvid", "root": str(tmp_path), "augment": False})
    ds[0]
    with pytest.raises(DataError, match=f"is 6x8 .*mask {bad} is 3x8"):
        ds[1]


def test_label_outside_class_list(tmp_path):
    folder_tree(tmp_path)
    bad = tmp_path / "masks/img1.png"
    write_mask(bad, np.full((5, 7), 3))
    ds = build_dataset({"name": "folder", "root": str(tmp_path), "classes": ["a", "b", "c"], "split": "val"})
    with pytest.raises(DataError, match=rf"mask {bad} has label ids \[3\] outside the class list .*0-2, 255"):
        ds[1]
    camvid_tree(tmp_path / "cv", "val")
    write_mask(tmp_path / "cv/valannot/0001TP_000000.png", np.full((6, 8), 12))
    with pytest.raises(DataError, match=r"label ids \[12\]"):
        build_dataset({"name": "camvid", "root": str(tmp_path / "cv"), "split": "val"})[0]


def test_unreadable_and_truncated_files(tmp_path):
    folder_tree(tmp_path, n=3)
    garbage = tmp_path / "images/img0.png"
    garbage.write_bytes(b"this is not an image")
    big = write_rgb(tmp_path / "images/img1.png", 5, 7)
    Image.fromarray(np.resize(big, (64, 64, 3))).save(tmp_path / "images/img1.png")
    write_mask(tmp_path / "masks/img1.png", np.zeros((64, 64)))
    data = (tmp_path / "images/img1.png").read_bytes()
    (tmp_path / "images/img1.png").write_bytes(data[: len(data) // 2])
    rgb_mask = tmp_path / "masks/img2.png"
    Image.fromarray(np.zeros((5, 7, 3), np.uint8)).save(rgb_mask)
    ds = build_dataset({"name": "folder", "root": str(tmp_path), "classes": ["a", "b", "c"], "split": "val"})
    with pytest.raises(DataError, match=f"cannot read image file {garbage}"):
        ds[0]
    with pytest.raises(DataError, match=f"cannot read image file {tmp_path / 'images/img1.png'}.*truncated"):
        ds[1]
    with pytest.raises(DataError, match=f"mask file {rgb_mask} has PIL mode RGB"):
        ds[2]

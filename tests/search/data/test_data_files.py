"""search.data.base / files / folder / build: hostile image files, folder layouts, class names."""
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from search.data import DataError, build_dataset
from search.data.base import MAX_PIXELS, read_image, read_label
from search.data.folder import check_run_layout, split_of


def png_header(path: Path, w: int, h: int, mode: int = 2) -> Path:
    """A PNG whose header claims ``w x h`` pixels but holds no image data (a decompression bomb's header)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, mode, 0, 0, 0))
                     + chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b""))
    return path


def write_rgb(path: Path, h: int = 5, w: int = 7, seed: int = 0) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)).save(path)


def write_mask(path: Path, h: int = 5, w: int = 7) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.resize(np.array([0, 1, 2, 255], np.uint8), (h, w)), mode="L").save(path)


def tree(root: Path, stems=("a", "b")) -> Path:
    for stem in stems:
        write_rgb(root / "images" / f"{stem}.png")
        write_mask(root / "masks" / f"{stem}.png")
    return root


@pytest.mark.parametrize("w, h", [(15000, 15000), (9000, 9000)])  # over Pillow's own limit, and only over ours
def test_huge_image_header_is_a_data_error_naming_the_file(tmp_path, w, h):
    bomb = png_header(tmp_path / "bomb.png", w, h)
    with pytest.raises(DataError, match=rf"image file {bomb} is .*{w * h} pixels.*above the limit of {MAX_PIXELS}"):
        read_image(bomb)
    with pytest.raises(DataError, match=rf"mask file {bomb} is .*{w * h} pixels"):
        read_label(png_header(tmp_path / "bomb.png", w, h, mode=0))


def test_pixel_limit_is_a_dataset_option(tmp_path):
    tree(tmp_path / "val")
    cfg = {"name": "folder", "root": str(tmp_path), "classes": ["a", "b", "c"], "split": "val"}
    assert build_dataset(cfg)[0][0].shape == (3, 5, 7)
    small = build_dataset({**cfg, "max_pixels": 34})
    with pytest.raises(DataError, match=r"image file .*a.png is 7x5 = 35 pixels \(header\), above the limit of 34"):
        small[0]
    with pytest.raises(DataError, match=r"data.resize = \[10, 10\]: 100 pixels, above max_pixels \(34\)"):
        build_dataset({**cfg, "max_pixels": 34, "resize": [10, 10]})


def test_flat_folder_is_refused_for_a_run(tmp_path):
    tree(tmp_path)
    with pytest.raises(DataError) as info:
        check_run_layout(tmp_path, ["train", "val", "test"])
    message = str(info.value)
    assert "<root>/<split>/images" in message and "<root>/images" in message
    assert "data.val_from_train" in message and "split_fractions" in message and str(tmp_path) in message
    check_run_layout(tmp_path, ["train", "val", "test"], split_fractions=[0.5, 0.25, 0.25])
    check_run_layout(tmp_path / "absent", ["train", "val", "test"])  # reported when read


def test_missing_split_folder_names_the_split_and_val_from_train(tmp_path):
    tree(tmp_path / "train")
    tree(tmp_path / "test")
    tree(tmp_path)  # a flat folder beside split folders is not a fallback for a missing split
    with pytest.raises(DataError, match=r"no 'val' split: .*val/images not found .*data.val_from_train"):
        check_run_layout(tmp_path, ["train", "val", "test"])
    check_run_layout(tmp_path, ["train", "train", "test"])
    cfg = {"name": "folder", "root": str(tmp_path), "classes": ["a", "b", "c"]}
    with pytest.raises(DataError, match=r"no 'val' split: .*data.val_from_train"):
        build_dataset({**cfg, "split": "val"})
    assert len(build_dataset({**cfg, "split": "test"})) == 2


def test_split_fractions_cut_a_flat_folder_deterministically(tmp_path):
    stems = [f"img{k:02d}" for k in range(20)]
    tree(tmp_path, stems)
    cfg = {"name": "folder", "root": str(tmp_path), "classes": ["a", "b", "c"],
           "split_fractions": [0.6, 0.2, 0.2]}
    parts = {s: [p[0].stem for p in build_dataset({**cfg, "split": s}).pairs] for s in ("train", "val", "test")}
    assert [len(parts[s]) for s in ("train", "val", "test")] == [12, 4, 4]
    assert sorted(sum(parts.values(), [])) == stems  # disjoint and complete
    assert split_of(reversed(stems), (0.6, 0.2, 0.2)) == split_of(stems, (0.6, 0.2, 0.2))
    for bad in ([0.5, 0.5], [0.8, 0.3, -0.1], [0.5, 0.2, 0.2], "80/10/10"):
        with pytest.raises(DataError, match="split_fractions .*three numbers >= 0 summing to 1"):
            build_dataset({**cfg, "split_fractions": bad})
    with pytest.raises(DataError, match="leaves no images .* for the 'val' split"):
        build_dataset({**cfg, "split": "val", "split_fractions": [1, 0, 0]})


def test_numeric_class_names_are_names(tmp_path):
    tree(tmp_path / "val")
    ds = build_dataset({"name": "folder", "root": str(tmp_path), "classes": ["background", 0, 1], "split": "val"})
    assert ds.class_names == ["background", "0", "1"]
    for bad in (["a", True], ["a", ["b"]], [], ["a", "a"]):
        with pytest.raises(DataError, match="data.classes"):
            build_dataset({"name": "folder", "root": str(tmp_path), "classes": bad, "split": "val"})


def test_a_run_refuses_a_flat_folder_unless_split_on_request(tmp_path):
    from search.config import load_config
    from search.data.splits import load_splits
    from search.errors import UserError

    tree(tmp_path, [f"img{k}" for k in range(8)])
    base = ["data.name=folder", f"data.root={tmp_path}", "data.classes=[a, b, c]", "data.batch_size=2",
            f"data.cache_dir={tmp_path / 'cache'}"]
    with pytest.raises(UserError, match=r"not per split, so the train, val, test splits would all be the same images"):
        load_splits(load_config(None, base).data, features=False)
    splits = load_splits(load_config(None, base + ["data.options={split_fractions: [0.5, 0.25, 0.25]}"]).data,
                         features=False)
    stems = [{p[0].stem for p in ds.pairs} for ds in (splits.train, splits.val, splits.test)]
    assert [len(s) for s in stems] == [4, 2, 2] and not (stems[0] & stems[1] or stems[0] & stems[2])


def test_a_runs_pixel_limit_reaches_the_files(tmp_path):
    from search.config import load_config
    from search.data.splits import build_split

    tree(tmp_path / "train")
    data = load_config(None, ["data.name=folder", f"data.root={tmp_path}", "data.classes=[a, b, c]",
                              "data.max_pixels=34", "data.batch_size=2"]).data
    with pytest.raises(DataError, match="7x5 = 35 pixels .* above the limit of 34"):
        build_split(data, "train").load(0)

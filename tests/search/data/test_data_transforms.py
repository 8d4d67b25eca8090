"""Training transforms: sizes, padding with ignore, flips, determinism."""
import torch

from search.data import TrainTransform, build_dataset


def coords(h: int, w: int) -> tuple[torch.Tensor, torch.Tensor]:
    image = torch.linspace(0, 1, w).expand(3, h, w).clone()
    mask = torch.arange(w).expand(h, w).clone() % 7
    return image, mask


def test_crop_size_and_padding():
    image, mask = coords(10, 12)
    t = TrainTransform(scale_range=(0.5, 0.5), crop=(16, 16), flip=False, seed=0)
    out_img, out_mask = t(image, mask, index=0)
    assert out_img.shape == (3, 16, 16) and out_mask.shape == (16, 16)
    assert (out_mask == 255).sum() == 16 * 16 - 5 * 6 and (out_img[:, out_mask == 255] == 0).all()


def test_deterministic_per_seed_epoch_index():
    image, mask = coords(20, 30)
    t = TrainTransform(scale_range=(0.5, 2.0), crop=(16, 16), seed=3)
    a = t(image, mask, index=5, epoch=1)
    assert all(torch.equal(x, y) for x, y in zip(a, t(image, mask, index=5, epoch=1)))
    others = [t(image, mask, index=i, epoch=e)[1] for i, e in ((6, 1), (5, 2))]
    assert all(not torch.equal(a[1], o) for o in others)


def test_flip_moves_image_and_mask_together():
    image, mask = coords(8, 9)
    t = TrainTransform(scale_range=(1.0, 1.0), flip=True, seed=0)
    flips = 0
    for i in range(20):
        img, m = t(image, mask, index=i)
        assert torch.equal(img[0, 0], image[0, 0]) == torch.equal(m[0], mask[0])
        flips += torch.equal(m, mask.flip(-1))
    assert 3 <= flips <= 17


def test_dataset_applies_transform_and_set_epoch():
    ds = build_dataset({"name": "synthetic", "size": 2, "image_size": [32, 48], "crop": [24, 24],
                        "scale_range": [0.8, 1.2]})
    image, mask = ds[1]
    assert image.shape == (3, 24, 24) and mask.shape == (24, 24)
    first = ds[1][1]
    ds.set_epoch(1)
    assert not torch.equal(first, ds[1][1])
    plain = build_dataset({"name": "synthetic", "size": 2, "image_size": [32, 48], "split": "val"})
    assert plain.transform is None and plain[0][0].shape == (3, 32, 48)

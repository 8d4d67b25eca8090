"""mIoU and per-class IoU of a network against full-resolution labels.

The input may be shrunk by the network's inference scale; the logits are always resized to
the label's full resolution before the argmax, so lost detail is paid for.

>>> net = nn.Conv2d(3, 2, 1)
>>> data = [(torch.rand(3, 8, 8), torch.zeros(8, 8, dtype=torch.long))]
>>> result = evaluate(net, data, num_classes=2, scale=0.5)
>>> 0.0 <= result["miou"] <= 1.0, len(result["iou"])
(True, 2)
"""
from __future__ import annotations

import torch
from torch import Tensor, nn

from search.engine.distributed import DistEnv, all_reduce_sum, shard
from search.evaluate.metrics import ConfusionMatrix
from supernet.gates import resize_images, upsample_logits


def load_item(dataset, index: int) -> tuple[Tensor, Tensor]:
    """The untransformed item (``dataset.load``) when the dataset has one, else ``dataset[index]``."""
    load = getattr(dataset, "load", None)
    return load(index) if callable(load) else dataset[index]


@torch.no_grad()
def evaluate(model: nn.Module, dataset, num_classes: int, scale: float = 1.0, batch_size: int = 8,
             env: DistEnv | None = None, device: torch.device | str = "cpu") -> dict:
    """``{"miou", "iou" (per class, NaN where a class never occurs), "pixel_accuracy", "images"}``.

    In a distributed run each rank evaluates its share and the confusion matrices are summed.
    """
    was_training = model.training
    model.eval()
    cm = ConfusionMatrix(num_classes)
    indices = list(range(len(dataset)))
    if env is not None:
        indices = shard(indices, env)
    for start in range(0, len(indices), batch_size):
        items = [load_item(dataset, i) for i in indices[start:start + batch_size]]
        by_size: dict[tuple, list] = {}
        for image, mask in items:  # images of different sizes run in separate batches
            by_size.setdefault(tuple(image.shape), []).append((image, mask))
        for group in by_size.values():
            images = torch.stack([im for im, _ in group]).to(device)
            masks = torch.stack([m for _, m in group])
            pred = upsample_logits(model(resize_images(images, scale)), masks.shape[-2:]).argmax(1).cpu()
            cm.update(pred, masks)
    if env is not None:
        cm.mat = all_reduce_sum(cm.mat, env)
    model.train(was_training)
    return {"miou": cm.miou(), "iou": [None if x != x else x for x in cm.iou().tolist()],
            "pixel_accuracy": cm.pixel_accuracy(), "images": len(dataset)}

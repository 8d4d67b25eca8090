"""Shared pieces of the data experiments (``experiments/data_*.py``): machine line, in-memory
synthetic splits, a fixed baseline network, evaluation per image and per complexity quartile."""
from __future__ import annotations

import time

import numpy as np
import torch
from torch import Tensor, nn

import supernet
from cost_models.calibrate import machine_summary as machine  # noqa: F401 (re-exported)
from search.data import build_dataset, complexity_features, complexity_score
from search.evaluate.metrics import ConfusionMatrix
from supernet.gates import forward_at_scale

class Split:
    """A synthetic split held in memory: untransformed items, features, complexity score."""

    def __init__(self, split: str, size: int, image_size: tuple[int, int], seed: int, cache_dir: str,
                 augment: bool = False, scale_range: tuple[float, float] = (0.5, 2.0)) -> None:
        self.ds = build_dataset({"name": "synthetic", "split": split, "size": size, "image_size": list(image_size),
                                 "seed": seed, "augment": augment, "scale_range": list(scale_range),
                                 "cache_dir": cache_dir})
        items = [self.ds.load(i) for i in range(size)]
        self.images = torch.stack([im for im, _ in items])
        self.masks = torch.stack([m for _, m in items])
        self.features = complexity_features(self.ds)
        self.score = complexity_score(self.features)
        self.level = torch.tensor([self.ds.level(i) for i in range(size)])

    def batch(self, indices: Tensor, epoch: int) -> tuple[Tensor, Tensor]:
        """Images and masks of ``indices``, with the dataset's training transform if any."""
        if self.ds.transform is None:
            return self.images[indices], self.masks[indices]
        pairs = [self.ds.transform(self.images[i], self.masks[i], index=int(i), epoch=epoch) for i in indices]
        return torch.stack([p[0] for p in pairs]), torch.stack([p[1] for p in pairs])

def baseline_net(family: str, num_classes: int, width_mult: float, seed: int) -> tuple[nn.Module, dict]:
    torch.manual_seed(seed)
    arch = supernet.baseline_arch(family, num_classes, width_mult=width_mult)
    return supernet.build_from_arch(arch), arch

@torch.no_grad()
def per_image_confusion(model: nn.Module, split: Split, scale: float, num_classes: int,
                        batch_size: int = 32) -> list[ConfusionMatrix]:
    """One confusion matrix per image, the input at ``scale``, logits upsampled to full-res labels."""
    model.eval()
    out = []
    for start in range(0, len(split.images), batch_size):
        images = split.images[start:start + batch_size]
        pred = forward_at_scale(model, images, scale).argmax(1)
        for p, m in zip(pred, split.masks[start:start + batch_size]):
            cm = ConfusionMatrix(num_classes)
            cm.update(p, m)
            out.append(cm)
    return out

def miou_of(cms: list[ConfusionMatrix], indices) -> float:
    total = ConfusionMatrix(cms[0].num_classes)
    for i in indices:
        total.mat += cms[int(i)].mat
    return total.miou()

def quartiles(score: Tensor) -> list[np.ndarray]:
    """Indices of the four quarters of ``score``, simplest first."""
    return np.array_split(np.argsort(score.numpy(), kind="stable"), 4)

class Timer:
    def __init__(self) -> None:
        self.start = time.perf_counter()

    def __call__(self) -> float:
        return time.perf_counter() - self.start

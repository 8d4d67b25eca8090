"""Segmentation accuracy: a confusion matrix, per-class IoU and mIoU (a fraction in [0, 1]).

Classes that appear neither in the labels nor in the predictions have no IoU (NaN) and are
left out of the mean, as in mmsegmentation.

>>> cm = ConfusionMatrix(2)
>>> cm.update(torch.tensor([[0, 1], [1, 1]]), torch.tensor([[0, 1], [0, 255]]))
>>> round(cm.miou(), 4), [round(x, 4) for x in cm.iou().tolist()]
(0.5, [0.5, 0.5])
"""
from __future__ import annotations

import torch

from supernet import IGNORE_INDEX as IGNORE


class ConfusionMatrix:
    """Rows: label, columns: prediction; pixels labelled ``IGNORE`` are skipped."""

    def __init__(self, num_classes: int) -> None:
        self.num_classes = num_classes
        self.mat = torch.zeros(num_classes, num_classes, dtype=torch.int64)

    def update(self, pred: torch.Tensor, label: torch.Tensor) -> None:
        keep = label != IGNORE
        label, pred = label[keep].long().cpu(), pred[keep].long().cpu()
        if label.numel() and int(label.max()) >= self.num_classes:
            raise ValueError(f"label id {int(label.max())} outside 0..{self.num_classes - 1} (and {IGNORE} for ignore)")
        n = self.num_classes
        self.mat += torch.bincount(label * n + pred, minlength=n * n).view(n, n)

    def iou(self) -> torch.Tensor:
        mat = self.mat.double()
        inter = mat.diag()
        union = mat.sum(0) + mat.sum(1) - inter
        return torch.where(union > 0, inter / union.clamp_min(1), torch.full_like(inter, float("nan")))

    def miou(self) -> float:
        iou = self.iou()
        valid = ~iou.isnan()
        return float(iou[valid].mean()) if valid.any() else float("nan")

    def pixel_accuracy(self) -> float:
        total = self.mat.sum()
        return float(self.mat.diag().sum() / total) if total else float("nan")

"""search/metrics.py: IoU per class, ignore label, classes that never occur."""
import math

import pytest
import torch

from search.evaluate.metrics import ConfusionMatrix


def test_iou_by_hand():
    cm = ConfusionMatrix(3)
    label = torch.tensor([0, 0, 1, 1, 255, 2])
    pred = torch.tensor([0, 1, 1, 1, 0, 0])
    cm.update(pred, label)
    iou = cm.iou().tolist()
    assert iou[0] == pytest.approx(1 / 3) and iou[1] == pytest.approx(2 / 3) and iou[2] == 0.0
    assert cm.miou() == pytest.approx(1 / 3)
    assert cm.pixel_accuracy() == pytest.approx(3 / 5)


def test_absent_class_is_nan_and_left_out():
    cm = ConfusionMatrix(3)
    cm.update(torch.tensor([0, 1]), torch.tensor([0, 1]))
    assert math.isnan(cm.iou()[2]) and cm.miou() == 1.0


def test_label_out_of_range():
    with pytest.raises(ValueError, match="outside 0..1"):
        ConfusionMatrix(2).update(torch.tensor([0]), torch.tensor([5]))

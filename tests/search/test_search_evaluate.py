"""search/evaluate.py: logits always judged at the labels' full resolution."""
import pytest
import torch
from torch import nn

from search.evaluate.evaluate import evaluate
from supernet.gates import resize_images


class Oracle(nn.Module):
    """Predicts class 1 on the left half of its input, class 0 on the right."""

    def forward(self, x):
        n, _, h, w = x.shape
        logits = torch.zeros(n, 2, h, w)
        logits[:, 1, :, : w // 2] = 1.0
        logits[:, 0, :, w // 2:] = 1.0
        return logits


def test_perfect_at_any_scale_when_the_answer_is_coarse():
    mask = torch.zeros(8, 16, dtype=torch.long)
    mask[:, :8] = 1
    data = [(torch.rand(3, 8, 16), mask)] * 3
    for scale in (1.0, 0.5):
        assert evaluate(Oracle(), data, 2, scale=scale, batch_size=2)["miou"] == pytest.approx(1.0)


def test_fine_detail_is_lost_at_low_scale():
    class Copy(nn.Module):  # predicts the class written in the image's first channel
        def forward(self, x):
            return torch.cat([1 - x[:, :1], x[:, :1]], 1)
    mask = torch.zeros(16, 16, dtype=torch.long)
    mask[::2] = 1  # one-pixel stripes
    data = [(mask.float().expand(3, -1, -1).clone(), mask)]
    full = evaluate(Copy(), data, 2, scale=1.0)["miou"]
    half = evaluate(Copy(), data, 2, scale=0.5)["miou"]
    assert full == pytest.approx(1.0) and half < 0.7


def test_resize_images_sizes():
    assert resize_images(torch.zeros(1, 3, 10, 20), 0.5).shape[-2:] == (5, 10)

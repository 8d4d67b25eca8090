"""search/retrain.py: batch-norm recalibration at the deployment scale."""
import pytest
import torch
from torch import nn

from search.train.trainer import recalibrate_at_scale
from supernet.gates import resize_images


class Images(torch.utils.data.Dataset):
    def __init__(self, n: int):
        self.images = torch.rand(n, 3, 16, 16, generator=torch.Generator().manual_seed(0)) * torch.arange(16) / 8

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i):
        return self.images[i], torch.zeros(16, 16, dtype=torch.long)


def test_statistics_are_those_of_the_deployment_scale():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.BatchNorm2d(4))
    data = Images(9)                       # batches of 4, 4 and a last one of 1 (left out)
    assert recalibrate_at_scale(model, data, 0.5, batch_size=4) == 8
    with torch.no_grad():
        out = model[0](resize_images(data.images[:8], 0.5))
        full = model[0](data.images[:8]).var((0, 2, 3))
    assert torch.allclose(model[1].running_mean, out.mean((0, 2, 3)), atol=1e-5)
    assert torch.allclose(model[1].running_var, out.var((0, 2, 3)), rtol=1e-2)
    assert torch.all(model[1].running_var < 0.95 * full)  # a downsampled image is smoother
    assert model.training and model[1].momentum == 0.1


def test_one_image_is_too_few():
    with pytest.raises(ValueError, match="at least 2 images"):
        recalibrate_at_scale(nn.BatchNorm2d(3), Images(1), 1.0, batch_size=4)

import pytest
import torch
from torch import nn

from supernet import recalibrate_bn


class Tiny(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)
        self.bn = nn.BatchNorm2d(4)

    def forward(self, x):
        return self.bn(self.conv(x)).relu()


def test_statistics_are_the_average_over_batches():
    torch.manual_seed(0)
    net = Tiny().eval()
    net.bn.running_mean.fill_(100.0)  # stale statistics are discarded
    batches = [torch.randn(2, 3, 8, 8) * (i + 1) + i for i in range(3)]
    assert recalibrate_bn(net, [(b, "label") for b in batches]) == 3
    with torch.no_grad():
        feats = [net.conv(b) for b in batches]
    means = torch.stack([f.mean((0, 2, 3)) for f in feats]).mean(0)
    variances = torch.stack([f.var((0, 2, 3), unbiased=True) for f in feats]).mean(0)
    torch.testing.assert_close(net.bn.running_mean, means)
    torch.testing.assert_close(net.bn.running_var, variances)
    assert not net.training and net.bn.momentum == 0.1
    assert all(p.grad is None for p in net.parameters())


def test_no_batches_is_an_error():
    net = Tiny()
    with pytest.raises(ValueError, match="at least one batch"):
        recalibrate_bn(net, [])
    assert net.bn.momentum == 0.1 and net.training

"""cost_models.table: the per-layer table groups layers under their modules."""
from torch import nn

from cost_models import profile
from cost_models.table import _si


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(8, 8, 3, padding=1)
        self.relu = nn.ReLU()

    def forward(self, x):
        return self.relu(self.conv(x)) + x


def test_si_prefixes():
    assert [_si(v, u) for v, u in [(1.5e9, ""), (2.5e-3, "J"), (0, "s"), (123456, "B"), (4.2e-6, "s"), (0.5, "")]] == \
        ["1.5G", "2.5mJ", "0", "123KB", "4.2us", "0.5"]


def test_table_groups_by_module_and_respects_depth():
    net = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.Sequential(Block(), Block()))
    rep = profile(net, (1, 3, 16, 16), "jetson_tx2")
    lines = rep.table().splitlines()
    assert lines[0] == "jetson_tx2, input (1, 3, 16, 16), inference"
    names = [line.split()[0] for line in lines[3:]]
    assert names == ["model", "0", "1", "1.0", "1.0.conv", "1.0.relu", "1.0.add", "1.1", "1.1.conv", "1.1.relu",
                     "1.1.add"]
    assert lines[3].split()[1:4] == [_si(rep.macs), _si(rep.params), _si(rep.dram_bytes, "B")]
    assert [line.split()[0] for line in rep.table(max_depth=1).splitlines()[3:]] == ["model", "0", "1"]
    assert str(rep) == rep.table()


def test_table_lists_unsupported_ops():
    class Net(nn.Module):
        def forward(self, x):
            return x.cumsum(1)

    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        rep = profile(Net(), (1, 3, 4, 4), "jetson_tx2")
    assert rep.table().splitlines()[-1] == "not counted (no cost handler): cumsum x1"

"""cost_models.profile: MACs equal fvcore's, costs grow with size, params once, JSON, modes."""
import json
import warnings

import pytest
import torch
import torch.nn.functional as F
from fvcore.nn import FlopCountAnalysis
from torch import nn

import cost_models
from cost_models import ProfileError, profile


class Residual(nn.Module):
    def __init__(self, c: int = 16):
        super().__init__()
        self.conv1 = nn.Conv2d(c, c, 3, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(c)
        self.conv2 = nn.Conv2d(c, c, 3, padding=2, dilation=2)

    def forward(self, x):
        return F.relu(self.conv2(F.relu(self.bn(self.conv1(x)))) + x)


class Mixed(nn.Module):
    """Strided, dilated, grouped, depthwise, transposed and 1-d convs, linear layers."""

    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(3, 16, 3, 2, 1)
        self.dw = nn.Conv2d(16, 16, 3, 1, 2, dilation=2, groups=16)
        self.grouped = nn.Conv2d(16, 32, 3, 1, 1, groups=4, bias=False)
        self.up = nn.ConvTranspose2d(32, 8, 4, 2, 1, groups=2)
        self.conv1d = nn.Conv1d(8, 4, 3)
        self.fc = nn.Sequential(nn.Linear(8, 24), nn.ReLU(), nn.Linear(24, 10, bias=False))

    def forward(self, x):
        y = self.up(self.grouped(self.dw(self.stem(x))))
        return self.fc(y.mean((2, 3))), self.conv1d(y.mean(2))


class Segmenter(nn.Module):
    def __init__(self, c: int = 8):
        super().__init__()
        self.enc = nn.Sequential(nn.Conv2d(3, c, 3, 2, 1), nn.BatchNorm2d(c), nn.ReLU(inplace=True),
                                 nn.Conv2d(c, 2 * c, 3, 2, 1), nn.ReLU())
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.head = nn.Conv2d(3 * c, 5, 1)

    def forward(self, x):
        y = self.enc(x)
        g = self.pool(y).expand(-1, -1, *y.shape[-2:])
        y = torch.cat([y, g[:, : y.shape[1] // 2]], 1)
        return F.interpolate(self.head(y), size=x.shape[-2:], mode="bilinear", align_corners=False)


NETS = [
    (lambda: nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU(), nn.Conv2d(8, 8, 1)), (1, 3, 20, 24)),
    (lambda: Residual(), (2, 16, 15, 17)),
    (lambda: Mixed(), (2, 3, 33, 31)),
    (lambda: Segmenter(), (1, 3, 40, 56)),
    (lambda: nn.Sequential(nn.Flatten(), nn.Linear(3 * 8 * 8, 32), nn.ReLU(), nn.Linear(32, 4)), (3, 3, 8, 8)),
]
MAC_OPS = {"conv": ("conv1d", "conv2d", "conv_transpose2d"), "linear": ("linear",)}


def fvcore_by_operator(model, shape):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        flops = FlopCountAnalysis(model.eval(), torch.randn(shape))
        flops.unsupported_ops_warnings(False)
        flops.uncalled_modules_warnings(False)
        return flops.by_operator()


@pytest.mark.parametrize("make, shape", NETS)
def test_macs_equal_fvcore_per_operator(make, shape):
    torch.manual_seed(0)
    model = make()
    rep = profile(model, shape, "jetson_tx2")
    expected = fvcore_by_operator(model, shape)
    for fv_op, ours in MAC_OPS.items():
        got = sum(r["macs"] for r in rep.layers if r["op"] in ours)
        want = expected.get(fv_op, 0) + (expected.get("addmm", 0) if fv_op == "linear" else 0)
        assert got == want, (fv_op, got, want)
    assert rep.macs == sum(expected.get(k, 0) for k in ("conv", "linear", "addmm"))


def test_cost_grows_with_channels_and_resolution():
    def cost(c, size, target="jetson_tx2"):
        net = nn.Sequential(nn.Conv2d(3, c, 3, padding=1), nn.BatchNorm2d(c), nn.ReLU(), nn.Conv2d(c, c, 3, padding=1))
        return profile(net, (1, 3, size, size), target)

    for target in ("jetson_tx2", "zc706", "eyeriss"):
        small, wide, big = cost(8, 32, target), cost(32, 32, target), cost(8, 96, target)
        for field in ("macs", "params", "dram_bytes", "energy_j", "latency_s"):
            assert getattr(wide, field) > getattr(small, field), (target, field)
        for field in ("macs", "activations", "dram_bytes", "energy_j", "latency_s"):
            assert getattr(big, field) > getattr(small, field), (target, field)


def test_training_costs_more_than_inference():
    model = Residual()
    inf, train = profile(model, (1, 16, 24, 24), "a100"), profile(model, (1, 16, 24, 24), "a100", training=True)
    assert train.training and not inf.training
    for field in ("macs", "dram_bytes", "onchip_bytes", "energy_j", "latency_s"):
        assert getattr(train, field) > getattr(inf, field), field
    assert train.params == inf.params
    for a, b in zip(inf.layers, train.layers):
        assert b["energy_j"] > a["energy_j"] and b["latency_s"] > a["latency_s"]


def test_totals_are_sums_of_layers_and_energy_of_parts():
    rep = profile(Segmenter(), (1, 3, 32, 48), "ultra96")
    for field in ("macs", "activations", "dram_bytes", "onchip_bytes", "energy_j", "latency_s"):
        assert getattr(rep, field) == pytest.approx(sum(r[field] for r in rep.layers), rel=1e-12)
    assert rep.energy_j == pytest.approx(rep.compute_j + rep.onchip_j + rep.dram_j + rep.static_j, rel=1e-12)


def test_params_count_each_parameter_once():
    shared = nn.Conv2d(4, 4, 3, padding=1)

    class Twice(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv, self.bn = shared, nn.BatchNorm2d(4)

        def forward(self, x):
            return self.bn(self.conv(self.conv(x)))

    model = Twice()
    rep = profile(model, (1, 4, 8, 8), "jetson_tx2")
    assert [r["name"] for r in rep.layers] == ["conv", "conv#2", "bn"]
    assert rep.params == sum(p.numel() for p in model.parameters())
    assert sum(r["params"] for r in rep.layers) == rep.params + shared.weight.numel() + shared.bias.numel()


def test_params_equal_parameter_count_of_plain_nets():
    for make, shape in NETS:
        model = make()
        assert profile(model, shape, "jetson_tx2").params == sum(p.numel() for p in model.parameters())


def test_report_to_dict_is_json_and_complete():
    rep = profile(Mixed(), (1, 3, 16, 16), "eyeriss")
    d = json.loads(json.dumps(rep.to_dict()))
    assert d["target"] == "eyeriss" and d["input_shape"] == [1, 3, 16, 16] and d["training"] is False
    assert d["macs"] == rep.macs and len(d["layers"]) == len(rep.layers) == rep.graph.number_of_nodes()
    row = d["layers"][0]
    for key in ("name", "op", "input_shapes", "output_shape", "attrs", "macs", "params", "dram_bytes",
                "onchip_bytes", "energy_j", "latency_s", "compute_j", "static_j"):
        assert key in row
    assert [list(e) for e in rep.graph.edges] == d["edges"]


def test_three_dim_shape_is_batch_one_and_bad_shapes_fail():
    model = Residual()
    assert profile(model, (16, 8, 8), "jetson_tx2").input_shape == (1, 16, 8, 8)
    for bad in [(16, 8), (1, 1, 16, 8, 8), (1, 16, 0, 8), (1, 16, 8.5, 8), "1x16x8x8"]:
        with pytest.raises(ProfileError, match=r"must be \(N, C, H, W\) or \(C, H, W\)"):
            profile(model, bad, "jetson_tx2")


def test_failing_module_is_named_with_the_shape():
    model = nn.Sequential(nn.Conv2d(3, 8, 3), nn.Sequential(nn.ReLU(), nn.Linear(5, 2)))
    with pytest.raises(ProfileError, match=r"module '1\.1' \(Linear\) failed at input shape \(1, 3, 12, 12\)") as info:
        profile(model, (1, 3, 12, 12), "jetson_tx2")
    assert isinstance(info.value.__cause__, RuntimeError)
    with pytest.raises(ProfileError, match="channels"):
        profile(model, (1, 4, 12, 12), "jetson_tx2")


def test_unknown_target_is_a_target_error():
    with pytest.raises(cost_models.TargetError, match="unknown target 'tpu9'"):
        profile(Residual(), (1, 16, 8, 8), "tpu9")


def test_mode_and_gradients_are_untouched():
    model = Segmenter().train()
    model.enc[1].eval()
    mean = model.enc[1].running_mean.clone()
    profile(model, (2, 3, 16, 16), "jetson_tx2", training=True)
    assert model.training and not model.enc[1].training and model.head.training
    assert torch.equal(model.enc[1].running_mean, mean)
    assert all(p.grad is None for p in model.parameters())


def test_huge_input_is_refused_before_anything_runs():
    net = nn.Conv2d(3, 8, 3)
    with pytest.raises(ProfileError, match=r"input_shape \(1, 3, 99999, 99999\) has 29999400003 elements, "
                                           r"above the limit of 67108864"):
        profile(net, (3, 99999, 99999), target="jetson_tx2")
    with pytest.raises(ProfileError, match="above the limit of 100"):
        profile(net, (1, 3, 8, 8), target="jetson_tx2", max_input_elements=100)
    assert profile(net, (1, 3, 8, 8), target="jetson_tx2", max_input_elements=192).macs > 0

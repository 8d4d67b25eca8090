"""supernet.deployed: the deployed computation resizes like evaluation does, and the cost model counts it."""
import pytest
import torch
from torch import nn

import cost_models
import supernet
from supernet.deployed import DeployedNet, min_native_size, scale_fraction, size_multiple
from supernet.gates import resize_images, upsample_logits


@pytest.mark.parametrize("scale", [0.5, 0.75, 1.0, 1.25])
def test_same_computation_as_evaluation(scale):
    torch.manual_seed(0)
    net = supernet.build_from_arch(supernet.baseline_arch("multires", 3, width_mult=0.25)).eval()
    x = torch.rand(2, 3, 45, 67)  # odd sizes: the rounding of the scaled size matters
    with torch.no_grad():
        want = upsample_logits(net(resize_images(x, scale)), x.shape[-2:])
        torch.testing.assert_close(DeployedNet(net, scale)(x), want, rtol=0, atol=0)


def test_export_sizes_match_scaled_size_on_multiples():
    for scale in (0.25, 0.3, 0.5, 0.625, 0.75, 0.9, 1.0, 1.5):
        n, d = scale_fraction(scale)
        assert d == size_multiple(scale) and n / d == pytest.approx(scale)
        assert all(k * d // d * n == supernet.scaled_size(k * d, scale) for k in range(1, 2000))
    assert (size_multiple(0.75), size_multiple(0.5), size_multiple(1.0)) == (4, 2, 1)
    # the deepest feature map (stride 32 for multires) is at least 2 pixels at the minimum size
    side = min_native_size("multires", 0.75)
    assert side % 4 == 0 and supernet.scaled_size(side, 0.75) >= 2 * 32 + 1


def test_profile_counts_the_resizes():
    net = nn.Conv2d(3, 4, 1)
    rep = cost_models.profile(DeployedNet(net, 0.5), (1, 3, 64, 128), target="host_cpu")
    rows = {row["name"]: row for row in rep.layers}
    assert list(rows) == ["resize_input", "net", "resize_output"]
    assert rows["resize_input"]["input_shapes"] == [(1, 3, 64, 128)]
    assert rows["resize_input"]["output_shape"] == (1, 3, 32, 64)
    assert rows["resize_input"]["attrs"]["antialias"] is True
    assert rows["resize_output"]["output_shape"] == (1, 4, 64, 128)
    bare = cost_models.profile(net, (1, 3, 32, 64), target="host_cpu")
    assert rep.macs == bare.macs and rep.latency_s > bare.latency_s and rep.dram_bytes > bare.dram_bytes
    assert set(rep.graph.edges) == {("resize_input", "net"), ("net", "resize_output")}
    same = cost_models.profile(DeployedNet(net, 1.0), (1, 3, 64, 128), target="host_cpu")
    assert [row["name"] for row in same.layers] == ["net"]  # scale 1: nothing to resize


def test_bad_scale():
    with pytest.raises(ValueError, match="inference_scale must be a number in"):
        DeployedNet(nn.Identity(), 0)

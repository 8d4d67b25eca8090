import pytest
import torch

import cost_models
import supernet
from supernet.arch import site_options
from supernet.families import build_family
from supernet.space import ArchError, Space

SITES = {
    "deeplabv3plus": {"backbone.stem.width", "backbone.stage4.hidden", "backbone.stage2.block2",
                      "backbone.stage3.block2", "backbone.stage4.block2", "head.aspp.width", "head.aspp.rate1",
                      "head.aspp.rate6", "head.aspp.rate12", "head.aspp.rate18", "head.aspp.pool",
                      "decoder.low.width", "decoder.width"},
    "pspnet": {"backbone.stem.width", "backbone.stage4.width", "backbone.stage2.block2", "backbone.stage3.block2",
               "backbone.stage4.block2", "head.ppm.width", "head.ppm.bin1", "head.ppm.bin2", "head.ppm.bin3",
               "head.ppm.bin6", "head.width"},
    "multires": {"backbone.stem1.width", "backbone.branch8.width", "backbone.branch16.width",
                 "backbone.branch16.keep", "backbone.branch32.width", "backbone.branch32.keep", "head.width"},
}


@pytest.mark.parametrize("family", sorted(SITES))
def test_documented_sites_exist(family):
    options, groups = site_options(family, 3)
    assert SITES[family] <= set(options)
    assert all(o == (False, True) or (min(o) >= 4 and all(v % 4 == 0 for v in o)) for o in options.values())


@pytest.mark.parametrize("family", sorted(SITES))
@pytest.mark.parametrize("size", [(33, 47), (17, 9), (64, 64)])
def test_any_input_size_gives_logits_at_that_size(family, size):
    net = supernet.build_from_arch(supernet.baseline_arch(family, 3, width_mult=0.25)).eval()
    with torch.no_grad():
        assert net(torch.randn(1, 3, *size)).shape == (1, 3, *size)


@pytest.mark.parametrize("family", ["deeplabv3plus", "pspnet"])
def test_a_dropped_block_is_the_identity_at_no_cost(family):
    """The depth: a stage's second block dropped is not built (Skip), exactly its own cost leaves
    the network's, and the network still maps the image to logits."""
    from supernet.layers import Skip
    shallow = supernet.baseline_arch(family, 3)
    shallow["choices"].update({f"backbone.stage{i}.block2": False for i in (2, 3, 4)})
    nets = {"full": supernet.build_from_arch(supernet.baseline_arch(family, 3)).eval(),
            "shallow": supernet.build_from_arch(shallow).eval()}
    assert [type(stage[1]) for stage in nets["shallow"].stages[1:]] == [Skip] * 3
    x = torch.randn(1, 3, 32, 64)
    shapes = []   # each second block's input, from a pass of the full network
    hooks = [stage[1].register_forward_pre_hook(lambda module, args: shapes.append(tuple(args[0].shape)))
             for stage in nets["full"].stages[1:]]
    with torch.no_grad():
        nets["full"](x)
        assert nets["shallow"](x).shape == (1, 3, 32, 64)
    for hook in hooks:
        hook.remove()
    assert not any(isinstance(stage[1], Skip) for stage in nets["full"].stages[1:])
    cost = {name: cost_models.profile(net, tuple(x.shape), target="jetson_tx2") for name, net in nets.items()}
    blocks = sum(cost_models.profile(stage[1], shape, target="jetson_tx2").macs
                 for stage, shape in zip(nets["full"].stages[1:], shapes))
    assert cost["full"].macs - cost["shallow"].macs == pytest.approx(blocks, rel=1e-9)
    assert cost["shallow"].energy_j < cost["full"].energy_j


def test_dropped_branches_are_not_built():
    arch = supernet.baseline_arch("deeplabv3plus", 3)
    arch["choices"].update({"head.aspp.rate6": False, "head.aspp.pool": False})
    net = supernet.build_from_arch(arch)
    assert list(net.aspp.branches) == ["rate1", "rate12", "rate18"]
    assert [b.conv.dilation for b in net.aspp.branches.values()] == [(1, 1), (12, 12), (18, 18)]
    assert net.aspp.project.conv.in_channels == 3 * arch["choices"]["head.aspp.width"]
    arch = supernet.baseline_arch("multires", 3)
    arch["choices"]["backbone.branch32.keep"] = False
    net = supernet.build_from_arch(arch)
    assert list(net.entries) == ["0", "1"] and set(net.exchanges[0].fuse) == {"0to1", "1to0"}


def test_widest_scales_every_width():
    small, _ = site_options("pspnet", 3, widest=0.5)
    full, _ = site_options("pspnet", 3)
    assert max(small["head.width"]) == max(full["head.width"]) // 2


def test_unknown_family():
    with pytest.raises(ArchError, match="unknown family 'fcn'"):
        build_family("fcn", 3, Space())

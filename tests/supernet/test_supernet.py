import copy
import random
from dataclasses import fields

import pytest
import torch

import cost_models
import supernet
from cost_models.formulas import Cost
from supernet import ArchError, build_supernet

FAMILIES = sorted(supernet.FAMILIES)
SHAPE = (2, 3, 32, 48)
SPACE = {"widest": 0.5}  # half the default widths: the same code paths, faster tests


@pytest.fixture(scope="module", params=FAMILIES)
def net(request):
    torch.manual_seed(0)
    net = build_supernet(request.param, num_classes=3, **SPACE)
    net.train()
    net.set_mode("gumbel_hard", tau=1.0)
    with torch.no_grad():  # non-trivial batch-norm statistics, then non-uniform logits
        for _ in range(2):
            net(torch.randn(*SHAPE))
        for p in net.arch_parameters():
            p.normal_()
    return net.eval()


def test_parameters_split_into_arch_and_weights(net):
    arch, weights = net.arch_parameters(), net.weight_parameters()
    assert {id(p) for p in arch}.isdisjoint({id(p) for p in weights})
    assert len(arch) + len(weights) == len(list(net.parameters())) == len({id(p) for p in net.parameters()})
    assert len(arch) == len(net.sites) and all(s.logits is p for s, p in zip(net.sites.values(), arch))


def test_output_is_at_input_resolution(net):
    for mode in ("gumbel_hard", "gumbel_soft", "argmax"):
        net.set_mode(mode, tau=0.5)
        assert net(torch.randn(1, 3, 37, 61)).shape == (1, 3, 37, 61)


@pytest.mark.parametrize("mode", ["gumbel_hard", "gumbel_soft"])
def test_gradients_reach_every_logit(net, mode):
    torch.manual_seed(1)
    net.zero_grad()
    net.set_mode(mode, tau=1.0)
    keeps = [s for s in net.sites.values() if s.is_keep]
    saved = [s.logits.detach().clone() for s in keeps]
    with torch.no_grad():  # a dropped branch's width has no gradient in that sample: keep branches likely
        for s in keeps:
            s.logits.copy_(torch.tensor([-1.0, 1.0]))
    for _ in range(3):
        net(torch.randn(*SHAPE)).pow(2).mean().backward()
    with torch.no_grad():
        for s, logits in zip(keeps, saved):
            s.logits.copy_(logits)
    for name, site in net.sites.items():
        assert site.logits.grad is not None and site.logits.grad.abs().sum() > 0, name


def test_expected_cost_gradients_reach_every_logit(net):
    net.zero_grad()
    cost = net.expected_cost("jetson_tx2", SHAPE, scale_probs={0.5: torch.tensor(0.4), 1.0: torch.tensor(0.6)})
    (cost.energy_j + cost.latency_s * 1e3).backward()
    for name, site in net.sites.items():
        assert site.logits.grad is not None and site.logits.grad.abs().sum() > 0, name


def test_hard_sample_equals_derived_network(net):
    torch.manual_seed(2)
    net.set_mode("gumbel_hard", tau=1.0)
    x = torch.randn(*SHAPE)
    for _ in range(2):
        net.sample()
        choices = net.sampled_choices()
        with torch.no_grad():
            torch.testing.assert_close(net.net(x), net.derive(choices).eval()(x), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("seed", [0, 1])
def test_derive_equals_fixed_mode(net, seed):
    arch = supernet.random_arch(net.family, 3, random.Random(seed), **SPACE)
    net.set_mode("fixed", arch=arch)
    x = torch.randn(*SHAPE)
    slim = net.derive(arch)
    assert not any("site" in n for n, _ in slim.named_parameters())
    assert sum(p.numel() for p in slim.parameters()) < sum(p.numel() for p in net.weight_parameters())
    with torch.no_grad():
        torch.testing.assert_close(net(x), slim(x), rtol=1e-5, atol=1e-5)


def test_one_branch_is_always_kept(net):
    if net.family == "multires":  # the 1/8 branch has no keep site: it is always on
        assert not net.groups and "backbone.branch8.keep" not in net.sites and "backbone.branch16.keep" in net.sites
        return
    saved = [s.logits.detach().clone() for g in net.groups for s in g]
    with torch.no_grad():
        for group in net.groups:
            for site in group:
                site.logits.copy_(torch.tensor([5.0, -5.0]))
    net.set_mode("gumbel_hard", tau=1.0)
    for _ in range(5):
        net.sample()
        for group in net.groups:
            assert sum(int(s.weights.argmax()) for s in group) == 1
    net.set_mode("argmax")
    net.sample()
    choices = net.argmax_arch()["choices"]
    for group in net.groups:
        assert sum(choices[s.name] for s in group) == 1
    with torch.no_grad():
        for site, logits in zip([s for g in net.groups for s in g], saved):
            site.logits.copy_(logits)


def test_argmax_arch_is_a_valid_arch(net):
    arch = net.argmax_arch()
    assert set(arch["choices"]) == set(net.sites) and arch["space"] == net.space_options
    for name, site in net.sites.items():
        assert arch["choices"][name] in site.options
    layers = supernet.arch.validate_arch(arch, with_layers=True)["layers"]
    convs = {n: (m.in_channels, m.out_channels, m.groups) for n, m in net.derive(arch).named_modules()
             if isinstance(m, torch.nn.Conv2d)}
    assert {l["name"]: (l["attrs"]["in"], l["attrs"]["out"], l["attrs"]["groups"])
            for l in layers if l["op"] == "conv2d"} == convs


def test_expected_cost_equals_profile_at_one_hot(net):
    archs = [supernet.baseline_arch(net.family, 3, **SPACE), supernet.random_arch(net.family, 3, 3, **SPACE)]
    for arch, scale in zip(archs, (1.0, 0.75)):
        probs = net.one_hot_probs(arch["choices"])
        scales = {0.5: torch.tensor(0.0), 0.75: torch.tensor(0.0), 1.0: torch.tensor(0.0)}
        scales[scale] = torch.tensor(1.0)
        shape = (SHAPE[0], 3, supernet.scaled_size(SHAPE[2], scale), supernet.scaled_size(SHAPE[3], scale))
        slim = net.derive(arch)
        for training in (False, True):
            got = net.expected_cost("jetson_tx2", SHAPE, scale_probs=scales, training=training, probs=probs)
            want = cost_models.profile(slim, input_shape=shape, target="jetson_tx2", training=training)
            for f in fields(Cost):
                assert float(getattr(got, f.name)) == pytest.approx(float(getattr(want, f.name)), rel=1e-9), f.name
            assert float(got.energy_j) == pytest.approx(want.energy_j, rel=1e-9)


def test_a_sliced_pass_computes_the_sampled_network_alone_and_equals_the_masked_one(net):
    """compute="sliced" runs the derived network on slices of the supernet's weights: the masked
    pass's output, weight gradients and batch-norm statistics, the derived network's FLOPs (fewer
    than the masked widest pass), and no gradient to the arch logits."""
    from torch.utils.flop_counter import FlopCounterMode
    arch = supernet.random_arch(net.family, 3, 1, **SPACE)
    masked, sliced = copy.deepcopy(net).train(), copy.deepcopy(net).train()
    masked.set_mode("fixed", arch=arch)
    sliced.set_mode("fixed", arch=arch, compute="sliced")
    x = torch.randn(*SHAPE)
    flops = {}
    for name, model in (("masked", masked), ("sliced", sliced)):
        with FlopCounterMode(display=False) as counter:
            model(x).square().mean().backward()
        flops[name] = counter.get_total_flops()
    with FlopCounterMode(display=False) as counter:
        net.derive(arch).train()(x).square().mean().backward()
    assert flops["sliced"] == counter.get_total_flops() < flops["masked"]
    torch.testing.assert_close(sliced(x), masked(x), atol=1e-5, rtol=1e-4)
    for (name, a), b in zip(masked.net.named_parameters(), sliced.net.parameters()):
        grad = b.grad if b.grad is not None else torch.zeros_like(b)   # a dropped branch: no gradient
        torch.testing.assert_close(grad, a.grad, atol=1e-6, rtol=1e-4, msg=name)
    assert all(p.grad is None for p in sliced.arch_parameters())
    for key, value in masked.derive(arch).state_dict().items():   # running statistics of the used channels
        torch.testing.assert_close(sliced.derive(arch).state_dict()[key], value, atol=1e-6, rtol=1e-5, msg=key)


def test_sliced_passes_of_the_same_branches_share_one_skeleton(net):
    """Widths only change tensor shapes: a second sample with the same branches at other widths
    reuses the first one's skeleton, and still computes its own network."""
    model = copy.deepcopy(net).eval()
    first = supernet.random_arch(net.family, 3, 1, **SPACE)["choices"]
    def other_width(name: str, value):
        options = net.sites[name].options
        return value if net.sites[name].is_keep else options[0] if value != options[0] else options[-1]
    other = {n: other_width(n, v) for n, v in first.items()}
    x = torch.randn(*SHAPE)
    model._skeletons.clear()
    for choices in (first, other):
        model.set_mode("fixed", arch=choices, compute="sliced")
        torch.testing.assert_close(model(x), net.derive(choices).eval()(x), atol=1e-5, rtol=1e-4)
    assert len(model._skeletons) == 1


def test_sliced_compute_needs_one_hard_sample(net):
    with pytest.raises(ValueError, match="hard mode"):
        copy.deepcopy(net).set_mode("gumbel_soft", compute="sliced")
    with pytest.raises(ValueError, match="unknown compute"):
        copy.deepcopy(net).set_mode("gumbel_hard", compute="pruned")


def test_expected_cost_falls_with_narrower_widths(net):
    wide = {n: torch.eye(len(s.options))[-1] for n, s in net.sites.items()}
    narrow = {n: torch.eye(len(s.options))[0 if not s.is_keep else -1] for n, s in net.sites.items()}
    cost = lambda probs: float(net.expected_cost("jetson_tx2", SHAPE, probs=probs).macs)
    assert cost(narrow) < cost(wide)


def test_bad_mode_and_arch(net):
    with pytest.raises(ValueError, match="unknown mode"):
        net.set_mode("random")
    with pytest.raises(ValueError, match="needs an arch"):
        net.set_mode("fixed")
    with pytest.raises(ValueError, match="temperature"):
        net.set_mode("gumbel_soft", tau=0)
    other = next(f for f in FAMILIES if f != net.family)
    with pytest.raises(ArchError, match="family"):
        net.derive(supernet.baseline_arch(other, 3, **SPACE))
    with pytest.raises(ArchError, match="space"):
        net.derive(supernet.baseline_arch(net.family, 3))
    with pytest.raises(ArchError, match="unknown choice 'nope'"):
        net.set_mode("fixed", arch={**supernet.baseline_arch(net.family, 3, **SPACE)["choices"], "nope": 1})

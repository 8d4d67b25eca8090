"""supernet.gates: gate sampling and gradients, the gate objective, regret, mixed-resolution batches."""
import itertools

import pytest
import torch
from torch import nn

from supernet.gates import (DataGate, InferenceResolution, class_balanced_loss, estimate_regret, forward_at_scale,
                            gate_objective, gate_sample, label_regret, learning_value, parse_actions, per_image_loss,
                            pixels_lost)

COST = torch.tensor([0.0, 0.25, 0.5625, 1.0])  # drop, 0.5, 0.75, 1.0


class ToySeg(nn.Module):
    """Two convs; logits at the input's resolution."""

    def __init__(self, classes: int = 3) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.Conv2d(8, classes, 1))

    def forward(self, x):
        return self.body(x)


def test_parse_actions():
    assert parse_actions(["drop", 0.5, 1]) == ("drop", 0.5, 1.0)
    for bad in (["drop", "drop", 1.0], [1.5], ["skip"], ["drop"]):
        with pytest.raises(ValueError):
            parse_actions(bad)


def test_sample_is_one_hot_straight_through_and_gradients_reach_the_mlp():
    gate = DataGate(num_features=5, hidden=8)
    nn.init.normal_(gate.net[-1].weight)
    feats = torch.randn(6, 5)
    sample, probs = gate.sample(feats, tau=0.5, generator=torch.Generator().manual_seed(0))
    assert torch.equal(sample.sum(1), torch.ones(6)) and set(sample.detach().unique().tolist()) <= {0.0, 1.0}
    (sample * torch.arange(4.0)).sum().backward()
    assert gate.net[0].weight.grad is not None and gate.net[0].weight.grad.abs().sum() > 0
    gate.zero_grad()
    _, probs = gate.sample(feats, tau=0.5)
    gate.objective(probs, torch.rand(6, 4), COST, 0.5).backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in (gate.net[0].weight, gate.net[2].weight))


def test_gumbel_reproducible_with_generator():
    logits = torch.randn(10, 4)
    a = gate_sample(logits, 1.0, generator=torch.Generator().manual_seed(3))
    b = gate_sample(logits, 1.0, generator=torch.Generator().manual_seed(3))
    assert torch.equal(a, b)
    many = gate_sample(logits[:1].expand(4000, 4), 1.0, generator=torch.Generator().manual_seed(0))
    assert torch.allclose(many.mean(0), logits[0].softmax(0), atol=0.03)


def train_gate(features, regret, lambda_train, steps=300):
    gate = DataGate(num_features=features.shape[1], hidden=8)
    gate.fit_normalization(features)
    opt = torch.optim.Adam(gate.parameters(), lr=0.05)
    for _ in range(steps):
        _, probs = gate.sample(features, tau=1.0)
        loss = gate.objective(probs, regret, COST, lambda_train)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return gate


def test_objective_keeps_high_regret_image_at_full_res_and_drops_an_easy_one():
    # columns: drop, 0.5, 0.75, 1.0 (estimate_regret's units: drop = loss / batch mean loss)
    features = torch.tensor([[0.0, 0.1], [1.0, 0.9], [0.5, 0.5]])
    regret = torch.tensor([[0.01, 0.0, 0.0, 0.0],    # loss already near zero
                           [2.00, 1.5, 0.6, 0.0],    # downsampling it costs a lot
                           [0.99, 0.05, 0.01, 0.0]])  # a medium image
    gate = train_gate(features, regret, lambda_train=0.5)
    assert gate.choose(features).tolist()[:2] == [0, 3]
    assert gate.choose(features)[2] in (1, 2)  # cheap regret: a downsample, not drop, not full


def test_drop_everything_never_minimises_the_objective():
    gen = torch.Generator().manual_seed(0)
    for trial in range(30):
        n = 3
        regret = torch.rand(n, 4, generator=gen) * torch.tensor([1.0, 2.0, 1.0, 0.0])
        regret[:, 0] = torch.rand(n, generator=gen) ** 4  # easy images: drop regret near 0
        for lam in (0.0, 0.1, 1.0, 10.0):
            values = {}
            for assign in itertools.product(range(4), repeat=n):
                one_hot = torch.nn.functional.one_hot(torch.tensor(assign), 4).float()
                values[assign] = float(gate_objective(one_hot, regret, COST, lam, drop_index=0))
            assert min(values, key=values.get) != (0,) * n
            assert values[(0,) * n] > values[(3,) * n]


def test_loss_weights():
    gate = DataGate(num_features=2)
    sample = torch.tensor([[1.0, 0, 0, 0], [0, 1, 0, 0], [0, 0, 0, 1], [0, 0, 0, 1]])
    probs = torch.tensor([[0.5, 0.5, 0, 0], [0.5, 0.5, 0, 0], [0.0, 0, 0, 1], [0.9, 0, 0, 0.1]])
    w = gate.loss_weights(sample, probs)
    assert w[0] == 0 and w.sum() == pytest.approx(3.0)
    assert w[1] == pytest.approx(2 * w[2]) and w[3] == pytest.approx(4 * w[2])  # 1/0.5, 1/1, clipped 1/0.25


def test_estimate_regret_units_and_semantics():
    torch.manual_seed(0)
    model = ToySeg()
    images = torch.rand(4, 3, 16, 16)
    masks = torch.randint(0, 3, (4, 16, 16))
    masks[0, :4] = 255
    model.train()
    regret = estimate_regret(model, images, masks, ("drop", 0.5, 1.0))
    assert model.training and regret.shape == (4, 3)
    assert torch.all(regret[:, 2] == 0) and torch.all(regret[:, 1] >= 0)
    assert regret[:, 0].mean() == pytest.approx(1.0)
    model.eval()
    full = per_image_loss(model(images), masks)
    assert torch.allclose(regret[:, 0], full / full.mean(), atol=1e-5)


def test_regret_is_larger_for_fine_detail():
    # a "network" that is the identity on one-hot colour images: fine detail is lost at 0.5x
    model = nn.Conv2d(3, 3, 1, bias=False)
    with torch.no_grad():
        model.weight.copy_(torch.eye(3)[:, :, None, None] * 20)
    coarse = torch.zeros(16, 16, dtype=torch.long)
    coarse[:, 8:] = 1
    fine = (torch.arange(16)[:, None] + torch.arange(16)[None]) % 3
    masks = torch.stack([coarse, fine])
    images = torch.nn.functional.one_hot(masks, 3).permute(0, 3, 1, 2).float()
    regret = estimate_regret(model, images, masks, ("drop", 0.5, 1.0))
    assert regret[1, 1] > 10 * regret[0, 1]


def test_label_regret_counts_the_pixels_lost_at_each_scale():
    coarse = torch.zeros(16, 16, dtype=torch.long)
    coarse[:, 8:] = 1                                   # one straight boundary on the 0.5x grid
    fine = (torch.arange(16)[:, None] + torch.arange(16)[None]) % 3
    ignored = fine.clone()
    ignored[:8] = 255                                   # half the pixels unlabelled
    regret = label_regret(torch.stack([coarse, fine, ignored]), (0.5, 0.75, 1.0), num_classes=3)
    assert regret.shape == (3, 3) and torch.all(regret[:, 2] == 0)
    assert regret[0, 0] == 0                            # an aligned straight boundary survives 0.5x
    assert regret[1, 0] >= 0.5 and regret[1, 1] > 0.1   # a one-pixel pattern does not
    assert 0 < regret[2, 0] <= 1                        # a fraction of the labelled pixels only


def test_label_reference_ignores_the_network_except_for_drop():
    torch.manual_seed(0)
    images, masks = torch.rand(4, 3, 16, 16), torch.randint(0, 3, (4, 16, 16))
    actions = ("drop", 0.5, 0.75, 1.0)
    a = estimate_regret(ToySeg(), images, masks, actions, reference="labels")
    b = estimate_regret(ToySeg(), images, masks, actions, reference="labels")
    assert torch.equal(a[:, 1:], b[:, 1:])              # scale columns: the labels only
    assert torch.allclose(a[:, 1:], label_regret(masks, (0.5, 0.75, 1.0), num_classes=3))
    assert a[:, 0].mean() == pytest.approx(1.0) and not torch.allclose(a[:, 0], b[:, 0])
    with pytest.raises(ValueError, match="regret reference 'pixels'"):
        estimate_regret(ToySeg(), images, masks, actions, reference="pixels")


def test_learning_value_is_the_gradient_dot_product_and_leaves_the_weights_alone():
    torch.manual_seed(0)
    model = ToySeg().double().eval()
    images, masks = torch.rand(3, 3, 16, 16, dtype=torch.float64), torch.randint(0, 3, (3, 16, 16))
    before = {k: v.clone() for k, v in model.state_dict().items()}
    value = learning_value(model, images, masks, (0.5, 1.0), objective=class_balanced_loss, eps=1e-5)
    params = list(model.parameters())
    g = torch.autograd.grad(class_balanced_loss(model(images), masks), params)
    for i in range(3):
        for k, s in enumerate((0.5, 1.0)):
            gi = torch.autograd.grad(per_image_loss(forward_at_scale(model, images[i:i + 1], s), masks[i:i + 1]).sum(),
                                     params)
            exact = sum((a * b).sum() for a, b in zip(g, gi))
            assert value[i, k].item() == pytest.approx(exact.item(), rel=1e-3, abs=1e-6)
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in before.items())


def test_learning_regret_is_what_a_downsampled_step_no_longer_teaches():
    # a one-hot colour "network": a coarse image teaches the same at 0.5x, a one-pixel pattern does not
    model = nn.Conv2d(3, 3, 1)
    with torch.no_grad():
        model.weight.copy_(torch.eye(3)[:, :, None, None])
    coarse = torch.zeros(16, 16, dtype=torch.long)
    coarse[:, 8:] = 1
    fine = (torch.arange(16)[:, None] + torch.arange(16)[None]) % 3
    masks = torch.stack([coarse, fine])
    images = torch.nn.functional.one_hot(masks, 3).permute(0, 3, 1, 2).float()
    model.train()
    regret = estimate_regret(model, images, masks, ("drop", 0.5, 1.0), reference="learning")
    assert model.training and regret.shape == (2, 3)
    assert torch.allclose(regret[:, 2], torch.zeros(2), atol=1e-3)      # 1.0 against itself
    assert abs(regret[0, 1]) < 0.05 and regret[1, 1] > 0.5              # coarse: nothing lost; fine: most of it
    assert regret[:, 0].mean() == pytest.approx(1.0)                    # drop: the loss, as for every reference


def test_a_learning_probe_runs_each_forward_it_is_charged_for():
    """What ``CoSearch.count_probes`` charges: one full-resolution forward with its backward, one
    more after the move, and two at every other scale."""
    torch.manual_seed(0)
    model = ToySeg()
    sizes = []
    model.register_forward_pre_hook(lambda module, args: sizes.append(tuple(args[0].shape[-2:])))
    images, masks = torch.rand(2, 3, 16, 16), torch.randint(0, 3, (2, 16, 16))
    estimate_regret(model, images, masks, ("drop", 0.5, 0.75, 1.0), reference="learning")
    assert sorted(sizes) == sorted([(16, 16)] * 2 + [(8, 8)] * 2 + [(12, 12)] * 2)


def test_inference_resolution():
    res = InferenceResolution((0.5, 1.0))
    probs = res.scale_probs()
    assert set(probs) == {0.5, 1.0} and float(sum(probs.values()).detach()) == pytest.approx(1.0)
    (probs[1.0] * 3 + probs[0.5]).backward()
    assert res.rho.grad[1] > 0 > res.rho.grad[0]
    sample, p = res.sample(tau=1.0, generator=torch.Generator().manual_seed(0))
    assert sample.sum().item() == 1 and torch.allclose(p, res.probs())
    with torch.no_grad():
        res.rho[0] = 2.0
    assert res.choose() == 0.5 and res.to_dict()["inference_scale"] == 0.5
    with pytest.raises(ValueError):
        InferenceResolution((0.5, 0.5))


def test_explore_mixes_in_uniform():
    gate = DataGate(num_features=2)
    with torch.no_grad():
        gate.net[-1].bias.copy_(torch.tensor([-20.0, -20.0, -20.0, 20.0]))
    feats = torch.zeros(4000, 2)
    sample, probs = gate.sample(feats, tau=1.0, generator=torch.Generator().manual_seed(0), explore=0.2)
    assert torch.allclose(probs[0], torch.tensor([0.05, 0.05, 0.05, 0.85]), atol=1e-6)
    assert torch.allclose(sample.mean(0), probs[0], atol=0.02)
    assert gate.sample(feats[:5], tau=1.0)[0].argmax(1).eq(3).all()


def test_class_balanced_loss_weighs_every_class_the_same():
    torch.manual_seed(0)
    logits = torch.randn(2, 4, 6, 6, requires_grad=True)
    masks = torch.zeros(2, 6, 6, dtype=torch.long)
    masks[0, 0, :2] = 2                      # class 2: 2 pixels; class 3 absent; class 1: 8 pixels
    masks[1, 4:] = 1
    masks[1, 0, 0] = 255                     # ignored
    pixel = torch.nn.functional.cross_entropy(logits, masks, ignore_index=255, reduction="none")
    per_class = [pixel[masks == c].mean() for c in (0, 1, 2)]
    loss = class_balanced_loss(logits, masks)
    assert torch.allclose(loss, torch.stack(per_class).mean())
    assert not torch.allclose(loss, pixel[masks != 255].mean())  # the pixel mean weighs class 0 by its area
    loss.backward()
    assert logits.grad is not None and logits.grad[1, :, 0, 0].abs().sum() == 0  # nothing from ignored pixels
    empty = class_balanced_loss(logits, torch.full((2, 6, 6), 255))
    assert float(empty.detach()) == 0.0 and empty.requires_grad


def test_pixels_lost_weighs_images_by_their_labelled_pixels():
    grid = torch.zeros(8, 8, dtype=torch.long)
    grid[::2, ::2] = 1                       # a 0.5x downsample loses 1/4 of these pixels
    half_ignored = torch.zeros(8, 8, dtype=torch.long)
    half_ignored[4:] = 255                   # 32 labelled pixels, nothing lost
    lost = pixels_lost([grid, half_ignored], (0.5, 1.0), num_classes=2)
    assert lost == pytest.approx([16 / (64 + 32), 0.0])

"""search/train/loss.py: the mixed-resolution W loss in one forward call, and the W step."""
import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from search import config as config_module
from search.engine.distributed import MultiInput
from search.train.loss import LOSSES, gated_loss, precision_for, weight_step
from supernet.gates import IGNORE_INDEX, class_balanced_loss, per_image_class_balanced_loss

ACTIONS = ("drop", 0.5, 1.0)


def batch():
    torch.manual_seed(0)
    return torch.rand(4, 3, 8, 8), torch.randint(0, 3, (4, 8, 8))


def test_matches_a_loop_over_images():
    net = nn.Conv2d(3, 3, 1)
    images, masks = batch()
    choice, weights = torch.tensor([0, 1, 2, 2]), torch.tensor([0.0, 2.0, 1.0, 0.5])
    loss, plain = gated_loss(MultiInput(net), images, masks, choice, weights, ACTIONS, kept_global=3)
    want, per = 0.0, []
    for i in (1, 2, 3):
        x = images[i:i + 1]
        if ACTIONS[choice[i]] == 0.5:
            x = F.interpolate(x, scale_factor=0.5, mode="bilinear", antialias=True, align_corners=False)
        logits = F.interpolate(net(x), size=(8, 8), mode="bilinear", align_corners=False)
        per.append(F.cross_entropy(logits, masks[i:i + 1]))
        want = want + weights[i] * per[-1]
    assert torch.allclose(loss, want / 3) and torch.allclose(plain, torch.stack(per).mean())


def test_world_size_scales_for_ddp_averaging():
    images, masks = batch()
    net = MultiInput(nn.Conv2d(3, 3, 1))
    args = (images, masks, torch.tensor([2, 2, 2, 2]), torch.ones(4), ACTIONS)
    one, _ = gated_loss(net, *args, kept_global=8)
    two, _ = gated_loss(net, *args, kept_global=8, world_size=2)
    assert torch.allclose(two, 2 * one)


def test_all_dropped_is_a_zero_loss_with_a_graph():
    images, masks = batch()
    net = nn.Conv2d(3, 3, 1)
    loss, plain = gated_loss(MultiInput(net), images, masks, torch.zeros(4, dtype=torch.long), torch.ones(4),
                             ACTIONS, kept_global=0)
    loss.backward()
    assert loss.item() == 0.0 and plain.item() == 0.0 and torch.equal(net.weight.grad, torch.zeros_like(net.weight))


def test_a_single_image_group_trains_through_batch_norm_on_a_1x1_map():
    net = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Conv2d(3, 3, 1), nn.BatchNorm2d(3))
    images, masks = batch()
    loss, _ = gated_loss(MultiInput(net), images, masks, torch.tensor([0, 1, 0, 0]), torch.ones(4), ACTIONS, 1)
    loss.backward()
    assert torch.isfinite(loss)


@pytest.mark.parametrize("amp", ["off", "bf16", "fp16"])
def test_weight_step_in_every_precision_lowers_the_loss(amp):
    torch.manual_seed(0)
    net = MultiInput(nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.Conv2d(8, 2, 1)))
    opt = torch.optim.SGD(net.parameters(), lr=0.1)
    precision = precision_for(amp, torch.device("cpu"))
    assert (precision.scaler is not None) == (amp == "fp16")
    images, masks = torch.rand(4, 3, 8, 8), (torch.rand(4, 8, 8) > 0.5).long()
    choice, weights = torch.tensor([0, 1, 3, 3]), torch.ones(4)
    losses = [weight_step(net, opt, images, masks, [0, 1, 2, 3], choice, weights, ACTIONS, 1, precision)["loss"]
              for _ in range(5)]
    assert all(math.isfinite(x) for x in losses) and losses[-1] < losses[0]


def test_the_class_balanced_loss_weighs_every_present_class_the_same_and_skips_ignored_pixels():
    assert tuple(LOSSES) == config_module.LOSSES
    torch.manual_seed(1)
    logits, masks = torch.randn(3, 3, 4, 4), torch.randint(0, 3, (3, 4, 4))
    masks[1, :2] = IGNORE_INDEX
    masks[2] = 0   # one class only: the pixel mean
    pixel = F.cross_entropy(logits, masks, ignore_index=IGNORE_INDEX, reduction="none")

    def by_hand(select):   # mean over the present classes of each class's mean pixel loss
        return torch.stack([pixel[select & (masks == k)].mean() for k in range(3) if (select & (masks == k)).any()]).mean()

    images = torch.arange(3)[:, None, None].expand_as(masks)
    want = torch.stack([by_hand(images == i) for i in range(3)])
    assert torch.allclose(per_image_class_balanced_loss(logits, masks), want)
    assert torch.allclose(want[2], F.cross_entropy(logits[2:], masks[2:]))
    assert torch.allclose(class_balanced_loss(logits, masks), by_hand(torch.ones_like(masks, dtype=torch.bool)))


def test_gated_loss_uses_the_given_per_image_loss():
    images, masks = batch()
    masks[:, :6] = 0   # class 0 dominates: the balanced loss weighs the rare classes up
    net = MultiInput(nn.Conv2d(3, 3, 1))
    args = (images, masks, torch.tensor([2, 2, 2, 2]), torch.ones(4), ACTIONS, 4)
    plain, _ = gated_loss(net, *args)
    balanced, shown = gated_loss(net, *args, loss_fn=per_image_class_balanced_loss)
    with torch.no_grad():
        want = per_image_class_balanced_loss(net(images)[0], masks)
    assert not torch.allclose(plain, balanced) and torch.allclose(balanced, want.mean())
    assert torch.allclose(shown, want.mean())

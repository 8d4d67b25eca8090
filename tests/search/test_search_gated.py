"""search/gated.py: the mixed-resolution W loss in one forward call."""
import torch
import torch.nn.functional as F
from torch import nn

from search.engine.distributed import MultiInput
from search.train.loss import gated_loss

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

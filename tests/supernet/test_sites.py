import pytest
import torch

from supernet.sites import ChoiceSite, gumbel_softmax, round_channels, straight_through, width_options


def test_width_options_are_rounded_unique_and_sorted():
    assert width_options(16) == (4, 8, 12, 16)
    opts = width_options(96)
    assert opts[0] == 24 and opts[-1] == 96 and all(o % 4 == 0 for o in opts)
    assert list(opts) == sorted(set(opts))
    assert round_channels(1) == 4 and round_channels(10) == 12  # halves up


def test_masks_keep_a_prefix_of_channels():
    site = ChoiceSite("w", (4, 8, 12))
    site.weights = site.one_hot(8)
    assert site.mask().tolist() == [1.0] * 8 + [0.0] * 4
    site.weights = torch.tensor([0.5, 0.25, 0.25])
    assert site.mask().tolist() == [1.0] * 4 + [0.5] * 4 + [0.25] * 4


def test_value_types_are_strict():
    keep = ChoiceSite("k", (False, True))
    assert keep.index(True) == 1
    with pytest.raises(ValueError, match="not one of its options"):
        keep.index(1)
    width = ChoiceSite("w", (4, 8))
    with pytest.raises(ValueError, match="'w': 8.0"):
        width.index(8.0)


def test_expected_value_is_probability_weighted():
    site = ChoiceSite("w", (4, 8, 12))
    assert float(site.expected(torch.tensor([0.5, 0.0, 0.5]))) == 8.0
    keep = ChoiceSite("k", (False, True))
    assert float(keep.expected(torch.tensor([0.3, 0.7]))) == pytest.approx(0.7)


def test_gumbel_hard_is_one_hot_with_soft_gradient():
    torch.manual_seed(0)
    logits = torch.zeros(4, requires_grad=True)
    weights, soft = gumbel_softmax(logits, tau=0.5, hard=True)
    assert sorted(weights.tolist()) == pytest.approx([0, 0, 0, 1], abs=1e-6)
    (weights * torch.arange(4.0)).sum().backward()
    assert logits.grad.abs().sum() > 0
    soft_weights, _ = gumbel_softmax(logits, tau=1.0, hard=False)
    assert float(soft_weights.sum().detach()) == pytest.approx(1.0) and (soft_weights < 1).all()


def test_straight_through_forward_value():
    soft = torch.tensor([0.2, 0.8], requires_grad=True)
    st = straight_through(soft, 0)
    assert st.tolist() == pytest.approx([1.0, 0.0])

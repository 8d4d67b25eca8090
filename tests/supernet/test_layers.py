import pytest
import torch
from torch import nn

from supernet.layers import BasicBlock, ConvBNAct, masked_batch_norm
from supernet.sites import gumbel_softmax
from supernet.space import Dim, Part, Space


class Toy(nn.Module):
    """Stem, depthwise conv, a droppable branch concatenated with the trunk, a residual block."""

    def __init__(self, space: Space):
        super().__init__()
        w1, w2, keep = space.width("w1", 16), space.width("w2", 12), space.keep("k")
        self.stem = ConvBNAct(Dim(3), w1, 3, stride=2)
        self.dw = ConvBNAct(w1, w1, 3, depthwise=True)
        self.block = BasicBlock(w1, w1)
        self.branch = ConvBNAct(w1, w2, 1) if keep.present else None
        self.head = ConvBNAct([Part(w1)] + ([Part(w2, keep)] if keep.present else []), Dim(5), 1, bn=False, act=False)

    def forward(self, x):
        y = self.block(self.dw(self.stem(x)))
        return self.head(torch.cat([y, self.branch(y)], 1) if self.branch is not None else y)


def slim_copy(supernet: Toy, space: Space, choices: dict) -> Toy:
    slim = Toy(Space(choices))
    state = {}
    kept = dict(slim.named_modules())
    for name, m in supernet.named_modules():
        if isinstance(m, ConvBNAct) and name in kept:
            state.update({f"{name}.{k}": v for k, v in m.sliced_state(choices).items()})
    slim.load_state_dict(state)
    return slim


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_hard_sample_equals_sliced_network(seed):
    torch.manual_seed(seed)
    space = Space()
    net = Toy(space)
    for m in net.modules():  # non-trivial batch-norm statistics and affine
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.normal_(), m.running_var.uniform_(0.5, 2), m.weight.data.normal_(), m.bias.data.normal_()
    for site in space.sites.values():
        site.weights, _ = gumbel_softmax(torch.randn(len(site.options)), tau=1.0, hard=True)
    choices = {n: s.options[int(s.weights.argmax())] for n, s in space.sites.items()}
    slim = slim_copy(net, space, choices)
    x = torch.randn(2, 3, 20, 24)
    net.eval(), slim.eval()
    torch.testing.assert_close(net(x), slim(x), rtol=1e-5, atol=1e-5)
    assert slim.stem.conv.out_channels == choices["w1"] and (slim.branch is None) == (not choices["k"])
    # train mode: batch statistics of the kept channels are the sliced net's, and so are the running stats
    net.train(), slim.train()
    torch.testing.assert_close(net(x), slim(x), rtol=1e-4, atol=1e-4)
    c = choices["w1"]
    torch.testing.assert_close(net.dw.bn.running_mean[:c], slim.dw.bn.running_mean)
    torch.testing.assert_close(net.dw.bn.running_var[:c], slim.dw.bn.running_var)


def test_masked_batch_norm_matches_batch_norm_times_mask():
    bn = nn.BatchNorm2d(6)
    ref = nn.BatchNorm2d(6)
    x = torch.randn(4, 6, 5, 5)
    mask = torch.tensor([1.0, 1.0, 0.5, 0.5, 0.0, 0.0])
    torch.testing.assert_close(masked_batch_norm(bn, x, mask), ref(x) * mask.view(1, -1, 1, 1))
    torch.testing.assert_close(bn.running_mean, ref.running_mean)  # statistics ignore the mask
    assert int(bn.num_batches_tracked) == 1
    bn.momentum = ref.momentum = None  # cumulative average, as in recalibration
    masked_batch_norm(bn, x * 2, mask), ref(x * 2)
    torch.testing.assert_close(bn.running_var, ref.running_var)


def test_gradient_reaches_mask_through_batch_norm_affine():
    torch.manual_seed(0)
    space = Space()
    net = Toy(space)
    logits = {n: torch.zeros(len(s.options), requires_grad=True) for n, s in space.sites.items()}
    for _ in range(8):  # a dropped branch's width gets no gradient in that sample: accumulate a few
        for n, s in space.sites.items():
            s.weights, _ = gumbel_softmax(logits[n], tau=1.0, hard=True)
        net(torch.randn(2, 3, 16, 16)).pow(2).sum().backward()
    for n, g in logits.items():
        assert g.grad is not None and g.grad.abs().sum() > 0, n


def test_depthwise_needs_equal_widths():
    with pytest.raises(ValueError, match="depthwise"):
        ConvBNAct(Dim(8), Dim(16), depthwise=True)

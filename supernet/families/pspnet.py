"""``pspnet``: ResNet-style dilated backbone (output stride 8), pyramid pooling with searchable bins.

Sites (default widest widths in brackets): ``backbone.stem.width`` [16];
``backbone.stage{1..4}.width`` [24, 32, 64, 96]; keep sites ``backbone.stage{2..4}.block2``
(each stage's second block: the depth); ``head.ppm.width`` [24] (every bin); keep sites
``head.ppm.bin1``, ``bin2``, ``bin3``, ``bin6`` (at least one kept); ``head.width`` [64].

>>> from supernet.arch import baseline_arch, build_from_arch
>>> net = build_from_arch(baseline_arch("pspnet", num_classes=5))
>>> type(net).__name__, net(torch.zeros(2, 3, 64, 96)).shape
('PSPNet', torch.Size([2, 5, 64, 96]))
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..cost import Planner, Shape
from ..expr import add, mul
from ..layers import BasicBlock, ConvBNAct, MaxPool, Seq, droppable, resize
from ..space import Dim, Part, Space

# (widest width, blocks, stride, dilation) per stage
STAGES = ((24, 1, 1, 1), (32, 2, 2, 1), (64, 2, 1, 2), (96, 2, 1, 4))
BINS = (1, 2, 3, 6)


class PoolBranch(nn.Module):
    """Adaptive average pool to ``bins`` x ``bins``, 1x1 ConvBNAct, upsample back.

    The 1x1 bin has no batch-norm (a conv with bias): batch-norm over a 1x1 map is undefined
    for a batch of one.
    """

    def __init__(self, inp: Dim, out: Dim, bins: int):
        super().__init__()
        self.bins = bins
        self.conv = ConvBNAct(inp, out, 1, bn=bins > 1)

    def forward(self, x: Tensor) -> Tensor:
        return resize(self.conv(F.adaptive_avg_pool2d(x, self.bins)), x.shape[-2:])

    def plan(self, p: Planner, x: Shape) -> Shape:
        y = self.conv.plan(p, p.pool(x, self.bins, self.bins))
        return p.resize(y, x.h, x.w)


class PyramidPooling(nn.Module):
    """The PSP module: the input concatenated with its kept pooled branches."""

    def __init__(self, space: Space, inp: Dim, channels: int = 24, bins=BINS, name: str = "head.ppm"):
        super().__init__()
        self.inp, self.width = inp, space.width(f"{name}.width", channels)
        space.at_least_one([f"{name}.bin{b}" for b in bins])
        self.keeps = {f"bin{b}": space.keep(f"{name}.bin{b}") for b in bins}
        self.branches = nn.ModuleDict({n: PoolBranch(inp, self.width, b)
                                       for n, b in zip(self.keeps, bins) if self.keeps[n].present})
        self.parts = [Part(inp)] + [Part(self.width, self.keeps[n]) for n in self.branches]

    def forward(self, x: Tensor) -> Tensor:
        return torch.cat([x] + [branch(x) for branch in self.branches.values()], 1)

    def plan(self, p: Planner, x: Shape) -> Shape:
        for n, branch in self.branches.items():
            with p.present(self.keeps[n].expr):
                branch.plan(p, x)
        c = add(x.c, *[mul(self.keeps[n].expr, self.width.expr) for n in self.branches])
        return p.cat(c, x.h, x.w)


class PSPNet(nn.Module):
    def __init__(self, space: Space, num_classes: int):
        super().__init__()
        stem = space.width("backbone.stem.width", 16)
        self.stem = Seq(ConvBNAct(Dim(3), stem, 3, stride=2), MaxPool(3, 2, 1))
        stages, inp = [], stem
        for i, (channels, blocks, stride, dilation) in enumerate(STAGES, 1):
            out = space.width(f"backbone.stage{i}.width", channels)
            first = BasicBlock(inp, out, stride, dilation, project=True)
            later = [droppable(space, f"backbone.stage{i}.block{j}", BasicBlock, out, out, 1, dilation)  # the depth
                     for j in range(2, blocks + 1)]
            stages.append(Seq(first, *later))
            inp = out
        self.stages = Seq(*stages)
        self.ppm = PyramidPooling(space, inp)
        width = space.width("head.width", 64)
        self.head = ConvBNAct(self.ppm.parts, width, 3)
        self.classifier = ConvBNAct(width, Dim(num_classes), 1, bn=False, act=False)

    def forward(self, x: Tensor) -> Tensor:
        y = self.ppm(self.stages(self.stem(x)))
        return resize(self.classifier(self.head(y)), x.shape[-2:])

    def plan(self, p: Planner, x: Shape) -> Shape:
        y = self.ppm.plan(p, self.stages.plan(p, self.stem.plan(p, x)))
        y = self.classifier.plan(p, self.head.plan(p, y))
        return p.resize(y, x.h, x.w)

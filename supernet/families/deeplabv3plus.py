"""``deeplabv3plus``: MobileNetV2-style backbone, ASPP with searchable branches, decoder skip.

Sites (default widest widths in brackets): ``backbone.stem.width`` [16];
``backbone.stage{1..4}.width`` [24, 32, 64, 96] and ``.hidden`` (expansion width, 4x); keep sites
``backbone.stage{2..4}.block2`` (each stage's second block: the depth); ``head.aspp.width`` [64]
(every branch and the projection); keep sites ``head.aspp.rate1``, ``rate6``, ``rate12``,
``rate18``, ``pool`` (at least one kept); ``decoder.low.width`` [24], ``decoder.width`` [64].
Output stride 16 (stage 4 dilated), decoder at stride 4.

>>> from supernet.arch import baseline_arch, build_from_arch
>>> net = build_from_arch(baseline_arch("deeplabv3plus", num_classes=5))
>>> type(net).__name__, net(torch.zeros(2, 3, 64, 96)).shape
('DeepLabV3Plus', torch.Size([2, 5, 64, 96]))
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..cost import Planner, Shape
from ..expr import add, at_least, mul
from ..layers import ConvBNAct, Seq, droppable, resize
from ..space import ALWAYS, Dim, Keep, Part, Space

# (widest width, blocks, stride, dilation) per stage; stage 1 is the decoder's low-level skip
STAGES = ((24, 1, 2, 1), (32, 2, 2, 1), (64, 2, 2, 1), (96, 2, 1, 2))
EXPANSION = 4
ASPP_RATES = (1, 6, 12, 18)


class InvertedResidual(nn.Module):
    """MobileNetV2 block: 1x1 expand, 3x3 depthwise, 1x1 linear projection, residual if ``residual``.

    ``keep`` (a residual block only): the branch is gated in its projection's batch-norm, so a
    dropped block is the identity; a derived net builds :class:`~supernet.layers.Skip` in its place.
    """

    def __init__(self, inp: Dim, hidden: Dim, out: Dim, stride: int, dilation: int, residual: bool,
                 keep: Keep = ALWAYS):
        super().__init__()
        if keep.site is not None and not residual:
            raise ValueError("only a residual block can be dropped")
        self.keep = keep
        self.expand = ConvBNAct(inp, hidden, 1)
        self.depthwise = ConvBNAct(hidden, hidden, 3, stride, dilation, depthwise=True)
        self.project = ConvBNAct(hidden, out, 1, act=False, keep=keep)
        self.residual = residual

    def forward(self, x: Tensor) -> Tensor:
        y = self.project(self.depthwise(self.expand(x)))
        return x + y if self.residual else y

    def plan(self, p: Planner, x: Shape) -> Shape:
        with p.present(self.keep.expr):
            y = self.project.plan(p, self.depthwise.plan(p, self.expand.plan(p, x)))
            if self.residual:
                p.add(y)
        return y


class ImagePool(nn.Module):
    """Global average pool, 1x1 conv (bias, no batch-norm: a 1x1 map), ReLU, upsample back."""

    def __init__(self, inp: Dim, out: Dim):
        super().__init__()
        self.conv = ConvBNAct(inp, out, 1, bn=False)

    def forward(self, x: Tensor) -> Tensor:
        return resize(self.conv(F.adaptive_avg_pool2d(x, 1)), x.shape[-2:])

    def plan(self, p: Planner, x: Shape) -> Shape:
        y = self.conv.plan(p, p.pool(x, 1, 1))
        return p.resize(y, x.h, x.w)


class ASPP(nn.Module):
    """Atrous spatial pyramid pooling; each branch (rates and image pooling) can be dropped."""

    def __init__(self, space: Space, inp: Dim, channels: int = 64, rates=ASPP_RATES, name: str = "head.aspp"):
        super().__init__()
        width = space.width(f"{name}.width", channels)
        names = [f"rate{r}" for r in rates] + ["pool"]
        space.at_least_one([f"{name}.{n}" for n in names])
        self.keeps = {n: space.keep(f"{name}.{n}") for n in names}
        self.branches = nn.ModuleDict()
        for n, r in zip(names, list(rates) + [None]):
            if not self.keeps[n].present:
                continue
            self.branches[n] = (ImagePool(inp, width) if r is None else
                                ConvBNAct(inp, width, 1 if r == 1 else 3, dilation=r))
        self.project = ConvBNAct([Part(width, self.keeps[n]) for n in self.branches], width, 1)
        self.width = width

    def forward(self, x: Tensor) -> Tensor:
        outs = [branch(x) for branch in self.branches.values()]
        return self.project(torch.cat(outs, 1) if len(outs) > 1 else outs[0])

    def plan(self, p: Planner, x: Shape) -> Shape:
        keeps = [self.keeps[n].expr for n in self.branches]
        for n, branch in self.branches.items():
            with p.present(self.keeps[n].expr):
                branch.plan(p, x)
        c = add(*[mul(k, self.width.expr) for k in keeps])
        with p.present(at_least(2, keeps)):
            p.cat(c, x.h, x.w)
        return self.project.plan(p, Shape(c, x.h, x.w))


class DeepLabV3Plus(nn.Module):
    def __init__(self, space: Space, num_classes: int):
        super().__init__()
        stem = space.width("backbone.stem.width", 16)
        self.stem = ConvBNAct(Dim(3), stem, 3, stride=2)
        stages, inp = [], stem
        for i, (channels, blocks, stride, dilation) in enumerate(STAGES, 1):
            out = space.width(f"backbone.stage{i}.width", channels)
            hidden = space.width(f"backbone.stage{i}.hidden", channels * EXPANSION)
            first = InvertedResidual(inp, hidden, out, stride, dilation, residual=False)
            later = [droppable(space, f"backbone.stage{i}.block{j}", InvertedResidual,  # the stage's depth
                               out, hidden, out, 1, dilation, residual=True) for j in range(2, blocks + 1)]
            stages.append(Seq(first, *later))
            inp = out
            if i == 1:
                low_level = out
        self.stages = nn.ModuleList(stages)
        self.aspp = ASPP(space, inp)
        low = space.width("decoder.low.width", 24)
        width = space.width("decoder.width", 64)
        self.low = ConvBNAct(low_level, low, 1)
        self.fuse = Seq(ConvBNAct([Part(self.aspp.width), Part(low)], width, 3), ConvBNAct(width, width, 3))
        self.classifier = ConvBNAct(width, Dim(num_classes), 1, bn=False, act=False)

    def forward(self, x: Tensor) -> Tensor:
        y = self.stem(x)
        y = low = self.stages[0](y)
        for stage in self.stages[1:]:
            y = stage(y)
        low = self.low(low)
        y = torch.cat([resize(self.aspp(y), low.shape[-2:]), low], 1)
        return resize(self.classifier(self.fuse(y)), x.shape[-2:])

    def plan(self, p: Planner, x: Shape) -> Shape:
        y = low = self.stages[0].plan(p, self.stem.plan(p, x))
        for stage in self.stages[1:]:
            y = stage.plan(p, y)
        low = self.low.plan(p, low)
        high = p.resize(self.aspp.plan(p, y), low.h, low.w)
        y = p.cat(add(high.c, low.c), low.h, low.w)
        y = self.classifier.plan(p, self.fuse.plan(p, y))
        return p.resize(y, x.h, x.w)

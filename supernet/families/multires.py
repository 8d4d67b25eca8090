"""``multires``: parallel branches at 1/8, 1/16 and 1/32 with HRNet-style exchange (FasterSeg-like).

The 1/8 branch is always on; the 1/16 and 1/32 branches can be switched off. Each of
``EXCHANGES`` rounds runs one basic block per branch, then every kept branch receives the
sum of all kept branches (1x1 ConvBN + upsample from lower resolutions, strided 3x3 ConvBNs
from higher ones), followed by ReLU. The head concatenates the kept branches upsampled to
1/8 (HRNetV2), a 1x1 ConvBNAct and the classifier.

Sites (default widest widths in brackets): ``backbone.stem1.width`` [16],
``backbone.stem2.width`` [24]; ``backbone.branch8.width`` [32], ``backbone.branch16.width``
[64], ``backbone.branch32.width`` [96]; keep sites ``backbone.branch16.keep``,
``backbone.branch32.keep``; ``head.width`` [64].

>>> from supernet.arch import baseline_arch, build_from_arch
>>> net = build_from_arch(baseline_arch("multires", num_classes=5))
>>> type(net).__name__, net(torch.zeros(2, 3, 64, 96)).shape
('MultiRes', torch.Size([2, 5, 64, 96]))
"""
from __future__ import annotations

import torch
from torch import Tensor, nn

from ..cost import Planner, Shape
from ..expr import add, at_least, mul
from ..layers import BasicBlock, ConvBNAct, Seq, resize
from ..space import ALWAYS, Dim, Keep, Part, Space

BRANCHES = (("branch8", 32), ("branch16", 64), ("branch32", 96))  # 1/8, 1/16, 1/32
EXCHANGES = 2


def _fuse_layer(widths: list[Dim], j: int, i: int, keep: Keep) -> nn.Module:
    """Branch ``j``'s contribution to branch ``i`` (before upsampling); gated by ``j``'s keep."""
    if j > i:
        return ConvBNAct(widths[j], widths[i], 1, act=False, keep=keep)
    steps = [ConvBNAct(widths[j], widths[j], 3, 2) for _ in range(i - j - 1)]
    return Seq(*steps, ConvBNAct(widths[j], widths[i], 3, 2, act=False, keep=keep))


class Exchange(nn.Module):
    """One basic block per kept branch, then the all-to-all fusion of kept branches."""

    def __init__(self, widths: list[Dim], keeps: list[Keep]):
        super().__init__()
        self.keeps = keeps
        self.present = [i for i, k in enumerate(keeps) if k.present]
        self.blocks = nn.ModuleDict({str(i): BasicBlock(widths[i], widths[i]) for i in self.present})
        self.fuse = nn.ModuleDict({f"{j}to{i}": _fuse_layer(widths, j, i, keeps[j])
                                   for i in self.present for j in self.present if j != i})
        self.act = nn.ReLU()

    def forward(self, xs: dict[int, Tensor]) -> dict[int, Tensor]:
        xs = {i: self.blocks[str(i)](xs[i]) for i in self.present}
        outs = {}
        for i in self.present:
            y = xs[i]
            for j in self.present:
                if j != i:
                    t = self.fuse[f"{j}to{i}"](xs[j])
                    y = y + (resize(t, y.shape[-2:]) if j > i else t)
            outs[i] = self.act(y)
        return outs

    def plan(self, p: Planner, xs: dict[int, Shape]) -> dict[int, Shape]:
        xs = dict(xs)
        for i in self.present:
            with p.present(self.keeps[i].expr):
                xs[i] = self.blocks[str(i)].plan(p, xs[i])
        outs = {}
        for i in self.present:
            y = xs[i]
            for j in self.present:
                if j != i:
                    with p.present(mul(self.keeps[i].expr, self.keeps[j].expr)):
                        t = self.fuse[f"{j}to{i}"].plan(p, xs[j])
                        if j > i:
                            p.resize(t, y.h, y.w)
                        p.add(y)
            with p.present(self.keeps[i].expr):
                outs[i] = p.act(y)
        return outs


class MultiRes(nn.Module):
    def __init__(self, space: Space, num_classes: int):
        super().__init__()
        s1, s2 = space.width("backbone.stem1.width", 16), space.width("backbone.stem2.width", 24)
        self.stem = Seq(ConvBNAct(Dim(3), s1, 3, 2), ConvBNAct(s1, s2, 3, 2))
        widths = [space.width(f"backbone.{name}.width", c) for name, c in BRANCHES]
        self.keeps = [ALWAYS] + [space.keep(f"backbone.{name}.keep") for name, _ in BRANCHES[1:]]
        self.present = [i for i, k in enumerate(self.keeps) if k.present]
        entries = {0: ConvBNAct(s2, widths[0], 3, 2), 1: ConvBNAct(widths[0], widths[1], 3, 2),
                   2: Seq(ConvBNAct(widths[0], widths[2], 3, 2), ConvBNAct(widths[2], widths[2], 3, 2))}
        self.entries = nn.ModuleDict({str(i): entries[i] for i in self.present})
        self.exchanges = Seq(*[Exchange(widths, self.keeps) for _ in range(EXCHANGES)])
        self.head = ConvBNAct([Part(widths[i], self.keeps[i]) for i in self.present],
                              space.width("head.width", 64), 1)
        self.classifier = ConvBNAct(self.head.out, Dim(num_classes), 1, bn=False, act=False)

    def forward(self, x: Tensor) -> Tensor:
        x0 = self.entries["0"](self.stem(x))
        xs = {i: self.entries[str(i)](x0) if i else x0 for i in self.present}
        for exchange in self.exchanges:
            xs = exchange(xs)
        ups = [xs[0]] + [resize(xs[i], xs[0].shape[-2:]) for i in self.present[1:]]
        y = self.head(torch.cat(ups, 1) if len(ups) > 1 else ups[0])
        return resize(self.classifier(y), x.shape[-2:])

    def plan(self, p: Planner, x: Shape) -> Shape:
        x0 = self.entries["0"].plan(p, self.stem.plan(p, x))
        xs = {0: x0}
        for i in self.present[1:]:
            with p.present(self.keeps[i].expr):
                xs[i] = self.entries[str(i)].plan(p, x0)
        for exchange in self.exchanges:
            xs = exchange.plan(p, xs)
        ups = [xs[0]]
        for i in self.present[1:]:
            with p.present(self.keeps[i].expr):
                ups.append(p.resize(xs[i], xs[0].h, xs[0].w))
        c = add(*[mul(self.keeps[i].expr, u.c) for i, u in zip(self.present, ups)])
        with p.present(at_least(2, [self.keeps[i].expr for i in self.present])):
            p.cat(c, xs[0].h, xs[0].w)
        y = self.classifier.plan(p, self.head.plan(p, Shape(c, xs[0].h, xs[0].w)))
        return p.resize(y, x.h, x.w)

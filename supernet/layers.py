"""Building blocks shared by the families: one class serves the supernet and the derived net.

:class:`ConvBNAct` is the only layer with weights. Built from a search :class:`Space` it is
a convolution at the widest width whose batch-norm scale and shift are multiplied by the
Gumbel-weighted channel mask (and by the keep weight of the branch it ends, if any);
built from fixed choices it is a plain ``Conv2d -> BatchNorm2d -> ReLU`` of the chosen
width. Why the mask goes into the batch-norm affine:

* the batch statistics are those of the unmasked widest convolution, so every channel's
  running mean and variance are its own, whatever width was sampled (no zeros from masked
  channels poison them), and slicing them gives the derived net's batch-norm exactly;
* ``relu(m * y) == m * relu(y)`` for ``m >= 0``, so this is "mask after the activation"
  with no extra activation-sized tensor: time and memory stay those of the widest net.

Every module also has ``plan(planner, shape) -> shape``, which lists the cost terms of
the *derived* network's forward pass (see :mod:`supernet.cost`).

>>> from supernet.space import Dim
>>> layer = ConvBNAct(Dim(3), Dim(8), kernel=3, stride=2)
>>> layer(torch.zeros(1, 3, 16, 16)).shape
torch.Size([1, 8, 8, 8])
"""
from __future__ import annotations

from typing import Any, Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .cost import Planner, Shape
from .space import ALWAYS, Dim, Keep, Part


def resize(x: Tensor, size: Sequence[int]) -> Tensor:
    """Bilinear resize, ``align_corners=False`` (the one resize the families use)."""
    return F.interpolate(x, size=tuple(size), mode="bilinear", align_corners=False)


def masked_batch_norm(bn: nn.BatchNorm2d, x: Tensor, mask: Tensor) -> Tensor:
    """``bn(x)`` with its weight and bias multiplied by ``mask``; statistics as ``bn`` keeps them."""
    factor = 0.0
    if bn.training:
        bn.num_batches_tracked.add_(1)
        factor = 1.0 / float(bn.num_batches_tracked) if bn.momentum is None else bn.momentum
    return F.batch_norm(x, bn.running_mean, bn.running_var, bn.weight * mask, bn.bias * mask,
                        bn.training, factor, bn.eps)


class ConvBNAct(nn.Module):
    """Conv2d (+ BatchNorm2d) (+ ReLU), searchable in width and, via ``keep``, in presence.

    ``inputs``: the input channels, one :class:`Part` per concatenated segment (a
    :class:`Dim` for one). Padding keeps the size for stride 1 (``dilation * (k - 1) // 2``).
    Without batch-norm the conv has a bias.
    """

    def __init__(self, inputs: Dim | Sequence[Part], out: Dim, kernel: int = 3, stride: int = 1,
                 dilation: int = 1, depthwise: bool = False, bn: bool = True, act: bool = True,
                 keep: Keep = ALWAYS):
        super().__init__()
        self.parts = [Part(inputs)] if isinstance(inputs, Dim) else list(inputs)
        self.out, self.keep, self.depthwise = out, keep, depthwise
        c_in = sum(p.dim.widest for p in self.parts)
        if depthwise and c_in != out.widest:
            raise ValueError(f"depthwise conv needs as many inputs as outputs, got {c_in} and {out.widest}")
        self.conv = nn.Conv2d(c_in, out.widest, kernel, stride, dilation * (kernel - 1) // 2, dilation,
                              groups=out.widest if depthwise else 1, bias=not bn)
        self.bn = nn.BatchNorm2d(out.widest) if bn else None
        self.act = nn.ReLU() if act else None

    def _mask(self) -> Tensor | None:
        mask, keep = self.out.mask(), self.keep.weight()
        if keep is not None:
            mask = keep.expand(self.out.widest) if mask is None else mask * keep
        return mask

    def forward(self, x: Tensor) -> Tensor:
        y = self.conv(x)
        mask = self._mask()
        if mask is None:
            y = self.bn(y) if self.bn is not None else y
        elif self.bn is not None:
            y = masked_batch_norm(self.bn, y, mask)
        else:
            y = y * mask.view(1, -1, 1, 1)
        return self.act(y) if self.act is not None else y

    def plan(self, p: Planner, x: Shape) -> Shape:
        c = self.conv
        y = p.conv(x, self.out.expr, c.kernel_size[0], c.stride[0], c.padding[0], c.dilation[0],
                   groups=self.out.expr if self.depthwise else 1, bias=self.bn is None)
        if self.bn is not None:
            p.bn(y)
        if self.act is not None:
            p.act(y)
        return y

    def sliced_state(self, choices: Mapping[str, Any]) -> dict[str, Tensor]:
        """This layer's weights for the derived net of ``choices`` (keys relative to it)."""
        out = torch.arange(self.out.value(choices))
        weight = self.conv.weight[out]
        if not self.depthwise:
            offset, index = 0, []
            for part in self.parts:
                if part.keep.value(choices):
                    index.append(torch.arange(offset, offset + part.dim.value(choices)))
                offset += part.dim.widest
            weight = weight[:, torch.cat(index)]
        state = {"conv.weight": weight}
        if self.conv.bias is not None:
            state["conv.bias"] = self.conv.bias[out]
        if self.bn is not None:
            for name in ("weight", "bias", "running_mean", "running_var"):
                state[f"bn.{name}"] = getattr(self.bn, name)[out]
            state["bn.num_batches_tracked"] = self.bn.num_batches_tracked
        return {k: v.detach().clone() for k, v in state.items()}


class Seq(nn.Sequential):
    """``nn.Sequential`` whose plan is its modules' plans in order."""

    def plan(self, p: Planner, x: Shape) -> Shape:
        for module in self:
            x = module.plan(p, x)
        return x


class MaxPool(nn.MaxPool2d):
    """``nn.MaxPool2d`` with a plan (integer kernel, stride and padding)."""

    def plan(self, p: Planner, x: Shape) -> Shape:
        k, s, pad = self.kernel_size, self.stride, self.padding
        return p.pool(x, (x.h + 2 * pad - k) // s + 1, (x.w + 2 * pad - k) // s + 1)


class BasicBlock(nn.Module):
    """ResNet basic block: two 3x3 ConvBNs, a 1x1 ConvBN shortcut when ``project``, add, ReLU.

    Whether the shortcut is projected is structural (first block of a stage), never decided
    by comparing widths, so the supernet and every derived net agree.
    """

    def __init__(self, inp: Dim, out: Dim, stride: int = 1, dilation: int = 1, project: bool = False):
        super().__init__()
        self.conv1 = ConvBNAct(inp, out, 3, stride, dilation)
        self.conv2 = ConvBNAct(out, out, 3, 1, dilation, act=False)
        self.shortcut = ConvBNAct(inp, out, 1, stride, act=False) if project else None
        self.act = nn.ReLU()

    def forward(self, x: Tensor) -> Tensor:
        y = self.conv2(self.conv1(x))
        return self.act(y + (self.shortcut(x) if self.shortcut is not None else x))

    def plan(self, p: Planner, x: Shape) -> Shape:
        y = self.conv2.plan(p, self.conv1.plan(p, x))
        if self.shortcut is not None:
            self.shortcut.plan(p, x)
        return p.act(p.add(y))

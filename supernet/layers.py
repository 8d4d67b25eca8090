"""Building blocks shared by the families: one class serves the supernet and the derived net.

:class:`ConvBNAct` is the only layer with weights. Built from a search :class:`Space` it is
a convolution at the widest width; built from fixed choices it is a plain
``Conv2d -> BatchNorm2d -> ReLU`` of the chosen width (dropped branches are not built).

Where the channel mask goes (FBNetV2's ``m * relu(bn(conv(x)))``, computed cheaply): a
layer's output is *not* masked where it is produced but where it is consumed: every
consuming convolution multiplies its *weights* along the input channels by the mask of
each input segment (the Gumbel-weighted width mask times the segment's keep weight), which
equals convolving the masked activation. Consequences:

* batch-norm statistics are those of the unmasked widest convolution, so every channel's
  running mean and variance are its own whatever width was sampled (no zeros from masked
  channels poison them) and the derived net's sliced batch-norm is exact;
* the gradient of a mask entry is ``<dL/dW', W>`` summed over that input channel, nonzero
  for channels the sample switched off (a mask before the ReLU would block it: relu'(0)=0),
  so wider options and dropped branches still get a learning signal;
* no activation-sized tensor is added: time and memory stay those of the widest net.

A pass that needs no gradient for the arch (a weight step of one sampled network) can instead
run that network alone on slices of these weights (``sliced_state(choices, detach=False)``,
:meth:`supernet.Supernet.sliced_forward`): the same output and weight gradients, for the
sampled network's compute.

Masking commutes with what lies between producer and consumer (resize, pooling, ReLU of
a residual sum, concatenation). Depthwise convs act per channel and pass masks on to their
consumer. A branch whose output is *added* (multires fusion) is gated by ``keep`` in its
last batch-norm's scale and shift (no activation follows it).

Every module also has ``plan(planner, shape) -> shape``, which lists the cost terms of
the *derived* network's forward pass (see :mod:`supernet.cost`).

>>> from supernet.space import Dim
>>> layer = ConvBNAct(Dim(3), Dim(8), kernel=3, stride=2)
>>> layer(torch.zeros(1, 3, 16, 16)).shape
torch.Size([1, 8, 8, 8])
"""
from __future__ import annotations

from typing import Any, Callable, Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .cost import Planner, Shape
from .space import ALWAYS, Dim, Keep, Part, Space


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
    """Conv2d (+ BatchNorm2d) (+ ReLU), searchable in its input and output widths.

    ``inputs``: the input channels, one :class:`Part` per concatenated segment (a
    :class:`Dim` for one); their masks are applied to this conv's weights. ``out``: the
    output width (its mask is applied by the consumers). ``keep``: gates the output (only
    without activation). Padding keeps the size for stride 1; without batch-norm the conv
    has a bias.
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
        if keep.site is not None and act:
            raise ValueError("an output keep gate needs act=False (gate consumers' inputs instead)")
        self.masked = not depthwise and any(p.dim.site is not None or p.keep.site is not None for p in self.parts)
        self.conv = nn.Conv2d(c_in, out.widest, kernel, stride, dilation * (kernel - 1) // 2, dilation,
                              groups=out.widest if depthwise else 1, bias=not bn)
        self.bn = nn.BatchNorm2d(out.widest) if bn else None
        self.act = nn.ReLU() if act else None

    def _input_mask(self) -> Tensor:
        masks = []
        for part in self.parts:
            mask, keep = part.dim.mask(), part.keep.weight()
            if mask is None:
                mask = self.conv.weight.new_ones(part.dim.widest)
            masks.append(mask if keep is None else mask * keep)
        return torch.cat(masks) if len(masks) > 1 else masks[0]

    def forward(self, x: Tensor) -> Tensor:
        c = self.conv
        if self.masked:
            weight = c.weight * self._input_mask().view(1, -1, 1, 1)
            y = F.conv2d(x, weight, c.bias, c.stride, c.padding, c.dilation, c.groups)
        else:
            y = c(x)
        gate = self.keep.weight()
        if self.bn is not None:
            y = self.bn(y) if gate is None else masked_batch_norm(self.bn, y, gate.expand(self.out.widest))
        elif gate is not None:
            y = y * gate
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

    def sliced_state(self, choices: Mapping[str, Any], detach: bool = True) -> dict[str, Tensor]:
        """This layer's weights for the derived net of ``choices`` (keys relative to it): copies, or
        with ``detach=False`` slices of this layer's own tensors (gradients flow back to it, and
        batch-norm updates its running statistics in place: they are prefix views)."""
        n = self.out.value(choices)
        weight = self.conv.weight[:n]
        if not self.depthwise:
            offset, pieces = 0, []
            for part in self.parts:
                if part.keep.value(choices):
                    pieces.append(weight[:, offset:offset + part.dim.value(choices)])
                offset += part.dim.widest
            weight = pieces[0] if len(pieces) == 1 else torch.cat(pieces, 1)
        state = {"conv.weight": weight}
        if self.conv.bias is not None:
            state["conv.bias"] = self.conv.bias[:n]
        if self.bn is not None:
            for name in ("weight", "bias", "running_mean", "running_var"):
                state[f"bn.{name}"] = getattr(self.bn, name)[:n]
            state["bn.num_batches_tracked"] = self.bn.num_batches_tracked
        return {k: v.detach().clone() for k, v in state.items()} if detach else state


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
        return p.pool(x, (x.h + 2 * pad - k) // s + 1, (x.w + 2 * pad - k) // s + 1, window=k * k)


class BasicBlock(nn.Module):
    """ResNet basic block: two 3x3 ConvBNs, a 1x1 ConvBN shortcut when ``project``, add, ReLU.

    Whether the shortcut is projected is structural (first block of a stage), never decided
    by comparing widths, so the supernet and every derived net agree. ``keep`` (a block without
    projection only): the residual branch is gated in its last batch-norm, so a dropped block is
    the identity (its input is a ReLU's output); a derived net builds :class:`Skip` in its place.
    """

    def __init__(self, inp: Dim, out: Dim, stride: int = 1, dilation: int = 1, project: bool = False,
                 keep: Keep = ALWAYS):
        super().__init__()
        if project and keep.site is not None:
            raise ValueError("a block with a projected shortcut cannot be dropped")
        self.keep = keep
        self.conv1 = ConvBNAct(inp, out, 3, stride, dilation)
        self.conv2 = ConvBNAct(out, out, 3, 1, dilation, act=False, keep=keep)
        self.shortcut = ConvBNAct(inp, out, 1, stride, act=False) if project else None
        self.act = nn.ReLU()

    def forward(self, x: Tensor) -> Tensor:
        y = self.conv2(self.conv1(x))
        return self.act(y + (self.shortcut(x) if self.shortcut is not None else x))

    def plan(self, p: Planner, x: Shape) -> Shape:
        with p.present(self.keep.expr):
            y = self.conv2.plan(p, self.conv1.plan(p, x))
            if self.shortcut is not None:
                self.shortcut.plan(p, x)
            p.act(p.add(y))
        return y


class Skip(nn.Identity):
    """What a derived net builds for a dropped block: the identity, at no cost."""

    def plan(self, p: Planner, x: Shape) -> Shape:
        return x


def droppable(space: Space, name: str, block: Callable[..., nn.Module], *args: Any, **kwargs: Any) -> nn.Module:
    """A residual block that keep site ``name`` may drop (searchable depth): ``block(*args,
    **kwargs, keep=keep)``, its branch gated by the site, or :class:`Skip` where the site is false."""
    keep = space.keep(name)
    return block(*args, **kwargs, keep=keep) if keep.present else Skip()

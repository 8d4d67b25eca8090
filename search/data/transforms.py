"""Training transform: random scale, random crop (padding with ignore), random horizontal flip.

Deterministic: the random draws come from a ``torch.Generator`` seeded with
``(seed, epoch, index)``, so an item is the same whichever worker or process loads it.

>>> import torch
>>> t = TrainTransform(scale_range=(0.5, 2.0), crop=(32, 32), flip=True, seed=0)
>>> img, mask = t(torch.rand(3, 40, 60), torch.zeros(40, 60, dtype=torch.long), index=3, epoch=0)
>>> tuple(img.shape), tuple(mask.shape)
((3, 32, 32), (32, 32))
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from supernet import IGNORE_INDEX


@dataclass(frozen=True)
class TrainTransform:
    """Scale by a factor drawn uniformly from ``scale_range``, crop ``crop`` = (H, W)
    (default: the input's own size), flip left-right with probability 0.5 when ``flip``."""

    scale_range: tuple[float, float] = (0.5, 2.0)
    crop: tuple[int, int] | None = None
    flip: bool = True
    seed: int = 0

    def generator(self, index: int, epoch: int) -> torch.Generator:
        g = torch.Generator()
        g.manual_seed((self.seed * 1_000_003 + epoch) * 2_000_029 + index)
        return g

    def __call__(self, image: Tensor, mask: Tensor, index: int, epoch: int = 0) -> tuple[Tensor, Tensor]:
        g = self.generator(index, epoch)
        h, w = image.shape[1:]
        ch, cw = self.crop or (h, w)
        lo, hi = self.scale_range
        s = lo + (hi - lo) * float(torch.rand((), generator=g))
        sh, sw = max(1, round(h * s)), max(1, round(w * s))
        if (sh, sw) != (h, w):
            image = F.interpolate(image[None], size=(sh, sw), mode="bilinear", align_corners=False,
                                  antialias=s < 1)[0].clamp_(0, 1)
            mask = F.interpolate(mask[None, None].float(), size=(sh, sw), mode="nearest")[0, 0].long()
        pad_h, pad_w = max(0, ch - sh), max(0, cw - sw)
        if pad_h or pad_w:
            image = F.pad(image, (0, pad_w, 0, pad_h), value=0.0)
            mask = F.pad(mask, (0, pad_w, 0, pad_h), value=IGNORE_INDEX)
        top = int(torch.randint(0, image.shape[1] - ch + 1, (), generator=g))
        left = int(torch.randint(0, image.shape[2] - cw + 1, (), generator=g))
        image = image[:, top:top + ch, left:left + cw]
        mask = mask[top:top + ch, left:left + cw]
        if self.flip and float(torch.rand((), generator=g)) < 0.5:
            image, mask = image.flip(-1), mask.flip(-1)
        return image.contiguous(), mask.contiguous()

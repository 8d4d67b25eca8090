"""The deployed computation: native-resolution image -> inference scale -> network -> native-size logits.

:class:`DeployedNet` wraps a derived network so that one module (and the ``derived.pt2`` /
``derived.onnx`` exported from it) does what evaluation does (``search.evaluate``): the image,
``(N, 3, H, W)`` floats in [0, 1], is resized to ``scaled_size(H, s) x scaled_size(W, s)``
(bilinear, ``align_corners=False``, antialiased when shrinking, as
:func:`supernet.gates.resize_images`), the network runs, and its logits are resized back to
``H x W`` (bilinear, as :func:`supernet.gates.upsample_logits`).

Sizes: eagerly, :func:`supernet.scaled_size` (Python's ``round``, halves to even). Under
``torch.export`` a side is a symbol; writing the scale as a fraction ``n / d``, the exported
program takes sides that are multiples of ``d`` (:func:`size_multiple`: 1 at scale 1.0, 2 at
0.5, 4 at 0.75, 10 at 0.3), for which the scaled side is exactly ``side // d * n``, the same
as ``scaled_size``, and a plain linear expression for the exporters.

>>> import torch
>>> net = DeployedNet(torch.nn.Conv2d(3, 2, 1), inference_scale=0.5)
>>> net(torch.zeros(1, 3, 40, 60)).shape
torch.Size([1, 2, 40, 60])
>>> size_multiple(0.75), scale_fraction(0.75)
(4, (3, 4))
"""
from __future__ import annotations

import math
from fractions import Fraction
from typing import Any

import torch.nn.functional as F
from torch import Tensor, nn

from .sizes import scaled_size

#: total stride of each family's deepest feature map (the exported program needs it >= 2 pixels)
OUTPUT_STRIDE = {"deeplabv3plus": 16, "pspnet": 8, "multires": 32}
MAX_DENOMINATOR = 4096


def scale_fraction(scale: float) -> tuple[int, int]:
    """``scale`` as ``(n, d)``, exact for binary fractions, else the nearest with ``d <= 4096``."""
    frac = Fraction(scale).limit_denominator(MAX_DENOMINATOR)
    return frac.numerator, frac.denominator


def size_multiple(scale: float) -> int:
    """``d`` of :func:`scale_fraction`: sides of the exported deployed program are multiples of it."""
    return scale_fraction(scale)[1]


def min_native_size(family: str, scale: float, deployed: bool = True) -> int:
    """The smallest side the exported program accepts (a multiple of :func:`size_multiple` when
    ``deployed``): the deepest feature map at least 2 pixels (a 1-pixel map broadcasts
    differently, so ``torch.export`` cannot cover both).

    >>> min_native_size("pspnet", 0.75), min_native_size("pspnet", 1.0)
    (24, 17)
    """
    need = 2 * OUTPUT_STRIDE[family] + 1
    if not deployed:
        return need
    n, d = scale_fraction(scale)
    return d * math.ceil(need / n)


def _side(size: Any, scale: float) -> Any:
    if isinstance(size, int):
        return scaled_size(size, scale)
    n, d = scale_fraction(scale)
    return size // d * n  # exported: size is a multiple of d


class ResizeInput(nn.Module):
    """The image resized by ``scale`` (bilinear, antialiased when shrinking); a no-op at 1.0."""

    def __init__(self, scale: float) -> None:
        super().__init__()
        self.scale = float(scale)

    def forward(self, x: Tensor) -> Tensor:
        if self.scale == 1.0:
            return x
        size = (_side(x.shape[-2], self.scale), _side(x.shape[-1], self.scale))
        return F.interpolate(x, size=size, mode="bilinear", align_corners=False, antialias=self.scale < 1)

    def extra_repr(self) -> str:
        return f"scale={self.scale}"


class ResizeOutput(nn.Module):
    """Logits resized to ``size`` (bilinear); a no-op when they already have it."""

    def forward(self, y: Tensor, size: tuple[Any, Any]) -> Tensor:
        return F.interpolate(y, size=size, mode="bilinear", align_corners=False)


class DeployedNet(nn.Module):
    """``net`` as deployed: native image in, native-size logits out (see the module docstring).

    Layer names: ``resize_input``, ``net.<the network's own names>``, ``resize_output``.
    """

    def __init__(self, net: nn.Module, inference_scale: float = 1.0) -> None:
        super().__init__()
        if isinstance(inference_scale, bool) or not isinstance(inference_scale, (int, float)) \
                or not 0 < inference_scale <= 4:
            raise ValueError(f"inference_scale must be a number in (0, 4], got {inference_scale!r}")
        self.inference_scale = float(inference_scale)
        self.resize_input = ResizeInput(self.inference_scale)
        self.net = net
        self.resize_output = ResizeOutput()

    def forward(self, x: Tensor) -> Tensor:
        size = (x.shape[-2], x.shape[-1])
        y = self.net(self.resize_input(x))
        if self.inference_scale == 1.0:
            return y  # the families return logits at their input's size
        return self.resize_output(y, size)

"""The model families: a registry that is a dict (family name -> constructor).

Each constructor takes ``(space, num_classes)`` and builds the supernet (search space) or
a fixed network (fixed space); see :mod:`supernet.space`.

>>> sorted(FAMILIES)
['deeplabv3plus', 'multires', 'pspnet']
"""
from __future__ import annotations

from typing import Callable

from torch import nn

from ..space import ArchError, Space
from .deeplabv3plus import DeepLabV3Plus
from .multires import MultiRes
from .pspnet import PSPNet

FAMILIES: dict[str, Callable[[Space, int], nn.Module]] = {
    "deeplabv3plus": DeepLabV3Plus,
    "pspnet": PSPNet,
    "multires": MultiRes,
}


def build_family(family: str, num_classes: int, space: Space) -> nn.Module:
    """The network of ``family`` for ``space`` (search: the supernet's net; fixed: a plain net)."""
    if family not in FAMILIES:
        raise ArchError(f"unknown family {family!r}; known families: {', '.join(FAMILIES)}")
    if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 1:
        raise ArchError(f"num_classes must be a positive integer, got {num_classes!r}")
    return FAMILIES[family](space, num_classes)

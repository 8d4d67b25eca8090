"""Input sizes at a scale: the one rounding rule of the whole project.

>>> scaled_size(64, 0.75), scaled_size(5, 0.5), scaled_size(1, 0.1)
(48, 2, 1)
"""
from __future__ import annotations


def scaled_size(size: int, scale: float) -> int:
    """Side length of an input resized by ``scale``: ``max(1, round(size * scale))``.

    Python's ``round`` (halves to even), as ``supernet.gates.resize_images`` and the data
    pipeline resize images, so costs are computed at the sizes the network really sees.
    """
    return max(1, round(size * scale))

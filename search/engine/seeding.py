"""Seeds as a pure function of names: every random draw of a step can be replayed on resume.

>>> derive_seed(0, "search", 3) == derive_seed(0, "search", 3) != derive_seed(0, "search", 4)
True
"""
from __future__ import annotations

import hashlib
import random

import numpy as np
import torch


def derive_seed(*parts: object) -> int:
    """A 63-bit seed from any parts, e.g. ``derive_seed(seed, "search", step)``."""
    digest = hashlib.blake2b("/".join(map(str, parts)).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") >> 1


def seed_step(*parts: object) -> int:
    """Seed torch, numpy and python from ``parts``: every random draw of a step is replayable."""
    seed = derive_seed(*parts)
    torch.manual_seed(seed)
    np.random.seed(seed % 2**32)
    random.seed(seed)
    return seed

"""Choice sites: one architecture decision each, with logits and the current sample.

A site has a stable dotted ``name`` (the key in arch.json ``choices``), its ``options``
(channel counts for a width site, ``(False, True)`` for a keep site) and ``logits`` (an
``nn.Parameter``). The supernet sets ``weights`` (a vector over the options: a Gumbel
sample, soft or hard straight-through, or an exact one-hot) once per forward pass, and
every layer using the site reads it.

>>> site = ChoiceSite("backbone.stage1.width", width_options(16, (0.25, 0.5, 1.0)))
>>> site.options
(4, 8, 16)
>>> site.weights = site.one_hot(8)
>>> site.mask().tolist()[:10]
[1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 0.0, 0.0]
"""
from __future__ import annotations

from typing import Any, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

#: default width options: the widest times k/16 for k = 4..16 (1/4 ... 1 in steps of 1/16)
DEFAULT_WIDTH_FRACTIONS: tuple[float, ...] = tuple(k / 16 for k in range(4, 17))
#: every channel count is a multiple of this
CHANNEL_MULTIPLE = 4
KEEP_OPTIONS = (False, True)


def round_channels(x: float) -> int:
    """Nearest multiple of :data:`CHANNEL_MULTIPLE` (halves round up), at least one multiple."""
    return max(CHANNEL_MULTIPLE, int(x / CHANNEL_MULTIPLE + 0.5) * CHANNEL_MULTIPLE)


def width_options(widest: int, fractions: Sequence[float] = DEFAULT_WIDTH_FRACTIONS) -> tuple[int, ...]:
    """The channel counts a width site offers: ``round_channels(widest * f)``, sorted, unique."""
    return tuple(sorted({round_channels(widest * f) for f in fractions}))


class ChoiceSite(nn.Module):
    """One architecture decision: ``options``, learnable ``logits`` and the current ``weights``."""

    def __init__(self, name: str, options: Sequence[Any]):
        super().__init__()
        if len(options) < 1:
            raise ValueError(f"choice site {name!r} needs at least one option")
        self.name, self.options = name, tuple(options)
        self.is_keep = self.options == KEEP_OPTIONS
        self.logits = nn.Parameter(torch.zeros(len(self.options)))
        self.register_buffer("values", torch.tensor([float(v) for v in self.options], dtype=torch.float64),
                             persistent=False)
        if not self.is_keep:  # masks[k, c] = 1 where channel c is used by option k
            widest = max(self.options)
            masks = (torch.arange(widest)[None, :] < torch.tensor(self.options)[:, None]).float()
            self.register_buffer("masks", masks, persistent=False)
        self._weights: Tensor | None = None
        self._mask: Tensor | None = None

    @property
    def weights(self) -> Tensor | None:
        """The current weights over the options (set by the supernet once per forward pass)."""
        return self._weights

    @weights.setter
    def weights(self, value: Tensor | None) -> None:
        self._weights, self._mask = value, None

    def index(self, value: Any) -> int:
        for i, option in enumerate(self.options):
            if type(option) is type(value) and option == value:
                return i
        raise ValueError(f"choice {self.name!r}: {value!r} is not one of its options {list(self.options)}")

    def one_hot(self, value: Any) -> Tensor:
        out = torch.zeros(len(self.options), device=self.logits.device)
        out[self.index(value)] = 1.0
        return out

    def expected(self, probs: Tensor) -> Tensor:
        """E[value] under ``probs`` (float64): the mean width, or the probability of keeping."""
        return probs.to(torch.float64) @ self.values

    def mask(self) -> Tensor:
        """Channel mask of a width site under the current weights: ``weights @ masks``.

        Computed once per sample and shared by every layer using the site.
        """
        if self._mask is None:
            self._mask = self._current() @ self.masks
        return self._mask

    def keep_weight(self) -> Tensor:
        """Weight of ``True`` for a keep site under the current weights (0/1 when hard)."""
        return self._current()[1]

    def _current(self) -> Tensor:
        if self._weights is None:
            raise RuntimeError(f"choice site {self.name!r} has no weights yet: run the network through its "
                               f"Supernet, which samples them, or call Supernet.set_mode('fixed', arch=...)")
        return self._weights

    def extra_repr(self) -> str:
        return f"{self.name!r}, options={list(self.options)}"


def gumbel_softmax(logits: Tensor, tau: float, hard: bool = True,
                   generator: torch.Generator | None = None) -> tuple[Tensor, Tensor]:
    """A Gumbel-softmax sample over the last dim, ``(weights, soft)``.

    ``soft`` is the softmax of the Gumbel-perturbed ``logits / tau``; ``weights`` is ``soft``,
    or when ``hard`` its argmax one-hot, straight-through (:func:`straight_through`). The
    supernet needs ``soft`` as well (which branch of a group to keep), which
    ``F.gumbel_softmax(hard=True)`` does not return.

    Noise: without ``generator``, :func:`torch.nn.functional.gumbel_softmax`'s (the global
    RNG of the logits' device); with a CPU ``generator``, uniform draws from it on the CPU
    (``-log(-log u)``), so a seed gives the same sample on any device.

    >>> logits = torch.tensor([[0.0, 1.0, 2.0]])
    >>> a, _ = gumbel_softmax(logits, 1.0, generator=torch.Generator().manual_seed(0))
    >>> b, _ = gumbel_softmax(logits, 1.0, generator=torch.Generator().manual_seed(0))
    >>> torch.equal(a, b), a.sum().item()
    (True, 1.0)
    """
    if generator is None:
        soft = F.gumbel_softmax(logits, tau)
    else:
        u = torch.rand(logits.shape, generator=generator, dtype=logits.dtype).to(logits.device)
        gumbels = -torch.log(-torch.log(u.clamp(1e-10, 1 - 1e-10)))
        soft = F.softmax((logits + gumbels) / tau, dim=-1)
    return (straight_through(soft), soft) if hard else (soft, soft)


def straight_through(soft: Tensor, index: int | Tensor | None = None) -> Tensor:
    """One-hot at ``index`` (default: the argmax) over the last dim in the forward pass, the
    gradient of ``soft`` in the backward pass."""
    index = soft.argmax(-1) if index is None else torch.as_tensor(index, device=soft.device)
    hard = torch.zeros_like(soft).scatter_(-1, index.unsqueeze(-1), 1.0)
    return hard - soft.detach() + soft

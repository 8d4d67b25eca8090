"""The search space as the families see it: one code path for the supernet and fixed nets.

A family's constructor asks a :class:`Space` for every decision by name
(``space.width("backbone.stage2.width", 32)``, ``space.keep("head.aspp.rate12")``).
In search mode (``choices=None``) each name becomes a :class:`ChoiceSite` and layers are
built at their widest; in fixed mode the value is read from ``choices`` and layers are
built at that width, dropped branches not at all. Both modes record every site's options,
so building a fixed net validates its choices.

>>> space = Space()
>>> dim = space.width("stem.width", 16)
>>> dim.widest, dim.site.options
(16, (4, 8, 12, 16))
>>> fixed = Space({"stem.width": 8})
>>> fixed.width("stem.width", 16).widest
8
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Mapping, Sequence

from torch import Tensor

from .expr import Const, Expr, Mean
from .sites import DEFAULT_WIDTH_FRACTIONS, KEEP_OPTIONS, ChoiceSite, round_channels, width_options


class ArchError(ValueError):
    """An arch (dict or arch.json) that does not describe a network of its family."""


#: the most channels any layer may have (checked before a layer is built; the widest default
#: layer has 384). A program that means to build wider networks raises it.
MAX_CHANNELS = 4096
#: the smallest entry of ``width_fractions``
MIN_WIDTH_FRACTION = 1 / 64


def keep_one_per_group(choices: Mapping[str, Any], groups: Iterable[Sequence[str]],
                       pick: Callable[[Sequence[str]], str]) -> dict[str, Any]:
    """``choices`` (a copy) with one branch kept in every group whose keep sites are all false.

    ``groups`` are names of keep sites of which at least one must be kept
    (:meth:`Space.at_least_one`); ``pick(group)`` names the branch to keep, and is called
    only for such groups, in order (the supernet picks the likeliest, ``random_arch`` one at
    random).

    >>> keep_one_per_group({"a": False, "b": False, "c": True, "d": False}, [("a", "b"), ("c", "d")],
    ...                    pick=lambda group: group[-1])
    {'a': False, 'b': True, 'c': True, 'd': False}
    """
    out = dict(choices)
    for group in groups:
        if not any(out[name] for name in group):
            out[pick(group)] = True
    return out


@dataclass(eq=False)
class Dim:
    """A channel count: fixed, or set by a width site (the layer is then built ``widest`` wide)."""

    widest: int
    site: ChoiceSite | None = None

    @property
    def expr(self) -> Expr:
        return Mean(self.site.name) if self.site is not None else Const(self.widest)

    def value(self, choices: Mapping[str, Any]) -> int:
        return int(choices[self.site.name]) if self.site is not None else self.widest

    def mask(self) -> Tensor | None:
        return self.site.mask() if self.site is not None else None


@dataclass(eq=False)
class Keep:
    """Whether a branch exists: always (``site=None, present=True``), never, or per a keep site."""

    present: bool = True
    site: ChoiceSite | None = None

    @property
    def expr(self) -> Expr:
        return Mean(self.site.name) if self.site is not None else Const(1.0 if self.present else 0.0)

    def value(self, choices: Mapping[str, Any]) -> bool:
        return bool(choices[self.site.name]) if self.site is not None else self.present

    def weight(self) -> Tensor | None:
        return self.site.keep_weight() if self.site is not None else None


ALWAYS = Keep()


@dataclass(eq=False)
class Part:
    """One segment of a layer's input channels (several when the input is a concatenation)."""

    dim: Dim
    keep: Keep = ALWAYS


class Space:
    """Hands out widths and keeps by name: search sites, or the values of a fixed arch.

    ``widest`` scales the family's widest widths (then rounded to multiples of 4);
    ``width_fractions`` are the fractions of the widest that width sites offer.
    """

    def __init__(self, choices: Mapping[str, Any] | None = None, widest: float = 1.0,
                 width_fractions: Sequence[float] = DEFAULT_WIDTH_FRACTIONS):
        if (isinstance(widest, bool) or not isinstance(widest, (int, float)) or not math.isfinite(widest)
                or not widest > 0):
            raise ArchError(f"space option widest must be a finite number > 0, got {widest!r}")
        if (not isinstance(width_fractions, (list, tuple)) or not width_fractions
                or not all(isinstance(f, (int, float)) and not isinstance(f, bool)
                           and MIN_WIDTH_FRACTION <= f <= 1 for f in width_fractions)):
            raise ArchError(f"space option width_fractions must be fractions in [1/64, 1], got {width_fractions!r}")
        self.choices = None if choices is None else dict(choices)
        self.widest, self.width_fractions = float(widest), tuple(float(f) for f in width_fractions)
        self.sites: dict[str, ChoiceSite] = {}
        self.options: dict[str, tuple] = {}
        self.groups: list[tuple[str, ...]] = []  # keep sites of which at least one must be kept

    @property
    def search(self) -> bool:
        return self.choices is None

    def width(self, name: str, channels: int) -> Dim:
        """A searched channel count whose widest option is ``channels`` (times ``widest``)."""
        widest = round_channels(channels * self.widest)
        if widest > MAX_CHANNELS:
            raise ArchError(f"space option widest={self.widest:g} makes {name!r} {widest} channels wide, above "
                            f"the limit of {MAX_CHANNELS} channels (supernet.space.MAX_CHANNELS)")
        self._register(name, width_options(widest, self.width_fractions))
        if self.search:
            return Dim(widest, self.sites[name])
        return Dim(self._value(name))

    def keep(self, name: str) -> Keep:
        """A branch that can be kept or dropped."""
        self._register(name, KEEP_OPTIONS)
        if self.search:
            return Keep(True, self.sites[name])
        return Keep(self._value(name))

    def at_least_one(self, names: Sequence[str]) -> None:
        """At least one of these keep sites must be ``True`` (checked for fixed choices)."""
        self.groups.append(tuple(names))
        if not self.search and not any(self.choices[n] for n in names):
            raise ArchError(f"choices {', '.join(names)} are all false; at least one branch must be kept")

    def _register(self, name: str, options: tuple) -> None:
        if name in self.options:
            if self.options[name] != options:
                raise ValueError(f"site {name!r} registered twice with different options")
            return
        self.options[name] = options
        if self.search:
            self.sites[name] = ChoiceSite(name, options)

    def _value(self, name: str) -> Any:
        if name not in self.choices:
            raise ArchError(f"missing choice {name!r} (options: {list(self.options[name])})")
        value = self.choices[name]
        if not any(type(o) is type(value) and o == value for o in self.options[name]):
            raise ArchError(f"choice {name!r}: {value!r} is not one of its options {list(self.options[name])}")
        return value

    def space_options(self) -> dict[str, Any]:
        """The options this space was built with (stored in arch.json ``space``)."""
        return {"widest": self.widest, "width_fractions": list(self.width_fractions)}

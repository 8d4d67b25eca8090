"""Expected values of the architecture choices, as small symbolic expressions.

A layer's channel count or its presence in the derived network is written once, as an
expression over choice sites; :mod:`supernet.cost` evaluates it for any choice
probabilities (a float64 tensor with gradients) and ``Const`` folding makes the same
expression a plain number in a fixed network.

* ``Mean(name)``: the expected value of the site (a width, or the probability of ``True``).
* ``a + b``, ``a * b``: sums and products (sites are independent, so the expectation of a
  product of different sites is the product of their expectations).
* ``at_least(k, exprs)``: the probability that at least ``k`` of independent Bernoulli
  events with those probabilities happen.

>>> import torch
>>> e = Mean("w") * Mean("keep") + 3
>>> float(e.evaluate({"w": torch.tensor(16.0), "keep": torch.tensor(0.5)}))
11.0
"""
from __future__ import annotations

from typing import Mapping, Sequence, Union

import torch
from torch import Tensor


class Expr:
    """Base class; ``key`` identifies equal expressions (used to evaluate each one once)."""

    key: tuple

    def evaluate(self, env: Mapping[str, Tensor], memo: dict | None = None) -> Tensor:
        memo = {} if memo is None else memo
        if self.key not in memo:
            memo[self.key] = self._evaluate(env, memo)
        return memo[self.key]

    def _evaluate(self, env: Mapping[str, Tensor], memo: dict) -> Tensor:
        raise NotImplementedError

    def __add__(self, other: "ExprLike") -> "Expr":
        return add(self, other)

    __radd__ = __add__

    def __mul__(self, other: "ExprLike") -> "Expr":
        return mul(self, other)

    __rmul__ = __mul__

    def __repr__(self) -> str:
        return f"{type(self).__name__}{self.key[1:]}"


ExprLike = Union[Expr, int, float]


class Const(Expr):
    def __init__(self, value: float):
        self.value = float(value)
        self.key = ("const", self.value)

    def _evaluate(self, env: Mapping[str, Tensor], memo: dict) -> Tensor:
        return torch.tensor(self.value, dtype=torch.float64)


class Mean(Expr):
    """The expected value of one choice site, looked up by name in ``env``."""

    def __init__(self, name: str):
        self.name = name
        self.key = ("mean", name)

    def _evaluate(self, env: Mapping[str, Tensor], memo: dict) -> Tensor:
        return env[self.name]


class _Sum(Expr):
    def __init__(self, terms: Sequence[Expr]):
        self.terms = tuple(terms)
        self.key = ("sum",) + tuple(t.key for t in self.terms)

    def _evaluate(self, env: Mapping[str, Tensor], memo: dict) -> Tensor:
        out = self.terms[0].evaluate(env, memo)
        for t in self.terms[1:]:
            out = out + t.evaluate(env, memo)
        return out


class _Prod(Expr):
    def __init__(self, factors: Sequence[Expr]):
        self.factors = tuple(factors)
        self.key = ("prod",) + tuple(f.key for f in self.factors)

    def _evaluate(self, env: Mapping[str, Tensor], memo: dict) -> Tensor:
        out = self.factors[0].evaluate(env, memo)
        for f in self.factors[1:]:
            out = out * f.evaluate(env, memo)
        return out


class _AtLeast(Expr):
    def __init__(self, k: int, events: Sequence[Expr]):
        self.k, self.events = k, tuple(events)
        self.key = ("at_least", k) + tuple(e.key for e in self.events)

    def _evaluate(self, env: Mapping[str, Tensor], memo: dict) -> Tensor:
        # dist[i] = P(exactly i events so far), for i < k; the rest is "k or more"
        dist = [torch.tensor(1.0, dtype=torch.float64)] + [torch.tensor(0.0, dtype=torch.float64)] * (self.k - 1)
        for e in self.events:
            p = e.evaluate(env, memo)
            dist = [dist[0] * (1 - p)] + [dist[i] * (1 - p) + dist[i - 1] * p for i in range(1, self.k)]
        return 1 - sum(dist[1:], dist[0])


def as_expr(x: ExprLike) -> Expr:
    return x if isinstance(x, Expr) else Const(x)


def add(*xs: ExprLike) -> Expr:
    """Sum, folding constants and flattening nested sums."""
    const, terms = 0.0, []
    for x in map(as_expr, xs):
        if isinstance(x, Const):
            const += x.value
        else:
            terms.extend(x.terms if isinstance(x, _Sum) else [x])
    if not terms:
        return Const(const)
    if const:
        terms.append(Const(const))
    return terms[0] if len(terms) == 1 else _Sum(terms)


def mul(*xs: ExprLike) -> Expr:
    """Product, folding constants and flattening nested products."""
    const, factors = 1.0, []
    for x in map(as_expr, xs):
        if isinstance(x, Const):
            const *= x.value
        else:
            factors.extend(x.factors if isinstance(x, _Prod) else [x])
    if not factors or const == 0.0:
        return Const(const)
    if const != 1.0:
        factors.insert(0, Const(const))
    return factors[0] if len(factors) == 1 else _Prod(factors)


def at_least(k: int, events: Sequence[ExprLike]) -> Expr:
    """P(at least ``k`` of the independent events happen); constants fold (0 or 1 each)."""
    events = [as_expr(e) for e in events]
    certain = sum(1 for e in events if isinstance(e, Const) and e.value == 1.0)
    uncertain = [e for e in events if not isinstance(e, Const)]
    if any(isinstance(e, Const) and e.value not in (0.0, 1.0) for e in events):
        uncertain = events  # fractional constants: no shortcut
        certain = 0
    need = k - certain
    if need <= 0:
        return Const(1.0)
    if need > len(uncertain):
        return Const(0.0)
    return _AtLeast(need, uncertain)

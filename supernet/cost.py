"""Differentiable expected cost of a supernet, with the formulas of ``cost_models``.

Every family module has ``plan(planner, shape)``, which walks the *derived* network's
forward pass and records one :class:`Term` per op that ``cost_models.profile`` traces
(conv, batch-norm, ReLU, add, pooling, resize, concatenation). A term's channel counts
and its presence are :mod:`supernet.expr` expressions over the choice sites; its spatial
sizes are plain integers computed exactly as the network computes them.

:class:`CostPlan` compiles the terms of one input shape (and several inference scales)
once: terms are grouped by op and static attributes, every group becomes one call of its
per-op ``*_work`` function on vectors of layers (x scales), and the groups' work is
concatenated so that :func:`cost_models.formulas.layer_cost` runs once for the whole
network. Evaluating it for new probabilities is a few hundred small tensor ops.

Expected cost: each term costs ``P(present) * layer_cost(work(E[c_in], E[c_out], ...))``
(the plug-in expectation of DESIGN.md §2; exact for MACs, exact for everything when the
probabilities are one-hot, where it equals ``cost_models.profile`` of the derived net).

>>> from supernet.expr import Mean
>>> p = Planner(batch=1)
>>> y = p.conv(Shape(Const(3), 32, 32), Mean("w"), kernel=3, stride=2, padding=1)
>>> (y.h, y.w, len(p.terms))
(16, 16, 1)
"""
from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass, fields
from typing import Iterator, Mapping, Sequence

import torch
from torch import Tensor

from cost_models.formulas import (Cost, Work, activation_work, batchnorm_work, binary_work, concat_work, conv2d_work,
                                  layer_cost, pool_work, resize_work, training_passes)
from cost_models.target import Target

from .expr import Const, Expr, ExprLike, as_expr, mul


@dataclass(frozen=True)
class Shape:
    """A feature map in a plan: channel count (an expression) and exact spatial size."""

    c: Expr
    h: int
    w: int


@dataclass(frozen=True)
class Term:
    """One traced op of the derived net. ``static`` holds what groups terms (kernel, bias, mode)."""

    op: str
    static: tuple
    presence: Expr
    c_in: Expr
    c_out: Expr
    groups: Expr
    h_in: int
    w_in: int
    h_out: int
    w_out: int


class Planner:
    """Records the cost terms of one forward pass at one input size."""

    def __init__(self, batch: int):
        self.batch = batch
        self.terms: list[Term] = []
        self._presence: list[Expr] = [Const(1.0)]

    @contextmanager
    def present(self, expr: ExprLike) -> Iterator[None]:
        """Terms recorded inside exist with probability ``expr`` (nested: multiplied)."""
        self._presence.append(mul(self._presence[-1], expr))
        try:
            yield
        finally:
            self._presence.pop()

    def _add(self, op: str, static: tuple, x: Shape, y: Shape, groups: ExprLike = 1) -> Shape:
        presence = self._presence[-1]
        if not (isinstance(presence, Const) and presence.value == 0.0):
            self.terms.append(Term(op, static, presence, x.c, y.c, as_expr(groups), x.h, x.w, y.h, y.w))
        return y

    def conv(self, x: Shape, c_out: ExprLike, kernel: int, stride: int = 1, padding: int = 0,
             dilation: int = 1, groups: ExprLike = 1, bias: bool = False) -> Shape:
        h = (x.h + 2 * padding - dilation * (kernel - 1) - 1) // stride + 1
        w = (x.w + 2 * padding - dilation * (kernel - 1) - 1) // stride + 1
        return self._add("conv", (kernel, bias), x, Shape(as_expr(c_out), h, w), groups)

    def bn(self, x: Shape) -> Shape:
        return self._add("bn", (), x, x)

    def act(self, x: Shape) -> Shape:
        return self._add("act", (), x, x)

    def add(self, x: Shape) -> Shape:
        """An element-wise sum of two tensors of ``x``'s shape."""
        return self._add("add", (), x, x)

    def pool(self, x: Shape, h: int, w: int, window: int | None = None) -> Shape:
        """Pooling to ``h`` x ``w``: a fixed ``window`` (k x k elements), or adaptive (None)."""
        return self._add("pool", (window,), x, Shape(x.c, h, w))

    def resize(self, x: Shape, h: int, w: int, mode: str = "bilinear") -> Shape:
        return self._add("resize", (mode,), x, Shape(x.c, h, w))

    def cat(self, c: ExprLike, h: int, w: int) -> Shape:
        """A concatenation whose output has ``c`` channels (the sum of its inputs')."""
        y = Shape(as_expr(c), h, w)
        return self._add("cat", (), y, y)


def _work(g: "_Group", batch: int, c_in: Tensor, c_out: Tensor, groups: Tensor) -> Work:
    """The per-op ``*_work`` of a group of terms (vectors over layers, x scales)."""
    if g.op == "conv":
        kernel, bias = g.static
        h_in, w_in, h_out, w_out = g.spatial
        return conv2d_work(batch, c_in, c_out, h_in, w_in, h_out, w_out, (kernel, kernel), groups, bias)
    numel_in, numel_out = c_in * g.pixels_in, c_out * g.pixels_out
    if g.op == "bn":
        return batchnorm_work(numel_out, c_out)
    if g.op == "act":
        return activation_work(numel_out)
    if g.op == "add":
        return binary_work(numel_out, 2)
    if g.op == "pool":
        return pool_work(numel_in, numel_out, g.static[0])
    if g.op == "resize":
        return resize_work(numel_in, numel_out, g.static[0])
    if g.op == "cat":
        return concat_work(numel_out)
    raise ValueError(f"unknown op {g.op!r} in a cost plan")


def _as(x: Tensor, shape: tuple[int, int]) -> Tensor:
    return x if x.shape == shape else x.expand(shape)


def _layer_costs(work: Work, target: Target, training: bool, num_scales: int, num_layers: int) -> Tensor:
    """Every :class:`Cost` field of ``layer_cost`` for a vector of layers: ``[fields, S, L]``.

    For a training step, ``layer_cost`` sums one pass per :func:`training_passes` entry and
    keeps the forward pass's params and activations; the passes are evaluated here in one
    call on their concatenation (the same numbers, one call instead of four).
    """
    shape = (num_scales, num_layers)
    if not training:
        cost = layer_cost(work, target)
        return torch.stack([_as(getattr(cost, f.name), shape) for f in fields(Cost)])
    passes = training_passes(work)
    cat = {f.name: (torch.cat([_as(getattr(p, f.name), shape) for p in passes], -1)
                    if torch.is_tensor(getattr(work, f.name)) else getattr(work, f.name)) for f in fields(Work)}
    cost = layer_cost(Work(**cat), target)
    out = []
    for f in fields(Cost):
        if f.name == "params":
            out.append(_as(work.params, shape))
        elif f.name == "activations":
            out.append(_as(work.act_out, shape))
        else:
            out.append(_as(getattr(cost, f.name), (num_scales, len(passes) * num_layers))
                       .view(num_scales, len(passes), num_layers).sum(1))
    return torch.stack(out)


@dataclass
class _Group:
    op: str
    static: tuple
    presence: Tensor  # indices into the plan's expressions, [L]
    c_in: Tensor
    c_out: Tensor
    groups: Tensor
    spatial: tuple[Tensor, ...]  # h_in, w_in, h_out, w_out: [S, L] float64 each
    pixels_in: Tensor            # batch * h_in * w_in, [S, L]
    pixels_out: Tensor           # batch * h_out * w_out, [S, L]
    size: int                    # L


class CostPlan:
    """The compiled terms of one input shape at one or more scales (same terms, other sizes)."""

    def __init__(self, batch: int, plans: Sequence[Sequence[Term]]):
        first = plans[0]
        for terms in plans[1:]:
            if [(t.op, t.static, t.presence.key, t.c_in.key, t.c_out.key) for t in terms] != \
               [(t.op, t.static, t.presence.key, t.c_in.key, t.c_out.key) for t in first]:
                raise ValueError("the network's ops differ between input scales; cannot share one plan")
        self.batch = batch
        self.exprs: list[Expr] = []
        index: dict[tuple, int] = {}

        def ref(e: Expr) -> int:
            if e.key not in index:
                index[e.key] = len(self.exprs)
                self.exprs.append(e)
            return index[e.key]

        grouped: dict[tuple, list[int]] = {}
        for i, t in enumerate(first):
            grouped.setdefault((t.op, t.static), []).append(i)
        self.groups = []
        for (op, static), members in grouped.items():
            spatial = tuple(torch.tensor([[getattr(terms[i], f) for i in members] for terms in plans],
                                         dtype=torch.float64) for f in ("h_in", "w_in", "h_out", "w_out"))
            idx = {f: torch.tensor([ref(getattr(first[i], f)) for i in members])
                   for f in ("presence", "c_in", "c_out", "groups")}
            self.groups.append(_Group(op, static, spatial=spatial, pixels_in=batch * spatial[0] * spatial[1],
                                      pixels_out=batch * spatial[2] * spatial[3], size=len(members), **idx))
        self.num_layers = len(first)

    def evaluate(self, means: Mapping[str, Tensor], target: Target, training: bool,
                 scale_weights: Tensor) -> Cost:
        """Expected cost: ``means`` maps site names to expected values, ``scale_weights`` is [S]."""
        memo: dict = {}
        values = torch.stack([e.evaluate(means, memo) for e in self.exprs])
        # one Work per group, then all groups merged into one Work (per value of any non-tensor
        # field), so that layer_cost runs once on a vector of every layer at every scale
        buckets: dict[tuple, list[tuple[Work, Tensor, int]]] = {}
        for g in self.groups:
            work = _work(g, self.batch, values[g.c_in], values[g.c_out], values[g.groups])
            static = tuple((f.name, getattr(work, f.name)) for f in fields(work)
                           if not torch.is_tensor(getattr(work, f.name)))
            buckets.setdefault(static, []).append((work, values[g.presence], g.size))
        num_scales, total = len(scale_weights), 0.0
        for static, items in buckets.items():
            merged = {name: value for name, value in static}
            for f in fields(Work):
                if f.name not in merged:
                    merged[f.name] = torch.cat([_as(getattr(w, f.name), (num_scales, n)) for w, _, n in items], -1)
            presence = torch.cat([p for _, p, _ in items])
            per_field = _layer_costs(Work(**merged), target, training, num_scales, sum(n for _, _, n in items))
            total = total + (per_field * presence).sum(-1) @ scale_weights
        return Cost(**{f.name: total[i] for i, f in enumerate(fields(Cost))})

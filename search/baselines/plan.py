"""The baselines a run compares its derived network with, each trained on the same schedule.

=============  ================================================================================
full           width 1.0, every branch, scale 1.0, no data slimming
uniform        every width times one multiplier, bisected so inference MACs match the derived net
resolution     the full network at one input scale (train and inference), bisected the same way
network_only   a co-search with the data gates and the resolution search off
data_only      a co-search of the data side only (gates + resolution, the full network)
random         of ``RANDOM_SAMPLES`` random archs (random inference scale), the nearest in MACs
=============  ================================================================================

``uniform:0.5``, ``resolution:0.75`` and ``random:SEED`` fix the parameter instead of
matching a cost. MACs are those of one inference image at the cost input size (on the
first of ``cost.targets``; MACs do not depend on the target).

>>> plan = plan_baseline("network_only", Config(), num_classes=4, size=(32, 64))
>>> plan.arch is None, plan.config.search.data_gates, plan.config.search.search_resolution
(True, False, False)
"""
from __future__ import annotations

import copy
import random
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import supernet
from search.config import Config, check_baseline_name
from search.derive import inference_scale
from search.errors import UserError
from search.report.costs import inference_costs

RANDOM_SAMPLES = 32
# co-search baselines: the search switches they turn off
SEARCHED = {"network_only": {"data_gates": False, "search_resolution": False}, "data_only": {"network": False}}


@dataclass
class BaselinePlan:
    """How to get one baseline: a co-search (``arch`` None) with ``config``, or training the fixed ``arch``."""

    name: str
    config: Config
    arch: dict[str, Any] | None
    matched: dict[str, Any] = field(default_factory=dict)   # what was matched: reference and achieved MACs


def arch_macs(arch: dict[str, Any], size: Sequence[int], target: str = "jetson_tx2") -> float:
    """Inference MACs of one image of ``size`` (H, W) at the arch's own inference scale.

    >>> full = supernet.baseline_arch("deeplabv3plus", 4, widest=0.5)
    >>> half = supernet.baseline_arch("deeplabv3plus", 4, inference_scale=0.5, widest=0.5)
    >>> 0.2 < arch_macs(half, (32, 64)) / arch_macs(full, (32, 64)) < 0.3
    True
    """
    model = supernet.build_from_arch(arch).eval()
    return float(inference_costs(model, size, inference_scale(arch), [target])[target]["macs"])


def _bisect(make: Callable[[float], dict[str, Any]], macs_of: Callable[[dict[str, Any]], float], goal: float,
            lo: float, hi: float, tol: float) -> tuple[float, dict[str, Any], float]:
    """The parameter in [lo, hi] whose arch's MACs (non-decreasing in it) are nearest ``goal``."""
    seen: dict[float, float] = {}

    def cost(p: float) -> float:
        if p not in seen:
            seen[p] = macs_of(make(p))
        return seen[p]

    if cost(hi) <= goal:
        lo = hi
    elif cost(lo) >= goal:
        hi = lo
    while hi - lo > tol:
        mid = (lo + hi) / 2
        if cost(mid) < goal:
            lo = mid
        else:
            hi = mid
    best = min((lo, hi), key=lambda p: (abs(cost(p) - goal), -p))
    return best, make(best), cost(best)


def matched_uniform(family: str, num_classes: int, space: dict[str, Any], size: Sequence[int], goal: float,
                    target: str = "jetson_tx2") -> tuple[float, dict[str, Any], float]:
    """``(width_mult, arch, macs)``: the uniform width whose inference MACs are nearest ``goal``."""
    return _bisect(lambda w: supernet.baseline_arch(family, num_classes, width_mult=w, **space),
                   lambda a: arch_macs(a, size, target), goal, 1 / 16, 1.0, 1 / 128)


def matched_resolution(family: str, num_classes: int, space: dict[str, Any], size: Sequence[int], goal: float,
                       target: str = "jetson_tx2") -> tuple[float, dict[str, Any], float]:
    """``(scale, arch, macs)``: the full network at the input scale whose MACs are nearest ``goal``
    (the scale rounded to 1/1000)."""
    s, arch, macs = _bisect(lambda s: supernet.baseline_arch(family, num_classes, inference_scale=round(s, 3), **space),
                            lambda a: arch_macs(a, size, target), goal, 1 / 16, 1.0, 1 / 512)
    return round(s, 3), arch, macs


def matched_random(family: str, num_classes: int, space: dict[str, Any], size: Sequence[int], goal: float,
                   scales: Sequence[float], seed: int, target: str = "jetson_tx2",
                   samples: int = RANDOM_SAMPLES) -> tuple[int, dict[str, Any], float]:
    """``(seed, arch, macs)``: of ``samples`` random archs, each at a random scale of ``scales``, the
    one nearest ``goal`` in MACs (seeds ``seed * samples + i``)."""
    best: tuple[float, int, dict[str, Any], float] | None = None
    for i in range(samples):
        s = seed * samples + i
        arch = random_arch_at_scale(family, num_classes, space, s, scales)
        macs = arch_macs(arch, size, target)
        if best is None or abs(macs - goal) < best[0]:
            best = (abs(macs - goal), s, arch, macs)
    assert best is not None
    return best[1], best[2], best[3]


def random_arch_at_scale(family: str, num_classes: int, space: dict[str, Any], seed: int,
                         scales: Sequence[float]) -> dict[str, Any]:
    """``supernet.random_arch`` with an inference scale drawn from ``scales`` by the same seed."""
    rng = random.Random(seed)
    arch = supernet.random_arch(family, num_classes, rng, **space)
    scale = float(rng.choice(list(scales)))
    choices = {**arch["choices"], "data.inference_scale": scale}
    return supernet.arch.make_arch(family, num_classes, choices, arch["space"], data={"inference_scale": scale})


def plan_baseline(name: str, cfg: Config, num_classes: int, size: Sequence[int],
                  reference_macs: float | None = None) -> BaselinePlan:
    """The plan of baseline ``name``; ``reference_macs`` (the derived net's) is needed by the
    matched kinds ``uniform``, ``resolution`` and ``random`` without a parameter."""
    kind, value = check_baseline_name(name)
    sub = copy.deepcopy(cfg)
    sub.baselines = []
    if kind in SEARCHED:
        for key, flag in SEARCHED[kind].items():
            setattr(sub.search, key, flag)
        return BaselinePlan(name, sub, None)
    family, space, target = cfg.model.family, dict(cfg.model.space), cfg.cost.targets[0]
    if kind == "full":
        return BaselinePlan(name, sub, supernet.baseline_arch(family, num_classes, **space))
    if value is None and reference_macs is None:
        raise UserError(f"baseline {name!r} matches the derived network's cost: give a reference "
                        f"(train --match ARCH_JSON) or a value ({kind}:VALUE)")
    goal = {"metric": "macs", "reference": reference_macs}
    if kind == "uniform":
        if value is not None:
            arch = supernet.baseline_arch(family, num_classes, width_mult=value, **space)
            return BaselinePlan(name, sub, arch, {"width_mult": value})
        w, arch, macs = matched_uniform(family, num_classes, space, size, reference_macs, target)
        return BaselinePlan(name, sub, arch, {**goal, "macs": macs, "width_mult": w})
    if kind == "resolution":
        if value is not None:
            arch = supernet.baseline_arch(family, num_classes, inference_scale=value, **space)
            return BaselinePlan(name, sub, arch, {"inference_scale": value})
        s, arch, macs = matched_resolution(family, num_classes, space, size, reference_macs, target)
        return BaselinePlan(name, sub, arch, {**goal, "macs": macs, "inference_scale": s})
    scales = cfg.search.inference_scales
    if value is not None:
        return BaselinePlan(name, sub, random_arch_at_scale(family, num_classes, space, int(value), scales),
                            {"seed": int(value)})
    seed, arch, macs = matched_random(family, num_classes, space, size, reference_macs, scales, cfg.run.seed, target)
    return BaselinePlan(name, sub, arch, {**goal, "macs": macs, "seed": seed})

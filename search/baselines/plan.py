"""The baselines a run compares its derived network with, each trained on the same schedule.

=============  ================================================================================
full           width 1.0, every branch, scale 1.0, no data slimming
uniform        every width times one multiplier (1/64 to 1), bisected to the derived net's MACs
resolution     the full network at one input scale (train and inference), bisected the same way
network_only   a co-search with the data gates and the resolution search off
data_only      a co-search of the data side only (gates + resolution, the full network)
random         of ``RANDOM_SAMPLES`` random archs (random inference scale), the nearest in MACs
=============  ================================================================================

``uniform:0.5``, ``resolution:0.75`` and ``random:SEED`` fix the parameter instead of
matching a cost. MACs are those of one inference image at the cost input size (on the
first of ``cost.targets``; MACs do not depend on the target). A matched baseline records
``ratio`` (its MACs over the derived net's) and ``within_tolerance``
(``search.report.report.MATCH_TOLERANCE``): the reports call one outside it "unmatched".

>>> plan = plan_baseline("network_only", Config(), num_classes=4, size=(32, 64))
>>> plan.arch is None, plan.config.search.data_gates, plan.config.search.search_resolution
(True, False, False)
"""
from __future__ import annotations

import copy
import math
import random
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import supernet
from search.config import Config, check_baseline_name
from search.derive import inference_scale
from search.errors import UserError
from search.report.costs import inference_costs
from search.report.report import match_check
from supernet.sites import DEFAULT_WIDTH_FRACTIONS
from supernet.space import MIN_WIDTH_FRACTION

RANDOM_SAMPLES = 32
# the uniform width is bisected over log2(width) in [log2(MIN_WIDTH_FRACTION), 0] to this many octaves
UNIFORM_OCTAVE_TOL = 1 / 64
# co-search baselines: the search switches they set (network_only: the network alone; data_only: the data side alone)
SEARCHED = {"network_only": {"data_gates": False, "search_resolution": False},
            "data_only": {"network": False, "search_resolution": True}}


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


def uniform_arch(family: str, num_classes: int, width_mult: float, space: dict[str, Any]) -> dict[str, Any]:
    """Every width ``width_mult`` x its widest: the space's nearest option, and below the space's
    narrowest fraction that width itself (added to the arch's ``width_fractions``, at least
    ``MIN_WIDTH_FRACTION``; every layer keeps at least ``CHANNEL_MULTIPLE`` = 4 channels).

    >>> narrow = uniform_arch("deeplabv3plus", 4, 1 / 16, {"widest": 0.5})
    >>> quarter = uniform_arch("deeplabv3plus", 4, 1 / 4, {"widest": 0.5})
    >>> arch_macs(narrow, (32, 64)) < arch_macs(quarter, (32, 64)), narrow["space"]["width_fractions"][0]
    (True, 0.0625)
    """
    fractions = space.get("width_fractions", DEFAULT_WIDTH_FRACTIONS)
    if width_mult < min(fractions):
        space = {**space, "width_fractions": sorted({*fractions, max(width_mult, MIN_WIDTH_FRACTION)})}
    return supernet.baseline_arch(family, num_classes, width_mult=width_mult, **space)


def matched_uniform(family: str, num_classes: int, space: dict[str, Any], size: Sequence[int], goal: float,
                    target: str = "jetson_tx2") -> tuple[float, dict[str, Any], float]:
    """``(width_mult, arch, macs)``: the uniform width in [``MIN_WIDTH_FRACTION``, 1] whose inference
    MACs are nearest ``goal`` (bisected over log2 of the width, the width rounded to 1/10000)."""
    def width(octaves: float) -> float:
        return round(2 ** octaves, 4)

    e, arch, macs = _bisect(lambda e: uniform_arch(family, num_classes, width(e), space),
                            lambda a: arch_macs(a, size, target), goal, math.log2(MIN_WIDTH_FRACTION), 0.0,
                            UNIFORM_OCTAVE_TOL)
    return width(e), arch, macs


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
    if kind == "uniform":
        if value is not None:
            return BaselinePlan(name, sub, uniform_arch(family, num_classes, value, space), {"width_mult": value})
        w, arch, macs = matched_uniform(family, num_classes, space, size, reference_macs, target)
        return BaselinePlan(name, sub, arch, matched_record(reference_macs, macs, width_mult=w))
    if kind == "resolution":
        if value is not None:
            arch = supernet.baseline_arch(family, num_classes, inference_scale=value, **space)
            return BaselinePlan(name, sub, arch, {"inference_scale": value})
        s, arch, macs = matched_resolution(family, num_classes, space, size, reference_macs, target)
        return BaselinePlan(name, sub, arch, matched_record(reference_macs, macs, inference_scale=s))
    scales = cfg.search.inference_scales
    if value is not None:
        return BaselinePlan(name, sub, random_arch_at_scale(family, num_classes, space, int(value), scales),
                            {"seed": int(value)})
    seed, arch, macs = matched_random(family, num_classes, space, size, reference_macs, scales, cfg.run.seed, target)
    return BaselinePlan(name, sub, arch, matched_record(reference_macs, macs, seed=seed))


def matched_record(reference: float, macs: float, **parameter: Any) -> dict[str, Any]:
    """A matched plan's ``matched``: the goal, the MACs reached, how near (``match_check``), the parameter.

    >>> matched_record(100.0, 250.0, width_mult=0.0156)["within_tolerance"]
    False
    """
    return {"metric": "macs", "reference": reference, "macs": macs, **match_check(reference, macs), **parameter}

"""Derive: from the searched supernet, inference resolution and data gate to an arch.json dict.

Two rules (``search.derive_rule``): ``argmax`` takes every site's likeliest option; ``expected``
(the default) takes the width nearest the expected width and keeps a branch when
P(keep) >= 0.5, which is smoother over many nearly tied widths early in a search and the same
once the probabilities peak. The learned gate is stored in the arch (``data.train_gate``) so
``python -m search train --arch`` can retrain with it.

>>> nearest([4, 8, 12], 10.0)
12
>>> inference_scale({"choices": {}, "data": {"inference_scale": 0.75}})
0.75
"""
from __future__ import annotations

from typing import Any, Callable, Mapping, Sequence

import torch
from torch import Tensor

import supernet
from search.data import FEATURE_NAMES
from supernet.arch import make_arch
from supernet.gates import DataGate, InferenceResolution


def inference_scale(arch: Mapping[str, Any]) -> float:
    """The input scale an arch is deployed at: ``data.inference_scale`` (1.0 when absent)."""
    data = arch.get("data") or {}
    return float(data.get("inference_scale", arch.get("choices", {}).get("data.inference_scale", 1.0)))


def capped_actions(actions: Sequence[Any], scale: float) -> list[Any]:
    """Each action as the train phase trains it for a network deployed at ``scale``
    (:func:`search.train.phase.train_state`): a larger scale trains at ``scale``.

    >>> capped_actions(["drop", 0.5, 1.0], 0.75)
    ['drop', 0.5, 0.75]
    """
    return [a if a == "drop" or a <= scale else scale for a in actions]


def expected_value(options: Sequence[float], probs: Tensor) -> float:
    return float(torch.tensor([float(o) for o in options], dtype=torch.float64) @ probs.double().cpu())


def nearest(options: Sequence[Any], value: float) -> Any:
    """The option closest to ``value`` (ties: the larger)."""
    return min(options, key=lambda o: (abs(float(o) - value), -float(o)))


@torch.no_grad()
def expected_choices(net: supernet.Supernet) -> dict[str, Any]:
    """Every width site at the option nearest its expected width, every branch kept when
    P(keep) >= 0.5 (a group with nothing kept keeps its likeliest branch)."""
    choices = {}
    for name, p in net.probabilities().items():
        site = net.sites[name]
        choices[name] = bool(p[1] >= 0.5) if site.is_keep else nearest(site.options, expected_value(site.options, p))
    return supernet.keep_one_per_group(choices, net.group_names, net.likeliest_branch)


@torch.no_grad()
def fit_to_cost(net: supernet.Supernet, choices: Mapping[str, Any], cost: Callable[[Mapping[str, Any]], float],
                limit: float) -> tuple[dict[str, Any], list[str]]:
    """``(choices, cuts)``: ``choices`` cut one step at a time until ``cost(choices) <= limit``.

    A step narrows one width site by one option or drops one branch (never the last kept of its
    group); each time the step that gives up the least log-probability of the searched arch per
    unit of cost saved is taken. ``cuts`` names the steps taken (``site: old -> new``). Stops
    short of ``limit`` only when nothing is left to cut.
    """
    out, cuts = dict(choices), []
    probs = {n: p.detach().double().cpu() for n, p in net.probabilities().items()}

    def kept_alone(name: str) -> bool:
        return any(name in group and sum(bool(out[n]) for n in group) == 1 for group in net.group_names)

    current = cost(out)
    while current > limit:
        best = None
        for name, site in net.sites.items():
            i = site.options.index(out[name])
            if site.is_keep:
                if not out[name] or kept_alone(name):
                    continue
                j = site.options.index(False)
            elif i == 0:
                continue
            else:
                j = i - 1
            trial = {**out, name: site.options[j]}
            saved = current - cost(trial)
            if saved > 0:
                price = float(torch.log(probs[name][i].clamp_min(1e-12)) - torch.log(probs[name][j].clamp_min(1e-12)))
                if best is None or price / saved < best[0]:
                    best = (price / saved, name, site.options[j], current - saved)
        if best is None:
            break
        _, name, value, current = best
        cuts.append(f"{name}: {out[name]} -> {value}")
        out[name] = value
    return out, cuts


@torch.no_grad()
def shift_to_budget(logits: Tensor, costs: Tensor, total: Callable[[Tensor], float], limit: float,
                    iterations: int = 40) -> float:
    """The largest ``shift >= 0`` whose choice ``argmax(logits + shift * costs)`` keeps
    ``total(choice) <= limit`` (0 when even the unshifted choice exceeds it; stops growing once every
    image takes its dearest action). ``logits`` (N, K): a gate's; ``costs`` (K,): each action's cost.

    A shift moves each image toward the dearer actions in the order the gate was least sure of
    its cheaper choice, with one number for every image, so it can be stored as the gate's bias.

    >>> logits = torch.tensor([[1.0, 0.0], [3.0, 0.0]])             # two images, both prefer the cheap action
    >>> costs = torch.tensor([0.0, 1.0])
    >>> dear = lambda choice: float(choice.sum())                   # how many take the dear action
    >>> s = shift_to_budget(logits, costs, dear, limit=1.0)
    >>> (logits + s * costs).argmax(-1).tolist()                    # the one the gate was less sure of goes first
    [1, 0]
    """
    def choice(shift: float) -> Tensor:
        return (logits + shift * costs).argmax(-1)

    if total(choice(0.0)) > limit:
        return 0.0
    hi = 1.0
    while not bool((costs[choice(hi)] == costs.max()).all()) and hi < 1e6:
        hi *= 2
    if total(choice(hi)) <= limit:
        return hi
    lo = 0.0
    for _ in range(iterations):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if total(choice(mid)) <= limit else (lo, mid)
    return lo


@torch.no_grad()
def derived_choices(net: supernet.Supernet, res: InferenceResolution, rule: str, search_network: bool = True,
                    search_resolution: bool = True,
                    full_choices: Mapping[str, Any] | None = None) -> tuple[dict[str, Any], float]:
    """``(choices, inference scale)`` of the searched network under derive ``rule``, before any fit
    to the cost target; a side that was not searched keeps the full network (``full_choices``) or
    scale 1.0."""
    scale = 1.0
    if search_resolution:
        scale = res.choose() if rule == "argmax" else nearest(res.scales, expected_value(res.scales, res.probs()))
    if not search_network:
        return dict(full_choices or {}), scale
    return (net.argmax_choices() if rule == "argmax" else expected_choices(net)), scale


@torch.no_grad()
def derive_arch(net: supernet.Supernet, res: InferenceResolution, gate: DataGate | None, rule: str,
                search_network: bool = True, search_resolution: bool = True,
                full_choices: Mapping[str, Any] | None = None,
                fit: Callable[[dict[str, Any], float], dict[str, Any]] | None = None) -> dict[str, Any]:
    """arch.json dict of the searched network, inference scale and (``gate``) learned train gate.

    A side that was not searched keeps the full network (``full_choices``) or scale 1.0.
    ``fit(choices, scale)``, when given, returns the searched network's choices to keep (the cost
    target's :func:`fit_to_cost`).
    """
    choices, scale = derived_choices(net, res, rule, search_network, search_resolution, full_choices)
    if search_network and fit is not None:
        choices = fit(choices, scale)
    arch = make_arch(net.family, net.num_classes, {**choices, "data.inference_scale": scale}, net.space_options)
    resolution = res.to_dict()  # its most likely scale; the arch's one inference scale is data.inference_scale
    resolution["argmax_scale"] = resolution.pop("inference_scale")
    arch["data"] = {"inference_scale": scale, "resolution": resolution,
                    "train_gate": gate_description(gate) if gate is not None else None}
    return arch


def within_options(a: Mapping[str, Any], b: Mapping[str, Any], options: Mapping[str, Sequence[Any]],
                   tolerance: int = 1) -> bool:
    """Whether two derived archs' ``choices`` agree up to ``tolerance`` option steps in each width:
    a site with more than two options may differ by that many positions in ``options[site]``;
    every other choice (branches, the inference scale) must be equal.

    >>> opts = {"w": (8, 12, 16, 20), "keep": (False, True)}
    >>> within_options({"w": 12, "keep": True}, {"w": 16, "keep": True}, opts)
    True
    >>> within_options({"w": 8, "keep": True}, {"w": 16, "keep": True}, opts), within_options(
    ...     {"w": 12, "keep": True}, {"w": 12, "keep": False}, opts)
    (False, False)
    """
    if a.keys() != b.keys():
        return False
    for key, value in a.items():
        choices = options.get(key, ())
        if len(choices) > 2 and value in choices and b[key] in choices:
            if abs(choices.index(value) - choices.index(b[key])) > tolerance:
                return False
        elif value != b[key]:
            return False
    return True


def gate_description(gate: DataGate) -> dict[str, Any]:
    """The gate as plain JSON data: actions, sizes, feature names and weights."""
    return {**gate.to_dict(), "feature_names": list(FEATURE_NAMES),
            "state": {k: v.cpu().tolist() for k, v in gate.state_dict().items()}}


def gate_from_description(desc: Mapping[str, Any]) -> DataGate:
    """The :class:`DataGate` stored in an arch.json ``data.train_gate``."""
    gate = DataGate(desc["num_features"], desc["actions"], hidden=desc["hidden"])
    gate.load_state_dict({k: torch.tensor(v) for k, v in desc["state"].items()})
    return gate


def describe(arch: Mapping[str, Any]) -> str:
    """One line: every choice of the arch, ``name=value``."""
    return ", ".join(f"{k}={v}" for k, v in arch["choices"].items())

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

from typing import Any, Mapping, Sequence

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
def derive_arch(net: supernet.Supernet, res: InferenceResolution, gate: DataGate | None, rule: str,
                search_network: bool = True, search_resolution: bool = True,
                full_choices: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """arch.json dict of the searched network, inference scale and (``gate``) learned train gate.

    A side that was not searched keeps the full network (``full_choices``) or scale 1.0.
    """
    scale = 1.0
    if search_resolution:
        scale = res.choose() if rule == "argmax" else nearest(res.scales, expected_value(res.scales, res.probs()))
    if not search_network:
        choices = dict(full_choices or {})
    else:
        choices = net.argmax_choices() if rule == "argmax" else expected_choices(net)
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

"""``profile(model, input_shape, target)``: the cost of a network on a target, per layer and in total.

>>> import torch.nn as nn
>>> net = nn.Sequential(nn.Conv2d(3, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU())
>>> rep = profile(net, (1, 3, 64, 64), target="jetson_tx2")
>>> rep.macs, rep.params, [row["op"] for row in rep.layers]
(1769472.0, 480.0, ['conv2d', 'batch_norm', 'relu'])
>>> rep.energy_j > 0 and rep.latency_s > 0
True
"""
from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any, Sequence

import math

import networkx as nx
from torch import nn

from .formulas import Cost, layer_cost
from .graph import ProfileError, build_graph, check_input_shape
from .target import Target, load_target

COST_FIELDS = [f.name for f in fields(Cost)] + ["energy_j"]
#: the largest input :func:`profile` runs a network on, in elements (N*C*H*W): 2**26, e.g.
#: 1x3x4096x5461; profiling runs a real forward pass, whose activations are many times this
MAX_INPUT_ELEMENTS = 2**26


@dataclass
class Report:
    """Totals (floats, base units: MACs, elements, bytes, joules, seconds) and per-layer rows.

    ``params`` counts each parameter tensor once (a module called twice reads its weights
    twice, which its layer rows show, but owns them once). ``activations`` is the sum of
    the layers' output elements.
    """

    macs: float
    params: float
    activations: float
    dram_bytes: float
    onchip_bytes: float
    energy_j: float
    latency_s: float
    compute_j: float
    onchip_j: float
    dram_j: float
    static_j: float
    layers: list[dict[str, Any]]
    graph: nx.DiGraph = field(repr=False)
    unsupported_ops: dict[str, int]
    target: str
    input_shape: tuple[int, ...]
    training: bool

    def to_dict(self) -> dict[str, Any]:
        """Everything but the graph object, JSON-safe (its edges are listed by layer name)."""
        totals = {name: getattr(self, name) for name in _TOTALS}
        return {"target": self.target, "input_shape": list(self.input_shape), "training": self.training,
                **totals, "unsupported_ops": dict(self.unsupported_ops),
                "layers": [json_safe(row) for row in self.layers],
                "edges": [[a, b] for a, b in self.graph.edges]}

    def table(self, max_depth: int | None = None) -> str:
        """A per-layer table grouped by module, like fvcore's ``flop_count_table``."""
        from .table import format_table  # noqa: PLC0415 (kept apart: formatting only)
        return format_table(self, max_depth)

    def __str__(self) -> str:
        return self.table()


_TOTALS = ("macs", "params", "activations", "dram_bytes", "onchip_bytes", "energy_j", "latency_s",
           "compute_j", "onchip_j", "dram_j", "static_j")


def json_safe(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    if isinstance(value, (bool, int, float, str)) or value is None:
        return value
    return str(value)


def profile(model: nn.Module, input_shape: Sequence[int] = (1, 3, 512, 1024),
            target: str | Target = "jetson_tx2", training: bool = False,
            max_input_elements: int = MAX_INPUT_ELEMENTS) -> Report:
    """Trace ``model`` at ``input_shape`` ((N, C, H, W), or (C, H, W) for batch 1) and cost it on ``target``.

    ``training=False``: one inference pass; ``training=True``: one training step (forward,
    input and weight gradients, SGD-momentum update) for that input. The model runs once,
    in eval mode and without gradients; its train/eval mode is restored. Raises
    :class:`~cost_models.graph.ProfileError` on a bad shape or a failing forward pass and
    :class:`~cost_models.target.TargetError` on an unknown or malformed target. An input of
    more than ``max_input_elements`` elements is a ProfileError before anything is allocated.
    """
    hardware = load_target(target)
    shape = check_input_shape(input_shape)
    if math.prod(shape) > max_input_elements:
        raise ProfileError(f"input_shape {shape} has {math.prod(shape)} elements, above the limit of "
                           f"{max_input_elements} (profile(..., max_input_elements=N) raises it)")
    graph = build_graph(model, input_shape)
    total = Cost.zero()
    params, seen = 0.0, set()
    layers = []
    for name, node in graph.nodes(data=True):
        cost = layer_cost(node["work"], hardware, training=training)
        node["cost"] = cost
        total = total + cost
        ids = node["param_ids"]
        if not ids or not set(ids) <= seen:  # a shared module's second call owns no new weights
            params += float(node["work"].params)
        seen.update(ids)
        layers.append({"name": name, "op": node["op"], "module": node["module"],
                       "module_type": node["module_type"], "input_shapes": node["input_shapes"],
                       "output_shape": node["output_shape"], "attrs": node["attrs"], **cost.to_dict()})
    sums = total.to_dict()
    return Report(**{k: sums[k] for k in _TOTALS if k != "params"}, params=params, layers=layers,
                  graph=graph, unsupported_ops=dict(graph.graph["unsupported_ops"]), target=hardware.name,
                  input_shape=tuple(graph.graph["input_shape"]), training=training)
